//! Bad input at the webhook's entry (`handle`, what `handle_request` and so `main.rs` run), beyond
//! the random and mutated bodies of `malformed.rs`: truncated, non-UTF-8 and repeated-key bodies
//! signed with "GHL's" key (a bad signature is refused before parsing, so garbage must be signed
//! to reach the parser), 10 MB and 100,000-level bodies, and times outside the window. Always a
//! 4xx problem+json, never a 5xx, and nothing written.

mod common;

use chrono::TimeDelta;
use common::*;
use ghl_webhook::answer::GhlRefusal;
use ghl_webhook::signature;
use ghl_webhook::App;
use serde_json::{json, Value};
use shared::testing::bad_input;
use shared::webhook::Provider as _;
use tokio_postgres::Client;

/// A refusal as problem+json of this function.
fn assert_problem(a: &Answer, status: u16, slug: &str) {
    bad_input::assert_refused(a, status, &format!("{}{slug}", GhlRefusal::TYPE_PREFIX));
}

/// Signed with "GHL's" key, handled a second after the story's first delivery.
async fn signed(app: &App, body: &[u8]) -> Answer {
    let now = sent_at(&fixture(STORY[0])) + TimeDelta::seconds(1);
    post_at(app, &[(signature::HEADER, signature::sign(&ghl_key(), body))], body, now).await
}

/// Each body, signed, is refused as an invalid payload (with `detail`, when given) and writes nothing.
async fn invalid_deliveries_are_refused(app: &App, client: &Client, detail: Option<&str>, bodies: Vec<Vec<u8>>) {
    bad_input::invalid_deliveries_are_refused(
        client,
        GhlRefusal::TYPE_PREFIX,
        detail,
        bodies,
        |body| async move { signed(app, &body).await },
    )
    .await;
}

#[test]
fn signed_truncated_non_utf8_and_repeated_key_bodies_are_refused() {
    let rt = bad_input::runtime();
    let (_db, client, app) = rt.block_on(seeded_app());
    let docs: Vec<Value> = STORY.iter().map(|f| serde_json::from_slice(&fixture(f)).unwrap()).collect();
    bad_input::signed_damaged_deliveries_are_refused(&rt, &client, &docs, GhlRefusal::TYPE_PREFIX, |body| {
        let app = &app;
        async move { signed(app, &body).await }
    });
}

#[tokio::test]
async fn huge_and_deeply_nested_bodies_are_refused() {
    let (_db, client, app) = seeded_app().await;
    let before = fingerprint(&client).await;
    let huge = bad_input::huge_object("appointment");
    // Refused by size before anything else, signed or not, through the Lambda request conversion.
    assert_problem(&send(&app, "POST", &huge, &[(signature::HEADER, signature::sign(&ghl_key(), &huge))]).await, 413, "payload-too-large");
    assert_problem(&send(&app, "POST", &huge, &[]).await, 413, "payload-too-large");
    // 100,000 levels of objects are larger than the limit too; arrays are not.
    assert_problem(&signed(&app, &bad_input::deeply_nested_objects("a")).await, 413, "payload-too-large");
    let deep = bad_input::deeply_nested_arrays();
    assert_problem(&signed(&app, &deep).await, 400, "not-json");
    assert_problem(
        &send(&app, "POST", &deep, &[(signature::HEADER, signature::sign(&ghl_key(), b"other"))]).await,
        401,
        "signature-mismatch",
    );
    assert_eq!(fingerprint(&client).await, before);
}

/// `{"type":"AppointmentCreate", ..., "type":"AppointmentDelete"}` was read as a delete.
#[tokio::test]
async fn a_key_given_twice_is_refused() {
    let (_db, client, app) = seeded_app().await;
    let created = String::from_utf8(fixture(STORY[0])).unwrap();
    let bodies = [
        created.replacen("{", r#"{"type": "AppointmentDelete", "#, 1),
        created.replacen(
            r#""appointmentStatus": "confirmed","#,
            r#""appointmentStatus": "confirmed", "appointmentStatus": "cancelled","#,
            1,
        ),
        created.replacen(r#""users": ["#, r#""extra": {"k": 1, "k": 2}, "users": ["#, 1),
    ];
    let bodies = bodies.map(String::into_bytes).to_vec();
    invalid_deliveries_are_refused(&app, &client, Some(shared::json::REPEATED_KEY_DETAIL), bodies).await;
    assert_eq!(deliver(&app, STORY[0]).await.taken(), Some("recorded"));
}

/// Year 0000 was stored as 1 BC, and 9999 accepted as an upcoming booking.
#[tokio::test]
async fn times_outside_the_window_are_refused() {
    let (_db, client, app) = seeded_app().await;
    let created: Value = serde_json::from_slice(&fixture(STORY[0])).unwrap();
    let edits = [
        ("/appointment/startTime", json!("0000-01-01T00:00:00+00:00")),
        ("/appointment/endTime", json!("9999-12-31T23:59:59+00:00")),
        ("/appointment/startTime", json!("1999-12-31T23:59:59Z")),
        ("/appointment/dateAdded", json!("0000-03-01T10:02:11.000Z")),
        ("/appointment/dateUpdated", json!("9999-03-01T10:02:11.000Z")),
        ("/appointment/dateUpdated", json!(253402300799000i64)),
    ];
    invalid_deliveries_are_refused(&app, &client, None, bad_input::with_values(&created, &edits)).await;
}
