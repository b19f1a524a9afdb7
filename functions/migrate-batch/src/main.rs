//! The Lambda entry point: configuration, telemetry, the runtime. The work is in the library.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use migrate_batch::{handle, MigrateError, Output};
use serde_json::Value;
use shared::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    shared::metrics::init("migrate-batch");
    let store = Arc::new(Store::new(shared::config::database()?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let store = store.clone();
        async move {
            let deadline = shared::deadline::deadline(event.context.deadline, migrate_batch::DEFAULT_BUDGET);
            let result: Result<Output, MigrateError> = handle(&store, &event.payload, Some(deadline)).await;
            if let Err(e) = &result {
                tracing::warn!(error_type = e.error_type(), error = %e, "invocation failed");
            }
            result
        }
    }))
    .await
}
