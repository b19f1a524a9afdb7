//! GoHighLevel (LeadConnector) API v2, for reconciliation: a contact's appointments.

use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;

use super::{ProviderError, ProviderHttp, Secret, SlidingWindow};
use crate::domain::{AppointmentSource, AppointmentStatus, Observation, ObservedStatus, Provider, TaskPolicy};

pub const PROVIDER: &str = "ghl";
/// The `Version` header of `GET /contacts/{contactId}/appointments`.
pub const CONTACT_APPOINTMENTS_VERSION: &str = "2021-07-28";

/// A client's GHL credentials and the location's time zone (for times without an offset).
#[derive(Clone, Debug)]
pub struct GhlAuth {
    pub location_id: String,
    pub private_key: Secret,
    pub timezone: Tz,
}

#[derive(Deserialize)]
struct Events {
    events: Vec<GhlAppointment>,
}

/// A GHL calendar event (appointment) as far as reconciliation needs it. Notes, title and address
/// are free text and not read. Times stay raw until [`observation`] reads them in the right zone.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GhlAppointment {
    pub id: String,
    pub appointment_status: Option<String>,
    /// Some answers carry a second, older status field (`booked`, `cancelled`).
    pub status: Option<String>,
    #[serde(default)]
    pub start_time: Value,
    #[serde(default)]
    pub end_time: Value,
    #[serde(default)]
    pub date_added: Value,
    #[serde(default)]
    pub date_updated: Value,
}

pub struct GhlClient {
    http: ProviderHttp,
}

impl GhlClient {
    pub fn new(http: ProviderHttp) -> Self {
        GhlClient { http }
    }

    fn limiter(&self, auth: &GhlAuth) -> std::sync::Arc<SlidingWindow> {
        self.http.limiter(format!("ghl:{}", auth.location_id), self.http.quotas.ghl_per_window, self.http.quotas.ghl_window)
    }

    /// `GET /contacts/{contactId}/appointments`: every appointment of the contact (one page).
    pub async fn contact_appointments(&self, auth: &GhlAuth, contact_id: &str) -> Result<Vec<GhlAppointment>, ProviderError> {
        if contact_id.trim().is_empty() {
            return Err(ProviderError::Rejected { provider: PROVIDER, status: 404 });
        }
        let limiter = self.limiter(auth);
        let mut url = self.http.endpoints.ghl.clone();
        url.path_segments_mut().map_err(|_| ProviderError::Config("GHL base URL".into()))?.pop_if_empty().extend([
            "contacts",
            contact_id,
            "appointments",
        ]);
        let answer: Events = self
            .http
            .get_json(PROVIDER, &limiter, |client| {
                client
                    .get(url.clone())
                    .bearer_auth(auth.private_key.expose())
                    .header("Version", CONTACT_APPOINTMENTS_VERSION)
                    .header(reqwest::header::ACCEPT, "application/json")
            })
            .await?;
        Ok(answer.events)
    }

    /// The limiter's window, for callers that plan around it.
    pub fn window(&self) -> Duration {
        self.http.quotas.ghl_window
    }
}

/// GHL's appointment statuses in ours. Unknown text: `None` (the caller skips the appointment and
/// says so rather than guess).
pub fn map_status(text: &str) -> Option<AppointmentStatus> {
    match text.trim().to_ascii_lowercase().as_str() {
        "confirmed" | "new" | "booked" | "active" => Some(AppointmentStatus::Confirmed),
        "cancelled" | "canceled" | "invalid" => Some(AppointmentStatus::Canceled),
        "showed" | "completed" => Some(AppointmentStatus::Showed),
        "noshow" | "no_show" | "no-show" => Some(AppointmentStatus::NoShow),
        _ => None,
    }
}

/// A GHL time: RFC 3339 with an offset (taken as given); a local date-time without an offset
/// (`2021-07-16 11:00:00`, `2021-07-16T11:00:00`), read in the location's zone; or epoch
/// milliseconds (a number or a string of digits). `null`/absent/empty: `None`.
pub fn parse_time(value: &Value, zone: Tz) -> Result<Option<DateTime<Utc>>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => {
            return n
                .as_i64()
                .and_then(DateTime::from_timestamp_millis)
                .map(Some)
                .ok_or_else(|| "epoch milliseconds out of range".to_string())
        }
        Value::String(s) => s.trim(),
        _ => return Err("time is neither text nor a number".into()),
    };
    if text.is_empty() {
        return Ok(None);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .map(Some)
            .ok_or_else(|| "epoch milliseconds out of range".to_string());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(in_zone(local, zone)));
        }
    }
    Err("time in an unknown format".into())
}

/// A wall-clock time in a zone. In the autumn overlap the earlier instant; in the spring gap the
/// wall clock does not exist, so the instant the clocks jump to (what a calendar shows).
fn in_zone(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            let mut probe = local;
            for _ in 0..180 {
                probe += chrono::TimeDelta::minutes(1);
                if let Some(t) = zone.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            Utc.from_utc_datetime(&local)
        }
    }
}

/// Why an appointment could not be turned into an observation (ids and field names only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GHL appointment {id}: {reason}")]
pub struct MappingError {
    pub id: String,
    pub reason: String,
}

