//! The function end to end on a real PostgreSQL: API Gateway v2 events in, answers and rows out.

mod common;

use std::time::Duration;

use calendly_webhook::{signature, App, SigningKeys};
use common::*;

const PROBLEM: &str = "urn:problem-type:calendly-webhook:";

/// Every webhook fixture through the handler, in an order a real client could see them, with
/// the answer and what the database holds after each.
#[tokio::test]
async fn every_fixture_through_the_handler() {
    let (_db, client, app) = seeded_app().await;

    // Not recorded: a routing form, and a no-show for an invitee nobody has booked yet (the client
    // has no Calendly token to look it up with: tests/no_show_lookup.rs has those that do).
    for (name, reason) in [
        ("routing-form-submission.json", "event type not recorded"),
        ("invitee-no-show-created.json", "unknown invitee; no Calendly token to look it up"),
    ] {
        let before = fingerprint(&client).await;
        let a = deliver(&app, name).await;
        assert_eq!((a.status.as_u16(), a.taken(), a.body["reason"].as_str()), (200, Some("ignored"), Some(reason)), "{name}");
        assert_eq!(fingerprint(&client).await, before, "{name} writes nothing");
    }

    // Dana books (matched by email, case-insensitively); the same delivery again is a duplicate.
    let a = deliver(&app, "invitee-created.json").await;
    assert_eq!((a.status.as_u16(), a.taken()), (200, Some("recorded")));
    let appointment_id = a.body["appointmentId"].as_str().unwrap().to_string();
    let before = fingerprint(&client).await;
    let again = deliver(&app, "invitee-created.json").await;
    assert_eq!((again.taken(), again.body["appointmentId"].as_str()), (Some("duplicate"), Some(appointment_id.as_str())));
    assert_eq!(fingerprint(&client).await, before);
    let s = state(&client).await;
    let dana = s.row(OLD);
    assert_eq!((dana.lead.as_str(), dana.status.as_str(), dana.source.as_str()), (DANA, "CONFIRMED", "WEBHOOK"));
    assert_eq!((dana.start, dana.end), (ts("2026-03-10 17:00:00"), ts("2026-03-10 17:30:00")));
    assert_eq!(dana.timezone.as_deref(), Some("America/Los_Angeles"));
    assert_eq!(dana.event_uri.as_deref(), Some("https://api.calendly.com/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40"));
    assert_eq!(dana.provider_updated_at, ts("2026-03-02 15:04:05.812"));

    // Sam joins the same group event from a CRM link: his own appointment, on the lead the link
    // names, although another lead with his email was updated more recently.
    let a = deliver(&app, "invitee-created-group-second.json").await;
    assert_eq!(a.taken(), Some("recorded"));
    let s = state(&client).await;
    assert_eq!(s.rows.len(), 2, "group event: one appointment per invitee");
    assert_eq!(s.row(SAM_INVITEE).lead, SAM_HINTED);
    assert_eq!(s.row(SAM_INVITEE).event_uri, s.row(OLD).event_uri);

    // No-show, its redelivery, and its removal.
    let a = deliver(&app, "invitee-no-show-created.json").await;
    assert_eq!(a.taken(), Some("recorded"));
    assert_eq!(a.body["appointmentId"].as_str(), Some(appointment_id.as_str()));
    assert_eq!(state(&client).await.row(OLD).status, "NO_SHOW");
    assert_eq!(deliver(&app, "invitee-no-show-created.json").await.taken(), Some("duplicate"));
    let a = deliver(&app, "invitee-no-show-deleted.json").await;
    assert_eq!(a.taken(), Some("recorded"));
    assert_eq!(state(&client).await.row(OLD).status, "CONFIRMED");
    assert_eq!(deliver(&app, "invitee-no-show-deleted.json").await.taken(), Some("duplicate"));

    // Another week: the host cancels Dana's booking (on a fresh database, since the no-show
    // above happened after the meeting, which a cancel days before it cannot follow).
    let (_db, client, app) = seeded_app().await;
    assert_eq!(deliver(&app, "invitee-created.json").await.taken(), Some("recorded"));
    assert_eq!(deliver(&app, "invitee-created-group-second.json").await.taken(), Some("recorded"));
    // The host cancels: canceler type only, the reason masked, one urgent task.
    let a = deliver(&app, "invitee-canceled-by-host.json").await;
    assert_eq!(a.taken(), Some("recorded"));
    assert_eq!(deliver(&app, "invitee-canceled-by-host.json").await.taken(), Some("duplicate"));
    let s = state(&client).await;
    let dana = s.row(OLD);
    assert_eq!(dana.status, "CANCELED");
    assert_eq!(dana.canceled_by.as_deref(), Some("host"));
    assert_eq!(dana.canceled_at, ts("2026-03-05 11:20:01.733"));
    assert_eq!(dana.reason.as_deref(), Some("Prospect asked us to call [phone] instead; cancelling the slot."));
    assert_eq!(s.tasks, vec![(DANA.to_string(), Some(OLD.to_string()), "meeting-canceled".to_string(), true, "pending".to_string())]);
    let dana_rollup = s.rollups.iter().find(|r| r[0].as_deref() == Some(DANA)).unwrap();
    assert_eq!(dana_rollup[3].as_deref(), Some("canceled"));
    let sam_rollup = s.rollups.iter().find(|r| r[0].as_deref() == Some(SAM_HINTED)).unwrap();
    assert_eq!(
        (sam_rollup[3].as_deref(), sam_rollup[5].as_deref(), sam_rollup[6].as_deref()),
        (Some("confirmed"), Some("CALENDLY"), Some("webhook"))
    );

    // A client with no matching lead: taken, ignored, nothing written.
    let before = fingerprint(&client).await;
    let body = fixture("invitee-created-after-reschedule.json");
    let a = post(&app, EMPTY_CLIENT, &body, Some(signed("whsec-empty", &body))).await;
    assert_eq!((a.status.as_u16(), a.taken(), a.body["reason"].as_str()), (200, Some("ignored"), Some("no matching lead")));
    // A no-show signed by another client never touches this client's appointment.
    let body = fixture("invitee-no-show-created.json");
    let a = post(&app, EMPTY_CLIENT, &body, Some(signed("whsec-empty", &body))).await;
    assert_eq!(a.body["reason"].as_str(), Some("unknown invitee; no Calendly token to look it up"));
    assert_eq!(fingerprint(&client).await, before);
}

