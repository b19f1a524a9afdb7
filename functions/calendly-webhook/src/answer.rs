//! Every answer the function gives: JSON for deliveries it took, `application/problem+json`
//! (RFC 9457) with a stable `type` for those it refused. No answer ever quotes the request.

use lambda_http::http::StatusCode;
use shared::metrics::{Delivery, Refusal};
pub use shared::webhook::{count, duplicate, ignored, problem, recorded, written};

/// Why a delivery was taken but not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// An event type this service does not record.
    EventType,
    /// An invitee event for which no lead of the client matches.
    NoMatchingLead,
    /// A no-show event for an invitee the client has no appointment for.
    UnknownInvitee,
}

impl shared::webhook::Ignored for Ignored {
    fn reason(self) -> &'static str {
        match self {
            Ignored::EventType => "event type not recorded",
            Ignored::NoMatchingLead => "no matching lead",
            Ignored::UnknownInvitee => "unknown invitee",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Ignored::EventType => "event-type",
            Ignored::NoMatchingLead => "no-matching-lead",
            Ignored::UnknownInvitee => "unknown-invitee",
        }
    }
}

/// A refused delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    MethodNotAllowed,
    PayloadTooLarge,
    UnknownClient,
    SigningKeyNotConfigured,
    SignatureMissing,
    SignatureMalformed,
    SignatureOutsideWindow,
    SignatureMismatch,
    NotJson,
    InvalidPayload,
    DatabaseUnavailable,
    Internal,
}

impl Problem {
    pub const ALL: [Problem; 12] = [
        Problem::MethodNotAllowed,
        Problem::PayloadTooLarge,
        Problem::UnknownClient,
        Problem::SigningKeyNotConfigured,
        Problem::SignatureMissing,
        Problem::SignatureMalformed,
        Problem::SignatureOutsideWindow,
        Problem::SignatureMismatch,
        Problem::NotJson,
        Problem::InvalidPayload,
        Problem::DatabaseUnavailable,
        Problem::Internal,
    ];
}

/// Calendly retries any answer that is not a 2xx, so an outage is a 503.
impl shared::webhook::Problem for Problem {
    const TYPE_PREFIX: &'static str = "urn:problem-type:calendly-webhook:";
    const METHOD_NOT_ALLOWED: Self = Problem::MethodNotAllowed;
    const DATABASE_UNAVAILABLE: Self = Problem::DatabaseUnavailable;
    const INTERNAL: Self = Problem::Internal;
    const RETRY_AFTER_SECONDS: &'static str = "5";

    fn status(self) -> StatusCode {
        match self {
            Problem::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Problem::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Problem::UnknownClient => StatusCode::NOT_FOUND,
            Problem::SigningKeyNotConfigured
            | Problem::SignatureMissing
            | Problem::SignatureMalformed
            | Problem::SignatureOutsideWindow
            | Problem::SignatureMismatch => StatusCode::UNAUTHORIZED,
            Problem::NotJson | Problem::InvalidPayload => StatusCode::BAD_REQUEST,
            Problem::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Problem::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Problem::MethodNotAllowed => "method-not-allowed",
            Problem::PayloadTooLarge => "payload-too-large",
            Problem::UnknownClient => "unknown-client",
            Problem::SigningKeyNotConfigured => "signing-key-not-configured",
            Problem::SignatureMissing => "signature-missing",
            Problem::SignatureMalformed => "signature-malformed",
            Problem::SignatureOutsideWindow => "signature-outside-window",
            Problem::SignatureMismatch => "signature-mismatch",
            Problem::NotJson => "not-json",
            Problem::InvalidPayload => "invalid-payload",
            Problem::DatabaseUnavailable => "database-unavailable",
            Problem::Internal => "internal-error",
        }
    }

