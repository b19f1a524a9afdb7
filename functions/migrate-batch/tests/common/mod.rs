//! Seeding and reading helpers for migrate-batch's database tests.
#![allow(dead_code, unused_imports)]

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use migrate_batch::{invoke, Input, Limits, Mode, Output};
pub use shared::testing::{count, database};
use shared::Provider;
use tokio_postgres::Client;

pub fn t(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, day, hour, 0, 0).unwrap()
}

/// One lead's Phase 28 columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lead {
    pub id: String,
    pub client: String,
    pub provider: Option<Provider>,
    pub ghl_id: Option<String>,
    pub invitee: Option<String>,
    pub event: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub source: Option<String>,
}

impl Lead {
    pub fn new(id: &str, client: &str) -> Self {
        Lead { id: id.into(), client: client.into(), ..Default::default() }
    }
}

pub fn invitee(name: &str) -> String {
    format!("https://api.calendly.com/scheduled_events/ev-{name}/invitees/inv-{name}")
}

pub fn event(name: &str) -> String {
    format!("https://api.calendly.com/scheduled_events/ev-{name}")
}

/// A workspace whose Phase 28 default booking provider is `default`.
pub async fn seed_client_preferring(db: &Client, id: &str, default: Option<Provider>) {
    shared::testing::seed_client(db, id, None).await.unwrap();
    db.execute(
        r#"UPDATE "Client" SET "meetingBookingProvider" = $2::text::"MeetingBookingProvider" WHERE "id" = $1"#,
        &[&id, &default.map(|p| p.as_db())],
    )
    .await
    .unwrap();
}

pub async fn seed_leads(db: &Client, leads: &[Lead]) {
    let stmt = db
        .prepare(
            r#"INSERT INTO "Lead" ("id", "clientId", "email", "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri",
                   "appointmentStartAt", "appointmentEndAt", "appointmentStatus", "appointmentCanceledAt", "appointmentProvider",
                   "appointmentSource", "updatedAt")
               VALUES ($1, $2, 'someone@example.com', $3, $4, $5, $6, $7, $8, $9, $10::text::"MeetingBookingProvider", $11, '2030-01-01')"#,
        )
        .await
        .unwrap();
    let naive = |t: Option<DateTime<Utc>>| t.map(|t| t.naive_utc());
    futures::future::try_join_all(leads.iter().map(|l| {
        let stmt = stmt.clone();
        async move {
            db.execute(
                &stmt,
                &[
                    &l.id,
                    &l.client,
                    &l.ghl_id,
                    &l.invitee,
                    &l.event,
                    &naive(l.start),
                    &naive(l.end),
                    &l.status,
                    &naive(l.canceled_at),
                    &l.provider.map(|p| p.as_db()),
                    &l.source,
                ],
            )
            .await
        }
    }))
    .await
    .unwrap();
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

/// An appointment without what depends on ids or on when it was written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub lead: String,
    pub provider: String,
    pub ghl: Option<String>,
    pub invitee: Option<String>,
    pub event: Option<String>,
    pub start: Option<NaiveDateTime>,
    pub end: Option<NaiveDateTime>,
    pub timezone: Option<String>,
    pub status: String,
    pub canceled_at: Option<NaiveDateTime>,
    pub cancel_reason: Option<String>,
    pub canceled_by: Option<String>,
    pub linked_from: Option<String>,
    pub from_key: Option<String>,
    pub to_key: Option<String>,
    pub provider_created: Option<NaiveDateTime>,
    pub provider_updated: Option<NaiveDateTime>,
    pub source: String,
    /// statusChangedAt == createdAt == updatedAt (what `new_row` writes)
    pub fresh: bool,
}

pub async fn appointments(db: &Client) -> Vec<Row> {
    let mut rows: Vec<Row> = shared::testing::rows_as(
        db,
        r#"SELECT a."leadId" AS lead, a."provider"::text AS provider, a."ghlAppointmentId" AS ghl, a."calendlyInviteeUri" AS invitee,
                  a."calendlyScheduledEventUri" AS event, a."startAt" AS start, a."endAt" AS "end", a."timezone",
                  a."status"::text AS status, a."canceledAt" AS canceled_at, a."cancelReason" AS cancel_reason, a."canceledBy" AS canceled_by,
                  coalesce(p."ghlAppointmentId", p."calendlyInviteeUri", p."startAt"::text) AS linked_from,
                  a."rescheduledFromKey" AS from_key, a."rescheduledToKey" AS to_key, a."providerCreatedAt" AS provider_created,
                  a."providerUpdatedAt" AS provider_updated, a."source"::text AS source,
                  a."statusChangedAt" = a."createdAt" AND a."createdAt" = a."updatedAt" AS fresh
             FROM "Appointment" a LEFT JOIN "Appointment" p ON p."id" = a."rescheduledFromId""#,
        &[],
    )
    .await;
    rows.sort();
    rows
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
