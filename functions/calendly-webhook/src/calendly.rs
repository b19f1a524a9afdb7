//! Calendly API v2 webhook deliveries, as far as this service reads them. Unknown fields are
//! ignored; fields that carry PII and that we never use (names, phone numbers, answers, the
//! canceler's name) are not even deserialized. The retired v1 shape is not accepted.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use shared::providers::calendly::{Invitee, ScheduledEvent};

/// An `invitee.*` delivery's payload is the API's invitee with its scheduled event embedded: one
/// reading of both sources (`canceled_by`, a person's name, is not read; the email and the
/// cancellation's reason stay out of `Debug`).
pub use shared::providers::calendly::Booking;

/// The event types this service records.
pub mod event_type {
    pub const INVITEE_CREATED: &str = "invitee.created";
    pub const INVITEE_CANCELED: &str = "invitee.canceled";
    pub const NO_SHOW_CREATED: &str = "invitee_no_show.created";
    pub const NO_SHOW_DELETED: &str = "invitee_no_show.deleted";
}

/// `{event, created_at, created_by, payload}`.
#[derive(Clone, Debug, Deserialize)]
pub struct Envelope<P> {
    pub event: String,
    /// When Calendly produced the delivery.
    pub created_at: DateTime<Utc>,
    pub payload: P,
}

/// The payload of `invitee_no_show.*`.
#[derive(Clone, Debug, Deserialize)]
pub struct NoShow {
    pub invitee: InviteeRef,
}

/// The no-show's invitee: a URI, or (in some API versions) an object with one.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum InviteeRef {
    Uri(String),
    Resource { uri: String },
}

impl InviteeRef {
    pub fn uri(&self) -> &str {
        match self {
            InviteeRef::Uri(uri) | InviteeRef::Resource { uri } => uri,
        }
    }
}

/// Only the type, to decide how to read the rest.
#[derive(Deserialize)]
struct Head {
    event: String,
}

/// One delivery, read.
#[derive(Clone, Debug)]
pub enum Delivery {
    InviteeCreated(Envelope<Booking>),
    InviteeCanceled(Envelope<Booking>),
    NoShowCreated(Envelope<NoShow>),
    NoShowDeleted(Envelope<NoShow>),
    /// A well-formed delivery of a type this service does not record (routing forms, event types,
    /// meeting recaps, contacts, ...).
    Other,
}

impl Delivery {
    /// The type, for logs: only the types we know (an unknown one is attacker-chosen text).
    pub fn kind(&self) -> &'static str {
        match self {
            Delivery::InviteeCreated(_) => event_type::INVITEE_CREATED,
            Delivery::InviteeCanceled(_) => event_type::INVITEE_CANCELED,
            Delivery::NoShowCreated(_) => event_type::NO_SHOW_CREATED,
            Delivery::NoShowDeleted(_) => event_type::NO_SHOW_DELETED,
            Delivery::Other => "other",
        }
    }
}

/// Why a body could not be read. Carries no text from the body: serde's messages can quote values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON at all (syntax error, truncated, not UTF-8, nested too deep).
    NotJson,
    /// JSON that gives a key twice in one object: it has no single meaning ([`shared::json`]).
    RepeatedKey,
    /// JSON, but not a Calendly v2 delivery of its type (wrong shape, missing required fields).
    WrongShape,
}

impl ParseError {
    fn of(e: &serde_json::Error) -> Self {
        match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof | serde_json::error::Category::Io => ParseError::NotJson,
            serde_json::error::Category::Data if shared::json::is_duplicate_key(e) => ParseError::RepeatedKey,
            serde_json::error::Category::Data => ParseError::WrongShape,
        }
    }
}

/// What a delivered invitee always carries and the API's may leave out: the slot's times and the
/// invitee's own (a delivery without them cannot be placed or ordered).
fn delivered_in_full(b: &Booking) -> bool {
    [b.event.start_time, b.event.end_time, b.invitee.created_at, b.invitee.updated_at].iter().all(Option::is_some)
}

/// An `invitee.*` delivery's envelope, its payload read as the API's two resources: the invitee,
/// and the scheduled event embedded in it.
fn read_booking(value: &Value) -> Result<Envelope<Booking>, ParseError> {
    let of = |e: serde_json::Error| ParseError::of(&e);
    let Envelope { event, created_at, payload: invitee } = Envelope::<Invitee>::deserialize(value).map_err(of)?;
    let scheduled_event = value.get("payload").and_then(|p| p.get("scheduled_event")).ok_or(ParseError::WrongShape)?;
    let booking = Booking { event: ScheduledEvent::deserialize(scheduled_event).map_err(of)?, invitee };
    if !delivered_in_full(&booking) {
        return Err(ParseError::WrongShape);
    }
    Ok(Envelope { event, created_at, payload: booking })
}

