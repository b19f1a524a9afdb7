//! `POST /leads/{leadId}/appointments`: a new auto-booked or manual appointment, validated here and
//! recorded through the single write path (`Store::record`).
//!
//! Choices the API contract leaves open:
//! - `status` is CONFIRMED, CANCELED, SHOWED or NO_SHOW. RESCHEDULED is refused: a reschedule is
//!   a link between two bookings that this body cannot express.
//! - The observation carries no provider time. Our own entries therefore never outrank what a
//!   provider says about the same booking, and among themselves the status further along the
//!   booking's life wins (the write path's rule for equal provider times): posting the same body
//!   again changes nothing, CONFIRMED then CANCELED cancels, CANCELED then CONFIRMED does not revive.
//! - No follow-up tasks (`TaskPolicy::None`): the caller is the CRM itself, which just did what a
//!   task would ask a human to do.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use shared::{AppointmentSource, AppointmentStatus, LeadRef, Observation, ObservedStatus, Provider};

use crate::problem::{FieldError, Kind, Location, Problem};

/// Largest accepted body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest provider appointment id (the write path's key limit).
pub use shared::domain::MAX_KEY_BYTES;

const FIELDS: [&str; 8] = ["source", "provider", "providerAppointmentId", "startAt", "endAt", "timezone", "status", "canceledAt"];

/// Parses and validates a JSON body into the observation it asks the write path to record for
/// `lead_id`. Malformed JSON is a 400; every invalid field is named in one 422.
pub fn observation(body: &[u8], lead_id: &str) -> Result<Observation, Problem> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::new(Kind::PayloadTooLarge));
    }
    // Strictly: a key given twice has no single meaning (`shared::json`).
    let value: Value = shared::json::parse(body).map_err(|e| {
        Problem::detail(
            Kind::BadRequest,
            if shared::json::is_duplicate_key(&e) { shared::json::REPEATED_KEY_DETAIL } else { "the body is not valid JSON" },
        )
    })?;
    let Value::Object(map) = value else {
        return Err(Problem::detail(Kind::BadRequest, "the body must be a JSON object"));
    };
    from_map(&map, lead_id)
}

