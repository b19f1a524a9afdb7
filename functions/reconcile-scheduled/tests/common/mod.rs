//! Test setup: a real PostgreSQL database per test, a wiremock server playing Calendly and GHL
//! with the fixture bodies, and a reconciler pointed at both.

#![allow(dead_code, unused_imports)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use reconcile_scheduled::config::ReconcileConfig;
use reconcile_scheduled::Reconciler;
use serde_json::Value;
use shared::providers::{Endpoints, HttpSettings, ProviderHttp, Quotas};
pub use shared::testing::{appointments, count, database};
use shared::testing::{seed_client, seed_lead, TestDb};
use tokio::time::Instant;
use tokio_postgres::Client;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const CALENDLY_TOKEN: &str = "pat_test_0f9e8d7c6b5a4d3c2b1a";
pub const GHL_KEY: &str = "pit-test-5b2c9e1a-7d4f-4e3b-9a8c-2f1e0d9c8b7a";
pub const ORG: &str = "https://api.calendly.com/organizations/4e1d2c3b-5a6f-4b7c-8d9e-0f1a2b3c4d5e";
pub use shared::testing::fixture_ids::{calendly::EMAIL, ghl::CONTACT, ghl::LOCATION};

pub fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

pub fn fixture_text(path: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

/// A database and a fake provider server for one test.
pub async fn database_and_server() -> (TestDb, Client, MockServer) {
    let (db, client) = database().await;
    (db, client, MockServer::start().await)
}

/// The fake provider answers every GET of `url_path` with the fixture's body.
pub async fn serve_fixture(server: &MockServer, url_path: impl Into<String>, fixture_path: &str) {
    Mock::given(method("GET"))
        .and(path(url_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture(fixture_path)))
        .mount(server)
        .await;
}

pub fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("time")
}

/// A client (workspace) with GHL configured (New York time zone).
pub async fn ghl_client(db: &Client, id: &str, location: &str) {
    seed_client(db, id, None).await.unwrap();
    db.execute(
        r#"UPDATE "Client" SET "ghlLocationId" = $2, "ghlPrivateKey" = $3, "timezone" = 'America/New_York' WHERE "id" = $1"#,
        &[&id, &location, &format!("{GHL_KEY}-{location}")],
    )
    .await
    .unwrap();
}

/// A client with Calendly configured.
pub async fn calendly_client(db: &Client, id: &str) {
    calendly_client_with_token(db, id, CALENDLY_TOKEN).await;
}

/// A client with Calendly configured, with its own access token.
pub async fn calendly_client_with_token(db: &Client, id: &str, token: &str) {
    seed_client(db, id, None).await.unwrap();
    db.execute(r#"UPDATE "Client" SET "calendlyAccessToken" = $2, "calendlyOrganizationUri" = $3 WHERE "id" = $1"#, &[&id, &token, &ORG])
        .await
        .unwrap();
}

pub async fn ghl_lead(db: &Client, client_id: &str, lead_id: &str, contact: &str) {
    seed_lead(db, client_id, lead_id, None).await.unwrap();
    db.execute(r#"UPDATE "Lead" SET "ghlContactId" = $2 WHERE "id" = $1"#, &[&lead_id, &contact]).await.unwrap();
}

pub async fn calendly_lead(db: &Client, client_id: &str, lead_id: &str, email: &str) {
    seed_lead(db, client_id, lead_id, Some(email)).await.unwrap();
}

/// The Calendly workspace `client_cal` with one lead, `lead_dana`, of the fixtures' invitee email.
pub async fn one_calendly_lead(db: &Client) {
    calendly_client(db, "client_cal").await;
    calendly_lead(db, "client_cal", "lead_dana", EMAIL).await;
}

pub fn fast_http() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_millis(600),
        connect_timeout: Duration::from_millis(500),
        max_attempts: 3,
        backoff_base: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        max_rate_limited: 3,
        max_rate_limit_wait: Duration::from_secs(5),
    }
}

pub fn test_config() -> ReconcileConfig {
    ReconcileConfig { deadline_margin: Duration::from_secs(2), ..ReconcileConfig::default() }
}

pub fn reconciler(db: &TestDb, base: &str, config: ReconcileConfig) -> Reconciler {
    reconciler_with(db, base, config, fast_http(), Quotas::default())
}

pub fn reconciler_with(db: &TestDb, base: &str, config: ReconcileConfig, http: HttpSettings, quotas: Quotas) -> Reconciler {
    let http = ProviderHttp::new(Endpoints::new(base, base).unwrap(), http, quotas).unwrap();
    Reconciler::new(db.settings(), http, config)
}

/// A deadline far enough away for any test run.
pub fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// GHL contact appointments where every appointment id carries the contact id, so that many
/// contacts can share one fixture without sharing keys.
pub struct PerContactAppointments {
    pub body: Value,
    pub delay: Duration,
}

impl Respond for PerContactAppointments {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let contact = request.url.path_segments().and_then(|mut s| s.nth(1)).unwrap_or("none").to_string();
        let mut body = self.body.clone();
        for event in body["events"].as_array_mut().unwrap() {
            let id = format!("{}-{contact}", event["id"].as_str().unwrap());
            event["id"] = Value::String(id);
            event["contactId"] = Value::String(contact.clone());
        }
        ResponseTemplate::new(200).set_body_json(body).set_delay(self.delay)
    }
}

/// Calendly's list of scheduled events: refused once with a 429 (its limit resets now), then the
/// fixture's list.
pub async fn list_scheduled_events_after_a_429(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/scheduled_events"))
        .respond_with(ResponseTemplate::new(429).insert_header("X-RateLimit-Reset", "0"))
        .up_to_n_times(1)
        .mount(server)
        .await;
    serve_fixture(server, "/scheduled_events", "calendly/api-list-scheduled-events.json").await;
}

pub async fn last_checked(db: &Client, lead_id: &str) -> Option<chrono::NaiveDateTime> {
    db.query_one(r#"SELECT "appointmentLastCheckedAt" FROM "Lead" WHERE "id" = $1"#, &[&lead_id]).await.unwrap().get(0)
}
