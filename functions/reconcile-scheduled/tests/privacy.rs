//! Tokens, keys and emails never reach a log, whatever goes wrong.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use shared::testing::LogCapture;
use wiremock::matchers::{path, path_regex};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn no_token_key_or_email_in_the_logs() {
    let captured = LogCapture::default();
    let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(captured.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (db, client, server) = database_and_server().await;
    ghl_client(&client, "c", LOCATION).await;
    calendly_client(&client, "cc").await;
    ghl_lead(&client, "c", "lead_404", "cnt_404").await;
    ghl_lead(&client, "c", "lead_5xx", "cnt_5xx").await;
    ghl_lead(&client, "c", "lead_slow", "cnt_slow").await;
    calendly_lead(&client, "cc", "lead_cal", EMAIL).await;
    Mock::given(path("/contacts/cnt_404/appointments")).respond_with(ResponseTemplate::new(404)).mount(&server).await;
    Mock::given(path("/contacts/cnt_5xx/appointments")).respond_with(ResponseTemplate::new(502)).mount(&server).await;
    Mock::given(path("/contacts/cnt_slow/appointments"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    list_scheduled_events_after_a_429(&server).await;
    Mock::given(path_regex("^/scheduled_events/[^/]+/invitees$"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{not json"))
        .mount(&server)
        .await;

    let r = reconciler(&db, &server.uri(), test_config());
    let summary = r.handle(json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}), deadline()).await.unwrap();
    assert_eq!(summary.failed, 4, "{summary:?}");
    let backfill = r.handle(json!({"mode": "backfill", "clientId": "cc"}), deadline()).await.unwrap();
    assert_eq!(backfill.failed, 1, "{backfill:?}");

    let logs = captured.text();
    assert!(logs.contains("lead_404") && logs.contains("lead check failed"), "the failures are logged (by id): {logs}");
    for secret in [CALENDLY_TOKEN, GHL_KEY, EMAIL, "dana.whitfield", "Dana Whitfield", "%40example"] {
        assert!(!logs.contains(secret), "{secret:?} leaked into the logs:\n{logs}");
    }
}
