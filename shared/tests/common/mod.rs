//! Builders and readers shared by the shared crate's database tests.
#![allow(dead_code, unused_imports)]

use chrono::{DateTime, TimeZone, Utc};
use shared::domain::*;
use shared::testing::{calendly_observation, ghl_observation, seed_client, seed_lead, TestDb};
pub use shared::testing::{count, keys_held_twice, snapshot, AppointmentSnapshot};
use shared::Store;
use tokio_postgres::Client;

pub const CLIENT: &str = "client_1";

pub fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, day, hour, minute, 0).unwrap()
}

pub async fn db_with_leads(leads: &[&str]) -> (TestDb, Client) {
    let (db, client) = shared::testing::database().await;
    seed_client(&client, CLIENT, Some("key")).await.unwrap();
    for lead in leads {
        seed_lead(&client, CLIENT, lead, None).await.unwrap();
    }
    (db, client)
}

/// [`db_with_leads`] and a store on it.
pub async fn store_with_leads(leads: &[&str]) -> (TestDb, Client, Store) {
    let (db, client) = db_with_leads(leads).await;
    let store = db.store().await;
    (db, client, store)
}

/// Another client (workspace) with one lead.
pub async fn another_client(db: &Client, client_id: &str, lead_id: &str, email: Option<&str>) {
    seed_client(db, client_id, None).await.unwrap();
    seed_lead(db, client_id, lead_id, email).await.unwrap();
}

pub fn calendly(lead: &str, invitee: &str, status: AppointmentStatus, updated: DateTime<Utc>, start: DateTime<Utc>) -> Observation {
    let mut o = calendly_observation(lead, &invitee_uri(invitee), "https://api.calendly.com/scheduled_events/ev", status, start, updated);
    if status.is_terminal() {
        o.cancel_reason = Some("moving, mail me at someone@example.com".into());
    }
    o
}

pub fn invitee_uri(invitee: &str) -> String {
    format!("https://api.calendly.com/scheduled_events/ev/invitees/{invitee}")
}

pub fn ghl(
    lead: &str,
    id: &str,
    status: AppointmentStatus,
    updated: DateTime<Utc>,
    booked: DateTime<Utc>,
    start: DateTime<Utc>,
) -> Observation {
    let mut o = ghl_observation(lead, id, status, Some(start), updated);
    o.provider_created_at = Some(booked);
    o.tasks = TaskPolicy::All;
    o
}
