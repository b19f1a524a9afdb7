//! The test helpers every crate's tests use (`shared::testing`): they must see what they claim to.

mod common;

use std::io::Write;

use common::*;
use shared::testing::{fingerprint, stored_text, LogCapture};
use shared::AppointmentStatus;

#[tokio::test]
async fn fingerprint_moves_with_every_write_and_only_then() {
    let (_db, client, store) = store_with_leads(&["lead_f"]).await;
    let empty = fingerprint(&client).await;
    assert_eq!(fingerprint(&client).await, empty, "reading is not writing");

    let booked = calendly("lead_f", "inv", AppointmentStatus::Confirmed, at(1, 9, 0), at(20, 15, 0));
    store.record(booked.clone()).await.unwrap();
    let after_booking = fingerprint(&client).await;
    assert_ne!(after_booking, empty, "a new appointment");
    store.record(booked).await.unwrap();
    assert_eq!(fingerprint(&client).await, after_booking, "a duplicate writes nothing");

    // A write the write path did not make, on a lead only: seen too.
    client.execute(r#"UPDATE "Lead" SET "updatedAt" = "updatedAt" + interval '1 second'"#, &[]).await.unwrap();
    assert_ne!(fingerprint(&client).await, after_booking, "a lead's update time");
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment""#).await, 1);
}

#[tokio::test]
async fn snapshot_is_the_same_for_the_same_history_whatever_the_ids() {
    let mut snapshots = Vec::new();
    for _ in 0..2 {
        let (_db, client, store) = store_with_leads(&["lead_s"]).await;
        let old = calendly("lead_s", "old", AppointmentStatus::Confirmed, at(1, 9, 0), at(20, 15, 0));
        let mut new = calendly("lead_s", "new", AppointmentStatus::Confirmed, at(2, 9, 0), at(21, 15, 0));
        new.rescheduled_from_key = old.key.clone();
        store.record(old.clone()).await.unwrap();
        store.record(new).await.unwrap();
        let mut canceled = calendly("lead_s", "old", AppointmentStatus::Rescheduled, at(2, 9, 0), at(20, 15, 0));
        canceled.rescheduled_to_key = Some(invitee_uri("new"));
        store.record(canceled).await.unwrap();
        snapshots.push(snapshot(&client, "lead_s").await);
    }
    let (rows, rollup, tasks) = &snapshots[0];
    assert_eq!(snapshots[0], snapshots[1]);
    assert_eq!(rows.len(), 2);
    let new = rows.iter().find(|r| r.key.as_deref() == Some(invitee_uri("new").as_str())).unwrap();
    assert_eq!(new.linked_from.as_deref(), Some(invitee_uri("old").as_str()), "the link as the other row's key");
    assert_eq!(rollup[2].as_deref(), Some("confirmed"));
    assert_eq!(tasks, &vec![(invitee_uri("old"), "meeting-rescheduled".to_string())]);
}

#[tokio::test]
async fn stored_text_reads_every_text_column_of_every_table_but_the_migration_history() {
    let (db, client) = db_with_leads(&["lead_t"]).await;
    client.execute(r#"UPDATE "Lead" SET "email" = 'needle@example.com' WHERE "id" = 'lead_t'"#, &[]).await.unwrap();
    let mut canceled = calendly("lead_t", "inv", AppointmentStatus::Canceled, at(1, 9, 0), at(20, 15, 0));
    canceled.cancel_reason = Some("the words of the reason".into());
    db.store().await.record(canceled).await.unwrap();

    let stored = stored_text(&client).await;
    let at = |table: &str, column: &str| -> Vec<&str> {
        stored.iter().filter(|s| s.table == table && s.column == column).map(|s| s.value.as_str()).collect()
    };
    assert_eq!(at("Lead", "email"), ["needle@example.com"]);
    assert_eq!(at("Appointment", "cancelReason"), ["the words of the reason"]);
    assert_eq!(at("Appointment", "status"), ["CANCELED"], "enums, as text");
    assert_eq!(at("Client", "calendlyWebhookSigningKey"), ["key"]);
    assert!(stored.iter().all(|s| s.table != "refinery_schema_history"));
    assert!(stored.iter().any(|s| s.table == "AppointmentEvent"), "every table");
}

#[test]
fn log_capture_keeps_every_line_written_through_any_clone() {
    let capture = LogCapture::default();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_max_level(tracing::Level::TRACE).with_writer(capture.clone()).finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(lead_id = "lead_1", "first line");
        tracing::trace!("second line");
    });
    let mut other = capture.clone();
    other.write_all(b"third line\n").unwrap();
    let text = capture.text();
    assert!(text.contains("first line") && text.contains("lead_1"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().nth(1).unwrap().contains("TRACE") && text.ends_with("third line\n"), "{text}");
}

#[tokio::test]
async fn keys_held_twice_counts_second_holders_of_a_key_only() {
    let (_db, client, store) = store_with_leads(&["lead_k"]).await;
    store.record(calendly("lead_k", "a", AppointmentStatus::Confirmed, at(1, 9, 0), at(20, 15, 0))).await.unwrap();
    store.record(ghl("lead_k", "ghl_1", AppointmentStatus::Confirmed, at(1, 9, 0), at(1, 9, 0), at(21, 15, 0))).await.unwrap();
    let mut keyless = ghl("lead_k", "unused", AppointmentStatus::Confirmed, at(1, 9, 0), at(1, 9, 0), at(22, 15, 0));
    keyless.key = None;
    store.record(keyless).await.unwrap();
    assert_eq!(keys_held_twice(&client, "lead_k").await, 0, "three rows, two keys, one without");

    // Only a database without the unique index can hold a key twice.
    client.batch_execute(r#"DROP INDEX "Appointment_ghlAppointmentId_key""#).await.unwrap();
    client
        .execute(
            r#"INSERT INTO "Appointment" ("id", "leadId", "provider", "ghlAppointmentId", "status", "source", "statusChangedAt", "updatedAt")
               SELECT 'copy', "leadId", "provider", "ghlAppointmentId", "status", "source", now(), now() FROM "Appointment"
                WHERE "ghlAppointmentId" = 'ghl_1'"#,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(keys_held_twice(&client, "lead_k").await, 1);
    assert_eq!(keys_held_twice(&client, "another_lead").await, 0);
}

#[test]
fn http_api_event_carries_text_as_is_and_other_bodies_base64() {
    let headers = [("user-agent", "Calendly-Webhooks".to_string()), ("x-ghl-signature", "c2ln".to_string())];
    let text = shared::testing::http_api_event("POST /webhooks/ghl", "POST", "/webhooks/ghl", &headers, br#"{"a":1}"#);
    assert_eq!((text["body"].as_str(), text["isBase64Encoded"].as_bool()), (Some(r#"{"a":1}"#), Some(false)));
    assert_eq!(text["headers"]["x-ghl-signature"], "c2ln");
    assert_eq!(text["requestContext"]["http"]["userAgent"], "Calendly-Webhooks");
    assert_eq!((text["routeKey"].as_str(), text["requestContext"]["http"]["method"].as_str()), (Some("POST /webhooks/ghl"), Some("POST")));

    let binary = shared::testing::http_api_event("POST /webhooks/ghl", "GET", "/webhooks/ghl", &[], &[0xff, 0x00, 0x41]);
    assert_eq!((binary["body"].as_str(), binary["isBase64Encoded"].as_bool()), (Some("/wBB"), Some(true)));
    assert_eq!(binary["requestContext"]["http"]["method"], "GET");
}
