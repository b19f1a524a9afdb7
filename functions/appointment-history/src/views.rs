//! The JSON the API answers with (see openapi.json), built from a [`LeadHistory`] by pure functions.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use shared::{AppointmentRow, AppointmentSource, AppointmentStatus, Canceler, Provider};

use crate::history::{ChangeRow, LeadHistory};
use crate::timeline::{self, Filters, SortKey};

/// Timestamps as RFC 3339 UTC with milliseconds (the storage precision), e.g. `2031-03-20T17:00:00.000Z`.
pub mod ts {
    use super::*;

    pub fn text(t: DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn one<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*t))
    }

    pub fn opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&text(*t)),
            None => s.serialize_none(),
        }
    }
}

/// Where a timeline entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Origin {
    /// A stored `Appointment` row.
    Appointment,
    /// Synthesized from the lead's Phase-28 rollup columns: the lead has no rows yet.
    LeadRollup,
}

/// The lead's seven rollup columns.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupView {
    #[serde(serialize_with = "ts::opt")]
    pub start_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ts::opt")]
    pub end_at: Option<DateTime<Utc>>,
    pub status: Option<String>,
    #[serde(serialize_with = "ts::opt")]
    pub canceled_at: Option<DateTime<Utc>>,
    pub provider: Option<Provider>,
    pub source: Option<String>,
    #[serde(serialize_with = "ts::opt")]
    pub last_checked_at: Option<DateTime<Utc>>,
}

impl RollupView {
    pub fn of(history: &LeadHistory) -> Self {
        let r = &history.rollup;
        RollupView {
            start_at: r.start_at,
            end_at: r.end_at,
            status: r.status.clone(),
            canceled_at: r.canceled_at,
            provider: r.provider,
            source: r.source.clone(),
            last_checked_at: history.last_checked_at,
        }
    }
}

/// One change-log entry of an appointment.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeView {
    /// When the change was recorded.
    #[serde(serialize_with = "ts::one")]
    pub at: DateTime<Utc>,
    /// The provider's time of the observation that made the change, when it had one.
    #[serde(serialize_with = "ts::opt")]
    pub provider_at: Option<DateTime<Utc>>,
    pub source: AppointmentSource,
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl ChangeView {
    fn of(c: &ChangeRow) -> Self {
        ChangeView {
            at: c.recorded_at,
            provider_at: c.provider_at,
            source: c.source,
            kind: c.kind.clone(),
            from: c.old_value.clone(),
            to: c.new_value.clone(),
        }
    }
}

/// One timeline entry. Stored rows and the synthesized rollup entry share one shape; on the
/// synthesized one, what the rollup does not know is null.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentView {
    pub origin: Origin,
    pub id: Option<String>,
    pub provider: Option<Provider>,
    /// GHL appointment id or Calendly invitee URI.
    pub provider_appointment_id: Option<String>,
    pub status: Option<AppointmentStatus>,
    pub source: Option<AppointmentSource>,
    #[serde(serialize_with = "ts::opt")]
    pub start_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ts::opt")]
    pub end_at: Option<DateTime<Utc>>,
    pub timezone: Option<String>,
    #[serde(serialize_with = "ts::opt")]
    pub status_changed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ts::opt")]
    pub canceled_at: Option<DateTime<Utc>>,
    pub canceled_by: Option<Canceler>,
    pub cancel_reason: Option<String>,
    pub rescheduled_from_id: Option<String>,
    pub rescheduled_to_ids: Vec<String>,
    pub is_primary: bool,
    #[serde(serialize_with = "ts::opt")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ts::opt")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<ChangeView>>,
}

impl AppointmentView {
    fn stored(history: &LeadHistory, row: &AppointmentRow, primary_id: Option<&str>, successors: &[&str]) -> Self {
        let changes = history
            .changes
            .as_ref()
            .map(|map| map.get(&row.id).map(|list| list.iter().map(ChangeView::of).collect()).unwrap_or_default());
        AppointmentView {
            origin: Origin::Appointment,
            id: Some(row.id.clone()),
            provider: Some(row.provider),
            provider_appointment_id: row.key().map(str::to_string),
            status: Some(row.status),
            source: Some(row.source),
            start_at: row.start_at,
            end_at: row.end_at,
            timezone: row.timezone.clone(),
            status_changed_at: Some(row.status_changed_at),
            canceled_at: row.canceled_at,
            canceled_by: row.canceled_by,
            cancel_reason: row.cancel_reason.clone(),
            rescheduled_from_id: row.rescheduled_from_id.clone(),
            rescheduled_to_ids: successors.iter().map(|s| s.to_string()).collect(),
            is_primary: primary_id == Some(row.id.as_str()),
            created_at: Some(row.created_at),
            updated_at: Some(row.updated_at),
            changes,
        }
    }

