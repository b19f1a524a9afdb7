//! `ghl-webhook`: `POST /webhooks/ghl` receives GoHighLevel's signed appointment deliveries for
//! every workspace (the body's `locationId` names it through `Client.ghlLocationId`), verifies
//! them against GHL's Ed25519 public key and records `AppointmentCreate`, `AppointmentUpdate` and
//! `AppointmentDelete` through the single write path (`Store::record`).
//!
//! The order of checks is the order of cost: size, signature, parsing, replay window, then the
//! database. Nothing is written unless every check before the write passed.
//!
//! Duplicates: GHL names each delivery with a `webhookId`. A delivery seen again carries the same
//! appointment, so it maps to the same observation, and the write path absorbs it (I3: a repeated
//! observation, or an older one, writes nothing), whatever arrived in between. No table of seen
//! ids is kept: it would cost a round trip per delivery and could only say what I3 already says.

pub mod answer;
pub mod lookup;
pub mod signature;

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use ed25519_dalek::VerifyingKey;
use lambda_http::http::{HeaderMap, Method};
use lambda_http::{Body, Request, Response};
use shared::providers::ghl::{self, event_type, GhlAppointment, Seen, WebhookDelivery};
use shared::webhook::Ignored as _;
use shared::{AppointmentSource, Error, LeadRef, Store, TaskPolicy};

use answer::{GhlRefusal, Ignored, Problem};
use lookup::Target;
use signature::SignatureError;

/// Largest body accepted. GHL's appointment deliveries are about a kilobyte.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How far the signed `timestamp` may be from now, in either direction: older is a replay, newer
/// a forgery or a badly skewed clock.
pub const REPLAY_WINDOW: TimeDelta = TimeDelta::minutes(5);

/// What a warm process keeps between invocations.
pub struct App {
    pub store: Store,
    pub key: VerifyingKey,
    pub counters: Counters,
}

impl App {
    pub fn new(store: Store, key: VerifyingKey) -> Self {
        App { store, key, counters: Counters::default() }
    }
}

/// Deliveries taken but not recorded, by reason, over the life of the process. Each one is also
/// a log line with `ignored` set to the reason, which is what a metric filter counts.
#[derive(Debug, Default)]
pub struct Counters {
    ignored: [AtomicU64; 4],
}

