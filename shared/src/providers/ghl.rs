//! GoHighLevel (LeadConnector): the API v2 client for reconciliation (a contact's appointments),
//! the appointment webhook's body, and the one mapping of a GHL appointment to an observation.

use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;

use super::{ProviderError, ProviderHttp, Secret, SlidingWindow};
use crate::domain::{AppointmentSource, AppointmentStatus, LeadRef, Observation, ObservedStatus, Provider, TaskPolicy, MAX_KEY_BYTES};

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

/// A GHL calendar event (appointment), as the API lists it and as appointment webhooks carry it
/// (the same field names in both). Notes, title and address are free text and not even read.
/// Times stay raw until [`observation`] reads them in the right zone.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GhlAppointment {
    pub id: String,
    pub appointment_status: Option<String>,
    /// Some answers carry a second, older status field (`booked`, `cancelled`).
    pub status: Option<String>,
    /// The contact (our `Lead.ghlContactId`); webhooks name the lead with it.
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub start_time: Value,
    #[serde(default)]
    pub end_time: Value,
    #[serde(default)]
    pub date_added: Value,
    #[serde(default)]
    pub date_updated: Value,
}

/// The appointment webhook event types this service records.
pub mod event_type {
    pub const CREATE: &str = "AppointmentCreate";
    pub const UPDATE: &str = "AppointmentUpdate";
    pub const DELETE: &str = "AppointmentDelete";
}

/// A GHL webhook delivery: `{type, locationId, timestamp, webhookId, appointment}`. Only the
/// envelope's own fields are required here; the handler decides what a type needs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub location_id: Option<String>,
    /// When GHL sent it (signed with the body): bounds replays.
    #[serde(default)]
    pub timestamp: Value,
    #[serde(default)]
    pub webhook_id: Option<String>,
    #[serde(default)]
    pub appointment: Option<GhlAppointment>,
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

/// Whether a GHL time is a wall-clock time without an offset, which only a zone can read.
pub fn needs_zone(value: &Value) -> bool {
    match value {
        Value::String(s) => {
            let text = s.trim();
            !text.is_empty() && !text.bytes().all(|b| b.is_ascii_digit()) && DateTime::parse_from_rfc3339(text).is_err()
        }
        _ => false,
    }
}

impl GhlAppointment {
    /// Whether any of its times is a wall-clock time without an offset.
    pub fn needs_zone(&self) -> bool {
        [&self.start_time, &self.end_time, &self.date_added, &self.date_updated].into_iter().any(needs_zone)
    }
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

/// The cancel reason of an appointment deleted in GHL (our words, never the provider's).
pub const DELETED_REASON: &str = "deleted in GHL";

/// How GHL shows an appointment: as it is, or gone (an `AppointmentDelete`, or missing from a
/// complete listing) at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    Present,
    /// Deleted at `at` when known; otherwise the appointment's own `dateUpdated` stands in.
    Deleted {
        at: Option<DateTime<Utc>>,
    },
}

/// The one mapping of a GHL appointment (webhook body or API answer) to an observation. A time
/// change keeps the key (the appointment id), so the write path updates the same row and logs the
/// move. A deletion is recorded as [`ObservedStatus::Deleted`], stamped with the deletion's time.
pub fn observation(
    lead: impl Into<LeadRef>,
    appt: &GhlAppointment,
    seen: Seen,
    zone: Tz,
    source: AppointmentSource,
    tasks: TaskPolicy,
) -> Result<Observation, MappingError> {
    let fail = |reason: String| MappingError { id: printable_id(&appt.id), reason };
    if !is_key(&appt.id) {
        return Err(fail("the id is empty, too long or not printable".into()));
    }
    let time = |name: &str, v: &Value| parse_time(v, zone).map_err(|e| fail(format!("{name}: {e}")));
    let status = match seen {
        Seen::Deleted { .. } => ObservedStatus::Deleted,
        Seen::Present => {
            let status_text = appt.appointment_status.as_deref().or(appt.status.as_deref()).ok_or_else(|| fail("no status".into()))?;
            let status = map_status(status_text)
                .ok_or_else(|| fail(format!("unknown status {:?}", status_text.chars().take(32).collect::<String>())))?;
            ObservedStatus::Is(status)
        }
    };
    let mut obs = Observation::new(lead, Provider::Ghl, status, source);
    obs.key = Some(appt.id.clone());
    obs.start_at = time("startTime", &appt.start_time)?;
    obs.end_at = time("endTime", &appt.end_time)?;
    if let (Some(start), Some(end)) = (obs.start_at, obs.end_at) {
        if end < start {
            return Err(fail("endTime is before startTime".into()));
        }
    }
    obs.provider_created_at = time("dateAdded", &appt.date_added)?;
    obs.provider_updated_at = time("dateUpdated", &appt.date_updated)?;
    match (seen, status) {
        (Seen::Deleted { at }, _) => {
            obs.provider_updated_at = at.or(obs.provider_updated_at);
            obs.canceled_at = obs.provider_updated_at;
            obs.cancel_reason = Some(DELETED_REASON.to_string());
        }
        // GHL says when it changed, not when it was canceled; the last change is the best we know.
        (Seen::Present, ObservedStatus::Is(s)) if s.is_terminal() => obs.canceled_at = obs.provider_updated_at,
        _ => {}
    }
    obs.tasks = tasks;
    Ok(obs)
}

