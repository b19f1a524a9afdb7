//! The JSON the API answers with (see openapi.json), built from a [`LeadHistory`] by pure functions.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use shared::{AppointmentRow, AppointmentSource, AppointmentStatus, Canceler, Provider};

use crate::history::{ChangeRow, LeadHistory, TaskRow};
use crate::timeline::{self, Filters, SortKey};

/// Timestamps as RFC 3339 UTC with milliseconds (the storage precision), e.g. `2031-03-20T17:00:00.000Z`.
pub mod ts {
    use chrono::{Datelike, Timelike};

    use super::*;

    /// Formats without chrono's general formatting machinery: a timeline answer holds hundreds of
    /// timestamps and this is the hot part of serializing it. Years outside 0..=9999 (which
    /// RFC 3339 cannot express) fall back to chrono.
    pub fn text(t: DateTime<Utc>) -> String {
        let mut buf = [0u8; 24];
        match format(t, &mut buf) {
            Some(text) => text.to_string(),
            None => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }

    /// Writes `t` into `buf` (no allocation); `None` for years RFC 3339 cannot express.
    fn format(t: DateTime<Utc>, buf: &mut [u8; 24]) -> Option<&str> {
        let year = t.year();
        if !(0..=9999).contains(&year) {
            return None;
        }
        *buf = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (0..width).rev() {
                buf[at + i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        // Leap seconds carry nanoseconds >= 1e9; milliseconds stay within three digits.
        put(20, 3, (t.nanosecond() / 1_000_000).min(999));
        std::str::from_utf8(buf).ok()
    }

    fn serialize<S: Serializer>(t: DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 24];
        match format(t, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        }
    }

    pub fn one<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        serialize(*t, s)
    }

    pub fn opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => serialize(*t, s),
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
pub struct RollupView<'a> {
    #[serde(serialize_with = "ts::opt")]
    pub start_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ts::opt")]
    pub end_at: Option<DateTime<Utc>>,
    pub status: Option<&'a str>,
    #[serde(serialize_with = "ts::opt")]
    pub canceled_at: Option<DateTime<Utc>>,
    pub provider: Option<Provider>,
    pub source: Option<&'a str>,
    #[serde(serialize_with = "ts::opt")]
    pub last_checked_at: Option<DateTime<Utc>>,
}

impl<'a> RollupView<'a> {
    pub fn of(history: &'a LeadHistory) -> Self {
        let r = &history.rollup;
        RollupView {
            start_at: r.start_at,
            end_at: r.end_at,
            status: r.status.as_deref(),
            canceled_at: r.canceled_at,
            provider: r.provider,
            source: r.source.as_deref(),
            last_checked_at: history.last_checked_at,
        }
    }
}

/// One change-log entry of an appointment.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeView<'a> {
    /// When the change was recorded.
    #[serde(serialize_with = "ts::one")]
    pub at: DateTime<Utc>,
    /// The provider's time of the observation that made the change, when it had one.
    #[serde(serialize_with = "ts::opt")]
    pub provider_at: Option<DateTime<Utc>>,
    pub source: AppointmentSource,
    pub kind: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
}

impl<'a> ChangeView<'a> {
    fn of(c: &'a ChangeRow) -> Self {
        ChangeView {
            at: c.recorded_at,
            provider_at: c.provider_at,
            source: c.source,
            kind: &c.kind,
            from: c.old_value.as_deref(),
            to: c.new_value.as_deref(),
        }
    }
}

/// One timeline entry. Stored rows and the synthesized rollup entry share one shape; on the
/// synthesized one, what the rollup does not know is null.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentView<'a> {
    pub origin: Origin,
    pub id: Option<&'a str>,
    pub provider: Option<Provider>,
    /// GHL appointment id or Calendly invitee URI.
    pub provider_appointment_id: Option<&'a str>,
    pub status: Option<AppointmentStatus>,
    pub source: Option<AppointmentSource>,
    #[serde(serialize_with = "ts::opt")]
    pub start_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ts::opt")]
    pub end_at: Option<DateTime<Utc>>,
    pub timezone: Option<&'a str>,
    #[serde(serialize_with = "ts::opt")]
    pub status_changed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ts::opt")]
    pub canceled_at: Option<DateTime<Utc>>,
    pub canceled_by: Option<Canceler>,
    pub cancel_reason: Option<&'a str>,
    pub rescheduled_from_id: Option<&'a str>,
    pub rescheduled_to_ids: Vec<&'a str>,
    pub is_primary: bool,
    #[serde(serialize_with = "ts::opt")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ts::opt")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<ChangeView<'a>>>,
}

