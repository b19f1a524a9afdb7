//! The whole delivery on a real PostgreSQL: the story, duplicates, signatures, replay, lookups
//! and answers.

mod common;

use base64::Engine;
use chrono::{TimeDelta, Utc};
use common::*;
use ghl_webhook::answer::Ignored;
use ghl_webhook::signature;
use shared::webhook::Ignored as _;

#[tokio::test]
async fn the_story_in_order_ends_canceled_and_redeliveries_write_nothing() {
    let (_db, client, app) = seeded_app().await;
    let mut answers = Vec::new();
    for name in STORY {
        let a = deliver(&app, name).await;
        assert_eq!(a.status, 200, "{name}: {:?}", a.body);
        answers.push(a.taken().unwrap().to_string());
    }
    assert_eq!(answers, ["recorded"; 4]);
    let s = state(&client).await;
    assert_eq!(
        s[0],
        format!(
            "{LEAD} GHL {APPOINTMENT} CANCELED 2026-03-12 15:00:00 2026-03-12 15:30:00 2026-03-04 08:10:00 deleted in GHL \
             2026-03-01 10:02:11 2026-03-04 08:10:00 WEBHOOK"
        )
    );
    assert!(s.iter().any(|l| l.starts_with(LEAD) && l.contains("canceled") && l.contains("GHL")), "the rollup reads canceled: {s:?}");
    assert!(s.iter().any(|l| l.contains(APPOINTMENT) && l.contains("meeting-canceled")), "a follow-up task: {s:?}");
    // The other workspace's lead with the same contact id was never touched.
    assert!(s.iter().all(|l| !l.starts_with(OTHER_LEAD) || !l.contains("GHL")), "{s:?}");

    // A webhookId seen again (each delivery redelivered, in any order) writes nothing.
    let before = fingerprint(&client).await;
    for name in STORY.iter().rev().chain(STORY.iter()) {
        let a = deliver(&app, name).await;
        assert_eq!((a.status.as_u16(), a.taken()), (200, Some("duplicate")), "{name}: {:?}", a.body);
    }
    assert_eq!(fingerprint(&client).await, before);
    // GHL re-signing a retry with a later timestamp (the same webhookId) writes nothing either.
    for name in STORY {
        let body = fixture(name);
        let later = stamped(&body, sent_at(&body) + TimeDelta::seconds(90));
        assert_eq!(deliver_body(&app, &later).await.status, 200, "{name}");
    }
    assert_eq!(fingerprint(&client).await, before, "a re-signed retry writes nothing");
}

#[tokio::test]
async fn a_delete_reads_canceled_after_one_delivery() {
    let (_db, client, app) = seeded_app().await;
    deliver(&app, STORY[0]).await;
    let a = deliver(&app, "webhook-appointment-delete.json").await;
    assert_eq!(a.taken(), Some("recorded"), "{:?}", a.body);
    let s = state(&client).await;
    assert!(s[0].contains(" CANCELED "), "{s:?}");
    assert!(s.iter().any(|l| l.starts_with(&format!("{LEAD} ")) && l.contains("canceled")), "{s:?}");
    // A delete alone, of an appointment never seen, is recorded canceled too.
    let (_db, client, app) = seeded_app().await;
    assert_eq!(deliver(&app, "webhook-appointment-delete.json").await.taken(), Some("recorded"));
    assert!(state(&client).await[0].contains(" CANCELED "));
}

