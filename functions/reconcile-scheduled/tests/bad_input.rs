//! Bad input at the entry point the runtime and operators invoke (`Reconciler::handle_payload`,
//! what `main.rs` wires): random, damaged, truncated, wrong-typed, 10 MB, 100,000 levels deep and
//! non-UTF-8 payloads, and keys given twice, for both the schedule's event and a backfill request.
//! Every one is a clean error (`InvalidInput` or `ClientNotFound`) whose message echoes at most
//! 200 characters of the input; nothing is written and no provider is asked.

mod common;

use common::*;
use proptest::test_runner::TestCaseError;
use reconcile_scheduled::{Reconciler, RunError};
use serde_json::{json, Value};
use shared::testing::bad_input;
use tokio_postgres::Client;

/// Also what only reconciliation writes.
const CHECKED: &str = r#"SELECT count(*) FROM "Lead" WHERE "appointmentLastCheckedAt" IS NOT NULL"#;

/// A Calendly client with a lead; no provider behind the reconciler's address: a request that got
/// as far as asking one would fail the test by writing or by succeeding.
async fn seeded() -> (shared::testing::TestDb, Client, Reconciler) {
    let (db, client) = database().await;
    calendly_client(&client, "client_1").await;
    calendly_lead(&client, "client_1", "lead_1", EMAIL).await;
    let reconciler = reconciler(&db, "http://127.0.0.1:9", test_config());
    (db, client, reconciler)
}

async fn refused(reconciler: &Reconciler, client: &Client, payload: &[u8]) -> Result<RunError, TestCaseError> {
    bad_input::refused_cleanly(client, CHECKED, reconciler.handle_payload(payload, deadline()), |e| (e.error_type(), e.message())).await
}

/// The schedule's event, as EventBridge sends it.
fn schedule() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/reconcile-scheduled/schedule.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn backfill() -> Value {
    json!({"mode": "backfill", "clientId": "client_1", "maxLeads": 5, "cursor": "lead_0"})
}

/// Whether a request with `field` set to `value` could run.
fn accepted(field: &str, value: &Value) -> bool {
    match field {
        "mode" => value == "backfill",
        "clientId" => value == "client_1",
        "maxLeads" => value.is_null() || value.as_u64().is_some_and(|n| (1..=100_000).contains(&n)),
        "cursor" => value.is_null() || value.as_str().is_some_and(|c| !c.trim().is_empty() && c.len() <= 512 && !c.contains('\0')),
        "detail-type" => value == "Scheduled Event",
        _ => false,
    }
}

#[test]
fn bad_requests_are_refused_and_write_nothing() {
    let rt = bad_input::runtime();
    let (_db, client, reconciler) = rt.block_on(seeded());
    // A backfill request or the schedule's event, damaged.
    let docs: [(Value, &[&str]); 2] = [(backfill(), &["mode", "clientId", "maxLeads", "cursor", "dryRun"]), (schedule(), &["detail-type"])];
    let mut monsters = bad_input::monsters(&backfill(), &["mode", "detail-type"], "detail");
    let mut huge_cursor = br#"{"mode":"backfill","clientId":"client_1","cursor":"#.to_vec();
    huge_cursor.extend_from_slice(&bad_input::huge_object("x")[4..]);
    monsters.push(("10 MB cursor object".into(), huge_cursor));
    bad_input::bad_payloads_are_refused(&docs, accepted, monsters, |payload| {
        rt.block_on(refused(&reconciler, &client, payload)).map(|e| e.error_type())
    });
}

/// A 100 KB input came back whole in `errorMessage` (and so in the runtime's log of it).
#[tokio::test]
async fn an_error_echoes_at_most_200_characters_of_the_input() {
    let (_db, client, reconciler) = seeded().await;
    let long = "x".repeat(100 * 1024);
    let payloads = [
        json!({"mode": long, "clientId": "client_1"}),
        json!({"mode": "backfill", "clientId": long}),
        json!({"mode": "backfill", "clientId": "client_1", long.as_str(): 1}),
    ];
    for payload in payloads {
        let err = refused(&reconciler, &client, payload.to_string().as_bytes()).await.unwrap();
        assert!(err.to_string().len() > 100 * 1024, "the error itself quotes the input");
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_message.chars().count(), shared::text::EXCERPT_CHARS + 1, "{}", diagnostic.error_message);
        assert!(diagnostic.error_message.ends_with('…'));
    }
}