    /// The seed's safe fallback: a lead without rows whose Phase-28 rollup names an appointment.
    fn from_rollup(history: &LeadHistory) -> Option<Self> {
        if !history.rows.is_empty() {
            return None;
        }
        let r = &history.rollup;
        if r.start_at.is_none() && r.status.is_none() {
            return None;
        }
        Some(AppointmentView {
            origin: Origin::LeadRollup,
            id: None,
            provider: r.provider,
            provider_appointment_id: None,
            status: r.status.as_deref().and_then(status_from_rollup),
            source: r.source.as_deref().and_then(source_from_rollup),
            start_at: r.start_at,
            end_at: r.end_at,
            timezone: None,
            status_changed_at: None,
            canceled_at: r.canceled_at,
            canceled_by: None,
            cancel_reason: None,
            rescheduled_from_id: None,
            rescheduled_to_ids: Vec::new(),
            // It is what the lead shows today.
            is_primary: true,
            created_at: None,
            updated_at: None,
            changes: history.changes.as_ref().map(|_| Vec::new()),
        })
    }
}

/// Phase 28 wrote lowercase words; the write path writes `confirmed` / `canceled`. Unknown: null.
pub fn status_from_rollup(text: &str) -> Option<AppointmentStatus> {
    match text.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
        "confirmed" | "booked" | "scheduled" => Some(AppointmentStatus::Confirmed),
        "canceled" | "cancelled" => Some(AppointmentStatus::Canceled),
        "rescheduled" => Some(AppointmentStatus::Rescheduled),
        "showed" => Some(AppointmentStatus::Showed),
        "no_show" | "noshow" => Some(AppointmentStatus::NoShow),
        _ => None,
    }
}

pub fn source_from_rollup(text: &str) -> Option<AppointmentSource> {
    AppointmentSource::ALL.iter().copied().find(|s| s.rollup_text() == text || s.as_db() == text)
}

/// Whether the filters keep the synthesized entry (an unknown status counts as not canceled and
/// not active).
fn admits_rollup(filters: &Filters, status: Option<AppointmentStatus>) -> bool {
    match status {
        Some(s) => filters.admits(s),
        None => !filters.active_only,
    }
}

/// `GET /leads/{leadId}/appointments`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineView {
    pub lead_id: String,
    pub rollup: RollupView,
    pub primary_appointment_id: Option<String>,
    pub appointments: Vec<AppointmentView>,
    pub next_cursor: Option<String>,
}

pub fn timeline(history: &LeadHistory, filters: &Filters, after: Option<&SortKey>, limit: usize, now: DateTime<Utc>) -> TimelineView {
    let primary_id = history.primary(now).map(|p| p.id.as_str());
    let successors = history.successors();
    let (rows, next) = timeline::page(&history.rows, filters, after, limit);
    let mut appointments: Vec<AppointmentView> = rows
        .into_iter()
        .map(|row| AppointmentView::stored(history, row, primary_id, successors.get(row.id.as_str()).map(Vec::as_slice).unwrap_or(&[])))
        .collect();
    // The synthesized entry is the whole timeline of a lead without rows, so it is only on the first page.
    if after.is_none() {
        if let Some(entry) = AppointmentView::from_rollup(history).filter(|e| admits_rollup(filters, e.status)) {
            appointments.push(entry);
        }
    }
    TimelineView {
        lead_id: history.lead_id.clone(),
        rollup: RollupView::of(history),
        primary_appointment_id: primary_id.map(str::to_string),
        appointments,
        next_cursor: next.map(|c| c.encode()),
    }
}

