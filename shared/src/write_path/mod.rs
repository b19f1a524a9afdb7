//! The single write path ("The write path" in docs/architecture.md): `record` an observation of an
//! appointment, atomically with the lead's rollup, in one transaction under a per-lead lock.
//!
//! Two round trips per call, whatever the observation:
//! 1. `BEGIN`, lock the lead row, read its appointments (and the row holding the observation's
//!    provider key, wherever it is) — pipelined; the reads run after the lock is granted, so they see
//!    everything the previous holder committed;
//! 2. every write of the plan as one statement ([`WRITE_PLAN`]) and `COMMIT` — pipelined. A
//!    duplicate sends only `COMMIT`.
//!
//! Everything in between is the pure [`plan::plan`]. The statements are prepared once per
//! connection, by the first `record` on it ([`prepare`]): the store knows nothing of them.

pub mod migration_batch;
pub mod plan;
pub mod repair;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::future::{try_join, try_join3};
use serde::Serialize;
use tokio_postgres::Row;

use crate::domain::{AppointmentSource, AppointmentStatus, Canceler, LeadRef, Observation, Provider};
use crate::error::{Error, Result};
use crate::model::{AppointmentRow, Rollup};
use crate::retry::{rollback, with_retries, Retry};
use crate::store::{Connection, Store};
pub use plan::{Change, LeadState, Plan};

/// How `record` runs again ([`crate::retry`]): a race is over as soon as the other writer of the
/// lead commits, so it retries quickly and up to eight times; after a dropped connection it
/// reconnects once, which is safe because `record` is idempotent.
const RECORD_RETRY: Retry = Retry { max_attempts: 8, pause: Duration::from_millis(2), reconnect: true };

/// What `record` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOutcome {
    pub appointment_id: String,
    /// The lead the appointment belongs to (the key's owner when it already existed elsewhere).
    pub lead_id: String,
    pub change: Change,
    pub events: usize,
    pub rollup_changed: bool,
    pub tasks_created: usize,
    /// The provider key was also held by another workspace's row: what the write did about it.
    /// Logged (ids only) where it happens, and counted (`ProviderKeyConflicts`) once committed.
    pub key_conflict: Option<KeyConflict>,
}

/// A provider key found on a row of another workspace's lead. The rule: a key that only the CRM
/// asserted (POST, migration: the row has no `providerVerifiedAt`) never makes a provider-verified
/// observation be dropped; and no answer tells a workspace that another one holds a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyConflict {
    /// A provider-verified observation (webhook, reconciliation, backfill) took the key from the
    /// other workspace's unverified row, which keeps its history without the key.
    Taken,
    /// A [`LeadRef::Pinned`] write asserted a key another workspace's row holds: the observation was
    /// recorded without the key, as if the key were unknown.
    Dropped,
}

impl KeyConflict {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyConflict::Taken => "taken",
            KeyConflict::Dropped => "dropped",
        }
    }

    fn what_happened(self) -> &'static str {
        match self {
            KeyConflict::Taken => "provider key taken from another workspace's unverified appointment",
            KeyConflict::Dropped => "provider key held by another workspace's appointment; recorded without it",
        }
    }
}

impl Store {
    /// Records one observation through the write path. Retries lost races; after a dropped
    /// connection it reconnects and tries once more, which is safe because `record` is idempotent.
    pub async fn record(&self, obs: Observation) -> Result<RecordOutcome> {
        let obs = obs.normalized()?;
        let started = std::time::Instant::now();
        // Counted under the connection's lock, so a concurrent user of the store never adds to them.
        let (attempts, round_trips) = (AtomicU64::new(0), AtomicU64::new(0));
        let result = with_retries(self, RECORD_RETRY, &obs.lead, || async {
            attempts.fetch_add(1, Ordering::Relaxed);
            let mut conn = self.conn().await?;
            let before = conn.round_trips();
            let result = record_on(&mut conn, &obs).await;
            round_trips.fetch_add(conn.round_trips() - before, Ordering::Relaxed);
            result
        })
        .await;
        let retries = attempts.load(Ordering::Relaxed).saturating_sub(1);
        crate::metrics::write(round_trips.load(Ordering::Relaxed), retries, started.elapsed());
        // Counted once the write committed: an attempt that was retried counts nothing.
        if let Some(conflict) = result.as_ref().ok().and_then(|o| o.key_conflict) {
            crate::metrics::key_conflict(conflict.as_str());
        }
        result
    }
}

