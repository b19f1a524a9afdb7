//! Lambda entry of `calendly-webhook`: configuration, telemetry and the runtime; the logic is in
//! the library (`calendly_webhook::handle`).

use std::time::Duration;

use calendly_webhook::{handle_request, App, SigningKeys};
use lambda_http::{service_fn, Error, Request};
use shared::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    shared::metrics::init("calendly-webhook");
    let settings = shared::config::database()?;
    let key_ttl = shared::config::number("CALENDLY_SIGNING_KEY_CACHE_SECONDS", 60u64)?;
    // Connects lazily: a cold start with the database away still answers 503 rather than failing init.
    let calendly = calendly_webhook::invitee_lookup::api_from_env()?;
    let app = App::with_keys(Store::new(settings), SigningKeys::new(Duration::from_secs(key_ttl))).with_calendly(calendly);
    let app: &'static App = Box::leak(Box::new(app));
    lambda_http::run(service_fn(move |req: Request| async move { Ok::<_, Error>(handle_request(app, req).await) })).await
}
