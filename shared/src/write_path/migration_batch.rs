//! The write path's rules for the MIGRATION source, in set-based form: one statement migrates a
//! whole batch of leads' Phase 28 rollups into `Appointment` history.
//!
//! Why not `Store::record` per lead: two round trips per lead cannot move a million leads in about
//! the time one `INSERT ... SELECT` takes. A MIGRATION observation is the simplest case of the
//! write path (no tasks, no lead rollup write, no provider time), so the batch form keeps exactly
//! the parts of `record` that apply to it:
//!
//! - the caller locks the batch's leads `FOR NO KEY UPDATE` in id order ([`LOCK_LEADS`]) inside its
//!   transaction, so the batch serializes with `record` on every one of its leads (and, since it
//!   runs in its own statement first, the insert's snapshot sees whatever the previous lock holder
//!   committed);
//! - the same mapping of a lead to an observation as [`migration_for`] (the spec, in Rust);
//! - the matching rule of [`super::plan::find_target`]: by provider key wherever the key is; else a
//!   key-less row of the lead with the same provider and start; for a key-less observation any row
//!   of the lead with the same provider and start. One addition, needed for rerun safety: an
//!   observation with neither key nor start matches a key-less, start-less row of the same lead and
//!   provider (`find_target` matches nothing there, so `record` would add a second such row on
//!   every rerun);
//! - a new row exactly as `plan::new_row` builds it (status, `canceledAt` only when canceled,
//!   `statusChangedAt` = `createdAt` = `updatedAt` = now, no provider times) plus its `created`
//!   `AppointmentEvent`.
//!
//! One rule comes before matching, because the write path keeps the lead's rollup but not its
//! Phase 28 provider ids: a lead whose stored rollup is exactly the write path's rollup of one of
//! its rows ([`rollup_mirrors_a_row`]) had its rollup written by the write path, so the booking it
//! describes is already there, while its ids may name an older booking. It counts as already
//! present (migrating it would pair the old ids with the new booking's times).
//!
//! What the batch form deliberately does not do: where a row for the booking exists it writes
//! nothing at all (counted as already present). `record` would in that case fill fields the row
//! lacks or adopt the key onto a key-less row, and relink GHL reschedules; the next provider
//! observation of that booking does those through `record` anyway.
//!
//! A dry-run runs the same decisions without the inserts. So that it counts exactly what apply
//! would, it claims the provider keys it would have created (`AppointmentMigrationClaim`, per run):
//! a later batch's lead with an already-claimed key is counted as already present, as apply counts
//! a key it finds in `Appointment`.
//!
//! Ids are `gen_random_uuid()` strings made in the statement (the write path makes uuid v7 in Rust;
//! both are uuid text, which is all the schema asks for).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;

use crate::domain::{AppointmentSource, AppointmentStatus, Observation, ObservedStatus, Provider, TaskPolicy, MAX_KEY_BYTES};
use crate::error::Result;
use crate::model::{AppointmentRow, Rollup};
use crate::store::Connection;

/// What the migration could not take as it was, reported by kind (its camelCase name, which the
/// batch statements write as text) with example lead ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Warning {
    /// No rollup provider, no provider id, no client default: the lead is skipped.
    ProviderUnknown,
    /// The lead holds ids of the other provider than the one migrated; they are not copied.
    OtherProviderIdsIgnored,
    /// The provider id is longer than the write path accepts ([`MAX_KEY_BYTES`](crate::domain::MAX_KEY_BYTES));
    /// migrated without it.
    ProviderIdTooLong,
    /// `appointmentEndAt` is before `appointmentStartAt`; migrated without the end.
    EndBeforeStart,
    /// `appointmentStatus` is neither confirmed nor canceled; migrated as CONFIRMED.
    UnknownStatus,
    /// `appointmentCanceledAt` on a lead whose status is confirmed; not copied.
    CanceledAtIgnored,
    /// The provider key already belongs to another lead's appointment (or to an earlier lead of the
    /// same batch); nothing is created for this lead.
    KeyOnOtherLead,
}

impl Warning {
    pub const ALL: [Warning; 7] = [
        Warning::ProviderUnknown,
        Warning::OtherProviderIdsIgnored,
        Warning::ProviderIdTooLong,
        Warning::EndBeforeStart,
        Warning::UnknownStatus,
        Warning::CanceledAtIgnored,
        Warning::KeyOnOtherLead,
    ];
}

