//! Each function's cold-start cases: the environment it is deployed with (template.yaml), and an
//! event it answers without its database (refused before any query) or with it (a real piece of
//! work on a seeded database), from the sample events in events/<function>/.

use std::time::Duration;

use serde_json::{json, Value};
use shared::testing::fixture_ids::{calendly::EMAIL as LEAD_EMAIL, ghl::CONTACT as GHL_CONTACT, ghl::LOCATION as GHL_LOCATION};
use shared::testing::{seed_client, seed_lead, TestDb};

pub const FUNCTIONS: [&str; 5] = ["calendly-webhook", "ghl-webhook", "appointment-history", "reconcile-scheduled", "migrate-batch"];

/// The dev stack's secrets (scripts/dev.sh): the sample events are signed with them.
const JWT_SECRET: &str = "dev-jwt-secret-0123456789abcdef0123456789abcdef";
const CALENDLY_SIGNING_KEY: &str = "dev-calendly-signing-key-0123456789abcdef";
const CLIENT: &str = "client_demo";
const LEAD: &str = "lead_dana_demo";

/// What the answer must be for the run to count: the case's path was the one taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// An HTTP function's answer with this status.
    Status(u16),
    /// An HTTP function's answer with a 2xx status.
    Success,
    /// An operator function's result.
    Response,
    /// An operator function's refusal (`.../error`).
    Refused,
}

pub struct Case {
    pub function: &'static str,
    /// What the event is, for the table.
    pub what: &'static str,
    pub env: Vec<(String, String)>,
    pub event: Vec<u8>,
    pub expect: Expect,
    /// The function's timeout in template.yaml (the invocation's deadline).
    pub timeout: Duration,
}

