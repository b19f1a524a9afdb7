//! Every answer the function gives: JSON for deliveries it took, `application/problem+json`
//! (RFC 9457) with a stable `type` for those it refused. No answer ever quotes the request.

use lambda_http::http::StatusCode;
use shared::metrics::{Delivery, Refusal};
use shared::webhook::Why;
pub use shared::webhook::{count, duplicate, ignored, problem, recorded, written};

/// Why a delivery was taken but not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// An event type this service does not record.
    EventType,
    /// An invitee event for which no lead of the client matches.
    NoMatchingLead,
    /// A no-show event for an invitee the client has no appointment for, and Calendly's API does
    /// not know it either (404, or another refusal of the request itself).
    UnknownInvitee,
    /// A no-show event for an invitee the client has no appointment for, and the client has no
    /// Calendly token to look the invitee up with.
    NoCalendlyToken,
    /// A no-show event for an invitee the client has no appointment for, and Calendly refused the
    /// client's token (401/403) when asked about it: retrying would not help.
    CalendlyTokenRefused,
    /// A no-show event for an invitee the client has no appointment for, and what Calendly's API
    /// answered about it cannot be recorded (malformed, another invitee, unusable times).
    InviteeUnreadable,
}

impl shared::webhook::Ignored for Ignored {
    fn why(self) -> Why {
        match self {
            Ignored::EventType => Why::EVENT_TYPE,
            Ignored::NoMatchingLead => Why::NO_MATCHING_LEAD,
            Ignored::UnknownInvitee => Why { reason: "unknown invitee", label: "unknown-invitee" },
            Ignored::NoCalendlyToken => Why { reason: "unknown invitee; no Calendly token to look it up", label: "no-calendly-token" },
            Ignored::CalendlyTokenRefused => {
                Why { reason: "unknown invitee; Calendly refused the client's token", label: "calendly-token-refused" }
            }
            Ignored::InviteeUnreadable => {
                Why { reason: "unknown invitee; Calendly's answer about it is unusable", label: "invitee-unreadable" }
            }
        }
    }
}

/// A refused delivery: the refusals every webhook function makes, and Calendly's own.
pub type Problem = shared::webhook::Refused<CalendlyRefusal>;

/// The refusals only this function makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalendlyRefusal {
    UnknownClient,
    SigningKeyNotConfigured,
    SignatureOutsideWindow,
    /// Calendly's API, asked about a no-show's unknown invitee, is away (5xx, timeout, 429):
    /// retried like the database being away.
    CalendlyApiUnavailable,
}

impl CalendlyRefusal {
    pub const ALL: [CalendlyRefusal; 4] = [
        CalendlyRefusal::UnknownClient,
        CalendlyRefusal::SigningKeyNotConfigured,
        CalendlyRefusal::SignatureOutsideWindow,
        CalendlyRefusal::CalendlyApiUnavailable,
    ];
}

/// Calendly retries any answer that is not a 2xx, so an outage is a 503.
impl shared::webhook::Provider for CalendlyRefusal {
    const TYPE_PREFIX: &'static str = "urn:problem-type:calendly-webhook:";
    const RETRY_STATUS: StatusCode = StatusCode::SERVICE_UNAVAILABLE;
    const RETRY_AFTER_SECONDS: &'static str = "5";
    const PAYLOAD_TOO_LARGE_TITLE: &'static str = "The body is larger than 1 MiB";
    const SIGNATURE_MISSING_TITLE: &'static str = "The Calendly-Webhook-Signature header is missing";
    const SIGNATURE_MALFORMED_TITLE: &'static str = "The Calendly-Webhook-Signature header is malformed";
    const INVALID_PAYLOAD_TITLE: &'static str = "The body is not a Calendly v2 webhook delivery";

    fn status(self) -> StatusCode {
        match self {
            CalendlyRefusal::UnknownClient => StatusCode::NOT_FOUND,
            CalendlyRefusal::SigningKeyNotConfigured | CalendlyRefusal::SignatureOutsideWindow => StatusCode::UNAUTHORIZED,
            CalendlyRefusal::CalendlyApiUnavailable => Self::RETRY_STATUS,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            CalendlyRefusal::UnknownClient => "unknown-client",
            CalendlyRefusal::SigningKeyNotConfigured => "signing-key-not-configured",
            CalendlyRefusal::SignatureOutsideWindow => "signature-outside-window",
            CalendlyRefusal::CalendlyApiUnavailable => "calendly-api-unavailable",
        }
    }

    fn title(self) -> &'static str {
        match self {
            CalendlyRefusal::UnknownClient => "No such client",
            CalendlyRefusal::SigningKeyNotConfigured => "The client has no Calendly signing key",
            CalendlyRefusal::SignatureOutsideWindow => "The signature's timestamp is outside the 3-minute window",
            CalendlyRefusal::CalendlyApiUnavailable => "Calendly's API is unavailable; retry later",
        }
    }

    fn delivery(self) -> Delivery {
        match self {
            CalendlyRefusal::UnknownClient => Delivery::Refused(Refusal::UnknownClient),
            CalendlyRefusal::SigningKeyNotConfigured => Delivery::Refused(Refusal::NoSigningKey),
            CalendlyRefusal::SignatureOutsideWindow => Delivery::Refused(Refusal::Stale),
            CalendlyRefusal::CalendlyApiUnavailable => Delivery::Failed("calendly-api-unavailable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::header;
    use lambda_http::{Body, Response};

    use super::*;

    fn json(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn problem_types_are_distinct_and_stable() {
        let mut slugs: Vec<_> = Problem::all(&CalendlyRefusal::ALL).iter().map(|p| p.slug()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), Problem::all(&CalendlyRefusal::ALL).len());
        let r: Response<Body> = problem(Problem::Own(CalendlyRefusal::SignatureOutsideWindow), None);
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(
            json(&r),
            serde_json::json!({"type": "urn:problem-type:calendly-webhook:signature-outside-window", "title": "The signature's timestamp is outside the 3-minute window", "status": 401})
        );
        let outage: Response<Body> = problem(Problem::DatabaseUnavailable, None);
        assert_eq!(outage.status(), 503);
        assert_eq!(outage.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn every_answer_carries_its_outcome() {
        use CalendlyRefusal::*;
        let cases: [(Response<Body>, Delivery); 6] = [
            (problem(Problem::Own(SignatureOutsideWindow), None), Delivery::Refused(Refusal::Stale)),
            (problem(Problem::Own(SigningKeyNotConfigured), None), Delivery::Refused(Refusal::NoSigningKey)),
            (problem(Problem::Own(UnknownClient), None), Delivery::Refused(Refusal::UnknownClient)),
            (problem(Problem::DatabaseUnavailable, None), Delivery::Failed("database-unavailable")),
            (ignored(Ignored::NoMatchingLead), Delivery::Ignored("no-matching-lead")),
            (ignored(Ignored::UnknownInvitee), Delivery::Ignored("unknown-invitee")),
        ];
        for (response, expected) in cases {
            assert_eq!(response.extensions().get::<Delivery>(), Some(&expected), "{}", response.status());
        }
        assert_eq!(json(&ignored(Ignored::NoMatchingLead)), serde_json::json!({"status": "ignored", "reason": "no matching lead"}));
    }
}