/// What "blank" means for the text rollup columns, in Rust and in SQL (`btrim(x, E' \t\r\n')`).
const BLANK: &[char] = &[' ', '\t', '\r', '\n'];

/// The Phase 28 columns of one lead, plus its client's default provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Phase28Lead {
    pub lead_id: String,
    pub appointment_provider: Option<Provider>,
    pub client_provider: Option<Provider>,
    pub ghl_appointment_id: Option<String>,
    pub calendly_invitee_uri: Option<String>,
    pub calendly_scheduled_event_uri: Option<String>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub canceled_at: Option<DateTime<Utc>>,
}

/// What the migration does with one lead.
// One value per lead, consumed at once: boxing the observation would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum LeadMigration {
    /// No appointment data: nothing to migrate.
    NoData,
    /// Data, but no way to know the provider: skipped with [`Warning::ProviderUnknown`].
    UnknownProvider,
    /// Record this observation (unless the booking is already there), with these warnings.
    Observe { observation: Observation, warnings: Vec<Warning> },
}

fn non_blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim_matches(BLANK).is_empty())
}

impl Phase28Lead {
    /// "A lead with appointment data": any of start, end, canceledAt, a non-blank status, or a
    /// non-blank provider id. The provider column alone (or `appointmentSource`,
    /// `appointmentLastCheckedAt`) says nothing about an appointment.
    pub fn has_data(&self) -> bool {
        self.start_at.is_some()
            || self.end_at.is_some()
            || self.canceled_at.is_some()
            || non_blank(&self.status).is_some()
            || non_blank(&self.ghl_appointment_id).is_some()
            || non_blank(&self.calendly_invitee_uri).is_some()
            || non_blank(&self.calendly_scheduled_event_uri).is_some()
    }

    /// The provider: the rollup's; else the one whose ids the lead holds (ids of one provider
    /// only); else the client's default.
    pub fn provider(&self) -> Option<Provider> {
        let ghl = non_blank(&self.ghl_appointment_id).is_some();
        let calendly = non_blank(&self.calendly_invitee_uri).is_some() || non_blank(&self.calendly_scheduled_event_uri).is_some();
        self.appointment_provider
            .or(match (ghl, calendly) {
                (true, false) => Some(Provider::Ghl),
                (false, true) => Some(Provider::Calendly),
                _ => None,
            })
            .or(self.client_provider)
    }
}

/// The spec of the migration for one lead. [`INSERT_BATCH`] implements exactly this in SQL; the
/// crate's property test holds the two (and `Store::record` of this observation) together.
pub fn migration_for(lead: &Phase28Lead) -> LeadMigration {
    if !lead.has_data() {
        return LeadMigration::NoData;
    }
    let Some(provider) = lead.provider() else {
        return LeadMigration::UnknownProvider;
    };
    let mut warnings = Vec::new();
    let ghl = non_blank(&lead.ghl_appointment_id);
    let invitee = non_blank(&lead.calendly_invitee_uri);
    let event = non_blank(&lead.calendly_scheduled_event_uri);

    let (raw_key, other_ids) = match provider {
        Provider::Ghl => (ghl, invitee.is_some() || event.is_some()),
        Provider::Calendly => (invitee, ghl.is_some()),
    };
    if other_ids {
        warnings.push(Warning::OtherProviderIdsIgnored);
    }
    let key = match raw_key {
        Some(k) if k.len() > MAX_KEY_BYTES => {
            warnings.push(Warning::ProviderIdTooLong);
            None
        }
        k => k.map(str::to_string),
    };
    let end_at = match (lead.start_at, lead.end_at) {
        (Some(s), Some(e)) if e < s => {
            warnings.push(Warning::EndBeforeStart);
            None
        }
        (_, e) => e,
    };
    let status_text = lead.status.as_deref().map(|s| s.trim_matches(BLANK).to_lowercase()).unwrap_or_default();
    let canceled = matches!(status_text.as_str(), "canceled" | "cancelled") || (status_text.is_empty() && lead.canceled_at.is_some());
    if !matches!(status_text.as_str(), "" | "confirmed" | "canceled" | "cancelled") {
        warnings.push(Warning::UnknownStatus);
    }
    if !canceled && lead.canceled_at.is_some() {
        warnings.push(Warning::CanceledAtIgnored);
    }
    let status = if canceled { AppointmentStatus::Canceled } else { AppointmentStatus::Confirmed };

    let mut o = Observation::new(lead.lead_id.as_str(), provider, ObservedStatus::Is(status), AppointmentSource::Migration);
    o.key = key;
    o.calendly_event_uri = if provider == Provider::Calendly { event.map(str::to_string) } else { None };
    o.start_at = lead.start_at;
    o.end_at = end_at;
    o.canceled_at = if canceled { lead.canceled_at } else { None };
    o.tasks = TaskPolicy::None;
    LeadMigration::Observe { observation: o, warnings }
}

