//! verify and repair-rollups: the stored rollup of each lead against
//! [`shared::rollup::compute_rollup`] over its rows.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use shared::model::{AppointmentRow, Rollup};
use shared::write_path::{appointment_from_row, from_db, to_db};
use shared::{Provider, Result};
use tokio_postgres::Row;

/// The batch's leads (in `($1, $2]`, of client `$3` if given), rollup columns first.
pub const VERIFY_LEADS: &str = r#"SELECT l."appointmentStartAt", l."appointmentEndAt", l."appointmentStatus", l."appointmentCanceledAt",
       l."appointmentProvider"::text, l."appointmentSource", l."id",
       (l."appointmentStartAt" IS NOT NULL OR l."appointmentEndAt" IS NOT NULL OR l."appointmentCanceledAt" IS NOT NULL
        OR btrim(l."appointmentStatus", E' \t\r\n') <> '' OR btrim(l."ghlAppointmentId", E' \t\r\n') <> ''
        OR btrim(l."calendlyInviteeUri", E' \t\r\n') <> '' OR btrim(l."calendlyScheduledEventUri", E' \t\r\n') <> '') IS TRUE,
       EXISTS (SELECT 1 FROM "Appointment" a WHERE a."leadId" = l."id")
  FROM "Lead" l
 WHERE l."id" > $1 AND l."id" <= $2 AND ($3::text IS NULL OR l."clientId" = $3::text)
 ORDER BY l."id""#;

/// repair-rollups: the batch's leads that have rows, locked in id order as the write path locks a
/// lead, rollup columns first.
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
    shared::appointment_columns!(),
    r#" FROM "Appointment" WHERE "leadId" IN (
    SELECT l."id" FROM "Lead" l WHERE l."id" > $1 AND l."id" <= $2 AND ($3::text IS NULL OR l."clientId" = $3::text))"#
);

/// Writes rollups, set-based (same columns as the write path's rollup update).
pub const UPDATE_ROLLUPS: &str = r#"UPDATE "Lead" l SET "appointmentStartAt" = v.start_at, "appointmentEndAt" = v.end_at,
       "appointmentStatus" = v.status, "appointmentCanceledAt" = v.canceled_at,
       "appointmentProvider" = v.provider::"MeetingBookingProvider", "appointmentSource" = v.source, "updatedAt" = $8
  FROM unnest($1::text[], $2::timestamp(3)[], $3::timestamp(3)[], $4::text[], $5::timestamp(3)[], $6::text[], $7::text[])
       AS v(id, start_at, end_at, status, canceled_at, provider, source)
 WHERE l."id" = v.id"#;

/// Reads the six rollup columns at the start of a row.
pub fn stored_rollup(row: &Row) -> Result<Rollup> {
    Ok(Rollup {
        start_at: from_db(row.try_get(0)?),
        end_at: from_db(row.try_get(1)?),
        status: row.try_get(2)?,
        canceled_at: from_db(row.try_get(3)?),
        provider: row.try_get::<_, Option<&str>>(4)?.map(Provider::from_db).transpose()?,
        source: row.try_get(5)?,
    })
}

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
    let mut kinds = Vec::new();
    if stored.start_at != rule.start_at {
        kinds.push("startAt");
    }
    if stored.end_at != rule.end_at {
        kinds.push("endAt");
    }
    if stored.status != rule.status {
        kinds.push("status");
    }
    if stored.canceled_at != rule.canceled_at {
        kinds.push("canceledAt");
    }
    if stored.provider != rule.provider {
        kinds.push("provider");
    }
    if stored.source != rule.source {
        kinds.push("source");
    }
    kinds
}

/// The rollup the rule gives for a lead's rows when it differs from the stored one.
pub fn wanted(stored: &Rollup, rows: &[AppointmentRow], now: DateTime<Utc>) -> Option<Rollup> {
    shared::rollup::compute_rollup(rows, now).filter(|r| r != stored)
}

/// Column arrays for [`UPDATE_ROLLUPS`].
#[derive(Default)]
pub struct RollupUpdates {
    pub ids: Vec<String>,
    start_at: Vec<Option<NaiveDateTime>>,
    end_at: Vec<Option<NaiveDateTime>>,
    status: Vec<Option<String>>,
    canceled_at: Vec<Option<NaiveDateTime>>,
    provider: Vec<Option<String>>,
    source: Vec<Option<String>>,
}

impl RollupUpdates {
    pub fn push(&mut self, lead_id: &str, r: &Rollup) {
        self.ids.push(lead_id.to_string());
        self.start_at.push(to_db(r.start_at));
        self.end_at.push(to_db(r.end_at));
        self.status.push(r.status.clone());
        self.canceled_at.push(to_db(r.canceled_at));
        self.provider.push(r.provider.map(|p| p.as_db().to_string()));
        self.source.push(r.source.clone());
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn params<'a>(&'a self, now: &'a NaiveDateTime) -> [&'a (dyn tokio_postgres::types::ToSql + Sync); 8] {
        [&self.ids, &self.start_at, &self.end_at, &self.status, &self.canceled_at, &self.provider, &self.source, now]
    }
}

/// Counts by kind with example lead ids.
pub type ByKind = BTreeMap<String, shared::write_path::migration_batch::WarningCount>;

pub fn note(map: &mut ByKind, kind: &str, lead_id: &str) {
    let entry = map.entry(kind.to_string()).or_default();
    entry.count += 1;
    if entry.examples.len() < shared::write_path::migration_batch::EXAMPLES {
        entry.examples.push(lead_id.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