/// The reschedule story in every order, every delivery twice, then all again: the same rows,
/// links, rollups and tasks each time.
#[tokio::test]
async fn reschedule_story_in_all_six_orders_with_duplicates() {
    let story = ["invitee-created.json", "invitee-canceled-rescheduled.json", "invitee-created-after-reschedule.json"];
    let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let mut finals: Vec<State> = Vec::new();
    for order in orders {
        let (_db, client, app) = seeded_app().await;
        for &i in &order {
            let first = deliver(&app, story[i]).await;
            assert_eq!(first.status, 200, "{order:?} {}", story[i]);
            assert!(matches!(first.taken(), Some("recorded" | "duplicate")), "{order:?} {}: {:?}", story[i], first.body);
            let before = fingerprint(&client).await;
            let again = deliver(&app, story[i]).await;
            assert_eq!(again.taken(), Some("duplicate"), "{order:?} {} redelivered", story[i]);
            assert_eq!(again.body["appointmentId"], first.body["appointmentId"]);
            assert_eq!(fingerprint(&client).await, before, "{order:?} {}: a duplicate writes nothing", story[i]);
        }
        let before = fingerprint(&client).await;
        for name in story {
            assert_eq!(deliver(&app, name).await.taken(), Some("duplicate"), "{order:?} {name} at the end");
        }
        assert_eq!(fingerprint(&client).await, before);

        let s = state(&client).await;
        let old = s.row(OLD);
        let new = s.row(NEW);
        assert_eq!((old.lead.as_str(), new.lead.as_str()), (DANA, DANA), "{order:?}");
        assert_eq!(old.status, "RESCHEDULED", "{order:?}");
        assert_eq!(old.canceled_by.as_deref(), Some("invitee"), "{order:?}");
        assert_eq!(old.canceled_at, ts("2026-03-04 09:12:43.249"), "{order:?}");
        assert_eq!(old.reason.as_deref(), Some("Travelling that day, moving to Thursday. Reach me at [email]"), "{order:?}");
        assert_eq!(old.to_key.as_deref(), Some(NEW), "{order:?}");
        assert_eq!(new.status, "CONFIRMED", "{order:?}");
        assert_eq!(new.linked_from.as_deref(), Some(OLD), "{order:?}: the new booking links to the old");
        assert_eq!(new.from_key.as_deref(), Some(OLD), "{order:?}");
        assert_eq!(old.linked_from, None, "{order:?}");
        let rollup = s.rollups.iter().find(|r| r[0].as_deref() == Some(DANA)).unwrap();
        assert_eq!(rollup[1].as_deref(), Some("2026-03-12 16:00:00"), "{order:?}: the new booking is the primary");
        assert_eq!(rollup[3].as_deref(), Some("confirmed"), "{order:?}");
        assert_eq!(
            s.tasks,
            vec![(DANA.to_string(), Some(OLD.to_string()), "meeting-rescheduled".to_string(), true, "pending".to_string())]
        );
        finals.push(s);
    }
    for (order, s) in orders.iter().zip(&finals).skip(1) {
        assert_eq!(s, &finals[0], "{order:?} ends like {:?}", orders[0]);
    }
}

