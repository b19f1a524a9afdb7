//! Calendly webhook subscription health: a fake Calendly (wiremock) serving the API's list bodies,
//! a real database with the clients, and the EMF line and warnings a check writes.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use reconcile_scheduled::subscriptions::check_all;
use serde_json::json;
use shared::metrics::{self, check, SubscriptionHealth};
use shared::providers::{Endpoints, ProviderHttp, Quotas};
use shared::testing::LogCapture;
use tokio::time::Instant;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PATTERN: &str = "https://k3x9w2v7qa.execute-api.eu-west-1.amazonaws.com/webhooks/calendly/{clientId}";
const ME: &str = "https://api.calendly.com/users/2b6e9f1c-4d8a-4c3e-b7f2-9a1d5e0c8b64";
const NAMESPACE: &str = "Test/Subscriptions";

/// The metrics and the logs of this test binary, captured once: both sinks are global (a per-test
/// subscriber would miss events whose callsites another test's thread registered first).
fn captured() -> &'static (LogCapture, LogCapture) {
    static CAPTURED: OnceLock<(LogCapture, LogCapture)> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let out = LogCapture::default();
        metrics::init_with_writer("reconcile-scheduled", NAMESPACE.into(), out.clone());
        let logs = LogCapture::default();
        // Everything down to TRACE, under production's privacy floor (the test's own seeding sends
        // tokens as statement parameters, which the database driver logs at DEBUG).
        let layer = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(logs.clone());
        tracing_subscriber::registry()
            .with(layer.with_filter(tracing_subscriber::filter::filter_fn(shared::telemetry::allowed)))
            .try_init()
            .expect("the only subscriber of this test binary");
        (out, logs)
    })
}

fn bearer(token: &str) -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("Bearer {token}").as_str())
}

fn http(server: &MockServer, quotas: Quotas) -> ProviderHttp {
    ProviderHttp::new(Endpoints::new(&server.uri(), &server.uri()).unwrap(), fast_http(), quotas).unwrap()
}

#[tokio::test]
async fn disabled_missing_active_and_unreadable_subscriptions_are_told_apart() {
    let (captured, logs) = captured();

    let (db, client, server) = database_and_server().await;
    // Four workspaces of one Calendly organization, one token each; a GHL-only client is not checked.
    calendly_client_with_token(&client, "client_active", "pat_active_1f2e").await;
    calendly_client_with_token(&client, "client_disabled", "pat_disabled_3d4c").await;
    calendly_client_with_token(&client, "client_user_scope", "pat_user_5b6a").await;
    calendly_client_with_token(&client, "client_missing", "pat_missing_7f8e").await;
    calendly_client_with_token(&client, "client_no_scope", "pat_noscope_9d0c").await;
    ghl_client(&client, "client_ghl_only", LOCATION).await;

    let organization_list = fixture("calendly/api-list-webhook-subscriptions.json");
    for token in ["pat_active_1f2e", "pat_disabled_3d4c", "pat_user_5b6a", "pat_missing_7f8e"] {
        Mock::given(method("GET"))
            .and(path("/webhook_subscriptions"))
            .and(query_param("organization", ORG))
            .and(query_param("scope", "organization"))
            .and(bearer(token))
            .respond_with(ResponseTemplate::new(200).set_body_json(&organization_list))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/users/me"))
            .and(bearer(token))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture("calendly/api-users-me.json")))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/webhook_subscriptions"))
        .and(query_param("scope", "user"))
        .and(query_param("user", ME))
        .and(bearer("pat_user_5b6a"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("calendly/api-list-webhook-subscriptions-user.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/webhook_subscriptions"))
        .and(query_param("scope", "user"))
        .and(bearer("pat_missing_7f8e"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"collection": [], "pagination": {"count": 0, "next_page": null, "next_page_token": null, "previous_page": null, "previous_page_token": null}})))
        .expect(1)
        .mount(&server)
        .await;
    // A token without `webhooks:read`.
    Mock::given(method("GET"))
        .and(path("/webhook_subscriptions"))
        .and(bearer("pat_noscope_9d0c"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({"title": "Permission Denied", "message": "You do not have permission"})),
        )
        .mount(&server)
        .await;

    let counts = check_all(&db.settings(), &http(&server, Quotas::default()), PATTERN, 4, Instant::now() + Duration::from_secs(20)).await;
    assert_eq!(counts, SubscriptionHealth { active: 2, disabled: 1, missing: 1, unchecked: 1 });

    // Requests: one list per client; `/users/me` and the user-scope list only where ours is not in
    // the organization's list (active and disabled ones stop at the first list).
    let requests = server.received_requests().await.unwrap();
    let count = |p: &str, token: &str| {
        requests
            .iter()
            .filter(|r| r.url.path() == p && r.headers.get("authorization").is_some_and(|v| v == format!("Bearer {token}").as_str()))
            .count()
    };
    assert_eq!(count("/webhook_subscriptions", "pat_active_1f2e"), 1);
    assert_eq!(count("/users/me", "pat_active_1f2e"), 0);
    assert_eq!(count("/webhook_subscriptions", "pat_disabled_3d4c"), 1);
    assert_eq!(count("/users/me", "pat_disabled_3d4c"), 0);
    assert_eq!(count("/webhook_subscriptions", "pat_user_5b6a"), 2);
    assert_eq!(count("/webhook_subscriptions", "pat_missing_7f8e"), 2);

    // Warnings: client ids and the subscription's URI, never a token or the people of the answers.
    let log_text = logs.text();
    let warning = log_text.lines().find(|l| l.contains("subscription disabled")).expect("a warning for the disabled subscription");
    assert!(warning.contains("WARN") && warning.contains("client_disabled"), "{warning}");
    assert!(warning.contains("https://api.calendly.com/webhook_subscriptions/6d1f0b7a-3c2e-4a58-9e41-7b0c5d2f8a93"), "{warning}");
    assert!(log_text.lines().any(|l| l.contains("WARN") && l.contains("client_missing") && l.contains("no calendly webhook subscription")));
    assert!(log_text.lines().any(|l| l.contains("WARN") && l.contains("client_no_scope") && l.contains("403")));
    for secret in ["pat_active_1f2e", "pat_disabled_3d4c", "pat_user_5b6a", "pat_noscope_9d0c", "Riley Closer", "riley.closer", "zapier"] {
        assert!(!log_text.contains(secret), "the logs contain {secret:?}");
    }

    // The metric line the alarm reads.
    let text = captured.text();
    let line = check::emf_lines(&text)
        .into_iter()
        .map(|l| check::emf(l, NAMESPACE).unwrap_or_else(|e| panic!("{e}: {l}")))
        .find(|d| d["CalendlySubscriptionsDisabled"] == 1 && d["CalendlySubscriptionsMissing"] == 1)
        .unwrap_or_else(|| panic!("no subscription health line in {text}"));
    assert_eq!(line["CalendlySubscriptionsActive"], 2);
    assert_eq!(line["CalendlySubscriptionsUnchecked"], 1);
    assert_eq!(check::dimensions(&line), [("Function".to_string(), "reconcile-scheduled".to_string())]);
}