/// One attempt of `record` on a connection. On error the transaction is rolled back.
pub async fn record_on(conn: &mut Connection, obs: &Observation) -> Result<RecordOutcome> {
    // A round trip on a new connection only; afterwards every statement is found prepared.
    prepare(conn).await?;
    let mut lead = obs.lead.clone();
    // A provider key found under another lead moves the write to that lead (a key never changes
    // lead); bounded so that a pathological loop cannot spin.
    for _ in 0..3 {
        let result = attempt(conn, obs, &lead).await;
        match result {
            Ok(Attempt::Done(outcome)) => return Ok(outcome),
            Ok(Attempt::Retry(owner)) => {
                rollback(conn).await;
                lead = LeadRef::Id(owner);
            }
            Err(e) => {
                rollback(conn).await;
                return Err(e);
            }
        }
    }
    Err(Error::Database { code: "40001".into(), message: "provider key kept moving between leads".into() })
}

enum Attempt {
    Done(RecordOutcome),
    /// Run again on this lead: the key's owner, or the lead locked when a concurrent change to
    /// the CRM's leads made the matching disagree between the two statements of round trip 1.
    Retry(String),
}

async fn attempt(conn: &Connection, obs: &Observation, lead: &LeadRef) -> Result<Attempt> {
    let (ghl_key, calendly_key) = match (&obs.key, obs.provider) {
        (Some(k), Provider::Ghl) => (Some(k.as_str()), None),
        (Some(k), Provider::Calendly) => (None, Some(k.as_str())),
        (None, _) => (None, None),
    };
    // Round trip 1: BEGIN, resolve and lock the lead, read its rows. Each shape of the question
    // has its own lean statement, so that PostgreSQL's cached plan has nothing to skip at run time.
    let begin = conn.prepared(BEGIN)?;
    let (lock, lock_params): (_, Vec<Param<'_>>) = match lead {
        LeadRef::Id(id) | LeadRef::Pinned(id) => (conn.prepared(LOCK_BY_ID)?, vec![id]),
        LeadRef::Match { client_id, lead_hint, email } => {
            (conn.prepared(LOCK_BY_MATCH)?, vec![client_id, lead_hint, email, &ghl_key, &calendly_key])
        }
        LeadRef::GhlContact { location_id, contact_id } => (conn.prepared(LOCK_BY_GHL_CONTACT)?, vec![location_id, contact_id, &ghl_key]),
        LeadRef::KeyOwner => (conn.prepared(LOCK_BY_KEY)?, vec![&ghl_key, &calendly_key]),
    };
    let (read, read_params): (_, Vec<Param<'_>>) = match (&ghl_key, &calendly_key) {
        (Some(_), _) => (conn.prepared(READ_WITH_GHL_KEY)?, vec![&ghl_key]),
        (_, Some(_)) => (conn.prepared(READ_WITH_CALENDLY_KEY)?, vec![&calendly_key]),
        _ => (conn.prepared(READ_LEAD)?, vec![]),
    };
    conn.count_round_trip();
    let (_, locked, rows) =
        try_join3(conn.client.execute(&begin, &[]), conn.client.query_opt(&lock, &lock_params), conn.client.query(&read, &read_params))
            .await?;
    let Some(locked) = locked else {
        return Err(Error::LeadNotFound(lead.to_string()));
    };
    let lead_id: String = locked.try_get(0)?;
    let raw_rows = rows;
    let mut rows = raw_rows.iter().map(appointment_from_row).collect::<Result<Vec<_>>>()?;

    // A row of another lead: the one holding the observation's key (the read adds it).
    let mut conflict = None;
    if let Some(stray_index) = rows.iter().position(|r| r.lead_id != lead_id) {
        let stray = &rows[stray_index];
        let holds_key = obs.key.is_some() && stray.provider == obs.provider && stray.key() == obs.key.as_deref();
        if !holds_key {
            return Ok(Attempt::Retry(lead_id));
        }
        let locked_client: String = locked.try_get(8)?;
        let owner_client: Option<String> = raw_rows[stray_index].try_get(OWNER_CLIENT_COLUMN)?;
        if owner_client.as_deref() == Some(locked_client.as_str()) {
            // Within the client the key decides the lead (LOCK_BY_MATCH follows it too; a key
            // inserted between the two statements lands here).
            if matches!(lead, LeadRef::Pinned(_)) {
                return Err(Error::KeyOwnedElsewhere);
            }
            return Ok(Attempt::Retry(stray.lead_id.clone()));
        }
        // Another workspace's row: never write into it, never say that it exists.
        let stray = rows.remove(stray_index);
        if obs.source.is_provider_verified() && stray.provider_verified_at.is_none() {
            conflict = Some((KeyConflict::Taken, stray));
        } else if matches!(lead, LeadRef::Pinned(_)) {
            conflict = Some((KeyConflict::Dropped, stray));
        } else if matches!(lead, LeadRef::Match { .. } | LeadRef::GhlContact { .. }) {
            return Err(Error::LeadNotFound(lead.to_string()));
        } else {
            return Err(Error::KeyOwnedElsewhere);
        }
    }
    let (without_key, release) = match &conflict {
        Some((KeyConflict::Dropped, _)) => (Some(Observation { key: None, ..obs.clone() }), None),
        Some((KeyConflict::Taken, other)) => (None, Some(other.id.as_str())),
        None => (None, None),
    };
    let obs = without_key.as_ref().unwrap_or(obs);
    let state = LeadState { lead_id: lead_id.clone(), rollup: rollup_from_row(&locked, 1)?, rows };

    let now = crate::domain::to_millis(Utc::now());
    let plan = plan::plan(&state, obs, now, &mut || uuid::Uuid::now_v7().to_string());

    // Round trip 2: the writes and COMMIT (COMMIT alone when there is nothing to write).
    execute_plan(conn, &plan, &lead_id, release, now).await?;
    // Logged once committed, so that an attempt that is retried logs nothing.
    if let Some((kind, other)) = &conflict {
        tracing::warn!(
            key_conflict = kind.as_str(),
            lead_id = %lead_id,
            appointment_id = %plan.appointment_id,
            other_lead_id = %other.lead_id,
            other_appointment_id = %other.id,
            "{}",
            kind.what_happened()
        );
    }
    Ok(Attempt::Done(RecordOutcome {
        appointment_id: plan.appointment_id.clone(),
        lead_id,
        change: plan.change(),
        events: plan.events.len(),
        rollup_changed: plan.rollup.is_some(),
        tasks_created: plan.tasks.len(),
        key_conflict: conflict.map(|(kind, _)| kind),
    }))
}

