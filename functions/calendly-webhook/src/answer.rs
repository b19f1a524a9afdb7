//! Every answer the function gives: JSON for deliveries it took, `application/problem+json`
//! (RFC 9457) with a stable `type` for those it refused. No answer ever quotes the request.

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use shared::metrics::{self, Delivery, Refusal};

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

impl Ignored {
    pub fn reason(self) -> &'static str {
        match self {
            Ignored::EventType => "event type not recorded",
            Ignored::NoMatchingLead => "no matching lead",
            Ignored::UnknownInvitee => "unknown invitee",
        }
    }

    /// The metric's `Reason`.
    pub fn label(self) -> &'static str {
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

/// Prefix of every problem `type` of this function.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:problem-type:calendly-webhook:";

impl Problem {
    pub fn status(self) -> StatusCode {
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

    /// The stable last part of the `type` URI.
    pub fn slug(self) -> &'static str {
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

    /// What the refusal counts as in the metrics.
    pub fn delivery(self) -> Delivery {
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

    pub fn title(self) -> &'static str {
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

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

/// The answer for a refusal. `detail` is always our own text.
pub fn problem(p: Problem, detail: Option<&'static str>) -> Response<Body> {
    let body = ProblemBody { kind: format!("{PROBLEM_TYPE_PREFIX}{}", p.slug()), title: p.title(), status: p.status().as_u16(), detail };
    let mut builder =
        Response::builder().status(p.status()).header(header::CONTENT_TYPE, "application/problem+json").extension(p.delivery());
    if p == Problem::MethodNotAllowed {
        builder = builder.header(header::ALLOW, "POST");
    }
    if p == Problem::DatabaseUnavailable {
        builder = builder.header(header::RETRY_AFTER, "5");
    }
    builder.body(Body::Text(serde_json::to_string(&body).expect("serializable"))).expect("valid response")
}

/// Counts a delivery by the outcome its answer carries (every answer of this module carries one),
/// and hands the answer back.
pub fn count(response: Response<Body>) -> Response<Body> {
    if let Some(delivery) = response.extensions().get::<Delivery>() {
        metrics::webhook_delivery(*delivery);
    }
    response
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Taken<'a> {
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    appointment_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// 200 `{"status":"recorded","appointmentId":...}`.
pub fn recorded(appointment_id: &str) -> Response<Body> {
    ok(Taken { status: "recorded", appointment_id: Some(appointment_id), reason: None }, Delivery::Recorded)
}

/// 200 `{"status":"duplicate","appointmentId":...}`: nothing new, nothing written.
pub fn duplicate(appointment_id: &str) -> Response<Body> {
    ok(Taken { status: "duplicate", appointment_id: Some(appointment_id), reason: None }, Delivery::Duplicate)
}

/// 200 `{"status":"ignored","reason":...}`.
pub fn ignored(why: Ignored) -> Response<Body> {
    ok(Taken { status: "ignored", appointment_id: None, reason: Some(why.reason()) }, Delivery::Ignored(why.label()))
}

fn ok(body: Taken<'_>, delivery: Delivery) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .extension(delivery)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(serde_json::to_string(&body).expect("serializable")))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(r: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(r.body().as_ref()).unwrap()
    }

    #[test]
    fn problem_types_are_distinct_and_stable() {
        use Problem::*;
        let all = [
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
        ];
        let mut slugs: Vec<_> = all.iter().map(|p| p.slug()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), all.len());
        let r = problem(SignatureMismatch, None);
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(
            json(&r),
            serde_json::json!({"type": "urn:problem-type:calendly-webhook:signature-mismatch", "title": "The signature does not match the body", "status": 401})
        );
        assert_eq!(problem(DatabaseUnavailable, None).headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn every_answer_carries_its_outcome() {
        use Problem::*;
        let cases = [
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
