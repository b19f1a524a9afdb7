//! A no-show delivered before its invitee's booking: the invitee is read from Calendly's API (a
//! wiremock server fed the API fixtures) and recorded, or the delivery is answered so that Calendly
//! retries exactly when a retry can help.

mod common;

use std::time::Duration;

use calendly_webhook::{invitee_lookup, App};
use common::*;
use serde_json::Value;
use shared::providers::{Endpoints, ProviderHttp, Quotas};
use shared::testing::TestDb;
use tokio_postgres::Client;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "pat-acme-calendly-0123456789";
const ORG: &str = "https://api.calendly.com/organizations/2f1e0d9c-8b7a-4c6d-9e5f-4a3b2c1d0e9f";
use shared::testing::fixture_ids::calendly::{NEW_EVENT as NEW_EVENT_ID, NEW_INVITEE as NEW_INVITEE_ID};
/// When the host marked the new booking (12 March, 16:00) a no-show, and when Calendly delivered it.
const MARKED_AT: &str = "2026-03-12T16:40:11.250000Z";
const DELIVERED_AT: &str = "2026-03-12T16:40:12.000000Z";

fn api_fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture(&format!("api/{name}"))).unwrap()
}

/// `GET /scheduled_events/{event}/invitees/{invitee}` as Calendly answers it for Dana's new booking
/// once the host marked her a no-show (`marked`), or before (`None`).
fn invitee_resource(marked: Option<&str>) -> Value {
    let mut invitee = api_fixture("api-list-event-invitees.json")["collection"][0].clone();
    assert_eq!(invitee["uri"], NEW);
    invitee["no_show"] = match marked {
        Some(at) => {
            serde_json::json!({"uri": "https://api.calendly.com/invitee_no_shows/5e8a2c7d-9f1b-4a36-b7e0-c4d2f9a1e853", "created_at": at})
        }
        None => Value::Null,
    };
    serde_json::json!({ "resource": invitee })
}

/// `GET /scheduled_events/{event}` for it.
fn event_resource() -> Value {
    let events = api_fixture("api-list-scheduled-events.json");
    let event = events["collection"].as_array().unwrap().iter().find(|e| e["uri"].as_str().unwrap().ends_with(NEW_EVENT_ID)).unwrap();
    serde_json::json!({ "resource": event })
}

/// The no-show delivery (`invitee-no-show-created.json` or `-deleted.json`) for Dana's new booking.
fn no_show_of_new(name: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&fixture(name)).unwrap();
    body["created_at"] = DELIVERED_AT.into();
    body["payload"]["created_at"] = MARKED_AT.into();
    body["payload"]["invitee"] = NEW.into();
    serde_json::to_vec(&body).unwrap()
}

async fn send_signed(app: &App, body: &[u8]) -> Answer {
    post(app, CLIENT, body, Some(signed(KEY, body))).await
}

async fn give_token(db: &Client) {
    db.execute(
        r#"UPDATE "Client" SET "calendlyAccessToken" = $2, "calendlyOrganizationUri" = $3 WHERE "id" = $1"#,
        &[&CLIENT, &TOKEN, &ORG],
    )
    .await
    .unwrap();
}

/// The seeded database, the client holding a Calendly token, and the function asking `server`.
async fn with_api(server: &MockServer) -> (TestDb, Client, App) {
    trace_logs();
    let (db, client) = seeded().await;
    give_token(&client).await;
    let app = app(&db).await.with_calendly(api(server));
    (db, client, app)
}

fn api(server: &MockServer) -> shared::providers::calendly::CalendlyClient {
    let endpoints = Endpoints::new(&server.uri(), &server.uri()).unwrap();
    ProviderHttp::new(endpoints, invitee_lookup::http_settings(Duration::from_millis(500)), Quotas::default()).unwrap().calendly()
}

