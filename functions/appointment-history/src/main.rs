//! The Lambda entry point: configuration, telemetry, the runtime. The work is in the library.

use std::sync::Arc;

use appointment_history::{router, App, AppConfig};

// One runtime thread: Lambda hands a process one event at a time, and on a single thread the
// handler and the database connection's driver task never wait on a cross-thread wake-up (the
// benchmark measured the same statements 1.7x slower on the two-thread default).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    shared::metrics::init("appointment-history");
    let config = AppConfig::from_env()?;
    tracing::info!(server = config.database.display(), "appointment-history starting");
    // The store connects on first use, so that a cold start during a database outage still
    // answers 503 rather than failing to start.
    lambda_http::run(router(Arc::new(App::new(config)))).await
}
