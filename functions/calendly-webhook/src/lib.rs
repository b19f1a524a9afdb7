//! `calendly-webhook`: `POST /webhooks/calendly/{clientId}` receives Calendly's signed deliveries,
//! verifies them against the client's signing key and records invitee events through the single
//! write path (`Store::record`). A no-show of an invitee it does not hold yet is read from
//! Calendly's API ([`invitee_lookup`]).
//!
//! The order of checks is the order of cost: size, client, signature, parsing, then the database
//! write. Nothing is written unless every check before the write passed.

pub mod answer;
pub mod calendly;
pub mod invitee_lookup;
pub mod mapping;
pub mod signature;
pub mod signing_keys;

use chrono::{DateTime, Utc};
use lambda_http::http::{HeaderMap, Method};
use lambda_http::{Body, Request, Response};
use shared::providers::calendly::CalendlyClient;
use shared::webhook::Ignored as _;
use shared::{Error, RecordOutcome, Store};

use answer::{CalendlyRefusal, Ignored, Problem};
use calendly::{Delivery, ParseError};
use signature::SignatureError;
pub use signing_keys::{ClientKey, SigningKeys};

/// Largest body accepted. Calendly's deliveries are a few kilobytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The route's fixed part; the client id is the one segment after it.
const ROUTE_PREFIX: &str = "/webhooks/calendly/";

/// What a warm process keeps between invocations.
pub struct App {
    pub store: Store,
    pub keys: SigningKeys,
    /// Calendly's API, for the invitees of no-shows that arrive before their booking.
    pub calendly: CalendlyClient,
    /// How long such a lookup may take in all.
    pub lookup_budget: std::time::Duration,
}

impl App {
    /// With Calendly's real API ([`invitee_lookup::default_api`]).
    pub fn new(store: Store) -> Self {
        App::with_keys(store, SigningKeys::new(signing_keys::DEFAULT_TTL))
    }

    pub fn with_keys(store: Store, keys: SigningKeys) -> Self {
        App { store, keys, calendly: invitee_lookup::default_api(), lookup_budget: invitee_lookup::LOOKUP_BUDGET }
    }

    /// The same, asking this Calendly API client.
    pub fn with_calendly(self, calendly: CalendlyClient) -> Self {
        App { calendly, ..self }
    }
}

/// The Lambda entry: reads method, path, headers and the raw body, then [`handle`]s it.
pub async fn handle_request(app: &App, req: Request) -> Response<Body> {
    if req.method() != Method::POST {
        return answer::count(answer::problem(Problem::MethodNotAllowed, None));
    }
    let Some(client_id) = client_id_from_path(req.uri().path()) else {
        return answer::count(answer::problem(Problem::Own(CalendlyRefusal::UnknownClient), None));
    };
    let client_id = client_id.to_string();
    handle(app, &client_id, req.headers(), req.body().as_ref(), Utc::now()).await
}

/// The client id in `.../webhooks/calendly/{clientId}` (API Gateway's path, or the cargo-lambda
/// function URL's `/lambda-url/calendly-webhook/webhooks/calendly/{clientId}`). Ids are Prisma
/// cuids/uuids: anything else cannot name a client and is not looked up.
pub fn client_id_from_path(path: &str) -> Option<&str> {
    let start = path.rfind(ROUTE_PREFIX)? + ROUTE_PREFIX.len();
    let id = path[start..].strip_suffix('/').unwrap_or(&path[start..]);
    let valid = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then_some(id)
}

