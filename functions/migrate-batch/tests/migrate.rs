//! migrate-batch against a real PostgreSQL: every edge case, rerun, dry-run, client filter,
//! verify and repair, deadlines and bad input.

mod common;

use std::collections::BTreeMap;

use common::*;
use migrate_batch::{handle, invoke, Limits, MigrateError, Mode};
use shared::domain::{AppointmentSource, AppointmentStatus, Observation, ObservedStatus, Provider};
use shared::write_path::migration_batch::{Warning, WarningCount};

fn edge_case_leads() -> Vec<Lead> {
    let c_none = |lead| ("c_none", lead);
    let same_ghl_appointment = Phase28Lead {
        appointment_provider: Some(Provider::Ghl),
        ghl_appointment_id: Some("gdup".into()),
        start_at: Some(t(14, 9)),
        ..Default::default()
    };
    vec![
        // No appointment data: a provider alone says nothing.
        c_none(Phase28Lead { appointment_provider: Some(Provider::Ghl), ..lead("lead_01") }),
        c_none(Phase28Lead {
            calendly_scheduled_event_uri: Some(event("a")),
            end_at: Some(t(10, 15) + minutes(30)),
            ..calendly_booking("lead_02", "a", t(10, 15), "confirmed")
        }),
        c_none(Phase28Lead {
            end_at: Some(t(3, 9) + minutes(45)),
            canceled_at: Some(t(2, 9)),
            ..ghl_booking("lead_03", "g3", t(3, 9), "canceled")
        }),
        // Missing times.
        c_none(Phase28Lead {
            appointment_provider: Some(Provider::Ghl),
            ghl_appointment_id: Some("g4".into()),
            status: Some("confirmed".into()),
            ..lead("lead_04")
        }),
        // Missing provider ids and provider: the client's default.
        ("c_cal", Phase28Lead { start_at: Some(t(5, 9)), end_at: Some(t(5, 10)), status: Some("confirmed".into()), ..lead("lead_05") }),
        // Only a status.
        ("c_ghl", Phase28Lead { status: Some("canceled".into()), ..lead("lead_06") }),
        // Provider cannot be known.
        c_none(Phase28Lead { start_at: Some(t(7, 9)), status: Some("confirmed".into()), ..lead("lead_07") }),
        c_none(Phase28Lead { end_at: Some(t(11, 9)), ..calendly_booking("lead_08", "b", t(11, 10), "confirmed") }),
        c_none(ghl_booking("lead_09", "g9", t(9, 9), "booked")),
        // A webhook got there first (seeded below through the write path).
        c_none(calendly_booking("lead_10", "c", t(12, 15), "confirmed")),
        // A key-less row of the same booking exists (a manual entry).
        c_none(ghl_booking("lead_11", "g11", t(13, 9), "confirmed")),
        // Two leads claim the same GHL appointment.
        c_none(Phase28Lead { lead_id: "lead_12".into(), ..same_ghl_appointment.clone() }),
        c_none(Phase28Lead { lead_id: "lead_13".into(), ..same_ghl_appointment }),
        // Provider known from the ids alone.
        c_none(Phase28Lead { calendly_invitee_uri: Some(invitee("d")), calendly_scheduled_event_uri: Some(event("d")), ..lead("lead_14") }),
        c_none(Phase28Lead {
            appointment_provider: Some(Provider::Ghl),
            start_at: Some(t(15, 9)),
            status: Some("confirmed".into()),
            canceled_at: Some(t(1, 1)),
            ..lead("lead_15")
        }),
        // Phase 28 ids of an old booking; a webhook since recorded a new one and rewrote the
        // rollup (seeded below), but not the ids.
        c_none(calendly_booking("lead_16", "old", t(16, 9), "confirmed")),
    ]
}