#[tokio::test]
#[allow(clippy::type_complexity)] // a table reads best inline
async fn bad_signatures_write_nothing() {
    let (_db, client, app) = seeded_app().await;
    let body = fixture(STORY[0]);
    let now = sent_at(&body) + TimeDelta::seconds(1);
    let good = signature::sign(&ghl_key(), &body);
    let forged = signature::sign(&ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]), &body);
    let mut tampered = body.clone();
    let at = tampered.windows(9).position(|w| w == b"2026-03-11").unwrap_or(200);
    tampered[at + 9] = b'2';
    let stale_body = stamped(&body, now - TimeDelta::minutes(6));
    let future_body = stamped(&body, now + TimeDelta::minutes(6));
    let edge_body = stamped(&body, now - TimeDelta::minutes(5));
    let before = fingerprint(&client).await;
    let cases: Vec<(&str, Vec<(&str, String)>, Vec<u8>, u16, &str)> = vec![
        ("missing", vec![], body.clone(), 401, "signature-missing"),
        (
            "legacy RSA header only",
            vec![(signature::LEGACY_HEADER, base64::engine::general_purpose::STANDARD.encode([9u8; 256]))],
            body.clone(),
            401,
            "legacy-signature-refused",
        ),
        ("malformed", vec![(signature::HEADER, "not-base64!".into())], body.clone(), 401, "signature-malformed"),
        ("forged", vec![(signature::HEADER, forged)], body.clone(), 401, "signature-mismatch"),
        ("tampered", vec![(signature::HEADER, good.clone())], tampered, 401, "signature-mismatch"),
        ("stale", vec![(signature::HEADER, signature::sign(&ghl_key(), &stale_body))], stale_body, 401, "timestamp-outside-window"),
        (
            "from the future",
            vec![(signature::HEADER, signature::sign(&ghl_key(), &future_body))],
            future_body,
            401,
            "timestamp-outside-window",
        ),
    ];
    for (name, headers, body, status, problem) in cases {
        let a = post_at(&app, &headers, &body, now).await;
        assert_eq!(a.status, status, "{name}: {:?}", a.body);
        assert_eq!(a.content_type, "application/problem+json", "{name}");
        assert_eq!(a.problem_type(), format!("urn:problem-type:ghl-webhook:{problem}"), "{name}");
        assert_eq!(fingerprint(&client).await, before, "{name} wrote nothing");
    }
    // The edge of the window is inside it.
    let a = post_at(&app, &[(signature::HEADER, signature::sign(&ghl_key(), &edge_body))], &edge_body, now).await;
    assert_eq!(a.taken(), Some("recorded"), "{:?}", a.body);
}

#[tokio::test]
async fn a_signed_body_without_a_timestamp_is_refused() {
    let (_db, client, app) = seeded_app().await;
    let mut v: serde_json::Value = serde_json::from_slice(&fixture(STORY[0])).unwrap();
    v.as_object_mut().unwrap().remove("timestamp");
    let body = serde_json::to_vec(&v).unwrap();
    let before = fingerprint(&client).await;
    let a = post_at(&app, &[(signature::HEADER, signature::sign(&ghl_key(), &body))], &body, Utc::now()).await;
    assert_eq!((a.status.as_u16(), a.problem_type()), (401, "urn:problem-type:ghl-webhook:timestamp-missing"));
    assert_eq!(fingerprint(&client).await, before);
}

#[tokio::test]
async fn unknown_locations_contacts_and_types_are_ignored_and_counted() {
    let (_db, client, app) = seeded_app().await;
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_slice(&fixture(STORY[0])).unwrap();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let before = fingerprint(&client).await;
    let cases: Vec<(Vec<u8>, Ignored)> = vec![
        (edit(&|v| v["locationId"] = "loc_nobody".into()), Ignored::UnknownLocation),
        (edit(&|v| v["appointment"]["contactId"] = "cnt_stranger".into()), Ignored::NoMatchingLead),
        (edit(&|v| v["type"] = "ContactCreate".into()), Ignored::EventType),
        (edit(&|v| v["type"] = "OpportunityStatusUpdate".into()), Ignored::EventType),
    ];
    for (body, why) in &cases {
        let a = deliver_body(&app, body).await;
        assert_eq!((a.status.as_u16(), a.taken(), a.body["reason"].as_str()), (200, Some("ignored"), Some(why.reason())));
    }
    assert_eq!(fingerprint(&client).await, before);
    assert_eq!(app.counters.ignored(Ignored::UnknownLocation), 1);
    assert_eq!(app.counters.ignored(Ignored::NoMatchingLead), 1);
    assert_eq!(app.counters.ignored(Ignored::EventType), 2);
}

