//! The Lambda entry point: configuration, telemetry, the runtime. The work is in the library.

use std::sync::Arc;

use appointment_history::{router, App, AppConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let config = AppConfig::from_env()?;
    tracing::info!(server = config.database.display(), "appointment-history starting");
    // The store connects on first use, so that a cold start during a database outage still
    // answers 503 rather than failing to start.
    lambda_http::run(router(Arc::new(App::new(config)))).await
}