/// Signatures through the handler: only the good one is recorded; nothing else writes.
#[tokio::test]
async fn signatures() {
    let (_db, client, app) = seeded_app().await;
    let body = fixture("invitee-created.json");
    let now = chrono::Utc::now().timestamp();
    let mut tampered = body.clone();
    let at = tampered.windows(4).position(|w| w == b"17:0").unwrap();
    tampered[at + 1] = b'8'; // the start time moves an hour: a forged reschedule
    let cases: Vec<(&str, &[u8], Option<String>, &str)> = vec![
        ("wrong key", &body, Some(signed("whsec-someone-else", &body)), "signature-mismatch"),
        ("tampered body", &tampered, Some(signed(KEY, &body)), "signature-mismatch"),
        ("stale", &body, Some(signature::header_value(KEY.as_bytes(), now - 181, &body)), "signature-outside-window"),
        ("future", &body, Some(signature::header_value(KEY.as_bytes(), now + 181, &body)), "signature-outside-window"),
        ("missing header", &body, None, "signature-missing"),
        ("garbage header", &body, Some("t=abc,v1=nothex".into()), "signature-malformed"),
        ("empty header", &body, Some(String::new()), "signature-malformed"),
        ("signature of the re-serialized JSON", &body, Some(signed(KEY, &reserialized(&body))), "signature-mismatch"),
    ];
    let before = fingerprint(&client).await;
    for (name, payload, header, problem) in cases {
        let a = post(&app, CLIENT, payload, header).await;
        assert_eq!(a.status, 401, "{name}");
        assert_eq!(a.content_type, "application/problem+json", "{name}");
        assert_eq!(a.problem_type(), format!("{PROBLEM}{problem}"), "{name}");
        assert_eq!(fingerprint(&client).await, before, "{name} writes nothing");
    }
    let edge = post(&app, CLIENT, &body, Some(signature::header_value(KEY.as_bytes(), now - 170, &body))).await;
    assert_eq!(edge.taken(), Some("recorded"), "inside the window");
}

fn reserialized(body: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(body).unwrap()).unwrap()
}

