//! No PII in logs, answers or storage ("Security and privacy" in docs/architecture.md): the fixtures' title, notes (a phone number),
//! address and the lead's email never reach a log line or a stored row. Its own test binary, so
//! that the global subscriber sees every log line of the run, down to TRACE.

mod common;

use common::*;
use shared::testing::{stored_text, webhook_metric_lines, LogCapture};

/// Every free-text value of the fixtures, and the obvious pieces of them.
fn needles() -> Vec<String> {
    let mut out = Vec::new();
    for name in STORY {
        let v: serde_json::Value = serde_json::from_slice(&fixture(name)).unwrap();
        for field in ["title", "notes", "address"] {
            if let Some(s) = v["appointment"][field].as_str() {
                out.push(s.to_string());
            }
        }
    }
    out.extend(
        ["Strategy call", "312-555-0187", "555-0187", "5550187", "meet.example", "abc-defg-hij", "lead@example.com"].map(String::from),
    );
    shared::testing::needles(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pii_in_logs_answers_or_storage() {
    let logs = LogCapture::default();
    // Seeding (the test's own statements, the lead's email among their parameters) is not captured.
    let (db, client) = seeded().await;
    tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(logs.clone()).with_ansi(false).init();
    // The metric lines, through the production formatter (the sink is global: this binary's alone).
    let emf = LogCapture::default();
    shared::metrics::init_with_writer("ghl-webhook", "Test/Pii".into(), emf.clone());
    let app = app(&db).await;
    let mut answers = String::new();
    for name in STORY.iter().chain(STORY.iter()) {
        answers.push_str(&deliver(&app, name).await.body.to_string());
    }
    // Refusals and ignores log too.
    let mut v: serde_json::Value = serde_json::from_slice(&fixture(STORY[0])).unwrap();
    v["appointment"]["contactId"] = "cnt_stranger".into();
    answers.push_str(&deliver_body(&app, &serde_json::to_vec(&v).unwrap()).await.body.to_string());
    v["appointment"]["startTime"] = "Strategy call".into();
    v["appointment"]["contactId"] = CONTACT.into();
    answers.push_str(&deliver_body(&app, &serde_json::to_vec(&v).unwrap()).await.body.to_string());
    answers.push_str(&post_at(&app, &[], &fixture(STORY[0]), chrono::Utc::now()).await.body.to_string());

    // Every stored text but the CRM's own `Lead.email`, which the test seeded.
    let stored: Vec<String> = stored_text(&client)
        .await
        .into_iter()
        .filter(|s| (s.table.as_str(), s.column.as_str()) != ("Lead", "email"))
        .map(|s| format!("{}.{}: {}", s.table, s.column, s.value))
        .collect();
    let stored = stored.join("\n");
    let logged = logs.text();
    assert!(logged.contains("ghl delivery recorded"), "the capture works: {logged}");
    assert!(stored.contains(APPOINTMENT), "the capture of rows works");
    for needle in needles() {
        assert!(!logged.contains(&needle), "{needle:?} was logged: {}", logged.lines().find(|l| l.contains(&needle)).unwrap_or(""));
        assert!(!stored.contains(&needle), "{needle:?} was stored");
        assert!(!answers.contains(&needle), "{needle:?} was answered");
    }

    // Metrics: valid EMF, one line per delivery and per write, fixed dimension values, no PII.
    let emf_text = emf.text();
    let lines = webhook_metric_lines(&emf_text, "Test/Pii");
    let outcomes: Vec<(String, String)> = lines
        .iter()
        .filter(|d| d["WebhookDeliveries"] == 1)
        .map(|d| (d["Outcome"].as_str().unwrap().to_string(), d["Reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(outcomes.len(), STORY.len() * 2 + 3, "one line per delivery: {outcomes:?}");
    assert!(
        outcomes.contains(&("recorded".into(), "none".into())) && outcomes.contains(&("duplicate".into(), "none".into())),
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&("refused".into(), "signature".into())), "the unsigned post: {outcomes:?}");
    assert!(lines.iter().any(|d| d["Writes"] == 1 && d["RecordLatency"].is_number()), "the write path's lines");
    for needle in needles().iter().map(String::as_str).chain([LOCATION, CONTACT, APPOINTMENT, CLIENT, LEAD]) {
        assert!(!emf_text.contains(needle), "the metric lines contain {needle:?}");
    }
}
