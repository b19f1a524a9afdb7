//! The HTTP routes. Every handler: authenticate (401), check the query (400), find the lead within
//! the caller's workspaces (404, the same for a lead that does not exist), then do the work.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use shared::{Change, Observation, Store};

use crate::auth::{Authenticator, Claims};
use crate::booking;
use crate::config::AppConfig;
use crate::history::{self, Include, LeadHistory};
use crate::idempotency::{self, Claim};
use crate::problem::{FieldError, Kind, Location, Problem};
use crate::{query, ui, views};

/// Local serving through cargo-lambda (`/lambda-url/<function>/...`) reaches the same routes.
pub const LOCAL_PREFIX: &str = "/lambda-url/appointment-history";
/// Lead ids are short (uuid or cuid); anything longer cannot be one and is answered as not found.
const MAX_LEAD_ID_CHARS: usize = 200;

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The process's state: one store (one connection, reused while the Lambda is warm), the token
/// checker and the settings.
pub struct App {
    pub store: Store,
    pub auth: Authenticator,
    pub config: AppConfig,
    pub clock: Clock,
}

impl App {
    pub fn new(config: AppConfig) -> Self {
        App { store: Store::new(config.database.clone()), auth: Authenticator::new(&config), config, clock: Arc::new(Utc::now) }
    }

    /// Reads the time from `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

pub fn router(app: Arc<App>) -> Router {
    let routes = || {
        Router::new()
            .route("/leads/{lead_id}/appointments", get(get_timeline).post(post_appointment))
            .route("/leads/{lead_id}/booking-status", get(get_booking_status))
            .route("/ui/{file}", get(ui::asset))
            .route_layer(axum::middleware::from_fn(count_request))
    };
    Router::new()
        .merge(routes())
        .nest(LOCAL_PREFIX, routes())
        .fallback(|| async { Problem::new(Kind::RouteNotFound) })
        .method_not_allowed_fallback(|| async { Problem::new(Kind::MethodNotAllowed) })
        // Bodies are small; stop reading a larger one early (answered 413 as a problem).
        .layer(DefaultBodyLimit::max(crate::booking::MAX_BODY_BYTES))
        .with_state(app)
}

type Answer = Result<Response, Problem>;

/// Counts every routed request by route template and status, with its latency (`shared::metrics`).
/// The template, never the path: a path holds ids.
async fn count_request(route: MatchedPath, request: Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let template = route.as_str().strip_prefix(LOCAL_PREFIX).unwrap_or(route.as_str());
    let label = format!("{} {template}", request.method());
    let response = next.run(request).await;
    shared::metrics::api_request(&label, response.status().as_u16(), started.elapsed());
    response
}

// GET handlers take the request whole and read its headers and query in place (no copies).
async fn get_timeline(State(app): State<Arc<App>>, path: Result<Path<String>, PathRejection>, request: Request) -> Answer {
    let claims = app.auth.verify(request.headers())?;
    let q = query::timeline(request.uri().query())?;
    let lead_id = lead_id(path)?;
    let history = visible_history(&app.store, &claims, &lead_id, q.include).await?;
    let view = views::timeline(&history, &q.filters, q.cursor.as_ref().map(|c| &c.after), q.limit, app.now());
    tracing::info!(lead_id = %lead_id, rows = history.rows.len(), returned = view.appointments.len(), "timeline");
    let per_entry = if q.include.changes { 4 * ENTRY_BYTES } else { ENTRY_BYTES };
    Ok(json_sized(StatusCode::OK, &view, 1024 + per_entry * view.appointments.len()))
}

async fn get_booking_status(State(app): State<Arc<App>>, path: Result<Path<String>, PathRejection>, request: Request) -> Answer {
    let claims = app.auth.verify(request.headers())?;
    query::none(request.uri().query())?;
    let lead_id = lead_id(path)?;
    let history = visible_history(&app.store, &claims, &lead_id, Include::default()).await?;
    let view = views::booking_status(&history, app.now());
    tracing::info!(lead_id = %lead_id, rows = history.rows.len(), "booking status");
    Ok(json(StatusCode::OK, &view))
}

async fn post_appointment(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let claims = app.auth.verify(&headers)?;
    query::none(uri.query())?;
    let mut keys = headers.get_all(idempotency::HEADER).iter();
    let key_header = keys.next().map(HeaderValue::as_bytes);
    if keys.next().is_some() {
        return Err(Problem::fields(Kind::BadRequest, vec![FieldError::new(Location::Header, "Idempotency-Key", "given more than once")]));
    }
    let key = idempotency::parse_key(key_header)?;
    check_json_content_type(&headers)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(Kind::PayloadTooLarge),
        _ => Problem::detail(Kind::BadRequest, "the body could not be read"),
    })?;
    let lead_id = lead_id(path)?;
    let observation = booking::observation(&body, &lead_id)?;
    let client_id = match history::lead_client(&app.store, &lead_id).await? {
        Some(client) if claims.may_see(&client) => client,
        _ => return Err(Problem::lead_not_found()),
    };

    let Some(key) = key else {
        let (status, body, _) = record(&app, &lead_id, observation).await?;
        return Ok(json(status, &body));
    };
    let hash = booking::request_hash(&lead_id, &observation);
    let scope = idempotency::Scope { client_id: &client_id, key: &key };
    let ttl = app.config.idempotency_ttl;
    match idempotency::claim(&app.store, scope, &lead_id, &hash, app.now(), ttl).await? {
        Claim::Owned { claimed_at } => match record(&app, &lead_id, observation).await {
            Ok((status, body, appointment_id)) => {
                if let Err(e) =
                    idempotency::complete(&app.store, scope, claimed_at, status.as_u16(), &body, &appointment_id, app.now()).await
                {
                    // The appointment is recorded; a retry after ABANDONED_AFTER records it again,
                    // which changes nothing, and answers 200.
                    tracing::warn!(error = %e, lead_id = %lead_id, "could not store the idempotent answer");
                }
                Ok(json(status, &body))
            }
            Err(problem) => {
                idempotency::release(&app.store, scope, claimed_at).await;
                Err(problem)
            }
        },
        Claim::Replay { status, body } => {
            tracing::info!(lead_id = %lead_id, "idempotent replay");
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = json(status, &body);
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        Claim::Reused => Err(Problem::new(Kind::IdempotencyKeyReused)),
        Claim::InProgress => Err(Problem::new(Kind::IdempotencyKeyInProgress)),
    }
}