/// Calendly's API answering the invitee with `invitee` and its event with the fixture.
async fn serve(server: &MockServer, invitee: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/scheduled_events/{NEW_EVENT_ID}/invitees/{NEW_INVITEE_ID}")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(invitee)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/scheduled_events/{NEW_EVENT_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(event_resource()))
        .mount(server)
        .await;
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

fn reason_of(a: &Answer) -> (u16, Option<&str>, Option<&str>) {
    (a.status.as_u16(), a.taken(), a.body["reason"].as_str())
}

/// Before its booking's delivery, a no-show is recorded from the API, as the in-order story would
/// have it; the booking's own delivery (older) then changes nothing. The same holds for a no-show
/// removed before the booking arrived (the API shows no mark).
#[tokio::test]
async fn a_no_show_before_its_booking_is_read_from_the_api_and_recorded() {
    for (delivery, marked, status) in
        [("invitee-no-show-created.json", Some(MARKED_AT), "NO_SHOW"), ("invitee-no-show-deleted.json", None, "CONFIRMED")]
    {
        let server = MockServer::start().await;
        serve(&server, ResponseTemplate::new(200).set_body_json(invitee_resource(marked))).await;
        let (_db, client, app) = with_api(&server).await;

        let a = send_signed(&app, &no_show_of_new(delivery)).await;
        assert_eq!((a.status.as_u16(), a.taken()), (200, Some("recorded")), "{delivery}: {:?}", a.body);
        let s = state(&client).await;
        assert_eq!(s.rows.len(), 1, "{delivery}");
        let row = s.row(NEW);
        assert_eq!((row.lead.as_str(), row.status.as_str(), row.source.as_str()), (DANA, status, "WEBHOOK"), "{delivery}");
        assert_eq!(row.start, ts("2026-03-12 16:00:00"), "the times are the scheduled event's");
        assert_eq!(row.from_key.as_deref(), Some(OLD), "the reschedule link is the API's");
        assert_eq!(row.provider_updated_at, ts("2026-03-12 16:40:12"), "at least as new as the delivery");

        // The booking's delivery, late: older than what the API showed, it undoes nothing.
        let a = deliver(&app, "invitee-created-after-reschedule.json").await;
        assert_eq!(a.status.as_u16(), 200, "{delivery}");
        let after = state(&client).await;
        assert_eq!(after.row(NEW).status, status, "{delivery}: the late booking does not undo the API's state");

        // In order, once: the booking, then the no-show. The same database, but for when it changed.
        let (_db2, in_order_db, in_order) = seeded_app().await;
        deliver(&in_order, "invitee-created-after-reschedule.json").await;
        send_signed(&in_order, &no_show_of_new(delivery)).await;
        let mut expected = state(&in_order_db).await;
        let mut actual = after;
        for s in [&mut expected, &mut actual] {
            s.rows.iter_mut().for_each(|r| r.status_changed_at = chrono::NaiveDateTime::default());
        }
        assert_eq!(actual, expected, "{delivery}: as in-order delivery");
        assert_eq!(requests(&server).await, 2, "one read of the invitee, one of its event");
    }
}

/// What the API answers decides whether Calendly is asked to retry: only when a retry can help.
#[tokio::test]
async fn the_answer_follows_what_the_api_said() {
    let json = |status: u16, body: Value| ResponseTemplate::new(status).set_body_json(body);
    let refused = Some("unknown invitee; Calendly refused the client's token");
    // (case, the invitee's answer, the reason of the 200 `ignored` or `None` for a 503, requests
    // the API received: a 401 and a 404 are not retried, a 5xx once).
    #[allow(clippy::type_complexity)] // a table reads best inline
    let cases: [(&str, ResponseTemplate, Option<&str>, std::ops::RangeInclusive<usize>); 7] = [
        (
            "404",
            json(404, serde_json::json!({"title": "Resource Not Found", "message": "The server could not find the requested resource."})),
            Some("unknown invitee"),
            1..=1,
        ),
        ("401", json(401, serde_json::json!({"title": "Unauthenticated", "message": "The access token is invalid"})), refused, 1..=1),
        ("403", json(403, serde_json::json!({"title": "Permission Denied", "message": "You do not have permission"})), refused, 1..=1),
        ("503", json(503, serde_json::json!({"title": "Service Unavailable"})), None, 2..=2),
        ("429", json(429, api_fixture("api-429-body.json")).insert_header("x-ratelimit-reset", "30"), None, 1..=1),
        // The budget may cut the retry before or after it is sent.
        ("hanging past the budget", json(200, invitee_resource(Some(MARKED_AT))).set_delay(Duration::from_secs(3)), None, 1..=2),
        (
            "not JSON",
            ResponseTemplate::new(200).set_body_string("<html>"),
            Some("unknown invitee; Calendly's answer about it is unusable"),
            1..=1,
        ),
    ];
    for (name, invitee, ignored, expected_requests) in cases {
        let server = MockServer::start().await;
        serve(&server, invitee).await;
        let (_db, client, mut app) = with_api(&server).await;
        app.lookup_budget = Duration::from_millis(800);
        let before = fingerprint(&client).await;
        let started = std::time::Instant::now();
        let a = send_signed(&app, &no_show_of_new("invitee-no-show-created.json")).await;
        assert!(started.elapsed() < Duration::from_secs(2), "{name}: bounded by the budget ({:?})", started.elapsed());
        match ignored {
            Some(reason) => assert_eq!(reason_of(&a), (200, Some("ignored"), Some(reason)), "{name}"),
            None => {
                assert_eq!(a.status.as_u16(), 503, "{name}: {:?}", a.body);
                assert_eq!(a.problem_type(), "urn:problem-type:calendly-webhook:calendly-api-unavailable", "{name}");
                assert_eq!(a.retry_after.as_deref(), Some("5"), "{name}");
            }
        }
        assert_eq!(fingerprint(&client).await, before, "{name}: nothing written");
        let sent = requests(&server).await;
        assert!(expected_requests.contains(&sent), "{name}: {sent} requests to the API");
    }
}

/// No token, no question to the API; an invitee the API knows but no lead of the client matches.
#[tokio::test]
async fn without_a_token_or_a_lead_the_no_show_is_ignored() {
    trace_logs();
    let server = MockServer::start().await;
    serve(&server, ResponseTemplate::new(200).set_body_json(invitee_resource(Some(MARKED_AT)))).await;
    let (db, client) = seeded().await;
    let app = app(&db).await.with_calendly(api(&server));
    let before = fingerprint(&client).await;
    let a = send_signed(&app, &no_show_of_new("invitee-no-show-created.json")).await;
    assert_eq!(reason_of(&a), (200, Some("ignored"), Some("unknown invitee; no Calendly token to look it up")));
    assert_eq!(requests(&server).await, 0);

    // With a token, but the invitee booked with an email no lead has, through a link naming no lead.
    give_token(&client).await;
    let mut stranger = invitee_resource(Some(MARKED_AT));
    stranger["resource"]["email"] = "someone.else@example.net".into();
    let server = MockServer::start().await;
    serve(&server, ResponseTemplate::new(200).set_body_json(stranger)).await;
    let app = app.with_calendly(api(&server));
    let a = send_signed(&app, &no_show_of_new("invitee-no-show-created.json")).await;
    assert_eq!(reason_of(&a), (200, Some("ignored"), Some("no matching lead")));
    assert_eq!(fingerprint(&client).await, before);
}

/// The lookup's log lines carry ids and URIs, never what the API said about the person: this
/// test's lookups (recorded, token refused, answer unreadable) and those of the other tests.
#[tokio::test]
async fn no_pii_from_the_api_reaches_the_logs() {
    let logs = trace_logs();
    let server = MockServer::start().await;
    serve(&server, ResponseTemplate::new(200).set_body_json(invitee_resource(Some(MARKED_AT)))).await;
    let (_db, _client, app) = with_api(&server).await;
    let a = send_signed(&app, &no_show_of_new("invitee-no-show-created.json")).await;
    assert_eq!(a.taken(), Some("recorded"));
    for invitee in [
        ResponseTemplate::new(401).set_body_json(serde_json::json!({"title": "Unauthenticated"})),
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"resource": {"email": "dana.whitfield@example.com"}})),
    ] {
        let server = MockServer::start().await;
        serve(&server, invitee).await;
        let (_db, _client, app) = with_api(&server).await;
        let a = send_signed(&app, &no_show_of_new("invitee-no-show-deleted.json")).await;
        assert_eq!(a.taken(), Some("ignored"));
    }
    let text = logs.text();
    assert!(text.contains("calendly delivery recorded") && text.contains(NEW), "the lines are captured and carry the URI: {text}");
    assert!(text.contains("calendly refused the client's token") && text.contains("DEBUG"), "{text}");
    let invitee = &invitee_resource(None)["resource"];
    let mut needles: Vec<String> =
        ["email", "name", "text_reminder_number"].iter().map(|k| invitee[*k].as_str().unwrap().to_string()).collect();
    needles.extend(invitee["questions_and_answers"].as_array().unwrap().iter().map(|qa| qa["answer"].as_str().unwrap().to_string()));
    needles.extend(["Dana", "Whitfield", "dana.whitfield", "someone.else", "555-0134", "555 0134", TOKEN].map(String::from));
    for needle in shared::testing::needles(needles) {
        assert!(!text.contains(needle.as_str()), "the logs contain {needle:?}");
    }
}