/// The table of refusals: status, problem type, nothing written, nothing echoed.
#[tokio::test]
#[allow(clippy::type_complexity)] // a table reads best inline
async fn refusals() {
    let (_db, client, app) = seeded_app().await;
    let good = fixture("invitee-created.json");
    let big = {
        let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
        v["payload"]["questions_and_answers"][0]["answer"] = "x".repeat(1024 * 1024).into();
        serde_json::to_vec(&v).unwrap()
    };
    let not_json = b"event=invitee.created&email=dana.whitfield@example.com".to_vec();
    let wrong_shape =
        br#"{"event":"invitee.created","created_at":"2026-03-02T15:04:07Z","payload":{"email":"dana.whitfield@example.com"}}"#.to_vec();
    let bad_uri = String::from_utf8(good.clone())
        .unwrap()
        .replace("\"uri\": \"https://api.calendly.com/scheduled_events/3c9e", "\"uri\": \"ftp://x/3c9e")
        .into_bytes();
    let ends_before =
        String::from_utf8(good.clone()).unwrap().replace("2026-03-10T17:30:00.000000Z", "2026-03-10T16:30:00.000000Z").into_bytes();
    let cases: Vec<(&str, &str, &[u8], Option<String>, u16, &str)> = vec![
        ("over 1 MiB, even signed", CLIENT, &big, Some(signed(KEY, &big)), 413, "payload-too-large"),
        ("over 1 MiB, unknown client", "client_nobody", &big, None, 413, "payload-too-large"),
        ("unknown client", "client_nobody", &good, Some(signed(KEY, &good)), 404, "unknown-client"),
        ("client without a signing key", KEYLESS_CLIENT, &good, Some(signed(KEY, &good)), 401, "signing-key-not-configured"),
        ("not JSON", CLIENT, &not_json, Some(signed(KEY, &not_json)), 400, "not-json"),
        ("wrong shape", CLIENT, &wrong_shape, Some(signed(KEY, &wrong_shape)), 400, "invalid-payload"),
        ("invitee uri not https", CLIENT, &bad_uri, Some(signed(KEY, &bad_uri)), 400, "invalid-payload"),
        ("ends before it starts", CLIENT, &ends_before, Some(signed(KEY, &ends_before)), 400, "invalid-payload"),
    ];
    assert!(bad_uri != good && ends_before != good);
    let before = fingerprint(&client).await;
    for (name, client_id, body, header, status, problem) in cases {
        let a = post(&app, client_id, body, header).await;
        assert_eq!(a.status, status, "{name}: {:?}", a.body);
        assert_eq!(a.content_type, "application/problem+json", "{name}");
        assert_eq!(a.problem_type(), format!("{PROBLEM}{problem}"), "{name}");
        assert_eq!(a.body["status"], status, "{name}");
        let text = a.body.to_string();
        for echoed in ["dana", "Dana", "example.com", "ftp://", "16:30"] {
            assert!(!text.contains(echoed), "{name}: the answer echoes {echoed}: {text}");
        }
        assert_eq!(fingerprint(&client).await, before, "{name} writes nothing");
    }

    // Method and path, through the event's own routing fields.
    let event = apigw_event(&format!("/webhooks/calendly/{CLIENT}"), "GET", b"", &[]);
    let a = send(&app, &event).await;
    assert_eq!((a.status.as_u16(), a.problem_type()), (405, format!("{PROBLEM}method-not-allowed").as_str()));
    let event = apigw_event("/webhooks/calendly/", "POST", &good, &[("calendly-webhook-signature", signed(KEY, &good))]);
    assert_eq!(send(&app, &event).await.status, 404);
    // cargo-lambda's function URL path reaches the same client.
    let event = apigw_event(
        &format!("/lambda-url/calendly-webhook/webhooks/calendly/{CLIENT}"),
        "POST",
        &good,
        &[("calendly-webhook-signature", signed(KEY, &good))],
    );
    assert_eq!(send(&app, &event).await.taken(), Some("recorded"));
}

