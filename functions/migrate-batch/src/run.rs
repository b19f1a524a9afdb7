//! Runs: the checkpointed unit of work of every mode, batch by batch.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::try_join3;
use serde::{Deserialize, Serialize};
use shared::retry::{rollback, with_retries, Retry, StoreFailure};
use shared::store::Connection;
use shared::write_path::migration_batch::{self, BatchCounts, BatchRange};
use shared::write_path::repair::{self, ByKind, RollupCheck};
use shared::write_path::{BEGIN, COMMIT};
use shared::Store;

use crate::input::{Input, InputError, Mode};
use crate::MigrateError;

/// Everything a run has counted so far (stored in the run row's `counts`, returned to the caller).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunCounts {
    /// Leads looked at (with or without data).
    pub leads_scanned: u64,
    /// Leads without appointment data (nothing to migrate or verify against).
    pub skipped_without_data: u64,
    /// dry-run / apply (`appointmentsCreated`: created, or that a dry-run would create).
    #[serde(flatten)]
    pub migration: BatchCounts,
    /// verify: leads with data but no appointment.
    pub missing_history: ByKind,
    /// verify: leads whose stored rollup differs from the rule, and by column.
    pub drifted_leads: u64,
    pub drift: ByKind,
    /// repair-rollups: rollups rewritten.
    pub rollups_repaired: u64,
}

/// What an invocation returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub run_id: String,
    pub mode: Mode,
    pub client_id: Option<String>,
    pub counts: RunCounts,
    /// The last lead id done; `{"resume": runId}` continues after it.
    pub next_cursor: Option<String>,
    pub done: bool,
    /// Batches this invocation committed.
    pub batches: u32,
    /// The longest a batch of this invocation held its transaction (and so its lead locks), ms.
    pub max_batch_ms: u64,
}

/// When an invocation stops before the run is done.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// The Lambda deadline: no batch starts unless it can finish well before it.
    pub deadline: Option<Instant>,
    /// At most this many batches (operators: leave unset; tests: a "kill" after k batches).
    pub max_batches: Option<u32>,
    /// Test hook simulating a crash: batch number `n` (1-based, this invocation) does its work,
    /// then the connection is dropped before COMMIT and the invocation fails.
    #[doc(hidden)]
    pub crash_before_commit_of_batch: Option<u32>,
}

/// The margin kept before the deadline: at least this, and at least three times the slowest batch
/// so far (a batch is well under a second; a batch cut off by the deadline anyway is rolled back
/// and redone by the resume, so the margin only saves work).
pub const MIN_DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// How a batch that lost a race (serialization failure, deadlock, a key raced in by a webhook) or
/// its connection runs again ([`shared::retry`]). A batch holds many leads' locks, so the pause is
/// longer than `record`'s. A simulated crash is not reconnected: it must reach the caller.
const BATCH_RETRY: Retry = Retry { max_attempts: 5, pause: Duration::from_millis(20), reconnect: true };

impl StoreFailure for MigrateError {
    fn store_error(&self) -> Option<&shared::Error> {
        match self {
            MigrateError::Store(e) => Some(e),
            _ => None,
        }
    }
}

const INSERT_RUN: &str = r#"INSERT INTO "AppointmentMigrationRun" ("id", "mode", "clientId", "batchSize", "maxLeads", "cursor", "done", "counts", "startedAt", "updatedAt")
VALUES ($1, $2, $3, $4, $5, NULL, false, $6, $7, $7)"#;

const CLIENT_EXISTS: &str = r#"SELECT 1 FROM "Client" WHERE "id" = $1"#;

const LOAD_RUN: &str =
    r#"SELECT "mode", "clientId", "batchSize", "maxLeads", "cursor", "done", "counts" FROM "AppointmentMigrationRun" WHERE "id" = $1"#;

/// Serializes invocations of one run; the cursor read here must be the one this invocation holds.
const LOCK_RUN: &str = r#"SELECT "cursor", "done" FROM "AppointmentMigrationRun" WHERE "id" = $1 FOR UPDATE"#;

