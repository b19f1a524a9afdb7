//! Lambda entry of `ghl-webhook`: configuration, telemetry and the runtime; the logic is in the
//! library (`ghl_webhook::handle`).

use ghl_webhook::{handle_request, signature, App};
use lambda_http::{service_fn, Error, Request};
use shared::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    shared::metrics::init("ghl-webhook");
    let settings = shared::config::database()?;
    let key = signature::parse_public_key(&shared::config::required("GHL_WEBHOOK_PUBLIC_KEY")?)
        .map_err(|e| shared::Error::Config(format!("GHL_WEBHOOK_PUBLIC_KEY: {e}")))?;
    // Connects lazily: a cold start with the database away still answers 429 rather than failing init.
    let app: &'static App = Box::leak(Box::new(App::new(Store::new(settings), key)));
    lambda_http::run(service_fn(move |req: Request| async move { Ok::<_, Error>(handle_request(app, req).await) })).await
}