/// The observation of one GHL appointment. A time change keeps the key (the appointment id), so the
/// write path updates the same row and logs the move.
pub fn observation(
    lead_id: &str,
    appt: &GhlAppointment,
    zone: Tz,
    source: AppointmentSource,
    tasks: TaskPolicy,
) -> Result<Observation, MappingError> {
    let fail = |reason: String| MappingError { id: appt.id.clone(), reason };
    if appt.id.trim().is_empty() {
        return Err(fail("no id".into()));
    }
    let status_text = appt.appointment_status.as_deref().or(appt.status.as_deref()).ok_or_else(|| fail("no status".into()))?;
    let status =
        map_status(status_text).ok_or_else(|| fail(format!("unknown status {:?}", status_text.chars().take(32).collect::<String>())))?;
    let time = |name: &str, v: &Value| parse_time(v, zone).map_err(|e| fail(format!("{name}: {e}")));
    let mut obs = Observation::new(lead_id.to_string(), Provider::Ghl, ObservedStatus::Is(status), source);
    obs.key = Some(appt.id.clone());
    obs.start_at = time("startTime", &appt.start_time)?;
    obs.end_at = time("endTime", &appt.end_time)?;
    obs.provider_created_at = time("dateAdded", &appt.date_added)?;
    obs.provider_updated_at = time("dateUpdated", &appt.date_updated)?;
    if status.is_terminal() {
        // GHL says when it changed, not when it was canceled; the last change is the best we know.
        obs.canceled_at = obs.provider_updated_at;
    }
    obs.tasks = tasks;
    Ok(obs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_as_a_table() {
        use AppointmentStatus::*;
        let table = [
            ("confirmed", Some(Confirmed)),
            ("new", Some(Confirmed)),
            ("booked", Some(Confirmed)),
            ("active", Some(Confirmed)),
            ("Confirmed", Some(Confirmed)),
            ("cancelled", Some(Canceled)),
            ("canceled", Some(Canceled)),
            ("invalid", Some(Canceled)),
            ("showed", Some(Showed)),
            ("completed", Some(Showed)),
            ("noshow", Some(NoShow)),
            (" NOSHOW ", Some(NoShow)),
            ("rescheduled", None),
            ("", None),
        ];
        for (text, expected) in table {
            assert_eq!(map_status(text), expected, "{text:?}");
        }
    }

    #[test]
    fn times_as_a_table() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let utc = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        let table = [
            (json!("2023-09-25T16:00:00+05:30"), utc("2023-09-25T10:30:00Z")),
            (json!("2026-03-11T10:00:00-05:00"), utc("2026-03-11T15:00:00Z")),
            (json!("2026-03-01T10:02:11.000Z"), utc("2026-03-01T10:02:11Z")),
            // Without an offset: the location's zone (EST in March before the switch, EDT after).
            (json!("2026-03-06 15:00:00"), utc("2026-03-06T20:00:00Z")),
            (json!("2026-03-11 15:00:00"), utc("2026-03-11T19:00:00Z")),
            (json!("2026-03-11T15:00:00"), utc("2026-03-11T19:00:00Z")),
            // Spring gap: 02:30 does not exist on 2026-03-08 in New York; the clocks show 03:00 EDT.
            (json!("2026-03-08 02:30:00"), utc("2026-03-08T07:00:00Z")),
            // Autumn overlap: 01:30 happens twice on 2026-11-01; the first (EDT) is taken.
            (json!("2026-11-01 01:30:00"), utc("2026-11-01T05:30:00Z")),
            (json!(1773241200000i64), utc("2026-03-11T15:00:00Z")),
            (json!("1773241200000"), utc("2026-03-11T15:00:00Z")),
            (json!(null), None),
            (json!(""), None),
        ];
        for (value, expected) in table {
            assert_eq!(parse_time(&value, ny).unwrap(), expected, "{value}");
        }
        for bad in [json!("next tuesday"), json!({"t": 1}), json!(true), json!("2026-13-45 99:00:00")] {
            assert!(parse_time(&bad, ny).is_err(), "{bad}");
        }
    }

    #[test]
    fn maps_an_appointment() {
        let zone: Tz = "America/New_York".parse().unwrap();
        let appt: GhlAppointment = serde_json::from_value(json!({
            "id": "Bn7TgW1zQ5xE3rMa0uHy", "status": "cancelled", "appointmentStatus": "cancelled",
            "startTime": "2026-03-06 15:00:00", "endTime": "2026-03-06 15:30:00",
            "dateAdded": "2026-02-27T08:45:00.000Z", "dateUpdated": "2026-03-01T10:01:58.000Z",
            "notes": "call 312-555-0187"
        }))
        .unwrap();
        let obs = observation("lead_1", &appt, zone, AppointmentSource::ReconcileCron, TaskPolicy::UpcomingOnly).unwrap();
        assert_eq!(obs.status, ObservedStatus::Is(AppointmentStatus::Canceled));
        assert_eq!(obs.key.as_deref(), Some("Bn7TgW1zQ5xE3rMa0uHy"));
        assert_eq!(obs.start_at.unwrap().to_rfc3339(), "2026-03-06T20:00:00+00:00");
        assert_eq!(obs.provider_created_at.unwrap().to_rfc3339(), "2026-02-27T08:45:00+00:00");
        assert_eq!(obs.provider_updated_at, obs.canceled_at);
        assert_eq!(obs.tasks, TaskPolicy::UpcomingOnly);

        let unknown = GhlAppointment { appointment_status: Some("tentative".into()), status: None, ..appt.clone() };
        let err = observation("lead_1", &unknown, zone, AppointmentSource::Backfill, TaskPolicy::None).unwrap_err();
        assert!(err.reason.contains("unknown status"), "{err}");
        let bad_time = GhlAppointment { start_time: json!("soon"), ..appt };
        assert!(observation("lead_1", &bad_time, zone, AppointmentSource::Backfill, TaskPolicy::None).is_err());
    }
}
