//! Settings, from environment variables (through `shared::config`, the one loader).

use std::time::Duration;

use chrono::TimeDelta;
use shared::config::{number, optional};
use shared::providers::{Endpoints, HttpSettings, Quotas};

use crate::due::DuePolicy;
use crate::error::RunError;

#[derive(Clone, Debug)]
pub struct ReconcileConfig {
    pub due: DuePolicy,
    /// Leads one cron run checks at most (`RECONCILE_MAX_LEADS`).
    pub max_leads_per_run: usize,
    /// Leads one backfill invocation walks when the request does not say (`BACKFILL_MAX_LEADS`).
    pub backfill_default_max_leads: u32,
    /// Clients reconciled at the same time (`RECONCILE_PARALLEL_CLIENTS`).
    pub parallel_clients: usize,
    /// Leads of one client checked at the same time (`RECONCILE_LEAD_CONCURRENCY`); the client-side
    /// limiter, not this, keeps the request rate under the provider's limit.
    pub lead_concurrency: usize,
    /// Database connections for the write path (`RECONCILE_DB_CONNECTIONS`).
    pub db_connections: usize,
    /// Stop taking new leads this long before the Lambda deadline (at most a quarter of the time
    /// the invocation has); provider calls still running at half of it are abandoned
    /// (`RECONCILE_DEADLINE_MARGIN_SECONDS`).
    pub deadline_margin: Duration,
    /// Time budget when the runtime gives no deadline (local emulators; the rule is
    /// `shared::deadline`) (`RECONCILE_DEFAULT_BUDGET_SECONDS`).
    pub default_budget: Duration,
    /// This deployment's Calendly webhook URL, `{clientId}` standing for the client's id
    /// (`CALENDLY_WEBHOOK_URL_PATTERN`); unset, cron runs do not check the subscriptions.
    pub calendly_webhook_url_pattern: Option<String>,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            due: DuePolicy::default(),
            max_leads_per_run: 500,
            backfill_default_max_leads: 1000,
            parallel_clients: 8,
            lead_concurrency: 4,
            db_connections: 2,
            deadline_margin: Duration::from_secs(20),
            default_budget: Duration::from_secs(600),
            calendly_webhook_url_pattern: None,
        }
    }
}

/// Everything the function reads from the environment.
pub struct Settings {
    pub reconcile: ReconcileConfig,
    pub endpoints: Endpoints,
    pub http: HttpSettings,
    pub quotas: Quotas,
}

/// Reads the settings. Unset variables take the defaults documented in the README section.
pub fn from_env() -> Result<Settings, RunError> {
    let d = ReconcileConfig::default();
    let minutes = |name: &str, default: TimeDelta| -> Result<TimeDelta, RunError> {
        let v: i64 = number(name, default.num_minutes())?;
        if v <= 0 {
            return Err(RunError::Config(format!("{name} must be positive")));
        }
        Ok(TimeDelta::minutes(v))
    };
    let positive = |name: &str, default: usize| -> Result<usize, RunError> {
        let v: usize = number(name, default)?;
        if v == 0 {
            return Err(RunError::Config(format!("{name} must be positive")));
        }
        Ok(v)
    };
    let reconcile = ReconcileConfig {
        due: DuePolicy {
            interval: minutes("RECONCILE_INTERVAL_MINUTES", d.due.interval)?,
            upcoming_interval: minutes("RECONCILE_UPCOMING_INTERVAL_MINUTES", d.due.upcoming_interval)?,
            upcoming_window: TimeDelta::hours(number("RECONCILE_UPCOMING_WINDOW_HOURS", 48i64)?),
        },
        max_leads_per_run: positive("RECONCILE_MAX_LEADS", d.max_leads_per_run)?,
        backfill_default_max_leads: positive("BACKFILL_MAX_LEADS", d.backfill_default_max_leads as usize)? as u32,
        parallel_clients: positive("RECONCILE_PARALLEL_CLIENTS", d.parallel_clients)?,
        lead_concurrency: positive("RECONCILE_LEAD_CONCURRENCY", d.lead_concurrency)?,
        db_connections: positive("RECONCILE_DB_CONNECTIONS", d.db_connections)?,
        deadline_margin: Duration::from_secs(number("RECONCILE_DEADLINE_MARGIN_SECONDS", d.deadline_margin.as_secs())?),
        default_budget: Duration::from_secs(number("RECONCILE_DEFAULT_BUDGET_SECONDS", d.default_budget.as_secs())?),
        calendly_webhook_url_pattern: optional("CALENDLY_WEBHOOK_URL_PATTERN"),
    };
    let endpoints =
        Endpoints::new(&shared::config::calendly_api_base(), &optional("GHL_API_BASE").unwrap_or_else(|| Endpoints::GHL.into()))?;
    let hd = HttpSettings::default();
    let http = HttpSettings {
        timeout: Duration::from_millis(number("PROVIDER_TIMEOUT_MS", hd.timeout.as_millis() as u64)?),
        max_attempts: positive("PROVIDER_MAX_ATTEMPTS", hd.max_attempts as usize)? as u32,
        ..hd
    };
    let qd = Quotas::default();
    let quotas = Quotas {
        calendly_per_minute: positive("CALENDLY_REQUESTS_PER_MINUTE", qd.calendly_per_minute)?,
        ghl_per_window: positive("GHL_REQUESTS_PER_10_SECONDS", qd.ghl_per_window)?,
        ..qd
    };
    Ok(Settings { reconcile, endpoints, http, quotas })
}
