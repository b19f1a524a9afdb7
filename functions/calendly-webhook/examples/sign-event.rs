//! Re-signs a sample event (`events/calendly-webhook/*.json`) for now, so that a local invoke gets
//! past the 3-minute replay window:
//!
//! ```sh
//! cargo run -q -p calendly-webhook --example sign-event -- events/calendly-webhook/invitee-created.json > /tmp/event.json
//! cargo lambda invoke calendly-webhook --data-file /tmp/event.json
//! ```
//!
//! The key is `CALENDLY_SIGNING_KEY`, else the local stack's demo key (`make dev`). The body is
//! signed byte for byte as it stands in the event.

use calendly_webhook::signature;

const DEMO_KEY: &str = "dev-calendly-signing-key-0123456789abcdef";

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: sign-event <api-gateway-v2-event.json>   (key: CALENDLY_SIGNING_KEY, default the demo key)");
        std::process::exit(2);
    };
    let key = std::env::var("CALENDLY_SIGNING_KEY").unwrap_or_else(|_| DEMO_KEY.to_string());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("cannot read {path}: {e}")));
    let mut event: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| fail("not a JSON event"));
    if event["isBase64Encoded"].as_bool() == Some(true) {
        fail("base64 bodies are not supported; use a text body");
    }
    let body = event["body"].as_str().unwrap_or_else(|| fail("the event has no text body")).to_string();
    let header = signature::header_value(key.as_bytes(), chrono::Utc::now().timestamp(), body.as_bytes());
    let headers = event["headers"].as_object_mut().unwrap_or_else(|| fail("the event has no headers object"));
    headers.insert(signature::HEADER.to_string(), header.into());
    println!("{}", serde_json::to_string_pretty(&event).expect("serializable"));
}

fn fail(message: &str) -> ! {
    eprintln!("sign-event: {message}");
    std::process::exit(1);
}
