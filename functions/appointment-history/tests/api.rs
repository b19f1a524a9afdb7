//! The API against a real PostgreSQL, through the real router. Every answer is also checked against
//! openapi.json by the harness.

mod common;

use std::collections::HashSet;

use appointment_history::auth::{sign, Claims};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use serde_json::{json, Value};
use shared::testing::ghl_observation;
use shared::{AppointmentStatus, Observation};

fn ghl(lead: &str, id: &str, status: AppointmentStatus, start: Option<DateTime<Utc>>) -> Observation {
    ghl_observation(lead, id, status, start, at(1, 8))
}

fn calendly(lead: &str, name: &str, status: AppointmentStatus, start: DateTime<Utc>, updated: DateTime<Utc>) -> Observation {
    let mut o = calendly_booking(lead, name, status, start, updated, "America/New_York");
    if status.is_terminal() {
        o.cancel_reason = Some("call me on +1 415 555 0134 instead".into());
    }
    o
}

fn manual_body() -> Value {
    json!({
        "source": "MANUAL", "provider": "GHL", "startAt": "2031-03-20T17:00:00Z", "endAt": "2031-03-20T17:30:00Z",
        "timezone": "America/New_York", "status": "CONFIRMED"
    })
}

const TIMELINE: &str = "/leads/lead_a1/appointments";

// ------------------------------------------------------------------------------------ timeline

