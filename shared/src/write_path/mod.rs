//! The single write path (DESIGN §5): `record` an observation of an appointment, atomically with
//! the lead's rollup, in one transaction under a per-lead lock.
//!
//! Two round trips per call, whatever the observation:
//! 1. `BEGIN`, lock the lead row, read its appointments (and the row holding the observation's
//!    provider key, wherever it is) — pipelined; the reads run after the lock is granted, so they see
//!    everything the previous holder committed;
//! 2. every write of the plan and `COMMIT` — pipelined. A duplicate sends only `COMMIT`.
//!
//! Everything in between is the pure [`plan::plan`].

pub mod migration_batch;
pub mod plan;

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::future::{try_join, try_join3, try_join_all};
use serde::Serialize;
use tokio_postgres::Row;

use crate::domain::{AppointmentSource, AppointmentStatus, Canceler, LeadRef, Observation, Provider};
use crate::error::{Error, Result};
use crate::model::{AppointmentRow, Rollup};
use crate::store::{Connection, Store};
pub use plan::{Change, LeadState, Plan};

/// How often a transaction that lost a race (serialization failure, deadlock, a provider key
/// inserted by a writer of another lead) is run again before the error reaches the caller.
const MAX_ATTEMPTS: u32 = 8;

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
}

impl Store {
    /// Records one observation through the write path. Retries lost races; after a dropped
    /// connection it reconnects and tries once more, which is safe because `record` is idempotent.
    pub async fn record(&self, obs: Observation) -> Result<RecordOutcome> {
        let obs = obs.normalized()?;
        let mut reconnected = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match self.conn().await {
                Ok(mut conn) => record_on(&mut conn, &obs).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, lead = %obs.lead, "record lost a race; running it again");
                    tokio::time::sleep(Duration::from_millis(rand_jitter(attempt))).await;
                }
                Err(e) if e.is_unavailable() && !reconnected => {
                    reconnected = true;
                    tracing::warn!(lead = %obs.lead, "database connection lost during record; reconnecting once");
                    self.reset().await;
                }
                other => return other,
            }
        }
    }
}

fn rand_jitter(attempt: u32) -> u64 {
    // Small, growing, and different per process so that two losers do not collide again.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    u64::from(attempt) * 2 + u64::from(nanos % 5)
}

/// One attempt of `record` on a connection. On error the transaction is rolled back.
pub async fn record_on(conn: &mut Connection, obs: &Observation) -> Result<RecordOutcome> {
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
        LeadRef::Id(id) => (conn.prepared(LOCK_BY_ID)?, vec![id]),
        LeadRef::Match { client_id, lead_hint, email } => {
            (conn.prepared(LOCK_BY_MATCH)?, vec![client_id, lead_hint, email, &ghl_key, &calendly_key])
        }
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
    let rows = rows.iter().map(appointment_from_row).collect::<Result<Vec<_>>>()?;
    if let Some(stray) = rows.iter().find(|r| r.lead_id != lead_id) {
        let holds_key = obs.key.is_some() && stray.provider == obs.provider && stray.key() == obs.key.as_deref();
        if holds_key && matches!(lead, LeadRef::Match { .. }) {
            // LOCK_BY_MATCH follows the key's owner within the client, so this key belongs to
            // another client's lead: never write across clients.
            return Err(Error::LeadNotFound(lead.to_string()));
        }
        return Ok(Attempt::Retry(if holds_key { stray.lead_id.clone() } else { lead_id }));
    }
    let state = LeadState { lead_id: lead_id.clone(), rollup: rollup_from_lead(&locked)?, rows };

    let now = crate::domain::to_millis(Utc::now());
    let plan = plan::plan(&state, obs, now, &mut || uuid::Uuid::now_v7().to_string());

    // Round trip 2: the writes and COMMIT (COMMIT alone when there is nothing to write).
    execute_plan(conn, &plan, &lead_id, now).await?;
    Ok(Attempt::Done(RecordOutcome {
        appointment_id: plan.appointment_id.clone(),
        lead_id,
        change: plan.change,
        events: plan.events.len(),
        rollup_changed: plan.rollup.is_some(),
        tasks_created: plan.tasks.len(),
    }))
}