/// Whether the lead's stored rollup is exactly the write path's rollup of one of its rows (see the
/// module doc): then the lead is not migrated, its booking is there already.
pub fn rollup_mirrors_a_row(stored: &Rollup, rows: &[AppointmentRow]) -> bool {
    rows.iter().any(|r| Rollup::of(r) == *stored)
}

// ---------------------------------------------------------------------------------------------
// SQL. Parameters of the batch statements: $1 = after (exclusive lower bound of lead ids; '' at
// the start), $2 = last (inclusive upper bound), $3 = client id or NULL, $4 = now (apply) or the
// run id (dry-run), $5 = the longest provider key accepted ([`MAX_KEY_BYTES`], bound so that SQL
// and Rust share the one limit).

/// "A lead with appointment data" in SQL, for the alias `l` (same as [`Phase28Lead::has_data`]):
/// the one SQL spelling, for the migration and for verify ([`super::repair`]). NULL where a lead
/// has nothing (`IS TRUE` makes it false).
macro_rules! has_data {
    () => {
        r#"(l."appointmentStartAt" IS NOT NULL OR l."appointmentEndAt" IS NOT NULL OR l."appointmentCanceledAt" IS NOT NULL
       OR btrim(l."appointmentStatus", E' \t\r\n') <> '' OR btrim(l."ghlAppointmentId", E' \t\r\n') <> ''
       OR btrim(l."calendlyInviteeUri", E' \t\r\n') <> '' OR btrim(l."calendlyScheduledEventUri", E' \t\r\n') <> '')"#
    };
}
pub(crate) use has_data;

