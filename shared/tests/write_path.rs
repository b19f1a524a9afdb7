//! The write path against a real PostgreSQL: scenarios, idempotency, round trips.

mod common;

use common::*;
use shared::domain::{AppointmentSource, AppointmentStatus::*, Observation, ObservedStatus, Provider, TaskPolicy};
use shared::Change;

#[tokio::test]
async fn reschedule_story_links_rolls_up_and_tasks_once() {
    let (_db, client, store) = store_with_leads(&["lead_a"]).await;

    let created = calendly("lead_a", "old", Confirmed, at(2, 15, 4), at(20, 17, 0));
    let mut canceled = calendly("lead_a", "old", Rescheduled, at(4, 9, 12), at(20, 17, 0));
    canceled.rescheduled_to_key = Some(invitee_uri("new"));
    let mut rebooked = calendly("lead_a", "new", Confirmed, at(4, 9, 11), at(22, 16, 0));
    rebooked.rescheduled_from_key = Some(invitee_uri("old"));

    let a = store.record(created.clone()).await.unwrap();
    assert_eq!(a.change, Change::Created);
    assert!(a.rollup_changed);
    let b = store.record(canceled.clone()).await.unwrap();
    assert_eq!(b.change, Change::Updated);
    assert_eq!(b.appointment_id, a.appointment_id);
    assert_eq!(b.tasks_created, 1);
    let c = store.record(rebooked.clone()).await.unwrap();
    assert_eq!(c.change, Change::Created);

    let (rows, rollup, tasks) = snapshot(&client, "lead_a").await;
    assert_eq!(rows.len(), 2);
    let new = rows.iter().find(|r| r.key.as_deref() == Some(invitee_uri("new").as_str())).unwrap();
    assert_eq!(new.linked_from.as_deref(), Some(invitee_uri("old").as_str()));
    let old = rows.iter().find(|r| r.key.as_deref() == Some(invitee_uri("old").as_str())).unwrap();
    assert_eq!(old.status, "RESCHEDULED");
    assert_eq!(old.reason.as_deref(), Some("moving, mail me at [email]"));
    assert_eq!(old.canceled_by.as_deref(), Some("invitee"));
    assert_eq!(rollup[2].as_deref(), Some("confirmed"));
    assert_eq!(rollup[0].as_deref(), Some("2031-03-22 16:00:00"));
    assert_eq!(tasks, vec![(invitee_uri("old"), "meeting-rescheduled".to_string())]);

    // Every delivery again: nothing written, not even updatedAt.
    let before: Vec<String> =
        client.query(r#"SELECT "updatedAt"::text FROM "Appointment" ORDER BY "id""#, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    let lead_updated: String = client.query_one(r#"SELECT "updatedAt"::text FROM "Lead""#, &[]).await.unwrap().get(0);
    let events = count(&client, r#"SELECT count(*) FROM "AppointmentEvent""#).await;
    for o in [created, canceled, rebooked] {
        let again = store.record(o).await.unwrap();
        assert_eq!(again.change, Change::Unchanged);
        assert_eq!(again.events, 0);
    }
    let after: Vec<String> =
        client.query(r#"SELECT "updatedAt"::text FROM "Appointment" ORDER BY "id""#, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(before, after);
    let lead_after: String = client.query_one(r#"SELECT "updatedAt"::text FROM "Lead""#, &[]).await.unwrap().get(0);
    assert_eq!(lead_updated, lead_after);
    assert_eq!(events, count(&client, r#"SELECT count(*) FROM "AppointmentEvent""#).await);
}

#[tokio::test]
async fn at_most_two_round_trips_per_record() {
    let (_db, _client, store) = store_with_leads(&["lead_rt"]).await;
    let cases = [
        ("new", calendly("lead_rt", "i1", Confirmed, at(1, 1, 0), at(25, 9, 0))),
        ("duplicate", calendly("lead_rt", "i1", Confirmed, at(1, 1, 0), at(25, 9, 0))),
        ("status change", calendly("lead_rt", "i1", Canceled, at(1, 2, 0), at(25, 9, 0))),
        ("stale", calendly("lead_rt", "i1", Confirmed, at(1, 0, 30), at(25, 9, 0))),
    ];
    for (name, obs) in cases {
        let before = store.round_trips();
        store.record(obs).await.unwrap();
        assert_eq!(store.round_trips() - before, 2, "{name}");
    }
}

#[tokio::test]
async fn the_write_transaction_runs_on_generic_plans_only() {
    let (_db, _client, store) = store_with_leads(&["lead_g"]).await;
    // Past PostgreSQL's five custom plans before it may choose a generic one.
    for day in 1..=8 {
        let status = if day % 2 == 0 { Canceled } else { Confirmed };
        store.record(calendly("lead_g", "g", status, at(day, 9, 0), at(25, 9, 0))).await.unwrap();
    }
    let conn = store.conn().await.unwrap();
    let plans = conn
        .client
        .query(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements \
             WHERE (statement LIKE 'WITH new_rows%' OR statement LIKE 'SELECT \"id\", \"leadId\"%') \
               AND generic_plans + custom_plans > 0",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(plans.len(), 2, "the write and the Calendly-key read ran");
    for row in plans {
        let (statement, generic, custom): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(custom, 0, "planned anew for a call: {}", &statement[..40]);
        assert!(generic > 0, "{}", &statement[..40]);
    }
    // Transaction-local: the session's own setting is untouched.
    let mode: String = conn.client.query_one("SHOW plan_cache_mode", &[]).await.unwrap().get(0);
    assert_eq!(mode, "auto");
}

#[tokio::test]
async fn stale_observation_never_overwrites_newer() {
    let (_db, client, store) = store_with_leads(&["lead_s"]).await;
    store.record(ghl("lead_s", "g1", Canceled, at(3, 10, 0), at(1, 9, 0), at(12, 15, 0))).await.unwrap();
    let stale = store.record(ghl("lead_s", "g1", Confirmed, at(2, 10, 0), at(1, 9, 0), at(11, 15, 0))).await.unwrap();
    assert_eq!(stale.change, Change::Unchanged);
    let (rows, rollup, _) = snapshot(&client, "lead_s").await;
    assert_eq!(rows[0].status, "CANCELED");
    assert_eq!(rows[0].start.unwrap().to_string(), "2031-03-12 15:00:00");
    assert_eq!(rollup[2].as_deref(), Some("canceled"));

    // A newer GHL observation moves the time and reactivates; the log records both.
    store.record(ghl("lead_s", "g1", Confirmed, at(4, 10, 0), at(1, 9, 0), at(13, 15, 0))).await.unwrap();
    let kinds: Vec<String> = client
        .query(r#"SELECT "kind" FROM "AppointmentEvent" ORDER BY "recordedAt", "id""#, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kinds, ["created", "status_changed", "time_changed"]);
    let (rows, rollup, _) = snapshot(&client, "lead_s").await;
    assert_eq!(rows[0].status, "CONFIRMED");
    assert_eq!(rows[0].canceled_at, None);
    assert_eq!(rollup[2].as_deref(), Some("confirmed"));
}

#[tokio::test]
async fn calendly_cancel_is_final_and_no_show_round_trip() {
    let (_db, client, store) = store_with_leads(&["lead_n"]).await;
    let created = calendly("lead_n", "i", Confirmed, at(1, 1, 0), at(10, 17, 0));
    store.record(created.clone()).await.unwrap();

    let mut no_show = created.clone();
    no_show.status = ObservedStatus::Is(NoShow);
    no_show.provider_updated_at = Some(at(10, 17, 45));
    let mut cleared = created.clone();
    cleared.status = ObservedStatus::NoShowCleared;
    cleared.provider_updated_at = Some(at(10, 18, 2));

    // Cleared first, then the no-show it clears: the later word (cleared) stands.
    store.record(cleared.clone()).await.unwrap();
    store.record(no_show.clone()).await.unwrap();
    assert_eq!(snapshot(&client, "lead_n").await.0[0].status, "CONFIRMED");

    let (db2, client2) = db_with_leads(&["lead_n"]).await;
    let store2 = db2.store().await;
    store2.record(created.clone()).await.unwrap();
    store2.record(no_show).await.unwrap();
    assert_eq!(snapshot(&client2, "lead_n").await.0[0].status, "NO_SHOW");
    store2.record(cleared).await.unwrap();
    assert_eq!(snapshot(&client2, "lead_n").await.0[0].status, "CONFIRMED");

    // Once canceled, a later "active" word about the same invitee does not revive it.
    let canceled = calendly("lead_n", "i", Canceled, at(11, 0, 0), at(10, 17, 0));
    store2.record(canceled).await.unwrap();
    let revived = calendly("lead_n", "i", Confirmed, at(12, 0, 0), at(10, 17, 0));
    store2.record(revived).await.unwrap();
    assert_eq!(snapshot(&client2, "lead_n").await.0[0].status, "CANCELED");
}

#[tokio::test]
async fn webhook_adopts_migrated_row_instead_of_duplicating() {
    let (_db, client, store) = store_with_leads(&["lead_m"]).await;
    let mut migrated = Observation::new("lead_m", Provider::Calendly, ObservedStatus::Is(Confirmed), AppointmentSource::Migration);
    migrated.start_at = Some(at(20, 17, 0));
    let m = store.record(migrated.clone()).await.unwrap();
    assert_eq!(m.change, Change::Created);
    assert!(!m.rollup_changed, "migration never writes the lead");

    let hook = store.record(calendly("lead_m", "i", Confirmed, at(1, 1, 0), at(20, 17, 0))).await.unwrap();
    assert_eq!(hook.appointment_id, m.appointment_id);
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment""#).await, 1);
    let (rows, _, _) = snapshot(&client, "lead_m").await;
    assert_eq!(rows[0].key.as_deref(), Some(invitee_uri("i").as_str()));

    // Migrating again finds the (now keyed) booking by provider and start.
    let again = store.record(migrated).await.unwrap();
    assert_eq!(again.change, Change::Unchanged);
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment""#).await, 1);
}

#[tokio::test]
async fn key_stays_with_its_lead_and_links_never_cross_leads() {
    let (_db, client, store) = store_with_leads(&["lead_x", "lead_y"]).await;
    store.record(calendly("lead_x", "i", Confirmed, at(1, 1, 0), at(20, 17, 0))).await.unwrap();
    let moved = store.record(calendly("lead_y", "i", Canceled, at(2, 1, 0), at(20, 17, 0))).await.unwrap();
    assert_eq!(moved.lead_id, "lead_x");
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'lead_y'"#).await, 0);

    let mut other = calendly("lead_y", "j", Confirmed, at(3, 1, 0), at(25, 17, 0));
    other.rescheduled_from_key = Some(invitee_uri("i"));
    store.record(other).await.unwrap();
    let (rows, _, _) = snapshot(&client, "lead_y").await;
    assert_eq!(rows[0].linked_from, None);
}

#[tokio::test]
async fn ghl_cancel_and_rebook_link_best_effort_in_either_order() {
    for reverse in [false, true] {
        let (_db, client, store) = store_with_leads(&["lead_g"]).await;
        let cancel = ghl("lead_g", "old", Canceled, at(1, 10, 1), at(1, 8, 45), at(6, 15, 0));
        let rebook = ghl("lead_g", "new", Confirmed, at(1, 10, 2), at(1, 10, 2), at(11, 15, 0));
        let unrelated = ghl("lead_g", "later", Confirmed, at(5, 10, 0), at(5, 10, 0), at(21, 15, 0));
        let mut all = vec![cancel, rebook, unrelated];
        if reverse {
            all.reverse();
        }
        for o in all {
            store.record(o).await.unwrap();
        }
        let (rows, _, _) = snapshot(&client, "lead_g").await;
        let link = |k: &str| rows.iter().find(|r| r.key.as_deref() == Some(k)).unwrap().linked_from.clone();
        assert_eq!(link("new").as_deref(), Some("old"), "reverse={reverse}");
        assert_eq!(link("later"), None);
        assert_eq!(link("old"), None);
    }
}

#[tokio::test]
async fn tasks_follow_the_policy() {
    let (_db, client, store) = store_with_leads(&["lead_t"]).await;
    let mut past = calendly("lead_t", "past", Canceled, at(2, 1, 0), chrono::Utc::now() - chrono::TimeDelta::days(3));
    past.tasks = TaskPolicy::UpcomingOnly;
    store.record(past).await.unwrap();
    let mut future = calendly("lead_t", "future", Canceled, at(2, 1, 0), at(28, 9, 0));
    future.tasks = TaskPolicy::UpcomingOnly;
    store.record(future).await.unwrap();
    let mut backfill = calendly("lead_t", "bf", Canceled, at(2, 1, 0), at(28, 11, 0));
    backfill.tasks = TaskPolicy::None;
    store.record(backfill).await.unwrap();
    let (_, _, tasks) = snapshot(&client, "lead_t").await;
    assert_eq!(tasks, vec![(invitee_uri("future"), "meeting-canceled".to_string())]);
    let urgent = count(&client, r#"SELECT count(*) FROM "FollowUpTask" WHERE "isUrgent""#).await;
    assert_eq!(urgent, 1);
}

#[tokio::test]
async fn unknown_lead_and_invalid_observation_write_nothing() {
    let (_db, client, store) = store_with_leads(&["lead_u"]).await;
    let err = store.record(calendly("nope", "i", Confirmed, at(1, 1, 0), at(20, 17, 0))).await.unwrap_err();
    assert!(matches!(err, shared::Error::LeadNotFound(_)), "{err:?}");
    let mut bad = calendly("lead_u", "i", Confirmed, at(1, 1, 0), at(20, 17, 0));
    bad.end_at = Some(at(1, 0, 0));
    assert!(matches!(store.record(bad).await, Err(shared::Error::InvalidObservation(_))));
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment""#).await, 0);
    // The store is still usable after errors.
    store.record(calendly("lead_u", "i", Confirmed, at(1, 1, 0), at(20, 17, 0))).await.unwrap();
}

#[tokio::test]
async fn lead_matching_inside_the_first_round_trip() {
    use shared::LeadRef;
    let (db, client) = db_with_leads(&[]).await;
    shared::testing::seed_client(&client, "other_client", None).await.unwrap();
    for (lead, email, client_id, updated) in [
        ("old_dana", "Dana@Example.com", CLIENT, "2031-01-01"),
        ("new_dana", "dana@example.com", CLIENT, "2031-02-01"),
        ("hinted", "someone@example.com", CLIENT, "2031-01-01"),
        ("foreign", "dana@example.com", "other_client", "2031-03-01"),
    ] {
        client
            .execute(
                r#"INSERT INTO "Lead" ("id", "clientId", "email", "updatedAt") VALUES ($1, $2, $3, $4::text::timestamp)"#,
                &[&lead, &client_id, &email, &updated],
            )
            .await
            .unwrap();
    }
    let store = db.store().await;
    let matching = |hint: Option<&str>, email: Option<&str>| LeadRef::Match {
        client_id: CLIENT.into(),
        lead_hint: hint.map(Into::into),
        email: email.map(Into::into),
    };
    let rt = store.round_trips();
    let mut o = calendly("x", "by_email", Confirmed, at(1, 1, 0), at(20, 17, 0));
    o.lead = matching(None, Some("DANA@example.COM"));
    assert_eq!(store.record(o).await.unwrap().lead_id, "new_dana", "most recently updated of the client's matches");
    assert_eq!(store.round_trips() - rt, 2);

    let mut o = calendly("x", "by_hint", Confirmed, at(1, 1, 0), at(20, 17, 0));
    o.lead = matching(Some("hinted"), Some("dana@example.com"));
    assert_eq!(store.record(o).await.unwrap().lead_id, "hinted", "the hint wins over the email");

    let mut o = calendly("x", "foreign_hint", Confirmed, at(1, 1, 0), at(20, 17, 0));
    o.lead = matching(Some("foreign"), None);
    assert!(matches!(store.record(o).await, Err(shared::Error::LeadNotFound(_))), "a hint outside the client matches nothing");

    // The key's owner decides once the key exists, whatever the email says now.
    let mut o = calendly("x", "by_hint", Canceled, at(2, 1, 0), at(20, 17, 0));
    o.lead = matching(None, Some("dana@example.com"));
    assert_eq!(store.record(o).await.unwrap().lead_id, "hinted");

    let mut o = calendly("x", "by_email", NoShow, at(3, 1, 0), at(20, 17, 0));
    o.lead = LeadRef::KeyOwner;
    assert_eq!(store.record(o).await.unwrap().lead_id, "new_dana");
    let mut o = calendly("x", "unknown", NoShow, at(3, 1, 0), at(20, 17, 0));
    o.lead = LeadRef::KeyOwner;
    assert!(matches!(store.record(o).await, Err(shared::Error::LeadNotFound(_))));
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'foreign'"#).await, 0);
}

#[tokio::test]
async fn a_match_never_writes_into_another_clients_lead() {
    use shared::LeadRef;
    let (_db, client, store) = store_with_leads(&["mine"]).await;
    another_client(&client, "theirs", "their_lead", Some("dana@example.com")).await;
    store.record(calendly("their_lead", "shared-invitee", Confirmed, at(1, 1, 0), at(20, 9, 0))).await.unwrap();
    client.execute(r#"UPDATE "Lead" SET "email" = 'dana@example.com' WHERE "id" = 'mine'"#, &[]).await.unwrap();

    let mut forged = calendly("x", "shared-invitee", Canceled, at(2, 1, 0), at(20, 9, 0));
    forged.lead = LeadRef::Match { client_id: CLIENT.into(), lead_hint: None, email: Some("dana@example.com".into()) };
    assert!(matches!(store.record(forged).await, Err(shared::Error::LeadNotFound(_))));
    let (rows, _, _) = snapshot(&client, "their_lead").await;
    assert_eq!(rows[0].status, "CONFIRMED", "another client's appointment was changed");
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'mine'"#).await, 0);
}

#[tokio::test]
async fn a_key_of_another_clients_lead_is_refused_not_moved() {
    let (_db, client, store) = store_with_leads(&["mine"]).await;
    another_client(&client, "theirs", "their_lead", None).await;
    store.record(ghl("their_lead", "g-shared", Confirmed, at(1, 1, 0), at(1, 1, 0), at(20, 9, 0))).await.unwrap();
    let err = store.record(ghl("mine", "g-shared", Canceled, at(2, 1, 0), at(1, 1, 0), at(20, 9, 0))).await.unwrap_err();
    assert!(matches!(err, shared::Error::KeyOwnedElsewhere), "{err:?}");
    let (rows, _, _) = snapshot(&client, "their_lead").await;
    assert_eq!(rows[0].status, "CONFIRMED");
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'mine'"#).await, 0);
}

fn pinned(mut o: Observation, source: AppointmentSource) -> Observation {
    o.lead = shared::LeadRef::Pinned(match &o.lead {
        shared::LeadRef::Id(id) => id.clone(),
        other => panic!("not an id: {other:?}"),
    });
    o.source = source;
    o.provider_updated_at = None;
    o.provider_created_at = None;
    o.tasks = TaskPolicy::None;
    o
}

#[tokio::test]
async fn a_pinned_write_refuses_a_key_of_another_lead_of_the_client_and_writes_nothing() {
    let (_db, client, store) = store_with_leads(&["owner", "asker"]).await;
    store.record(ghl("owner", "g-1", Confirmed, at(1, 1, 0), at(1, 1, 0), at(20, 9, 0))).await.unwrap();
    let before = count(&client, r#"SELECT count(*) FROM "AppointmentEvent""#).await;
    let rt = store.round_trips();
    let err = store.record(pinned(ghl("asker", "g-1", Canceled, at(2, 1, 0), at(1, 1, 0), at(20, 9, 0)), AppointmentSource::Manual)).await;
    assert!(matches!(err, Err(shared::Error::KeyOwnedElsewhere)), "{err:?}");
    assert!(store.round_trips() - rt <= 2, "refused in the first round trip (and a rollback)");
    let (rows, _, _) = snapshot(&client, "owner").await;
    assert_eq!(rows[0].status, "CONFIRMED", "the owner's row was written");
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'asker'"#).await, 0);
    assert_eq!(count(&client, r#"SELECT count(*) FROM "AppointmentEvent""#).await, before);
}

/// Workspace B asserts (POST) a key of workspace A; A's provider-verified delivery takes it back.
#[tokio::test]
async fn a_verified_observation_takes_a_key_another_workspace_only_asserted() {
    use shared::write_path::KeyConflict;
    let (_db, client, store) = store_with_leads(&["a_lead"]).await;
    another_client(&client, "client_b", "b_lead", None).await;

    let asserted =
        store.record(pinned(calendly("b_lead", "inv-a", Confirmed, at(1, 1, 0), at(20, 9, 0)), AppointmentSource::Manual)).await.unwrap();
    assert_eq!((asserted.change, asserted.key_conflict), (Change::Created, None), "an unknown key is simply stored");

    let rt = store.round_trips();
    let verified = store.record(calendly("a_lead", "inv-a", Canceled, at(2, 1, 0), at(20, 9, 0))).await.unwrap();
    assert_eq!(store.round_trips() - rt, 2);
    assert_eq!((verified.lead_id.as_str(), verified.change, verified.key_conflict), ("a_lead", Change::Created, Some(KeyConflict::Taken)));
    let (a_rows, a_rollup, _) = snapshot(&client, "a_lead").await;
    assert_eq!((a_rows[0].key.as_deref(), a_rows[0].status.as_str()), (Some(invitee_uri("inv-a").as_str()), "CANCELED"));
    assert_eq!(a_rollup[2].as_deref(), Some("canceled"));
    // B's row keeps its history, without the key.
    let (b_rows, b_rollup, _) = snapshot(&client, "b_lead").await;
    assert_eq!((b_rows.len(), b_rows[0].key.as_deref(), b_rows[0].status.as_str()), (1, None, "CONFIRMED"));
    assert_eq!(b_rollup[2].as_deref(), Some("confirmed"));
    assert_eq!(count(&client, r#"SELECT count(*) FROM "AppointmentEvent" WHERE "leadId" = 'b_lead'"#).await, 1);
    // Delivered again: nothing changes; the key now is verified.
    assert_eq!(store.record(calendly("a_lead", "inv-a", Canceled, at(2, 1, 0), at(20, 9, 0))).await.unwrap().change, Change::Unchanged);

    // B asserts it again: recorded without it (as for an unknown key, a new row), A keeps it.
    let again =
        store.record(pinned(calendly("b_lead", "inv-a", Confirmed, at(1, 1, 0), at(22, 9, 0)), AppointmentSource::Manual)).await.unwrap();
    assert_eq!((again.change, again.key_conflict), (Change::Created, Some(KeyConflict::Dropped)));
    assert_eq!(
        count(&client, r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'b_lead' AND "calendlyInviteeUri" IS NOT NULL"#).await,
        0
    );
    let owner: String = client
        .query_one(r#"SELECT "leadId" FROM "Appointment" WHERE "calendlyInviteeUri" = $1"#, &[&invitee_uri("inv-a")])
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "a_lead");

    // A verified key is never taken by another workspace's verified observation.
    let err = store.record(calendly("b_lead", "inv-a", Confirmed, at(3, 1, 0), at(20, 9, 0))).await;
    assert!(matches!(err, Err(shared::Error::KeyOwnedElsewhere)), "{err:?}");
}

#[tokio::test]
async fn a_deleted_ghl_appointment_stays_canceled() {
    let (_db, client, store) = store_with_leads(&["lead_d"]).await;
    let booked = ghl("lead_d", "g-del", Confirmed, at(1, 1, 0), at(1, 1, 0), at(20, 9, 0));
    let mut deleted = booked.clone();
    deleted.status = ObservedStatus::Deleted;
    deleted.provider_updated_at = Some(at(2, 1, 0));
    let later = ghl("lead_d", "g-del", Confirmed, at(3, 1, 0), at(1, 1, 0), at(21, 9, 0));
    for o in [booked, deleted.clone(), later, deleted] {
        let rt = store.round_trips();
        store.record(o).await.unwrap();
        assert_eq!(store.round_trips() - rt, 2);
    }
    let (rows, rollup, _) = snapshot(&client, "lead_d").await;
    assert_eq!((rows.len(), rows[0].status.as_str()), (1, "CANCELED"));
    assert_eq!(rollup[2].as_deref(), Some("canceled"));
    let deleted_at: Option<chrono::NaiveDateTime> =
        client.query_one(r#"SELECT "providerDeletedAt" FROM "Appointment""#, &[]).await.unwrap().get(0);
    assert_eq!(deleted_at, Some(at(2, 1, 0).naive_utc()));
    assert_eq!(count(&client, r#"SELECT count(*) FROM "AppointmentEvent" WHERE "kind" = 'deleted'"#).await, 1);
}

/// The same for a GHL appointment id: B's POST asserted it, A's reconciliation (the provider's API
/// called with A's credentials) takes it.
#[tokio::test]
async fn a_reconciled_ghl_id_is_taken_from_another_workspaces_post() {
    let (_db, client, store) = store_with_leads(&["a_lead"]).await;
    another_client(&client, "client_b", "b_lead", None).await;
    store
        .record(pinned(ghl("b_lead", "g-of-a", Confirmed, at(1, 1, 0), at(1, 1, 0), at(20, 9, 0)), AppointmentSource::AutoBook))
        .await
        .unwrap();
    let outcome = store.record(ghl("a_lead", "g-of-a", Confirmed, at(2, 1, 0), at(1, 1, 0), at(20, 9, 0))).await.unwrap();
    assert_eq!((outcome.lead_id.as_str(), outcome.key_conflict), ("a_lead", Some(shared::write_path::KeyConflict::Taken)));
    let owner: String =
        client.query_one(r#"SELECT "leadId" FROM "Appointment" WHERE "ghlAppointmentId" = 'g-of-a'"#, &[]).await.unwrap().get(0);
    assert_eq!(owner, "a_lead");
    assert_eq!(count(&client, r#"SELECT count(*) FROM "Appointment" WHERE "leadId" = 'b_lead' AND "ghlAppointmentId" IS NULL"#).await, 1);
}