async fn execute_plan(conn: &Connection, plan: &Plan, lead_id: &str, now: DateTime<Utc>) -> Result<()> {
    let client = &conn.client;
    let insert = conn.prepared(INSERT_APPOINTMENT)?;
    let update = conn.prepared(UPDATE_APPOINTMENT)?;
    let event = conn.prepared(INSERT_EVENT)?;
    let rollup = conn.prepared(UPDATE_ROLLUP)?;
    let task = conn.prepared(INSERT_TASK)?;
    let commit = conn.prepared(COMMIT)?;

    // Owned parameter values, so that the futures below can borrow them while pipelined.
    let inserts: Vec<RowParams> = plan.insert.iter().map(RowParams::of).collect();
    let updates: Vec<RowParams> = plan.updates.iter().map(RowParams::of).collect();
    let events: Vec<EventParams> = plan.events.iter().map(|e| EventParams::of(e, now)).collect();
    let rollup_params = plan.rollup.as_ref().map(|r| RollupParams::of(lead_id, r, now));
    let tasks: Vec<TaskParams> = plan.tasks.iter().map(|t| TaskParams::of(t, now)).collect();

    // (statement, parameters) in execution order: the new row first, since updates may link to it.
    let mut batch: Vec<(&tokio_postgres::Statement, Vec<Param<'_>>)> = Vec::new();
    batch.extend(inserts.iter().map(|p| (&insert, p.as_params().to_vec())));
    batch.extend(updates.iter().map(|p| (&update, p.as_params().to_vec())));
    batch.extend(events.iter().map(|p| (&event, p.as_params().to_vec())));
    batch.extend(rollup_params.iter().map(|p| (&rollup, p.as_params().to_vec())));
    batch.extend(tasks.iter().map(|p| (&task, p.as_params().to_vec())));
    let writes = batch.iter().map(|(stmt, params)| client.execute(*stmt, params.as_slice()));
    conn.count_round_trip();
    // The writes are sent in order, then COMMIT; if any write fails PostgreSQL turns the COMMIT
    // into a rollback, and the error of that write is what comes back here.
    try_join(try_join_all(writes), client.execute(&commit, &[])).await?;
    Ok(())
}

async fn rollback(conn: &Connection) {
    if conn.client.is_closed() {
        return;
    }
    conn.count_round_trip();
    if let Err(e) = conn.client.batch_execute("ROLLBACK").await {
        tracing::debug!(error = %e, "rollback after a failed record");
    }
}

/// Prepares the write path's statements on a new connection (one round trip).
pub async fn prepare(conn: &mut Connection) -> Result<()> {
    conn.prepare_all(&[
        BEGIN,
        LOCK_BY_ID,
        LOCK_BY_MATCH,
        LOCK_BY_KEY,
        READ_LEAD,
        READ_WITH_GHL_KEY,
        READ_WITH_CALENDLY_KEY,
        INSERT_APPOINTMENT,
        UPDATE_APPOINTMENT,
        INSERT_EVENT,
        UPDATE_ROLLUP,
        INSERT_TASK,
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
macro_rules! lock_lead {
    ($condition:literal) => {
        concat!(
            r#"SELECT "id", "appointmentStartAt", "appointmentEndAt", "appointmentStatus", "appointmentCanceledAt",
       "appointmentProvider"::text, "appointmentSource", set_config('appointment_history.lead_id', "id", true)
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
       "rescheduledToKey", "providerCreatedAt", "providerUpdatedAt", "source"::text, "createdAt", "updatedAt""#
    };
}

/// The locked lead's rows, plus the row holding the observation's provider key wherever it is.
/// Runs after the lock is granted (same pipeline), so it sees what the previous holder committed.
macro_rules! read_lead {
    ($key_condition:literal) => {
        concat!(
            "SELECT ",
            appointment_columns!(),
            r#" FROM "Appointment" WHERE "leadId" = current_setting('appointment_history.lead_id', true)"#,
            $key_condition
        )
    };
}

pub const READ_LEAD: &str = read_lead!("");
/// $1 GHL appointment id.
pub const READ_WITH_GHL_KEY: &str = read_lead!(r#" OR "ghlAppointmentId" = $1"#);
/// $1 Calendly invitee URI.
pub const READ_WITH_CALENDLY_KEY: &str = read_lead!(r#" OR "calendlyInviteeUri" = $1"#);

pub const INSERT_APPOINTMENT: &str = r#"INSERT INTO "Appointment" ("id", "leadId", "provider", "ghlAppointmentId", "calendlyInviteeUri",
       "calendlyScheduledEventUri", "startAt", "endAt", "timezone", "status", "statusChangedAt",
       "canceledAt", "cancelReason", "canceledBy", "rescheduledFromId", "rescheduledFromKey",
       "rescheduledToKey", "providerCreatedAt", "providerUpdatedAt", "source", "createdAt", "updatedAt")
VALUES ($1, $2, $3::text::"MeetingBookingProvider", $4, $5, $6, $7, $8, $9, $10::text::"AppointmentStatus", $11,
        $12, $13, $14, $15, $16, $17, $18, $19, $20::text::"AppointmentSource", $21, $22)"#;

pub const UPDATE_APPOINTMENT: &str = r#"UPDATE "Appointment" SET
       "leadId" = $2, "provider" = $3::text::"MeetingBookingProvider", "ghlAppointmentId" = $4,
       "calendlyInviteeUri" = $5, "calendlyScheduledEventUri" = $6, "startAt" = $7, "endAt" = $8,
       "timezone" = $9, "status" = $10::text::"AppointmentStatus", "statusChangedAt" = $11,
       "canceledAt" = $12, "cancelReason" = $13, "canceledBy" = $14, "rescheduledFromId" = $15,
       "rescheduledFromKey" = $16, "rescheduledToKey" = $17, "providerCreatedAt" = $18,
       "providerUpdatedAt" = $19, "source" = $20::text::"AppointmentSource", "createdAt" = $21, "updatedAt" = $22
 WHERE "id" = $1"#;

pub const INSERT_EVENT: &str = r#"INSERT INTO "AppointmentEvent" ("id", "appointmentId", "leadId", "kind", "source", "oldValue", "newValue", "providerAt", "recordedAt")
VALUES ($1, $2, $3, $4, $5::text::"AppointmentSource", $6, $7, $8, $9)"#;

pub const UPDATE_ROLLUP: &str = r#"UPDATE "Lead" SET "appointmentStartAt" = $2, "appointmentEndAt" = $3, "appointmentStatus" = $4,
       "appointmentCanceledAt" = $5, "appointmentProvider" = $6::text::"MeetingBookingProvider",
       "appointmentSource" = $7, "updatedAt" = $8
 WHERE "id" = $1"#;

/// One task per appointment and type: a second one is silently not created.
pub const INSERT_TASK: &str = r#"INSERT INTO "FollowUpTask" ("id", "leadId", "type", "status", "dueDate", "appointmentId", "isUrgent", "createdAt", "updatedAt")
VALUES ($1, $2, $3, 'pending', $4, $5, true, $6, $6)
ON CONFLICT ("appointmentId", "type") DO NOTHING"#;

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
    })
}

/// Reads the rollup columns in the order of `lock_lead!` (after the id).
fn rollup_from_lead(row: &Row) -> Result<Rollup> {
    Ok(Rollup {
        start_at: from_db(row.try_get(1)?),
        end_at: from_db(row.try_get(2)?),
        status: row.try_get(3)?,
        canceled_at: from_db(row.try_get(4)?),
        provider: row.try_get::<_, Option<&str>>(5)?.map(Provider::from_db).transpose()?,
        source: row.try_get(6)?,
    })
}

type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

struct RowParams {
    id: String,
    lead_id: String,
    provider: &'static str,
    ghl: Option<String>,
    calendly: Option<String>,
    event_uri: Option<String>,
    start_at: Option<NaiveDateTime>,
    end_at: Option<NaiveDateTime>,
    timezone: Option<String>,
    status: &'static str,
    status_changed_at: NaiveDateTime,
    canceled_at: Option<NaiveDateTime>,
    cancel_reason: Option<String>,
    canceled_by: Option<&'static str>,
    from_id: Option<String>,
    from_key: Option<String>,
    to_key: Option<String>,
    provider_created_at: Option<NaiveDateTime>,
    provider_updated_at: Option<NaiveDateTime>,
    source: &'static str,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl RowParams {
    fn of(r: &AppointmentRow) -> Self {
        RowParams {
            id: r.id.clone(),
            lead_id: r.lead_id.clone(),
            provider: r.provider.as_db(),
            ghl: r.ghl_appointment_id.clone(),
            calendly: r.calendly_invitee_uri.clone(),
            event_uri: r.calendly_scheduled_event_uri.clone(),
            start_at: to_db(r.start_at),
            end_at: to_db(r.end_at),
            timezone: r.timezone.clone(),
            status: r.status.as_db(),
            status_changed_at: r.status_changed_at.naive_utc(),
            canceled_at: to_db(r.canceled_at),
            cancel_reason: r.cancel_reason.clone(),
            canceled_by: r.canceled_by.map(Canceler::as_db),
            from_id: r.rescheduled_from_id.clone(),
            from_key: r.rescheduled_from_key.clone(),
            to_key: r.rescheduled_to_key.clone(),
            provider_created_at: to_db(r.provider_created_at),
            provider_updated_at: to_db(r.provider_updated_at),
            source: r.source.as_db(),
            created_at: r.created_at.naive_utc(),
            updated_at: r.updated_at.naive_utc(),
        }
    }

    fn as_params(&self) -> [Param<'_>; 22] {
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
}

struct EventParams {
    id: String,
    appointment_id: String,
    lead_id: String,
    kind: &'static str,
    source: &'static str,
    old: Option<String>,
    new: Option<String>,
    provider_at: Option<NaiveDateTime>,
    recorded_at: NaiveDateTime,
}

impl EventParams {
    fn of(e: &plan::EventRow, now: DateTime<Utc>) -> Self {
        EventParams {
            id: e.id.clone(),
            appointment_id: e.appointment_id.clone(),
            lead_id: e.lead_id.clone(),
            kind: e.kind,
            source: e.source.as_db(),
            old: e.old_value.clone(),
            new: e.new_value.clone(),
            provider_at: to_db(e.provider_at),
            recorded_at: now.naive_utc(),
        }
    }

    fn as_params(&self) -> [Param<'_>; 9] {
        [
            &self.id,
            &self.appointment_id,
            &self.lead_id,
            &self.kind,
            &self.source,
            &self.old,
            &self.new,
            &self.provider_at,
            &self.recorded_at,
        ]
    }
}

struct RollupParams {
    lead_id: String,
    start_at: Option<NaiveDateTime>,
    end_at: Option<NaiveDateTime>,
    status: Option<String>,
    canceled_at: Option<NaiveDateTime>,
    provider: Option<&'static str>,
    source: Option<String>,
    updated_at: NaiveDateTime,
}

impl RollupParams {
    fn of(lead_id: &str, r: &Rollup, now: DateTime<Utc>) -> Self {
        RollupParams {
            lead_id: lead_id.to_string(),
            start_at: to_db(r.start_at),
            end_at: to_db(r.end_at),
            status: r.status.clone(),
            canceled_at: to_db(r.canceled_at),
            provider: r.provider.map(Provider::as_db),
            source: r.source.clone(),
            updated_at: now.naive_utc(),
        }
    }

    fn as_params(&self) -> [Param<'_>; 8] {
        [&self.lead_id, &self.start_at, &self.end_at, &self.status, &self.canceled_at, &self.provider, &self.source, &self.updated_at]
    }
}

struct TaskParams {
    id: String,
    lead_id: String,
    task_type: &'static str,
    due: NaiveDateTime,
    appointment_id: String,
    now: NaiveDateTime,
}

impl TaskParams {
    fn of(t: &plan::TaskRow, now: DateTime<Utc>) -> Self {
        TaskParams {
            id: t.id.clone(),
            lead_id: t.lead_id.clone(),
            task_type: t.task_type,
            due: t.due.naive_utc(),
            appointment_id: t.appointment_id.clone(),
            now: now.naive_utc(),
        }
    }

    fn as_params(&self) -> [Param<'_>; 6] {
        [&self.id, &self.lead_id, &self.task_type, &self.due, &self.appointment_id, &self.now]
    }
}