const CHECKPOINT: &str = r#"UPDATE "AppointmentMigrationRun" SET "cursor" = $2, "counts" = $3, "done" = $4,
       "finishedAt" = CASE WHEN $4::boolean THEN $5::timestamp(3) END, "updatedAt" = $5::timestamp(3)
 WHERE "id" = $1"#;

/// The run as this invocation sees it.
#[derive(Clone)]
struct Run {
    id: String,
    mode: Mode,
    client_id: Option<String>,
    batch_size: u32,
    max_leads: Option<u32>,
    cursor: Option<String>,
    done: bool,
    counts: RunCounts,
}

impl Run {
    fn output(&self, batches: u32, max_batch: Duration) -> Output {
        Output {
            run_id: self.id.clone(),
            mode: self.mode,
            client_id: self.client_id.clone(),
            counts: self.counts.clone(),
            next_cursor: self.cursor.clone(),
            done: self.done,
            batches,
            max_batch_ms: max_batch.as_millis() as u64,
        }
    }
}

/// A batch's metrics (`shared::metrics`): leads read, rows created (apply only; a dry-run's are
/// hypothetical), its wall time with retries, and its write-path round trips and retries.
fn count_batch(before: &Run, after: &Run, round_trips: u64, attempts: u64, took: Duration) {
    let leads = after.counts.leads_scanned - before.counts.leads_scanned;
    let created = after.counts.migration.appointments_created - before.counts.migration.appointments_created;
    let rows = if before.mode == Mode::Apply { created } else { 0 };
    shared::metrics::migrate_batch(before.mode.as_str(), leads, rows, took);
    shared::metrics::write(round_trips, attempts.saturating_sub(1), took);
}

/// One invocation: start or resume the run, then batches until done or a limit.
pub async fn invoke(store: &Store, input: &Input, limits: &Limits) -> Result<Output, MigrateError> {
    let mut run = start_or_resume(store, input).await?;
    let started = Instant::now();
    let mut batches = 0u32;
    let mut slowest = Duration::ZERO;
    while !run.done {
        if limits.max_batches.is_some_and(|m| batches >= m) {
            break;
        }
        if let Some(deadline) = limits.deadline {
            let margin = MIN_DEADLINE_MARGIN.max(slowest * 3);
            let left = deadline.saturating_duration_since(Instant::now());
            if left < margin {
                tracing::info!(run_id = %run.id, batches, left_ms = left.as_millis() as u64, "stopping before the deadline");
                break;
            }
        }
        let crash = limits.crash_before_commit_of_batch == Some(batches + 1);
        let retry = Retry { reconnect: !crash, ..BATCH_RETRY };
        let (batch_started, round_trips, mut attempts) = (Instant::now(), store.round_trips(), 0u64);
        let (next, took) = with_retries(store, retry, &run.id, || {
            attempts += 1;
            batch(store, &run, crash)
        })
        .await?;
        count_batch(&run, &next, store.round_trips() - round_trips, attempts, batch_started.elapsed());
        run = next;
        slowest = slowest.max(took);
        batches += 1;
    }
    tracing::info!(
        run_id = %run.id, mode = run.mode.as_str(), batches, done = run.done,
        elapsed_ms = started.elapsed().as_millis() as u64, max_batch_ms = slowest.as_millis() as u64,
        "invocation finished"
    );
    Ok(run.output(batches, slowest))
}