/// Round trip 2. `release`: the id of another workspace's row whose key the plan takes; its key is
/// cleared first, in the same pipeline, so that the plan's row can hold the key.
async fn execute_plan(conn: &Connection, plan: &Plan, lead_id: &str, release: Option<&str>, now: DateTime<Utc>) -> Result<()> {
    let commit = conn.prepared(COMMIT)?;
    conn.count_round_trip();
    if plan.writes_nothing() && release.is_none() {
        conn.client.execute(&commit, &[]).await?;
        return Ok(());
    }
    // All writes are one statement (data-modifying CTEs over column arrays), pipelined with COMMIT:
    // two messages, whatever the plan. If it fails, PostgreSQL turns the COMMIT into a rollback
    // and the statement's error is what comes back here.
    let write = conn.prepared(WRITE_PLAN)?;
    let params = PlanParams::of(plan, lead_id, now);
    let counts = match release {
        None => try_join(conn.client.query_one(&write, &params.as_params()), conn.client.execute(&commit, &[])).await?.0,
        Some(row_id) => {
            // Pipelined in order: the key is free before the plan's row takes it. If the other row
            // was verified or changed meanwhile, the plan's write hits the key's unique index and
            // the whole transaction runs again.
            let release_key = conn.prepared(RELEASE_KEY)?;
            let now = now.naive_utc();
            let (_, counts, _) = try_join3(
                conn.client.execute(&release_key, &[&row_id, &now]),
                conn.client.query_one(&write, &params.as_params()),
                conn.client.execute(&commit, &[]),
            )
            .await?;
            counts
        }
    };
    let updated: i64 = counts.try_get(1)?;
    if updated != plan.updates.len() as i64 {
        // Cannot happen while the lead is locked (its rows cannot go away); the transaction has
        // committed by now, so say so loudly in the log rather than fail a write that happened.
        tracing::error!(lead_id, updated, planned = plan.updates.len(), "fewer appointment rows updated than planned");
    }
    Ok(())
}

/// Prepares the write path's statements not yet prepared on this connection (one round trip on a new
/// connection, none afterwards).
pub async fn prepare(conn: &mut Connection) -> Result<()> {
    conn.prepare_all(&[
        BEGIN,
        LOCK_BY_ID,
        LOCK_BY_MATCH,
        LOCK_BY_GHL_CONTACT,
        LOCK_BY_KEY,
        READ_LEAD,
        READ_WITH_GHL_KEY,
        READ_WITH_CALENDLY_KEY,
        WRITE_PLAN,
        RELEASE_KEY,
        COMMIT,
    ])
    .await
}

