//! The answers of the webhook functions: JSON for deliveries they took, `application/problem+json`
//! (RFC 9457) with a stable `type` for those they refused, and which refusal a failed write gets.
//! No answer ever quotes the request. The refusals every function makes are [`Refused`], once for
//! all; each function adds its own and its own words (a type implementing [`Provider`]), and what
//! differs between providers (the status that asks for a retry) is there.

use http::{header, Response, StatusCode};
use serde::Serialize;

use crate::metrics::{self, Delivery, Refusal};
use crate::{Change, Error, RecordOutcome};

/// A refused delivery: the refusals every webhook function makes, each with one status, `type`
/// and metric everywhere, and the function's own (`O`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused<O> {
    /// A request method other than POST (answered with `Allow: POST`).
    MethodNotAllowed,
    PayloadTooLarge,
    SignatureMissing,
    SignatureMalformed,
    SignatureMismatch,
    NotJson,
    InvalidPayload,
    /// The database is away or a write kept losing races: the refusal the provider retries
    /// (answered with `Retry-After`).
    DatabaseUnavailable,
    /// Anything else that went wrong on our side.
    Internal,
    Own(O),
}

/// What a webhook function says its own way: its problem `type` prefix, how its provider is asked
/// to retry, the titles that name its header, body limit or payload, and its own refusals.
pub trait Provider: Copy + PartialEq {
    /// Prefix of every problem `type` of the function, e.g. `urn:problem-type:calendly-webhook:`.
    const TYPE_PREFIX: &'static str;
    /// The status the provider retries (an outage answers with it).
    const RETRY_STATUS: StatusCode;
    /// Seconds the provider is asked to wait before retrying.
    const RETRY_AFTER_SECONDS: &'static str;
    const PAYLOAD_TOO_LARGE_TITLE: &'static str;
    const SIGNATURE_MISSING_TITLE: &'static str;
    const SIGNATURE_MALFORMED_TITLE: &'static str;
    const INVALID_PAYLOAD_TITLE: &'static str;

    fn status(self) -> StatusCode;
    /// The stable last part of the `type` URI.
    fn slug(self) -> &'static str;
    fn title(self) -> &'static str;
    /// What the refusal counts as in the metrics.
    fn delivery(self) -> Delivery;
}

impl<O: Provider> Refused<O> {
    pub fn status(self) -> StatusCode {
        match self {
            Refused::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refused::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refused::SignatureMissing | Refused::SignatureMalformed | Refused::SignatureMismatch => StatusCode::UNAUTHORIZED,
            Refused::NotJson | Refused::InvalidPayload => StatusCode::BAD_REQUEST,
            Refused::DatabaseUnavailable => O::RETRY_STATUS,
            Refused::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Refused::Own(own) => own.status(),
        }
    }

    /// The stable last part of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Refused::MethodNotAllowed => "method-not-allowed",
            Refused::PayloadTooLarge => "payload-too-large",
            Refused::SignatureMissing => "signature-missing",
            Refused::SignatureMalformed => "signature-malformed",
            Refused::SignatureMismatch => "signature-mismatch",
            Refused::NotJson => "not-json",
            Refused::InvalidPayload => "invalid-payload",
            Refused::DatabaseUnavailable => "database-unavailable",
            Refused::Internal => "internal-error",
            Refused::Own(own) => own.slug(),
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Refused::MethodNotAllowed => "Only POST is accepted",
            Refused::PayloadTooLarge => O::PAYLOAD_TOO_LARGE_TITLE,
            Refused::SignatureMissing => O::SIGNATURE_MISSING_TITLE,
            Refused::SignatureMalformed => O::SIGNATURE_MALFORMED_TITLE,
            Refused::SignatureMismatch => "The signature does not match the body",
            Refused::NotJson => "The body is not JSON",
            Refused::InvalidPayload => O::INVALID_PAYLOAD_TITLE,
            Refused::DatabaseUnavailable => "The database is unavailable; try again later",
            Refused::Internal => "Internal error",
            Refused::Own(own) => own.title(),
        }
    }

    /// What the refusal counts as in the metrics.
    pub fn delivery(self) -> Delivery {
        match self {
            Refused::MethodNotAllowed | Refused::PayloadTooLarge | Refused::NotJson | Refused::InvalidPayload => {
                Delivery::Refused(Refusal::Malformed)
            }
            Refused::SignatureMissing | Refused::SignatureMalformed | Refused::SignatureMismatch => Delivery::Refused(Refusal::Signature),
            Refused::DatabaseUnavailable | Refused::Internal => Delivery::Failed(self.slug()),
            Refused::Own(own) => own.delivery(),
        }
    }

    /// Every refusal, the function's own (`own`) included: for tests that walk them all.
    pub fn all(own: &[O]) -> Vec<Self> {
        let shared = [
            Refused::MethodNotAllowed,
            Refused::PayloadTooLarge,
            Refused::SignatureMissing,
            Refused::SignatureMalformed,
            Refused::SignatureMismatch,
            Refused::NotJson,
            Refused::InvalidPayload,
            Refused::DatabaseUnavailable,
            Refused::Internal,
        ];
        shared.into_iter().chain(own.iter().copied().map(Refused::Own)).collect()
    }
}

/// Why a delivery was taken but not recorded.
pub trait Ignored: Copy {
    /// Its words in the answer and in the metric, stated together.
    fn why(self) -> Why;

