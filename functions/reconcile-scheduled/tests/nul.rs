//! A NUL character (U+0000), which PostgreSQL refuses in text, in an operator's request or in a
//! provider's answer: a clean error that names no database message and writes nothing, or the
//! free text recorded without it.

mod common;

use chrono::Utc;
use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WRITTEN: &str = r#"SELECT (SELECT count(*) FROM "Appointment") + (SELECT count(*) FROM "AppointmentEvent")
     + (SELECT count(*) FROM "FollowUpTask") + (SELECT count(*) FROM "Lead" WHERE "appointmentLastCheckedAt" IS NOT NULL)"#;

const EVENT: &str = "/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40";

#[tokio::test]
async fn operator_ids_with_nul_are_invalid_input() {
    let (db, client) = database().await;
    calendly_client(&client, "client_1").await;
    calendly_lead(&client, "client_1", "lead_1", EMAIL).await;
    // No provider behind this address: nothing may get as far as asking one.
    let reconciler = reconciler(&db, "http://127.0.0.1:9", test_config());
    let payloads = [
        json!({"mode": "backfill", "clientId": "client_1\u{0}"}),
        json!({"mode": "backfill", "clientId": "\u{0}"}),
        json!({"mode": "backfill", "clientId": "client_1", "cursor": "lead_0\u{0}"}),
    ];
    for payload in payloads {
        let err = reconciler.handle(payload.clone(), deadline()).await.unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput", "{payload}: {err}");
        let message = err.to_string();
        assert!(message.contains("NUL"), "{message}");
        for database_words in ["22021", "UTF8", "0x00", "byte sequence"] {
            assert!(!message.contains(database_words), "{payload}: {message}");
        }
    }
    assert_eq!(count(&client, WRITTEN).await, 0);
}

/// One scheduled event with Dana's canceled invitee, edited.
async fn calendly_answering(edit: impl FnOnce(&mut Value)) -> MockServer {
    let server = MockServer::start().await;
    let events = fixture("calendly/api-list-scheduled-events.json");
    Mock::given(method("GET"))
        .and(path("/scheduled_events"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "collection": [events["collection"][0].clone()], "pagination": {"count": 1, "next_page_token": null}
        })))
        .mount(&server)
        .await;
    let mut invitees = fixture("calendly/api-list-event-invitees-canceled.json");
    edit(&mut invitees["collection"][0]);
    let text = serde_json::to_string(&invitees).unwrap();
    assert!(text.contains(r"\u0000"), "the answer carries an escaped NUL");
    Mock::given(method("GET"))
        .and(path(format!("{EVENT}/invitees")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(text, "application/json"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn provider_free_text_with_nul_is_recorded_without_it() {
    let (db, client) = database().await;
    one_calendly_lead(&client).await;
    let server = calendly_answering(|invitee| {
        invitee["cancellation"]["reason"] = "Travelling\u{0} that day. Reach me at dana.whitfield@example.com\u{0}".into();
        invitee["timezone"] = "America/\u{0}Los_Angeles".into();
    })
    .await;

    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.created, summary.failed), (1, 1, 0), "{summary:?}");
    let row = client.query_one(r#"SELECT "cancelReason", "timezone", "status"::text FROM "Appointment""#, &[]).await.unwrap();
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("Travelling that day. Reach me at [email]"));
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("America/Los_Angeles"));
    assert_eq!(row.get::<_, String>(2), "RESCHEDULED");
}

#[tokio::test]
async fn a_provider_key_with_nul_fails_the_lead_cleanly() {
    let (db, client) = database().await;
    one_calendly_lead(&client).await;
    let server = calendly_answering(|invitee| {
        let uri = invitee["uri"].as_str().unwrap().to_string();
        invitee["uri"] = format!("{uri}\u{0}").into();
    })
    .await;

    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    // The lead is not marked checked: it comes back next run, and nothing was written.
    assert_eq!((summary.leads_checked, summary.created, summary.failed), (0, 0, 1), "{summary:?}");
    assert_eq!(summary.failed_lead_ids, ["lead_dana"]);
    assert_eq!(count(&client, WRITTEN).await, 0);
}
