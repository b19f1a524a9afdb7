//! The test harness: a fresh migrated database per test, the real router, tokens, and the OpenAPI
//! contract that EVERY answer a test receives is checked against.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use appointment_history::auth::{sign, Claims};
use appointment_history::{router, App, AppConfig};
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use shared::testing::{seed_client, seed_lead, TestDb};
use tower::ServiceExt;

pub const SECRET: &str = "test-jwt-secret-0123456789abcdef0123456789";
pub const CLIENT_A: &str = "client_a";
pub const CLIENT_B: &str = "client_b";

/// The tests' "now": appointments are placed around it.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, 15, 12, 0, 0).unwrap()
}

pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, day, hour, 0, 0).unwrap()
}

/// The invitee URI of the Calendly booking `name` (event `EV-name`, invitee `INV-name`).
pub fn invitee(name: &str) -> String {
    format!("https://api.calendly.com/scheduled_events/EV-{name}/invitees/INV-{name}")
}

/// The Calendly booking `name` of `lead`, booked in `timezone`.
pub fn calendly_booking(
    lead: &str,
    name: &str,
    status: shared::AppointmentStatus,
    start: DateTime<Utc>,
    updated: DateTime<Utc>,
    timezone: &str,
) -> shared::Observation {
    let event = format!("https://api.calendly.com/scheduled_events/EV-{name}");
    let mut o = shared::testing::calendly_observation(lead, &invitee(name), &event, status, start, updated);
    o.timezone = Some(timezone.into());
    o
}

/// Every row a POST can write, counted: unchanged means a request wrote nothing.
pub const WRITTEN: &str = r#"SELECT (SELECT count(*) FROM "Appointment") + (SELECT count(*) FROM "AppointmentEvent")
     + (SELECT count(*) FROM "AppointmentIdempotencyKey") + (SELECT count(*) FROM "FollowUpTask")"#;

/// A valid POST body: a manual GHL appointment with its provider id.
pub fn valid_body() -> Value {
    serde_json::json!({
        "source": "MANUAL", "provider": "GHL", "providerAppointmentId": "ghl-appt-1", "startAt": "2031-03-20T17:00:00Z",
        "endAt": "2031-03-20T17:30:00Z", "timezone": "America/New_York", "status": "CONFIRMED"
    })
}

pub struct Harness {
    pub db: TestDb,
    pub sql: tokio_postgres::Client,
    pub app: Arc<App>,
    pub router: Router,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn problem_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or("")
    }

    pub fn error_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.body["errors"].as_array().map(|a| a.iter().map(|e| e["name"].as_str().unwrap().to_string()).collect()).unwrap_or_default();
        names.sort();
        names
    }

    pub fn ids(&self) -> Vec<String> {
        self.body["appointments"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap_or("").to_string()).collect()
    }
}

impl Harness {
    /// Two workspaces, A with leads `lead_a1`, `lead_a2`, B with `lead_b1`.
    pub async fn new() -> Self {
        let (db, sql) = shared::testing::database().await;
        seed_client(&sql, CLIENT_A, None).await.unwrap();
        seed_client(&sql, CLIENT_B, None).await.unwrap();
        for (client, lead) in [(CLIENT_A, "lead_a1"), (CLIENT_A, "lead_a2"), (CLIENT_B, "lead_b1")] {
            seed_lead(&sql, client, lead, Some("someone@example.com")).await.unwrap();
        }
        let config = AppConfig::new(db.settings(), SECRET).unwrap();
        let app = Arc::new(App::new(config).with_clock(now));
        let router = router(app.clone());
        Harness { db, sql, app, router }
    }

    /// Records an observation through the write path, as the webhooks do; its appointment's id.
    pub async fn record(&self, obs: shared::Observation) -> String {
        self.store().record(obs).await.unwrap().appointment_id
    }

    pub fn store(&self) -> &shared::Store {
        &self.app.store
    }

    /// A token for workspace A.
    pub fn token(&self) -> String {
        token(&[CLIENT_A])
    }

