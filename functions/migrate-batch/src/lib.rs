//! migrate-batch: copies Phase 28 lead rollups into `Appointment` history, resumable, with a
//! dry-run, a verify and a rollup repair. Invoked by hand by operators with a JSON payload.
//!
//! Each invocation works in batches of leads, keyset by lead id. A batch is one transaction that
//! locks the run row, does the mode's work and checkpoints the run (cursor and counts) before it
//! commits: a run killed at any point has either done a batch completely, checkpoint included, or
//! not at all, so `{"resume": runId}` ends in exactly the rows an uninterrupted run makes.
//!
//! - `dry-run` / `apply`: [`shared::write_path::migration_batch`] (the write path's MIGRATION rules in
//!   set-based form);
//! - `verify` / `repair-rollups`: [`shared::rollup::compute_rollup`] over each lead's rows.

pub mod input;
pub mod rollups;
pub mod run;

pub use input::{parse_input, Input, InputError, Mode};
pub use run::{invoke, Limits, Output, RunCounts};

/// What the operator sees when an invocation fails (the Lambda error response's `errorType` and
/// `errorMessage`). Messages carry ids and field names only.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Input(#[from] InputError),
    /// Another invocation advanced the same run meanwhile: nothing was written by this one.
    #[error("run {0} is being advanced by another invocation; retry the resume when it has finished")]
    RunBusy(String),
    #[error("{0}")]
    Store(#[from] shared::Error),
}

impl MigrateError {
    pub fn error_type(&self) -> &'static str {
        match self {
            MigrateError::Input(_) => "InvalidInput",
            MigrateError::RunBusy(_) => "RunBusy",
            MigrateError::Store(shared::Error::Unavailable(_)) => "DatabaseUnavailable",
            MigrateError::Store(_) => "DatabaseError",
        }
    }
}

impl From<MigrateError> for lambda_runtime::Diagnostic {
    fn from(e: MigrateError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.error_type().to_string(), error_message: e.to_string() }
    }
}

/// The invocation's deadline from the runtime's `Lambda-Runtime-Deadline-Ms`: epoch milliseconds in
/// AWS. cargo-lambda's local emulator sends the function timeout there instead (600000 for 10
/// minutes); a value that small cannot be a date after 2001, so it is read as time left from now.
pub fn deadline_of(raw_ms: u64) -> std::time::SystemTime {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    let now = std::time::SystemTime::now();
    if raw_ms < YEAR_2001_MS {
        now + std::time::Duration::from_millis(raw_ms)
    } else {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(raw_ms)
    }
}

/// The handler's logic: parse, then run until done or until the deadline (minus a margin).
pub async fn handle(
    store: &shared::Store,
    payload: &serde_json::Value,
    deadline: Option<std::time::SystemTime>,
) -> Result<Output, MigrateError> {
    let input = parse_input(payload)?;
    let limits = Limits { deadline: deadline.map(run::instant_of), ..Limits::default() };
    invoke(store, &input, &limits).await
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn deadlines_from_aws_and_from_the_local_emulator() {
        let aws = 1_795_513_754_810u64;
        assert_eq!(super::deadline_of(aws), UNIX_EPOCH + Duration::from_millis(aws));
        let left = super::deadline_of(600_000).duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(590) && left <= Duration::from_secs(600), "{left:?}");
    }
}
