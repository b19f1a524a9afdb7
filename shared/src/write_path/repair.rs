//! verify and repair-rollups, batch by batch: each lead's stored rollup against the rule
//! ([`crate::rollup::compute_rollup`]) over its rows. verify only reports; repair writes the rule's
//! rollup where it differs, which makes it, besides `record`, the other writer of Lead rollups
//! (and so it lives here, in the write path, next to its SQL).
//!
//! A batch is the leads of one [`BatchRange`] (of one client, if given), run inside the caller's
//! transaction. Parameters of the statements: $1 = after, $2 = last, $3 = client id or NULL.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::future::try_join;
use tokio_postgres::Row;

use super::migration_batch::{has_data, BatchRange, WarningCount, EXAMPLES};
use super::{appointment_from_row, rollup_from_row, to_db};
use crate::error::Result;
use crate::model::{AppointmentRow, Rollup};
use crate::store::Connection;

/// verify: the batch's leads, rollup columns first (as [`rollup_from_row`] reads them), then the
/// id and whether the lead has appointment data.
pub const VERIFY_LEADS: &str = concat!(
    r#"SELECT l."appointmentStartAt", l."appointmentEndAt", l."appointmentStatus", l."appointmentCanceledAt",
       l."appointmentProvider"::text, l."appointmentSource", l."id", "#,
    has_data!(),
    r#" IS TRUE
  FROM "Lead" l
 WHERE l."id" > $1 AND l."id" <= $2 AND ($3::text IS NULL OR l."clientId" = $3::text)
 ORDER BY l."id""#
);

/// repair-rollups: the batch's leads that have rows, locked in id order as the write path locks a
/// lead (`FOR NO KEY UPDATE`), rollup columns first, then the id.
pub const LOCK_ROLLUPS: &str = r#"SELECT l."appointmentStartAt", l."appointmentEndAt", l."appointmentStatus", l."appointmentCanceledAt",
       l."appointmentProvider"::text, l."appointmentSource", l."id"
  FROM "Lead" l
 WHERE l."id" > $1 AND l."id" <= $2 AND ($3::text IS NULL OR l."clientId" = $3::text)
   AND EXISTS (SELECT 1 FROM "Appointment" a WHERE a."leadId" = l."id")
 ORDER BY l."id"
   FOR NO KEY UPDATE"#;

/// Every appointment of the batch's leads.
pub const BATCH_ROWS: &str = concat!(
    "SELECT ",
    crate::appointment_columns!(),
    r#" FROM "Appointment" WHERE "leadId" IN (
    SELECT l."id" FROM "Lead" l WHERE l."id" > $1 AND l."id" <= $2 AND ($3::text IS NULL OR l."clientId" = $3::text))"#
);

/// Writes rollups, set-based (the columns of the write path's rollup update). $1..$7 column
/// arrays (lead id, then the rollup), $8 now.
pub const UPDATE_ROLLUPS: &str = r#"UPDATE "Lead" l SET "appointmentStartAt" = v.start_at, "appointmentEndAt" = v.end_at,
       "appointmentStatus" = v.status, "appointmentCanceledAt" = v.canceled_at,
       "appointmentProvider" = v.provider::"MeetingBookingProvider", "appointmentSource" = v.source, "updatedAt" = $8
  FROM unnest($1::text[], $2::timestamp(3)[], $3::timestamp(3)[], $4::text[], $5::timestamp(3)[], $6::text[], $7::text[])
       AS v(id, start_at, end_at, status, canceled_at, provider, source)
 WHERE l."id" = v.id"#;

/// The statements of this module, for [`Connection::prepare_all`].
pub const STATEMENTS: [&str; 4] = [VERIFY_LEADS, LOCK_ROLLUPS, BATCH_ROWS, UPDATE_ROLLUPS];

/// Counts by kind with example lead ids (ids only).
pub type ByKind = BTreeMap<String, WarningCount>;

/// What verify or repair found in one batch (or, summed, in a run).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollupCheck {
    /// verify: leads with appointment data, and without.
    pub leads_with_data: u64,
    pub leads_without_data: u64,
    /// verify: leads with data but no appointment.
    pub missing_history: ByKind,
    /// Leads whose stored rollup differs from the rule (repair: the ones it rewrote), and by column.
    pub drifted_leads: u64,
    pub drift: ByKind,
    /// repair: rollups rewritten.
    pub rollups_repaired: u64,
}