/// A GHL id usable as a provider key: non-empty, within [`MAX_KEY_BYTES`], printable ASCII
/// without spaces (GHL ids are alphanumeric, recurring instances add `_` parts).
pub fn is_key(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_KEY_BYTES && id.bytes().all(|b| b.is_ascii_graphic())
}

/// An id fit for an error message or a log: what [`is_key`] accepts, else a fixed word.
fn printable_id(id: &str) -> String {
    if is_key(id) && id.len() <= 64 {
        id.to_string()
    } else {
        "(unprintable id)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_as_a_table() {
        use AppointmentStatus::*;
        let words: [(Option<AppointmentStatus>, &[&str]); 5] = [
            (Some(Confirmed), &["confirmed", "new", "booked", "active", "Confirmed"]),
            (Some(Canceled), &["cancelled", "canceled", "invalid"]),
            (Some(Showed), &["showed", "completed"]),
            (Some(NoShow), &["noshow", " NOSHOW "]),
            (None, &["rescheduled", ""]),
        ];
        let table = words.iter().flat_map(|(status, words)| words.iter().map(move |word| (*word, *status)));
        crate::testing::assert_table(table, |word| map_status(word));
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
        crate::testing::assert_table(table, |value| parse_time(value, ny).unwrap());
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
        let obs = observation("lead_1", &appt, Seen::Present, zone, AppointmentSource::ReconcileCron, TaskPolicy::UpcomingOnly).unwrap();
        assert_eq!(obs.status, ObservedStatus::Is(AppointmentStatus::Canceled));
        assert_eq!(obs.key.as_deref(), Some("Bn7TgW1zQ5xE3rMa0uHy"));
        assert_eq!(obs.start_at.unwrap().to_rfc3339(), "2026-03-06T20:00:00+00:00");
        assert_eq!(obs.provider_created_at.unwrap().to_rfc3339(), "2026-02-27T08:45:00+00:00");
        assert_eq!(obs.provider_updated_at, obs.canceled_at);
        assert_eq!(obs.tasks, TaskPolicy::UpcomingOnly);

        let unknown = GhlAppointment { appointment_status: Some("tentative".into()), status: None, ..appt.clone() };
        let err = observation("lead_1", &unknown, Seen::Present, zone, AppointmentSource::Backfill, TaskPolicy::None).unwrap_err();
        assert!(err.reason.contains("unknown status"), "{err}");
        let bad_time = GhlAppointment { start_time: json!("soon"), ..appt };
        assert!(observation("lead_1", &bad_time, Seen::Present, zone, AppointmentSource::Backfill, TaskPolicy::None).is_err());
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/ghl/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// Every GHL fixture, from both sources (webhook bodies and API answers), through the one mapping.
    #[test]
    fn maps_every_fixture_from_both_sources() {
        use AppointmentStatus::*;
        let ny: Tz = "America/New_York".parse().unwrap();
        let utc = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        const ID: &str = "Yq3FpL8wV2nR6tKc9sDx";
        struct Expect {
            key: &'static str,
            status: ObservedStatus,
            start: Option<DateTime<Utc>>,
            end: Option<DateTime<Utc>>,
            created: Option<DateTime<Utc>>,
            updated: Option<DateTime<Utc>>,
            canceled_at: Option<DateTime<Utc>>,
        }
        let mut appointments: Vec<(String, GhlAppointment, Seen)> = Vec::new();
        for name in [
            "webhook-appointment-create.json",
            "webhook-appointment-update-time.json",
            "webhook-appointment-update-cancelled.json",
            "webhook-appointment-delete.json",
        ] {
            let d: WebhookDelivery = serde_json::from_slice(&fixture(name)).unwrap();
            let seen = if d.kind == event_type::DELETE {
                Seen::Deleted { at: parse_time(&d.timestamp, chrono_tz::UTC).unwrap() }
            } else {
                Seen::Present
            };
            assert_eq!(d.location_id.as_deref(), Some("loc_Rt5vB2nQ"), "{name}");
            appointments.push((name.into(), d.appointment.unwrap(), seen));
        }
        for name in ["api-contact-appointments.json", "api-calendar-events.json"] {
            let events: Events = serde_json::from_slice(&fixture(name)).unwrap();
            for (i, a) in events.events.into_iter().enumerate() {
                appointments.push((format!("{name}#{i}"), a, Seen::Present));
            }
        }
        let table: Vec<(&str, Expect)> = vec![
            (
                "webhook-appointment-create.json",
                Expect {
                    key: ID,
                    status: ObservedStatus::Is(Confirmed),
                    start: utc("2026-03-11T15:00:00Z"),
                    end: utc("2026-03-11T15:30:00Z"),
                    created: utc("2026-03-01T10:02:11Z"),
                    updated: utc("2026-03-01T10:02:11Z"),
                    canceled_at: None,
                },
            ),
            (
                "webhook-appointment-update-time.json",
                Expect {
                    key: ID,
                    status: ObservedStatus::Is(Confirmed),
                    start: utc("2026-03-12T15:00:00Z"),
                    end: utc("2026-03-12T15:30:00Z"),
                    created: utc("2026-03-01T10:02:11Z"),
                    updated: utc("2026-03-03T12:30:40Z"),
                    canceled_at: None,
                },
            ),
            (
                "webhook-appointment-update-cancelled.json",
                Expect {
                    key: ID,
                    status: ObservedStatus::Is(Canceled),
                    start: utc("2026-03-12T15:00:00Z"),
                    end: utc("2026-03-12T15:30:00Z"),
                    created: utc("2026-03-01T10:02:11Z"),
                    updated: utc("2026-03-04T08:00:05Z"),
                    canceled_at: utc("2026-03-04T08:00:05Z"),
                },
            ),
            (
                "webhook-appointment-delete.json",
                Expect {
                    key: ID,
                    status: ObservedStatus::Deleted,
                    start: utc("2026-03-12T15:00:00Z"),
                    end: utc("2026-03-12T15:30:00Z"),
                    created: utc("2026-03-01T10:02:11Z"),
                    updated: utc("2026-03-04T08:10:00Z"),
                    canceled_at: utc("2026-03-04T08:10:00Z"),
                },
            ),
            // Times without an offset, read in the location's zone (EDT from 2026-03-08).
            (
                "api-contact-appointments.json#0",
                Expect {
                    key: ID,
                    status: ObservedStatus::Is(Confirmed),
                    start: utc("2026-03-11T19:00:00Z"),
                    end: utc("2026-03-11T19:30:00Z"),
                    created: utc("2026-03-01T10:02:11Z"),
                    updated: utc("2026-03-01T10:02:11Z"),
                    canceled_at: None,
                },
            ),
            (
                "api-contact-appointments.json#1",
                Expect {
                    key: "Bn7TgW1zQ5xE3rMa0uHy",
                    status: ObservedStatus::Is(Canceled),
                    start: utc("2026-03-06T20:00:00Z"),
                    end: utc("2026-03-06T20:30:00Z"),
                    created: utc("2026-02-27T08:45:00Z"),
                    updated: utc("2026-03-01T10:01:58Z"),
                    canceled_at: utc("2026-03-01T10:01:58Z"),
                },
            ),
            (
                "api-calendar-events.json#0",
                Expect {
                    key: ID,
                    status: ObservedStatus::Is(Showed),
                    start: utc("2026-03-11T15:00:00Z"),
                    end: utc("2026-03-11T15:30:00Z"),
                    created: utc("2026-03-01T10:02:11Z"),
                    updated: utc("2026-03-11T15:41:20Z"),
                    canceled_at: None,
                },
            ),
            (
                "api-calendar-events.json#1",
                Expect {
                    key: "Kp2RsD7fG4hJ9kLz1xCv_1773241200000_30",
                    status: ObservedStatus::Is(NoShow),
                    start: utc("2026-03-11T15:00:00Z"),
                    end: utc("2026-03-11T15:30:00Z"),
                    created: utc("2026-02-01T09:00:00Z"),
                    updated: utc("2026-03-11T16:05:00Z"),
                    canceled_at: None,
                },
            ),
        ];
        assert_eq!(appointments.len(), table.len(), "every fixture appointment has a row");
        for ((name, appt, seen), (expected_name, e)) in appointments.iter().zip(table) {
            assert_eq!(name, expected_name);
            let o = observation(LeadRef::Id("lead_1".into()), appt, *seen, ny, AppointmentSource::Webhook, TaskPolicy::All).unwrap();
            assert_eq!(o.provider, Provider::Ghl, "{name}");
            assert_eq!(o.key.as_deref(), Some(e.key), "{name}");
            assert_eq!(o.status, e.status, "{name}");
            assert_eq!(o.start_at, e.start, "{name}");
            assert_eq!(o.end_at, e.end, "{name}");
            assert_eq!(o.provider_created_at, e.created, "{name}");
            assert_eq!(o.provider_updated_at, e.updated, "{name}");
            assert_eq!(o.canceled_at, e.canceled_at, "{name}");
            let reason = (e.status == ObservedStatus::Deleted).then_some(DELETED_REASON);
            assert_eq!((o.canceled_by, o.cancel_reason.as_deref(), o.timezone.as_deref()), (None, reason, None), "{name}: no free text");
            assert_eq!(o.tasks, TaskPolicy::All, "{name}");
            o.normalized().unwrap_or_else(|err| panic!("{name}: the write path accepts it: {err}"));
        }
    }

    #[test]
    fn deletions_and_bad_ids() {
        let zone = chrono_tz::UTC;
        let d: WebhookDelivery = serde_json::from_slice(&fixture("webhook-appointment-delete.json")).unwrap();
        let appt = d.appointment.unwrap();
        // Without the delete's own time, the appointment's last change stands in.
        let o = observation("l", &appt, Seen::Deleted { at: None }, zone, AppointmentSource::ReconcileCron, TaskPolicy::None).unwrap();
        assert_eq!(o.provider_updated_at.unwrap().to_rfc3339(), "2026-03-04T08:10:00+00:00");
        assert_eq!(o.cancel_reason.as_deref(), Some(DELETED_REASON));
        // A delete needs no status (a deleted appointment may carry any, or none).
        let unstatused = GhlAppointment { appointment_status: None, status: None, ..appt.clone() };
        assert_eq!(
            observation("l", &unstatused, Seen::Deleted { at: None }, zone, AppointmentSource::Webhook, TaskPolicy::All).unwrap().status,
            ObservedStatus::Deleted
        );
        assert!(observation("l", &unstatused, Seen::Present, zone, AppointmentSource::Webhook, TaskPolicy::All).is_err());
        for bad in ["", " ", "a b", "x\u{0}", &"k".repeat(MAX_KEY_BYTES + 1)] {
            let a = GhlAppointment { id: bad.to_string(), ..appt.clone() };
            let err = observation("l", &a, Seen::Present, zone, AppointmentSource::Webhook, TaskPolicy::All).unwrap_err();
            assert_eq!(err.id, "(unprintable id)", "{bad:?}");
        }
        let backwards = GhlAppointment { end_time: json!("2026-03-12T14:00:00Z"), ..appt };
        assert!(observation("l", &backwards, Seen::Present, zone, AppointmentSource::Webhook, TaskPolicy::All).is_err());
    }
}