impl<'a> AppointmentView<'a> {
    fn stored(history: &'a LeadHistory, row: &'a AppointmentRow, primary_id: Option<&str>, successors: &[&'a str]) -> Self {
        let changes =
            history.changes.as_ref().map(|map| map.get(&row.id).map(|list| list.iter().map(ChangeView::of).collect()).unwrap_or_default());
        AppointmentView {
            origin: Origin::Appointment,
            id: Some(&row.id),
            provider: Some(row.provider),
            provider_appointment_id: row.key(),
            status: Some(row.status),
            source: Some(row.source),
            start_at: row.start_at,
            end_at: row.end_at,
            timezone: row.timezone.as_deref(),
            status_changed_at: Some(row.status_changed_at),
            canceled_at: row.canceled_at,
            canceled_by: row.canceled_by,
            cancel_reason: row.cancel_reason.as_deref(),
            rescheduled_from_id: row.rescheduled_from_id.as_deref(),
            rescheduled_to_ids: successors.to_vec(),
            is_primary: primary_id == Some(row.id.as_str()),
            created_at: Some(row.created_at),
            updated_at: Some(row.updated_at),
            changes,
        }
    }

    /// The seed's safe fallback: a lead without rows whose Phase-28 rollup names an appointment.
    fn from_rollup(history: &'a LeadHistory) -> Option<Self> {
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

/// An open follow-up task about a canceled or rescheduled appointment (`include=tasks`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowUpTaskView<'a> {
    pub id: &'a str,
    pub appointment_id: &'a str,
    /// `meeting-canceled` or `meeting-rescheduled`.
    #[serde(rename = "type")]
    pub task_type: &'a str,
    pub status: &'a str,
    /// The CRM shows urgent tasks in red.
    pub is_urgent: bool,
    #[serde(serialize_with = "ts::opt")]
    pub due_date: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ts::one")]
    pub created_at: DateTime<Utc>,
}

impl<'a> FollowUpTaskView<'a> {
    fn of(t: &'a TaskRow) -> Self {
        FollowUpTaskView {
            id: &t.id,
            appointment_id: &t.appointment_id,
            task_type: &t.task_type,
            status: &t.status,
            is_urgent: t.is_urgent,
            due_date: t.due_at,
            created_at: t.created_at,
        }
    }
}

/// `GET /leads/{leadId}/appointments`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineView<'a> {
    pub lead_id: &'a str,
    pub rollup: RollupView<'a>,
    pub primary_appointment_id: Option<&'a str>,
    pub appointments: Vec<AppointmentView<'a>>,
    pub next_cursor: Option<String>,
    /// The lead's open cancel / reschedule tasks, whatever page this is (`include=tasks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_tasks: Option<Vec<FollowUpTaskView<'a>>>,
}

pub fn timeline<'a>(
    history: &'a LeadHistory,
    filters: &Filters,
    after: Option<&SortKey>,
    limit: usize,
    now: DateTime<Utc>,
) -> TimelineView<'a> {
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
        lead_id: &history.lead_id,
        rollup: RollupView::of(history),
        primary_appointment_id: primary_id,
        appointments,
        next_cursor: next.map(|c| c.encode()),
        follow_up_tasks: history.tasks.as_ref().map(|tasks| tasks.iter().map(FollowUpTaskView::of).collect()),
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
pub struct BookingStatusView<'a> {
    pub lead_id: &'a str,
    pub rollup: RollupView<'a>,
    pub primary_appointment: Option<AppointmentView<'a>>,
    pub total: u32,
    pub counts: StatusCounts,
    /// An active (CONFIRMED, SHOWED, NO_SHOW) appointment starting at or after now exists.
    pub has_upcoming_active: bool,
    /// The reconciler's last check of this lead (`Lead.appointmentLastCheckedAt`).
    #[serde(serialize_with = "ts::opt")]
    pub last_reconciled_at: Option<DateTime<Utc>>,
}

pub fn booking_status(history: &LeadHistory, now: DateTime<Utc>) -> BookingStatusView<'_> {
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
        lead_id: &history.lead_id,
        rollup: RollupView::of(history),
        primary_appointment,
        total,
        counts,
        has_upcoming_active,
        last_reconciled_at: history.last_checked_at,
    }
}

/// One stored appointment of the lead as the POST answers it.
pub fn appointment<'a>(history: &'a LeadHistory, id: &str, now: DateTime<Utc>) -> Option<AppointmentView<'a>> {
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
        shared::testing::assert_table(cases, |text| status_from_rollup(text));
        assert_eq!(source_from_rollup("auto_book"), Some(AppointmentSource::AutoBook));
        assert_eq!(source_from_rollup("MIGRATION"), Some(AppointmentSource::Migration));
        assert_eq!(source_from_rollup("crm"), None);
    }

    #[test]
    fn timestamps_have_millis_and_z() {
        let t = DateTime::parse_from_rfc3339("2031-03-20T17:00:00+02:00").unwrap().with_timezone(&Utc);
        assert_eq!(ts::text(t), "2031-03-20T15:00:00.000Z");
    }

    proptest::proptest! {
        /// The fast formatter agrees with chrono's RFC 3339 output at millisecond precision.
        #[test]
        fn fast_timestamps_match_chrono(ms in -62_135_596_800_000i64..253_402_300_799_999i64) {
            let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
            proptest::prop_assert_eq!(ts::text(t), t.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
    }
}