// ---------------------------------------------------------------------------------------------
// SQL (public so that the benchmark replays exactly these statements with pgbench)

pub const BEGIN: &str = "BEGIN";
pub const COMMIT: &str = "COMMIT";

/// The locked lead's id is handed to the read of round trip 1 through this transaction-local
/// setting: the read is pipelined behind the lock and cannot see its result otherwise.
///
/// The rest of the transaction (the read, the writes) runs on generic plans, made once per
/// session: the statements are written to be lean under any parameter values, and in the default
/// mode PostgreSQL plans [`WRITE_PLAN`] anew whenever its estimate of a generic plan drifts above
/// the custom ones' average, as it does while a table grows from empty (half of the calls on one
/// connection in the benchmark's `new` rows). Transaction-local, so nothing else of the session
/// is affected, and set here because this statement runs first anyway.
macro_rules! lock_lead {
    ($condition:literal) => {
        concat!(
            r#"SELECT "id", "appointmentStartAt", "appointmentEndAt", "appointmentStatus", "appointmentCanceledAt",
       "appointmentProvider"::text, "appointmentSource", set_config('appointment_history.lead_id', "id", true), "clientId",
       set_config('plan_cache_mode', 'force_generic_plan', true)"#,
            r#"
  FROM "Lead" WHERE "#,
            $condition,
            // NO KEY UPDATE: serializes our writers of one lead without blocking the CRM's inserts
            // that merely reference the lead (their foreign-key checks take FOR KEY SHARE).
            " FOR NO KEY UPDATE"
        )
    };
}

/// `LeadRef::Id`: $1 lead id.
pub const LOCK_BY_ID: &str = lock_lead!(r#""id" = $1"#);

/// `LeadRef::Match`: $1 client, $2 lead hint, $3 email, $4 GHL key, $5 Calendly key. The key's
/// owner (within the client) first, then the hinted lead, then the most recently updated lead with
/// that email (case-insensitive).
pub const LOCK_BY_MATCH: &str = lock_lead!(
    r#""id" = coalesce(
    (SELECT a."leadId" FROM "Appointment" a JOIN "Lead" k ON k."id" = a."leadId"
      WHERE (a."ghlAppointmentId" = $4::text OR a."calendlyInviteeUri" = $5::text) AND k."clientId" = $1::text
      LIMIT 1),
    (SELECT m."id" FROM "Lead" m
      WHERE m."clientId" = $1::text AND (m."id" = $2::text OR lower(m."email") = lower($3::text))
      ORDER BY (m."id" = $2::text) IS TRUE DESC, m."updatedAt" DESC, m."id"
      LIMIT 1))"#
);

/// `LeadRef::GhlContact`: $1 GHL location, $2 GHL contact, $3 GHL key. The key's owner (within the
/// location's client) first, then the most recently updated lead of that client with the contact.
/// Several clients on one location (a misconfiguration): the lowest client id.
pub const LOCK_BY_GHL_CONTACT: &str = lock_lead!(
    r#""id" = coalesce(
    (SELECT a."leadId" FROM "Appointment" a JOIN "Lead" k ON k."id" = a."leadId" JOIN "Client" c ON c."id" = k."clientId"
      WHERE a."ghlAppointmentId" = $3::text AND c."ghlLocationId" = $1::text
      LIMIT 1),
    (SELECT m."id" FROM "Lead" m JOIN "Client" c ON c."id" = m."clientId"
      WHERE c."ghlLocationId" = $1::text AND m."ghlContactId" = $2::text
      ORDER BY c."id", m."updatedAt" DESC, m."id"
      LIMIT 1))"#
);

/// `LeadRef::KeyOwner`: $1 GHL key, $2 Calendly key.
pub const LOCK_BY_KEY: &str = lock_lead!(
    r#""id" = (SELECT a."leadId" FROM "Appointment" a WHERE a."ghlAppointmentId" = $1::text OR a."calendlyInviteeUri" = $2::text LIMIT 1)"#
);

/// Every column of `Appointment`, in `AppointmentRow` order (enums as text), for
/// [`appointment_from_row`]. A macro so that other statements can `concat!` it into a literal.
#[macro_export]
macro_rules! appointment_columns {
    () => {
        r#""id", "leadId", "provider"::text, "ghlAppointmentId", "calendlyInviteeUri",
       "calendlyScheduledEventUri", "startAt", "endAt", "timezone", "status"::text, "statusChangedAt",
       "canceledAt", "cancelReason", "canceledBy", "rescheduledFromId", "rescheduledFromKey",
       "rescheduledToKey", "providerCreatedAt", "providerUpdatedAt", "source"::text, "createdAt", "updatedAt",
       "providerVerifiedAt", "providerDeletedAt""#
    };
}

