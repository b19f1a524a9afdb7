//! Rows as the write path and the readers see them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{AppointmentSource, AppointmentStatus, Canceler, Provider};

/// One `Appointment` row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppointmentRow {
    pub id: String,
    pub lead_id: String,
    pub provider: Provider,
    pub ghl_appointment_id: Option<String>,
    pub calendly_invitee_uri: Option<String>,
    pub calendly_scheduled_event_uri: Option<String>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub timezone: Option<String>,
    pub status: AppointmentStatus,
    pub status_changed_at: DateTime<Utc>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub canceled_by: Option<Canceler>,
    pub rescheduled_from_id: Option<String>,
    pub rescheduled_from_key: Option<String>,
    pub rescheduled_to_key: Option<String>,
    pub provider_created_at: Option<DateTime<Utc>>,
    pub provider_updated_at: Option<DateTime<Utc>>,
    /// When a provider-verified observation (webhook, reconciliation, backfill) first confirmed this
    /// row's key. `None`: the key, if any, was only asserted by the CRM (POST, migration), so a
    /// provider-verified observation of another workspace may take it.
    pub provider_verified_at: Option<DateTime<Utc>>,
    /// When the provider deleted the appointment (GHL). A deleted appointment is never active again.
    pub provider_deleted_at: Option<DateTime<Utc>>,
    pub source: AppointmentSource,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AppointmentRow {
    /// The provider key of this row, if it has one (GHL appointment id or Calendly invitee URI).
    pub fn key(&self) -> Option<&str> {
        match self.provider {
            Provider::Ghl => self.ghl_appointment_id.as_deref(),
            Provider::Calendly => self.calendly_invitee_uri.as_deref(),
        }
    }

    pub fn set_key(&mut self, key: Option<String>) {
        match self.provider {
            Provider::Ghl => self.ghl_appointment_id = key,
            Provider::Calendly => self.calendly_invitee_uri = key,
        }
    }
}

/// The lead's Phase 28 rollup columns that the rule computes (`appointmentLastCheckedAt` is the
/// reconciler's and is not part of it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rollup {
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub provider: Option<Provider>,
    pub source: Option<String>,
}

impl Rollup {
    /// The rollup that mirrors one appointment.
    pub fn of(primary: &AppointmentRow) -> Rollup {
        Rollup {
            start_at: primary.start_at,
            end_at: primary.end_at,
            status: Some(primary.status.rollup_text().to_string()),
            canceled_at: primary.canceled_at,
            provider: Some(primary.provider),
            source: Some(primary.source.rollup_text().to_string()),
        }
    }
}
