//! A NUL character (U+0000) in any part of a request, on a real PostgreSQL (which refuses NUL in
//! text): the path's lead id, the query, the body. Always a 4xx problem, never a 5xx, and nothing
//! is written. Every answer is also checked against openapi.json by the harness.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_lead_id_with_nul_in_the_path_is_a_400_naming_the_path() {
    let h = Harness::new().await;
    let token = h.token();
    for id in ["lead_a1%00", "%00", "lead%00_a1"] {
        for uri in [
            format!("/leads/{id}/appointments"),
            format!("/leads/{id}/booking-status"),
            format!("/lambda-url/appointment-history/leads/{id}/appointments"),
        ] {
            let r = h.get(&uri, Some(&token)).await;
            assert_eq!(r.status, 400, "GET {uri}: {}", r.body);
            assert_eq!(r.problem_type(), "urn:appointment-history:problem:bad-request", "GET {uri}");
            assert_eq!(r.body["errors"], json!([{"in": "path", "name": "leadId", "reason": "contains a NUL character"}]), "GET {uri}");
        }
        let uri = format!("/leads/{id}/appointments");
        for key in [None, Some("nul-path-key")] {
            let r = h.post(&uri, Some(&token), key, &valid_body()).await;
            assert_eq!(r.status, 400, "POST {uri} (key {key:?}): {}", r.body);
            assert_eq!(r.error_names(), ["leadId"], "POST {uri}");
        }
    }
    assert_eq!(h.count(WRITTEN).await, 0);
    // Without a token the answer is still 401: the path is read only for callers who may ask.
    assert_eq!(h.get("/leads/lead_a1%00/appointments", None).await.status, 401);
}

#[tokio::test]
async fn nul_in_the_query_is_a_400() {
    let h = Harness::new().await;
    let token = h.token();
    for query in ["limit=1%00", "includeCanceled=true%00", "include=changes%00", "cursor=%00", "%00=1", "activeOnly%00=true"] {
        let r = h.get(&format!("/leads/lead_a1/appointments?{query}"), Some(&token)).await;
        assert_eq!(r.status, 400, "?{query}: {}", r.body);
    }
    let r = h.get("/leads/lead_a1/booking-status?x%00=1", Some(&token)).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn nul_in_a_body_field_is_a_4xx_and_writes_nothing() {
    let h = Harness::new().await;
    let token = h.token();
    let cases: [(&str, Value); 9] = [
        ("providerAppointmentId", json!("ghl-appt\u{0}-1")),
        ("providerAppointmentId", json!("\u{0}")),
        ("timezone", json!("America/New_\u{0}York")),
        ("source", json!("MANUAL\u{0}")),
        ("provider", json!("GHL\u{0}")),
        ("status", json!("CONFIRMED\u{0}")),
        ("startAt", json!("2031-03-20T17:00:00Z\u{0}")),
        ("endAt", json!("\u{0}2031-03-20T17:30:00Z")),
        ("field\u{0}", json!("x")),
    ];
    for (i, (field, value)) in cases.iter().enumerate() {
        let mut b = valid_body();
        b[field] = value.clone();
        let key = format!("nul-body-{i}");
        for key in [None, Some(key.as_str())] {
            let r = h.post("/leads/lead_a1/appointments", Some(&token), key, &b).await;
            assert!(r.status.is_client_error(), "NUL in {field:?} (key {key:?}): {} {}", r.status, r.body);
            assert_eq!(r.status, 422, "NUL in {field:?}: {}", r.body);
        }
    }
    assert_eq!(h.count(WRITTEN).await, 0);
    // The same body without the NULs is recorded.
    assert_eq!(h.post("/leads/lead_a1/appointments", Some(&token), None, &valid_body()).await.status, 201);
}
