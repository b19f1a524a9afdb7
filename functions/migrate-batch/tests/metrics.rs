//! The metric lines of a real dry-run and apply: valid EMF, one per batch with its leads, rows
//! created and duration, the write path's round trips, and nothing of the leads.

mod common;

use common::*;
use migrate_batch::Mode;
use shared::metrics::check;

const NAMESPACE: &str = "Test/Migrate";

#[tokio::test]
async fn batches_are_counted_without_pii() {
    let emf = shared::testing::LogCapture::default();
    shared::metrics::init_with_writer("migrate-batch", NAMESPACE.into(), emf.clone());
    let db = shared::testing::test_database().await;
    let client = db.client().await;
    shared::testing::seed_client(&client, "c_cal", None).await.unwrap();
    let leads: Vec<Lead> = (1..=5)
        .map(|i| {
            (
                "c_cal",
                Phase28Lead {
                    calendly_scheduled_event_uri: Some(event(&format!("m{i}"))),
                    end_at: Some(t(10 + i, 10)),
                    ..calendly_booking(&format!("lead_m{i}"), &format!("m{i}"), t(10 + i, 9), "confirmed")
                },
            )
        })
        .collect();
    seed_phase28_leads(&client, &leads).await.unwrap();
    let store = db.store().await;

    let dry = run_to_end(&store, &input_with(Mode::DryRun, None, 2)).await;
    let applied = run_to_end(&store, &input_with(Mode::Apply, None, 2)).await;
    assert_eq!((dry.counts.migration.appointments_created, applied.counts.migration.appointments_created), (5, 5));

    let text = emf.text();
    let lines: Vec<_> =
        check::emf_lines(&text).into_iter().map(|l| check::emf(l, NAMESPACE).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let batches = |mode: &str| -> Vec<(u64, u64)> {
        lines
            .iter()
            .filter(|d| d["Mode"] == mode && d["MigrateBatchLeads"].is_number())
            .map(|d| {
                assert!(d["MigrateBatchDuration"].as_f64().is_some_and(|ms| ms > 0.0), "{d}");
                (d["MigrateBatchLeads"].as_u64().unwrap(), d["MigrateRowsCreated"].as_u64().unwrap())
            })
            .collect()
    };
    // Five leads in batches of two; a dry-run creates nothing (its counts are what apply would do).
    assert_eq!(batches("dry-run"), [(2, 0), (2, 0), (1, 0)]);
    assert_eq!(batches("apply"), [(2, 2), (2, 2), (1, 1)]);
    let writes: Vec<_> = lines.iter().filter(|d| d["Writes"] == 1).collect();
    assert_eq!(writes.len(), 6, "one write-path line per batch");
    assert!(writes.iter().all(|d| d["WriteRoundTrips"].as_u64().is_some_and(|n| n >= 2) && d["WriteRetries"] == 0), "{writes:?}");

    for d in &lines {
        for (name, value) in check::dimensions(d) {
            assert!(["Function", "Mode"].contains(&name.as_str()), "dimension {name}");
            assert!(value.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{name}={value}");
        }
    }
    for needle in ["someone@example.com", "lead_m1", "c_cal", "scheduled_events", "inv-m1", &dry.run_id, &applied.run_id] {
        assert!(!text.contains(needle), "the metric lines contain {needle:?}");
    }
}
