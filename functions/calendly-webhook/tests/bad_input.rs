//! Bad input at the webhook's entry (`handle_request`, what `main.rs` wires), beyond the random and
//! mutated bodies of `malformed.rs`: truncated, non-UTF-8 and repeated-key bodies signed with the
//! client's key (a bad signature is refused before parsing, so garbage must be signed to reach the
//! parser), 10 MB and 100,000-level bodies, and times outside the window. Always a 4xx
//! problem+json, never a 5xx, and nothing written.

mod common;

use calendly_webhook::answer::CalendlyRefusal;
use calendly_webhook::App;
use common::*;
use serde_json::Value;
use shared::testing::bad_input;
use shared::webhook::Provider as _;
use tokio_postgres::Client;

/// A refusal as problem+json of this function.
fn assert_problem(a: &Answer, status: u16, slug: &str) {
    bad_input::assert_refused(a, status, &format!("{}{slug}", CalendlyRefusal::TYPE_PREFIX));
}

/// Signed with the client's key and posted to its URL.
async fn post_signed(app: &App, body: Vec<u8>) -> Answer {
    post(app, CLIENT, &body, Some(signed(KEY, &body))).await
}

/// Each body, signed, is refused as an invalid payload (with `detail`, when given) and writes nothing.
async fn invalid_deliveries_are_refused(app: &App, client: &Client, detail: Option<&str>, bodies: Vec<Vec<u8>>) {
    bad_input::invalid_deliveries_are_refused(client, CalendlyRefusal::TYPE_PREFIX, detail, bodies, |body| post_signed(app, body)).await;
}

#[test]
fn signed_truncated_non_utf8_and_repeated_key_bodies_are_refused() {
    let rt = bad_input::runtime();
    let (_db, client, app) = rt.block_on(seeded_app());
    let docs: Vec<Value> = FIXTURES.iter().map(|f| serde_json::from_slice(&fixture(f)).unwrap()).collect();
    bad_input::signed_damaged_deliveries_are_refused(&rt, &client, &docs, CalendlyRefusal::TYPE_PREFIX, |body| post_signed(&app, body));
}

#[tokio::test]
async fn huge_and_deeply_nested_bodies_are_refused() {
    let (_db, client, app) = seeded_app().await;
    let before = fingerprint(&client).await;
    let huge = bad_input::huge_object("event");
    // Refused by size before anything else, signed or not.
    assert_problem(&post(&app, CLIENT, &huge, Some(signed(KEY, &huge))).await, 413, "payload-too-large");
    assert_problem(&post(&app, CLIENT, &huge, None).await, 413, "payload-too-large");
    for deep in [bad_input::deeply_nested_arrays(), bad_input::deeply_nested_objects("a")] {
        assert_problem(&post(&app, CLIENT, &deep, Some(signed(KEY, &deep))).await, 400, "not-json");
        assert_problem(&post(&app, CLIENT, &deep, Some(signed("another key", &deep))).await, 401, "signature-mismatch");
    }
    assert_eq!(fingerprint(&client).await, before);
}

/// `{"event":"invitee.created", ..., "event":"invitee.canceled"}` was read as a cancel (the last
/// key won), while any reader keeping the first saw a booking.
#[tokio::test]
async fn a_key_given_twice_is_refused() {
    let (_db, client, app) = seeded_app().await;
    let created = String::from_utf8(fixture("invitee-created.json")).unwrap();
    let bodies = [
        created.replacen("{", r#"{"event": "invitee.canceled", "#, 1),
        created.replacen(r#""rescheduled": false,"#, r#""rescheduled": false, "rescheduled": true,"#, 1),
        created.replacen(r#""event_guests": [],"#, r#""event_guests": [{"email": "a@example.com", "email": "b@example.com"}],"#, 1),
    ];
    let bodies = bodies.map(String::into_bytes).to_vec();
    invalid_deliveries_are_refused(&app, &client, Some(shared::json::REPEATED_KEY_DETAIL), bodies).await;
    // Without the repeat it is recorded.
    assert_eq!(deliver(&app, "invitee-created.json").await.taken(), Some("recorded"));
}

/// Year 0000 was stored as 1 BC, and 9999 accepted as an upcoming booking.
#[tokio::test]
async fn times_outside_the_window_are_refused() {
    let (_db, client, app) = seeded_app().await;
    let created: Value = serde_json::from_slice(&fixture("invitee-created.json")).unwrap();
    let edits: [(&str, &str); 6] = [
        ("/payload/scheduled_event/start_time", "0000-01-01T00:00:00Z"),
        ("/payload/scheduled_event/end_time", "9999-12-31T23:59:59Z"),
        ("/payload/scheduled_event/start_time", "1999-12-31T23:59:59Z"),
        ("/payload/created_at", "0000-03-02T15:04:05Z"),
        ("/payload/updated_at", "9999-03-02T15:04:05Z"),
        ("/payload/scheduled_event/end_time", "2100-01-01T00:00:00Z"),
    ];
    invalid_deliveries_are_refused(&app, &client, None, bad_input::with_values(&created, &edits)).await;
}
