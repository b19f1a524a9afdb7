//! The answers of the webhook functions: JSON for deliveries they took, `application/problem+json`
//! (RFC 9457) with a stable `type` for those they refused, and which refusal a failed write gets.
//! No answer ever quotes the request. Each function keeps its own refusals (an enum implementing
//! [`Problem`]); what differs between providers (the status that asks for a retry) is in that enum.

use http::{header, Response, StatusCode};
use serde::Serialize;

use crate::metrics::{self, Delivery};
use crate::{Change, Error, RecordOutcome};

/// A function's refusals.
pub trait Problem: Copy + PartialEq {
    /// Prefix of every problem `type` of the function, e.g. `urn:problem-type:calendly-webhook:`.
    const TYPE_PREFIX: &'static str;
    /// The refusal of a request method other than POST (answered with `Allow: POST`).
    const METHOD_NOT_ALLOWED: Self;
    /// The refusal the provider retries: the database is away or a write kept losing races
    /// (answered with `Retry-After`).
    const DATABASE_UNAVAILABLE: Self;
    /// Anything else that went wrong on our side.
    const INTERNAL: Self;
    /// Seconds the provider is asked to wait before retrying.
    const RETRY_AFTER_SECONDS: &'static str;

    fn status(self) -> StatusCode;
    /// The stable last part of the `type` URI.
    fn slug(self) -> &'static str;
    fn title(self) -> &'static str;
    /// What the refusal counts as in the metrics.
    fn delivery(self) -> Delivery;
}

/// Why a delivery was taken but not recorded.
pub trait Ignored: Copy {
    /// The answer's `reason`.
    fn reason(self) -> &'static str;
    /// The metric's `Reason`.
    fn label(self) -> &'static str;
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
pub fn problem<P: Problem, B: From<String>>(p: P, detail: Option<&'static str>) -> Response<B> {
    let body = ProblemBody { kind: format!("{}{}", P::TYPE_PREFIX, p.slug()), title: p.title(), status: p.status().as_u16(), detail };
    let mut builder =
        Response::builder().status(p.status()).header(header::CONTENT_TYPE, "application/problem+json").extension(p.delivery());
    if p == P::METHOD_NOT_ALLOWED {
        builder = builder.header(header::ALLOW, "POST");
    }
    if p == P::DATABASE_UNAVAILABLE {
        builder = builder.header(header::RETRY_AFTER, P::RETRY_AFTER_SECONDS);
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

/// The refusal for a write that failed: [`Problem::DATABASE_UNAVAILABLE`] when the database is
/// away or a write kept losing races (the provider should try again), else [`Problem::INTERNAL`].
/// Logs the cause without a database message (one can quote a value); run it inside the
/// delivery's span for its ids.
pub fn write_failed<P: Problem>(e: &Error) -> P {
    match e {
        Error::Unavailable(_) => {
            tracing::warn!("delivery not recorded: database unavailable");
            P::DATABASE_UNAVAILABLE
        }
        Error::Database { code, .. } if e.is_retryable() => {
            tracing::warn!(sqlstate = %code, "delivery not recorded: contention");
            P::DATABASE_UNAVAILABLE
        }
        Error::Database { code, .. } => {
            tracing::error!(sqlstate = %code, "delivery not recorded: database error");
            P::INTERNAL
        }
        other => {
            let what = match other {
                Error::Config(_) => "configuration",
                Error::Migration(_) => "migration",
                Error::Corrupt(_) => "unexpected stored value",
                _ => "other",
            };
            tracing::error!(error = what, "delivery not recorded");
            P::INTERNAL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Refusal;

    /// A provider that retries only 429, like GHL.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Refused {
        Method,
        Signature,
        Outage,
        Broken,
    }

    impl Problem for Refused {
        const TYPE_PREFIX: &'static str = "urn:problem-type:test:";
        const METHOD_NOT_ALLOWED: Self = Refused::Method;
        const DATABASE_UNAVAILABLE: Self = Refused::Outage;
        const INTERNAL: Self = Refused::Broken;
        const RETRY_AFTER_SECONDS: &'static str = "7";

        fn status(self) -> StatusCode {
            match self {
                Refused::Method => StatusCode::METHOD_NOT_ALLOWED,
                Refused::Signature => StatusCode::UNAUTHORIZED,
                Refused::Outage => StatusCode::TOO_MANY_REQUESTS,
                Refused::Broken => StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
        fn slug(self) -> &'static str {
            match self {
                Refused::Method => "method",
                Refused::Signature => "signature",
                Refused::Outage => "outage",
                Refused::Broken => "broken",
            }
        }
        fn title(self) -> &'static str {
            "A title"
        }
        fn delivery(self) -> Delivery {
            match self {
                Refused::Outage | Refused::Broken => Delivery::Failed(self.slug()),
                _ => Delivery::Refused(Refusal::Signature),
            }
        }
    }

    fn json(r: &Response<String>) -> serde_json::Value {
        serde_json::from_str(r.body()).unwrap()
    }

    #[test]
    fn a_problem_names_its_type_and_only_the_two_special_refusals_add_headers() {
        let r: Response<String> = problem(Refused::Signature, Some("our own words"));
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(
            json(&r),
            serde_json::json!({"type": "urn:problem-type:test:signature", "title": "A title", "status": 401, "detail": "our own words"})
        );
        assert_eq!(r.extensions().get::<Delivery>(), Some(&Delivery::Refused(Refusal::Signature)));
        for p in [Refused::Method, Refused::Signature, Refused::Outage, Refused::Broken] {
            let r: Response<String> = problem(p, None);
            assert_eq!(r.headers().get(header::ALLOW).is_some(), p == Refused::Method, "{p:?}");
            assert_eq!(r.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap()), (p == Refused::Outage).then_some("7"), "{p:?}");
            assert!(json(&r).get("detail").is_none());
        }
        let method: Response<String> = problem(Refused::Method, None);
        assert_eq!(method.headers()[header::ALLOW], "POST");
    }

    #[test]
    fn a_failed_write_is_retried_only_when_the_database_is_away_or_contended() {
        let table = [
            (Error::Unavailable("connection refused".into()), Refused::Outage),
            (Error::Database { code: "40001".into(), message: "could not serialize".into() }, Refused::Outage),
            (Error::Database { code: "23502".into(), message: "null value".into() }, Refused::Broken),
            (Error::Config("DATABASE_URL".into()), Refused::Broken),
        ];
        for (e, expected) in table {
            assert_eq!(write_failed::<Refused>(&e), expected, "{e:?}");
        }
    }
}
