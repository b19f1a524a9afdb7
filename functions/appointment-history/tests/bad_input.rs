//! Bad input at every entry of the history API (the router `main.rs` hands to the runtime):
//! random, damaged, truncated, repeated-key and non-UTF-8 POST bodies, odd lead ids and queries,
//! odd bearer tokens, 10 MB and deeply nested bodies, times outside the window. Always a 4xx
//! problem+json (the harness checks every answer against openapi.json), never a 5xx, and nothing
//! is written unless the body was a valid one.

mod common;

use appointment_history::booking;
use axum::body::Body;
use axum::http::{header, Method, Request};
use base64::Engine as _;
use chrono::Utc;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use shared::testing::bad_input::{self, Mutation, MUTATION_TEXT};

/// POSTs raw bytes to lead_a1 (workspace A's token, an idempotency key when `key`).
async fn post_bytes(h: &Harness, bytes: &[u8], key: Option<&str>) -> Reply {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/leads/lead_a1/appointments")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.token()));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    h.call(req.body(Body::from(bytes.to_vec())).unwrap()).await
}

/// A refusal: a 4xx problem (the harness already matched it to openapi.json), nothing written.
fn refused(r: &Reply, written_before: i64, written_after: i64) -> Result<(), TestCaseError> {
    prop_assert!(r.status.is_client_error(), "{} {}", r.status, r.body);
    prop_assert_eq!(r.headers[header::CONTENT_TYPE].to_str().unwrap(), "application/problem+json");
    prop_assert_eq!(written_after, written_before, "a refusal wrote: {}", r.body);
    Ok(())
}

#[test]
fn damaged_post_bodies_are_refused_and_write_nothing() {
    let rt = bad_input::runtime();
    let h = rt.block_on(Harness::new());
    // 0 random bytes, 1 a mutated body, 2 truncated, 3 a key given twice, 4 not UTF-8.
    let strategy =
        (0u8..5, proptest::collection::vec(any::<u8>(), 0..256), any::<usize>(), 0u8..9, MUTATION_TEXT, any::<i64>(), any::<bool>());
    TestRunner::new(bad_input::config(64))
        .run(&strategy, |(damage, random, target, op, text, number, with_key)| {
            let doc = valid_body();
            let bytes = match damage {
                0 => random,
                1 => {
                    let mut doc = doc;
                    Mutation { target, op, text, number }.apply(&mut doc);
                    doc.to_string().into_bytes()
                }
                2 => bad_input::truncated(doc.to_string().as_bytes(), target),
                3 => bad_input::with_repeated_key(&doc, target, &json!(text)).unwrap(),
                _ => bad_input::not_utf8(&doc),
            };
            if booking::observation(&bytes, "lead_a1").is_ok() {
                // Still a valid body (a mutation that changed nothing that matters).
                return Ok(());
            }
            rt.block_on(async {
                let before = h.count(WRITTEN).await;
                let r = post_bytes(&h, &bytes, with_key.then_some("bad-input-key")).await;
                refused(&r, before, h.count(WRITTEN).await)
            })
        })
        .unwrap();
}