/// One delivery for one client, `now` being the time the signature window is measured from.
pub async fn handle(app: &App, client_id: &str, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Response<Body> {
    // Every answer carries its outcome; counted here, once per delivery (`shared::metrics`).
    answer::count(respond(app, client_id, headers, body, now).await)
}

async fn respond(app: &App, client_id: &str, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Response<Body> {
    if body.len() > MAX_BODY_BYTES {
        tracing::info!(client_id, bytes = body.len(), "calendly delivery refused: body too large");
        return answer::problem(Problem::PayloadTooLarge, None);
    }

    let key = match app.keys.get(&app.store, client_id).await {
        Ok(ClientKey::Key(key)) => key,
        Ok(ClientKey::NoKey) => {
            tracing::warn!(client_id, "calendly delivery refused: the client has no signing key");
            return answer::problem(Problem::Own(CalendlyRefusal::SigningKeyNotConfigured), None);
        }
        Ok(ClientKey::UnknownClient) => {
            tracing::info!(client_id, "calendly delivery refused: unknown client");
            return answer::problem(Problem::Own(CalendlyRefusal::UnknownClient), None);
        }
        Err(e) => return database_problem(client_id, &e),
    };

    let header = headers.get(signature::HEADER).map(|v| v.to_str().unwrap_or(""));
    if let Err(e) = signature::verify_signature(header, body, key.as_bytes(), now.timestamp()) {
        tracing::warn!(client_id, reason = e.describe(), "calendly delivery refused: signature");
        return answer::problem(
            match e {
                SignatureError::Missing => Problem::SignatureMissing,
                SignatureError::Malformed => Problem::SignatureMalformed,
                SignatureError::OutsideWindow => Problem::Own(CalendlyRefusal::SignatureOutsideWindow),
                SignatureError::Mismatch => Problem::SignatureMismatch,
            },
            None,
        );
    }

    tracing::debug!(client_id, bytes = body.len(), "calendly delivery signature verified");

    let delivery = match calendly::parse(body) {
        Ok(d) => d,
        Err(e) => {
            tracing::info!(client_id, error = ?e, "calendly delivery refused: unreadable body");
            return match e {
                ParseError::NotJson => answer::problem(Problem::NotJson, None),
                ParseError::RepeatedKey => answer::problem(Problem::InvalidPayload, Some(shared::json::REPEATED_KEY_DETAIL)),
                ParseError::WrongShape => answer::problem(Problem::InvalidPayload, None),
            };
        }
    };
    let kind = delivery.kind();
    let obs = match mapping::observation(client_id, &delivery) {
        Ok(Some(obs)) => obs,
        Ok(None) => {
            tracing::info!(client_id, kind, "calendly delivery ignored: event type not recorded");
            return answer::ignored(Ignored::EventType);
        }
        Err(invalid) => {
            tracing::info!(client_id, kind, problem = invalid.0, "calendly delivery refused: invalid payload");
            return answer::problem(Problem::InvalidPayload, Some(invalid.0));
        }
    };
    tracing::debug!(client_id, kind, invitee = obs.key.as_deref().unwrap_or(""), lead = %obs.lead, "calendly delivery mapped");
    let is_no_show = matches!(delivery, Delivery::NoShowCreated(_) | Delivery::NoShowDeleted(_));
    let invitee = obs.key.clone().unwrap_or_default();
    let status = obs.status.label();
    let delivered_at = obs.provider_updated_at;

    match app.store.record(obs).await {
        Ok(outcome) => recorded(client_id, kind, &invitee, status, "delivery", &outcome),
        // A no-show names only its invitee: one the client holds no appointment for yet (its
        // booking's delivery is late) is read from Calendly's API.
        Err(Error::LeadNotFound(_)) if is_no_show => {
            invitee_lookup::record_unknown_invitee(app, client_id, kind, &invitee, delivered_at).await
        }
        Err(Error::LeadNotFound(_)) => ignored(client_id, kind, &invitee, Ignored::NoMatchingLead),
        Err(Error::InvalidObservation(reason)) => {
            // The write path's own checks (key length, time order, the time window): the
            // payload's fault. Refused like a delivery without usable times (a genuine Calendly
            // booking is never outside the window), though Calendly retries it.
            tracing::info!(client_id, kind, invitee = %invitee, reason = %reason, "calendly delivery refused: the write path rejected it");
            answer::problem(Problem::InvalidPayload, None)
        }
        Err(e) => database_problem(client_id, &e),
    }
}

/// The answer for a recorded delivery (`from`: what the recorded state came from, the delivery or
/// Calendly's API), logged with ids only.
fn recorded(client_id: &str, kind: &str, invitee: &str, status: &str, from: &'static str, outcome: &RecordOutcome) -> Response<Body> {
    tracing::info!(
        client_id,
        kind,
        invitee,
        status,
        from,
        appointment_id = %outcome.appointment_id,
        lead_id = %outcome.lead_id,
        change = ?outcome.change,
        events = outcome.events,
        tasks = outcome.tasks_created,
        "calendly delivery recorded"
    );
    answer::written(outcome)
}

/// The answer for an invitee delivery taken but not recorded, logged with ids and the reason.
fn ignored(client_id: &str, kind: &str, invitee: &str, why: Ignored) -> Response<Body> {
    tracing::info!(client_id, kind, invitee, reason = why.reason(), "calendly delivery ignored");
    answer::ignored(why)
}

/// The refusal for a failed write (Calendly retries it when the database is away), logged with the client.
fn database_problem(client_id: &str, e: &Error) -> Response<Body> {
    let p: Problem = tracing::error_span!("calendly delivery", client_id).in_scope(|| shared::webhook::write_failed(e));
    answer::problem(p, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_from_the_path() {
        let table = [
            ("/webhooks/calendly/client_1", Some("client_1")),
            ("/webhooks/calendly/client_1/", Some("client_1")),
            ("/lambda-url/calendly-webhook/webhooks/calendly/cm0abc-123", Some("cm0abc-123")),
            ("/prod/webhooks/calendly/c1", Some("c1")),
            ("/webhooks/calendly/", None),
            ("/webhooks/calendly", None),
            ("/webhooks/calendly/a/b", None),
            ("/webhooks/calendly/a%20b", None),
            ("/webhooks/calendly/..", None),
            ("/other/c1", None),
        ];
        shared::testing::assert_table(table, |path| client_id_from_path(path));
        assert_eq!(client_id_from_path(&format!("/webhooks/calendly/{}", "a".repeat(129))), None);
    }
}
