//! Whatever the body, signed or not, the answer is a 2xx or a 4xx: never a 5xx, never a panic,
//! and nothing is written by a body that is refused.

mod common;

use common::*;
use ghl_webhook::signature;
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A fixture with one JSON value replaced somewhere (a field set to another type, removed, or a
/// string made odd), the timestamp kept inside the window.
fn mutated(seed: (usize, usize, usize)) -> Vec<u8> {
    let (file, field, how) = seed;
    let mut v: serde_json::Value = serde_json::from_slice(&fixture(STORY[file % STORY.len()])).unwrap();
    let paths: [&[&str]; 12] = [
        &["type"],
        &["locationId"],
        &["webhookId"],
        &["appointment"],
        &["appointment", "id"],
        &["appointment", "contactId"],
        &["appointment", "appointmentStatus"],
        &["appointment", "startTime"],
        &["appointment", "endTime"],
        &["appointment", "dateUpdated"],
        &["appointment", "dateAdded"],
        &["appointment", "users"],
    ];
    let path = paths[field % paths.len()];
    let replacement = match how % 9 {
        0 => serde_json::Value::Null,
        1 => serde_json::json!(12345),
        2 => serde_json::json!(""),
        3 => serde_json::json!("x".repeat(5000)),
        4 => serde_json::json!({"nested": [1, 2]}),
        5 => serde_json::json!("2026-13-45 99:99:99"),
        6 => serde_json::json!("9999999999999999999999"),
        7 => serde_json::json!("\u{0}\u{202e} call 312-555-0187"),
        _ => serde_json::json!(-1.5e300),
    };
    let mut target = &mut v;
    for key in &path[..path.len() - 1] {
        target = &mut target[*key];
    }
    if how % 10 == 9 {
        if let Some(o) = target.as_object_mut() {
            o.remove(path[path.len() - 1]);
        }
    } else {
        target[path[path.len() - 1]] = replacement;
    }
    serde_json::to_vec(&v).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_and_mutated_bodies_never_get_a_5xx(
        random in proptest::collection::vec(any::<u8>(), 0..600),
        seed in (0usize..4, 0usize..12, 0usize..10),
        sign_random in any::<bool>(),
    ) {
        let rt = runtime();
        rt.block_on(async {
            let (_db, client, app) = seeded_app().await;
            let now = sent_at(&fixture(STORY[0]));
            let before = fingerprint(&client).await;
            // Random bytes, signed or not.
            let headers: Vec<(&str, String)> = if sign_random { vec![(signature::HEADER, signature::sign(&ghl_key(), &random))] } else { vec![] };
            let a = post_at(&app, &headers, &random, now).await;
            assert!(a.status.is_client_error() || a.status.is_success(), "random: {:?}", a.body);
            assert_eq!(fingerprint(&client).await, before, "random bytes wrote nothing");
            // A validly signed, mutated fixture.
            let body = mutated(seed);
            let a = deliver_body_or_now(&app, &body).await;
            assert!(a.status.is_client_error() || a.status.is_success(), "{seed:?}: {} {:?}", a.status, a.body);
            if a.status.is_client_error() {
                assert_eq!(fingerprint(&client).await, before, "{seed:?}: a refused body wrote nothing");
            }
        });
    }
}

/// Signed at the body's own timestamp when it has a readable one, else at now.
async fn deliver_body_or_now(app: &ghl_webhook::App, body: &[u8]) -> Answer {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let now = v["timestamp"].as_str().and_then(|t| t.parse().ok()).unwrap_or_else(chrono::Utc::now) + chrono::TimeDelta::seconds(1);
    post_at(app, &[(signature::HEADER, signature::sign(&ghl_key(), body))], body, now).await
}