#[test]
fn odd_lead_ids_queries_and_tokens_are_refused() {
    let rt = bad_input::runtime();
    let h = rt.block_on(Harness::new());
    let token = h.token();
    // A lead id of random bytes (percent-encoded: NUL, non-UTF-8, very long), a random query,
    // a random or damaged token. (Not an empty id: `/leads//appointments` is no path the document
    // describes, yet the route matches and authentication answers first, with a 401.)
    let strategy =
        (proptest::collection::vec(any::<u8>(), 1..300), "[ -~]{0,60}", proptest::option::of((any::<usize>(), any::<u8>())), 0u8..3);
    TestRunner::new(bad_input::config(48))
        .run(&strategy, |(id, query, token_edit, route)| {
            let id: String = id.iter().map(|b| format!("%{b:02X}")).collect();
            let query: String = query
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() || b"=&_-".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
                .collect();
            let uri = match route {
                0 => format!("/leads/{id}/appointments?{query}"),
                1 => format!("/leads/{id}/booking-status"),
                _ => format!("/leads/lead_a1/appointments?{query}&limit=0"),
            };
            let token = match token_edit {
                None => token.clone(),
                Some((at, byte)) => {
                    let mut t = token.clone().into_bytes();
                    let at = at % t.len();
                    // Any printable byte other than the one there (a header value must be text).
                    t[at] = if t[at] == b'!' + byte % 94 { b'~' } else { b'!' + byte % 94 };
                    String::from_utf8(t).unwrap()
                }
            };
            rt.block_on(async {
                let before = h.count(WRITTEN).await;
                let r = h.get(&uri, Some(&token)).await;
                if token_edit.is_some() && r.status != 401 {
                    // A changed byte the signature does not cover (base64's last bits): still valid.
                    prop_assert!(!r.status.is_server_error(), "{} {}", r.status, r.body);
                }
                if r.status.is_success() {
                    return Ok(());
                }
                refused(&r, before, h.count(WRITTEN).await)
            })
        })
        .unwrap();
}

