//! Seeding and reading helpers for migrate-batch's database tests.
#![allow(dead_code, unused_imports)]

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use migrate_batch::{invoke, Input, Limits, Mode, Output};
pub use shared::testing::{count, database, seed_client_preferring, seed_phase28_leads, AppointmentSnapshot};
pub use shared::write_path::migration_batch::Phase28Lead;
use shared::Provider;
use tokio_postgres::Client;

pub fn t(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, day, hour, 0, 0).unwrap()
}

/// A lead to seed: its client and its Phase 28 columns (whose `client_provider` is the client's,
/// seeded by `seed_client_preferring`).
pub type Lead = (&'static str, Phase28Lead);

/// A lead without Phase 28 data.
pub fn lead(id: &str) -> Phase28Lead {
    Phase28Lead { lead_id: id.into(), ..Default::default() }
}

/// A lead whose Phase 28 columns show a GHL appointment: its id, start and status.
pub fn ghl_booking(id: &str, ghl_appointment_id: &str, start: DateTime<Utc>, status: &str) -> Phase28Lead {
    Phase28Lead {
        appointment_provider: Some(Provider::Ghl),
        ghl_appointment_id: Some(ghl_appointment_id.into()),
        start_at: Some(start),
        status: Some(status.into()),
        ..lead(id)
    }
}

/// A lead whose Phase 28 columns show a Calendly appointment: its invitee ([`invitee`]), start
/// and status.
pub fn calendly_booking(id: &str, invitee_name: &str, start: DateTime<Utc>, status: &str) -> Phase28Lead {
    Phase28Lead {
        appointment_provider: Some(Provider::Calendly),
        calendly_invitee_uri: Some(invitee(invitee_name)),
        start_at: Some(start),
        status: Some(status.into()),
        ..lead(id)
    }
}

pub fn invitee(name: &str) -> String {
    format!("https://api.calendly.com/scheduled_events/ev-{name}/invitees/inv-{name}")
}

pub fn event(name: &str) -> String {
    format!("https://api.calendly.com/scheduled_events/ev-{name}")
}

pub fn input(mode: Mode) -> Input {
    migrate_batch::parse_input(&serde_json::json!({ "mode": mode.as_str() })).unwrap()
}

pub fn input_with(mode: Mode, client: Option<&str>, batch_size: u32) -> Input {
    let mut i = input(mode);
    i.client_id = client.map(str::to_string);
    i.batch_size = batch_size;
    i.batch_size_given = true;
    i
}

/// Invokes, and resumes until done.
pub async fn run_to_end(store: &shared::Store, first: &Input) -> Output {
    let mut out = invoke(store, first, &Limits::default()).await.unwrap();
    let mut guard = 0;
    while !out.done {
        guard += 1;
        assert!(guard < 10_000, "run never finished");
        let mut next = first.clone();
        next.resume = Some(out.run_id.clone());
        out = invoke(store, &next, &Limits::default()).await.unwrap();
    }
    out
}

/// Every appointment (shared::testing's snapshot), as these tests compare two databases or one
/// before and after a run: without its status change time, the time of the write that made a
/// migrated row. [`first_writes`] says which rows are as that write left them.
pub async fn appointments(db: &Client) -> Vec<AppointmentSnapshot> {
    let mut rows = shared::testing::appointments(db, None).await;
    rows.iter_mut().for_each(|r| r.status_changed_at = NaiveDateTime::default());
    rows
}

/// (lead, key or start) of the appointments as their first write left them: `statusChangedAt` =
/// `createdAt` = `updatedAt`, what `new_row` writes.
pub async fn first_writes(db: &Client) -> Vec<(String, Option<String>)> {
    db.query(
        r#"SELECT "leadId", coalesce("ghlAppointmentId", "calendlyInviteeUri", "startAt"::text) FROM "Appointment"
            WHERE "statusChangedAt" = "createdAt" AND "createdAt" = "updatedAt" ORDER BY 1, 2"#,
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Events as (lead, appointment's key or start, kind, source, old, new), sorted.
pub async fn events(db: &Client) -> Vec<(String, Option<String>, String, String, Option<String>, Option<String>)> {
    let mut rows: Vec<_> = db
        .query(
            r#"SELECT e."leadId", coalesce(a."ghlAppointmentId", a."calendlyInviteeUri", a."startAt"::text), e."kind", e."source"::text,
                      e."oldValue", e."newValue"
                 FROM "AppointmentEvent" e JOIN "Appointment" a ON a."id" = e."appointmentId""#,
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    rows.sort();
    rows
}

/// Every Lead column as text, by id: proof that nothing touched a lead.
pub async fn leads_as_text(db: &Client) -> Vec<String> {
    db.query(r#"SELECT l::text FROM "Lead" l ORDER BY "id""#, &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
}

pub fn minutes(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}
