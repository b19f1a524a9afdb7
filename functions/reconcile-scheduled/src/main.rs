//! Lambda entry point: configuration, telemetry, runtime. The work is in the library.

use std::sync::Arc;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use reconcile_scheduled::{config, Reconciler};
use serde_json::value::RawValue;
use shared::providers::ProviderHttp;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    shared::metrics::init("reconcile-scheduled");
    let settings = config::from_env()?;
    let http = ProviderHttp::new(settings.endpoints, settings.http, settings.quotas)?;
    let default_budget = settings.reconcile.default_budget;
    let reconciler = Arc::new(Reconciler::new(shared::config::database()?, http, settings.reconcile));
    // The payload as sent (not a `Value`, which would keep only the last of repeated keys).
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let reconciler = reconciler.clone();
        async move {
            // cargo-lambda's constant deadline is no deadline: the default budget applies.
            let deadline = Instant::from_std(shared::deadline::deadline(event.context.deadline, default_budget));
            reconciler.handle_payload(event.payload.get().as_bytes(), deadline).await.map_err(Diagnostic::from)
        }
    }))
    .await
}
