//! The metric lines of real requests: valid EMF, one per request with its route template and
//! status, the write path's for a POST, and nothing of the request itself (ids, emails, tokens).

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;
use shared::metrics::check;

const NAMESPACE: &str = "Test/History";

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let emf = shared::testing::LogCapture::default();
    shared::metrics::init_with_writer("appointment-history", NAMESPACE.into(), emf.clone());
    let h = Harness::new().await;
    let token = h.token();
    let body = json!({
        "source": "MANUAL", "provider": "GHL", "startAt": "2031-03-20T17:00:00Z", "endAt": "2031-03-20T17:30:00Z",
        "timezone": "America/New_York", "status": "CONFIRMED"
    });

    let answers = [
        h.post("/leads/lead_a1/appointments", Some(&token), Some("key-metrics-1"), &body).await.status,
        h.get("/leads/lead_a1/appointments", Some(&token)).await.status,
        h.get("/leads/lead_a1/booking-status", Some(&token)).await.status,
        h.get("/leads/lead_b1/appointments", Some(&token)).await.status,
        h.get("/leads/lead_a1/appointments", None).await.status,
        h.get("/lambda-url/appointment-history/leads/lead_a2/booking-status", Some(&token)).await.status,
    ];
    assert_eq!(
        answers,
        [StatusCode::CREATED, StatusCode::OK, StatusCode::OK, StatusCode::NOT_FOUND, StatusCode::UNAUTHORIZED, StatusCode::OK]
    );

    let text = emf.text();
    let lines: Vec<_> =
        check::emf_lines(&text).into_iter().map(|l| check::emf(l, NAMESPACE).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let requests: Vec<(String, String)> = lines
        .iter()
        .filter(|d| d["ApiRequests"] == 1)
        .map(|d| {
            assert!(d["ApiLatency"].as_f64().is_some_and(|ms| ms >= 0.0), "{d}");
            (d["Route"].as_str().unwrap().to_string(), d["Status"].as_str().unwrap().to_string())
        })
        .collect();
    let expected = [
        ("POST /leads/{lead_id}/appointments", "201"),
        ("GET /leads/{lead_id}/appointments", "200"),
        ("GET /leads/{lead_id}/booking-status", "200"),
        ("GET /leads/{lead_id}/appointments", "404"),
        ("GET /leads/{lead_id}/appointments", "401"),
        ("GET /leads/{lead_id}/booking-status", "200"),
    ]
    .map(|(r, s)| (r.to_string(), s.to_string()));
    assert_eq!(requests, expected);
    let writes: Vec<_> = lines.iter().filter(|d| d["Writes"] == 1).collect();
    assert_eq!(writes.len(), 1, "the POST went through the write path once");
    assert!(writes[0]["WriteRoundTrips"].as_u64().is_some_and(|n| n >= 1) && writes[0]["WriteRetries"] == 0, "{}", writes[0]);
    for d in &lines {
        assert!(check::dimensions(d).iter().all(|(name, _)| ["Function", "Route", "Status"].contains(&name.as_str())), "{d}");
    }
    for needle in ["lead_a1", "lead_a2", "lead_b1", CLIENT_A, "someone@example.com", token.as_str(), "key-metrics-1", "lambda-url"] {
        assert!(!text.contains(needle), "the metric lines contain {needle:?}");
    }
}
