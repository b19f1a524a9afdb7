//! No PII in logs, answers or storage ("Security and privacy" in docs/architecture.md). Its own test
//! binary, so that the global subscriber sees every log line of the run, from every thread, down to
//! TRACE.

mod common;

use common::*;
use serde_json::Value;
use shared::testing::{stored_text, webhook_metric_lines, LogCapture};

/// The values of the fixtures that are PII or free text, plus the obvious pieces of them.
fn needles() -> Vec<String> {
    const PII_FIELDS: [&str; 12] = [
        "email",
        "name",
        "first_name",
        "last_name",
        "text_reminder_number",
        "answer",
        "question",
        "reason",
        "canceled_by",
        "user_email",
        "user_name",
        "join_url",
    ];
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    match child {
                        Value::String(s) if PII_FIELDS.contains(&k.as_str()) => out.push(s.clone()),
                        _ => walk(child, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for f in FIXTURES {
        walk(&serde_json::from_slice(&fixture(f)).unwrap(), &mut out);
    }
    // Event type names ("Discovery call") are the host's, not the invitee's, but free text still.
    out.extend(
        [
            "Dana",
            "Whitfield",
            "Okafor",
            "Riley",
            "dana.whitfield",
            "sam.okafor",
            "555-0134",
            "555 0134",
            "5550134",
            "c2VjcmV0",
            "Travelling",
            "premium plan",
        ]
        .map(String::from),
    );
    out.retain(|n| n != "Discovery call");
    shared::testing::needles(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pii_in_logs_answers_or_storage() {
    let logs = trace_logs();
    // The metric lines, through the production formatter (the sink is global: this binary's alone).
    let emf = LogCapture::default();
    shared::metrics::init_with_writer("calendly-webhook", "Test/Pii".into(), emf.clone());

    let mut answers = Vec::new();
    let mut databases = Vec::new();

    // Three stories, each on its own database (the fixtures describe the same invitee in ways that
    // exclude each other): the reschedule with refusals around it, the no-show, the host's cancel.
    let stories: [&[&str]; 3] = [
        &[
            "routing-form-submission.json",
            "invitee-no-show-created.json",
            "invitee-created.json",
            "invitee-created.json",
            "invitee-created-group-second.json",
            "invitee-created-after-reschedule.json",
            "invitee-canceled-rescheduled.json",
            "invitee-canceled-rescheduled.json",
        ],
        &["invitee-created.json", "invitee-no-show-created.json", "invitee-no-show-created.json", "invitee-no-show-deleted.json"],
        &["invitee-created.json", "invitee-canceled-by-host.json", "invitee-canceled-by-host.json"],
    ];
    for (i, story) in stories.into_iter().enumerate() {
        let (db, client, app) = seeded_app().await;
        for name in story {
            answers.push(deliver(&app, name).await);
        }
        if i == 0 {
            for name in FIXTURES {
                let body = fixture(name);
                answers.push(post(&app, CLIENT, &body, Some(signed("wrong-key", &body))).await);
                answers.push(post(&app, EMPTY_CLIENT, &body, Some(signed("whsec-empty", &body))).await);
                answers.push(post(&app, KEYLESS_CLIENT, &body, Some(signed(KEY, &body))).await);
                let mut broken = body.clone();
                broken.truncate(body.len() / 2);
                answers.push(post(&app, CLIENT, &broken, Some(signed(KEY, &broken))).await);
                let wrong_shape = String::from_utf8(body.clone()).unwrap().replace("\"uri\"", "\"url\"");
                answers.push(post(&app, CLIENT, wrong_shape.as_bytes(), Some(signed(KEY, wrong_shape.as_bytes()))).await);
            }
        }
        databases.push((db, client));
    }

    let log_text = logs.text();
    // The capture works and carries what operators need.
    assert!(log_text.contains("calendly delivery recorded"), "{log_text}");
    assert!(log_text.contains(OLD), "invitee URIs are logged");
    assert!(log_text.contains("DEBUG") || log_text.contains("TRACE"), "debug-level lines were captured");
    assert!(answers.iter().any(|a| a.taken() == Some("recorded")));
    assert!(answers.iter().any(|a| a.status == 401) && answers.iter().any(|a| a.status == 400));

    let needles = needles();
    assert!(needles.iter().any(|n| n == "dana.whitfield@example.com") && needles.iter().any(|n| n.contains("Travelling that day")));
    for needle in &needles {
        assert!(!log_text.contains(needle.as_str()), "the logs contain {needle:?}");
        assert!(!log_text.contains(KEY), "the logs contain the signing key");
        for a in &answers {
            assert!(!a.body.to_string().contains(needle.as_str()), "an answer contains {needle:?}: {}", a.body);
        }
    }

    // Storage: every text column of every table. `Lead.email` is the CRM's own data, seeded by the
    // test; `Client.calendlyWebhookSigningKey` holds the key on purpose. The masked cancel reason is
    // the one provider text kept: it may keep the words, never an email or a phone number.
    let mut reasons_seen = 0;
    for (_, client) in &databases {
        let stored = stored_text(client).await;
        let columns: std::collections::HashSet<_> = stored.iter().map(|s| (&s.table, &s.column)).collect();
        assert!(columns.len() > 20, "the scan sees the schema");
        for s in &stored {
            let (table, column, value) = (s.table.as_str(), s.column.as_str(), &s.value);
            if (table, column) == ("Lead", "email") {
                continue;
            }
            if (table, column) == ("Appointment", "cancelReason") {
                reasons_seen += 1;
                assert_eq!(shared::redact::mask_reason(value).as_deref(), Some(value.as_str()), "stored reasons are masked");
                for pii in ["@", "dana.whitfield", "415", "555", "0134"] {
                    assert!(!value.contains(pii), "a stored reason holds {pii:?}: {value}");
                }
                continue;
            }
            for needle in &needles {
                assert!(!value.contains(needle.as_str()), "{table}.{column} holds {needle:?}");
            }
        }
    }
    assert_eq!(reasons_seen, 2, "the rescheduled and the host-canceled appointments keep a masked reason");

    // Metrics: one valid EMF line per delivery and one per write, no PII, fixed dimension values.
    let emf_text = emf.text();
    let lines = webhook_metric_lines(&emf_text, "Test/Pii");
    let deliveries: Vec<_> = lines.iter().filter(|d| d["WebhookDeliveries"] == 1).collect();
    assert_eq!(deliveries.len(), answers.len(), "one delivery line per answer");
    assert!(lines.iter().any(|d| d["Writes"] == 1 && d["RecordLatency"].is_number()), "the write path's lines");
    let outcome = |o: &str, r: &str| deliveries.iter().filter(|d| d["Outcome"] == o && d["Reason"] == r).count();
    assert_eq!(outcome("refused", "signature"), FIXTURES.len(), "the wrong key");
    assert_eq!(outcome("refused", "no-signing-key"), FIXTURES.len());
    assert!(outcome("recorded", "none") > 0 && outcome("duplicate", "none") > 0 && outcome("refused", "malformed") > 0);
    for needle in &needles {
        assert!(!emf_text.contains(needle.as_str()), "the metric lines contain {needle:?}");
    }
    for id in [CLIENT, EMPTY_CLIENT, KEYLESS_CLIENT, DANA, OLD, KEY] {
        assert!(!emf_text.contains(id), "the metric lines carry {id:?}");
    }
}