/// Reads a raw delivery body, strictly ([`shared::json`]): once, then by its type.
pub fn parse(body: &[u8]) -> Result<Delivery, ParseError> {
    let value = shared::json::parse(body).map_err(|e| ParseError::of(&e))?;
    let head = Head::deserialize(&value).map_err(|e| ParseError::of(&e))?;
    let read_invitee = || read_booking(&value);
    let read_no_show = || Envelope::<NoShow>::deserialize(&value).map_err(|e| ParseError::of(&e));
    Ok(match head.event.as_str() {
        event_type::INVITEE_CREATED => Delivery::InviteeCreated(read_invitee()?),
        event_type::INVITEE_CANCELED => Delivery::InviteeCanceled(read_invitee()?),
        event_type::NO_SHOW_CREATED => Delivery::NoShowCreated(read_no_show()?),
        event_type::NO_SHOW_DELETED => Delivery::NoShowDeleted(read_no_show()?),
        _ => Delivery::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn reads_every_fixture() {
        let table = [
            ("invitee-created.json", "invitee.created"),
            ("invitee-created-group-second.json", "invitee.created"),
            ("invitee-created-after-reschedule.json", "invitee.created"),
            ("invitee-canceled-rescheduled.json", "invitee.canceled"),
            ("invitee-canceled-by-host.json", "invitee.canceled"),
            ("invitee-no-show-created.json", "invitee_no_show.created"),
            ("invitee-no-show-deleted.json", "invitee_no_show.deleted"),
            ("routing-form-submission.json", "other"),
        ];
        for (name, kind) in table {
            assert_eq!(parse(&fixture(name)).unwrap().kind(), kind, "{name}");
        }
    }

    #[test]
    fn no_show_invitee_as_uri_or_object() {
        let as_object = br#"{"event":"invitee_no_show.created","created_at":"2026-03-10T17:45:10.000000Z",
            "payload":{"uri":"https://api.calendly.com/invitee_no_shows/x","invitee":{"uri":"https://api.calendly.com/scheduled_events/e/invitees/i","email":"a@b.c"}}}"#;
        let Delivery::NoShowCreated(env) = parse(as_object).unwrap() else { panic!("no-show") };
        assert_eq!(env.payload.invitee.uri(), "https://api.calendly.com/scheduled_events/e/invitees/i");
        let Delivery::NoShowDeleted(env) = parse(&fixture("invitee-no-show-deleted.json")).unwrap() else { panic!("no-show") };
        assert!(env.payload.invitee.uri().ends_with("/invitees/6a1f0c2e-5b7d-4e38-9c0a-71d2e4f8b3a9"));
    }

    #[test]
    fn refuses_what_is_not_a_v2_delivery() {
        let table: [(&[u8], ParseError); 12] = [
            (b"", ParseError::NotJson),
            (b"{\"event\":\"\xc3\x28\"}", ParseError::NotJson),
            (br#"{"event":"invitee.created","event":"routing_form_submission.created"}"#, ParseError::RepeatedKey),
            (br#"{"event":"meeting_recap.created","payload":{"a":1,"a":2}}"#, ParseError::RepeatedKey),
            (b"not json", ParseError::NotJson),
            (br#"{"event":"invitee.created""#, ParseError::NotJson),
            (br#"{"event":"invitee.created"} trailing"#, ParseError::NotJson),
            (b"[]", ParseError::WrongShape),
            (br#"{"payload":{}}"#, ParseError::WrongShape),
            (br#"{"event":42}"#, ParseError::WrongShape),
            (br#"{"event":"invitee.created","created_at":"2026-03-02T15:04:07Z","payload":{"uri":"u"}}"#, ParseError::WrongShape),
            // API v1 (retired): top-level `time`, the invitee nested under `payload.invitee`.
            (
                br#"{"event":"invitee.created","time":"2020-01-01T00:00:00Z","payload":{"event_type":{},"event":{"start_time":"2020-01-02T00:00:00Z"},"invitee":{"uuid":"x","email":"a@b.c"}}}"#,
                ParseError::WrongShape,
            ),
        ];
        for (body, expected) in table {
            assert_eq!(parse(body).unwrap_err(), expected, "{}", String::from_utf8_lossy(body));
        }
        // Unknown types only need to be well-formed JSON with an event name.
        assert!(matches!(parse(br#"{"event":"meeting_recap.created","payload":null}"#), Ok(Delivery::Other)));
    }

    /// The API may leave an invitee's times out; a delivery may not (it could be neither placed nor
    /// ordered against the others).
    #[test]
    fn a_delivered_invitee_without_its_times_is_the_wrong_shape() {
        let missing =
            ["/payload/scheduled_event/start_time", "/payload/scheduled_event/end_time", "/payload/created_at", "/payload/updated_at"];
        for pointer in missing {
            let mut v: serde_json::Value = serde_json::from_slice(&fixture("invitee-created.json")).unwrap();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            v.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key).unwrap();
            assert_eq!(parse(v.to_string().as_bytes()).unwrap_err(), ParseError::WrongShape, "{pointer}");
        }
    }
}
