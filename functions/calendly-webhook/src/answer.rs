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
    use shared::testing::assert_table;
    use shared::webhook::write_failed;
    use shared::Error;

    use super::*;

    fn json(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn every_refusal_with_its_status_type_title_and_outcome() {
        use CalendlyRefusal::*;
        use Refusal::{Malformed, NoSigningKey, Signature, Stale};
        let refused = Delivery::Refused;
        let cases = [
            (Problem::MethodNotAllowed, (405, "method-not-allowed", "Only POST is accepted", refused(Malformed))),
            (Problem::PayloadTooLarge, (413, "payload-too-large", "The body is larger than 1 MiB", refused(Malformed))),
            (Problem::SignatureMissing, (401, "signature-missing", "The Calendly-Webhook-Signature header is missing", refused(Signature))),
            (
                Problem::SignatureMalformed,
                (401, "signature-malformed", "The Calendly-Webhook-Signature header is malformed", refused(Signature)),
            ),
            (Problem::SignatureMismatch, (401, "signature-mismatch", "The signature does not match the body", refused(Signature))),
            (Problem::NotJson, (400, "not-json", "The body is not JSON", refused(Malformed))),
            (Problem::InvalidPayload, (400, "invalid-payload", "The body is not a Calendly v2 webhook delivery", refused(Malformed))),
            (
                Problem::DatabaseUnavailable,
                (503, "database-unavailable", "The database is unavailable; try again later", Delivery::Failed("database-unavailable")),
            ),
            (Problem::Internal, (500, "internal-error", "Internal error", Delivery::Failed("internal-error"))),
            (Problem::Own(UnknownClient), (404, "unknown-client", "No such client", Delivery::Refused(Refusal::UnknownClient))),
            (
                Problem::Own(SigningKeyNotConfigured),
                (401, "signing-key-not-configured", "The client has no Calendly signing key", refused(NoSigningKey)),
            ),
            (
                Problem::Own(SignatureOutsideWindow),
                (401, "signature-outside-window", "The signature's timestamp is outside the 3-minute window", refused(Stale)),
            ),
            (
                Problem::Own(CalendlyApiUnavailable),
                (
                    503,
                    "calendly-api-unavailable",
                    "Calendly's API is unavailable; retry later",
                    Delivery::Failed("calendly-api-unavailable"),
                ),
            ),
        ];
        assert_eq!(cases.len(), Problem::all(&CalendlyRefusal::ALL).len(), "every refusal is in the table");
        assert_table(cases, |p| (p.status().as_u16(), p.slug(), p.title(), p.delivery()));
    }

    #[test]
    fn a_problem_names_its_type_and_only_the_method_and_the_retried_refusals_add_headers() {
        let r: Response<Body> = problem(Problem::SignatureMismatch, Some("our own words"));
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(
            json(&r),
            serde_json::json!({"type": "urn:problem-type:calendly-webhook:signature-mismatch", "title": "The signature does not match the body", "status": 401, "detail": "our own words"})
        );
        assert_eq!(r.extensions().get::<Delivery>(), Some(&Delivery::Refused(Refusal::Signature)));
        for p in Problem::all(&CalendlyRefusal::ALL) {
            let r: Response<Body> = problem(p, None);
            assert_eq!(
                r.headers().get(header::ALLOW).map(|v| v.to_str().unwrap()),
                (p == Problem::MethodNotAllowed).then_some("POST"),
                "{p:?}"
            );
            let retried = [Problem::DatabaseUnavailable, Problem::Own(CalendlyRefusal::CalendlyApiUnavailable)].contains(&p);
            assert_eq!(r.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap()), retried.then_some("5"), "{p:?}");
            assert_eq!(
                json(&r),
                serde_json::json!({"type": format!("urn:problem-type:calendly-webhook:{}", p.slug()), "title": p.title(), "status": p.status().as_u16()})
            );
        }
    }

    #[test]
    fn a_failed_write_is_retried_only_when_the_database_is_away_or_contended() {
        let table = [
            (Error::Unavailable("connection refused".into()), Problem::DatabaseUnavailable),
            (Error::Database { code: "40001".into(), message: "could not serialize".into() }, Problem::DatabaseUnavailable),
            (Error::Database { code: "23502".into(), message: "null value".into() }, Problem::Internal),
            (Error::Config("DATABASE_URL".into()), Problem::Internal),
        ];
        assert_table(table, write_failed);
    }

    #[test]
    fn taken_and_ignored_deliveries_carry_their_outcome() {
        assert_eq!(
            ignored::<_, Body>(Ignored::NoMatchingLead).extensions().get::<Delivery>(),
            Some(&Delivery::Ignored("no-matching-lead"))
        );
        assert_eq!(ignored::<_, Body>(Ignored::UnknownInvitee).extensions().get::<Delivery>(), Some(&Delivery::Ignored("unknown-invitee")));
        assert_eq!(json(&ignored(Ignored::NoMatchingLead)), serde_json::json!({"status": "ignored", "reason": "no matching lead"}));
    }
}
