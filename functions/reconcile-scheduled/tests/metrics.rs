//! The metric lines of real runs (a cron run over a Calendly and a GHL lead with a 429 on the way,
//! a backfill, a failed run): valid EMF, the numbers of each run and provider, and nothing of the
//! leads, their providers' answers or the credentials.

mod common;

use common::*;
use reconcile_scheduled::config::ReconcileConfig;
use serde_json::json;
use shared::metrics::check;

const NAMESPACE: &str = "Test/Reconcile";

#[tokio::test]
async fn runs_and_provider_calls_are_counted_without_pii() {
    let emf = shared::testing::LogCapture::default();
    shared::metrics::init_with_writer("reconcile-scheduled", NAMESPACE.into(), emf.clone());
    let (db, client, server) = database_and_server().await;
    one_calendly_lead(&client).await;
    ghl_client(&client, "client_ghl", LOCATION).await;
    ghl_lead(&client, "client_ghl", "lead_ghl", CONTACT).await;

    list_scheduled_events_after_a_429(&server).await;
    serve_fixture(
        &server,
        "/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40/invitees",
        "calendly/api-list-event-invitees-canceled.json",
    )
    .await;
    serve_fixture(&server, "/scheduled_events/9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268/invitees", "calendly/api-list-event-invitees.json")
        .await;
    serve_fixture(&server, format!("/contacts/{CONTACT}/appointments"), "ghl/api-contact-appointments.json").await;
    serve_fixture(&server, "/webhook_subscriptions", "calendly/api-list-webhook-subscriptions.json").await;

    let pattern = "https://k3x9w2v7qa.execute-api.eu-west-1.amazonaws.com/webhooks/calendly/{clientId}";
    let config = ReconcileConfig { calendly_webhook_url_pattern: Some(pattern.into()), ..test_config() };
    let reconciler = reconciler(&db, &server.uri(), config);
    let schedule = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let cron = reconciler.handle(schedule, deadline()).await.unwrap();
    assert_eq!((cron.leads_checked, cron.failed, cron.rate_limited), (2, 0, 1), "{cron:?}");
    let backfill = reconciler.handle(json!({"mode": "backfill", "clientId": "client_ghl"}), deadline()).await.unwrap();
    assert_eq!(backfill.leads_checked, 1, "{backfill:?}");
    reconciler.handle(json!({"mode": "backfill", "clientId": "client_nobody"}), deadline()).await.unwrap_err();

    let text = emf.text();
    let lines: Vec<_> =
        check::emf_lines(&text).into_iter().map(|l| check::emf(l, NAMESPACE).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let runs: Vec<_> = lines.iter().filter(|d| d["ReconcileRuns"] == 1).collect();
    assert_eq!(runs.len(), 3, "one line per run: {text}");
    let (cron_line, backfill_line, failed_line) = (runs[0], runs[1], runs[2]);
    assert_eq!(
        check::dimensions(cron_line),
        [("Function", "reconcile-scheduled"), ("Mode", "cron")].map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(
        (cron_line["LeadsChecked"].as_u64(), cron_line["LeadsFailed"].as_u64(), cron_line["ReconcileRunErrors"].as_u64()),
        (Some(2), Some(0), Some(0))
    );
    assert!(cron_line["RunBudget"].as_f64().is_some_and(|ms| ms > 50_000.0), "the deadline is a minute away: {cron_line}");
    assert!(cron_line["RunBudgetUsed"].as_f64().is_some_and(|p| (0.0..100.0).contains(&p)), "{cron_line}");
    assert_eq!((backfill_line["Mode"].as_str(), backfill_line["LeadsChecked"].as_u64()), (Some("backfill"), Some(1)));
    assert_eq!((failed_line["Mode"].as_str(), failed_line["ReconcileRunErrors"].as_u64()), (Some("backfill"), Some(1)));

    // Per provider and run: the cron run's Calendly calls with the one 429, its GHL call.
    let calls = |provider: &str| -> Vec<(u64, u64)> {
        lines
            .iter()
            .filter(|d| d["Provider"] == provider)
            .map(|d| (d["ProviderRequests"].as_u64().unwrap(), d["ProviderRateLimited"].as_u64().unwrap()))
            .collect()
    };
    let calendly = calls("calendly");
    assert_eq!(calendly.len(), 3, "one line per run: {calendly:?}");
    assert!(calendly[0].0 >= 4 && calendly[0].1 == 1, "events (twice), invitees (twice), subscriptions: {calendly:?}");
    assert_eq!(&calendly[1..], &[(0, 0), (0, 0)]);
    assert_eq!(calls("ghl"), [(1, 0), (1, 0), (0, 0)]);
    assert!(lines.iter().filter(|d| d["Writes"] == 1).count() >= 3, "the write path's lines: {text}");
    assert!(lines.iter().any(|d| d["CalendlySubscriptionsActive"].is_number()), "the subscription check's line");

    for d in &lines {
        for (name, value) in check::dimensions(d) {
            assert!(["Function", "Mode", "Provider"].contains(&name.as_str()), "dimension {name}");
            assert!(value.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{name}={value}");
        }
    }
    let needles = [
        EMAIL,
        "Dana",
        "Whitfield",
        "Riley",
        "closer@acme-sales.example",
        "312-555-0187",
        "Strategy call",
        CALENDLY_TOKEN,
        GHL_KEY,
        CONTACT,
        LOCATION,
        "lead_dana",
        "lead_ghl",
        "client_cal",
        "client_ghl",
        "client_nobody",
    ];
    for needle in needles {
        assert!(!text.contains(needle), "the metric lines contain {needle:?}");
    }
}
