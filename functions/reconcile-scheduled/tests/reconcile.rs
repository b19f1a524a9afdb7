//! The reconciler end to end: wiremock plays Calendly and GHL with the fixture bodies, a real
//! PostgreSQL holds the history.

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::*;
use reconcile_scheduled::input::{BackfillMode, BackfillRequest};
use serde_json::json;
use shared::domain::{AppointmentSource, AppointmentStatus, Observation, ObservedStatus, Provider};
use shared::providers::ghl;
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn ghl_appointments_mock(contact: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/contacts/{contact}/appointments")))
        .and(header("Version", ghl::CONTACT_APPOINTMENTS_VERSION))
}

/// GHL answers every listing of the contact's appointments with `response`.
async fn ghl_answers(server: &MockServer, contact: &str, response: ResponseTemplate) {
    ghl_appointments_mock(contact).respond_with(response).mount(server).await;
}

/// GHL answers the contact's first listing with `first`, every later one with `then`.
async fn answer_once_then(server: &MockServer, contact: &str, first: ResponseTemplate, then: ResponseTemplate) {
    ghl_appointments_mock(contact).respond_with(first).up_to_n_times(1).with_priority(1).mount(server).await;
    ghl_answers(server, contact, then).await;
}

/// The GHL workspace `c` with one lead, `lead_1`, of the fixtures' contact.
async fn one_ghl_lead(client: &tokio_postgres::Client) {
    ghl_client(client, "c", LOCATION).await;
    ghl_lead(client, "c", "lead_1", CONTACT).await;
}

/// A fake GHL answering every contact's appointments with the fixture (its ids made the contact's
/// own), each answer after `delay`.
async fn serve_every_contact(server: &MockServer, delay: Duration) {
    Mock::given(method("GET"))
        .and(path_regex(r"^/contacts/[^/]+/appointments$"))
        .respond_with(PerContactAppointments { body: fixture("ghl/api-contact-appointments.json"), delay })
        .mount(server)
        .await;
}

/// The GHL workspace `c` with `leads` leads, `lead_00`, `lead_01`, ... of contacts `cnt_00`, ....
async fn ghl_workspace_with_leads(client: &tokio_postgres::Client, leads: usize) {
    ghl_client(client, "c", LOCATION).await;
    for i in 0..leads {
        ghl_lead(client, "c", &format!("lead_{i:02}"), &format!("cnt_{i:02}")).await;
    }
}

fn backfill(client_id: &str, max_leads: Option<u32>, cursor: Option<String>) -> BackfillRequest {
    BackfillRequest { mode: BackfillMode::Backfill, client_id: client_id.into(), max_leads, cursor }
}

