//! I6: a failed write leaves nothing behind, and the store recovers from a dropped connection.

mod common;

use std::time::Duration;

use common::*;
use shared::domain::AppointmentStatus::*;
use shared::testing::TestDb;
use shared::Store;
use tokio_postgres::Client;

/// Appointments, events, tasks and the lead's rollup status.
type Totals = (i64, i64, i64, Option<String>);

async fn totals(client: &Client) -> Totals {
    let row = client
        .query_one(
            r#"SELECT (SELECT count(*) FROM "Appointment"), (SELECT count(*) FROM "AppointmentEvent"),
                      (SELECT count(*) FROM "FollowUpTask"), (SELECT "appointmentStatus" FROM "Lead" WHERE "id" = 'lead_f')"#,
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// `lead_f` with one confirmed booking recorded through the store, and the totals after it.
async fn one_confirmed_booking() -> (TestDb, Client, Store, Totals) {
    let (db, client, store) = store_with_leads(&["lead_f"]).await;
    store.record(calendly("lead_f", "i", Confirmed, at(1, 1, 0), at(20, 9, 0))).await.unwrap();
    let before = totals(&client).await;
    (db, client, store, before)
}

#[tokio::test]
async fn an_error_in_the_middle_of_record_leaves_nothing_behind() {
    let (_db, client, store, before) = one_confirmed_booking().await;

    // The database fails the change-log insert, after the appointment update and before the
    // rollup, the task and COMMIT of the same pipeline.
    client
        .batch_execute(
            r#"CREATE FUNCTION fail_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
               CREATE TRIGGER fail_event BEFORE INSERT ON "AppointmentEvent" FOR EACH ROW EXECUTE FUNCTION fail_event();"#,
        )
        .await
        .unwrap();
    let err = store.record(calendly("lead_f", "i", Canceled, at(1, 2, 0), at(20, 9, 0))).await.unwrap_err();
    assert!(matches!(err, shared::Error::Database { .. }), "{err:?}");
    assert_eq!(totals(&client).await, before, "a failed record left something behind");
    let status: String = client.query_one(r#"SELECT "status"::text FROM "Appointment""#, &[]).await.unwrap().get(0);
    assert_eq!(status, "CONFIRMED");

    // The same connection works again, and the same observation records fully once the fault is gone.
    client.batch_execute(r#"DROP TRIGGER fail_event ON "AppointmentEvent""#).await.unwrap();
    let ok = store.record(calendly("lead_f", "i", Canceled, at(1, 2, 0), at(20, 9, 0))).await.unwrap();
    assert_eq!(ok.tasks_created, 1);
    let after = totals(&client).await;
    assert_eq!((after.0, after.2, after.3.as_deref()), (1, 1, Some("canceled")));
}

#[tokio::test]
async fn a_connection_dropped_mid_record_leaves_nothing_and_the_store_reconnects() {
    let (db, client, store, before) = one_confirmed_booking().await;

    // Park the store's record on the lead lock, then kill its backend while it waits.
    let mut holder = db.client().await;
    let tx = holder.transaction().await.unwrap();
    tx.execute(r#"SELECT 1 FROM "Lead" WHERE "id" = 'lead_f' FOR NO KEY UPDATE"#, &[]).await.unwrap();
    let store = std::sync::Arc::new(store);
    let pending = {
        let store = store.clone();
        tokio::spawn(async move { store.record(calendly("lead_f", "i", Canceled, at(1, 2, 0), at(20, 9, 0))).await })
    };
    // Wait until the record is blocked on the lock, then terminate every backend waiting on it.
    let mut killed = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        killed = client
            .query_one(
                r#"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"#,
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if killed > 0 {
            break;
        }
    }
    assert!(killed > 0, "the record never waited on the lock");
    // Its retry on a fresh connection waits for the lock too; nothing is written while it waits.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(totals(&client).await, before, "a dropped record left something behind");
    tx.rollback().await.unwrap();
    // The store reconnected and recorded it on its one retry: idempotency makes that safe.
    let outcome = pending.await.unwrap().unwrap();
    assert_eq!(outcome.tasks_created, 1);
    let after = totals(&client).await;
    assert_eq!((after.0, after.2, after.3.as_deref()), (1, 1, Some("canceled")));

    // A server that is gone answers Unavailable, quickly, and nothing panics.
    let gone = shared::Store::new(shared::testing::unreachable_database());
    let err = gone.record(calendly("lead_f", "i", Canceled, at(1, 2, 0), at(20, 9, 0))).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}