/// Seeds the edge cases; returns the store.
async fn seed_edge_cases(client: &tokio_postgres::Client, db: &shared::testing::TestDb) -> shared::Store {
    seed_client_preferring(client, "c_none", None).await.unwrap();
    seed_client_preferring(client, "c_cal", Some(Provider::Calendly)).await.unwrap();
    seed_client_preferring(client, "c_ghl", Some(Provider::Ghl)).await.unwrap();
    seed_phase28_leads(client, &edge_case_leads()).await.unwrap();
    let store = db.store().await;
    let mut webhook =
        Observation::new("lead_10", Provider::Calendly, ObservedStatus::Is(AppointmentStatus::Confirmed), AppointmentSource::Webhook);
    webhook.key = Some(invitee("c"));
    webhook.calendly_event_uri = Some(event("c"));
    webhook.start_at = Some(t(12, 16));
    webhook.end_at = Some(t(12, 17));
    webhook.provider_updated_at = Some(t(1, 0));
    store.record(webhook).await.unwrap();
    let mut manual =
        Observation::new("lead_11", Provider::Ghl, ObservedStatus::Is(AppointmentStatus::Confirmed), AppointmentSource::Manual);
    manual.start_at = Some(t(13, 9));
    store.record(manual).await.unwrap();
    let mut rebooked =
        Observation::new("lead_16", Provider::Calendly, ObservedStatus::Is(AppointmentStatus::Confirmed), AppointmentSource::Webhook);
    rebooked.key = Some(invitee("new"));
    rebooked.start_at = Some(t(17, 9));
    rebooked.provider_updated_at = Some(t(1, 0));
    store.record(rebooked).await.unwrap();
    store
}

fn warn(count: u64, examples: &[&str]) -> WarningCount {
    WarningCount { count, examples: examples.iter().map(|s| s.to_string()).collect() }
}

