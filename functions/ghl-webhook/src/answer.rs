//! Every answer the function gives: JSON for deliveries it took, `application/problem+json`
//! (RFC 9457) with a stable `type` for those it refused. No answer ever quotes the request.
//!
//! GHL retries a delivery only when it is answered 429. So what should be tried again (the
//! database is away) answers 429 with `Retry-After`, and everything else is a 2xx or a 4xx.

use lambda_http::http::StatusCode;
use shared::metrics::{Delivery, Refusal};
pub use shared::webhook::{count, duplicate, ignored, problem, recorded, written};

/// Why a delivery was taken but not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// Not an appointment event (contacts, opportunities, ...).
    EventType,
    /// No client has the delivery's `locationId`.
    UnknownLocation,
    /// The client has no lead with the appointment's `contactId`.
    NoMatchingLead,
    /// The appointment carries times without an offset and the client has no usable time zone.
    ClientTimeZoneUnknown,
}

impl Ignored {
    pub const ALL: [Ignored; 4] = [Ignored::EventType, Ignored::UnknownLocation, Ignored::NoMatchingLead, Ignored::ClientTimeZoneUnknown];
}

impl shared::webhook::Ignored for Ignored {
    fn reason(self) -> &'static str {
        match self {
            Ignored::EventType => "event type not recorded",
            Ignored::UnknownLocation => "unknown location",
            Ignored::NoMatchingLead => "no matching lead",
            Ignored::ClientTimeZoneUnknown => "client time zone unknown",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Ignored::EventType => "event-type",
            Ignored::UnknownLocation => "unknown-location",
            Ignored::NoMatchingLead => "no-matching-lead",
            Ignored::ClientTimeZoneUnknown => "client-time-zone-unknown",
        }
    }
}

/// A refused delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    MethodNotAllowed,
    PayloadTooLarge,
    SignatureMissing,
    LegacySignatureRefused,
    SignatureMalformed,
    SignatureMismatch,
    TimestampMissing,
    TimestampOutsideWindow,
    NotJson,
    InvalidPayload,
    DatabaseUnavailable,
    Internal,
}

/// Seconds GHL is asked to wait before retrying after a 429.
pub const RETRY_AFTER_SECONDS: &str = "10";

/// GHL retries only a 429, so an outage is a 429 (with `Retry-After`).
impl shared::webhook::Problem for Problem {
    const TYPE_PREFIX: &'static str = "urn:problem-type:ghl-webhook:";
    const METHOD_NOT_ALLOWED: Self = Problem::MethodNotAllowed;
    const DATABASE_UNAVAILABLE: Self = Problem::DatabaseUnavailable;
    const INTERNAL: Self = Problem::Internal;
    const RETRY_AFTER_SECONDS: &'static str = RETRY_AFTER_SECONDS;

    fn status(self) -> StatusCode {
        match self {
            Problem::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Problem::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Problem::SignatureMissing
            | Problem::LegacySignatureRefused
            | Problem::SignatureMalformed
            | Problem::SignatureMismatch
            | Problem::TimestampMissing
            | Problem::TimestampOutsideWindow => StatusCode::UNAUTHORIZED,
            Problem::NotJson | Problem::InvalidPayload => StatusCode::BAD_REQUEST,
            // GHL retries nothing else.
            Problem::DatabaseUnavailable => StatusCode::TOO_MANY_REQUESTS,
            Problem::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Problem::MethodNotAllowed => "method-not-allowed",
            Problem::PayloadTooLarge => "payload-too-large",
            Problem::SignatureMissing => "signature-missing",
            Problem::LegacySignatureRefused => "legacy-signature-refused",
            Problem::SignatureMalformed => "signature-malformed",
            Problem::SignatureMismatch => "signature-mismatch",
            Problem::TimestampMissing => "timestamp-missing",
            Problem::TimestampOutsideWindow => "timestamp-outside-window",
            Problem::NotJson => "not-json",
            Problem::InvalidPayload => "invalid-payload",
            Problem::DatabaseUnavailable => "database-unavailable",
            Problem::Internal => "internal-error",
        }
    }

