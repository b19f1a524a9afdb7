//! Signed deliveries (API Gateway HTTP API v2 events, or straight to `handle`), a seeded database,
//! and readers that describe what the database holds independently of generated ids.
#![allow(dead_code, unused_imports)]

use chrono::{DateTime, TimeDelta, Utc};
use ed25519_dalek::SigningKey;
use ghl_webhook::{handle, handle_request, signature, App};
use lambda_http::http::{HeaderMap, HeaderValue};
pub use shared::testing::fingerprint;
use shared::testing::{seed_client, seed_lead, TestDb};
use tokio_postgres::Client;

/// The fixtures' workspace, contact and appointment.
pub use shared::testing::fixture_ids::ghl::{APPOINTMENT, CONTACT, LOCATION};
pub const CLIENT: &str = "client_ghl";
pub const LEAD: &str = "lead_ghl";
/// Another workspace, with a lead of the same contact id: never touched by the fixtures.
pub const OTHER_CLIENT: &str = "client_other";
pub const OTHER_LEAD: &str = "lead_other";

/// The GHL story, in the order GHL sent it: booked, moved, canceled, deleted.
pub const STORY: [&str; 4] = [
    "webhook-appointment-create.json",
    "webhook-appointment-update-time.json",
    "webhook-appointment-update-cancelled.json",
    "webhook-appointment-delete.json",
];

/// "GHL's" key pair for the tests (the handler holds the public half only).
pub fn ghl_key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The signed `timestamp` of a body.
pub fn sent_at(body: &[u8]) -> DateTime<Utc> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["timestamp"].as_str().unwrap().parse().unwrap()
}

/// A body with its `timestamp` set to `at` (re-signing is the caller's business).
pub fn stamped(body: &[u8], at: DateTime<Utc>) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["timestamp"] = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into();
    serde_json::to_vec(&v).unwrap()
}

pub async fn seeded() -> (TestDb, Client) {
    let (db, client) = shared::testing::database().await;
    seed_client(&client, CLIENT, None).await.unwrap();
    seed_client(&client, OTHER_CLIENT, None).await.unwrap();
    client.execute(r#"UPDATE "Client" SET "ghlLocationId" = $2 WHERE "id" = $1"#, &[&CLIENT, &LOCATION]).await.unwrap();
    client.execute(r#"UPDATE "Client" SET "ghlLocationId" = 'loc_other' WHERE "id" = $1"#, &[&OTHER_CLIENT]).await.unwrap();
    seed_lead(&client, CLIENT, LEAD, Some("lead@example.com")).await.unwrap();
    seed_lead(&client, OTHER_CLIENT, OTHER_LEAD, None).await.unwrap();
    client.execute(r#"UPDATE "Lead" SET "ghlContactId" = $1"#, &[&CONTACT]).await.unwrap();
    (db, client)
}

pub async fn app(db: &TestDb) -> App {
    App::new(db.store().await, ghl_key().verifying_key())
}

/// The seeded database (as [`seeded`]) and the function on it.
pub async fn seeded_app() -> (TestDb, Client, App) {
    let (db, client) = seeded().await;
    let app = app(&db).await;
    (db, client, app)
}

/// What the function answered.
pub use shared::testing::WebhookAnswer as Answer;

pub fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    for (k, v) in pairs {
        h.insert(lambda_http::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
    }
    h
}

/// A body signed by "GHL", handled at the body's own signed time (plus a second).
pub async fn deliver_body(app: &App, body: &[u8]) -> Answer {
    let now = sent_at(body) + TimeDelta::seconds(1);
    Answer::of(handle(app, &headers(&[(signature::HEADER, signature::sign(&ghl_key(), body))]), body, now).await)
}

pub async fn deliver(app: &App, name: &str) -> Answer {
    deliver_body(app, &fixture(name)).await
}

/// Raw headers and body at `now`.
pub async fn post_at(app: &App, pairs: &[(&str, String)], body: &[u8], now: DateTime<Utc>) -> Answer {
    Answer::of(handle(app, &headers(pairs), body, now).await)
}

/// Through the Lambda request conversion, exactly as the runtime would (the real clock).
pub async fn send(app: &App, method: &str, body: &[u8], pairs: &[(&str, String)]) -> Answer {
    let mut headers = vec![("content-type", "application/json".to_string()), ("user-agent", "GHL".to_string())];
    headers.extend(pairs.iter().cloned());
    let event = shared::testing::http_api_event("POST /webhooks/ghl", method, "/webhooks/ghl", &headers, body).to_string();
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    Answer::of(handle_request(app, request).await)
}

/// The appointments (without generated ids), every lead's rollup and the tasks, as text.
pub async fn state(db: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        r#"SELECT concat_ws(' ', "leadId", "provider"::text, "ghlAppointmentId", "status"::text, "startAt"::text, "endAt"::text,
                  "canceledAt"::text, "cancelReason", "canceledBy", "providerCreatedAt"::text, "providerUpdatedAt"::text, "source"::text)
             FROM "Appointment" ORDER BY "ghlAppointmentId""#,
        r#"SELECT concat_ws(' ', "id", "appointmentStartAt"::text, "appointmentEndAt"::text, "appointmentStatus",
                  "appointmentCanceledAt"::text, "appointmentProvider"::text, "appointmentSource") FROM "Lead" ORDER BY "id""#,
        r#"SELECT concat_ws(' ', t."leadId", a."ghlAppointmentId", t."type", t."isUrgent"::text, t."status")
             FROM "FollowUpTask" t LEFT JOIN "Appointment" a ON a."id" = t."appointmentId" ORDER BY 1"#,
    ] {
        out.extend(db.query(sql, &[]).await.unwrap().iter().map(|r| r.get::<_, String>(0)));
    }
    out
}
