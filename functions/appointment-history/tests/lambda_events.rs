//! The sample events in `events/appointment-history/` as API Gateway HTTP API (payload v2)
//! envelopes, through `lambda_http`'s own request conversion and the real router: every route
//! answers as documented. The events are for the local stack's workspace `client_demo`, lead
//! `lead_dana_demo`; each is sent with a fresh token signed with the stack's default JWT_SECRET
//! (scripts/dev.sh), as `scripts/invoke.sh` sends them.

mod common;

use std::sync::Arc;

use appointment_history::auth::{sign, Claims};
use appointment_history::{router, App, AppConfig};
use axum::body::Body;
use axum::http::header;
use axum::http::StatusCode;
use common::call;
use shared::testing::{seed_client, seed_lead};

const DEV_SECRET: &str = "dev-jwt-secret-0123456789abcdef0123456789abcdef";

fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/appointment-history")
}

/// The sample event, with a fresh token of the same caller in place of its own (which outlived
/// the longest token lifetime long ago; `scripts/invoke.sh` puts the local stack's in the same way).
fn event(name: &str) -> axum::http::Request<Body> {
    let text = std::fs::read_to_string(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: not an API Gateway event: {e}"));
    let (mut parts, body) = request.into_parts();
    assert!(parts.headers.contains_key(header::AUTHORIZATION), "{name} carries a token");
    let claims =
        Claims { sub: "dev-crm".into(), exp: (chrono::Utc::now().timestamp() + 600) as u64, client_ids: vec!["client_demo".into()] };
    parts.headers.insert(header::AUTHORIZATION, format!("Bearer {}", sign(&claims, DEV_SECRET.as_bytes())).parse().unwrap());
    axum::http::Request::from_parts(parts, Body::from(body.to_vec()))
}

#[tokio::test]
async fn every_sample_event_is_answered_as_documented() {
    let (db, sql) = shared::testing::database().await;
    seed_client(&sql, "client_demo", None).await.unwrap();
    seed_lead(&sql, "client_demo", "lead_dana_demo", None).await.unwrap();
    let app = Arc::new(App::new(AppConfig::new(db.settings(), DEV_SECRET).unwrap()));
    let router = router(app);

    let mut names: Vec<String> =
        std::fs::read_dir(events_dir()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "get-booking-status.json",
            "get-timeline-filtered-with-changes.json",
            "get-timeline.json",
            "post-auto-book-appointment.json",
            "post-manual-appointment.json"
        ]
    );

    // Writes first, then the reads see them.
    let manual = call(&router, event("post-manual-appointment.json")).await;
    assert_eq!(manual.status, StatusCode::CREATED, "{}", manual.body);
    let auto = call(&router, event("post-auto-book-appointment.json")).await;
    assert_eq!(auto.status, StatusCode::CREATED, "{}", auto.body);
    assert_eq!(auto.body["source"], "AUTO_BOOK");
    // A Lambda retry of the same event replays the answer.
    let again = call(&router, event("post-auto-book-appointment.json")).await;
    assert_eq!((again.status, &again.body), (auto.status, &auto.body));
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");

    let timeline = call(&router, event("get-timeline.json")).await;
    assert_eq!(timeline.status, StatusCode::OK);
    assert_eq!(timeline.ids(), [auto.body["id"].as_str().unwrap(), manual.body["id"].as_str().unwrap()]);
    let filtered = call(&router, event("get-timeline-filtered-with-changes.json")).await;
    assert_eq!(filtered.status, StatusCode::OK);
    assert_eq!(filtered.body["appointments"][0]["changes"][0]["kind"], "created");
    let status = call(&router, event("get-booking-status.json")).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["total"], 2);
    assert_eq!(status.body["hasUpcomingActive"], true);
}