/// Entries per status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    #[serde(rename = "CONFIRMED")]
    pub confirmed: u32,
    #[serde(rename = "CANCELED")]
    pub canceled: u32,
    #[serde(rename = "RESCHEDULED")]
    pub rescheduled: u32,
    #[serde(rename = "SHOWED")]
    pub showed: u32,
    #[serde(rename = "NO_SHOW")]
    pub no_show: u32,
}

impl StatusCounts {
    fn add(&mut self, status: AppointmentStatus) {
        match status {
            AppointmentStatus::Confirmed => self.confirmed += 1,
            AppointmentStatus::Canceled => self.canceled += 1,
            AppointmentStatus::Rescheduled => self.rescheduled += 1,
            AppointmentStatus::Showed => self.showed += 1,
            AppointmentStatus::NoShow => self.no_show += 1,
        }
    }
}

/// `GET /leads/{leadId}/booking-status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingStatusView {
    pub lead_id: String,
    pub rollup: RollupView,
    pub primary_appointment: Option<AppointmentView>,
    pub total: u32,
    pub counts: StatusCounts,
    /// An active (CONFIRMED, SHOWED, NO_SHOW) appointment starting at or after now exists.
    pub has_upcoming_active: bool,
    /// The reconciler's last check of this lead (`Lead.appointmentLastCheckedAt`).
    #[serde(serialize_with = "ts::opt")]
    pub last_reconciled_at: Option<DateTime<Utc>>,
}

pub fn booking_status(history: &LeadHistory, now: DateTime<Utc>) -> BookingStatusView {
    let successors = history.successors();
    let primary = history.primary(now);
    let mut counts = StatusCounts::default();
    let (primary_appointment, total, has_upcoming_active) = match AppointmentView::from_rollup(history) {
        // No rows: the booking status is the synthesized entry's, as on the timeline.
        Some(entry) => {
            let mut total = 0;
            if let Some(s) = entry.status {
                counts.add(s);
                total = 1;
            }
            let upcoming = entry.status.is_some_and(|s| s.is_active()) && entry.start_at.is_some_and(|t| t >= now);
            (Some(entry), total, upcoming)
        }
        None => {
            for row in &history.rows {
                counts.add(row.status);
            }
            let upcoming = history.rows.iter().any(|r| r.status.is_active() && r.start_at.is_some_and(|t| t >= now));
            let view = primary.map(|p| {
                AppointmentView::stored(history, p, Some(p.id.as_str()), successors.get(p.id.as_str()).map(Vec::as_slice).unwrap_or(&[]))
            });
            (view, history.rows.len() as u32, upcoming)
        }
    };
    BookingStatusView {
        lead_id: history.lead_id.clone(),
        rollup: RollupView::of(history),
        primary_appointment,
        total,
        counts,
        has_upcoming_active,
        last_reconciled_at: history.last_checked_at,
    }
}

/// One stored appointment of the lead as the POST answers it.
pub fn appointment(history: &LeadHistory, id: &str, now: DateTime<Utc>) -> Option<AppointmentView> {
    let row = history.rows.iter().find(|r| r.id == id)?;
    let primary_id = history.primary(now).map(|p| p.id.as_str());
    let successors = history.successors();
    Some(AppointmentView::stored(history, row, primary_id, successors.get(row.id.as_str()).map(Vec::as_slice).unwrap_or(&[])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollup_words_map_to_statuses() {
        let cases = [
            ("confirmed", Some(AppointmentStatus::Confirmed)),
            ("Canceled", Some(AppointmentStatus::Canceled)),
            ("cancelled", Some(AppointmentStatus::Canceled)),
            ("no-show", Some(AppointmentStatus::NoShow)),
            ("rescheduled", Some(AppointmentStatus::Rescheduled)),
            ("something else", None),
        ];
        for (text, expected) in cases {
            assert_eq!(status_from_rollup(text), expected, "{text}");
        }
        assert_eq!(source_from_rollup("auto_book"), Some(AppointmentSource::AutoBook));
        assert_eq!(source_from_rollup("MIGRATION"), Some(AppointmentSource::Migration));
        assert_eq!(source_from_rollup("crm"), None);
    }

    #[test]
    fn timestamps_have_millis_and_z() {
        let t = DateTime::parse_from_rfc3339("2031-03-20T17:00:00+02:00").unwrap().with_timezone(&Utc);
        assert_eq!(ts::text(t), "2031-03-20T15:00:00.000Z");
    }
}