#[tokio::test]
async fn times_without_an_offset_are_read_in_the_clients_zone() {
    let (db, client, app) = seeded_app().await;
    let mut v: serde_json::Value = serde_json::from_slice(&fixture(STORY[0])).unwrap();
    v["appointment"]["startTime"] = "2026-03-11 15:00:00".into();
    v["appointment"]["endTime"] = "2026-03-11 15:30:00".into();
    let body = serde_json::to_vec(&v).unwrap();
    assert_eq!(deliver_body(&app, &body).await.taken(), Some("recorded"));
    // The seeded client is in America/New_York: EDT on 2026-03-11.
    assert!(state(&client).await[0].contains("CONFIRMED 2026-03-11 19:00:00 2026-03-11 19:30:00"), "{:?}", state(&client).await);

    // Without a usable zone, such a delivery is ignored (said and counted), never guessed.
    client.execute(r#"UPDATE "Client" SET "timezone" = 'Mars/Olympus' WHERE "id" = $1"#, &[&CLIENT]).await.unwrap();
    // A warm process remembers a found lead (and its zone) for a minute: a new one sees the change.
    let app = common::app(&db).await;
    let a = deliver_body(&app, &body).await;
    assert_eq!(a.body["reason"], "client time zone unknown");
    assert_eq!(app.counters.ignored(Ignored::ClientTimeZoneUnknown), 1);
    // Times with offsets need no zone.
    assert_eq!(deliver(&app, STORY[1]).await.taken(), Some("recorded"));
}

#[tokio::test]
async fn answers_for_bad_input() {
    let (_db, client, app) = seeded_app().await;
    let now = Utc::now();
    let signed = |body: &[u8]| vec![(signature::HEADER, signature::sign(&ghl_key(), body))];
    let huge = vec![b' '; ghl_webhook::MAX_BODY_BYTES + 1];
    let not_json = b"{\"type\": AppointmentCreate".to_vec();
    let wrong_shape = br#"{"type": 7}"#.to_vec();
    let no_appointment = stamped(br#"{"type":"AppointmentCreate","locationId":"loc_Rt5vB2nQ","timestamp":"x"}"#, now);
    let mut bad_time: serde_json::Value = serde_json::from_slice(&stamped(&fixture(STORY[0]), now)).unwrap();
    bad_time["appointment"]["startTime"] = "next tuesday".into();
    let bad_time = serde_json::to_vec(&bad_time).unwrap();
    let before = fingerprint(&client).await;
    for (name, body, status, problem) in [
        ("oversized", huge, 413, "payload-too-large"),
        ("not JSON", not_json, 400, "not-json"),
        ("wrong shape", wrong_shape, 400, "invalid-payload"),
        ("no appointment", no_appointment, 400, "invalid-payload"),
        ("unreadable time", bad_time, 400, "invalid-payload"),
    ] {
        let a = post_at(&app, &signed(&body), &body, now).await;
        assert_eq!((a.status.as_u16(), a.problem_type()), (status, format!("urn:problem-type:ghl-webhook:{problem}").as_str()), "{name}");
        assert_eq!(a.content_type, "application/problem+json", "{name}");
    }
    assert_eq!(fingerprint(&client).await, before);

    // Through the Lambda request conversion: GET is refused, a signed POST at the real clock taken.
    assert_eq!(send(&app, "GET", b"", &[]).await.status, 405);
    let body = stamped(&fixture(STORY[0]), Utc::now());
    let a = send(&app, "POST", &body, &signed(&body)).await;
    assert_eq!(a.taken(), Some("recorded"), "{:?}", a.body);
}

#[tokio::test]
async fn a_database_outage_answers_429_with_retry_after() {
    let settings = shared::testing::unreachable_database();
    let app = ghl_webhook::App::new(shared::Store::new(settings), ghl_key().verifying_key());
    let a = deliver(&app, STORY[0]).await;
    assert_eq!(a.status, 429, "{:?}", a.body);
    assert_eq!(a.retry_after.as_deref(), Some(ghl_webhook::answer::RETRY_AFTER_SECONDS));
    assert_eq!(a.problem_type(), "urn:problem-type:ghl-webhook:database-unavailable");
}
