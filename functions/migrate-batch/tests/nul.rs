//! A NUL character (U+0000), which PostgreSQL refuses in text, in an operator's ids: a clean
//! `InvalidInput` naming the field, never PostgreSQL's message, and nothing written.

mod common;

use common::*;
use migrate_batch::{handle, MigrateError, Mode};
use shared::Provider;

#[tokio::test]
async fn ids_with_nul_are_invalid_input_and_write_nothing() {
    let db = shared::testing::test_database().await;
    let client = db.client().await;
    seed_client_preferring(&client, "c", Some(Provider::Ghl)).await.unwrap();
    // A lead an apply would migrate, had it run.
    seed_phase28_leads(&client, &[("c", Phase28Lead { start_at: Some(t(9, 9)), ghl_appointment_id: Some("g1".into()), ..lead("l1") })])
        .await
        .unwrap();
    let store = db.store().await;
    let mut cases = Vec::new();
    for mode in [Mode::DryRun, Mode::Apply, Mode::Verify, Mode::RepairRollups] {
        cases.push((serde_json::json!({"mode": mode.as_str(), "clientId": "c\u{0}"}), "clientId"));
        cases.push((serde_json::json!({"mode": mode.as_str(), "clientId": "\u{0}"}), "clientId"));
        cases.push((serde_json::json!({"mode": mode.as_str(), "resume": "0190f0c4-7a1e-7b3c-8d2e-1f2a3b4c5d6e\u{0}"}), "resume"));
    }
    for (payload, field) in cases {
        let err = handle(&store, &payload, None).await.unwrap_err();
        assert!(matches!(&err, MigrateError::Input(e) if e.field == field), "{payload}: {err:?}");
        let diagnostic: lambda_runtime::Diagnostic = err.into();
        assert_eq!(diagnostic.error_type, "InvalidInput", "{payload}");
        for database_words in ["22021", "UTF8", "0x00", "byte sequence"] {
            assert!(!diagnostic.error_message.contains(database_words), "{payload}: {}", diagnostic.error_message);
        }
    }
    let written = count(&client, r#"SELECT (SELECT count(*) FROM "AppointmentMigrationRun") + (SELECT count(*) FROM "Appointment")"#).await;
    assert_eq!(written, 0);
}