/// (The CTEs are `MATERIALIZED`: inlined, PostgreSQL would copy each derived expression into every
/// place that uses it, and planning alone took longer than running the batch.)
///
/// The decision for every lead with data in the batch, as the CTE `g`: provider, key, the row's
/// values, whether it `creates` a row, and its warnings. Shared by the apply and dry-run statements
/// so that a dry-run counts exactly what apply does.
macro_rules! decide_batch {
    ($claimed_by:literal) => {
        concat!(
            r#"WITH src AS MATERIALIZED (
    SELECT l."id" AS lead_id,
           l."appointmentProvider"::text AS lead_provider,
           c."meetingBookingProvider"::text AS client_provider,
           CASE WHEN btrim(l."ghlAppointmentId", E' \t\r\n') <> '' THEN l."ghlAppointmentId" END AS ghl_id,
           CASE WHEN btrim(l."calendlyInviteeUri", E' \t\r\n') <> '' THEN l."calendlyInviteeUri" END AS invitee_uri,
           CASE WHEN btrim(l."calendlyScheduledEventUri", E' \t\r\n') <> '' THEN l."calendlyScheduledEventUri" END AS event_uri,
           coalesce(lower(btrim(l."appointmentStatus", E' \t\r\n')), '') AS status_text,
           l."appointmentStartAt" AS start_at,
           l."appointmentEndAt" AS end_at,
           l."appointmentCanceledAt" AS canceled_at,
           EXISTS (SELECT 1 FROM "Appointment" a
                    WHERE a."leadId" = l."id" AND a."provider" = l."appointmentProvider"
                      AND a."startAt" IS NOT DISTINCT FROM l."appointmentStartAt" AND a."endAt" IS NOT DISTINCT FROM l."appointmentEndAt"
                      AND a."canceledAt" IS NOT DISTINCT FROM l."appointmentCanceledAt"
                      AND (CASE WHEN a."status" IN ('CONFIRMED', 'SHOWED', 'NO_SHOW') THEN 'confirmed' ELSE 'canceled' END) = l."appointmentStatus"
                      AND lower(a."source"::text) = l."appointmentSource") AS mirrored
      FROM "Lead" l JOIN "Client" c ON c."id" = l."clientId"
     WHERE l."id" > $1 AND l."id" <= $2 AND ($3::text IS NULL OR l."clientId" = $3::text)
       AND "#,
            has_data!(),
            r#"
),
m AS MATERIALIZED (
    SELECT s.lead_id, s.mirrored, p.provider,
           CASE WHEN octet_length(k.raw_key) <= $5::int THEN k.raw_key END AS key,
           CASE WHEN p.provider = 'CALENDLY' THEN s.event_uri END AS event_uri,
           s.start_at,
           CASE WHEN s.end_at < s.start_at THEN NULL ELSE s.end_at END AS end_at,
           st.canceled,
           CASE WHEN st.canceled THEN s.canceled_at END AS canceled_at,
           array_remove(ARRAY[
               CASE WHEN p.provider IS NULL THEN 'providerUnknown' END,
               CASE WHEN (p.provider = 'GHL' AND (s.invitee_uri IS NOT NULL OR s.event_uri IS NOT NULL))
                      OR (p.provider = 'CALENDLY' AND s.ghl_id IS NOT NULL) THEN 'otherProviderIdsIgnored' END,
               CASE WHEN octet_length(k.raw_key) > $5::int THEN 'providerIdTooLong' END,
               CASE WHEN p.provider IS NOT NULL AND s.end_at < s.start_at THEN 'endBeforeStart' END,
               CASE WHEN p.provider IS NOT NULL AND s.status_text NOT IN ('', 'confirmed', 'canceled', 'cancelled') THEN 'unknownStatus' END,
               CASE WHEN p.provider IS NOT NULL AND NOT st.canceled AND s.canceled_at IS NOT NULL THEN 'canceledAtIgnored' END
           ]::text[], NULL) AS warnings
      FROM src s
      CROSS JOIN LATERAL (SELECT coalesce(s.lead_provider,
              CASE WHEN s.ghl_id IS NOT NULL AND s.invitee_uri IS NULL AND s.event_uri IS NULL THEN 'GHL'
                   WHEN s.ghl_id IS NULL AND (s.invitee_uri IS NOT NULL OR s.event_uri IS NOT NULL) THEN 'CALENDLY' END,
              s.client_provider) AS provider) p
      CROSS JOIN LATERAL (SELECT CASE p.provider WHEN 'GHL' THEN s.ghl_id WHEN 'CALENDLY' THEN s.invitee_uri END AS raw_key) k
      CROSS JOIN LATERAL (SELECT s.status_text IN ('canceled', 'cancelled') OR (s.status_text = '' AND s.canceled_at IS NOT NULL) AS canceled) st
),
e AS MATERIALIZED (
    SELECT m.*,
           CASE WHEN m.key IS NULL THEN NULL
                ELSE coalesce(
                    CASE WHEN m.provider = 'GHL' THEN (SELECT a."leadId" FROM "Appointment" a WHERE a."ghlAppointmentId" = m.key)
                         ELSE (SELECT a."leadId" FROM "Appointment" a WHERE a."calendlyInviteeUri" = m.key) END,
                    "#,
            $claimed_by,
            r#") END AS key_owner,
           m.provider IS NOT NULL AND (m.key IS NULL OR m.start_at IS NOT NULL) AND EXISTS (
               SELECT 1 FROM "Appointment" a
                WHERE a."leadId" = m.lead_id AND a."provider" = m.provider::"MeetingBookingProvider"
                  AND a."startAt" IS NOT DISTINCT FROM m.start_at
                  AND ((m.key IS NULL AND m.start_at IS NOT NULL)
                       OR (CASE a."provider" WHEN 'GHL' THEN a."ghlAppointmentId" ELSE a."calendlyInviteeUri" END) IS NULL)
           ) AS slot_taken
      FROM m
),
f AS MATERIALIZED (
    SELECT e.*, (e.provider IS NOT NULL AND e.key_owner IS NULL AND NOT e.slot_taken AND NOT e.mirrored) AS wanted FROM e
),
g AS (
    SELECT f.lead_id, f.provider, f.key, f.event_uri, f.start_at, f.end_at, f.canceled, f.canceled_at,
           f.wanted AND (f.key IS NULL OR row_number() OVER w = 1) AS creates,
           f.warnings || CASE WHEN f.key_owner <> f.lead_id OR (f.wanted AND f.key IS NOT NULL AND row_number() OVER w > 1)
                              THEN ARRAY['keyOnOtherLead']::text[] ELSE ARRAY[]::text[] END AS warnings
      FROM f
    WINDOW w AS (PARTITION BY f.wanted, f.provider, f.key ORDER BY f.lead_id)
)"#
        )
    };
}