/// Records the appointment through the write path and reads it back as the timeline shows it.
async fn record(app: &App, lead_id: &str, observation: Observation) -> Result<(StatusCode, serde_json::Value, String), Problem> {
    let source = observation.source;
    let outcome = app.store.record(observation).await?;
    let history = history::load(&app.store, lead_id, Include::default()).await?.ok_or_else(Problem::lead_not_found)?;
    let view = views::appointment(&history, &outcome.appointment_id, app.now()).ok_or_else(|| Problem::new(Kind::Internal))?;
    let body = serde_json::to_value(&view).expect("view serializes");
    let status = if outcome.change == Change::Created { StatusCode::CREATED } else { StatusCode::OK };
    tracing::info!(
        lead_id = %lead_id,
        appointment_id = %outcome.appointment_id,
        change = ?outcome.change,
        events = outcome.events,
        rollup_changed = outcome.rollup_changed,
        key_conflict = outcome.key_conflict.map(|c| c.as_str()),
        source = source.as_db(),
        "recorded appointment"
    );
    Ok((status, body, outcome.appointment_id))
}

/// The lead's history when the caller may see it; otherwise exactly the answer for a missing lead.
async fn visible_history(store: &Store, claims: &Claims, lead_id: &str, include: Include) -> Result<LeadHistory, Problem> {
    match history::load(store, lead_id, include).await? {
        Some(h) if claims.may_see(&h.client_id) => Ok(h),
        Some(_) => {
            tracing::info!(lead_id = %lead_id, "lead outside the caller's workspaces");
            Err(Problem::lead_not_found())
        }
        None => Err(Problem::lead_not_found()),
    }
}

fn lead_id(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    let Ok(Path(id)) = path else {
        return Err(Problem::lead_not_found());
    };
    if let Err(nul) = shared::text::check_id(&id) {
        // PostgreSQL cannot hold a NUL, so no lead has one: name the fault instead of looking it up.
        return Err(Problem::fields(Kind::BadRequest, vec![FieldError::new(Location::Path, "leadId", nul.to_string())]));
    }
    if id.is_empty() || id.chars().count() > MAX_LEAD_ID_CHARS {
        return Err(Problem::lead_not_found());
    }
    Ok(id)
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")));
    if is_json {
        Ok(())
    } else {
        Err(Problem::new(Kind::UnsupportedMediaType))
    }
}

fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    json_sized(status, body, 1024)
}

/// Serializes into a buffer of about the right size: a timeline page is tens of kilobytes, and
/// growing a small buffer by doubling copies it over and over.
fn json_sized<T: serde::Serialize>(status: StatusCode, body: &T, capacity: usize) -> Response {
    let mut bytes = Vec::with_capacity(capacity);
    if let Err(e) = serde_json::to_writer(&mut bytes, body) {
        tracing::error!(error = %e, "response serialization");
        return Problem::new(Kind::Internal).into_response();
    }
    let mut response = (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Bytes per timeline entry, a little more than a typical one serializes to.
const ENTRY_BYTES: usize = 640;