#[tokio::test]
async fn huge_and_deeply_nested_bodies_are_refused() {
    let h = Harness::new().await;
    let r = post_bytes(&h, &bad_input::huge_object("source"), None).await;
    assert_eq!((r.status.as_u16(), r.problem_type()), (413, "urn:appointment-history:problem:payload-too-large"));
    let r = post_bytes(&h, &bad_input::deeply_nested_arrays(), Some("deep-key")).await;
    assert_eq!((r.status.as_u16(), r.problem_type()), (413, "urn:appointment-history:problem:payload-too-large"));
    // As deep as fits under the size limit: refused by the parser's nesting limit.
    let deep = format!("{}{}", "[".repeat(8000), "]".repeat(8000));
    let r = post_bytes(&h, deep.as_bytes(), None).await;
    assert_eq!((r.status.as_u16(), r.problem_type()), (400, "urn:appointment-history:problem:bad-request"));
    let deep = format!("{}null{}", r#"{"a":"#.repeat(2000), "}".repeat(2000));
    assert_eq!(post_bytes(&h, deep.as_bytes(), None).await.status, 400);
    assert_eq!(h.count(WRITTEN).await, 0);
}

/// `{"status":"CONFIRMED", ..., "status":"CANCELED"}` was recorded as canceled (the last key won).
#[tokio::test]
async fn a_key_given_twice_is_refused() {
    let h = Harness::new().await;
    let text = valid_body().to_string();
    let bodies = [
        text.replacen(r#""status":"CONFIRMED""#, r#""status":"CONFIRMED","status":"CANCELED""#, 1),
        text.replacen('{', r#"{"provider":"CALENDLY","#, 1),
        text.replacen('{', r#"{"startAt":"2031-03-21T17:00:00Z","#, 1),
    ];
    for (i, bytes) in bodies.iter().enumerate() {
        for key in [None, Some(format!("repeat-{i}"))] {
            let r = post_bytes(&h, bytes.as_bytes(), key.as_deref()).await;
            assert_eq!((r.status.as_u16(), r.problem_type()), (400, "urn:appointment-history:problem:bad-request"), "{bytes}");
            assert_eq!(r.body["detail"], shared::json::REPEATED_KEY_DETAIL);
        }
    }
    assert_eq!(h.count(WRITTEN).await, 0);
    assert_eq!(post_bytes(&h, text.as_bytes(), None).await.status, 201);
}

/// Years 0000 and 9999 were accepted; PostgreSQL stores year 0000 as 1 BC.
#[tokio::test]
async fn times_outside_the_window_are_a_422_naming_the_field() {
    let h = Harness::new().await;
    let cases = [
        (json!({"startAt": "0000-01-01T00:00:00Z", "endAt": "0000-01-01T00:30:00Z"}), vec!["endAt", "startAt"]),
        (json!({"startAt": "9999-12-31T23:00:00Z", "endAt": "9999-12-31T23:30:00Z"}), vec!["endAt", "startAt"]),
        (json!({"startAt": "1999-12-31T23:00:00Z"}), vec!["startAt"]),
        (json!({"endAt": "2100-01-01T00:00:00Z"}), vec!["endAt"]),
        (json!({"status": "CANCELED", "canceledAt": "0000-06-01T00:00:00+02:00"}), vec!["canceledAt"]),
    ];
    for (edit, names) in cases {
        let mut b = valid_body();
        for (k, v) in edit.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = h.post("/leads/lead_a1/appointments", Some(&h.token()), None, &b).await;
        assert_eq!(
            (r.status.as_u16(), r.error_names()),
            (422, names.iter().map(|n| n.to_string()).collect::<Vec<_>>()),
            "{edit}: {}",
            r.body
        );
        for e in r.body["errors"].as_array().unwrap() {
            assert_eq!(e["reason"], shared::domain::time_window_rule(), "{edit}");
        }
    }
    assert_eq!(h.count(WRITTEN).await, 0);
    // The window's own ends.
    let mut b = valid_body();
    (b["startAt"], b["endAt"]) = (json!("2000-01-01T00:00:00Z"), json!("2099-12-31T23:59:59.999Z"));
    assert_eq!(h.post("/leads/lead_a1/appointments", Some(&h.token()), None, &b).await.status, 201);
}

/// An HS256 token of any header and claims, signed with the API's secret.
fn token_of(header: &Value, claims: &str) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let message = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.as_bytes()));
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{message}.{signature}")
}

/// Tokens accepted before: `exp` 2^64-1 (and any far `exp`), a non-numeric `nbf`, an unknown
/// `crit` header, a claim given twice.
#[tokio::test]
async fn tokens_beyond_the_lifetime_with_odd_times_or_crit_are_a_401() {
    let h = Harness::new().await;
    let now = Utc::now().timestamp();
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let claims = |extra: &str| format!(r#"{{"sub":"crm","clientIds":["{CLIENT_A}"]{extra}}}"#);
    let refused = [
        (hs256.clone(), claims(&format!(r#","exp":{}"#, u64::MAX))),
        (hs256.clone(), claims(&format!(r#","exp":{}"#, now + 2 * 3600))),
        (hs256.clone(), claims(&format!(r#","exp":{},"nbf":"soon""#, now + 600))),
        (hs256.clone(), claims(&format!(r#","exp":{},"nbf":{{"t":1}}"#, now + 600))),
        (hs256.clone(), claims(&format!(r#","exp":{},"iat":"yesterday""#, now + 600))),
        (hs256.clone(), claims(&format!(r#","exp":{},"nbf":-5"#, now + 600))),
        (json!({"alg": "HS256", "typ": "JWT", "crit": ["exp"]}), claims(&format!(r#","exp":{}"#, now + 600))),
        (
            json!({"alg": "HS256", "crit": ["http://example.com/ext"], "http://example.com/ext": true}),
            claims(&format!(r#","exp":{}"#, now + 600)),
        ),
        (hs256.clone(), claims(&format!(r#","exp":{},"sub":"other""#, now + 600))),
        (hs256.clone(), claims(&format!(r#","exp":{},"clientIds":["{CLIENT_B}"]"#, now + 600))),
    ];
    for (header, claims) in refused {
        let token = token_of(&header, &claims);
        let r = h.get("/leads/lead_a1/booking-status", Some(&token)).await;
        assert_eq!((r.status.as_u16(), r.problem_type()), (401, "urn:appointment-history:problem:unauthorized"), "{header} {claims}");
    }
    // The same shapes within the rules are accepted.
    let accepted = [
        (hs256.clone(), claims(&format!(r#","exp":{}"#, now + 3600))),
        (hs256.clone(), claims(&format!(r#","exp":{},"nbf":{},"iat":{}"#, now + 600, now - 60, now - 60))),
    ];
    for (header, claims) in accepted {
        let r = h.get("/leads/lead_a1/booking-status", Some(&token_of(&header, &claims))).await;
        assert_eq!(r.status, 200, "{header} {claims}: {}", r.body);
    }
}