fn from_map(map: &Map<String, Value>, lead_id: &str) -> Result<Observation, Problem> {
    let mut errors = Vec::new();
    let mut err = |name: &str, reason: &str| errors.push(FieldError::new(Location::Body, name, reason));
    for name in map.keys() {
        if !FIELDS.contains(&name.as_str()) {
            err(&name.chars().take(64).collect::<String>(), "unknown field");
        }
    }
    let text = |name: &str| map.get(name).filter(|v| !v.is_null());

    let source = match text("source") {
        None => err_none(&mut err, "source", "required"),
        Some(Value::String(s)) if s == "AUTO_BOOK" => Some(AppointmentSource::AutoBook),
        Some(Value::String(s)) if s == "MANUAL" => Some(AppointmentSource::Manual),
        Some(_) => err_none(&mut err, "source", "must be AUTO_BOOK or MANUAL"),
    };
    let provider = match text("provider") {
        None => err_none(&mut err, "provider", "required"),
        Some(Value::String(s)) => match Provider::from_db(s) {
            Ok(p) => Some(p),
            Err(_) => err_none(&mut err, "provider", "must be GHL or CALENDLY"),
        },
        Some(_) => err_none(&mut err, "provider", "must be GHL or CALENDLY"),
    };
    let provider_appointment_id = match text("providerAppointmentId") {
        None => None,
        Some(Value::String(s)) => match check_key(provider, s) {
            Ok(()) => Some(s.clone()),
            Err(reason) => err_none(&mut err, "providerAppointmentId", reason),
        },
        Some(_) => err_none(&mut err, "providerAppointmentId", "must be a string"),
    };
    let outside_window = shared::domain::time_window_rule();
    let time = |name: &str, required: bool, err: &mut dyn FnMut(&str, &str)| match text(name) {
        None if required => err_none(err, name, "required"),
        None => None,
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            // The window of every appointment time (`shared::domain`): year 0000 is not a booking.
            Ok(t) if !shared::domain::in_time_window(t.with_timezone(&Utc)) => err_none(err, name, &outside_window),
            Ok(t) => Some(shared::domain::to_millis(t.with_timezone(&Utc))),
            Err(_) => err_none(err, name, "must be an RFC 3339 date-time with an offset, e.g. 2031-03-20T17:00:00Z"),
        },
        Some(_) => err_none(err, name, "must be an RFC 3339 date-time string"),
    };
    let start_at = time("startAt", true, &mut err);
    let end_at = time("endAt", true, &mut err);
    let canceled_at = time("canceledAt", false, &mut err);
    if let (Some(s), Some(e)) = (start_at, end_at) {
        if e <= s {
            err("endAt", "must be after startAt");
        }
    }
    let timezone = match text("timezone") {
        None => None,
        Some(Value::String(s)) if s.len() <= 64 && s.parse::<chrono_tz::Tz>().is_ok() => Some(s.clone()),
        Some(_) => err_none(&mut err, "timezone", "must be an IANA time zone name, e.g. America/New_York"),
    };
    let status = match text("status") {
        None => err_none(&mut err, "status", "required"),
        Some(Value::String(s)) => match AppointmentStatus::from_db(s) {
            Ok(AppointmentStatus::Rescheduled) => {
                err_none(&mut err, "status", "RESCHEDULED cannot be recorded here: a reschedule links two bookings")
            }
            Ok(s) => Some(s),
            Err(_) => err_none(&mut err, "status", "must be CONFIRMED, CANCELED, SHOWED or NO_SHOW"),
        },
        Some(_) => err_none(&mut err, "status", "must be CONFIRMED, CANCELED, SHOWED or NO_SHOW"),
    };
    if canceled_at.is_some() && status.is_some_and(|s| s != AppointmentStatus::Canceled) {
        err("canceledAt", "only allowed with status CANCELED");
    }
    match (source, provider, start_at, end_at, status) {
        (Some(source), Some(provider), Some(start_at), Some(end_at), Some(status)) if errors.is_empty() => {
            // Pinned: this lead or nothing. A key held by another lead of the workspace is refused
            // under the write path's lead lock (409); one held by another workspace is recorded
            // without it. No follow-up tasks (`Observation::new`'s default).
            let mut o = Observation::new(LeadRef::Pinned(lead_id.to_string()), provider, ObservedStatus::Is(status), source);
            o.key = provider_appointment_id;
            o.start_at = Some(start_at);
            o.end_at = Some(end_at);
            o.timezone = timezone;
            o.canceled_at = canceled_at;
            Ok(o)
        }
        _ => Err(Problem::fields(Kind::Validation, errors)),
    }
}

