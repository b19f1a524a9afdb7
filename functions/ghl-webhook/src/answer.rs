//! Every answer the function gives: JSON for deliveries it took, `application/problem+json`
//! (RFC 9457) with a stable `type` for those it refused. No answer ever quotes the request.
//!
//! GHL retries a delivery only when it is answered 429. So what should be tried again (the
//! database is away) answers 429 with `Retry-After`, and everything else is a 2xx or a 4xx.

use lambda_http::http::StatusCode;
use shared::metrics::{Delivery, Refusal};
use shared::webhook::Why;
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
    fn why(self) -> Why {
        match self {
            Ignored::EventType => Why::EVENT_TYPE,
            Ignored::UnknownLocation => Why { reason: "unknown location", label: "unknown-location" },
            Ignored::NoMatchingLead => Why::NO_MATCHING_LEAD,
            Ignored::ClientTimeZoneUnknown => Why { reason: "client time zone unknown", label: "client-time-zone-unknown" },
        }
    }
}

/// A refused delivery: the refusals every webhook function makes, and GHL's own.
pub type Problem = shared::webhook::Refused<GhlRefusal>;

/// The refusals only this function makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GhlRefusal {
    LegacySignatureRefused,
    TimestampMissing,
    TimestampOutsideWindow,
}

impl GhlRefusal {
    pub const ALL: [GhlRefusal; 3] = [GhlRefusal::LegacySignatureRefused, GhlRefusal::TimestampMissing, GhlRefusal::TimestampOutsideWindow];
}

/// Seconds GHL is asked to wait before retrying after a 429.
pub const RETRY_AFTER_SECONDS: &str = "10";

/// GHL retries only a 429, so an outage is a 429 (with `Retry-After`).
impl shared::webhook::Provider for GhlRefusal {
    const TYPE_PREFIX: &'static str = "urn:problem-type:ghl-webhook:";
    const RETRY_STATUS: StatusCode = StatusCode::TOO_MANY_REQUESTS;
    const RETRY_AFTER_SECONDS: &'static str = RETRY_AFTER_SECONDS;
    const PAYLOAD_TOO_LARGE_TITLE: &'static str = "The body is larger than 256 KiB";
    const SIGNATURE_MISSING_TITLE: &'static str = "The x-ghl-signature header is missing";
    const SIGNATURE_MALFORMED_TITLE: &'static str = "The x-ghl-signature header is not a base64 Ed25519 signature";
    const INVALID_PAYLOAD_TITLE: &'static str = "The body is not a GHL appointment webhook delivery";

    fn status(self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    fn slug(self) -> &'static str {
        match self {
            GhlRefusal::LegacySignatureRefused => "legacy-signature-refused",
            GhlRefusal::TimestampMissing => "timestamp-missing",
            GhlRefusal::TimestampOutsideWindow => "timestamp-outside-window",
        }
    }

    fn title(self) -> &'static str {
        match self {
            GhlRefusal::LegacySignatureRefused => "The x-wh-signature (RSA) scheme was retired on 2026-07-01; sign with x-ghl-signature",
            GhlRefusal::TimestampMissing => "The signed body has no readable timestamp",
            GhlRefusal::TimestampOutsideWindow => "The signed timestamp is more than 5 minutes away",
        }
    }

    fn delivery(self) -> Delivery {
        match self {
            GhlRefusal::LegacySignatureRefused => Delivery::Refused(Refusal::Signature),
            GhlRefusal::TimestampMissing => Delivery::Refused(Refusal::Malformed),
            GhlRefusal::TimestampOutsideWindow => Delivery::Refused(Refusal::Stale),
        }
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::header;
    use lambda_http::{Body, Response};

    use super::*;

    fn answer(r: Response<Body>) -> Response<Body> {
        r
    }

    fn json(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn problem_types_are_distinct_and_stable() {
        let all = Problem::all(&GhlRefusal::ALL);
        let mut slugs: Vec<_> = all.iter().map(|p| p.slug()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), all.len());
        let r = answer(problem(Problem::Own(GhlRefusal::TimestampOutsideWindow), None));
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(
            json(&r),
            serde_json::json!({"type": "urn:problem-type:ghl-webhook:timestamp-outside-window", "title": "The signed timestamp is more than 5 minutes away", "status": 401})
        );
    }

    #[test]
    fn every_answer_carries_its_outcome() {
        for p in Problem::all(&GhlRefusal::ALL) {
            let delivery = answer(problem(p, None)).extensions().get::<Delivery>().copied();
            let expected = match p.status().as_u16() {
                401 if p == Problem::Own(GhlRefusal::TimestampOutsideWindow) => Delivery::Refused(Refusal::Stale),
                401 if p == Problem::Own(GhlRefusal::TimestampMissing) => Delivery::Refused(Refusal::Malformed),
                401 => Delivery::Refused(Refusal::Signature),
                429 | 500 => Delivery::Failed(p.slug()),
                _ => Delivery::Refused(Refusal::Malformed),
            };
            assert_eq!(delivery, Some(expected), "{p:?}");
        }
        assert_eq!(answer(ignored(Ignored::UnknownLocation)).extensions().get::<Delivery>(), Some(&Delivery::Ignored("unknown-location")));
        assert_eq!(json(&ignored(Ignored::UnknownLocation)), serde_json::json!({"status": "ignored", "reason": "unknown location"}));
    }

    #[test]
    fn only_an_outage_asks_for_a_retry() {
        // GHL retries 429 and nothing else: an outage must be a 429 with Retry-After, and no
        // problem caused by the input may be a 5xx.
        for p in Problem::all(&GhlRefusal::ALL) {
            let r = answer(problem(p, None));
            assert_eq!(r.status() == StatusCode::TOO_MANY_REQUESTS, p == Problem::DatabaseUnavailable, "{p:?}");
            assert_eq!(r.headers().contains_key(header::RETRY_AFTER), p == Problem::DatabaseUnavailable, "{p:?}");
            assert_eq!(r.status().is_server_error(), p == Problem::Internal, "{p:?}");
        }
        assert_eq!(answer(problem(Problem::DatabaseUnavailable, None)).headers()[header::RETRY_AFTER], RETRY_AFTER_SECONDS);
    }
}