/// One Calendly client (`client_id`, its `token`), and a fake Calendly listing the fixture's
/// subscriptions to anyone; the captured sinks are in place.
async fn one_client_listing_the_fixture_subscriptions(client_id: &str, token: &str) -> (shared::testing::TestDb, MockServer) {
    captured();
    let (db, client, server) = database_and_server().await;
    calendly_client_with_token(&client, client_id, token).await;
    serve_fixture(&server, "/webhook_subscriptions", "calendly/api-list-webhook-subscriptions.json").await;
    (db, server)
}

#[tokio::test]
async fn the_check_waits_for_the_rate_limiter_and_stops_at_the_deadline() {
    let (db, server) = one_client_listing_the_fixture_subscriptions("client_user_scope", "pat_user_5b6a").await;
    serve_fixture(&server, "/users/me", "calendly/api-users-me.json").await;

    // Two requests a minute: the organization list and `/users/me` fit, the user-scope list would
    // have to wait a minute, past the check's deadline.
    let quotas = Quotas { calendly_per_minute: 2, ..Quotas::default() };
    let started = Instant::now();
    let counts = check_all(&db.settings(), &http(&server, quotas), PATTERN, 4, started + Duration::from_millis(800)).await;
    assert_eq!(counts, SubscriptionHealth { unchecked: 1, ..SubscriptionHealth::default() });
    assert!(started.elapsed() < Duration::from_secs(5), "stopped at the deadline: {:?}", started.elapsed());
    assert_eq!(server.received_requests().await.unwrap().len(), 2, "never more than the quota");
}

#[tokio::test]
async fn a_cron_run_checks_the_subscriptions_when_it_knows_its_url() {
    let (db, server) = one_client_listing_the_fixture_subscriptions("client_disabled", "pat_disabled_3d4c").await;
    let schedule = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});

    let without = reconciler(&db, &server.uri(), test_config());
    without.handle(schedule.clone(), deadline()).await.unwrap();
    assert!(server.received_requests().await.unwrap().is_empty(), "no URL, no check");

    let config = reconcile_scheduled::config::ReconcileConfig { calendly_webhook_url_pattern: Some(PATTERN.into()), ..test_config() };
    let with = reconciler(&db, &server.uri(), config);
    with.handle(schedule, deadline()).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.iter().filter(|r| r.url.path() == "/webhook_subscriptions").count(), 1);
}
