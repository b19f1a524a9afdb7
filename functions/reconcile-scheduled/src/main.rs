//! Lambda entry point: configuration, telemetry, runtime. The work is in the library.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use reconcile_scheduled::{config, Reconciler};
use serde_json::Value;
use shared::providers::ProviderHttp;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let settings = config::from_env()?;
    let http = ProviderHttp::new(settings.endpoints, settings.http, settings.quotas)?;
    let default_budget = settings.reconcile.default_budget;
    let reconciler = Arc::new(Reconciler::new(shared::config::database()?, http, settings.reconcile));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let reconciler = reconciler.clone();
        async move {
            let deadline = deadline_instant(event.context.deadline, default_budget);
            reconciler.handle(event.payload, deadline).await.map_err(Diagnostic::from)
        }
    }))
    .await
}

/// The invocation's deadline (epoch milliseconds) on the monotonic clock.
fn deadline_instant(deadline_epoch_ms: u64, default_budget: Duration) -> Instant {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    if deadline_epoch_ms == 0 {
        return Instant::now() + default_budget;
    }
    Instant::now() + Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms))
}