#[tokio::test]
async fn every_edge_case_in_small_and_large_batches() {
    for batch_size in [4, 1000] {
        let (db, client) = database().await;
        let store = seed_edge_cases(&client, &db).await;
        let leads_before = leads_as_text(&client).await;
        let rows_before = appointments(&client).await;
        let first_writes_before = first_writes(&client).await;
        assert_eq!(rows_before.len(), 3);

        // Dry-run: the counts, and nothing written (the run row aside).
        let dry = run_to_end(&store, &input_with(Mode::DryRun, None, batch_size)).await;
        assert_eq!(appointments(&client).await, rows_before);
        assert_eq!(first_writes(&client).await, first_writes_before);
        assert_eq!(count(&client, r#"SELECT count(*) FROM "AppointmentEvent""#).await, 3);
        assert_eq!(count(&client, r#"SELECT count(*) FROM "AppointmentMigrationClaim""#).await, 0, "claims released");

        let applied = run_to_end(&store, &input_with(Mode::Apply, None, batch_size)).await;
        let c = &applied.counts;
        assert_eq!((c.leads_scanned, c.skipped_without_data, c.migration.leads_with_data), (16, 1, 15), "batch {batch_size}");
        assert_eq!(
            (
                c.migration.appointments_created,
                c.migration.already_present,
                c.migration.skipped_unknown_provider,
                c.migration.events_created
            ),
            (10, 4, 1, 10)
        );
        let expected_warnings = BTreeMap::from([
            (Warning::CanceledAtIgnored, warn(1, &["lead_15"])),
            (Warning::EndBeforeStart, warn(1, &["lead_08"])),
            (Warning::KeyOnOtherLead, warn(1, &["lead_13"])),
            (Warning::ProviderUnknown, warn(1, &["lead_07"])),
            (Warning::UnknownStatus, warn(1, &["lead_09"])),
        ]);
        assert_eq!(c.migration.warnings, expected_warnings);
        assert!(applied.done);
        assert_eq!(applied.next_cursor.as_deref(), Some("lead_16"));

        // dry-run reported exactly what apply did, every count (events included: apply writes
        // one `created` event per row it creates, the dry-run counts the events it would write).
        assert_eq!(dry.counts, applied.counts);

        // No lead writes, no tasks.
        assert_eq!(leads_as_text(&client).await, leads_before);
        assert_eq!(count(&client, r#"SELECT count(*) FROM "FollowUpTask""#).await, 0);

        let rows = appointments(&client).await;
        let of = |lead: &str| rows.iter().filter(|r| r.lead == lead).cloned().collect::<Vec<_>>();
        let naive = |t: chrono::DateTime<chrono::Utc>| Some(t.naive_utc());
        for lead in ["lead_01", "lead_07", "lead_13"] {
            assert!(of(lead).is_empty(), "{lead}");
        }
        let r = &of("lead_02")[0];
        assert_eq!(
            (r.provider.as_str(), r.key.clone(), r.event_uri.clone(), r.start, r.status.as_str(), r.source.as_str()),
            ("CALENDLY", Some(invitee("a")), Some(event("a")), naive(t(10, 15)), "CONFIRMED", "MIGRATION")
        );
        assert!(r.provider_updated_at.is_none() && r.canceled_at.is_none());
        assert!(first_writes(&client).await.contains(&("lead_02".to_string(), Some(invitee("a")))));
        let r = &of("lead_03")[0];
        assert_eq!(
            (r.key.as_deref(), r.status.as_str(), r.canceled_at, r.end),
            (Some("g3"), "CANCELED", naive(t(2, 9)), naive(t(3, 9) + minutes(45)))
        );
        let r = &of("lead_04")[0];
        assert_eq!((r.key.as_deref(), r.start, r.end), (Some("g4"), None, None));
        let r = &of("lead_05")[0];
        assert_eq!((r.provider.as_str(), r.key.clone(), r.start), ("CALENDLY", None, naive(t(5, 9))));
        let r = &of("lead_06")[0];
        assert_eq!((r.provider.as_str(), r.status.as_str(), r.start, r.key.clone(), r.canceled_at), ("GHL", "CANCELED", None, None, None));
        let r = &of("lead_08")[0];
        assert_eq!((r.start, r.end), (naive(t(11, 10)), None));
        assert_eq!(of("lead_09")[0].status, "CONFIRMED");
        // The webhook's row stays exactly as the webhook wrote it; no second row.
        assert_eq!(of("lead_10"), rows_before.iter().filter(|r| r.lead == "lead_10").cloned().collect::<Vec<_>>());
        // The manual key-less row is the same booking: no second row, and it is left alone.
        assert_eq!(of("lead_11"), rows_before.iter().filter(|r| r.lead == "lead_11").cloned().collect::<Vec<_>>());
        assert_eq!(of("lead_12")[0].key.as_deref(), Some("gdup"));
        // The rebooked lead keeps only the webhook's row: no row pairs its old id with the new time.
        assert_eq!(of("lead_16"), rows_before.iter().filter(|r| r.lead == "lead_16").cloned().collect::<Vec<_>>());
        let r = &of("lead_14")[0];
        assert_eq!((r.provider.as_str(), r.key.clone(), r.event_uri.clone()), ("CALENDLY", Some(invitee("d")), Some(event("d"))));
        let r = &of("lead_15")[0];
        assert_eq!((r.status.as_str(), r.canceled_at), ("CONFIRMED", None));

        // One `created` event per new row, source MIGRATION, new value its status.
        let evs = events(&client).await;
        let migration_events: Vec<_> = evs.iter().filter(|e| e.3 == "MIGRATION").collect();
        assert_eq!(migration_events.len(), 10);
        assert!(migration_events.iter().all(|e| e.2 == "created" && e.4.is_none()));
        assert!(migration_events.iter().any(|e| e.0 == "lead_03" && e.5.as_deref() == Some("CANCELED")));

        // Rerun: nothing created, everything already present; rows and events unchanged.
        let rows_after = appointments(&client).await;
        let first_writes_after = first_writes(&client).await;
        let again = run_to_end(&store, &input_with(Mode::Apply, None, batch_size)).await;
        assert_eq!((again.counts.migration.appointments_created, again.counts.migration.already_present), (0, 14));
        assert_eq!(appointments(&client).await, rows_after);
        assert_eq!(first_writes(&client).await, first_writes_after);
        assert_eq!(events(&client).await, evs);
        // And a dry-run now says the same.
        let dry_again = run_to_end(&store, &input_with(Mode::DryRun, None, batch_size)).await;
        assert_eq!(dry_again.counts.migration, again.counts.migration);
    }
}

#[tokio::test]
async fn client_filter_touches_no_other_client() {
    let (db, client) = database().await;
    seed_client_preferring(&client, "c_a", Some(Provider::Calendly)).await.unwrap();
    seed_client_preferring(&client, "c_b", Some(Provider::Calendly)).await.unwrap();
    let mut leads = Vec::new();
    for i in 0..30 {
        // Interleaved ids, so that the filter (not the id range) keeps the clients apart.
        let c = if i % 2 == 0 { "c_a" } else { "c_b" };
        leads.push((
            c,
            Phase28Lead { start_at: Some(t(10, 9) + minutes(i)), status: Some("confirmed".into()), ..lead(&format!("lead_{i:03}")) },
        ));
    }
    seed_phase28_leads(&client, &leads).await.unwrap();
    let store = db.store().await;
    let before_b = leads_as_text(&client).await;

    let out = run_to_end(&store, &input_with(Mode::Apply, Some("c_a"), 4)).await;
    assert_eq!((out.counts.leads_scanned, out.counts.migration.appointments_created), (15, 15));
    assert_eq!(out.client_id.as_deref(), Some("c_a"));
    let b_rows =
        count(&client, r#"SELECT count(*) FROM "Appointment" a JOIN "Lead" l ON l."id" = a."leadId" WHERE l."clientId" = 'c_b'"#).await;
    assert_eq!(b_rows, 0);
    assert_eq!(leads_as_text(&client).await, before_b);

    // verify and repair with the filter see only their client.
    let v = run_to_end(&store, &input_with(Mode::Verify, Some("c_b"), 7)).await;
    assert_eq!(v.counts.leads_scanned, 15);
    assert_eq!(v.counts.missing_history.get("leadsWithDataButNoHistory").map(|w| w.count), Some(15));
    assert!(v.counts.missing_history["leadsWithDataButNoHistory"]
        .examples
        .iter()
        .all(|id| leads.iter().any(|(client, l)| &l.lead_id == id && *client == "c_b")));
    let r = run_to_end(&store, &input_with(Mode::RepairRollups, Some("c_a"), 7)).await;
    assert_eq!(r.counts.rollups_repaired, 15);
    let b_after = count(&client, r#"SELECT count(*) FROM "Lead" WHERE "clientId" = 'c_b' AND "appointmentSource" IS NOT NULL"#).await;
    assert_eq!(b_after, 0);
}

#[tokio::test]
async fn verify_reports_then_repair_makes_it_zero() {
    let (db, client) = database().await;
    let store = seed_edge_cases(&client, &db).await;

    // Before: every lead with data but no history (all but the two with rows); no drift yet
    // (the write path keeps the two rollups it wrote in line).
    let before = run_to_end(&store, &input_with(Mode::Verify, None, 5)).await;
    assert_eq!(before.counts.missing_history["leadsWithDataButNoHistory"].count, 12);
    assert_eq!((before.counts.leads_scanned, before.counts.migration.leads_with_data, before.counts.skipped_without_data), (16, 15, 1));
    assert_eq!(before.counts.drifted_leads, 0);

    run_to_end(&store, &input_with(Mode::Apply, None, 5)).await;
    // Drift of the kind a crashed Phase 28 writer leaves: the stored start disagrees with the row.
    client.execute(r#"UPDATE "Lead" SET "appointmentStartAt" = '2031-01-01 00:00:00' WHERE "id" = 'lead_10'"#, &[]).await.unwrap();

    let after_apply = run_to_end(&store, &input_with(Mode::Verify, None, 5)).await;
    // Left without history: the lead whose provider cannot be known, and the lead whose GHL id
    // belongs to another lead's appointment (its booking's history lives on lead_12).
    assert_eq!(after_apply.counts.missing_history["leadsWithDataButNoHistory"], warn(2, &["lead_07", "lead_13"]));
    // MIGRATION rows never write their leads' rollups, so the stored Phase 28 values stay where
    // the rule reads the row differently: every migrated lead's source (NULL here, "migration" by
    // the rule), and whatever the migration normalized (a status it did not know, a missing
    // status or provider, an end before the start, a canceledAt on a confirmed lead). lead_10's
    // start drifted by hand above.
    let drift: Vec<(String, WarningCount)> = after_apply.counts.drift.clone().into_iter().collect();
    let expected: Vec<(String, WarningCount)> = vec![
        ("canceledAt".into(), warn(1, &["lead_15"])),
        ("endAt".into(), warn(1, &["lead_08"])),
        ("provider".into(), warn(3, &["lead_05", "lead_06", "lead_14"])),
        ("source".into(), warn(10, &["lead_02", "lead_03", "lead_04", "lead_05", "lead_06"])),
        ("startAt".into(), warn(1, &["lead_10"])),
        ("status".into(), warn(3, &["lead_09", "lead_12", "lead_14"])),
    ];
    assert_eq!(drift, expected);
    assert_eq!(after_apply.counts.drifted_leads, 11);

    let leads_before_repair = leads_as_text(&client).await;
    let repaired = run_to_end(&store, &input_with(Mode::RepairRollups, None, 5)).await;
    assert_eq!(repaired.counts.rollups_repaired, 11);
    assert_ne!(leads_as_text(&client).await, leads_before_repair);
    let start: Option<chrono::NaiveDateTime> =
        client.query_one(r#"SELECT "appointmentStartAt" FROM "Lead" WHERE "id" = 'lead_10'"#, &[]).await.unwrap().get(0);
    assert_eq!(start, Some(t(12, 16).naive_utc()));

    let after = run_to_end(&store, &input_with(Mode::Verify, None, 5)).await;
    assert_eq!(after.counts.drifted_leads, 0);
    assert!(after.counts.drift.is_empty());
    // Repair again: nothing to do.
    let again = run_to_end(&store, &input_with(Mode::RepairRollups, None, 5)).await;
    assert_eq!(again.counts.rollups_repaired, 0);
}

/// Client `c` (GHL by default) with leads `l00`..`l09`, each with a start a minute after the last.
async fn ten_ghl_leads() -> (shared::testing::TestDb, tokio_postgres::Client, shared::Store) {
    let (db, client) = database().await;
    seed_client_preferring(&client, "c", Some(Provider::Ghl)).await.unwrap();
    let leads: Vec<Lead> =
        (0..10).map(|i| ("c", Phase28Lead { start_at: Some(t(9, 9) + minutes(i)), ..lead(&format!("l{i:02}")) })).collect();
    seed_phase28_leads(&client, &leads).await.unwrap();
    let store = db.store().await;
    (db, client, store)
}

#[tokio::test]
async fn stops_before_the_deadline_and_resumes() {
    let (_db, client, store) = ten_ghl_leads().await;

    // Less time left than the margin: no batch starts, the run waits for a resume.
    let soon = std::time::Instant::now() + std::time::Duration::from_millis(500);
    let out = handle(&store, &serde_json::json!({"mode": "apply", "batchSize": 3}), Some(soon)).await.unwrap();
    assert_eq!((out.done, out.batches, out.next_cursor.clone()), (false, 0, None));
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment""#).await, 0);

    // Two batches, then stop; resume with the run id alone.
    let limits = Limits { max_batches: Some(2), ..Limits::default() };
    let mut resume = input_with(Mode::Apply, None, 3);
    resume.resume = Some(out.run_id.clone());
    let partial = invoke(&store, &resume, &limits).await.unwrap();
    assert_eq!((partial.done, partial.batches, partial.next_cursor.as_deref()), (false, 2, Some("l05")));
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment""#).await, 6);
    let stored: (Option<String>, bool) = {
        let r =
            client.query_one(r#"SELECT "cursor", "done" FROM "AppointmentMigrationRun" WHERE "id" = $1"#, &[&out.run_id]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(stored, (Some("l05".to_string()), false));

    let payload = serde_json::json!({"mode": "apply", "resume": out.run_id});
    let far = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let rest = handle(&store, &payload, Some(far)).await.unwrap();
    assert!(rest.done);
    assert_eq!((rest.counts.leads_scanned, rest.counts.migration.appointments_created), (10, 10));
    // A finished run resumed again does nothing and says so.
    let done = handle(&store, &payload, Some(far)).await.unwrap();
    assert_eq!((done.done, done.batches, done.counts.clone()), (true, 0, rest.counts.clone()));
    let finished: bool = client
        .query_one(r#"SELECT "finishedAt" IS NOT NULL FROM "AppointmentMigrationRun" WHERE "id" = $1"#, &[&out.run_id])
        .await
        .unwrap()
        .get(0);
    assert!(finished);
}

#[tokio::test]
async fn max_leads_caps_the_run() {
    let (_db, _client, store) = ten_ghl_leads().await;
    let out = handle(&store, &serde_json::json!({"mode": "apply", "batchSize": 3, "maxLeads": 7}), None).await.unwrap();
    assert!(out.done);
    assert_eq!((out.counts.leads_scanned, out.counts.migration.appointments_created, out.next_cursor.as_deref()), (7, 7, Some("l06")));
}

#[tokio::test]
async fn bad_input_is_an_error_naming_the_field_and_writes_nothing() {
    let (db, client) = database().await;
    let store = db.store().await;
    let cases = [
        (serde_json::json!({"mode": "aply"}), "mode"),
        (serde_json::json!({"mode": "apply", "batchSize": -5}), "batchSize"),
        (serde_json::json!({"mode": "apply", "resume": "0190f0c4-7a1e-7b3c-8d2e-1f2a3b4c5d6e"}), "resume"),
    ];
    for (payload, field) in cases {
        let err = handle(&store, &payload, None).await.unwrap_err();
        match &err {
            MigrateError::Input(e) => assert_eq!(e.field, field, "{payload}"),
            other => panic!("{payload}: {other:?}"),
        }
        let diagnostic: lambda_runtime::Diagnostic = err.into();
        assert_eq!(diagnostic.error_type, "InvalidInput");
        assert!(diagnostic.error_message.contains(field));
    }
    assert_eq!(count(&client, r#"SELECT count(*) FROM "AppointmentMigrationRun""#).await, 0);

    // Resuming a run with another mode, or another client.
    seed_client_preferring(&client, "c", Some(Provider::Ghl)).await.unwrap();
    let run = handle(&store, &serde_json::json!({"mode": "dry-run", "clientId": "c"}), None).await.unwrap();
    let err = handle(&store, &serde_json::json!({"mode": "apply", "resume": run.run_id}), None).await.unwrap_err();
    assert!(matches!(&err, MigrateError::Input(e) if e.field == "mode"), "{err:?}");
    let err = handle(&store, &serde_json::json!({"mode": "dry-run", "resume": run.run_id, "clientId": "other"}), None).await.unwrap_err();
    assert!(matches!(&err, MigrateError::Input(e) if e.field == "clientId"), "{err:?}");
}

#[tokio::test]
async fn database_down_is_unavailable() {
    let settings = shared::testing::unreachable_database();
    let store = shared::Store::new(settings);
    let err = handle(&store, &serde_json::json!({"mode": "verify"}), None).await.unwrap_err();
    assert_eq!(err.error_type(), "DatabaseUnavailable", "{err:?}");
}

/// A writer holding a lead (as `record` does) makes the batch wait; once it commits, the batch
/// sees its row and creates no second one, even for a key-less booking (no unique index to catch
/// a duplicate): the insert reads after every lead lock is granted.
#[tokio::test]
async fn a_batch_waits_for_a_writer_of_its_leads_and_sees_its_row() {
    let (db, client) = database().await;
    seed_client_preferring(&client, "c", Some(Provider::Ghl)).await.unwrap();
    let leads: Vec<Lead> = (0..5)
        .map(|i| ("c", Phase28Lead { start_at: Some(t(9, 9)), status: Some("confirmed".into()), ..lead(&format!("l{i}")) }))
        .collect();
    seed_phase28_leads(&client, &leads).await.unwrap();
    let store = std::sync::Arc::new(db.store().await);

    let writer = db.client().await;
    writer.batch_execute(r#"BEGIN; SELECT 1 FROM "Lead" WHERE "id" = 'l2' FOR NO KEY UPDATE"#).await.unwrap();
    let migrating = {
        let store = store.clone();
        tokio::spawn(async move { run_to_end(&store, &input_with(Mode::Apply, None, 10)).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(!migrating.is_finished(), "the batch must wait for the lead's writer");
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment""#).await, 0);
    writer
        .batch_execute(
            r#"INSERT INTO "Appointment" ("id", "leadId", "provider", "startAt", "status", "source", "updatedAt")
               VALUES ('manual-1', 'l2', 'GHL', '2031-03-09 09:00:00', 'CONFIRMED', 'MANUAL', now());
               COMMIT"#,
        )
        .await
        .unwrap();
    let out = migrating.await.unwrap();
    assert_eq!((out.counts.migration.appointments_created, out.counts.migration.already_present), (4, 1));
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'l2'"#).await, 1);
}

/// The batch statements and the Rust spec share the write path's one key limit: a provider id of
/// exactly `MAX_KEY_BYTES` is kept, one byte more is migrated without it (and said so), in apply
/// and in the dry-run alike.
#[tokio::test]
async fn provider_ids_at_and_over_the_key_limit() {
    use shared::domain::MAX_KEY_BYTES;
    let (db, client) = database().await;
    seed_client_preferring(&client, "c", None).await.unwrap();
    let at_limit = "g".repeat(MAX_KEY_BYTES);
    let over = "h".repeat(MAX_KEY_BYTES + 1);
    let keyed = |id: &str, key: &str| ("c", ghl_booking(id, key, t(9, 9), "confirmed"));
    seed_phase28_leads(&client, &[keyed("l1", &at_limit), keyed("l2", &over)]).await.unwrap();
    let store = db.store().await;

    let dry = run_to_end(&store, &input_with(Mode::DryRun, None, 10)).await;
    let applied = run_to_end(&store, &input_with(Mode::Apply, None, 10)).await;
    assert_eq!(dry.counts, applied.counts);
    assert_eq!(applied.counts.migration.warnings.get(&Warning::ProviderIdTooLong), Some(&warn(1, &["l2"])));
    let keys: Vec<(String, Option<String>)> = client
        .query(r#"SELECT "leadId", "ghlAppointmentId" FROM "Appointment" ORDER BY "leadId""#, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(keys, vec![("l1".to_string(), Some(at_limit)), ("l2".to_string(), None)]);
}
