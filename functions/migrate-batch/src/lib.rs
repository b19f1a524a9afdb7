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
//! - `verify` / `repair-rollups`: [`shared::write_path::repair`] (each lead's stored rollup against
//!   [`shared::rollup::compute_rollup`] over its rows).

pub mod input;
pub mod run;

pub use input::{parse_input, Input, InputError, Mode};
pub use run::{invoke, Limits, Output, RunCounts};

/// What the operator sees when an invocation fails (the Lambda error response's `errorType` and
/// `errorMessage`). Messages carry ids and field names only.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Input(#[from] InputError),
    /// `clientId` names no client: there is nothing to migrate, and no run is recorded.
    #[error("client {0} not found")]
    ClientNotFound(String),
    /// Another invocation advanced the same run meanwhile: nothing was written by this one.
    #[error("run {0} is being advanced by another invocation; retry the resume when it has finished")]
    RunBusy(String),
    #[error("{0}")]
    Store(#[from] shared::Error),
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Store(e.into())
    }
}

impl MigrateError {
    pub fn error_type(&self) -> &'static str {
        match self {
            MigrateError::Input(_) => "InvalidInput",
            MigrateError::ClientNotFound(_) => "ClientNotFound",
            MigrateError::RunBusy(_) => "RunBusy",
            MigrateError::Store(shared::Error::Unavailable(_)) => "DatabaseUnavailable",
            MigrateError::Store(_) => "DatabaseError",
        }
    }

    /// What the operator is told and the log says: the message, of which at most
    /// [`shared::text::EXCERPT_CHARS`] characters (an input can be 100 KB, and messages quote it).
    pub fn message(&self) -> String {
        shared::text::excerpt(&self.to_string()).into_owned()
    }
}

impl From<MigrateError> for lambda_runtime::Diagnostic {
    fn from(e: MigrateError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.error_type().to_string(), error_message: e.message() }
    }
}

/// The time an invocation gives itself when the runtime names no deadline (local emulators; see
/// [`shared::deadline`]). In AWS the deadline is the template's timeout.
pub const DEFAULT_BUDGET: std::time::Duration = std::time::Duration::from_secs(600);

/// The Lambda entry: the invocation payload as the runtime received it, parsed strictly
/// ([`shared::json`]: a key given twice is refused), then [`handle`]d.
pub async fn handle_payload(store: &shared::Store, payload: &[u8], deadline: Option<std::time::Instant>) -> Result<Output, MigrateError> {
    let payload = input::read_payload(payload)?;
    handle(store, &payload, deadline).await
}

/// The handler's logic: parse, then run until done or until the deadline (minus a margin).
pub async fn handle(
    store: &shared::Store,
    payload: &serde_json::Value,
    deadline: Option<std::time::Instant>,
) -> Result<Output, MigrateError> {
    let input = parse_input(payload)?;
    let limits = Limits { deadline, ..Limits::default() };
    invoke(store, &input, &limits).await
}