/// The counts row shared by both statements; `created` and `events` are supplied by each.
macro_rules! batch_counts {
    ($created:literal, $events:literal) => {
        concat!(
            r#"
SELECT (SELECT count(*) FROM g) AS with_data,
       (SELECT count(*) FROM g WHERE g.provider IS NULL) AS unknown_provider,
       "#,
            $created,
            r#" AS created,
       (SELECT count(*) FROM g WHERE g.provider IS NOT NULL AND NOT g.creates) AS present,
       "#,
            $events,
            r#" AS events,
       (SELECT coalesce(jsonb_object_agg(x.kind, jsonb_build_object('count', x.n, 'examples', to_jsonb(x.ex))), '{}'::jsonb)
          FROM (SELECT w.kind, count(*) AS n, (array_agg(g.lead_id ORDER BY g.lead_id))[1:5] AS ex
                  FROM g CROSS JOIN LATERAL unnest(g.warnings) AS w(kind) GROUP BY w.kind) x) AS warnings"#
        )
    };
}

/// Apply: insert the MIGRATION rows and their `created` events for the batch `($1, $2]`.
pub const INSERT_BATCH: &str = concat!(
    decide_batch!("NULL::text"),
    r#",
ins AS (
    INSERT INTO "Appointment" ("id", "leadId", "provider", "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri",
                               "startAt", "endAt", "status", "statusChangedAt", "canceledAt", "source", "createdAt", "updatedAt")
    SELECT gen_random_uuid()::text, g.lead_id, g.provider::"MeetingBookingProvider",
           CASE WHEN g.provider = 'GHL' THEN g.key END, CASE WHEN g.provider = 'CALENDLY' THEN g.key END, g.event_uri,
           g.start_at, g.end_at, (CASE WHEN g.canceled THEN 'CANCELED' ELSE 'CONFIRMED' END)::"AppointmentStatus",
           $4::timestamp(3), g.canceled_at, 'MIGRATION'::"AppointmentSource", $4::timestamp(3), $4::timestamp(3)
      FROM g WHERE g.creates
    RETURNING "id", "leadId", "status"
),
ev AS (
    INSERT INTO "AppointmentEvent" ("id", "appointmentId", "leadId", "kind", "source", "newValue", "recordedAt")
    SELECT gen_random_uuid()::text, ins."id", ins."leadId", 'created', 'MIGRATION'::"AppointmentSource", ins."status"::text, $4::timestamp(3)
      FROM ins
    RETURNING 1
)"#,
    batch_counts!("(SELECT count(*) FROM ins)", "(SELECT count(*) FROM ev)")
);

/// Dry-run: the same decisions as [`INSERT_BATCH`], counted, every count apply reports (events
/// included); no appointment written. A key an
/// earlier batch of this dry-run ($4 = run id) would have created counts as taken, exactly as the
/// row apply would have inserted; this batch's would-be keys are claimed for the next batches.
pub const COUNT_BATCH: &str = concat!(
    decide_batch!(
        r#"(SELECT c."leadId" FROM "AppointmentMigrationClaim" c
                      WHERE c."runId" = $4::text AND c."provider" = m.provider::"MeetingBookingProvider" AND c."key" = m.key)"#
    ),
    r#",
claims AS (
    INSERT INTO "AppointmentMigrationClaim" ("runId", "provider", "key", "leadId")
    SELECT $4::text, g.provider::"MeetingBookingProvider", g.key, g.lead_id FROM g WHERE g.creates AND g.key IS NOT NULL
    RETURNING 1
)"#,
    // (a data-modifying CTE runs whether or not the query reads it). Apply writes one `created`
    // event per row it creates, so the events it would write are as many as the rows.
    batch_counts!("(SELECT count(*) FROM g WHERE g.creates)", "(SELECT count(*) FROM g WHERE g.creates)")
);

