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

/// The invocation's deadline (epoch milliseconds) on the monotonic clock. A deadline that is not in
/// the future is not a real one (local emulators send a duration, or nothing): then the default
/// budget applies.
fn deadline_instant(deadline_epoch_ms: u64, default_budget: Duration) -> Instant {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    if deadline_epoch_ms <= now_ms {
        tracing::info!(
            deadline_ms = deadline_epoch_ms,
            budget_s = default_budget.as_secs(),
            "no usable invocation deadline; using the default budget"
        );
        return Instant::now() + default_budget;
    }
    Instant::now() + Duration::from_millis(deadline_epoch_ms - now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_as_a_table() {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let default = Duration::from_secs(600);
        let cases = [
            (now_ms + 300_000, Duration::from_secs(300)),
            (0, default),
            // cargo-lambda's emulator sends the timeout itself.
            (600_000, default),
            (now_ms - 1_000, default),
        ];
        for (deadline, expected) in cases {
            let left = deadline_instant(deadline, default).saturating_duration_since(Instant::now());
            assert!(left <= expected && left + Duration::from_secs(2) > expected, "{deadline}: {left:?}");
        }
    }
}