/// The locked lead's rows, plus the row holding the observation's provider key wherever it is.
/// Runs after the lock is granted (same pipeline), so it sees what the previous holder committed.
macro_rules! read_lead {
    ($key_condition:literal) => {
        concat!(
            "SELECT ",
            appointment_columns!(),
            // The client of another lead's row (the key's owner), to refuse writes across clients.
            r#", CASE WHEN "leadId" <> current_setting('appointment_history.lead_id', true)
               THEN (SELECT o."clientId" FROM "Lead" o WHERE o."id" = "Appointment"."leadId") END"#,
            r#" FROM "Appointment" WHERE "leadId" = current_setting('appointment_history.lead_id', true)"#,
            $key_condition
        )
    };
}

/// Where the read's extra column (the client of another lead's row) is.
const OWNER_CLIENT_COLUMN: usize = 24;

pub const READ_LEAD: &str = read_lead!("");
/// $1 GHL appointment id.
pub const READ_WITH_GHL_KEY: &str = read_lead!(r#" OR "ghlAppointmentId" = $1"#);
/// $1 Calendly invitee URI.
pub const READ_WITH_CALENDLY_KEY: &str = read_lead!(r#" OR "calendlyInviteeUri" = $1"#);

/// Clears the provider key of another workspace's row that only the CRM asserted, for a
/// provider-verified observation that takes it ([`KeyConflict::Taken`]). $1 row id, $2 now. The row
/// keeps everything else, its history included.
pub const RELEASE_KEY: &str = r#"UPDATE "Appointment"
   SET "ghlAppointmentId" = CASE WHEN "provider" = 'GHL' THEN NULL ELSE "ghlAppointmentId" END,
       "calendlyInviteeUri" = CASE WHEN "provider" = 'CALENDLY' THEN NULL ELSE "calendlyInviteeUri" END,
       "updatedAt" = $2
 WHERE "id" = $1 AND "providerVerifiedAt" IS NULL"#;

/// Every write of a plan in one statement. Parameters are column arrays (one element per row):
/// $1–$22 new appointments, $23–$44 changed appointments (whole rows, by id), $45–$51 change-log
/// rows, $52 lead id, $53 now, $54–$59 the rollup and $60 whether to write it, $61–$63 tasks
/// (id, type, appointment), then the two row columns added later (`providerVerifiedAt`,
/// `providerDeletedAt`): $64–$65 for new appointments, $66–$67 for changed ones. Sibling CTEs see the same snapshot and foreign keys are checked at the
/// end of the statement, so an update or event may point at a row inserted beside it. Tasks are
/// one per appointment and type: a second one is silently not created. Updates name the lead as well
/// as the row, so that the cached plan reaches the rows through the lead's index whatever it guesses
/// about the arrays' lengths (a hash join over the whole table otherwise). The counts
/// come back so that the caller can check them.
pub const WRITE_PLAN: &str = r#"WITH new_rows AS (
  INSERT INTO "Appointment" ("id", "leadId", "provider", "ghlAppointmentId", "calendlyInviteeUri",
       "calendlyScheduledEventUri", "startAt", "endAt", "timezone", "status", "statusChangedAt",
       "canceledAt", "cancelReason", "canceledBy", "rescheduledFromId", "rescheduledFromKey",
       "rescheduledToKey", "providerCreatedAt", "providerUpdatedAt", "source", "createdAt", "updatedAt",
       "providerVerifiedAt", "providerDeletedAt")
  SELECT r.id, r.lead, r.provider::"MeetingBookingProvider", r.ghl, r.calendly, r.event_uri, r.start_at, r.end_at, r.tz,
         r.status::"AppointmentStatus", r.status_at, r.canceled_at, r.reason, r.canceled_by, r.from_id, r.from_key,
         r.to_key, r.p_created, r.p_updated, r.source::"AppointmentSource", r.created_at, r.updated_at, r.verified_at,
         r.deleted_at
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamp[], $8::timestamp[],
                $9::text[], $10::text[], $11::timestamp[], $12::timestamp[], $13::text[], $14::text[], $15::text[], $16::text[],
                $17::text[], $18::timestamp[], $19::timestamp[], $20::text[], $21::timestamp[], $22::timestamp[],
                $64::timestamp[], $65::timestamp[])
      AS r(id, lead, provider, ghl, calendly, event_uri, start_at, end_at, tz, status, status_at, canceled_at, reason,
           canceled_by, from_id, from_key, to_key, p_created, p_updated, source, created_at, updated_at, verified_at,
           deleted_at)
  RETURNING 1
), changed_rows AS (
  UPDATE "Appointment" a SET "leadId" = r.lead, "provider" = r.provider::"MeetingBookingProvider", "ghlAppointmentId" = r.ghl,
         "calendlyInviteeUri" = r.calendly, "calendlyScheduledEventUri" = r.event_uri, "startAt" = r.start_at,
         "endAt" = r.end_at, "timezone" = r.tz, "status" = r.status::"AppointmentStatus", "statusChangedAt" = r.status_at,
         "canceledAt" = r.canceled_at, "cancelReason" = r.reason, "canceledBy" = r.canceled_by, "rescheduledFromId" = r.from_id,
         "rescheduledFromKey" = r.from_key, "rescheduledToKey" = r.to_key, "providerCreatedAt" = r.p_created,
         "providerUpdatedAt" = r.p_updated, "source" = r.source::"AppointmentSource", "createdAt" = r.created_at,
         "updatedAt" = r.updated_at, "providerVerifiedAt" = r.verified_at, "providerDeletedAt" = r.deleted_at
    FROM unnest($23::text[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[], $29::timestamp[], $30::timestamp[],
                $31::text[], $32::text[], $33::timestamp[], $34::timestamp[], $35::text[], $36::text[], $37::text[], $38::text[],
                $39::text[], $40::timestamp[], $41::timestamp[], $42::text[], $43::timestamp[], $44::timestamp[],
                $66::timestamp[], $67::timestamp[])
      AS r(id, lead, provider, ghl, calendly, event_uri, start_at, end_at, tz, status, status_at, canceled_at, reason,
           canceled_by, from_id, from_key, to_key, p_created, p_updated, source, created_at, updated_at, verified_at,
           deleted_at)
   WHERE a."id" = r.id AND a."leadId" = $52::text
  RETURNING 1
), events AS (
  INSERT INTO "AppointmentEvent" ("id", "appointmentId", "leadId", "kind", "source", "oldValue", "newValue", "providerAt", "recordedAt")
  SELECT e.id, e.appointment_id, $52::text, e.kind, e.source::"AppointmentSource", e.old_value, e.new_value, e.provider_at, $53::timestamp
    FROM unnest($45::text[], $46::text[], $47::text[], $48::text[], $49::text[], $50::text[], $51::timestamp[])
      AS e(id, appointment_id, kind, source, old_value, new_value, provider_at)
  RETURNING 1
), rollup AS (
  UPDATE "Lead" SET "appointmentStartAt" = $54::timestamp, "appointmentEndAt" = $55::timestamp, "appointmentStatus" = $56::text,
         "appointmentCanceledAt" = $57::timestamp, "appointmentProvider" = $58::text::"MeetingBookingProvider",
         "appointmentSource" = $59::text, "updatedAt" = $53::timestamp
   WHERE "id" = $52::text AND $60::bool
  RETURNING 1
), tasks AS (
  INSERT INTO "FollowUpTask" ("id", "leadId", "type", "status", "dueDate", "appointmentId", "isUrgent", "createdAt", "updatedAt")
  SELECT t.id, $52::text, t.type, 'pending', $53::timestamp, t.appointment_id, true, $53::timestamp, $53::timestamp
    FROM unnest($61::text[], $62::text[], $63::text[]) AS t(id, type, appointment_id)
  ON CONFLICT ("appointmentId", "type") DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM new_rows), (SELECT count(*) FROM changed_rows), (SELECT count(*) FROM events),
       (SELECT count(*) FROM rollup), (SELECT count(*) FROM tasks)"#;

// ---------------------------------------------------------------------------------------------
// Conversions. `TIMESTAMP(3)` holds UTC without a zone, as Prisma does.

pub fn to_db(t: Option<DateTime<Utc>>) -> Option<NaiveDateTime> {
    t.map(|t| t.naive_utc())
}

pub fn from_db(t: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    t.map(|t| t.and_utc())
}

/// Reads a row selected with [`appointment_columns!`].
pub fn appointment_from_row(row: &Row) -> Result<AppointmentRow> {
    Ok(AppointmentRow {
        id: row.try_get(0)?,
        lead_id: row.try_get(1)?,
        provider: Provider::from_db(row.try_get(2)?)?,
        ghl_appointment_id: row.try_get(3)?,
        calendly_invitee_uri: row.try_get(4)?,
        calendly_scheduled_event_uri: row.try_get(5)?,
        start_at: from_db(row.try_get(6)?),
        end_at: from_db(row.try_get(7)?),
        timezone: row.try_get(8)?,
        status: AppointmentStatus::from_db(row.try_get(9)?)?,
        status_changed_at: row.try_get::<_, NaiveDateTime>(10)?.and_utc(),
        canceled_at: from_db(row.try_get(11)?),
        cancel_reason: row.try_get(12)?,
        canceled_by: row.try_get::<_, Option<&str>>(13)?.map(Canceler::from_db).transpose()?,
        rescheduled_from_id: row.try_get(14)?,
        rescheduled_from_key: row.try_get(15)?,
        rescheduled_to_key: row.try_get(16)?,
        provider_created_at: from_db(row.try_get(17)?),
        provider_updated_at: from_db(row.try_get(18)?),
        source: AppointmentSource::from_db(row.try_get(19)?)?,
        created_at: row.try_get::<_, NaiveDateTime>(20)?.and_utc(),
        updated_at: row.try_get::<_, NaiveDateTime>(21)?.and_utc(),
        provider_verified_at: from_db(row.try_get(22)?),
        provider_deleted_at: from_db(row.try_get(23)?),
    })
}

/// Reads the six rollup columns of `Lead` from `first` on, in this order: `appointmentStartAt`,
/// `appointmentEndAt`, `appointmentStatus`, `appointmentCanceledAt`, `appointmentProvider`::text,
/// `appointmentSource` (as `lock_lead!` selects them after the id). The one reader of them.
pub fn rollup_from_row(row: &Row, first: usize) -> Result<Rollup> {
    Ok(Rollup {
        start_at: from_db(row.try_get(first)?),
        end_at: from_db(row.try_get(first + 1)?),
        status: row.try_get(first + 2)?,
        canceled_at: from_db(row.try_get(first + 3)?),
        provider: row.try_get::<_, Option<&str>>(first + 4)?.map(Provider::from_db).transpose()?,
        source: row.try_get(first + 5)?,
    })
}

type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// Appointment rows as column arrays.
#[derive(Default)]
struct RowColumns {
    id: Vec<String>,
    lead_id: Vec<String>,
    provider: Vec<&'static str>,
    ghl: Vec<Option<String>>,
    calendly: Vec<Option<String>>,
    event_uri: Vec<Option<String>>,
    start_at: Vec<Option<NaiveDateTime>>,
    end_at: Vec<Option<NaiveDateTime>>,
    timezone: Vec<Option<String>>,
    status: Vec<&'static str>,
    status_changed_at: Vec<NaiveDateTime>,
    canceled_at: Vec<Option<NaiveDateTime>>,
    cancel_reason: Vec<Option<String>>,
    canceled_by: Vec<Option<&'static str>>,
    from_id: Vec<Option<String>>,
    from_key: Vec<Option<String>>,
    to_key: Vec<Option<String>>,
    provider_created_at: Vec<Option<NaiveDateTime>>,
    provider_updated_at: Vec<Option<NaiveDateTime>>,
    source: Vec<&'static str>,
    created_at: Vec<NaiveDateTime>,
    updated_at: Vec<NaiveDateTime>,
    verified_at: Vec<Option<NaiveDateTime>>,
    deleted_at: Vec<Option<NaiveDateTime>>,
}

impl RowColumns {
    fn of<'r>(rows: impl Iterator<Item = &'r AppointmentRow>) -> Self {
        let mut c = RowColumns::default();
        for r in rows {
            c.id.push(r.id.clone());
            c.lead_id.push(r.lead_id.clone());
            c.provider.push(r.provider.as_db());
            c.ghl.push(r.ghl_appointment_id.clone());
            c.calendly.push(r.calendly_invitee_uri.clone());
            c.event_uri.push(r.calendly_scheduled_event_uri.clone());
            c.start_at.push(to_db(r.start_at));
            c.end_at.push(to_db(r.end_at));
            c.timezone.push(r.timezone.clone());
            c.status.push(r.status.as_db());
            c.status_changed_at.push(r.status_changed_at.naive_utc());
            c.canceled_at.push(to_db(r.canceled_at));
            c.cancel_reason.push(r.cancel_reason.clone());
            c.canceled_by.push(r.canceled_by.map(Canceler::as_db));
            c.from_id.push(r.rescheduled_from_id.clone());
            c.from_key.push(r.rescheduled_from_key.clone());
            c.to_key.push(r.rescheduled_to_key.clone());
            c.provider_created_at.push(to_db(r.provider_created_at));
            c.provider_updated_at.push(to_db(r.provider_updated_at));
            c.source.push(r.source.as_db());
            c.created_at.push(r.created_at.naive_utc());
            c.updated_at.push(r.updated_at.naive_utc());
            c.verified_at.push(to_db(r.provider_verified_at));
            c.deleted_at.push(to_db(r.provider_deleted_at));
        }
        c
    }

    fn params(&self) -> [Param<'_>; 22] {
        [
            &self.id,
            &self.lead_id,
            &self.provider,
            &self.ghl,
            &self.calendly,
            &self.event_uri,
            &self.start_at,
            &self.end_at,
            &self.timezone,
            &self.status,
            &self.status_changed_at,
            &self.canceled_at,
            &self.cancel_reason,
            &self.canceled_by,
            &self.from_id,
            &self.from_key,
            &self.to_key,
            &self.provider_created_at,
            &self.provider_updated_at,
            &self.source,
            &self.created_at,
            &self.updated_at,
        ]
    }

    /// The columns added after the statement's first layout, bound after all others ($64 on).
    fn later_params(&self) -> [Param<'_>; 2] {
        [&self.verified_at, &self.deleted_at]
    }
}