    /// The answer's `reason`.
    fn reason(self) -> &'static str {
        self.why().reason
    }

    /// The metric's `Reason`.
    fn label(self) -> &'static str {
        self.why().label
    }
}

/// Why a delivery was ignored: the answer's `reason` (words) and the metric's `Reason` (a fixed
/// lower-case label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Why {
    pub reason: &'static str,
    pub label: &'static str,
}

impl Why {
    /// A delivery of an event type the service does not record (both providers send others).
    pub const EVENT_TYPE: Why = Why { reason: "event type not recorded", label: "event-type" };
    /// A delivery whose appointment matches none of the client's leads.
    pub const NO_MATCHING_LEAD: Why = Why { reason: "no matching lead", label: "no-matching-lead" };
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
pub fn problem<O: Provider, B: From<String>>(p: Refused<O>, detail: Option<&'static str>) -> Response<B> {
    let body = ProblemBody { kind: format!("{}{}", O::TYPE_PREFIX, p.slug()), title: p.title(), status: p.status().as_u16(), detail };
    let mut builder =
        Response::builder().status(p.status()).header(header::CONTENT_TYPE, "application/problem+json").extension(p.delivery());
    if p == Refused::MethodNotAllowed {
        builder = builder.header(header::ALLOW, "POST");
    }
    // Every refusal the provider retries (the database away, or a function's own outage) says when.
    if p.status() == O::RETRY_STATUS {
        builder = builder.header(header::RETRY_AFTER, O::RETRY_AFTER_SECONDS);
    }
    builder.body(B::from(serde_json::to_string(&body).expect("serializable"))).expect("valid response")
}

/// Counts a delivery by the outcome its answer carries (every answer of this module carries one),
/// and hands the answer back.
pub fn count<B>(response: Response<B>) -> Response<B> {
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
pub fn recorded<B: From<String>>(appointment_id: &str) -> Response<B> {
    ok(Taken { status: "recorded", appointment_id: Some(appointment_id), reason: None }, Delivery::Recorded)
}

/// 200 `{"status":"duplicate","appointmentId":...}`: nothing new, nothing written.
pub fn duplicate<B: From<String>>(appointment_id: &str) -> Response<B> {
    ok(Taken { status: "duplicate", appointment_id: Some(appointment_id), reason: None }, Delivery::Duplicate)
}

/// The answer for a write: [`duplicate`] when it changed nothing, else [`recorded`].
pub fn written<B: From<String>>(outcome: &RecordOutcome) -> Response<B> {
    if outcome.change == Change::Unchanged {
        duplicate(&outcome.appointment_id)
    } else {
        recorded(&outcome.appointment_id)
    }
}

/// 200 `{"status":"ignored","reason":...}`.
pub fn ignored<I: Ignored, B: From<String>>(why: I) -> Response<B> {
    ok(Taken { status: "ignored", appointment_id: None, reason: Some(why.reason()) }, Delivery::Ignored(why.label()))
}

fn ok<B: From<String>>(body: Taken<'_>, delivery: Delivery) -> Response<B> {
    Response::builder()
        .status(StatusCode::OK)
        .extension(delivery)
        .header(header::CONTENT_TYPE, "application/json")
        .body(B::from(serde_json::to_string(&body).expect("serializable")))
        .expect("valid response")
}

/// The refusal for a write that failed: [`Refused::DatabaseUnavailable`] when the database is
/// away or a write kept losing races (the provider should try again), else [`Refused::Internal`].
/// Logs the cause without a database message (one can quote a value); run it inside the
/// delivery's span for its ids.
pub fn write_failed<O: Provider>(e: &Error) -> Refused<O> {
    match e {
        Error::Unavailable(_) => {
            tracing::warn!("delivery not recorded: database unavailable");
            Refused::DatabaseUnavailable
        }
        Error::Database { code, .. } if e.is_retryable() => {
            tracing::warn!(sqlstate = %code, "delivery not recorded: contention");
            Refused::DatabaseUnavailable
        }
        Error::Database { code, .. } => {
            tracing::error!(sqlstate = %code, "delivery not recorded: database error");
            Refused::Internal
        }
        other => {
            let what = match other {
                Error::Config(_) => "configuration",
                Error::Migration(_) => "migration",
                Error::Corrupt(_) => "unexpected stored value",
                _ => "other",
            };
            tracing::error!(error = what, "delivery not recorded");
            Refused::Internal
        }
    }
}

#[cfg(test)]
mod tests {
    // The refusals and their headers are tested with a real provider's words, in the webhook
    // functions' `answer` modules.
    use super::*;

    #[test]
    fn taken_deliveries_answer_200_with_what_became_of_them() {
        let json = |r: &Response<String>| serde_json::from_str::<serde_json::Value>(r.body()).unwrap();
        let r: Response<String> = recorded("a1");
        assert_eq!((r.status(), r.extensions().get::<Delivery>()), (StatusCode::OK, Some(&Delivery::Recorded)));
        assert_eq!(json(&r), serde_json::json!({"status": "recorded", "appointmentId": "a1"}));
        let r: Response<String> = duplicate("a1");
        assert_eq!((r.status(), r.extensions().get::<Delivery>()), (StatusCode::OK, Some(&Delivery::Duplicate)));
        assert_eq!(json(&r), serde_json::json!({"status": "duplicate", "appointmentId": "a1"}));
    }
}
