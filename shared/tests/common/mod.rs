//! Builders and readers shared by the shared crate's database tests.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use shared::domain::*;
use shared::testing::{seed_client, seed_lead, TestDb};
use tokio_postgres::Client;

pub const CLIENT: &str = "client_1";

pub fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, day, hour, minute, 0).unwrap()
}

pub async fn db_with_leads(leads: &[&str]) -> (TestDb, Client) {
    let db = shared::testing::test_database().await;
    let client = db.client().await;
    seed_client(&client, CLIENT, Some("key")).await.unwrap();
    for lead in leads {
        seed_lead(&client, CLIENT, lead, None).await.unwrap();
    }
    (db, client)
}

pub fn calendly(lead: &str, invitee: &str, status: AppointmentStatus, updated: DateTime<Utc>, start: DateTime<Utc>) -> Observation {
    let mut o = Observation::new(lead, Provider::Calendly, ObservedStatus::Is(status), AppointmentSource::Webhook);
    o.key = Some(format!("https://api.calendly.com/scheduled_events/ev/invitees/{invitee}"));
    o.calendly_event_uri = Some("https://api.calendly.com/scheduled_events/ev".into());
    o.start_at = Some(start);
    o.end_at = Some(start + chrono::TimeDelta::minutes(30));
    o.provider_updated_at = Some(updated);
    o.provider_created_at = Some(updated);
    if status.is_terminal() {
        o.canceled_at = Some(updated);
        o.canceled_by = Some(Canceler::Invitee);
        o.cancel_reason = Some("moving, mail me at someone@example.com".into());
    }
    o.tasks = TaskPolicy::All;
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
    let mut o = Observation::new(lead, Provider::Ghl, ObservedStatus::Is(status), AppointmentSource::ReconcileCron);
    o.key = Some(id.to_string());
    o.start_at = Some(start);
    o.end_at = Some(start + chrono::TimeDelta::minutes(30));
    o.provider_updated_at = Some(updated);
    o.provider_created_at = Some(booked);
    o.tasks = TaskPolicy::All;
    o
}

/// A lead's appointments in a form that does not depend on generated ids or on when they were
/// recorded: links are expressed as provider keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub key: Option<String>,
    pub provider: String,
    pub status: String,
    pub start: Option<chrono::NaiveDateTime>,
    pub end: Option<chrono::NaiveDateTime>,
    pub canceled_at: Option<chrono::NaiveDateTime>,
    pub canceled_by: Option<String>,
    pub reason: Option<String>,
    pub linked_from: Option<String>,
    pub provider_updated_at: Option<chrono::NaiveDateTime>,
    pub status_changed_at: chrono::NaiveDateTime,
}

pub async fn snapshot(db: &Client, lead: &str) -> (Vec<Normalized>, Vec<Option<String>>, Vec<(String, String)>) {
    let rows = db
        .query(
            r#"SELECT coalesce(a."ghlAppointmentId", a."calendlyInviteeUri"), a."provider"::text, a."status"::text,
                      a."startAt", a."endAt", a."canceledAt", a."canceledBy", a."cancelReason",
                      coalesce(p."ghlAppointmentId", p."calendlyInviteeUri", p."id"), a."providerUpdatedAt", a."statusChangedAt"
                 FROM "Appointment" a LEFT JOIN "Appointment" p ON p."id" = a."rescheduledFromId"
                WHERE a."leadId" = $1
                ORDER BY 1, a."startAt""#,
            &[&lead],
        )
        .await
        .unwrap();
    let appts = rows
        .iter()
        .map(|r| Normalized {
            key: r.get(0),
            provider: r.get(1),
            status: r.get(2),
            start: r.get(3),
            end: r.get(4),
            canceled_at: r.get(5),
            canceled_by: r.get(6),
            reason: r.get(7),
            linked_from: r.get(8),
            provider_updated_at: r.get(9),
            status_changed_at: r.get(10),
        })
        .collect();
    let lead_row = db
        .query_one(
            r#"SELECT "appointmentStartAt"::text, "appointmentEndAt"::text, "appointmentStatus", "appointmentCanceledAt"::text,
                      "appointmentProvider"::text, "appointmentSource" FROM "Lead" WHERE "id" = $1"#,
            &[&lead],
        )
        .await
        .unwrap();
    let rollup = (0..6).map(|i| lead_row.get::<_, Option<String>>(i)).collect();
    let tasks = db
        .query(
            r#"SELECT coalesce(a."ghlAppointmentId", a."calendlyInviteeUri"), t."type" FROM "FollowUpTask" t
                 JOIN "Appointment" a ON a."id" = t."appointmentId" WHERE t."leadId" = $1 ORDER BY 1, 2"#,
            &[&lead],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    (appts, rollup, tasks)
}

pub async fn count(db: &Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}