async fn start_or_resume(store: &Store, input: &Input) -> Result<Run, MigrateError> {
    let mut conn = store.conn().await?;
    let Some(run_id) = &input.resume else {
        if let Some(client_id) = &input.client_id {
            // A run of a client that does not exist would scan nothing and record a run that
            // looks like a finished migration (reconcile-scheduled's backfill refuses it too).
            let stmt = conn.statement(CLIENT_EXISTS).await?;
            conn.count_round_trip();
            if conn.client.query_opt(&stmt, &[client_id]).await?.is_none() {
                return Err(MigrateError::ClientNotFound(client_id.clone()));
            }
        }
        let run = Run {
            id: uuid::Uuid::now_v7().to_string(),
            mode: input.mode,
            client_id: input.client_id.clone(),
            batch_size: input.batch_size,
            max_leads: input.max_leads,
            cursor: None,
            done: false,
            counts: RunCounts::default(),
        };
        let stmt = conn.statement(INSERT_RUN).await?;
        let counts = counts_json(&run.counts)?;
        let now = Utc::now().naive_utc();
        conn.count_round_trip();
        conn.client
            .execute(
                &stmt,
                &[&run.id, &run.mode.as_str(), &run.client_id, &(run.batch_size as i32), &run.max_leads.map(|m| m as i32), &counts, &now],
            )
            .await?;
        tracing::info!(run_id = %run.id, mode = run.mode.as_str(), client_id = ?run.client_id, "run started");
        return Ok(run);
    };
    let stmt = conn.statement(LOAD_RUN).await?;
    conn.count_round_trip();
    let row = conn.client.query_opt(&stmt, &[run_id]).await?;
    let Some(row) = row else {
        return Err(InputError { field: "resume".into(), problem: format!("names no run ({run_id})") }.into());
    };
    let mode_text: String = row.try_get(0)?;
    let mode = Mode::parse(&mode_text).ok_or_else(|| shared::Error::Corrupt(format!("run mode {mode_text:?}")))?;
    let client_id: Option<String> = row.try_get(1)?;
    let batch_size: i32 = row.try_get(2)?;
    let max_leads: Option<i32> = row.try_get(3)?;
    if mode != input.mode {
        return Err(InputError { field: "mode".into(), problem: format!("must be {} to resume run {run_id}", mode.as_str()) }.into());
    }
    if input.client_id.is_some() && input.client_id != client_id {
        return Err(InputError { field: "clientId".into(), problem: format!("differs from run {run_id}'s; leave it out to resume") }.into());
    }
    if input.max_leads.is_some() && input.max_leads.map(|m| m as i32) != max_leads {
        return Err(InputError { field: "maxLeads".into(), problem: format!("differs from run {run_id}'s; leave it out to resume") }.into());
    }
    let counts: serde_json::Value = row.try_get(6)?;
    let counts = serde_json::from_value(counts).map_err(|e| shared::Error::Corrupt(format!("run counts: {e}")))?;
    Ok(Run {
        id: run_id.clone(),
        mode,
        client_id,
        batch_size: if input.batch_size_given { input.batch_size } else { batch_size.max(1) as u32 },
        max_leads: max_leads.map(|m| m.max(0) as u32),
        cursor: row.try_get(4)?,
        done: row.try_get(5)?,
        counts,
    })
}

impl RunCounts {
    /// Adds what verify or repair found in a batch.
    fn add_check(&mut self, check: &RollupCheck) {
        self.migration.leads_with_data += check.leads_with_data;
        self.skipped_without_data += check.leads_without_data;
        repair::add_by_kind(&mut self.missing_history, &check.missing_history);
        self.drifted_leads += check.drifted_leads;
        repair::add_by_kind(&mut self.drift, &check.drift);
        self.rollups_repaired += check.rollups_repaired;
    }
}

fn counts_json(counts: &RunCounts) -> Result<serde_json::Value, MigrateError> {
    serde_json::to_value(counts).map_err(|e| shared::Error::Corrupt(format!("run counts: {e}")).into())
}

/// One batch: one transaction, checkpoint included; the run as it stands after it. On error it
/// is rolled back.
async fn batch(store: &Store, run: &Run, crash: bool) -> Result<(Run, Duration), MigrateError> {
    let mut conn = store.conn().await?;
    let statements: Vec<&'static str> =
        migration_batch::STATEMENTS.into_iter().chain(repair::STATEMENTS).chain([LOCK_RUN, CHECKPOINT, BEGIN, COMMIT]).collect();
    conn.prepare_all(&statements).await?;
    let result = batch_in_transaction(&mut conn, run, crash).await;
    if crash {
        // The simulated crash: the connection goes away with the transaction open.
        drop(conn);
        store.reset().await;
        return Err(shared::Error::Unavailable("simulated crash before commit".into()).into());
    }
    if result.is_err() {
        rollback(&conn).await;
    }
    result
}

