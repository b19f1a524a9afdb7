//! Deliveries wrapped in API Gateway HTTP API (v2) events, a seeded database, and readers that
//! describe what the database holds independently of generated ids.
#![allow(dead_code, unused_imports)]

use calendly_webhook::{handle_request, signature, App};
pub use shared::testing::fingerprint;
use shared::testing::{seed_client, seed_lead, AppointmentSnapshot, TestDb};
use tokio_postgres::Client;

pub const CLIENT: &str = "client_acme";
pub const KEY: &str = "whsec-acme-0123456789abcdef";
/// A client with a key and no leads.
pub const EMPTY_CLIENT: &str = "client_empty";
/// A client without a signing key.
pub const KEYLESS_CLIENT: &str = "client_keyless";

pub const DANA: &str = "lead_dana";
pub const SAM_HINTED: &str = "lead_7b3f2a91";
pub const SAM_BY_EMAIL: &str = "lead_sam_email";

pub const OLD: &str =
    "https://api.calendly.com/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40/invitees/6a1f0c2e-5b7d-4e38-9c0a-71d2e4f8b3a9";
pub const NEW: &str =
    "https://api.calendly.com/scheduled_events/9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268/invitees/e4c2a9b7-1f3d-4e6a-8c5b-0d9f7a3e1b26";
pub const SAM_INVITEE: &str =
    "https://api.calendly.com/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40/invitees/0f6b3d9e-7a2c-4e15-9d8b-a1c4e7f2b930";

pub const FIXTURES: [&str; 8] = [
    "invitee-created.json",
    "invitee-created-group-second.json",
    "invitee-created-after-reschedule.json",
    "invitee-canceled-rescheduled.json",
    "invitee-canceled-by-host.json",
    "invitee-no-show-created.json",
    "invitee-no-show-deleted.json",
    "routing-form-submission.json",
];

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A migrated database with the clients and leads the fixtures need. Dana's CRM email differs in
/// case from the one she books with; Sam has two leads: the one his booking link names
/// (`utm_content`) and a more recently updated one with his email.
pub async fn seeded() -> (TestDb, Client) {
    let (db, client) = shared::testing::database().await;
    seed_client(&client, CLIENT, Some(KEY)).await.unwrap();
    seed_client(&client, EMPTY_CLIENT, Some("whsec-empty")).await.unwrap();
    seed_client(&client, KEYLESS_CLIENT, None).await.unwrap();
    seed_lead(&client, CLIENT, DANA, Some("Dana.Whitfield@Example.com")).await.unwrap();
    seed_lead(&client, CLIENT, SAM_HINTED, Some("s.okafor@work.example")).await.unwrap();
    seed_lead(&client, CLIENT, SAM_BY_EMAIL, Some("sam.okafor@example.org")).await.unwrap();
    client.execute(r#"UPDATE "Lead" SET "updatedAt" = now() + interval '1 hour' WHERE "id" = $1"#, &[&SAM_BY_EMAIL]).await.unwrap();
    (db, client)
}

pub async fn app(db: &TestDb) -> App {
    App::new(db.store().await)
}

/// The seeded database (as [`seeded`]) and the function on it.
pub async fn seeded_app() -> (TestDb, Client, App) {
    let (db, client) = seeded().await;
    let app = app(&db).await;
    (db, client, app)
}

/// The API Gateway HTTP API (payload 2.0) event of a request to the webhook's route.
pub fn apigw_event(path: &str, method: &str, body: &[u8], headers: &[(&str, String)]) -> String {
    let mut all = vec![("content-type", "application/json".to_string()), ("user-agent", "Calendly-Webhooks".to_string())];
    all.extend(headers.iter().cloned());
    let mut event = shared::testing::http_api_event("POST /webhooks/calendly/{clientId}", method, path, &all, body);
    event["pathParameters"] = serde_json::json!({"clientId": path.rsplit('/').next().unwrap_or("")});
    event.to_string()
}

/// A valid signature header for `body` now.
pub fn signed(key: &str, body: &[u8]) -> String {
    signature::header_value(key.as_bytes(), chrono::Utc::now().timestamp(), body)
}

/// What the function answered.
pub use shared::testing::WebhookAnswer as Answer;

/// POSTs through the Lambda request conversion, exactly as the runtime would.
pub async fn post(app: &App, client_id: &str, body: &[u8], signature: Option<String>) -> Answer {
    let headers: Vec<(&str, String)> = signature.into_iter().map(|s| ("calendly-webhook-signature", s)).collect();
    send(app, &apigw_event(&format!("/webhooks/calendly/{client_id}"), "POST", body, &headers)).await
}

pub async fn send(app: &App, event: &str) -> Answer {
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway v2 event");
    Answer::of(handle_request(app, request).await)
}

/// A signed delivery of a fixture to the seeded client.
pub async fn deliver(app: &App, name: &str) -> Answer {
    let body = fixture(name);
    post(app, CLIENT, &body, Some(signed(KEY, &body))).await
}

/// The whole database as the order-independence tests compare it: rows, links, every lead's rollup,
/// tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub rows: Vec<AppointmentSnapshot>,
    pub rollups: Vec<Vec<Option<String>>>,
    pub tasks: Vec<(String, Option<String>, String, bool, String)>,
}

impl State {
    pub fn row(&self, key: &str) -> &AppointmentSnapshot {
        self.rows.iter().find(|r| r.key.as_deref() == Some(key)).unwrap_or_else(|| panic!("a row for {key}"))
    }
}

pub async fn state(db: &Client) -> State {
    let rows = shared::testing::appointments(db, None).await;
    let rollups = db
        .query(
            r#"SELECT "id", "appointmentStartAt"::text, "appointmentEndAt"::text, "appointmentStatus", "appointmentCanceledAt"::text,
                      "appointmentProvider"::text, "appointmentSource" FROM "Lead" ORDER BY "id""#,
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (0..7).map(|i| r.get::<_, Option<String>>(i)).collect())
        .collect();
    let tasks = db
        .query(
            r#"SELECT t."leadId", a."calendlyInviteeUri", t."type", t."isUrgent", t."status" FROM "FollowUpTask" t
                 LEFT JOIN "Appointment" a ON a."id" = t."appointmentId" ORDER BY 2, 3"#,
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    State { rows, rollups, tasks }
}

pub fn ts(s: &str) -> Option<chrono::NaiveDateTime> {
    Some(chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap())
}

/// Every log line of this test binary, from every test and thread, down to TRACE: the global
/// subscriber, installed by the first caller. As production's `shared::telemetry::init` (a fmt
/// subscriber that also takes `log` records), but at TRACE; tokio-postgres logs every statement's
/// parameter values at DEBUG through `log`, and the write path's lead matching sends the invitee's
/// email as a parameter: it is capped at INFO here, as `shared::telemetry`'s privacy floor caps it.
pub fn trace_logs() -> &'static shared::testing::LogCapture {
    static LOGS: std::sync::OnceLock<shared::testing::LogCapture> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = shared::testing::LogCapture::default();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace,tokio_postgres=info"))
            .with_writer(logs.clone())
            .with_ansi(false)
            .try_init()
            .expect("the only subscriber of this test binary");
        logs
    })
}
