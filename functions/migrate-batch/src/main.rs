//! The Lambda entry point: configuration, telemetry, the runtime. The work is in the library.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use migrate_batch::{handle_payload, MigrateError, Output};
use serde_json::value::RawValue;
use shared::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    shared::metrics::init("migrate-batch");
    let store = Arc::new(Store::new(shared::config::database()?));
    // The payload as sent (not a `Value`, which would keep only the last of repeated keys).
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let store = store.clone();
        async move {
            let deadline = shared::deadline::deadline(event.context.deadline, migrate_batch::DEFAULT_BUDGET);
            let result: Result<Output, MigrateError> = handle_payload(&store, event.payload.get().as_bytes(), Some(deadline)).await;
            if let Err(e) = &result {
                tracing::warn!(error_type = e.error_type(), error = %e.message(), "invocation failed");
            }
            result
        }
    }))
    .await
}
