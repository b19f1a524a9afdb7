//! RFC 9457 problem details: the body of every answer that is not a success. `type` is a stable
//! URN per kind of problem so that callers can branch on it without parsing text.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// The kinds of problem this API answers with. The URN is part of the contract (see openapi.json).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Unauthorized,
    LeadNotFound,
    RouteNotFound,
    MethodNotAllowed,
    BadRequest,
    UnsupportedMediaType,
    PayloadTooLarge,
    Validation,
    IdempotencyKeyReused,
    IdempotencyKeyInProgress,
    ProviderIdConflict,
    Unavailable,
    Internal,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::Unauthorized,
        Kind::LeadNotFound,
        Kind::RouteNotFound,
        Kind::MethodNotAllowed,
        Kind::BadRequest,
        Kind::UnsupportedMediaType,
        Kind::PayloadTooLarge,
        Kind::Validation,
        Kind::IdempotencyKeyReused,
        Kind::IdempotencyKeyInProgress,
        Kind::ProviderIdConflict,
        Kind::Unavailable,
        Kind::Internal,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::LeadNotFound | Kind::RouteNotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::IdempotencyKeyReused | Kind::IdempotencyKeyInProgress | Kind::ProviderIdConflict => StatusCode::CONFLICT,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn type_uri(self) -> &'static str {
        match self {
            Kind::Unauthorized => "urn:appointment-history:problem:unauthorized",
            Kind::LeadNotFound => "urn:appointment-history:problem:lead-not-found",
            Kind::RouteNotFound => "urn:appointment-history:problem:route-not-found",
            Kind::MethodNotAllowed => "urn:appointment-history:problem:method-not-allowed",
            Kind::BadRequest => "urn:appointment-history:problem:bad-request",
            Kind::UnsupportedMediaType => "urn:appointment-history:problem:unsupported-media-type",
            Kind::PayloadTooLarge => "urn:appointment-history:problem:payload-too-large",
            Kind::Validation => "urn:appointment-history:problem:invalid-fields",
            Kind::IdempotencyKeyReused => "urn:appointment-history:problem:idempotency-key-reused",
            Kind::IdempotencyKeyInProgress => "urn:appointment-history:problem:idempotency-key-in-progress",
            Kind::ProviderIdConflict => "urn:appointment-history:problem:provider-id-conflict",
            Kind::Unavailable => "urn:appointment-history:problem:unavailable",
            Kind::Internal => "urn:appointment-history:problem:internal",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::Unauthorized => "Missing, invalid or expired bearer token",
            Kind::LeadNotFound => "Lead not found",
            Kind::RouteNotFound => "No such route",
            Kind::MethodNotAllowed => "Method not allowed on this route",
            Kind::BadRequest => "Bad request",
            Kind::UnsupportedMediaType => "The body must be application/json",
            Kind::PayloadTooLarge => "The body is too large",
            Kind::Validation => "Invalid fields",
            Kind::IdempotencyKeyReused => "Idempotency-Key already used with a different request",
            Kind::IdempotencyKeyInProgress => "A request with this Idempotency-Key is still being processed",
            Kind::ProviderIdConflict => "The provider appointment id belongs to another lead",
            Kind::Unavailable => "The database is unavailable; retry later",
            Kind::Internal => "Internal error",
        }
    }
}

/// Where an invalid value was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    Path,
    Query,
    Header,
    Body,
}

/// One invalid parameter, header or body field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    #[serde(rename = "in")]
    pub location: Location,
    pub name: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(location: Location, name: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError { location, name: name.into(), reason: reason.into() }
    }
}

/// A problem answer. `detail` never carries request values (they may be personal data).
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub kind: Kind,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    type_uri: &'static str,
    title: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl Problem {
    pub fn new(kind: Kind) -> Self {
        Problem { kind, detail: None, errors: Vec::new() }
    }

    pub fn detail(kind: Kind, detail: impl Into<String>) -> Self {
        Problem { kind, detail: Some(detail.into()), errors: Vec::new() }
    }

    pub fn fields(kind: Kind, errors: Vec<FieldError>) -> Self {
        Problem { kind, detail: None, errors }
    }

    /// The same body for a lead that does not exist and one the caller may not see.
    pub fn lead_not_found() -> Self {
        Problem::new(Kind::LeadNotFound)
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(Body {
            type_uri: self.kind.type_uri(),
            title: self.kind.title(),
            status: self.kind.status().as_u16(),
            detail: self.detail.as_deref(),
            errors: &self.errors,
        })
        .expect("problem serializes")
    }
}

impl From<shared::Error> for Problem {
    fn from(e: shared::Error) -> Self {
        match e {
            shared::Error::Unavailable(_) => {
                tracing::warn!(error = %e, "database unavailable");
                Problem::new(Kind::Unavailable)
            }
            shared::Error::LeadNotFound(_) => Problem::lead_not_found(),
            // The write path refuses, under the lead lock, a provider id another lead of the
            // workspace holds (another workspace's id is recorded without it, never refused).
            shared::Error::KeyOwnedElsewhere => Problem::new(Kind::ProviderIdConflict),
            shared::Error::InvalidObservation(reason) => {
                Problem::fields(Kind::Validation, vec![FieldError::new(Location::Body, "body", reason)])
            }
            other => {
                // Database messages carry SQLSTATE and constraint names, never row data.
                tracing::error!(error = %other, "request failed");
                Problem::new(Kind::Internal)
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self.kind {
            Kind::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Kind::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            Kind::IdempotencyKeyInProgress => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