    fn delivery(self) -> Delivery {
        match self {
            Problem::MethodNotAllowed
            | Problem::PayloadTooLarge
            | Problem::NotJson
            | Problem::InvalidPayload
            | Problem::TimestampMissing => Delivery::Refused(Refusal::Malformed),
            Problem::SignatureMissing | Problem::LegacySignatureRefused | Problem::SignatureMalformed | Problem::SignatureMismatch => {
                Delivery::Refused(Refusal::Signature)
            }
            Problem::TimestampOutsideWindow => Delivery::Refused(Refusal::Stale),
            Problem::DatabaseUnavailable | Problem::Internal => Delivery::Failed(self.slug()),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Problem::MethodNotAllowed => "Only POST is accepted",
            Problem::PayloadTooLarge => "The body is larger than 256 KiB",
            Problem::SignatureMissing => "The x-ghl-signature header is missing",
            Problem::LegacySignatureRefused => "The x-wh-signature (RSA) scheme was retired on 2026-07-01; sign with x-ghl-signature",
            Problem::SignatureMalformed => "The x-ghl-signature header is not a base64 Ed25519 signature",
            Problem::SignatureMismatch => "The signature does not match the body",
            Problem::TimestampMissing => "The signed body has no readable timestamp",
            Problem::TimestampOutsideWindow => "The signed timestamp is more than 5 minutes away",
            Problem::NotJson => "The body is not JSON",
            Problem::InvalidPayload => "The body is not a GHL appointment webhook delivery",
            Problem::DatabaseUnavailable => "The database is unavailable; try again later",
            Problem::Internal => "Internal error",
        }
    }
}

impl Problem {
    pub const ALL: [Problem; 12] = [
        Problem::MethodNotAllowed,
        Problem::PayloadTooLarge,
        Problem::SignatureMissing,
        Problem::LegacySignatureRefused,
        Problem::SignatureMalformed,
        Problem::SignatureMismatch,
        Problem::TimestampMissing,
        Problem::TimestampOutsideWindow,
        Problem::NotJson,
        Problem::InvalidPayload,
        Problem::DatabaseUnavailable,
        Problem::Internal,
    ];
}

#[cfg(test)]
mod tests {
    use lambda_http::http::header;
    use lambda_http::{Body, Response};
    use shared::webhook::Problem as _;

    use super::*;

    fn answer(r: Response<Body>) -> Response<Body> {
        r
    }

    fn json(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn problem_types_are_distinct_and_stable() {
        let mut slugs: Vec<_> = Problem::ALL.iter().map(|p| p.slug()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), Problem::ALL.len());
        let r = answer(problem(Problem::SignatureMismatch, None));
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(
            json(&r),
            serde_json::json!({"type": "urn:problem-type:ghl-webhook:signature-mismatch", "title": "The signature does not match the body", "status": 401})
        );
    }

    #[test]
    fn every_answer_carries_its_outcome() {
        for p in Problem::ALL {
            let delivery = answer(problem(p, None)).extensions().get::<Delivery>().copied();
            let expected = match p.status().as_u16() {
                401 if p == Problem::TimestampOutsideWindow => Delivery::Refused(Refusal::Stale),
                401 if p == Problem::TimestampMissing => Delivery::Refused(Refusal::Malformed),
                401 => Delivery::Refused(Refusal::Signature),
                429 | 500 => Delivery::Failed(p.slug()),
                _ => Delivery::Refused(Refusal::Malformed),
            };
            assert_eq!(delivery, Some(expected), "{p:?}");
        }
        assert_eq!(answer(recorded("a")).extensions().get::<Delivery>(), Some(&Delivery::Recorded));
        assert_eq!(answer(duplicate("a")).extensions().get::<Delivery>(), Some(&Delivery::Duplicate));
        assert_eq!(answer(ignored(Ignored::UnknownLocation)).extensions().get::<Delivery>(), Some(&Delivery::Ignored("unknown-location")));
    }

    #[test]
    fn only_an_outage_asks_for_a_retry() {
        // GHL retries 429 and nothing else: an outage must be a 429 with Retry-After, and no
        // problem caused by the input may be a 5xx.
        for p in Problem::ALL {
            let r = answer(problem(p, None));
            assert_eq!(r.status() == StatusCode::TOO_MANY_REQUESTS, p == Problem::DatabaseUnavailable, "{p:?}");
            assert_eq!(r.headers().contains_key(header::RETRY_AFTER), p == Problem::DatabaseUnavailable, "{p:?}");
            assert_eq!(r.status().is_server_error(), p == Problem::Internal, "{p:?}");
        }
        assert_eq!(answer(problem(Problem::DatabaseUnavailable, None)).headers()[header::RETRY_AFTER], RETRY_AFTER_SECONDS);
    }

    #[test]
    fn taken_bodies() {
        assert_eq!(json(&recorded("a1")), serde_json::json!({"status": "recorded", "appointmentId": "a1"}));
        assert_eq!(json(&duplicate("a1")), serde_json::json!({"status": "duplicate", "appointmentId": "a1"}));
        assert_eq!(json(&ignored(Ignored::UnknownLocation)), serde_json::json!({"status": "ignored", "reason": "unknown location"}));
    }
}