#[tokio::test]
async fn pages_across_ties_and_missing_starts_never_skip_or_repeat() {
    let h = Harness::new().await;
    // Three share a start, two have none, three others around them.
    for (id, start) in [
        ("t1", Some(at(10, 9))),
        ("t2", Some(at(10, 9))),
        ("t3", Some(at(10, 9))),
        ("n1", None),
        ("n2", None),
        ("e1", Some(at(2, 9))),
        ("l1", Some(at(25, 9))),
        ("m1", Some(at(12, 9))),
    ] {
        h.record(ghl("lead_a1", id, AppointmentStatus::Confirmed, start)).await;
    }
    let token = h.token();
    let whole = h.get(&format!("{TIMELINE}?limit=200"), Some(&token)).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert!(whole.body["nextCursor"].is_null());
    let all = whole.ids();
    assert_eq!(all.len(), 8);
    let starts: Vec<Option<String>> =
        whole.body["appointments"].as_array().unwrap().iter().map(|a| a["startAt"].as_str().map(str::to_string)).collect();
    // Newest first, missing last.
    let mut expected_starts = starts.clone();
    expected_starts.sort_by(|a, b| match (a, b) {
        (Some(x), Some(y)) => y.cmp(x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    assert_eq!(starts, expected_starts);
    assert_eq!(starts[0].as_deref(), Some("2031-03-25T09:00:00.000Z"));
    assert!(starts[6].is_none() && starts[7].is_none());

    for limit in [1, 2, 3] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let uri = match &cursor {
                Some(c) => format!("{TIMELINE}?limit={limit}&cursor={c}"),
                None => format!("{TIMELINE}?limit={limit}"),
            };
            let page = h.get(&uri, Some(&token)).await;
            assert_eq!(page.status, StatusCode::OK);
            assert!(page.ids().len() <= limit);
            seen.extend(page.ids());
            match page.body["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, all, "limit {limit}");
    }
}

#[tokio::test]
async fn filters_show_canceled_and_active_only() {
    let h = Harness::new().await;
    let confirmed = h.record(ghl("lead_a1", "c", AppointmentStatus::Confirmed, Some(at(20, 9)))).await;
    let canceled = h.record(ghl("lead_a1", "x", AppointmentStatus::Canceled, Some(at(19, 9)))).await;
    let showed = h.record(ghl("lead_a1", "s", AppointmentStatus::Showed, Some(at(5, 9)))).await;
    let no_show = h.record(ghl("lead_a1", "n", AppointmentStatus::NoShow, Some(at(4, 9)))).await;
    // A Calendly reschedule: the old one is RESCHEDULED.
    let mut old = calendly("lead_a1", "old", AppointmentStatus::Rescheduled, at(18, 9), at(3, 9));
    old.rescheduled_to_key = Some(invitee("new"));
    let rescheduled = h.record(old).await;
    let mut new = calendly("lead_a1", "new", AppointmentStatus::Confirmed, at(21, 9), at(3, 9));
    new.rescheduled_from_key = Some(invitee("old"));
    let rebooked = h.record(new).await;

    let token = h.token();
    let ids = |r: &Reply| r.ids().into_iter().collect::<HashSet<_>>();
    let set = |v: &[&String]| v.iter().map(|s| s.to_string()).collect::<HashSet<_>>();

    let all = h.get(TIMELINE, Some(&token)).await;
    assert_eq!(ids(&all), set(&[&confirmed, &canceled, &showed, &no_show, &rescheduled, &rebooked]));
    let without_canceled = h.get(&format!("{TIMELINE}?includeCanceled=false"), Some(&token)).await;
    assert_eq!(ids(&without_canceled), set(&[&confirmed, &showed, &no_show, &rescheduled, &rebooked]));
    let active = h.get(&format!("{TIMELINE}?activeOnly=true"), Some(&token)).await;
    assert_eq!(ids(&active), set(&[&confirmed, &showed, &no_show, &rebooked]));
    let both = h.get(&format!("{TIMELINE}?activeOnly=true&includeCanceled=true"), Some(&token)).await;
    assert_eq!(ids(&both), ids(&active));
    // The primary is the earliest upcoming active one, whatever the filters.
    assert_eq!(all.body["primaryAppointmentId"], json!(confirmed));
    assert_eq!(active.body["primaryAppointmentId"], json!(confirmed));

    // A cursor only works with the filters it was made with.
    let first = h.get(&format!("{TIMELINE}?limit=1&activeOnly=true"), Some(&token)).await;
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let mismatched = h.get(&format!("{TIMELINE}?limit=1&cursor={cursor}"), Some(&token)).await;
    assert_eq!(mismatched.status, StatusCode::BAD_REQUEST);
    assert_eq!(mismatched.error_names(), ["cursor"]);
}

#[tokio::test]
async fn reschedule_chain_of_three_with_change_log() {
    let h = Harness::new().await;
    // A is rescheduled to B, B to C; deliveries out of order (C's booking before B's cancel).
    let mut a_canceled = calendly("lead_a1", "A", AppointmentStatus::Rescheduled, at(20, 9), at(2, 10));
    a_canceled.rescheduled_to_key = Some(invitee("B"));
    let mut b_booked = calendly("lead_a1", "B", AppointmentStatus::Confirmed, at(22, 9), at(2, 10));
    b_booked.rescheduled_from_key = Some(invitee("A"));
    let mut c_booked = calendly("lead_a1", "C", AppointmentStatus::Confirmed, at(24, 9), at(3, 10));
    c_booked.rescheduled_from_key = Some(invitee("B"));
    let mut b_canceled = calendly("lead_a1", "B", AppointmentStatus::Rescheduled, at(22, 9), at(3, 10));
    b_canceled.rescheduled_to_key = Some(invitee("C"));

    let a = h.record(calendly("lead_a1", "A", AppointmentStatus::Confirmed, at(20, 9), at(1, 10))).await;
    h.record(a_canceled).await;
    let b = h.record(b_booked).await;
    let c = h.record(c_booked).await;
    h.record(b_canceled).await;

    let r = h.get(&format!("{TIMELINE}?include=changes"), Some(&h.token())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.ids(), [c.clone(), b.clone(), a.clone()]);
    let entry = |id: &str| r.body["appointments"].as_array().unwrap().iter().find(|e| e["id"] == json!(id)).unwrap().clone();
    let (ea, eb, ec) = (entry(&a), entry(&b), entry(&c));
    assert_eq!(ea["rescheduledFromId"], Value::Null);
    assert_eq!(ea["rescheduledToIds"], json!([b]));
    assert_eq!(eb["rescheduledFromId"], json!(a));
    assert_eq!(eb["rescheduledToIds"], json!([c]));
    assert_eq!(ec["rescheduledFromId"], json!(b));
    assert_eq!(ec["rescheduledToIds"], json!([]));
    assert_eq!(
        (ea["status"].as_str(), eb["status"].as_str(), ec["status"].as_str()),
        (Some("RESCHEDULED"), Some("RESCHEDULED"), Some("CONFIRMED"))
    );
    assert_eq!(ec["isPrimary"], json!(true));
    assert_eq!(r.body["primaryAppointmentId"], json!(c));
    assert_eq!(eb["canceledBy"], json!("invitee"));
    assert_eq!(eb["cancelReason"], json!("call me on [phone] instead"));

    // The change log, oldest first: A was created, then its status changed.
    let kinds = |e: &Value| e["changes"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(kinds(&ea), ["created", "status_changed"]);
    let a_change = &ea["changes"][1];
    assert_eq!(
        (a_change["from"].as_str(), a_change["to"].as_str(), a_change["source"].as_str()),
        (Some("CONFIRMED"), Some("RESCHEDULED"), Some("WEBHOOK"))
    );
    assert!(kinds(&eb).contains(&"linked_reschedule".to_string()));
    assert!(kinds(&ec).contains(&"linked_reschedule".to_string()));

    // Without include=changes there is no change log.
    let plain = h.get(TIMELINE, Some(&h.token())).await;
    assert!(plain.body["appointments"][0].get("changes").is_none());
}

#[tokio::test]
async fn lead_without_rows_gets_one_entry_from_its_rollup() {
    let h = Harness::new().await;
    h.sql
        .execute(
            r#"UPDATE "Lead" SET "appointmentStartAt" = $2, "appointmentEndAt" = $3, "appointmentStatus" = 'confirmed',
                      "appointmentProvider" = 'CALENDLY', "appointmentSource" = 'webhook', "appointmentLastCheckedAt" = $4 WHERE "id" = $1"#,
            &[&"lead_a1", &at(28, 15).naive_utc(), &at(28, 16).naive_utc(), &at(14, 0).naive_utc()],
        )
        .await
        .unwrap();
    let token = h.token();
    let r = h.get(TIMELINE, Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
    let entries = r.body["appointments"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["origin"], json!("leadRollup"));
    assert_eq!(entries[0]["id"], Value::Null);
    assert_eq!(entries[0]["status"], json!("CONFIRMED"));
    assert_eq!(entries[0]["provider"], json!("CALENDLY"));
    assert_eq!(entries[0]["source"], json!("WEBHOOK"));
    assert_eq!(entries[0]["startAt"], json!("2031-03-28T15:00:00.000Z"));
    assert_eq!(r.body["primaryAppointmentId"], Value::Null);
    assert_eq!(r.body["rollup"]["status"], json!("confirmed"));
    assert_eq!(r.body["rollup"]["lastCheckedAt"], json!("2031-03-14T00:00:00.000Z"));

    let status = h.get("/leads/lead_a1/booking-status", Some(&token)).await;
    assert_eq!(status.body["primaryAppointment"]["origin"], json!("leadRollup"));
    assert_eq!(status.body["hasUpcomingActive"], json!(true));
    assert_eq!(status.body["total"], json!(1));

    // A canceled rollup is hidden by includeCanceled=false; a lead with neither rows nor rollup is empty.
    h.sql.execute(r#"UPDATE "Lead" SET "appointmentStatus" = 'canceled' WHERE "id" = 'lead_a1'"#, &[]).await.unwrap();
    let hidden = h.get(&format!("{TIMELINE}?includeCanceled=false"), Some(&token)).await;
    assert!(hidden.ids().is_empty());
    let empty = h.get("/leads/lead_a2/appointments", Some(&token)).await;
    assert!(empty.ids().is_empty());
    assert_eq!(empty.body["nextCursor"], Value::Null);

    // Once a row exists, the rollup no longer stands in for it.
    h.record(ghl("lead_a1", "g1", AppointmentStatus::Confirmed, Some(at(29, 9)))).await;
    let real = h.get(TIMELINE, Some(&token)).await;
    assert_eq!(real.body["appointments"].as_array().unwrap().len(), 1);
    assert_eq!(real.body["appointments"][0]["origin"], json!("appointment"));
}

#[tokio::test]
async fn booking_status_counts_primary_and_reconciliation() {
    let h = Harness::new().await;
    h.record(ghl("lead_a1", "past", AppointmentStatus::Showed, Some(at(1, 9)))).await;
    h.record(ghl("lead_a1", "gone", AppointmentStatus::Canceled, Some(at(18, 9)))).await;
    let upcoming = h.record(ghl("lead_a1", "next", AppointmentStatus::Confirmed, Some(at(20, 9)))).await;
    h.record(ghl("lead_a1", "later", AppointmentStatus::Confirmed, Some(at(27, 9)))).await;
    h.sql.execute(r#"UPDATE "Lead" SET "appointmentLastCheckedAt" = $1 WHERE "id" = 'lead_a1'"#, &[&at(15, 6).naive_utc()]).await.unwrap();

    let r = h.get("/leads/lead_a1/booking-status", Some(&h.token())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["primaryAppointment"]["id"], json!(upcoming));
    assert_eq!(r.body["primaryAppointment"]["isPrimary"], json!(true));
    assert_eq!(r.body["counts"], json!({"CONFIRMED": 2, "CANCELED": 1, "RESCHEDULED": 0, "SHOWED": 1, "NO_SHOW": 0}));
    assert_eq!(r.body["total"], json!(4));
    assert_eq!(r.body["hasUpcomingActive"], json!(true));
    assert_eq!(r.body["lastReconciledAt"], json!("2031-03-15T06:00:00.000Z"));
    // The rollup is the write path's, computed at write time with the real clock (for which every
    // 2031 appointment is upcoming): the earliest one. The API's primary is computed at request time.
    assert_eq!(r.body["rollup"]["startAt"], json!("2031-03-01T09:00:00.000Z"));
    assert_eq!(r.body["rollup"]["status"], json!("confirmed"));

    let none = h.get("/leads/lead_a2/booking-status", Some(&h.token())).await;
    assert_eq!(none.body["primaryAppointment"], Value::Null);
    assert_eq!(none.body["hasUpcomingActive"], json!(false));
    assert_eq!(none.body["total"], json!(0));
    let bad = h.get("/leads/lead_a1/booking-status?verbose=1", Some(&h.token())).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn one_round_trip_per_read() {
    let h = Harness::new().await;
    h.record(ghl("lead_a1", "g1", AppointmentStatus::Confirmed, Some(at(20, 9)))).await;
    let token = h.token();
    h.get(&format!("{TIMELINE}?include=changes"), Some(&token)).await; // prepares the statements
    for uri in [TIMELINE.to_string(), format!("{TIMELINE}?include=changes"), "/leads/lead_a1/booking-status".into()] {
        let before = h.store().round_trips();
        assert_eq!(h.get(&uri, Some(&token)).await.status, StatusCode::OK);
        assert_eq!(h.store().round_trips() - before, 1, "{uri}");
    }
}

// ------------------------------------------------------------------------------ auth & tenancy

#[tokio::test]
async fn bad_tokens_are_401_and_other_workspaces_are_404_like_missing_leads() {
    let h = Harness::new().await;
    h.record(ghl("lead_b1", "secret-b", AppointmentStatus::Confirmed, Some(at(20, 9)))).await;
    let exp = |delta: i64| (Utc::now().timestamp() + delta) as u64;
    let claims = |exp: u64| Claims { sub: "crm".into(), exp, client_ids: vec![CLIENT_A.into()] };
    let header_b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let good = sign(&claims(exp(600)), SECRET.as_bytes());
    let bad_tokens = [
        ("wrong secret", sign(&claims(exp(600)), b"another-secret-another-secret-another")),
        ("expired", sign(&claims(exp(-120)), SECRET.as_bytes())),
        ("garbage", "not.a.jwt".to_string()),
        (
            "alg none",
            format!(
                "{}.{}.",
                header_b64(json!({"alg": "none", "typ": "JWT"})),
                header_b64(json!({"sub": "crm", "exp": exp(600), "clientIds": [CLIENT_A]}))
            ),
        ),
        (
            "no clientIds",
            jsonwebtoken::encode(
                &Default::default(),
                &json!({"sub": "crm", "exp": exp(600)}),
                &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap(),
        ),
        (
            "no sub",
            jsonwebtoken::encode(
                &Default::default(),
                &json!({"exp": exp(600), "clientIds": [CLIENT_A]}),
                &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap(),
        ),
        (
            "no exp",
            jsonwebtoken::encode(
                &Default::default(),
                &json!({"sub": "crm", "clientIds": [CLIENT_A]}),
                &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap(),
        ),
        (
            "HS384",
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
                &claims(exp(600)),
                &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap(),
        ),
    ];
    for uri in [TIMELINE, "/leads/lead_a1/booking-status"] {
        let missing = h.get(uri, None).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED, "{uri} without a token");
        assert_eq!(missing.headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
        for (name, t) in &bad_tokens {
            let r = h.get(uri, Some(t)).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri}: {name}");
            assert_eq!(r.body, missing.body, "{uri}: {name}");
        }
        // Not a bearer scheme.
        let basic = h.call(Request::get(uri).header(header::AUTHORIZATION, format!("Basic {good}")).body(Body::empty()).unwrap()).await;
        assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
        assert_eq!(h.get(uri, Some(&good)).await.status, StatusCode::OK);
    }
    let post = h.post(TIMELINE, Some(&bad_tokens[1].1), None, &manual_body()).await;
    assert_eq!(post.status, StatusCode::UNAUTHORIZED);

    // Workspace B's lead with a token for A: exactly the answer for a lead that does not exist.
    for (foreign, missing) in [
        ("/leads/lead_b1/appointments", "/leads/no_such_lead/appointments"),
        ("/leads/lead_b1/appointments?include=changes", "/leads/no_such_lead/appointments?include=changes"),
        ("/leads/lead_b1/booking-status", "/leads/no_such_lead/booking-status"),
    ] {
        let f = h.get(foreign, Some(&good)).await;
        let m = h.get(missing, Some(&good)).await;
        assert_eq!(f.status, StatusCode::NOT_FOUND);
        assert_eq!(
            (f.status, &f.body, f.headers.get(header::CONTENT_TYPE)),
            (m.status, &m.body, m.headers.get(header::CONTENT_TYPE)),
            "{foreign}"
        );
        assert_eq!(f.problem_type(), "urn:appointment-history:problem:lead-not-found");
    }
    let f = h.post("/leads/lead_b1/appointments", Some(&good), Some("k1"), &manual_body()).await;
    let m = h.post("/leads/no_such_lead/appointments", Some(&good), Some("k1"), &manual_body()).await;
    assert_eq!((f.status, &f.body), (m.status, &m.body));
    assert_eq!(f.status, StatusCode::NOT_FOUND);
    assert_eq!(h.count(r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'lead_b1'"#).await, 1);
    assert_eq!(h.count(r#"SELECT count(*) FROM "AppointmentIdempotencyKey""#).await, 0);

    // A token for B sees it; a token for both sees both.
    assert_eq!(h.get("/leads/lead_b1/appointments", Some(&token(&[CLIENT_B]))).await.ids().len(), 1);
    assert_eq!(h.get("/leads/lead_b1/appointments", Some(&token(&[CLIENT_A, CLIENT_B]))).await.status, StatusCode::OK);
    assert_eq!(h.get(TIMELINE, Some(&token(&[CLIENT_B]))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(h.get(TIMELINE, Some(&token(&[]))).await.status, StatusCode::NOT_FOUND);
}

// ----------------------------------------------------------------------------------------- POST

#[tokio::test]
async fn post_records_through_the_write_path_and_answers_201_then_200() {
    let h = Harness::new().await;
    let token = h.token();
    let created = h.post(TIMELINE, Some(&token), None, &manual_body()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["source"], json!("MANUAL"));
    assert_eq!(created.body["status"], json!("CONFIRMED"));
    assert_eq!(created.body["startAt"], json!("2031-03-20T17:00:00.000Z"));
    assert_eq!(created.body["timezone"], json!("America/New_York"));
    assert_eq!(created.body["isPrimary"], json!(true));
    let id = created.body["id"].as_str().unwrap().to_string();

    // The same booking again (no key: same provider and start) is the same row: 200, nothing written.
    let events_before = h.count(r#"SELECT count(*) FROM "AppointmentEvent""#).await;
    let again = h.post(TIMELINE, Some(&token), None, &manual_body()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], json!(id));
    assert_eq!(h.count(r#"SELECT count(*) FROM "Appointment""#).await, 1);
    assert_eq!(h.count(r#"SELECT count(*) FROM "AppointmentEvent""#).await, events_before);

    // Canceling it through the API is an update of the same row, logged, rolled up, no task.
    let mut cancel = manual_body();
    cancel["status"] = json!("CANCELED");
    cancel["canceledAt"] = json!("2031-03-15T11:00:00Z");
    let canceled = h.post(TIMELINE, Some(&token), None, &cancel).await;
    assert_eq!(canceled.status, StatusCode::OK);
    assert_eq!(canceled.body["status"], json!("CANCELED"));
    assert_eq!(canceled.body["canceledAt"], json!("2031-03-15T11:00:00.000Z"));
    let rollup: Option<String> =
        h.sql.query_one(r#"SELECT "appointmentStatus" FROM "Lead" WHERE "id" = 'lead_a1'"#, &[]).await.unwrap().get(0);
    assert_eq!(rollup.as_deref(), Some("canceled"));
    assert_eq!(h.count(r#"SELECT count(*) FROM "FollowUpTask""#).await, 0);

    // AUTO_BOOK with a GHL id, then the timeline shows both.
    let auto = json!({"source": "AUTO_BOOK", "provider": "GHL", "providerAppointmentId": "ghl-777",
                      "startAt": "2031-03-22T15:00:00-04:00", "endAt": "2031-03-22T15:45:00-04:00", "status": "CONFIRMED"});
    let booked = h.post(TIMELINE, Some(&token), None, &auto).await;
    assert_eq!(booked.status, StatusCode::CREATED);
    assert_eq!(booked.body["providerAppointmentId"], json!("ghl-777"));
    assert_eq!(booked.body["startAt"], json!("2031-03-22T19:00:00.000Z"));
    let timeline = h.get(TIMELINE, Some(&token)).await;
    assert_eq!(timeline.ids(), [booked.body["id"].as_str().unwrap().to_string(), id]);
    assert_eq!(timeline.body["primaryAppointmentId"], booked.body["id"]);
}

#[tokio::test]
async fn idempotency_key_same_body_replays_other_body_conflicts() {
    let h = Harness::new().await;
    let token = h.token();
    let first = h.post(TIMELINE, Some(&token), Some("key-1"), &manual_body()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(first.headers.get("idempotent-replayed").is_none());

    // Same key, same meaning (other key order and offset): the first answer again, no new row.
    let same = json!({"status": "CONFIRMED", "timezone": "America/New_York", "endAt": "2031-03-20T19:30:00+02:00",
                      "startAt": "2031-03-20T19:00:00+02:00", "provider": "GHL", "source": "MANUAL"});
    let replay = h.post(TIMELINE, Some(&token), Some("key-1"), &same).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(h.count(r#"SELECT count(*) FROM "Appointment""#).await, 1);

    // Same key, another body: 409, nothing written.
    let mut other = manual_body();
    other["startAt"] = json!("2031-03-21T17:00:00Z");
    other["endAt"] = json!("2031-03-21T17:30:00Z");
    let conflict = h.post(TIMELINE, Some(&token), Some("key-1"), &other).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.problem_type(), "urn:appointment-history:problem:idempotency-key-reused");
    // Same key and body on another lead of the workspace is another request too.
    let other_lead = h.post("/leads/lead_a2/appointments", Some(&token), Some("key-1"), &manual_body()).await;
    assert_eq!(other_lead.status, StatusCode::CONFLICT);
    assert_eq!(h.count(r#"SELECT count(*) FROM "Appointment""#).await, 1);

    // The key is scoped to the workspace: B may use the same key.
    let b = h.post("/leads/lead_b1/appointments", Some(&token_for_b()), Some("key-1"), &manual_body()).await;
    assert_eq!(b.status, StatusCode::CREATED);

    // A new key for the same booking: 200 (it exists), remembered as such.
    let k2 = h.post(TIMELINE, Some(&token), Some("key-2"), &manual_body()).await;
    assert_eq!(k2.status, StatusCode::OK);
    assert_eq!(k2.body["id"], first.body["id"]);

    // Concurrent requests with one new key: one row, both answers agree.
    let mut fresh = manual_body();
    fresh["startAt"] = json!("2031-03-23T17:00:00Z");
    fresh["endAt"] = json!("2031-03-23T17:30:00Z");
    let (x, y) = tokio::join!(h.post(TIMELINE, Some(&token), Some("key-3"), &fresh), h.post(TIMELINE, Some(&token), Some("key-3"), &fresh));
    let mut statuses = [x.status, y.status];
    statuses.sort();
    assert!(
        statuses == [StatusCode::CREATED, StatusCode::CREATED] || statuses == [StatusCode::CREATED, StatusCode::CONFLICT],
        "{statuses:?}"
    );
    assert_eq!(h.count(r#"SELECT count(*) FROM "Appointment" WHERE "startAt" = '2031-03-23 17:00:00'"#).await, 1);

    // Bad keys are 400.
    for bad in ["", "has space", &"k".repeat(256)] {
        let r = h.post(TIMELINE, Some(&token), Some(bad), &manual_body()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(r.error_names(), ["Idempotency-Key"]);
    }
}

fn token_for_b() -> String {
    token(&[CLIENT_B])
}

#[tokio::test]
async fn a_claim_is_released_when_the_request_fails() {
    let h = Harness::new().await;
    let token = h.token();
    // The GHL id belongs to another lead of the workspace: 409, and the key is free again.
    h.record(ghl("lead_a2", "ghl-taken", AppointmentStatus::Confirmed, Some(at(20, 9)))).await;
    let mut body = manual_body();
    body["providerAppointmentId"] = json!("ghl-taken");
    let r = h.post(TIMELINE, Some(&token), Some("key-x"), &body).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.problem_type(), "urn:appointment-history:problem:provider-id-conflict");
    assert_eq!(h.count(r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'lead_a1'"#).await, 0);
    let owner: String =
        h.sql.query_one(r#"SELECT "leadId" FROM "Appointment" WHERE "ghlAppointmentId" = 'ghl-taken'"#, &[]).await.unwrap().get(0);
    assert_eq!(owner, "lead_a2");
    assert_eq!(h.count(r#"SELECT count(*) FROM "AppointmentIdempotencyKey""#).await, 0);
    let retry = h.post(TIMELINE, Some(&token), Some("key-x"), &manual_body()).await;
    assert_eq!(retry.status, StatusCode::CREATED);
}

/// A re-booked slot is a new appointment: canceled at 15:00, then booked again at 15:00 without a
/// provider id.
#[tokio::test]
async fn rebooking_a_canceled_slot_is_a_new_appointment() {
    let h = Harness::new().await;
    let token = h.token();
    let slot = json!({"source": "MANUAL", "provider": "GHL", "startAt": "2031-03-20T15:00:00Z", "endAt": "2031-03-20T15:30:00Z"});
    let mut canceled = slot.clone();
    canceled["status"] = json!("CANCELED");
    let first = h.post(TIMELINE, Some(&token), Some("cancel-1"), &canceled).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let mut booked = slot.clone();
    booked["status"] = json!("CONFIRMED");
    let rebooked = h.post(TIMELINE, Some(&token), Some("book-2"), &booked).await;
    assert_eq!(rebooked.status, StatusCode::CREATED, "{}", rebooked.body);
    assert_ne!(rebooked.body["id"], first.body["id"]);
    assert_eq!(rebooked.body["status"], json!("CONFIRMED"));
    assert_eq!(h.count(r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'lead_a1'"#).await, 2);
    let rollup: Option<String> =
        h.sql.query_one(r#"SELECT "appointmentStatus" FROM "Lead" WHERE "id" = 'lead_a1'"#, &[]).await.unwrap().get(0);
    assert_eq!(rollup.as_deref(), Some("confirmed"));
    // The canceled one stays as history.
    let statuses: Vec<String> = h
        .sql
        .query(r#"SELECT "status"::text FROM "Appointment" WHERE "leadId" = 'lead_a1' ORDER BY "createdAt", "id""#, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(statuses, ["CANCELED", "CONFIRMED"]);
}

/// The provider id lands on another lead of the workspace while this POST is being written: the
/// POST is refused and writes nothing (it used to write into the other lead, then answer 409).
#[tokio::test]
async fn a_provider_id_raced_in_by_another_lead_is_refused_without_writing() {
    let h = Harness::new().await;
    let token = h.token();
    let other = h.db.client().await;
    other.batch_execute("BEGIN").await.unwrap();
    other
        .batch_execute(
            r#"INSERT INTO "Appointment" ("id", "leadId", "provider", "ghlAppointmentId", "startAt", "endAt", "status", "source", "updatedAt")
               VALUES ('raced', 'lead_a2', 'GHL', 'ghl-raced', '2031-03-20 17:00', '2031-03-20 17:30', 'CONFIRMED', 'MANUAL', now())"#,
        )
        .await
        .unwrap();
    let mut body = manual_body();
    body["providerAppointmentId"] = json!("ghl-raced");
    body["status"] = json!("CANCELED");
    let (reply, _) = tokio::join!(h.post(TIMELINE, Some(&token), None, &body), async {
        // The POST's insert waits on the uncommitted key; then the other lead's write commits.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        other.batch_execute("COMMIT").await.unwrap();
    });
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.problem_type(), "urn:appointment-history:problem:provider-id-conflict");
    let status: String = h.sql.query_one(r#"SELECT "status"::text FROM "Appointment" WHERE "id" = 'raced'"#, &[]).await.unwrap().get(0);
    assert_eq!(status, "CONFIRMED", "a refused POST changed another lead's appointment");
    assert_eq!(h.count(r#"SELECT count(*) FROM "AppointmentEvent""#).await, 0);
    assert_eq!(h.count(r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'lead_a1'"#).await, 0);
}

/// Two POSTs for one provider id on two leads at once: one is recorded, the other refused, and
/// the answers match what was committed.
#[tokio::test]
async fn racing_posts_for_one_provider_id_answer_what_was_committed() {
    let h = Harness::new().await;
    let token = h.token();
    for round in 0..10 {
        let id = format!("ghl-race-{round}");
        let body = |status: &str| {
            let mut b = manual_body();
            b["providerAppointmentId"] = json!(id);
            b["status"] = json!(status);
            b
        };
        let (confirmed, canceled) = (body("CONFIRMED"), body("CANCELED"));
        let (one, two) = tokio::join!(
            h.post(TIMELINE, Some(&token), None, &confirmed),
            h.post("/leads/lead_a2/appointments", Some(&token), None, &canceled)
        );
        let (winner, lead) = match (one.status, two.status) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => (&one, "lead_a1"),
            (StatusCode::CONFLICT, StatusCode::CREATED) => (&two, "lead_a2"),
            other => panic!("round {round}: {other:?} {} {}", one.body, two.body),
        };
        let row = h
            .sql
            .query_one(r#"SELECT "id", "leadId", "status"::text FROM "Appointment" WHERE "ghlAppointmentId" = $1"#, &[&id])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), winner.body["id"].as_str().unwrap(), "round {round}");
        assert_eq!(row.get::<_, String>(1), lead, "round {round}");
        assert_eq!(json!(row.get::<_, String>(2)), winner.body["status"], "round {round}: the refused POST changed the row");
    }
    assert_eq!(h.count(r#"SELECT count(*) FROM "AppointmentEvent""#).await, 10);
}

/// Another workspace's provider id is answered exactly like an unknown one: 201, recorded without
/// the id; the other workspace's appointment is untouched.
#[tokio::test]
async fn another_workspaces_provider_id_is_answered_like_an_unknown_one() {
    let h = Harness::new().await;
    let token = h.token();
    h.record(ghl("lead_b1", "ghl-of-b", AppointmentStatus::Confirmed, Some(at(20, 9)))).await;
    let post = |id: &str, day: u32| {
        let mut b = manual_body();
        b["providerAppointmentId"] = json!(id);
        b["startAt"] = json!(format!("2031-03-{day}T17:00:00Z"));
        b["endAt"] = json!(format!("2031-03-{day}T17:30:00Z"));
        b["status"] = json!("CANCELED");
        b
    };
    let unknown = h.post(TIMELINE, Some(&token), Some("k-unknown"), &post("ghl-nobody", 20)).await;
    let foreign = h.post(TIMELINE, Some(&token), Some("k-foreign"), &post("ghl-of-b", 21)).await;
    assert_eq!((unknown.status, foreign.status), (StatusCode::CREATED, StatusCode::CREATED), "{}", foreign.body);
    assert_eq!(foreign.body["status"], json!("CANCELED"));
    let b: (String, String) = {
        let r = h
            .sql
            .query_one(r#"SELECT "leadId", "status"::text FROM "Appointment" WHERE "ghlAppointmentId" = 'ghl-of-b'"#, &[])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(b, ("lead_b1".to_string(), "CONFIRMED".to_string()));
    assert_eq!(h.count(r#"SELECT count(*) FROM "AppointmentEvent" WHERE "leadId" = 'lead_b1'"#).await, 1);
    // The same POST again is the same appointment.
    let again = h.post(TIMELINE, Some(&token), None, &post("ghl-of-b", 21)).await;
    assert_eq!((again.status, &again.body["id"]), (StatusCode::OK, &foreign.body["id"]));
}

#[tokio::test]
async fn invalid_requests_name_each_problem_and_write_nothing() {
    let h = Harness::new().await;
    let token = h.token();
    let cases: Vec<(Value, StatusCode, Vec<&str>)> = vec![
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, vec!["endAt", "provider", "source", "startAt", "status"]),
        (
            json!({"source": "WEBHOOK", "provider": "ZOOM", "startAt": "2031-03-20T17:00:00Z", "endAt": "2031-03-20T16:00:00Z",
                   "status": "RESCHEDULED", "timezone": "Nowhere/Land", "phone": "+1 415 555 0134"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["endAt", "phone", "provider", "source", "status", "timezone"],
        ),
        (
            json!({"source": "MANUAL", "provider": "CALENDLY", "providerAppointmentId": "https://api.calendly.com/scheduled_events/EV1",
                   "startAt": "2031-03-20T17:00:00Z", "endAt": "2031-03-20T18:00:00Z", "status": "CONFIRMED"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["providerAppointmentId"],
        ),
    ];
    for (body, status, names) in cases {
        let r = h.post(TIMELINE, Some(&token), Some("k"), &body).await;
        assert_eq!(r.status, status, "{body}");
        assert_eq!(r.problem_type(), "urn:appointment-history:problem:invalid-fields");
        assert_eq!(r.error_names(), names, "{body}");
        // The problem never echoes values (the phone number stays out of it).
        assert!(!r.body.to_string().contains("555"), "{}", r.body);
    }
    let raw = |content_type: &str, body: &str| {
        Request::post(TIMELINE)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let malformed = h.call(raw("application/json", "{\"source\":")).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let text = h.call(raw("text/plain", &manual_body().to_string())).await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = h.call(raw("application/json", &format!("{{\"x\":\"{}\"}}", "a".repeat(20_000)))).await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    let query = h.post(&format!("{TIMELINE}?dryRun=true"), Some(&token), None, &manual_body()).await;
    assert_eq!(query.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.count(r#"SELECT count(*) FROM "Appointment""#).await, 0);
    assert_eq!(h.count(r#"SELECT count(*) FROM "AppointmentIdempotencyKey""#).await, 0);

    // Query strings of the timeline.
    for (q, names) in [
        ("limit=0", vec!["limit"]),
        ("limit=500&includeCanceled=maybe", vec!["includeCanceled", "limit"]),
        ("sort=asc", vec!["sort"]),
        ("cursor=bm9wZQ", vec!["cursor"]),
        ("include=everything", vec!["include"]),
    ] {
        let r = h.get(&format!("{TIMELINE}?{q}"), Some(&token)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(r.error_names(), names, "{q}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let h = Harness::new().await;
    let token = h.token();
    let r = h.get("/leads/lead_a1/nothing", Some(&token)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.problem_type(), "urn:appointment-history:problem:route-not-found");
    let r = h
        .call(
            Request::builder()
                .method(Method::DELETE)
                .uri(TIMELINE)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    // The cargo-lambda prefix reaches the same routes.
    let r = h.get("/lambda-url/appointment-history/leads/lead_a1/booking-status", Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn database_down_is_503_problem() {
    let settings = shared::testing::unreachable_database();
    let config = appointment_history::AppConfig::new(settings, SECRET).unwrap();
    let router = appointment_history::router(std::sync::Arc::new(appointment_history::App::new(config)));
    let t = token(&[CLIENT_A]);
    let get = call(&router, Request::get(TIMELINE).header(header::AUTHORIZATION, format!("Bearer {t}")).body(Body::empty()).unwrap()).await;
    assert_eq!(get.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get.problem_type(), "urn:appointment-history:problem:unavailable");
    assert!(get.headers.get(header::RETRY_AFTER).is_some());
    let post = call(
        &router,
        Request::post(TIMELINE)
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(manual_body().to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(post.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn idempotency_claims_expire_and_abandoned_ones_are_taken_over() {
    use appointment_history::idempotency::{claim, complete, release, Claim, Scope, ABANDONED_AFTER};
    let h = Harness::new().await;
    let store = h.store();
    let scope = Scope { client_id: CLIENT_A, key: "k-1" };
    let ttl = TimeDelta::hours(24);
    let t0 = now();
    let secs = |s: i64| t0 + TimeDelta::seconds(s);

    let Claim::Owned { claimed_at: first } = claim(store, scope, "lead_a1", "h1", t0, ttl).await.unwrap() else { panic!("first claim") };
    assert_eq!(claim(store, scope, "lead_a1", "h1", secs(1), ttl).await.unwrap(), Claim::InProgress);
    assert_eq!(claim(store, scope, "lead_a1", "h2", secs(1), ttl).await.unwrap(), Claim::Reused);
    // Another workspace's key of the same name is another key.
    let other = Scope { client_id: CLIENT_B, key: "k-1" };
    assert!(matches!(claim(store, other, "lead_b1", "h1", secs(1), ttl).await.unwrap(), Claim::Owned { .. }));

    // The first owner died: after ABANDONED_AFTER the same request takes over (another one may not).
    let late = t0 + ABANDONED_AFTER + TimeDelta::seconds(1);
    assert_eq!(claim(store, scope, "lead_a1", "h2", late, ttl).await.unwrap(), Claim::Reused);
    let Claim::Owned { claimed_at: second } = claim(store, scope, "lead_a1", "h1", late, ttl).await.unwrap() else { panic!("takeover") };
    // The dead owner's late release and completion touch nothing: the claim is no longer theirs.
    release(store, scope, first).await;
    complete(store, scope, first, 500, &json!({"stale": true}), "x", late).await.unwrap();
    assert_eq!(claim(store, scope, "lead_a1", "h1", late, ttl).await.unwrap(), Claim::InProgress);
    complete(store, scope, second, 201, &json!({"id": "a1"}), "a1", late).await.unwrap();
    assert_eq!(claim(store, scope, "lead_a1", "h1", late, ttl).await.unwrap(), Claim::Replay { status: 201, body: json!({"id": "a1"}) });

    // TTL after the claim that holds the answer, the key starts afresh, whatever the request.
    assert_eq!(claim(store, scope, "lead_a2", "h9", late + ttl - TimeDelta::seconds(1), ttl).await.unwrap(), Claim::Reused);
    let expired = late + ttl + TimeDelta::seconds(1);
    assert!(matches!(claim(store, scope, "lead_a2", "h9", expired, ttl).await.unwrap(), Claim::Owned { .. }));
    assert_eq!(
        h.count(r#"SELECT count(*) FROM "AppointmentIdempotencyKey" WHERE "leadId" = 'lead_a2' AND "responseStatus" IS NULL"#).await,
        1
    );
}