/// verify one batch (one round trip; reads only).
pub async fn verify_batch(conn: &mut Connection, range: &BatchRange, client_id: Option<&str>, now: DateTime<Utc>) -> Result<RollupCheck> {
    let (leads, by_lead) = leads_and_rows(conn, VERIFY_LEADS, range, client_id).await?;
    let mut check = RollupCheck::default();
    for lead in &leads {
        let id: String = lead.try_get(6)?;
        let has_data: bool = lead.try_get(7)?;
        if has_data {
            check.leads_with_data += 1;
        } else {
            check.leads_without_data += 1;
        }
        match by_lead.get(&id) {
            None if has_data => note(&mut check.missing_history, "leadsWithDataButNoHistory", &id),
            None => {}
            Some(rows) => {
                let stored = rollup_from_row(lead, 0)?;
                if let Some(rule) = wanted(&stored, rows, now) {
                    check.drifted_leads += 1;
                    for kind in drift(&stored, &rule) {
                        note(&mut check.drift, kind, &id);
                    }
                }
            }
        }
    }
    Ok(check)
}

/// One round trip, pipelined: the batch's leads as `leads_sql` reads (or locks) them, and their
/// appointment rows by lead.
async fn leads_and_rows(
    conn: &mut Connection,
    leads_sql: &'static str,
    range: &BatchRange,
    client_id: Option<&str>,
) -> Result<(Vec<Row>, HashMap<String, Vec<AppointmentRow>>)> {
    let leads = conn.statement(leads_sql).await?;
    let rows = conn.statement(BATCH_ROWS).await?;
    conn.count_round_trip();
    let params: [Param<'_>; 3] = [&range.after, &range.last, &client_id];
    let (leads, rows) = try_join(conn.client.query(&leads, &params), conn.client.query(&rows, &params)).await?;
    Ok((leads, rows_by_lead(&rows)?))
}

/// repair one batch: lock the leads that have rows and read the rows (one round trip, pipelined:
/// the read starts once every lock is granted), then rewrite the rollups that differ from the
/// rule (one more round trip, only when there is one).
pub async fn repair_batch(conn: &mut Connection, range: &BatchRange, client_id: Option<&str>, now: DateTime<Utc>) -> Result<RollupCheck> {
    let update = conn.statement(UPDATE_ROLLUPS).await?;
    let (leads, by_lead) = leads_and_rows(conn, LOCK_ROLLUPS, range, client_id).await?;
    let mut check = RollupCheck::default();
    let mut updates = RollupUpdates::default();
    for lead in &leads {
        let id: String = lead.try_get(6)?;
        let Some(rows) = by_lead.get(&id) else { continue };
        let stored = rollup_from_row(lead, 0)?;
        if let Some(rule) = wanted(&stored, rows, now) {
            for kind in drift(&stored, &rule) {
                note(&mut check.drift, kind, &id);
            }
            updates.push(&id, &rule);
        }
    }
    if !updates.is_empty() {
        let now = crate::domain::to_millis(now).naive_utc();
        conn.count_round_trip();
        let n = conn.client.execute(&update, &updates.params(&now)).await?;
        check.rollups_repaired = n;
        check.drifted_leads = n;
    }
    Ok(check)
}

impl RollupCheck {
    pub fn add(&mut self, other: &RollupCheck) {
        self.leads_with_data += other.leads_with_data;
        self.leads_without_data += other.leads_without_data;
        self.drifted_leads += other.drifted_leads;
        self.rollups_repaired += other.rollups_repaired;
        add_by_kind(&mut self.missing_history, &other.missing_history);
        add_by_kind(&mut self.drift, &other.drift);
    }
}

/// Adds counts by kind (examples stay capped at [`EXAMPLES`]).
pub fn add_by_kind(into: &mut ByKind, from: &ByKind) {
    for (kind, w) in from {
        into.entry(kind.clone()).or_default().add(w);
    }
}

/// Appointment rows (selected with `appointment_columns!`) by lead.
pub fn rows_by_lead(rows: &[Row]) -> Result<HashMap<String, Vec<AppointmentRow>>> {
    let mut by_lead: HashMap<String, Vec<AppointmentRow>> = HashMap::new();
    for r in rows {
        let a = appointment_from_row(r)?;
        by_lead.entry(a.lead_id.clone()).or_default().push(a);
    }
    Ok(by_lead)
}

/// Drift kinds: the rollup columns that differ from the rule.
pub fn drift(stored: &Rollup, rule: &Rollup) -> Vec<&'static str> {
    [
        ("startAt", stored.start_at != rule.start_at),
        ("endAt", stored.end_at != rule.end_at),
        ("status", stored.status != rule.status),
        ("canceledAt", stored.canceled_at != rule.canceled_at),
        ("provider", stored.provider != rule.provider),
        ("source", stored.source != rule.source),
    ]
    .into_iter()
    .filter_map(|(kind, differs)| differs.then_some(kind))
    .collect()
}

