//! Two writers on one lead at once: 8+ tasks on separate connections, writing the same lead (and
//! another lead) at the same time. Invariants hold, nothing deadlocks, no serialization error or
//! unique violation reaches a caller.

mod common;

use std::time::Duration;

use common::*;
use shared::domain::AppointmentStatus::*;
use shared::rollup::compute_rollup;
use shared::write_path::appointment_from_row;

const WRITERS: usize = 10;
const ROUNDS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_one_lead_keep_every_invariant() {
    let (db, client) = db_with_leads(&["hot", "cold"]).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = db.store().await;
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..ROUNDS {
                // All writers start each round together and deliver the same reschedule-like story
                // and the same GHL appointment (each its own version of it), half of them in reverse
                // order, plus a booking of their own: the worst case for lost updates, double-logged
                // changes and races on new provider keys.
                let lead = if r % 3 == 0 { "cold" } else { "hot" };
                let shared_key = format!("{lead}-shared-{r}");
                let mut batch = vec![
                    calendly(lead, &shared_key, Confirmed, at(1, 1, 0), at(20, 9, r as u32)),
                    calendly(lead, &shared_key, Canceled, at(1, 2, 0), at(20, 9, r as u32)),
                    calendly(lead, &format!("{lead}-own-{w}-{r}"), Confirmed, at(1, 3, w as u32), at(21, (w % 20) as u32, r as u32)),
                    ghl(
                        lead,
                        &format!("{lead}-g{}", r % 2),
                        if w % 2 == 0 { Confirmed } else { Showed },
                        at(2 + r as u32, w as u32, 0),
                        at(1, 1, 0),
                        at(22, 9, 0),
                    ),
                ];
                if w % 2 == 1 {
                    batch.reverse();
                }
                barrier.wait().await;
                for obs in batch {
                    let outcome =
                        tokio::time::timeout(Duration::from_secs(30), store.record(obs)).await.expect("a writer waited 30 s: deadlock?");
                    outcome.unwrap_or_else(|e| panic!("writer {w} round {r}: an error reached the caller: {e}"));
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    for lead in ["hot", "cold"] {
        // I1: one row per provider key (the unique indexes would have raised, but say it).
        assert_eq!(keys_held_twice(&client, lead).await, 0);
        // I2: the rollup equals the rule over the rows.
        let rows: Vec<_> = client
            .query(concat!("SELECT ", shared::appointment_columns!(), r#" FROM "Appointment" WHERE "leadId" = $1"#), &[&lead])
            .await
            .unwrap()
            .iter()
            .map(|r| appointment_from_row(r).unwrap())
            .collect();
        let expected = compute_rollup(&rows, chrono::Utc::now()).unwrap();
        let (_, rollup, _) = snapshot(&client, lead).await;
        assert_eq!(rollup[2].as_deref(), expected.status.as_deref(), "{lead}: rollup status");
        assert_eq!(rollup[0], expected.start_at.map(|t| t.naive_utc().to_string()), "{lead}: rollup start");
        // Shared keys were canceled by some writer, and once canceled stay canceled (lost updates
        // would leave some CONFIRMED).
        let confirmed_shared: i64 = client
            .query_one(r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = $1 AND "calendlyInviteeUri" LIKE '%-shared-%' AND "status" <> 'CANCELED'"#, &[&lead])
            .await
            .unwrap()
            .get(0);
        assert_eq!(confirmed_shared, 0, "{lead}: a cancellation was lost");
        // One task per appointment and type, however many writers saw the cancellation.
        let tasks: i64 = client
            .query_one(r#"SELECT count(*) - count(DISTINCT ("appointmentId", "type")) FROM "FollowUpTask" WHERE "leadId" = $1"#, &[&lead])
            .await
            .unwrap()
            .get(0);
        assert_eq!(tasks, 0);
        // Every status change is logged exactly once: CONFIRMED -> CANCELED once per shared key.
        let changes: i64 = client
            .query_one(
                r#"SELECT count(*) FROM "AppointmentEvent" e JOIN "Appointment" a ON a."id" = e."appointmentId"
                    WHERE a."leadId" = $1 AND a."calendlyInviteeUri" LIKE '%-shared-%' AND e."kind" = 'status_changed'"#,
                &[&lead],
            )
            .await
            .unwrap()
            .get(0);
        let shared_keys: i64 = client
            .query_one(r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = $1 AND "calendlyInviteeUri" LIKE '%-shared-%'"#, &[&lead])
            .await
            .unwrap()
            .get(0);
        // (A writer that delivered the cancel first created the row canceled: no change to log.)
        assert!(changes <= shared_keys, "{lead}: {changes} status changes logged for {shared_keys} keys");
        let created: i64 = client
            .query_one(r#"SELECT count(*) FROM "AppointmentEvent" WHERE "leadId" = $1 AND "kind" = 'created'"#, &[&lead])
            .await
            .unwrap()
            .get(0);
        let rows_now: i64 = client.query_one(r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = $1"#, &[&lead]).await.unwrap().get(0);
        assert_eq!(created, rows_now, "{lead}: one created event per row");
        // The GHL appointments hold the newest version any writer delivered (no lost update).
        for g in 0..2 {
            let newest = (0..ROUNDS)
                .filter(|r| (if r % 3 == 0 { "cold" } else { "hot" }) == lead && r % 2 == g)
                .map(|r| at(2 + r as u32, WRITERS as u32 - 1, 0))
                .max();
            let Some(newest) = newest else { continue };
            let held: chrono::NaiveDateTime = client
                .query_one(r#"SELECT "providerUpdatedAt" FROM "Appointment" WHERE "ghlAppointmentId" = $1"#, &[&format!("{lead}-g{g}")])
                .await
                .unwrap()
                .get(0);
            assert_eq!(held, newest.naive_utc(), "{lead}-g{g}: not the newest version delivered");
        }
    }
    let own: i64 = count(&client, r#"SELECT count(*) FROM "Appointment" WHERE "calendlyInviteeUri" LIKE '%-own-%'"#).await;
    assert_eq!(own, (WRITERS * ROUNDS) as i64, "every writer's own booking is there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_of_different_leads_do_not_wait_for_each_other() {
    let (db, client) = db_with_leads(&["busy", "free"]).await;
    // Hold the lock of one lead in an open transaction.
    let mut holder = db.client().await;
    let tx = holder.transaction().await.unwrap();
    tx.execute(r#"SELECT 1 FROM "Lead" WHERE "id" = 'busy' FOR NO KEY UPDATE"#, &[]).await.unwrap();

    let store = db.store().await;
    let free =
        tokio::time::timeout(Duration::from_secs(5), store.record(calendly("free", "f", Confirmed, at(1, 1, 0), at(20, 9, 0)))).await;
    assert!(free.is_ok(), "a write on another lead waited for the held lock");

    let blocked_store = db.store().await;
    let blocked = tokio::spawn(async move { blocked_store.record(calendly("busy", "b", Confirmed, at(1, 1, 0), at(20, 9, 0))).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!blocked.is_finished(), "a write on the locked lead did not wait for the lock");
    tx.commit().await.unwrap();
    blocked.await.unwrap().unwrap();
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment""#).await, 2);
}

/// Two writers asserting one provider key for two leads of a client at the same moment, each
/// pinned to its lead: one records it, the other is refused, and the refused one wrote nothing
/// (never a refusal after a committed write).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pinned_writers_racing_for_one_key_never_write_where_they_are_refused() {
    let (db, client) = db_with_leads(&["left", "right"]).await;
    let pinned = |lead: &str, key: &str, status| {
        let mut o = ghl(lead, key, status, at(1, 1, 0), at(1, 1, 0), at(20, 9, 0));
        o.lead = shared::LeadRef::Pinned(lead.to_string());
        o.source = shared::AppointmentSource::Manual;
        o.provider_updated_at = None;
        o
    };
    let (mut left, mut right) = (db.store().await, db.store().await);
    for round in 0..20 {
        let key = format!("race-{round}");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let run = |store: shared::Store, obs: shared::Observation| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let result = store.record(obs).await;
                (store, result)
            })
        };
        let l = run(left, pinned("left", &key, Confirmed));
        let r = run(right, pinned("right", &key, Canceled));
        let ((left_store, l), (right_store, r)) = (l.await.unwrap(), r.await.unwrap());
        (left, right) = (left_store, right_store);
        let (winner, status) = match (&l, &r) {
            (Ok(_), Err(shared::Error::KeyOwnedElsewhere)) => ("left", "CONFIRMED"),
            (Err(shared::Error::KeyOwnedElsewhere), Ok(_)) => ("right", "CANCELED"),
            other => panic!("round {round}: {other:?}"),
        };
        let rows =
            client.query(r#"SELECT "leadId", "status"::text FROM "Appointment" WHERE "ghlAppointmentId" = $1"#, &[&key]).await.unwrap();
        assert_eq!((rows[0].get::<_, String>(0), rows[0].get::<_, String>(1)), (winner.to_string(), status.to_string()), "round {round}");
        let events: i64 = client
            .query_one(
                r#"SELECT count(*) FROM "AppointmentEvent" e JOIN "Appointment" a ON a."id" = e."appointmentId" WHERE a."ghlAppointmentId" = $1"#,
                &[&key],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(events, 1, "round {round}: the refused writer changed the winner's row");
    }
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment""#).await, 20);
}