/// A finished dry-run's claims are of no further use. $1 = run id.
pub const RELEASE_CLAIMS: &str = r#"DELETE FROM "AppointmentMigrationClaim" WHERE "runId" = $1"#;

/// The next batch: how many leads (of the client, if given) follow `$1` in id order, up to `$3`,
/// and the last of them. $1 = after, $2 = client id or NULL, $3 = limit.
pub const BATCH_RANGE: &str = r#"SELECT count(*), max(r."id") FROM (
    SELECT l."id" FROM "Lead" l WHERE l."id" > $1 AND ($2::text IS NULL OR l."clientId" = $2::text) ORDER BY l."id" LIMIT $3
) r"#;

/// Locks the batch's leads that have appointment data, in id order, `FOR NO KEY UPDATE` (as
/// `record` does: serializes with every writer of those leads, never blocks the CRM's inserts
/// that reference them). Parameters as the batch statements ($1..$3).
pub const LOCK_LEADS: &str = concat!(
    r#"SELECT count(*) FROM (
    SELECT l."id" FROM "Lead" l
     WHERE l."id" > $1 AND l."id" <= $2 AND ($3::text IS NULL OR l."clientId" = $3::text) AND "#,
    has_data!(),
    r#"
     ORDER BY l."id" FOR NO KEY UPDATE
) locked"#
);

/// One batch: the leads in `(after, last]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRange {
    pub after: String,
    pub last: String,
    /// Leads in the range (with or without data).
    pub scanned: u64,
}

/// Counts of one batch (or, summed, of a run).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchCounts {
    pub leads_with_data: u64,
    /// Created by apply; would be created, for a dry-run.
    pub appointments_created: u64,
    pub already_present: u64,
    pub skipped_unknown_provider: u64,
    /// `created` events written by apply (one per created appointment); would be written, for a
    /// dry-run.
    pub events_created: u64,
    pub warnings: BTreeMap<Warning, WarningCount>,
}

/// How often one kind of warning came up, with the first few lead ids (ids only, never data).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarningCount {
    pub count: u64,
    pub examples: Vec<String>,
}

/// How many example lead ids are kept per kind.
pub const EXAMPLES: usize = 5;

impl WarningCount {
    pub fn add(&mut self, other: &WarningCount) {
        self.count += other.count;
        for e in &other.examples {
            if self.examples.len() < EXAMPLES && !self.examples.contains(e) {
                self.examples.push(e.clone());
            }
        }
    }
}

impl BatchCounts {
    fn from_row(row: &Row) -> Result<Self> {
        let n = |i: usize| -> Result<u64> { Ok(row.try_get::<_, i64>(i)?.max(0) as u64) };
        let warnings: serde_json::Value = row.try_get(5)?;
        let warnings = serde_json::from_value(warnings).map_err(|e| crate::Error::Corrupt(format!("batch warnings: {e}")))?;
        Ok(BatchCounts {
            leads_with_data: n(0)?,
            skipped_unknown_provider: n(1)?,
            appointments_created: n(2)?,
            already_present: n(3)?,
            events_created: n(4)?,
            warnings,
        })
    }

    pub fn add(&mut self, other: &BatchCounts) {
        self.leads_with_data += other.leads_with_data;
        self.appointments_created += other.appointments_created;
        self.already_present += other.already_present;
        self.skipped_unknown_provider += other.skipped_unknown_provider;
        self.events_created += other.events_created;
        for (kind, w) in &other.warnings {
            self.warnings.entry(*kind).or_default().add(w);
        }
    }
}

/// The next batch after `after` (one round trip), or `None` when no lead follows.
pub async fn next_range(conn: &mut Connection, after: &str, client_id: Option<&str>, limit: i64) -> Result<Option<BatchRange>> {
    let stmt = conn.statement(BATCH_RANGE).await?;
    conn.count_round_trip();
    let row = conn.client.query_one(&stmt, &[&after, &client_id, &limit]).await?;
    let scanned: i64 = row.try_get(0)?;
    let last: Option<String> = row.try_get(1)?;
    Ok(last.map(|last| BatchRange { after: after.to_string(), last, scanned: scanned as u64 }))
}

/// The batch statements, for [`Connection::prepare_all`] (prepared before a batch so that it never
/// waits on a prepare while it holds lead locks).
pub const STATEMENTS: [&str; 5] = [BATCH_RANGE, LOCK_LEADS, INSERT_BATCH, COUNT_BATCH, RELEASE_CLAIMS];