/// A fingerprint of a request (its lead and validated body, in a fixed form) for `Idempotency-Key`:
/// two bodies that mean the same (key order, whitespace, time offsets) give the same hash. The form
/// is part of what a running deployment has stored, so it stays as it is.
pub fn request_hash(lead_id: &str, o: &Observation) -> String {
    let canonical = serde_json::json!([
        lead_id,
        o.source.as_db(),
        o.provider.as_db(),
        o.key,
        o.start_at.map(|t| t.timestamp_millis()),
        o.end_at.map(|t| t.timestamp_millis()),
        o.timezone,
        o.status.label(),
        o.canceled_at.map(|t| t.timestamp_millis()),
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

fn err_none<T>(err: &mut dyn FnMut(&str, &str), name: &str, reason: &str) -> Option<T> {
    err(name, reason);
    None
}

/// A provider appointment id: a GHL appointment id, or a Calendly **invitee** URI (the scheduled
/// event URI is shared by the invitees of a group event, so it cannot name one booking).
fn check_key(provider: Option<Provider>, key: &str) -> Result<(), &'static str> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be 1 to 512 bytes without spaces");
    }
    if provider == Some(Provider::Calendly) {
        let ok = url::Url::parse(key).is_ok_and(|u| u.scheme() == "https" && u.path().contains("/invitees/"));
        if !ok {
            return Err("for CALENDLY, must be the invitee URI (https://api.calendly.com/scheduled_events/…/invitees/…)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::TaskPolicy;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    fn good() -> Value {
        serde_json::json!({
            "source": "MANUAL", "provider": "GHL", "providerAppointmentId": "ghl-appt-1",
            "startAt": "2031-03-20T17:00:00Z", "endAt": "2031-03-20T17:30:00Z",
            "timezone": "America/New_York", "status": "CONFIRMED"
        })
    }

    #[test]
    fn accepts_a_good_body() {
        let o = observation(&body(good()), "lead").unwrap();
        assert_eq!(o.lead, LeadRef::Pinned("lead".into()));
        assert_eq!(
            (o.source, o.provider, o.status),
            (AppointmentSource::Manual, Provider::Ghl, ObservedStatus::Is(AppointmentStatus::Confirmed))
        );
        assert_eq!(o.key.as_deref(), Some("ghl-appt-1"));
        assert_eq!(o.tasks, TaskPolicy::None);
        assert_eq!(o.provider_updated_at, None);
    }

    /// The good body with one field replaced.
    fn good_with(field: &str, value: impl Into<Value>) -> Value {
        let mut v = good();
        v[field] = value.into();
        v
    }

    #[test]
    fn names_each_invalid_field() {
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (serde_json::json!({}), vec!["source", "provider", "startAt", "endAt", "status"]),
            (serde_json::json!({"source": "WEBHOOK"}), vec!["source", "provider", "startAt", "endAt", "status"]),
            (good_with("endAt", "2031-03-20T16:00:00Z"), vec!["endAt"]),
            (good_with("startAt", "tomorrow"), vec!["startAt"]),
            (good_with("startAt", "2031-03-20T17:00:00"), vec!["startAt"]),
            (good_with("timezone", "Mars/Olympus"), vec!["timezone"]),
            (good_with("status", "RESCHEDULED"), vec!["status"]),
            (good_with("status", 3), vec!["status"]),
            (good_with("canceledAt", "2031-03-19T00:00:00Z"), vec!["canceledAt"]),
            (good_with("provider", "CALENDLY"), vec!["providerAppointmentId"]),
            (good_with("providerAppointmentId", "has space"), vec!["providerAppointmentId"]),
            (good_with("email", "x@example.com"), vec!["email"]),
        ];
        for (value, names) in cases {
            let p = observation(&body(value.clone()), "lead").unwrap_err();
            assert_eq!(p.kind, Kind::Validation, "{value}");
            let got: Vec<&str> = p.errors.iter().map(|e| e.name.as_str()).collect();
            let mut got_sorted = got.clone();
            got_sorted.sort();
            let mut want = names.clone();
            want.sort();
            assert_eq!(got_sorted, want, "{value}");
        }
    }

    #[test]
    fn malformed_or_huge_bodies() {
        assert_eq!(observation(b"{not json", "lead").unwrap_err().kind, Kind::BadRequest);
        assert_eq!(observation(b"[1]", "lead").unwrap_err().kind, Kind::BadRequest);
        assert_eq!(observation(&vec![b' '; MAX_BODY_BYTES + 1], "lead").unwrap_err().kind, Kind::PayloadTooLarge);
    }

    #[test]
    fn calendly_needs_an_invitee_uri() {
        let mut v = good();
        v["provider"] = "CALENDLY".into();
        v["providerAppointmentId"] = "https://api.calendly.com/scheduled_events/EV1/invitees/INV1".into();
        assert!(observation(&body(v.clone()), "lead").is_ok());
        v["providerAppointmentId"] = "https://api.calendly.com/scheduled_events/EV1".into();
        assert!(observation(&body(v), "lead").is_err());
    }

    #[test]
    fn same_meaning_same_hash() {
        let hash = |lead: &str, v: &[u8]| request_hash(lead, &observation(v, lead).unwrap());
        let a = hash("l", &body(good()));
        let b = hash("l", br#"{"status":"CONFIRMED","timezone":"America/New_York","endAt":"2031-03-20T17:30:00Z","startAt":"2031-03-20T19:00:00+02:00","providerAppointmentId":"ghl-appt-1","provider":"GHL","source":"MANUAL"}"#);
        assert_eq!(a, b);
        // Stored by a running deployment: the same request must keep its hash across releases.
        assert_eq!(a, "c5f8f965c6741898e624732f039c595cd179307b5ea8dc98c8c7306a90372d25");
        assert_ne!(a, hash("m", &body(good())));
        assert_ne!(a, hash("l", &body(good_with("status", "CANCELED"))));
    }
}