/// The key is cached briefly: steady state costs only the write path's two round trips, and a
/// rotated key takes effect once the entry expires.
#[tokio::test]
async fn signing_key_cache_and_rotation() {
    let (db, client) = seeded().await;
    let app = App::with_keys(db.store().await, SigningKeys::new(Duration::from_millis(300)));
    let created = fixture("invitee-created.json");
    let second = fixture("invitee-created-group-second.json");
    assert_eq!(post(&app, CLIENT, &created, Some(signed(KEY, &created))).await.taken(), Some("recorded"));

    let rt = app.store.round_trips();
    assert_eq!(post(&app, CLIENT, &created, Some(signed(KEY, &created))).await.taken(), Some("duplicate"));
    assert_eq!(app.store.round_trips() - rt, 2, "a warm delivery: the write path's two round trips, no key lookup");

    client.execute(r#"UPDATE "Client" SET "calendlyWebhookSigningKey" = 'whsec-rotated' WHERE "id" = $1"#, &[&CLIENT]).await.unwrap();
    // Within the cache's life the old key still holds.
    assert_eq!(post(&app, CLIENT, &second, Some(signed("whsec-rotated", &second))).await.status, 401);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(post(&app, CLIENT, &second, Some(signed(KEY, &second))).await.status, 401, "the old key is gone");
    assert_eq!(post(&app, CLIENT, &second, Some(signed("whsec-rotated", &second))).await.taken(), Some("recorded"));

    // Removing the key refuses deliveries once the entry expires.
    client.execute(r#"UPDATE "Client" SET "calendlyWebhookSigningKey" = NULL WHERE "id" = $1"#, &[&CLIENT]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let a = post(&app, CLIENT, &second, Some(signed("whsec-rotated", &second))).await;
    assert_eq!(a.problem_type(), format!("{PROBLEM}signing-key-not-configured"));
}

/// No database: 503 (Calendly retries), whether it is away at the first request or goes away
/// between a warm request and the next.
#[tokio::test]
async fn database_unavailable_is_503() {
    // Nothing listens on this port.
    let dead = shared::testing::unreachable_database();
    let app = App::new(shared::Store::new(dead));
    let body = fixture("invitee-created.json");
    let a = post(&app, CLIENT, &body, Some(signed(KEY, &body))).await;
    assert_eq!((a.status.as_u16(), a.problem_type()), (503, format!("{PROBLEM}database-unavailable").as_str()));

    // Through a proxy that is cut after the key has been cached: the write itself fails.
    let (db, client) = seeded().await;
    let proxy = proxy::Proxy::start(&db.url).await;
    let app = App::new(shared::Store::new(shared::DbSettings::from_url(&proxy.url).unwrap()));
    assert_eq!(post(&app, CLIENT, &body, Some(signed(KEY, &body))).await.taken(), Some("recorded"));
    let before = fingerprint(&client).await;
    proxy.cut();
    let next = fixture("invitee-canceled-by-host.json");
    let a = post(&app, CLIENT, &next, Some(signed(KEY, &next))).await;
    assert_eq!((a.status.as_u16(), a.problem_type()), (503, format!("{PROBLEM}database-unavailable").as_str()));
    assert_eq!(fingerprint(&client).await, before);
}

mod proxy {
    //! A TCP proxy to the test database that can be cut, to take the database away mid-life.
    use std::sync::{Arc, Mutex};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    pub struct Proxy {
        pub url: String,
        tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    }

    impl Proxy {
        pub async fn start(db_url: &str) -> Proxy {
            let (authority_start, rest) = db_url.split_once('@').unwrap();
            let (upstream, path) = rest.split_once('/').unwrap();
            let upstream = upstream.to_string();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("{authority_start}@{}/{path}", listener.local_addr().unwrap());
            let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
            let registry = tasks.clone();
            let accept = tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let upstream = upstream.clone();
                    let conn = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    registry.lock().unwrap().push(conn);
                }
            });
            tasks.lock().unwrap().push(accept);
            Proxy { url, tasks }
        }

        /// Stops accepting and drops every open connection.
        pub fn cut(&self) {
            for t in self.tasks.lock().unwrap().drain(..) {
                t.abort();
            }
        }
    }
}

/// The sample events in `events/calendly-webhook/` are valid API Gateway v2 events for the demo
/// client; re-signed for now (what `--example sign-event` does) they are taken, unsigned refused.
#[tokio::test]
async fn sample_events_are_valid() {
    let (db, client) = seeded().await;
    shared::testing::seed_client(&client, "client_demo", Some("dev-calendly-signing-key-0123456789abcdef")).await.unwrap();
    shared::testing::seed_lead(&client, "client_demo", "lead_dana_demo", Some("dana.whitfield@example.com")).await.unwrap();
    let app = app(&db).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/calendly-webhook");
    let expected = [
        ("routing-form-submission.json", 200, "ignored"),
        ("invitee-created.json", 200, "recorded"),
        ("invitee-created-after-reschedule.json", 200, "recorded"),
        ("invitee-canceled-rescheduled.json", 200, "recorded"),
        ("invitee-canceled-by-host.json", 200, "recorded"),
        // On a canceled invitee a no-show changes no status, only the provider time it holds.
        ("invitee-no-show-created.json", 200, "recorded"),
        ("invitee-no-show-deleted.json", 200, "recorded"),
        // Sam's lead is not in the demo workspace of this test.
        ("invitee-created-group-second.json", 200, "ignored"),
        ("unsigned.json", 401, ""),
    ];
    let mut files: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    let mut listed: Vec<String> = expected.iter().map(|e| e.0.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "every sample event is checked");
    for (name, status, taken) in expected {
        let mut event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{name}")).unwrap()).unwrap();
        if event["headers"].get(signature::HEADER).is_some() {
            let body = event["body"].as_str().unwrap().to_string();
            event["headers"][signature::HEADER] = signed("dev-calendly-signing-key-0123456789abcdef", body.as_bytes()).into();
        }
        let a = send(&app, &event.to_string()).await;
        assert_eq!(a.status, status, "{name}: {:?}", a.body);
        if status == 200 {
            assert_eq!(a.taken(), Some(taken), "{name}: {:?}", a.body);
        }
    }
}