    pub async fn get(&self, uri: &str, token: Option<&str>) -> Reply {
        let mut req = Request::builder().method(Method::GET).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.call(req.body(Body::empty()).unwrap()).await
    }

    pub async fn post(&self, uri: &str, token: Option<&str>, key: Option<&str>, body: &Value) -> Reply {
        let mut req = Request::builder().method(Method::POST).uri(uri).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        self.call(req.body(Body::from(serde_json::to_vec(body).unwrap())).unwrap()).await
    }

    /// Sends a request through the router and checks the answer against openapi.json.
    pub async fn call(&self, req: Request<Body>) -> Reply {
        call(&self.router, req).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        shared::testing::count(&self.sql, sql).await
    }
}

pub async fn call(router: &Router, req: Request<Body>) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{method} {path}: body is not JSON: {bytes:?}"));
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    contract().check(&method, &path, status, &content_type, &body);
    Reply { status, headers, body }
}

pub fn token(client_ids: &[&str]) -> String {
    sign(
        &Claims {
            sub: "crm-test".into(),
            exp: (Utc::now().timestamp() + 3600) as u64,
            client_ids: client_ids.iter().map(|s| s.to_string()).collect(),
        },
        SECRET.as_bytes(),
    )
}

/// openapi.json, with a compiled validator per (path template, method, status, content type).
pub struct Contract {
    doc: Value,
    validators: std::sync::Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

pub fn contract() -> &'static Contract {
    static CONTRACT: std::sync::OnceLock<Contract> = std::sync::OnceLock::new();
    CONTRACT.get_or_init(|| {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
        Contract { doc: serde_json::from_str(&text).unwrap(), validators: Default::default() }
    })
}

impl Contract {
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// A validator for a schema of the document (resolving its `$ref`s within the components).
    pub fn validator(&self, schema: &Value) -> Arc<jsonschema::Validator> {
        let cache_key = schema.to_string();
        if let Some(v) = self.validators.lock().unwrap().get(&cache_key) {
            return v.clone();
        }
        let mut root = schema.clone();
        root["components"] = self.doc["components"].clone();
        let v = Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("openapi.json schema does not compile: {e}")),
        );
        self.validators.lock().unwrap().insert(cache_key, v.clone());
        v
    }

    pub fn schema_ref(&self, name: &str) -> Arc<jsonschema::Validator> {
        self.validator(&serde_json::json!({ "$ref": format!("#/components/schemas/{name}") }))
    }

    /// Panics unless the document describes this answer and the body matches its schema.
    pub fn check(&self, method: &Method, path: &str, status: StatusCode, content_type: &str, body: &Value) {
        let path = path.strip_prefix(appointment_history::api::LOCAL_PREFIX).unwrap_or(path);
        let template = self.doc["paths"].as_object().unwrap().keys().find(|t| matches_template(t, path)).cloned();
        let Some(template) = template else {
            // Routes outside the document only ever answer route-not-found problems.
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(content_type, "application/problem+json");
            self.schema_ref("Problem").validate(body).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            return;
        };
        let operation = &self.doc["paths"][&template][method.as_str().to_lowercase()];
        if operation.is_null() {
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: undocumented method");
            self.schema_ref("Problem").validate(body).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            return;
        }
        let response = &operation["responses"][status.as_str()];
        assert!(!response.is_null(), "{method} {template}: status {status} is not in openapi.json; body {body}");
        let media = content_type.split(';').next().unwrap().trim();
        let schema = &response["content"][media]["schema"];
        assert!(!schema.is_null(), "{method} {template} {status}: content type {content_type:?} is not in openapi.json");
        let validator = self.validator(schema);
        let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path)).collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: body does not match openapi.json:\n{}\nbody: {body:#}",
            errors.join("\n")
        );
    }
}

fn matches_template(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len() && t.iter().zip(&p).all(|(a, b)| (a.starts_with('{') && !b.is_empty()) || a == b)
}