/// The rollup the rule gives for a lead's rows when it differs from the stored one.
pub fn wanted(stored: &Rollup, rows: &[AppointmentRow], now: DateTime<Utc>) -> Option<Rollup> {
    crate::rollup::compute_rollup(rows, now).filter(|r| r != stored)
}

fn note(map: &mut ByKind, kind: &str, lead_id: &str) {
    let entry = map.entry(kind.to_string()).or_default();
    entry.count += 1;
    if entry.examples.len() < EXAMPLES {
        entry.examples.push(lead_id.to_string());
    }
}

type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// Column arrays for [`UPDATE_ROLLUPS`].
#[derive(Default)]
struct RollupUpdates {
    ids: Vec<String>,
    start_at: Vec<Option<NaiveDateTime>>,
    end_at: Vec<Option<NaiveDateTime>>,
    status: Vec<Option<String>>,
    canceled_at: Vec<Option<NaiveDateTime>>,
    provider: Vec<Option<&'static str>>,
    source: Vec<Option<String>>,
}

impl RollupUpdates {
    fn push(&mut self, lead_id: &str, r: &Rollup) {
        self.ids.push(lead_id.to_string());
        self.start_at.push(to_db(r.start_at));
        self.end_at.push(to_db(r.end_at));
        self.status.push(r.status.clone());
        self.canceled_at.push(to_db(r.canceled_at));
        self.provider.push(r.provider.map(|p| p.as_db()));
        self.source.push(r.source.clone());
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn params<'a>(&'a self, now: &'a NaiveDateTime) -> [Param<'a>; 8] {
        [&self.ids, &self.start_at, &self.end_at, &self.status, &self.canceled_at, &self.provider, &self.source, now]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Provider;
    use chrono::TimeZone;

    #[test]
    fn drift_names_every_column_that_differs() {
        let t = |h| Some(Utc.with_ymd_and_hms(2031, 3, 1, h, 0, 0).unwrap());
        let rule = Rollup {
            start_at: t(9),
            end_at: t(10),
            status: Some("canceled".into()),
            canceled_at: t(8),
            provider: Some(Provider::Ghl),
            source: Some("migration".into()),
        };
        let cases: Vec<(&str, Rollup, Vec<&str>)> = vec![
            ("same", rule.clone(), vec![]),
            ("phase 28 source", Rollup { source: None, ..rule.clone() }, vec!["source"]),
            ("moved", Rollup { start_at: t(11), end_at: t(12), ..rule.clone() }, vec!["startAt", "endAt"]),
            (
                "status and cancel",
                Rollup { status: Some("confirmed".into()), canceled_at: None, ..rule.clone() },
                vec!["status", "canceledAt"],
            ),
            ("provider", Rollup { provider: Some(Provider::Calendly), ..rule.clone() }, vec!["provider"]),
        ];
        for (name, stored, kinds) in cases {
            assert_eq!(drift(&stored, &rule), kinds, "{name}");
        }
    }

    #[test]
    fn checks_add_up_with_examples_capped() {
        let mut total = RollupCheck::default();
        for i in 0..7 {
            let mut one = RollupCheck { leads_with_data: 1, drifted_leads: 1, rollups_repaired: 1, ..Default::default() };
            note(&mut one.drift, "startAt", &format!("l{i}"));
            total.add(&one);
        }
        assert_eq!((total.leads_with_data, total.drifted_leads, total.rollups_repaired), (7, 7, 7));
        assert_eq!(total.drift["startAt"].count, 7);
        assert_eq!(total.drift["startAt"].examples.len(), EXAMPLES);
    }
}
