//! The one migration runner (refinery), used by tests, the local stack and every function when it
//! first connects (`DB_MIGRATE_ON_CONNECT`, on by default). Concurrent cold starts serialize on a
//! PostgreSQL advisory lock; once applied, a run only reads refinery's history table.
//!
//! Every migration is itself idempotent (`IF NOT EXISTS`, guarded `DO` blocks), so it is also safe
//! to apply by hand, twice, or after Prisma created the same objects.

use tokio_postgres::Client;

use crate::error::{Error, Result};

mod service {
    refinery::embed_migrations!("../migrations/service");
}

mod crm_baseline {
    refinery::embed_migrations!("../migrations/crm-baseline");
}

/// refinery's history tables, named so that they cannot be mistaken for the CRM's tables.
const SERVICE_HISTORY: &str = "_appointment_history_migrations";
const BASELINE_HISTORY: &str = "_appointment_history_crm_baseline";

/// An arbitrary, fixed advisory-lock key ("appthist").
const LOCK_KEY: i64 = 0x6170_7074_6869_7374;

/// Whether to create the CRM's own tables first. Only tests and local runs do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// Local only: create `Client`, `Lead` and `FollowUpTask` as the CRM has them.
    Create,
    /// Production: the CRM owns its tables.
    Skip,
}

/// Applies the pending migrations under an advisory lock.
pub async fn run(client: &mut Client, baseline: Baseline) -> Result<()> {
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY]).await?;
    let result = apply(client, baseline).await;
    let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]).await;
    result?;
    unlock?;
    Ok(())
}

async fn apply(client: &mut Client, baseline: Baseline) -> Result<()> {
    if baseline == Baseline::Create {
        apply_set(client, "crm-baseline", crm_baseline::migrations::runner(), BASELINE_HISTORY).await?;
    }
    apply_set(client, "service", service::migrations::runner(), SERVICE_HISTORY).await
}

/// Applies one set of migrations, with its own history table, and logs what it applied.
async fn apply_set(client: &mut Client, set: &str, mut runner: refinery::Runner, history: &str) -> Result<()> {
    let report = runner.set_migration_table_name(history).run_async(client).await.map_err(|e| Error::Migration(e.to_string()))?;
    for m in report.applied_migrations() {
        tracing::info!(set, version = m.version(), migration = m.name(), "migration applied");
    }
    Ok(())
}

/// The migration files as (name, SQL), in order: for tests that apply them by hand.
pub fn service_sql() -> Vec<(String, String)> {
    service::migrations::runner().get_migrations().iter().map(|m| (m.name().to_string(), m.sql().unwrap_or_default().to_string())).collect()
}

pub fn crm_baseline_sql() -> Vec<(String, String)> {
    crm_baseline::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| (m.name().to_string(), m.sql().unwrap_or_default().to_string()))
        .collect()
}