/// [`MAX_KEY_BYTES`] as the batch statements' `$5`.
fn max_key_param() -> i32 {
    MAX_KEY_BYTES as i32
}

/// Apply, inside the caller's open transaction: lock the batch's leads, then insert (one round
/// trip: the two statements are pipelined; the insert starts after every lock is granted, so its
/// snapshot sees what earlier holders committed). The caller checkpoints and commits.
pub async fn apply_batch(conn: &mut Connection, range: &BatchRange, client_id: Option<&str>, now: DateTime<Utc>) -> Result<BatchCounts> {
    let lock = conn.statement(LOCK_LEADS).await?;
    let insert = conn.statement(INSERT_BATCH).await?;
    let now = crate::domain::to_millis(now).naive_utc();
    conn.count_round_trip();
    let (_, row) = futures::future::try_join(
        conn.client.query_one(&lock, &[&range.after, &range.last, &client_id]),
        conn.client.query_one(&insert, &[&range.after, &range.last, &client_id, &now, &max_key_param()]),
    )
    .await?;
    BatchCounts::from_row(&row)
}

/// Dry-run of one batch of run `run_id`, inside the caller's transaction: exactly the counts
/// [`apply_batch`] would report; no appointment written (only the run's key claims).
pub async fn count_batch(conn: &mut Connection, range: &BatchRange, client_id: Option<&str>, run_id: &str) -> Result<BatchCounts> {
    let stmt = conn.statement(COUNT_BATCH).await?;
    conn.count_round_trip();
    let row = conn.client.query_one(&stmt, &[&range.after, &range.last, &client_id, &run_id, &max_key_param()]).await?;
    BatchCounts::from_row(&row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 3, 1, h, 0, 0).unwrap()
    }

    fn lead() -> Phase28Lead {
        Phase28Lead { lead_id: "l".into(), ..Default::default() }
    }

    fn observed(m: &LeadMigration) -> (&Observation, Vec<Warning>) {
        match m {
            LeadMigration::Observe { observation, warnings } => (observation, warnings.clone()),
            other => panic!("expected an observation, got {other:?}"),
        }
    }

    #[test]
    fn the_batch_statements_write_each_warning_by_its_name() {
        // A batch reads its warnings back into `Warning`, so a name the SQL spells otherwise would
        // fail the run: each name stands in both statements, as a literal.
        for w in Warning::ALL {
            let literal = format!("'{}'", serde_json::to_value(w).unwrap().as_str().unwrap());
            assert!(INSERT_BATCH.contains(&literal) && COUNT_BATCH.contains(&literal), "{literal}");
        }
    }

    #[test]
    fn a_rollup_the_write_path_wrote_mirrors_a_row() {
        let row = crate::rollup::tests::row("a", AppointmentStatus::Canceled, Some(t(9)));
        let written = Rollup::of(&row);
        assert!(rollup_mirrors_a_row(&written, std::slice::from_ref(&row)));
        assert!(!rollup_mirrors_a_row(&written, &[]));
        let phase28 = Rollup { source: None, ..written.clone() };
        assert!(!rollup_mirrors_a_row(&phase28, std::slice::from_ref(&row)), "Phase 28 wrote no source of ours");
        let moved = Rollup { start_at: Some(t(10)), ..written };
        assert!(!rollup_mirrors_a_row(&moved, &[row]));
    }

    #[test]
    fn what_counts_as_data() {
        let cases: Vec<(&str, Phase28Lead, bool)> = vec![
            ("nothing", lead(), false),
            ("provider only", Phase28Lead { appointment_provider: Some(Provider::Ghl), ..lead() }, false),
            ("blank status and ids", Phase28Lead { status: Some(" \t".into()), ghl_appointment_id: Some(" ".into()), ..lead() }, false),
            ("start", Phase28Lead { start_at: Some(t(9)), ..lead() }, true),
            ("end only", Phase28Lead { end_at: Some(t(9)), ..lead() }, true),
            ("status only", Phase28Lead { status: Some("canceled".into()), ..lead() }, true),
            ("canceledAt only", Phase28Lead { canceled_at: Some(t(9)), ..lead() }, true),
            ("event uri only", Phase28Lead { calendly_scheduled_event_uri: Some("https://e".into()), ..lead() }, true),
        ];
        for (name, l, expected) in cases {
            assert_eq!(l.has_data(), expected, "{name}");
            if !expected {
                assert_eq!(migration_for(&l), LeadMigration::NoData, "{name}");
            }
        }
    }

    #[test]
    fn provider_comes_from_rollup_then_ids_then_client() {
        let base = Phase28Lead { start_at: Some(t(9)), ..lead() };
        let cases: Vec<(&str, Phase28Lead, Option<Provider>)> = vec![
            ("none anywhere", base.clone(), None),
            ("client default", Phase28Lead { client_provider: Some(Provider::Calendly), ..base.clone() }, Some(Provider::Calendly)),
            (
                "rollup beats client",
                Phase28Lead { appointment_provider: Some(Provider::Ghl), client_provider: Some(Provider::Calendly), ..base.clone() },
                Some(Provider::Ghl),
            ),
            (
                "ghl id beats client",
                Phase28Lead { ghl_appointment_id: Some("g".into()), client_provider: Some(Provider::Calendly), ..base.clone() },
                Some(Provider::Ghl),
            ),
            (
                "ids of both: client decides",
                Phase28Lead {
                    ghl_appointment_id: Some("g".into()),
                    calendly_invitee_uri: Some("i".into()),
                    client_provider: Some(Provider::Calendly),
                    ..base.clone()
                },
                Some(Provider::Calendly),
            ),
        ];
        for (name, l, expected) in cases {
            assert_eq!(l.provider(), expected, "{name}");
        }
        assert_eq!(migration_for(&base), LeadMigration::UnknownProvider);
    }

    #[test]
    fn status_times_and_ids_as_far_as_the_data_allows() {
        let canceled = Phase28Lead {
            appointment_provider: Some(Provider::Calendly),
            calendly_invitee_uri: Some("https://api.calendly.com/scheduled_events/e/invitees/i".into()),
            calendly_scheduled_event_uri: Some("https://api.calendly.com/scheduled_events/e".into()),
            start_at: Some(t(9)),
            end_at: Some(t(10)),
            status: Some(" Canceled ".into()),
            canceled_at: Some(t(8)),
            ..lead()
        };
        let m = migration_for(&canceled);
        let (o, w) = observed(&m);
        assert_eq!(o.status, ObservedStatus::Is(AppointmentStatus::Canceled));
        assert_eq!(o.canceled_at, Some(t(8)));
        assert_eq!(o.key, canceled.calendly_invitee_uri);
        assert_eq!(o.calendly_event_uri, canceled.calendly_scheduled_event_uri);
        assert_eq!((o.source, o.tasks, o.provider_updated_at), (AppointmentSource::Migration, TaskPolicy::None, None));
        assert!(w.is_empty());

        // The same lead with everything the migration cannot take as it is: a GHL rollup beside the
        // Calendly ids, a GHL id too long for a key, the end before the start, a status it does not
        // know, and (so) a canceledAt on a booking that is not canceled.
        let odd = Phase28Lead {
            appointment_provider: Some(Provider::Ghl),
            ghl_appointment_id: Some("x".repeat(MAX_KEY_BYTES + 1)),
            end_at: Some(t(8)),
            status: Some("booked".into()),
            ..canceled.clone()
        };
        let m = migration_for(&odd);
        let (o, w) = observed(&m);
        assert_eq!(o.status, ObservedStatus::Is(AppointmentStatus::Confirmed));
        assert_eq!((o.key.clone(), o.end_at, o.canceled_at, o.calendly_event_uri.clone()), (None, None, None, None));
        assert_eq!(
            w,
            vec![
                Warning::OtherProviderIdsIgnored,
                Warning::ProviderIdTooLong,
                Warning::EndBeforeStart,
                Warning::UnknownStatus,
                Warning::CanceledAtIgnored
            ]
        );
        assert!(o.clone().normalized().is_ok(), "the write path accepts what the migration makes");

        let only_canceled_at = Phase28Lead { client_provider: Some(Provider::Ghl), canceled_at: Some(t(7)), ..lead() };
        let m = migration_for(&only_canceled_at);
        let (o, w) = observed(&m);
        assert_eq!((o.status, o.canceled_at), (ObservedStatus::Is(AppointmentStatus::Canceled), Some(t(7))));
        assert!(w.is_empty());
    }
}