    fn delivery(self) -> Delivery {
        match self {
            Problem::MethodNotAllowed | Problem::PayloadTooLarge | Problem::NotJson | Problem::InvalidPayload => {
                Delivery::Refused(Refusal::Malformed)
            }
            Problem::UnknownClient => Delivery::Refused(Refusal::UnknownClient),
            Problem::SigningKeyNotConfigured => Delivery::Refused(Refusal::NoSigningKey),
            Problem::SignatureMissing | Problem::SignatureMalformed | Problem::SignatureMismatch => Delivery::Refused(Refusal::Signature),
            Problem::SignatureOutsideWindow => Delivery::Refused(Refusal::Stale),
            Problem::DatabaseUnavailable | Problem::Internal => Delivery::Failed(self.slug()),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Problem::MethodNotAllowed => "Only POST is accepted",
            Problem::PayloadTooLarge => "The body is larger than 1 MiB",
            Problem::UnknownClient => "No such client",
            Problem::SigningKeyNotConfigured => "The client has no Calendly signing key",
            Problem::SignatureMissing => "The Calendly-Webhook-Signature header is missing",
            Problem::SignatureMalformed => "The Calendly-Webhook-Signature header is malformed",
            Problem::SignatureOutsideWindow => "The signature's timestamp is outside the 3-minute window",
            Problem::SignatureMismatch => "The signature does not match the body",
            Problem::NotJson => "The body is not JSON",
            Problem::InvalidPayload => "The body is not a Calendly v2 webhook delivery",
            Problem::DatabaseUnavailable => "The database is unavailable; try again later",
            Problem::Internal => "Internal error",
        }
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::header;
    use lambda_http::{Body, Response};
    use shared::webhook::Problem as _;

    use super::*;

    fn json(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn problem_types_are_distinct_and_stable() {
        use Problem::*;
        let mut slugs: Vec<_> = Problem::ALL.iter().map(|p| p.slug()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), Problem::ALL.len());
        let r: Response<Body> = problem(SignatureMismatch, None);
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(
            json(&r),
            serde_json::json!({"type": "urn:problem-type:calendly-webhook:signature-mismatch", "title": "The signature does not match the body", "status": 401})
        );
        let outage: Response<Body> = problem(DatabaseUnavailable, None);
        assert_eq!(outage.status(), 503);
        assert_eq!(outage.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn every_answer_carries_its_outcome() {
        use Problem::*;
        let cases: [(Response<Body>, Delivery); 12] = [
            (problem(SignatureMismatch, None), Delivery::Refused(Refusal::Signature)),
            (problem(SignatureMissing, None), Delivery::Refused(Refusal::Signature)),
            (problem(SignatureOutsideWindow, None), Delivery::Refused(Refusal::Stale)),
            (problem(SigningKeyNotConfigured, None), Delivery::Refused(Refusal::NoSigningKey)),
            (problem(UnknownClient, None), Delivery::Refused(Refusal::UnknownClient)),
            (problem(NotJson, None), Delivery::Refused(Refusal::Malformed)),
            (problem(PayloadTooLarge, None), Delivery::Refused(Refusal::Malformed)),
            (problem(DatabaseUnavailable, None), Delivery::Failed("database-unavailable")),
            (problem(Internal, None), Delivery::Failed("internal-error")),
            (recorded("a1"), Delivery::Recorded),
            (duplicate("a1"), Delivery::Duplicate),
            (ignored(Ignored::NoMatchingLead), Delivery::Ignored("no-matching-lead")),
        ];
        for (response, expected) in cases {
            assert_eq!(response.extensions().get::<Delivery>(), Some(&expected), "{}", response.status());
        }
    }

    #[test]
    fn taken_bodies() {
        assert_eq!(json(&recorded("a1")), serde_json::json!({"status": "recorded", "appointmentId": "a1"}));
        assert_eq!(json(&duplicate("a1")), serde_json::json!({"status": "duplicate", "appointmentId": "a1"}));
        assert_eq!(json(&ignored(Ignored::NoMatchingLead)), serde_json::json!({"status": "ignored", "reason": "no matching lead"}));
    }
}