async fn batch_in_transaction(conn: &mut Connection, run: &Run, crash: bool) -> Result<(Run, Duration), MigrateError> {
    let begin = conn.statement(BEGIN).await?;
    let lock_run = conn.statement(LOCK_RUN).await?;
    let range_stmt = conn.statement(migration_batch::BATCH_RANGE).await?;
    let after = run.cursor.clone().unwrap_or_default();
    let limit = match run.max_leads {
        Some(max) => i64::from(run.batch_size).min(i64::from(max) - run.counts.leads_scanned as i64).max(0),
        None => i64::from(run.batch_size),
    };
    let client_id = run.client_id.as_deref();

    // Round trip 1: BEGIN, lock the run row, find the batch's range.
    conn.count_round_trip();
    let (_, run_row, range_row) = try_join3(
        conn.client.execute(&begin, &[]),
        conn.client.query_opt(&lock_run, &[&run.id]),
        conn.client.query_one(&range_stmt, &[&after, &client_id, &limit]),
    )
    .await?;
    let Some(run_row) = run_row else {
        return Err(shared::Error::Corrupt(format!("run {} disappeared", run.id)).into());
    };
    let stored_cursor: Option<String> = run_row.try_get(0)?;
    let stored_done: bool = run_row.try_get(1)?;
    if stored_cursor != run.cursor || stored_done != run.done {
        return Err(MigrateError::RunBusy(run.id.clone()));
    }
    let scanned: i64 = range_row.try_get(0)?;
    let last: Option<String> = range_row.try_get(1)?;

    let mut next = run.clone();
    let started = Instant::now();
    if let Some(last) = last.filter(|_| limit > 0) {
        let range = BatchRange { after, last: last.clone(), scanned: scanned as u64 };
        next.counts.leads_scanned += range.scanned;
        match run.mode {
            Mode::Apply | Mode::DryRun => {
                let counts = if run.mode == Mode::Apply {
                    migration_batch::apply_batch(conn, &range, client_id, Utc::now()).await?
                } else {
                    migration_batch::count_batch(conn, &range, client_id, &run.id).await?
                };
                next.counts.skipped_without_data += range.scanned.saturating_sub(counts.leads_with_data);
                next.counts.migration.add(&counts);
            }
            Mode::Verify => next.counts.add_check(&repair::verify_batch(conn, &range, client_id, Utc::now()).await?),
            Mode::RepairRollups => next.counts.add_check(&repair::repair_batch(conn, &range, client_id, Utc::now()).await?),
        }
        next.cursor = Some(last);
        next.done = (scanned < limit) || run.max_leads.is_some_and(|m| next.counts.leads_scanned >= u64::from(m));
    } else {
        next.done = true;
    }
    if crash {
        return Ok((next, started.elapsed()));
    }

    // Last round trip: checkpoint and COMMIT.
    // A finished dry-run releases its key claims in the same transaction.
    let checkpoint = conn.statement(CHECKPOINT).await?;
    let release = conn.statement(migration_batch::RELEASE_CLAIMS).await?;
    let commit = conn.statement(COMMIT).await?;
    let counts = counts_json(&next.counts)?;
    let now = Utc::now().naive_utc();
    let release_claims = next.done && run.mode == Mode::DryRun;
    conn.count_round_trip();
    try_join3(
        conn.client.execute(&checkpoint, &[&run.id, &next.cursor, &counts, &next.done, &now]),
        async {
            if release_claims {
                conn.client.execute(&release, &[&run.id]).await
            } else {
                Ok(0)
            }
        },
        conn.client.execute(&commit, &[]),
    )
    .await?;
    Ok((next, started.elapsed()))
}