impl Counters {
    fn add(&self, why: Ignored) {
        self.ignored[index(why)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn ignored(&self, why: Ignored) -> u64 {
        self.ignored[index(why)].load(Ordering::Relaxed)
    }
}

fn index(why: Ignored) -> usize {
    Ignored::ALL.iter().position(|w| *w == why).expect("every reason is listed")
}

/// The Lambda entry: reads method, headers and the raw body, then [`handle`]s it.
pub async fn handle_request(app: &App, req: Request) -> Response<Body> {
    if req.method() != Method::POST {
        return answer::count(answer::problem(Problem::MethodNotAllowed, None));
    }
    handle(app, req.headers(), req.body().as_ref(), Utc::now()).await
}

/// The appointment events this service records, and how each shows the appointment.
///
/// A delete's own time is the `dateUpdated` its body carries (GHL stamps the deletion there), and
/// only without one the delivery's `timestamp`: the observation must not depend on when GHL sent
/// (or re-sent) the delivery, so that a retry of the same `webhookId` maps to the same observation.
fn seen(kind: &str, date_updated: &serde_json::Value, delivered_at: DateTime<Utc>) -> Option<Seen> {
    match kind {
        event_type::CREATE | event_type::UPDATE => Some(Seen::Present),
        event_type::DELETE if ghl::parse_time(date_updated, chrono_tz::UTC).ok().flatten().is_some() => Some(Seen::Deleted { at: None }),
        event_type::DELETE => Some(Seen::Deleted { at: Some(delivered_at) }),
        _ => None,
    }
}

/// One delivery, `now` being the time the replay window is measured from.
pub async fn handle(app: &App, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Response<Body> {
    // Every answer carries its outcome; counted here, once per delivery (`shared::metrics`).
    answer::count(respond(app, headers, body, now).await)
}

async fn respond(app: &App, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Response<Body> {
    if body.len() > MAX_BODY_BYTES {
        tracing::info!(bytes = body.len(), "ghl delivery refused: body too large");
        return answer::problem(Problem::PayloadTooLarge, None);
    }

    let header = headers.get(signature::HEADER).map(|v| v.to_str().unwrap_or("!"));
    let legacy = headers.contains_key(signature::LEGACY_HEADER);
    if let Err(e) = signature::verify(header, legacy, body, &app.key) {
        tracing::warn!(reason = e.describe(), "ghl delivery refused: signature");
        return answer::problem(
            match e {
                SignatureError::Missing => Problem::SignatureMissing,
                SignatureError::LegacyRefused => Problem::Own(GhlRefusal::LegacySignatureRefused),
                SignatureError::Malformed => Problem::SignatureMalformed,
                SignatureError::Mismatch => Problem::SignatureMismatch,
            },
            None,
        );
    }

    // Strictly: a key given twice has no single meaning (`shared::json`).
    let delivery: WebhookDelivery = match shared::json::from_slice(body) {
        Ok(d) => d,
        Err(e) => {
            let (problem, detail) = match e.classify() {
                serde_json::error::Category::Data if shared::json::is_duplicate_key(&e) => {
                    (Problem::InvalidPayload, Some(shared::json::REPEATED_KEY_DETAIL))
                }
                serde_json::error::Category::Data => (Problem::InvalidPayload, None),
                _ => (Problem::NotJson, None),
            };
            // serde's message can quote a value: only its category is logged.
            tracing::info!(problem = problem.slug(), repeated_key = detail.is_some(), "ghl delivery refused: unreadable body");
            return answer::problem(problem, detail);
        }
    };

    // GHL's own clock, signed with the body: the replay bound.
    let delivered_at = match ghl::parse_time(&delivery.timestamp, chrono_tz::UTC) {
        Ok(Some(t)) => t,
        _ => {
            tracing::warn!("ghl delivery refused: no readable timestamp");
            return answer::problem(Problem::Own(GhlRefusal::TimestampMissing), None);
        }
    };
    if (now - delivered_at).abs() > REPLAY_WINDOW {
        tracing::warn!(delivered_at = %delivered_at, "ghl delivery refused: timestamp outside the replay window");
        return answer::problem(Problem::Own(GhlRefusal::TimestampOutsideWindow), None);
    }

    let webhook_id = printable(delivery.webhook_id.as_deref());
    let no_time = serde_json::Value::Null;
    let date_updated = delivery.appointment.as_ref().map_or(&no_time, |a| &a.date_updated);
    let Some(seen) = seen(&delivery.kind, date_updated, delivered_at) else {
        // Attacker-chosen text is not logged; the type only when it is one of GHL's known ones
        // would add nothing.
        app.counters.add(Ignored::EventType);
        tracing::info!(webhook_id, ignored = Ignored::EventType.reason(), "ghl delivery ignored");
        return answer::ignored(Ignored::EventType);
    };
    let kind = known_kind(&delivery.kind);

    let (Some(location_id), Some(appointment)) = (delivery.location_id.as_deref().map(str::trim), delivery.appointment.as_ref()) else {
        tracing::info!(webhook_id, kind, "ghl delivery refused: no locationId or no appointment");
        return answer::problem(Problem::InvalidPayload, Some("an appointment event needs locationId and appointment"));
    };
    let contact_id = appointment.contact_id.as_deref().map(str::trim).unwrap_or("");
    if !ghl::is_key(location_id) || !ghl::is_key(contact_id) || !ghl::is_key(&appointment.id) {
        tracing::info!(webhook_id, kind, "ghl delivery refused: locationId, contactId or appointment id missing or not an id");
        return answer::problem(Problem::InvalidPayload, Some("locationId, appointment.contactId and appointment.id must be ids"));
    }
    let appointment_id = appointment.id.as_str();

    let ids = Ids { webhook_id, kind, location_id, contact_id, appointment_id };
    if !appointment.needs_zone() {
        // Every time carries its offset: the write path finds the lead itself, under its lock, in
        // the round trip it makes anyway.
        let lead = LeadRef::GhlContact { location_id: location_id.to_string(), contact_id: contact_id.to_string() };
        return record(app, appointment, seen, chrono_tz::UTC, lead, ids).await;
    }
    // Wall-clock times are read in the client's zone, which must be known before the mapping.
    let target = match lookup::target(&app.store, location_id, contact_id).await {
        Ok(t) => t,
        Err(e) => return database_problem(webhook_id, &e),
    };
    let (lead_id, zone) = match target {
        Target::Lead { lead_id, timezone: Some(zone), .. } => (lead_id, zone),
        Target::Lead { client_id, timezone: None, .. } => {
            tracing::warn!(client_id = %client_id, "ghl delivery: times without an offset and the client has no usable time zone");
            return ignore(app, Ignored::ClientTimeZoneUnknown, &ids);
        }
        other => return ignore(app, ignored_reason(&other), &ids),
    };
    record(app, appointment, seen, zone, LeadRef::Id(lead_id), ids).await
}

fn ignored_reason(target: &Target) -> Ignored {
    match target {
        Target::UnknownLocation => Ignored::UnknownLocation,
        _ => Ignored::NoMatchingLead,
    }
}

/// What a log line of a delivery may name.
#[derive(Clone, Copy)]
struct Ids<'a> {
    webhook_id: &'a str,
    kind: &'static str,
    location_id: &'a str,
    contact_id: &'a str,
    appointment_id: &'a str,
}

async fn record(app: &App, appointment: &GhlAppointment, seen: Seen, zone: Tz, lead: LeadRef, ids: Ids<'_>) -> Response<Body> {
    let Ids { webhook_id, kind, location_id, contact_id, appointment_id } = ids;
    let obs = match ghl::observation(lead, appointment, seen, zone, AppointmentSource::Webhook, TaskPolicy::All) {
        Ok(obs) => obs,
        Err(e) => {
            // The mapping's reason names fields and ids only.
            tracing::info!(webhook_id, kind, location_id, appointment_id, reason = %e.reason, "ghl delivery refused: invalid appointment");
            return answer::problem(Problem::InvalidPayload, None);
        }
    };
    let status = obs.status.label();
    match app.store.record(obs).await {
        Ok(outcome) => {
            tracing::info!(
                webhook_id,
                kind,
                location_id,
                lead_id = %outcome.lead_id,
                ghl_appointment_id = appointment_id,
                status,
                appointment_id = %outcome.appointment_id,
                change = ?outcome.change,
                events = outcome.events,
                tasks = outcome.tasks_created,
                "ghl delivery recorded"
            );
            answer::written(&outcome)
        }
        // No lead for the contact, or no client for the location (or the lead went away after a
        // lookup). Which one is asked only now, on this rare path, so that the log and the count
        // say why.
        Err(Error::LeadNotFound(_)) => {
            let why = match lookup::target(&app.store, location_id, contact_id).await {
                Ok(target) => ignored_reason(&target),
                Err(_) => Ignored::NoMatchingLead,
            };
            ignore(app, why, &ids)
        }
        Err(Error::InvalidObservation(reason)) => {
            // Key length, time order, the time window: the payload's fault (GHL does not retry a 400).
            tracing::info!(webhook_id, kind, location_id, ghl_appointment_id = appointment_id, reason = %reason, "ghl delivery refused: the write path rejected it");
            answer::problem(Problem::InvalidPayload, None)
        }
        // The appointment id is another workspace's, confirmed by its provider: never written
        // across clients.
        Err(Error::KeyOwnedElsewhere) => {
            tracing::warn!(
                webhook_id,
                kind,
                location_id,
                ghl_appointment_id = appointment_id,
                "ghl delivery refused: the appointment belongs to another workspace"
            );
            answer::problem(Problem::InvalidPayload, Some("the appointment belongs to another workspace"))
        }
        Err(e) => database_problem(webhook_id, &e),
    }
}

fn ignore(app: &App, why: Ignored, ids: &Ids<'_>) -> Response<Body> {
    app.counters.add(why);
    tracing::info!(
        webhook_id = ids.webhook_id,
        kind = ids.kind,
        location_id = ids.location_id,
        contact_id = ids.contact_id,
        ghl_appointment_id = ids.appointment_id,
        ignored = why.reason(),
        "ghl delivery ignored"
    );
    answer::ignored(why)
}

/// The refusal for a failed write (GHL retries it when the database is away), logged with the delivery.
fn database_problem(webhook_id: &str, e: &Error) -> Response<Body> {
    let p: Problem = tracing::error_span!("ghl delivery", webhook_id).in_scope(|| shared::webhook::write_failed(e));
    answer::problem(p, None)
}

/// The event type for logs: only the types we record (any other is attacker-chosen text).
fn known_kind(kind: &str) -> &'static str {
    match kind {
        event_type::CREATE => event_type::CREATE,
        event_type::UPDATE => event_type::UPDATE,
        event_type::DELETE => event_type::DELETE,
        _ => "other",
    }
}

/// An id from the body, for logs: only when it looks like one.
fn printable(id: Option<&str>) -> &str {
    match id {
        Some(id) if ghl::is_key(id) && id.len() <= 128 => id,
        Some(_) => "(not an id)",
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_as_a_table() {
        let t: DateTime<Utc> = "2026-03-04T08:10:00Z".parse().unwrap();
        let updated = serde_json::json!("2026-03-04T08:09:59.000Z");
        let none = serde_json::Value::Null;
        let table = [
            ("AppointmentCreate", &updated, Some(Seen::Present)),
            ("AppointmentUpdate", &none, Some(Seen::Present)),
            ("AppointmentDelete", &updated, Some(Seen::Deleted { at: None })),
            ("AppointmentDelete", &none, Some(Seen::Deleted { at: Some(t) })),
            ("appointmentcreate", &updated, None),
            ("ContactCreate", &updated, None),
            ("", &updated, None),
        ];
        for (kind, date_updated, expected) in table {
            assert_eq!(seen(kind, date_updated, t), expected, "{kind} {date_updated}");
        }
    }

    #[test]
    fn only_ids_reach_logs() {
        assert_eq!(printable(Some("wh_1")), "wh_1");
        assert_eq!(printable(Some("call me 312-555-0187")), "(not an id)");
        assert_eq!(printable(None), "");
        assert_eq!(known_kind("DROP TABLE"), "other");
    }
}
