//! Bad input at the entry point operators invoke (`handle_payload`, what `main.rs` wires): random,
//! damaged, truncated, wrong-typed, 10 MB, 100,000 levels deep and non-UTF-8 payloads, and keys
//! given twice. Every one is a clean error (`InvalidInput` or `ClientNotFound`) whose message
//! echoes at most 200 characters of the input, and nothing is written: no run, no appointment.

mod common;

use common::*;
use migrate_batch::{handle_payload, MigrateError, Mode};
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};
use shared::testing::bad_input;
use shared::Provider;
use tokio_postgres::Client;

const RUNS: &str = r#"SELECT count(*) FROM "AppointmentMigrationRun""#;

/// A client `c` with a lead that an apply would migrate.
async fn seeded() -> (shared::testing::TestDb, Client, shared::Store) {
    let (db, client) = database().await;
    seed_client_preferring(&client, "c", Some(Provider::Ghl)).await.unwrap();
    seed_phase28_leads(&client, &[("c", Phase28Lead { start_at: Some(t(9, 9)), ghl_appointment_id: Some("g1".into()), ..lead("l1") })])
        .await
        .unwrap();
    let store = db.store().await;
    (db, client, store)
}

/// The payload is refused cleanly and nothing was written (no run either); the error, for more checks.
async fn refused(store: &shared::Store, client: &Client, payload: &[u8]) -> Result<MigrateError, TestCaseError> {
    bad_input::refused_cleanly(client, RUNS, handle_payload(store, payload, None), |e| (e.error_type(), e.message())).await
}

fn valid(mode: Mode) -> Value {
    json!({"mode": mode.as_str(), "clientId": "c", "batchSize": 5, "maxLeads": 10})
}

/// Whether `value` is one the field accepts (a payload with it could run).
fn accepted(field: &str, value: &Value) -> bool {
    let count = |max: u64| value.is_null() || value.as_u64().is_some_and(|n| (1..=max).contains(&n));
    match field {
        "mode" => value.as_str().and_then(Mode::parse).is_some(),
        "clientId" => value.is_null() || value == "c",
        "batchSize" => count(10_000),
        "maxLeads" => count(i32::MAX as u64),
        // Null is absent: a new run.
        "resume" => value.is_null(),
        _ => false,
    }
}

#[test]
fn bad_payloads_are_refused_and_write_nothing() {
    let rt = bad_input::runtime();
    let (_db, client, store) = rt.block_on(seeded());
    let fields: &[&str] = &["mode", "clientId", "batchSize", "maxLeads", "resume", "dryRun"];
    let docs = [Mode::DryRun, Mode::Apply, Mode::Verify, Mode::RepairRollups].map(|mode| (valid(mode), fields));
    // "x": an unknown field.
    let monsters = bad_input::monsters(&valid(Mode::Apply), &["clientId", "x", "mode"], "mode");
    bad_input::bad_payloads_are_refused(&docs, accepted, monsters, |payload| {
        rt.block_on(refused(&store, &client, payload)).map(|e| e.error_type())
    });
}

/// A `clientId` that names no client answered 200 with zero counts and recorded a run.
#[tokio::test]
async fn an_unknown_client_is_refused_and_no_run_is_recorded() {
    let (_db, client, store) = seeded().await;
    for mode in [Mode::DryRun, Mode::Apply, Mode::Verify, Mode::RepairRollups] {
        let payload = json!({"mode": mode.as_str(), "clientId": "client_nobody"}).to_string();
        let err = refused(&store, &client, payload.as_bytes()).await.unwrap();
        assert!(matches!(&err, MigrateError::ClientNotFound(id) if id == "client_nobody"), "{err:?}");
        assert_eq!(err.error_type(), "ClientNotFound");
        assert_eq!(err.to_string(), "client client_nobody not found");
    }
    // The client's own run still starts.
    let out = handle_payload(&store, br#"{"mode":"dry-run","clientId":"c"}"#, None).await.unwrap();
    assert_eq!(out.counts.migration.leads_with_data, 1);
}

/// A 100 KB input came back whole in `errorMessage` and in the invocation's log line.
#[tokio::test]
async fn an_error_echoes_at_most_200_characters_of_the_input() {
    let (_db, client, store) = seeded().await;
    let key = "k".repeat(100 * 1024);
    // The message names the unknown field (the log line of main.rs is `message()` too).
    for payload in [json!({ key.as_str(): 1, "mode": "apply" }), json!({"mode": "apply", key.as_str(): [1]})] {
        let err = refused(&store, &client, payload.to_string().as_bytes()).await.unwrap();
        assert!(err.to_string().len() > 100 * 1024, "the error itself keeps the field");
        let diagnostic: lambda_runtime::Diagnostic = err.into();
        assert_eq!(diagnostic.error_type, "InvalidInput");
        assert_eq!(diagnostic.error_message.chars().count(), shared::text::EXCERPT_CHARS + 1, "{}", diagnostic.error_message);
        assert!(diagnostic.error_message.starts_with("invalid input: field `"), "{}", diagnostic.error_message);
        assert!(diagnostic.error_message.ends_with('…'));
    }
}