#[tokio::test]
async fn ghl_end_to_end_into_the_database() {
    let (db, client, server) = database_and_server().await;
    ghl_client(&client, "client_ghl", LOCATION).await;
    ghl_lead(&client, "client_ghl", "lead_1", CONTACT).await;
    ghl_appointments_mock(CONTACT)
        .and(header("Authorization", format!("Bearer {GHL_KEY}-{LOCATION}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("ghl/api-contact-appointments.json")))
        .expect(2)
        .mount(&server)
        .await;

    let reconciler = reconciler(&db, &server.uri(), test_config());
    let now = Utc::now();
    let summary = reconciler.run_cron(now, deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.created, summary.failed, summary.rate_limited), (1, 2, 0, 0), "{summary:?}");
    assert_eq!(summary.observations_recorded, 2);

    let rows = appointments(&client, None).await;
    assert_eq!(rows.len(), 2);
    let row = |key: &str| rows.iter().find(|r| r.key.as_deref() == Some(key)).unwrap();
    // "2026-03-11 15:00:00" without offset, in New York (EDT since March 8): 19:00 UTC.
    let booked = row("Yq3FpL8wV2nR6tKc9sDx");
    assert_eq!(
        (booked.status.as_str(), booked.start, booked.lead.as_str(), booked.source.as_str()),
        ("CONFIRMED", Some(at("2026-03-11T19:00:00Z").naive_utc()), "lead_1", "RECONCILE_CRON")
    );
    // "2026-03-06 15:00:00": still EST, 20:00 UTC.
    let canceled = row("Bn7TgW1zQ5xE3rMa0uHy");
    assert!(matches!(canceled.status.as_str(), "CANCELED" | "RESCHEDULED"), "{canceled:?}");
    assert_eq!(canceled.start, Some(at("2026-03-06T20:00:00Z").naive_utc()));
    // Past appointments: cron creates no follow-up tasks for them.
    assert_eq!(count(&client, r#"SELECT count(*) FROM "FollowUpTask""#).await, 0);
    let checked = last_checked(&client, "lead_1").await.expect("marked checked");
    assert!((checked.and_utc() - now).num_seconds().abs() < 5);

    // Not due again right away; due after the interval, and then nothing changes.
    let again = reconciler.run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!(again.leads_checked, 0);
    let later = reconciler.run_cron(now + TimeDelta::hours(7), deadline()).await.unwrap();
    assert_eq!((later.leads_checked, later.unchanged, later.observations_recorded), (1, 2, 0), "{later:?}");
}

#[tokio::test]
async fn calendly_end_to_end_following_pagination() {
    let (db, client, server) = database_and_server().await;
    calendly_client(&client, "client_cal").await;
    calendly_lead(&client, "client_cal", "lead_dana", "Dana.Whitfield@example.com").await;

    // The two scheduled events of the fixture, served one per page.
    let events = fixture("calendly/api-list-scheduled-events.json");
    let page = |i: usize, next: Option<&str>| json!({"collection": [events["collection"][i].clone()], "pagination": {"count": 1, "next_page_token": next, "next_page": null}});
    Mock::given(method("GET"))
        .and(path("/scheduled_events"))
        .and(query_param("organization", ORG))
        .and(query_param("invitee_email", "Dana.Whitfield@example.com"))
        .and(query_param("page_token", "page-2"))
        .and(header("Authorization", format!("Bearer {CALENDLY_TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(1, None)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/scheduled_events"))
        .and(query_param("organization", ORG))
        .and(query_param("count", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0, Some("page-2"))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40/invitees"))
        .and(query_param("email", "Dana.Whitfield@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("calendly/api-list-event-invitees-canceled.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/scheduled_events/9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268/invitees"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("calendly/api-list-event-invitees.json")))
        .expect(1)
        .mount(&server)
        .await;

    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.created, summary.failed), (1, 2, 0), "{summary:?}");

    let rows = client
        .query(
            r#"SELECT "calendlyInviteeUri", "status"::text, "startAt"::text, "cancelReason", "canceledBy", "rescheduledFromId", "id"
               FROM "Appointment" ORDER BY "startAt""#,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let (old, new) = (&rows[0], &rows[1]);
    assert!(old.get::<_, String>(0).ends_with("/invitees/6a1f0c2e-5b7d-4e38-9c0a-71d2e4f8b3a9"));
    assert_eq!(old.get::<_, String>(1), "RESCHEDULED");
    assert_eq!(old.get::<_, Option<String>>(2).as_deref(), Some("2026-03-10 17:00:00"));
    assert_eq!(old.get::<_, Option<String>>(3).as_deref(), Some("Travelling that day, moving to Thursday. Reach me at [email]"));
    assert_eq!(old.get::<_, Option<String>>(4).as_deref(), Some("invitee"));
    assert_eq!(new.get::<_, String>(1), "CONFIRMED");
    assert_eq!(new.get::<_, Option<String>>(5), Some(old.get::<_, String>(6)), "the new booking links to the one it replaces");
    let rollup: (Option<String>, Option<String>) = {
        let r =
            client.query_one(r#"SELECT "appointmentStatus", "appointmentSource" FROM "Lead" WHERE "id" = 'lead_dana'"#, &[]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(rollup, (Some("confirmed".into()), Some("reconcile_cron".into())));
}

#[tokio::test]
async fn rate_limited_then_success_honors_the_wait() {
    let (db, client, server) = database_and_server().await;
    one_ghl_lead(&client).await;
    answer_once_then(
        &server,
        CONTACT,
        ResponseTemplate::new(429).insert_header("Retry-After", "1").set_body_json(fixture("calendly/api-429-body.json")),
        ResponseTemplate::new(200).set_body_json(fixture("ghl/api-contact-appointments.json")),
    )
    .await;

    let started = std::time::Instant::now();
    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.rate_limited, summary.failed, summary.created), (1, 1, 0, 2), "{summary:?}");
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for Retry-After");
}

#[tokio::test]
async fn calendly_rate_limit_reset_is_honored() {
    let (db, client, server) = database_and_server().await;
    calendly_client(&client, "c").await;
    calendly_lead(&client, "c", "lead_1", EMAIL).await;
    Mock::given(method("GET"))
        .and(path("/scheduled_events"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Limit", "500")
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "1")
                .set_body_json(fixture("calendly/api-429-body.json")),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/scheduled_events"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"collection": [], "pagination": {"next_page_token": null}})))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.rate_limited, summary.failed), (1, 1, 0), "{summary:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let (db, client, server) = database_and_server().await;
    one_ghl_lead(&client).await;
    ghl_appointments_mock(CONTACT).respond_with(ResponseTemplate::new(503)).up_to_n_times(2).with_priority(1).mount(&server).await;
    ghl_answers(&server, CONTACT, ResponseTemplate::new(200).set_body_json(fixture("ghl/api-contact-appointments.json"))).await;
    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.retries, summary.failed, summary.created), (1, 2, 0, 2), "{summary:?}");
}

#[tokio::test]
async fn timeouts_are_retried_and_a_lead_that_keeps_timing_out_fails_alone() {
    let (db, client, server) = database_and_server().await;
    ghl_client(&client, "c", LOCATION).await;
    ghl_lead(&client, "c", "lead_slow_once", "cnt_slow_once").await;
    ghl_lead(&client, "c", "lead_always_slow", "cnt_always_slow").await;
    let body = fixture("ghl/api-contact-appointments.json");
    // The client's timeout is 600 ms.
    answer_once_then(
        &server,
        "cnt_slow_once",
        ResponseTemplate::new(200).set_body_json(body.clone()).set_delay(Duration::from_secs(2)),
        ResponseTemplate::new(200).set_body_json(body.clone()),
    )
    .await;
    ghl_answers(
        &server,
        "cnt_always_slow",
        ResponseTemplate::new(200).set_body_json(json!({"events": []})).set_delay(Duration::from_secs(2)),
    )
    .await;

    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.failed), (1, 1), "{summary:?}");
    assert_eq!(summary.failed_lead_ids, vec!["lead_always_slow".to_string()]);
    assert!(summary.retries >= 3, "one retry for the first lead, two for the second: {summary:?}");
    assert!(last_checked(&client, "lead_slow_once").await.is_some());
    assert!(last_checked(&client, "lead_always_slow").await.is_none());
}

#[tokio::test]
async fn malformed_provider_json_fails_that_lead_only() {
    let (db, client, server) = database_and_server().await;
    ghl_client(&client, "c", LOCATION).await;
    calendly_client(&client, "c2").await;
    ghl_lead(&client, "c", "lead_truncated", "cnt_truncated").await;
    ghl_lead(&client, "c", "lead_wrong_shape", "cnt_wrong_shape").await;
    ghl_lead(&client, "c", "lead_ok", CONTACT).await;
    calendly_lead(&client, "c2", "lead_cal_bad", EMAIL).await;
    ghl_answers(&server, "cnt_truncated", ResponseTemplate::new(200).set_body_string(r#"{"events": [{"id": "x", "#)).await;
    ghl_answers(&server, "cnt_wrong_shape", ResponseTemplate::new(200).set_body_json(json!({"events": {"id": 7}}))).await;
    ghl_answers(&server, CONTACT, ResponseTemplate::new(200).set_body_json(fixture("ghl/api-contact-appointments.json"))).await;
    Mock::given(method("GET"))
        .and(path("/scheduled_events"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>gateway</html>"))
        .mount(&server)
        .await;

    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.failed, summary.created), (1, 3, 2), "{summary:?}");
    let mut failed = summary.failed_lead_ids.clone();
    failed.sort();
    assert_eq!(failed, vec!["lead_cal_bad", "lead_truncated", "lead_wrong_shape"]);
    // Malformed answers are not retried: they are not transient.
    assert_eq!(summary.retries, 0);
}

#[tokio::test]
async fn a_failing_lead_among_good_ones_comes_back_next_run() {
    let (db, client, server) = database_and_server().await;
    ghl_client(&client, "c", LOCATION).await;
    for i in 0..5 {
        ghl_lead(&client, "c", &format!("lead_{i}"), &format!("cnt_{i}")).await;
    }
    // cnt_2 was deleted in GHL; cnt_3 has an appointment with bad data (an unknown status) next to a good one.
    ghl_answers(&server, "cnt_2", ResponseTemplate::new(404).set_body_json(json!({"message": "Contact not found"}))).await;
    let mut bad = fixture("ghl/api-contact-appointments.json");
    bad["events"][1]["appointmentStatus"] = json!("tentative");
    bad["events"][1]["status"] = json!("tentative");
    ghl_appointments_mock("cnt_3").respond_with(PerContactAppointments { body: bad, delay: Duration::ZERO }).mount(&server).await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/contacts/cnt_[014]/appointments$"))
        .respond_with(PerContactAppointments { body: fixture("ghl/api-contact-appointments.json"), delay: Duration::from_millis(20) })
        .mount(&server)
        .await;

    let reconciler = reconciler(&db, &server.uri(), test_config());
    let now = Utc::now();
    let summary = reconciler.run_cron(now, deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.failed), (3, 2), "{summary:?}");
    let mut failed = summary.failed_lead_ids.clone();
    failed.sort();
    assert_eq!(failed, vec!["lead_2", "lead_3"]);
    // The good appointment of lead_3 is recorded all the same (7 = 3 leads x 2 + 1).
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment""#).await, 7);
    for (lead, checked) in [("lead_0", true), ("lead_1", true), ("lead_2", false), ("lead_3", false), ("lead_4", true)] {
        assert_eq!(last_checked(&client, lead).await.is_some(), checked, "{lead}");
    }
    // Next run: only the failed ones are due.
    let next = reconciler.run_cron(now + TimeDelta::minutes(5), deadline()).await.unwrap();
    assert_eq!((next.leads_checked, next.failed, next.skipped), (0, 2, 0), "{next:?}");
}

#[tokio::test]
async fn overlapping_runs_never_check_one_lead_twice() {
    let (db, client, server) = database_and_server().await;
    ghl_workspace_with_leads(&client, 12).await;
    serve_every_contact(&server, Duration::from_millis(150)).await;

    // Two independent reconcilers (two Lambda invocations), each with its own connections.
    let config = || reconcile_scheduled::config::ReconcileConfig { lead_concurrency: 2, ..test_config() };
    let a = reconciler(&db, &server.uri(), config());
    let b = reconciler(&db, &server.uri(), config());
    let now = Utc::now();
    let (ra, rb) = tokio::join!(a.run_cron(now, deadline()), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.run_cron(now, deadline()).await
    });
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.leads_checked + rb.leads_checked, 12, "{ra:?} {rb:?}");
    assert_eq!(ra.failed + rb.failed, 0);
    assert!(ra.skipped + rb.skipped > 0, "one run found the other's leads claimed: {ra:?} {rb:?}");

    let requests = server.received_requests().await.unwrap();
    let mut paths: Vec<String> = requests.iter().map(|r| r.url.path().to_string()).collect();
    let total = paths.len();
    paths.sort();
    paths.dedup();
    assert_eq!((total, paths.len()), (12, 12), "each contact asked exactly once");
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Lead" WHERE "appointmentLastCheckedAt" IS NULL"#).await, 0);
}

#[tokio::test]
async fn a_stale_provider_answer_never_overwrites_a_newer_webhook() {
    let (db, client, server) = database_and_server().await;
    one_ghl_lead(&client).await;

    // The webhook already told us the appointment moved to March 12 (dateUpdated March 3).
    let hook = fixture("ghl/webhook-appointment-update-time.json");
    let appt = &hook["appointment"];
    let mut obs = Observation::new("lead_1", Provider::Ghl, ObservedStatus::Is(AppointmentStatus::Confirmed), AppointmentSource::Webhook);
    obs.key = Some(appt["id"].as_str().unwrap().into());
    obs.start_at = Some(at(appt["startTime"].as_str().unwrap()));
    obs.end_at = Some(at(appt["endTime"].as_str().unwrap()));
    obs.provider_updated_at = Some(at(appt["dateUpdated"].as_str().unwrap()));
    db.store().await.record(obs).await.unwrap();

    // The API (a cached, older answer: dateUpdated March 1) still shows March 11.
    ghl_answers(&server, CONTACT, ResponseTemplate::new(200).set_body_json(fixture("ghl/api-contact-appointments.json"))).await;
    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.failed), (1, 0));

    let row = client
        .query_one(r#"SELECT "startAt"::text, "source"::text, "providerUpdatedAt"::text FROM "Appointment" WHERE "ghlAppointmentId" = 'Yq3FpL8wV2nR6tKc9sDx'"#, &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "2026-03-12 15:00:00", "the webhook's newer time stands");
    assert_eq!(row.get::<_, String>(2), "2026-03-03 12:30:40");
    let moves = count(&client, r#"SELECT count(*) FROM "AppointmentEvent" WHERE "kind" = 'time_changed'"#).await;
    assert_eq!(moves, 0);
}

#[tokio::test]
async fn a_ghl_appointment_that_moves_keeps_its_row_and_logs_the_move() {
    let (db, client, server) = database_and_server().await;
    one_ghl_lead(&client).await;
    let first = fixture("ghl/api-contact-appointments.json");
    let mut moved = first.clone();
    moved["events"][0]["startTime"] = json!("2026-03-13 10:00:00");
    moved["events"][0]["endTime"] = json!("2026-03-13 10:30:00");
    moved["events"][0]["dateUpdated"] = json!("2026-03-05T08:00:00.000Z");
    answer_once_then(&server, CONTACT, ResponseTemplate::new(200).set_body_json(first), ResponseTemplate::new(200).set_body_json(moved))
        .await;

    let reconciler = reconciler(&db, &server.uri(), test_config());
    let now = Utc::now();
    reconciler.run_cron(now, deadline()).await.unwrap();
    let id_before: String =
        client.query_one(r#"SELECT "id" FROM "Appointment" WHERE "ghlAppointmentId" = 'Yq3FpL8wV2nR6tKc9sDx'"#, &[]).await.unwrap().get(0);
    let later = reconciler.run_cron(now + TimeDelta::hours(7), deadline()).await.unwrap();
    assert_eq!((later.updated, later.unchanged), (1, 1), "{later:?}");
    let row = client
        .query_one(r#"SELECT "id", "startAt"::text FROM "Appointment" WHERE "ghlAppointmentId" = 'Yq3FpL8wV2nR6tKc9sDx'"#, &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), id_before);
    assert_eq!(row.get::<_, String>(1), "2026-03-13 14:00:00");
    let event = client
        .query_one(r#"SELECT "oldValue", "newValue", "source"::text FROM "AppointmentEvent" WHERE "kind" = 'time_changed' AND "appointmentId" = $1"#, &[&id_before])
        .await
        .unwrap();
    assert_eq!(event.get::<_, Option<String>>(0).as_deref(), Some("2026-03-11T19:00:00.000Z/2026-03-11T19:30:00.000Z"));
    assert_eq!(event.get::<_, Option<String>>(1).as_deref(), Some("2026-03-13T14:00:00.000Z/2026-03-13T14:30:00.000Z"));
    assert_eq!(event.get::<_, String>(2), "RECONCILE_CRON");
}

/// A GHL cancellation of an upcoming appointment and of a past one, seen first as booked.
fn future_and_past_story() -> (serde_json::Value, serde_json::Value) {
    let future = (Utc::now() + TimeDelta::days(10)).format("%Y-%m-%d 15:00:00").to_string();
    let future_end = (Utc::now() + TimeDelta::days(10)).format("%Y-%m-%d 15:30:00").to_string();
    let booked = json!({"events": [
        {"id": "appt_future", "appointmentStatus": "confirmed", "startTime": future, "endTime": future_end,
         "dateAdded": "2026-03-01T10:00:00.000Z", "dateUpdated": "2026-03-01T10:00:00.000Z"},
        {"id": "appt_past", "appointmentStatus": "confirmed", "startTime": "2026-03-06 15:00:00", "endTime": "2026-03-06 15:30:00",
         "dateAdded": "2026-02-01T10:00:00.000Z", "dateUpdated": "2026-02-01T10:00:00.000Z"}
    ]});
    let mut canceled = booked.clone();
    for (i, t) in [(0, "2026-03-02T09:00:00.000Z"), (1, "2026-03-02T09:00:00.000Z")] {
        canceled["events"][i]["appointmentStatus"] = json!("cancelled");
        canceled["events"][i]["dateUpdated"] = json!(t);
    }
    (booked, canceled)
}

#[tokio::test]
async fn cron_tasks_only_upcoming_cancellations_and_backfill_none() {
    for mode in ["cron", "backfill"] {
        let (db, client, server) = database_and_server().await;
        one_ghl_lead(&client).await;
        let (booked, canceled) = future_and_past_story();
        answer_once_then(
            &server,
            CONTACT,
            ResponseTemplate::new(200).set_body_json(booked),
            ResponseTemplate::new(200).set_body_json(canceled),
        )
        .await;
        let reconciler = reconciler(&db, &server.uri(), test_config());
        let now = Utc::now();
        let summaries = match mode {
            "cron" => vec![
                reconciler.run_cron(now, deadline()).await.unwrap(),
                reconciler.run_cron(now + TimeDelta::hours(7), deadline()).await.unwrap(),
            ],
            _ => vec![
                reconciler.run_backfill(&backfill("c", None, None), now, deadline()).await.unwrap(),
                reconciler.run_backfill(&backfill("c", None, None), now, deadline()).await.unwrap(),
            ],
        };
        assert!(summaries.iter().all(|s| s.failed == 0 && s.leads_checked == 1), "{summaries:?}");
        let tasks: Vec<(String, String)> = client
            .query(r#"SELECT a."ghlAppointmentId", t."type" FROM "FollowUpTask" t JOIN "Appointment" a ON a."id" = t."appointmentId""#, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let expected = if mode == "cron" { vec![("appt_future".to_string(), "meeting-canceled".to_string())] } else { vec![] };
        assert_eq!(tasks, expected, "{mode}");
        let sources: Vec<String> =
            client.query(r#"SELECT DISTINCT "source"::text FROM "Appointment""#, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(sources, vec![if mode == "cron" { "RECONCILE_CRON" } else { "BACKFILL" }]);
    }
}

async fn backfill_world(leads: usize) -> (shared::testing::TestDb, tokio_postgres::Client) {
    let (db, client) = database().await;
    ghl_client(&client, "c", LOCATION).await;
    ghl_client(&client, "other", "loc_other").await;
    for i in 0..leads {
        ghl_lead(&client, "c", &format!("lead_{i:03}"), &format!("cnt_{i:03}")).await;
    }
    // Not walked: another client's lead, and a lead without a contact id.
    ghl_lead(&client, "other", "lead_other", "cnt_other").await;
    shared::testing::seed_lead(&client, "c", "lead_no_contact", None).await.unwrap();
    (db, client)
}

#[tokio::test]
async fn backfill_resumed_from_its_cursor_ends_where_an_uninterrupted_one_does() {
    let server = MockServer::start().await;
    serve_every_contact(&server, Duration::from_millis(30)).await;
    let now = Utc::now();

    // Uninterrupted.
    let (db_a, client_a) = backfill_world(23).await;
    let whole = reconciler(&db_a, &server.uri(), test_config()).run_backfill(&backfill("c", None, None), now, deadline()).await.unwrap();
    assert_eq!((whole.leads_checked, whole.complete, whole.next_cursor.clone()), (23, Some(true), None), "{whole:?}");

    // In pieces: small maxLeads, then a run cut short by its time budget, then to the end.
    let (db_b, client_b) = backfill_world(23).await;
    let config =
        reconcile_scheduled::config::ReconcileConfig { lead_concurrency: 1, deadline_margin: Duration::from_secs(1), ..test_config() };
    let pieces = reconciler(&db_b, &server.uri(), config);
    let first = pieces.run_backfill(&backfill("c", Some(5), None), now, deadline()).await.unwrap();
    assert_eq!((first.leads_checked, first.complete, first.next_cursor.as_deref()), (5, Some(false), Some("lead_004")), "{first:?}");
    // 400 ms to the deadline, a quarter of it kept as margin: a handful of 30 ms leads (none on a
    // very busy machine), then it stops cleanly.
    let short = tokio::time::Instant::now() + Duration::from_millis(400);
    let second = pieces.run_backfill(&backfill("c", None, first.next_cursor.clone()), now, short).await.unwrap();
    assert!(second.stopped_early && second.complete == Some(false), "{second:?}");
    assert!(second.leads_checked < 18, "{second:?}");
    let mut cursor = second.next_cursor.clone();
    let mut walked = first.leads_checked + second.leads_checked;
    let mut invocations = 0;
    loop {
        let s = pieces.run_backfill(&backfill("c", Some(4), cursor.clone()), now, deadline()).await.unwrap();
        walked += s.leads_checked;
        invocations += 1;
        if s.complete == Some(true) {
            assert!(s.next_cursor.is_none());
            break;
        }
        cursor = s.next_cursor.clone();
        assert!(cursor.is_some() && invocations < 10, "{s:?}");
    }
    assert_eq!(walked, 23, "each lead walked exactly once");
    assert_eq!(appointments(&client_a, None).await, appointments(&client_b, None).await);
    assert_eq!(appointments(&client_b, None).await.len(), 46);
    for c in [&client_a, &client_b] {
        assert_eq!(count(c, r#"SELECT count(*) FROM "Lead" WHERE "appointmentLastCheckedAt" IS NOT NULL"#).await, 23);
    }
}

#[tokio::test]
async fn backfill_of_an_unknown_client_is_rejected() {
    let (db, client) = database().await;
    shared::testing::seed_client(&client, "no_providers", None).await.unwrap();
    let r = reconciler(&db, "http://127.0.0.1:9", test_config());
    for id in ["missing", "no_providers"] {
        let err = r.run_backfill(&backfill(id, None, None), Utc::now(), deadline()).await.unwrap_err();
        assert_eq!(err.error_type(), "ClientNotFound");
    }
}

#[tokio::test]
async fn the_due_rule_in_sql_selects_what_the_pure_rule_says() {
    use reconcile_scheduled::due::{DuePolicy, LeadClock};
    let (db, client, server) = database_and_server().await;
    ghl_client(&client, "c", LOCATION).await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/contacts/[^/]+/appointments$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"events": []})))
        .mount(&server)
        .await;
    let now = chrono::DateTime::<Utc>::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let h = TimeDelta::hours;
    let m = TimeDelta::minutes;
    let cases: Vec<(Option<TimeDelta>, Option<&str>, Option<TimeDelta>)> = vec![
        (None, None, None),
        (Some(m(5)), None, None),
        (Some(h(7)), None, None),
        (Some(m(45)), Some("confirmed"), Some(h(2))),
        (Some(m(10)), Some("confirmed"), Some(h(2))),
        (Some(m(45)), Some("confirmed"), Some(h(50))),
        (Some(m(45)), Some("canceled"), Some(h(2))),
        (Some(m(45)), Some("confirmed"), Some(-h(2))),
    ];
    let policy = DuePolicy::default();
    for (i, (ago, status, starts)) in cases.iter().enumerate() {
        let lead = format!("lead_{i}");
        ghl_lead(&client, "c", &lead, &format!("cnt_{i}")).await;
        let checked = ago.map(|a| (now - a).naive_utc());
        let start = starts.map(|s| (now + s).naive_utc());
        client
            .execute(
                r#"UPDATE "Lead" SET "appointmentLastCheckedAt" = $2, "appointmentStatus" = $3, "appointmentStartAt" = $4 WHERE "id" = $1"#,
                &[&lead, &checked, status, &start],
            )
            .await
            .unwrap();
    }
    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(now, deadline()).await.unwrap();
    let mut asked: Vec<String> = server.received_requests().await.unwrap().iter().map(|r| r.url.path().to_string()).collect();
    asked.sort();
    let expected: Vec<String> = cases
        .iter()
        .enumerate()
        .filter(|(_, (ago, status, starts))| {
            LeadClock { last_checked_at: ago.map(|a| now - a), rollup_status: *status, rollup_start_at: starts.map(|s| now + s) }
                .is_due(now, &policy)
        })
        .map(|(i, _)| format!("/contacts/cnt_{i}/appointments"))
        .collect();
    assert_eq!(asked, expected);
    assert_eq!(summary.leads_checked as usize, expected.len());
    assert!(expected.len() >= 3 && expected.len() < cases.len());
}

#[tokio::test]
async fn the_run_stops_taking_leads_at_its_time_budget() {
    let (db, client, server) = database_and_server().await;
    ghl_workspace_with_leads(&client, 20).await;
    serve_every_contact(&server, Duration::from_millis(100)).await;
    let config =
        reconcile_scheduled::config::ReconcileConfig { lead_concurrency: 1, deadline_margin: Duration::from_secs(1), ..test_config() };
    let r = reconciler(&db, &server.uri(), config);
    // 100 ms per lead, one at a time; a quarter of the 2.5 s is kept as margin (less than the 1 s set).
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
    let started = std::time::Instant::now();
    let summary = r.run_cron(Utc::now(), deadline).await.unwrap();
    assert!(summary.stopped_early, "{summary:?}");
    assert!(summary.leads_checked >= 1 && summary.leads_checked < 20, "{summary:?}");
    assert_eq!(summary.leads_checked + summary.skipped, 20, "{summary:?}");
    assert!(started.elapsed() < Duration::from_millis(2500), "finished before the deadline: {:?}", started.elapsed());
    assert_eq!(
        count(&client, r#"SELECT count(*) FROM "Lead" WHERE "appointmentLastCheckedAt" IS NOT NULL"#).await as u64,
        summary.leads_checked
    );
}

#[tokio::test]
async fn a_group_events_other_invitees_are_never_attributed_to_the_lead() {
    let (db, client, server) = database_and_server().await;
    calendly_client(&client, "c").await;
    calendly_lead(&client, "c", "lead_dana", EMAIL).await;
    let events = fixture("calendly/api-list-scheduled-events.json");
    Mock::given(method("GET"))
        .and(path("/scheduled_events"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"collection": [events["collection"][1].clone()], "pagination": {}})))
        .mount(&server)
        .await;
    // Even if the email filter were ignored, the other attendee's invitee stays out.
    let mut invitees = fixture("calendly/api-list-event-invitees.json");
    let mut other = invitees["collection"][0].clone();
    other["email"] = json!("sam.other@example.org");
    other["uri"] = json!("https://api.calendly.com/scheduled_events/9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268/invitees/0000-other");
    invitees["collection"].as_array_mut().unwrap().push(other);
    Mock::given(path_regex("^/scheduled_events/[^/]+/invitees$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(invitees))
        .mount(&server)
        .await;
    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.created), (1, 1), "{summary:?}");
    let rows = appointments(&client, None).await;
    assert!(rows[0].key.as_deref().is_some_and(|k| k.ends_with("/invitees/e4c2a9b7-1f3d-4e6a-8c5b-0d9f7a3e1b26")), "{rows:?}");
}

#[tokio::test]
async fn a_ghl_client_without_a_time_zone_fails_its_leads_rather_than_guess() {
    let (db, client, server) = database_and_server().await;
    ghl_client(&client, "c", LOCATION).await;
    client.execute(r#"UPDATE "Client" SET "timezone" = NULL WHERE "id" = 'c'"#, &[]).await.unwrap();
    ghl_lead(&client, "c", "lead_1", CONTACT).await;
    let summary = reconciler(&db, &server.uri(), test_config()).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.failed, summary.created), (0, 1, 0), "{summary:?}");
    assert!(server.received_requests().await.unwrap().is_empty(), "GHL is not even asked");
    assert!(last_checked(&client, "lead_1").await.is_none());
}

#[tokio::test]
async fn a_database_outage_fails_the_run_as_unavailable() {
    let settings = shared::testing::unreachable_database();
    let http = shared::providers::ProviderHttp::new(
        shared::providers::Endpoints::new("http://127.0.0.1:9", "http://127.0.0.1:9").unwrap(),
        fast_http(),
        Default::default(),
    )
    .unwrap();
    let r = reconcile_scheduled::Reconciler::new(settings, http, test_config());
    let err = r.run_cron(Utc::now(), deadline()).await.unwrap_err();
    assert_eq!(err.error_type(), "DatabaseUnavailable", "{err}");
    let err = r.handle(json!({"mode": "backfill", "clientId": "c"}), deadline()).await.unwrap_err();
    assert_eq!(err.error_type(), "DatabaseUnavailable", "{err}");
}

#[tokio::test]
async fn refused_credentials_fail_the_clients_leads_without_asking_again() {
    let (db, client, server) = database_and_server().await;
    ghl_client(&client, "revoked", "loc_revoked").await;
    ghl_client(&client, "fine", LOCATION).await;
    for i in 0..6 {
        ghl_lead(&client, "revoked", &format!("lead_r{i}"), &format!("cnt_r{i}")).await;
    }
    ghl_lead(&client, "fine", "lead_fine", CONTACT).await;
    Mock::given(path_regex(r"^/contacts/cnt_r\d/appointments$"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Invalid JWT"})))
        .mount(&server)
        .await;
    ghl_answers(&server, CONTACT, ResponseTemplate::new(200).set_body_json(fixture("ghl/api-contact-appointments.json"))).await;
    let config = reconcile_scheduled::config::ReconcileConfig { lead_concurrency: 1, ..test_config() };
    let summary = reconciler(&db, &server.uri(), config).run_cron(Utc::now(), deadline()).await.unwrap();
    assert_eq!((summary.leads_checked, summary.failed), (1, 6), "{summary:?}");
    let asked_revoked = server.received_requests().await.unwrap().iter().filter(|r| r.url.path().contains("cnt_r")).count();
    assert_eq!(asked_revoked, 1, "the revoked key is tried once per run, not once per lead");
}

/// The contact's listing with its first appointment moved to the future (held as active and
/// upcoming once recorded).
fn upcoming_listing() -> serde_json::Value {
    let mut listing = fixture("ghl/api-contact-appointments.json");
    listing["events"][0]["startTime"] = json!("2030-01-10 15:00:00");
    listing["events"][0]["endTime"] = json!("2030-01-10 15:30:00");
    listing
}

async fn held(client: &tokio_postgres::Client, key: &str) -> (String, Option<String>, String) {
    let row = client
        .query_one(r#"SELECT "status"::text, "cancelReason", "source"::text FROM "Appointment" WHERE "ghlAppointmentId" = $1"#, &[&key])
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn an_upcoming_appointment_missing_from_a_complete_listing_is_recorded_deleted() {
    let (db, client, server) = database_and_server().await;
    one_ghl_lead(&client).await;
    let first = upcoming_listing();
    let mut without = first.clone();
    without["events"].as_array_mut().unwrap().remove(0);
    answer_once_then(&server, CONTACT, ResponseTemplate::new(200).set_body_json(first), ResponseTemplate::new(200).set_body_json(without))
        .await;

    let reconciler = reconciler(&db, &server.uri(), test_config());
    let now = Utc::now();
    reconciler.run_cron(now, deadline()).await.unwrap();
    assert_eq!(held(&client, "Yq3FpL8wV2nR6tKc9sDx").await.0, "CONFIRMED");
    let later = reconciler.run_cron(now + TimeDelta::hours(7), deadline()).await.unwrap();
    assert_eq!((later.leads_checked, later.failed, later.updated), (1, 0, 1), "{later:?}");
    assert_eq!(held(&client, "Yq3FpL8wV2nR6tKc9sDx").await, ("CANCELED".into(), Some("deleted in GHL".into()), "RECONCILE_CRON".into()));
    let rollup: Option<String> =
        client.query_one(r#"SELECT "appointmentStatus" FROM "Lead" WHERE "id" = 'lead_1'"#, &[]).await.unwrap().get(0);
    assert_eq!(rollup.as_deref(), Some("canceled"));
    // The past, already canceled one is left as it was; a third run changes nothing.
    let again = reconciler.run_cron(now + TimeDelta::hours(14), deadline()).await.unwrap();
    assert_eq!((again.updated, again.created), (0, 0), "{again:?}");
}

#[tokio::test]
async fn a_failed_or_unreadable_listing_deletes_nothing() {
    for failure in [ResponseTemplate::new(500), ResponseTemplate::new(200).set_body_string("{\"events\": [")] {
        let (db, client, server) = database_and_server().await;
        one_ghl_lead(&client).await;
        answer_once_then(&server, CONTACT, ResponseTemplate::new(200).set_body_json(upcoming_listing()), failure).await;

        let reconciler = reconciler(&db, &server.uri(), test_config());
        let now = Utc::now();
        reconciler.run_cron(now, deadline()).await.unwrap();
        let later = reconciler.run_cron(now + TimeDelta::hours(7), deadline()).await.unwrap();
        assert_eq!((later.failed, later.updated), (1, 0), "{later:?}");
        assert_eq!(held(&client, "Yq3FpL8wV2nR6tKc9sDx").await.0, "CONFIRMED");
    }
}
