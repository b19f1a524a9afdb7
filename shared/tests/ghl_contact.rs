//! `LeadRef::GhlContact`: the write path finds a GHL delivery's lead by location and contact in
//! its first round trip, follows the appointment id's owner within the location's client, and
//! never crosses clients.

use chrono::{DateTime, TimeDelta, Utc};
use shared::domain::{AppointmentSource, AppointmentStatus, LeadRef, Observation, ObservedStatus, Provider};
use shared::testing::{count, database, TestDb};
use shared::{Error, Store};
use tokio_postgres::Client;

/// Two clients with a location each; client A's contact_1 has an old and a new lead, client B has a
/// lead of the same contact id.
async fn seeded() -> (TestDb, Client, Store) {
    let (test_db, db) = database().await;
    db.batch_execute(
        r#"INSERT INTO "Client" ("id", "name", "ghlLocationId", "updatedAt") VALUES
             ('client_a', 'A', 'loc_a', now()), ('client_b', 'B', 'loc_b', now());
           INSERT INTO "Lead" ("id", "clientId", "ghlContactId", "updatedAt") VALUES
             ('lead_old', 'client_a', 'contact_1', now() - interval '1 day'),
             ('lead_new', 'client_a', 'contact_1', now()),
             ('lead_other', 'client_a', 'contact_2', now()),
             ('lead_b', 'client_b', 'contact_1', now());"#,
    )
    .await
    .unwrap();
    let store = test_db.store().await;
    (test_db, db, store)
}

fn at(hours: i64) -> DateTime<Utc> {
    "2031-03-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + TimeDelta::hours(hours)
}

fn delivery(location: &str, contact: &str, id: &str, status: AppointmentStatus, updated: DateTime<Utc>) -> Observation {
    let lead = LeadRef::GhlContact { location_id: location.into(), contact_id: contact.into() };
    let mut o = Observation::new(lead, Provider::Ghl, ObservedStatus::Is(status), AppointmentSource::Webhook);
    o.key = Some(id.into());
    o.start_at = Some(at(48));
    o.end_at = Some(at(49));
    o.provider_updated_at = Some(updated);
    o
}

async fn owner(db: &Client, id: &str) -> String {
    db.query_one(r#"SELECT "leadId" FROM "Appointment" WHERE "ghlAppointmentId" = $1"#, &[&id]).await.unwrap().get(0)
}

#[tokio::test]
async fn finds_the_contacts_most_recent_lead_in_two_round_trips() {
    let (_test_db, db, store) = seeded().await;

    let before = store.round_trips();
    let outcome = store.record(delivery("loc_a", "contact_1", "appt_1", AppointmentStatus::Confirmed, at(0))).await.unwrap();
    assert_eq!(store.round_trips() - before, 2);
    assert_eq!(outcome.lead_id, "lead_new");
    assert_eq!(owner(&db, "appt_1").await, "lead_new");
    let status: Option<String> =
        db.query_one(r#"SELECT "appointmentStatus" FROM "Lead" WHERE "id" = 'lead_new'"#, &[]).await.unwrap().get(0);
    assert_eq!(status.as_deref(), Some("confirmed"));
}

#[tokio::test]
async fn the_appointment_stays_with_its_lead_when_the_contact_moves() {
    let (_test_db, db, store) = seeded().await;
    store.record(delivery("loc_a", "contact_1", "appt_1", AppointmentStatus::Confirmed, at(0))).await.unwrap();

    // The CRM gives the contact to another lead; the booking's later news still reaches its lead.
    db.batch_execute(
        r#"UPDATE "Lead" SET "ghlContactId" = NULL WHERE "id" = 'lead_new';
           UPDATE "Lead" SET "ghlContactId" = 'contact_1', "updatedAt" = now() + interval '1 hour' WHERE "id" = 'lead_other';"#,
    )
    .await
    .unwrap();
    let canceled = store.record(delivery("loc_a", "contact_1", "appt_1", AppointmentStatus::Canceled, at(1))).await.unwrap();
    assert_eq!(canceled.lead_id, "lead_new");
    assert_eq!(owner(&db, "appt_1").await, "lead_new");
    assert_eq!(count(&db, r#"SELECT count(*) FROM "Appointment""#).await, 1);
}

#[tokio::test]
async fn unknown_locations_and_contacts_find_no_lead_and_write_nothing() {
    let (_test_db, db, store) = seeded().await;

    for (location, contact) in [("loc_unknown", "contact_1"), ("loc_a", "contact_unknown")] {
        let result = store.record(delivery(location, contact, "appt_x", AppointmentStatus::Confirmed, at(0))).await;
        assert!(matches!(result, Err(Error::LeadNotFound(_))), "{location}/{contact}: {result:?}");
    }
    assert_eq!(count(&db, r#"SELECT count(*) FROM "Appointment""#).await, 0);
}

#[tokio::test]
async fn a_location_never_reaches_another_clients_lead() {
    let (_test_db, db, store) = seeded().await;

    // Client B's provider-confirmed appointment; client A's location names the same id.
    store.record(delivery("loc_b", "contact_1", "appt_b", AppointmentStatus::Confirmed, at(0))).await.unwrap();
    let result = store.record(delivery("loc_a", "contact_1", "appt_b", AppointmentStatus::Canceled, at(1))).await;
    assert!(matches!(result, Err(Error::LeadNotFound(_))), "{result:?}");
    assert_eq!(owner(&db, "appt_b").await, "lead_b");
    let status: String = db.query_one(r#"SELECT "status"::text FROM "Appointment""#, &[]).await.unwrap().get(0);
    assert_eq!(status, "CONFIRMED");
}

#[test]
fn ids_holding_nul_or_blank_are_refused() {
    for (location, contact) in [("loc\0", "c"), ("loc", "c\0"), (" ", "c"), ("loc", "")] {
        let o = delivery(location, contact, "appt", AppointmentStatus::Confirmed, at(0));
        assert!(matches!(o.normalized(), Err(Error::InvalidObservation(_))), "{location:?}/{contact:?}");
    }
}