/// The environment every function is deployed with (template.yaml's Globals and LoggingConfig).
fn deployed_env(function: &str, database_url: &str) -> Vec<(String, String)> {
    let memory = if matches!(function, "reconcile-scheduled" | "migrate-batch") { "512" } else { "256" };
    [
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
        ("AWS_REGION", "us-east-1"),
        ("DATABASE_URL", database_url),
        ("DB_MIGRATE_ON_CONNECT", "true"),
        ("METRICS_NAMESPACE", "AppointmentHistory/soak"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// GHL's key pair for these runs (the function holds the public half, as hex).
fn ghl_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[42u8; 32])
}

/// The environment of `function` with its database at `database_url` and its providers at
/// `providers` (a closed port: no run may reach Calendly or GHL).
pub fn env(function: &str, database_url: &str, providers: &str) -> Vec<(String, String)> {
    let mut env = deployed_env(function, database_url);
    let own: Vec<(&str, String)> = match function {
        "ghl-webhook" => vec![("GHL_WEBHOOK_PUBLIC_KEY", hex::encode(ghl_key().verifying_key().as_bytes()))],
        "appointment-history" => vec![("JWT_SECRET", JWT_SECRET.to_owned())],
        "reconcile-scheduled" => {
            vec![("CALENDLY_API_BASE", format!("{providers}/calendly")), ("GHL_API_BASE", format!("{providers}/ghl"))]
        }
        _ => vec![],
    };
    env.extend(own.into_iter().map(|(k, v)| (k.to_owned(), v)));
    env
}

/// The function's timeout in template.yaml.
pub fn timeout(function: &str) -> Duration {
    Duration::from_secs(match function {
        "reconcile-scheduled" => 300,
        "migrate-batch" => 900,
        _ => 10,
    })
}

fn sample(function: &str, name: &str) -> Value {
    let text = match (function, name) {
        ("calendly-webhook", "unsigned") => include_str!("../../../events/calendly-webhook/unsigned.json"),
        ("calendly-webhook", "invitee-created") => include_str!("../../../events/calendly-webhook/invitee-created.json"),
        ("ghl-webhook", "unsigned") => include_str!("../../../events/ghl-webhook/unsigned.json"),
        ("appointment-history", "get-timeline") => include_str!("../../../events/appointment-history/get-timeline.json"),
        ("reconcile-scheduled", "schedule") => include_str!("../../../events/reconcile-scheduled/schedule.json"),
        ("migrate-batch", "bad-input") => include_str!("../../../events/migrate-batch/bad-input.json"),
        ("migrate-batch", "dry-run") => include_str!("../../../events/migrate-batch/dry-run.json"),
        _ => unreachable!("no sample {function}/{name}"),
    };
    serde_json::from_str(text).expect("sample events are JSON")
}

fn bytes(event: &Value) -> Vec<u8> {
    serde_json::to_vec(event).expect("an event serializes")
}

/// An event `function` answers without its database.
pub fn without_database(function: &'static str, closed_url: &str, providers: &str) -> Case {
    let (what, event, expect) = match function {
        "calendly-webhook" => {
            // A path that cannot name a client: refused before the signing key is looked up.
            let mut event = sample(function, "unsigned");
            event["rawPath"] = json!("/webhooks/calendly/client.demo");
            event["requestContext"]["http"]["path"] = event["rawPath"].clone();
            event["pathParameters"]["clientId"] = json!("client.demo");
            ("delivery to a malformed client id (404)", event, Expect::Status(404))
        }
        "ghl-webhook" => ("unsigned delivery (401)", sample(function, "unsigned"), Expect::Status(401)),
        "appointment-history" => {
            let mut event = sample(function, "get-timeline");
            event["headers"].as_object_mut().expect("headers").remove("authorization");
            ("timeline request without a token (401)", event, Expect::Status(401))
        }
        "reconcile-scheduled" => {
            ("backfill with maxLeads 0 (refused)", json!({"mode": "backfill", "clientId": CLIENT, "maxLeads": 0}), Expect::Refused)
        }
        "migrate-batch" => ("apply with batchSize 0 (refused)", sample(function, "bad-input"), Expect::Refused),
        _ => unreachable!("not a function: {function}"),
    };
    Case { function, what, env: env(function, closed_url, providers), event: bytes(&event), expect, timeout: timeout(function) }
}

/// A real event for `function` on `db` (a fresh migrated database), seeded for it; signatures and
/// timestamps are made now, so the case must run at once.
pub async fn with_database(function: &'static str, db: &TestDb, providers: &str) -> shared::Result<Case> {
    let client = db.client().await;
    let signing_key = (function == "calendly-webhook").then_some(CALENDLY_SIGNING_KEY);
    seed_client(&client, CLIENT, signing_key).await?;
    seed_lead(&client, CLIENT, LEAD, Some(LEAD_EMAIL)).await?;
    let (what, event, expect) = match function {
        "calendly-webhook" => {
            let mut event = sample(function, "invitee-created");
            let body = event["body"].as_str().expect("body").to_owned();
            let now = chrono::Utc::now().timestamp();
            let signature = calendly_webhook::signature::header_value(CALENDLY_SIGNING_KEY.as_bytes(), now, body.as_bytes());
            event["headers"]["calendly-webhook-signature"] = json!(signature);
            ("signed invitee.created, recorded", event, Expect::Success)
        }
        "ghl-webhook" => {
            client.execute(r#"UPDATE "Client" SET "ghlLocationId" = $2 WHERE "id" = $1"#, &[&CLIENT, &GHL_LOCATION]).await?;
            client.execute(r#"UPDATE "Lead" SET "ghlContactId" = $2 WHERE "id" = $1"#, &[&LEAD, &GHL_CONTACT]).await?;
            let mut event = sample(function, "unsigned");
            let mut body: Value = serde_json::from_str(event["body"].as_str().expect("body")).expect("a JSON body");
            // GHL's replay window is measured from the signed timestamp.
            body["timestamp"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            let body = bytes(&body);
            event["headers"]["x-ghl-signature"] = json!(ghl_webhook::signature::sign(&ghl_key(), &body));
            event["body"] = json!(String::from_utf8(body).expect("UTF-8"));
            ("signed AppointmentCreate, recorded", event, Expect::Success)
        }
        "appointment-history" => {
            // A token made now: the sample's own outlives the history API's cap on a token's lifetime.
            let mut event = sample(function, "get-timeline");
            let claims = appointment_history::auth::Claims {
                sub: "soak".into(),
                exp: (chrono::Utc::now().timestamp() + 600) as u64,
                client_ids: vec![CLIENT.into()],
            };
            let token = appointment_history::auth::sign(&claims, JWT_SECRET.as_bytes());
            event["headers"]["authorization"] = json!(format!("Bearer {token}"));
            ("timeline of a seeded lead (200)", event, Expect::Status(200))
        }
        "reconcile-scheduled" => ("scheduled run, no lead due", sample(function, "schedule"), Expect::Response),
        "migrate-batch" => ("dry run over one client", sample(function, "dry-run"), Expect::Response),
        _ => unreachable!("not a function: {function}"),
    };
    Ok(Case { function, what, env: env(function, &db.url, providers), event: bytes(&event), expect, timeout: timeout(function) })
}

/// Whether an answer is the one the case expects; `Err` says what came instead.
pub fn check(expect: Expect, kind: super::runtime_api::AnswerKind, body: &[u8]) -> Result<(), String> {
    use super::runtime_api::AnswerKind;
    let status = || serde_json::from_slice::<Value>(body).ok().and_then(|v| v["statusCode"].as_u64());
    let ok = match (expect, kind) {
        (Expect::Status(want), AnswerKind::Response) => status() == Some(u64::from(want)),
        (Expect::Success, AnswerKind::Response) => status().is_some_and(|s| (200..300).contains(&s)),
        (Expect::Response, AnswerKind::Response) | (Expect::Refused, AnswerKind::Error) => true,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    // The answer's shape only: its status, or the error type (never a body, which may carry data).
    let got = match kind {
        AnswerKind::Response => status().map_or("a result".to_owned(), |s| format!("status {s}")),
        AnswerKind::Error | AnswerKind::InitError => {
            let error_type = serde_json::from_slice::<Value>(body).ok().and_then(|v| v["errorType"].as_str().map(str::to_owned));
            format!("{kind:?} {}", error_type.unwrap_or_default())
        }
    };
    Err(format!("answered {got}, expected {expect:?}"))
}

#[cfg(test)]
mod tests {
    use super::super::runtime_api::AnswerKind;
    use super::*;

    /// What was expected, how the runtime was answered, the answer, and the verdict.
    type Case = (Expect, AnswerKind, Vec<u8>, Result<(), &'static str>);

    #[test]
    fn an_answer_counts_only_when_it_took_the_expected_path() {
        let answer = |status: u16| format!(r#"{{"statusCode":{status},"headers":{{}},"body":"{{}}"}}"#).into_bytes();
        let cases: [Case; 7] = [
            (Expect::Status(401), AnswerKind::Response, answer(401), Ok(())),
            // The database was away: a 503 is not the refusal the case measures.
            (Expect::Status(401), AnswerKind::Response, answer(503), Err("answered status 503, expected Status(401)")),
            (Expect::Success, AnswerKind::Response, answer(202), Ok(())),
            (Expect::Success, AnswerKind::Response, answer(429), Err("answered status 429, expected Success")),
            (Expect::Refused, AnswerKind::Error, br#"{"errorType":"InvalidInput"}"#.to_vec(), Ok(())),
            (
                Expect::Response,
                AnswerKind::Error,
                br#"{"errorType":"Database"}"#.to_vec(),
                Err("answered Error Database, expected Response"),
            ),
            (
                Expect::Refused,
                AnswerKind::InitError,
                br#"{"errorType":"Config"}"#.to_vec(),
                Err("answered InitError Config, expected Refused"),
            ),
        ];
        for (expect, kind, body, want) in cases {
            assert_eq!(check(expect, kind, &body), want.map_err(str::to_owned), "{expect:?} {kind:?}");
        }
    }

    #[test]
    fn the_refusals_need_no_database_and_the_webhooks_are_not_signed() {
        for function in FUNCTIONS {
            let case = without_database(function, "postgres://soak@127.0.0.1:9/soak", "http://127.0.0.1:9");
            let env: std::collections::HashMap<_, _> = case.env.iter().cloned().collect();
            assert_eq!(env["DATABASE_URL"], "postgres://soak@127.0.0.1:9/soak", "{function}");
            assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], function);
            let event: Value = serde_json::from_slice(&case.event).unwrap();
            assert!(event["headers"].get("calendly-webhook-signature").is_none() && event["headers"].get("authorization").is_none());
        }
    }
}