/// The parameters of [`WRITE_PLAN`], owned so that the pipelined futures can borrow them.
struct PlanParams {
    new_rows: RowColumns,
    changed_rows: RowColumns,
    event_id: Vec<String>,
    event_appointment: Vec<String>,
    event_kind: Vec<&'static str>,
    event_source: Vec<&'static str>,
    event_old: Vec<Option<String>>,
    event_new: Vec<Option<String>>,
    event_provider_at: Vec<Option<NaiveDateTime>>,
    lead_id: String,
    now: NaiveDateTime,
    rollup: Rollup,
    rollup_provider: Option<&'static str>,
    rollup_start: Option<NaiveDateTime>,
    rollup_end: Option<NaiveDateTime>,
    rollup_canceled: Option<NaiveDateTime>,
    write_rollup: bool,
    task_id: Vec<String>,
    task_type: Vec<&'static str>,
    task_appointment: Vec<String>,
}

impl PlanParams {
    fn of(plan: &Plan, lead_id: &str, now: DateTime<Utc>) -> Self {
        let rollup = plan.rollup.clone().unwrap_or_default();
        PlanParams {
            new_rows: RowColumns::of(plan.insert.iter()),
            changed_rows: RowColumns::of(plan.updates.iter()),
            event_id: plan.events.iter().map(|e| e.id.clone()).collect(),
            event_appointment: plan.events.iter().map(|e| e.appointment_id.clone()).collect(),
            event_kind: plan.events.iter().map(|e| e.kind.as_db()).collect(),
            event_source: plan.events.iter().map(|e| e.source.as_db()).collect(),
            event_old: plan.events.iter().map(|e| e.old_value.clone()).collect(),
            event_new: plan.events.iter().map(|e| e.new_value.clone()).collect(),
            event_provider_at: plan.events.iter().map(|e| to_db(e.provider_at)).collect(),
            lead_id: lead_id.to_string(),
            now: now.naive_utc(),
            rollup_provider: rollup.provider.map(Provider::as_db),
            rollup_start: to_db(rollup.start_at),
            rollup_end: to_db(rollup.end_at),
            rollup_canceled: to_db(rollup.canceled_at),
            rollup,
            write_rollup: plan.rollup.is_some(),
            task_id: plan.tasks.iter().map(|t| t.id.clone()).collect(),
            task_type: plan.tasks.iter().map(|t| t.task_type.as_db()).collect(),
            task_appointment: plan.tasks.iter().map(|t| t.appointment_id.clone()).collect(),
        }
    }

    fn as_params(&self) -> Vec<Param<'_>> {
        let mut p: Vec<Param<'_>> = Vec::with_capacity(67);
        p.extend(self.new_rows.params());
        p.extend(self.changed_rows.params());
        p.extend([
            &self.event_id as Param<'_>,
            &self.event_appointment,
            &self.event_kind,
            &self.event_source,
            &self.event_old,
            &self.event_new,
            &self.event_provider_at,
        ]);
        p.extend([
            &self.lead_id as Param<'_>,
            &self.now,
            &self.rollup_start,
            &self.rollup_end,
            &self.rollup.status,
            &self.rollup_canceled,
            &self.rollup_provider,
            &self.rollup.source,
            &self.write_rollup,
            &self.task_id,
            &self.task_type,
            &self.task_appointment,
        ]);
        p.extend(self.new_rows.later_params());
        p.extend(self.changed_rows.later_params());
        p
    }
}
