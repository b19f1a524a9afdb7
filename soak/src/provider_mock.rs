//! A stand-in for the providers' APIs (wiremock): GHL's, serving the recorded contact-appointments
//! body of reconcile-scheduled's fixtures, and Calendly's invitee reads, serving the invitees the
//! soak's stories end with ([`crate::deliveries::api_states`]); or failing the way a provider does:
//! 5xx, hanging past the functions' timeout, 429 storms, or answering slowly.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::deliveries::ApiInvitee;

/// How the provider behaves right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers at once.
    Healthy,
    /// Answers, each answer after this long.
    Slow(Duration),
    /// 503 to everything.
    ServerErrors,
    /// Answers nothing until well past the functions' provider timeout.
    Hanging,
    /// 429 (Retry-After: 1) to everything.
    RateLimited,
}

impl Behaviour {
    pub fn describe(self) -> String {
        match self {
            Behaviour::Healthy => "healthy".into(),
            Behaviour::Slow(d) => format!("slow provider ({:.0} s per request)", d.as_secs_f64()),
            Behaviour::ServerErrors => "provider 5xx".into(),
            Behaviour::Hanging => "provider timeouts".into(),
            Behaviour::RateLimited => "429 storm".into(),
        }
    }
}

/// Appointments of each contact per GHL: the fixture's, their ids made the contact's own.
pub const APPOINTMENTS_PER_CONTACT: usize = 2;

pub struct ProviderMock {
    server: MockServer,
    behaviour: Arc<Mutex<Behaviour>>,
    calendly: Arc<CalendlyState>,
}

/// The Calendly invitees and scheduled events served, and the invitee reads answered.
#[derive(Default)]
struct CalendlyState {
    invitees: Mutex<HashMap<(String, String), Value>>,
    events: Mutex<HashMap<String, Value>>,
    invitee_reads: AtomicU64,
}

struct Responder {
    body: Value,
    behaviour: Arc<Mutex<Behaviour>>,
}

/// The answer `behaviour` gives in place of `healthy`.
fn behave(behaviour: &Mutex<Behaviour>, healthy: impl FnOnce() -> ResponseTemplate) -> ResponseTemplate {
    match *behaviour.lock().unwrap() {
        Behaviour::ServerErrors => ResponseTemplate::new(503).set_body_json(serde_json::json!({"message": "Service Unavailable"})),
        Behaviour::RateLimited => {
            ResponseTemplate::new(429).insert_header("Retry-After", "1").set_body_json(serde_json::json!({"message": "Too many requests"}))
        }
        Behaviour::Hanging => healthy().set_delay(Duration::from_millis(crate::stack::PROVIDER_TIMEOUT_MS * 3)),
        Behaviour::Slow(delay) => healthy().set_delay(delay),
        Behaviour::Healthy => healthy(),
    }
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        behave(&self.behaviour, || self.appointments(request))
    }
}

struct CalendlyResponder {
    state: Arc<CalendlyState>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Respond for CalendlyResponder {
    /// `/calendly/scheduled_events/{event}/invitees/{invitee}` and `/calendly/scheduled_events/{event}`:
    /// `{resource}`, or Calendly's 404.
    fn respond(&self, request: &Request) -> ResponseTemplate {
        behave(&self.behaviour, || {
            let segments: Vec<&str> = request.url.path_segments().map(|s| s.collect()).unwrap_or_default();
            let found = match segments.as_slice() {
                ["calendly", "scheduled_events", event, "invitees", invitee] => {
                    let found = self.state.invitees.lock().unwrap().get(&(event.to_string(), invitee.to_string())).cloned();
                    if found.is_some() {
                        self.state.invitee_reads.fetch_add(1, Ordering::Relaxed);
                    }
                    found
                }
                ["calendly", "scheduled_events", event] => self.state.events.lock().unwrap().get(*event).cloned(),
                _ => None,
            };
            match found {
                Some(resource) => ResponseTemplate::new(200).set_body_json(serde_json::json!({ "resource": resource })),
                None => ResponseTemplate::new(404).set_body_json(
                    serde_json::json!({"title": "Resource Not Found", "message": "The server could not find the requested resource."}),
                ),
            }
        })
    }
}

impl Responder {
    /// `/ghl/contacts/{contactId}/appointments`: the fixture with the contact's own ids.
    fn appointments(&self, request: &Request) -> ResponseTemplate {
        let contact = request.url.path_segments().and_then(|mut s| s.nth(2)).unwrap_or("none").to_string();
        ResponseTemplate::new(200).set_body_json(contact_appointments(&self.body, &contact))
    }
}

/// The fixture's appointments as `contact`'s: ids suffixed with the contact id.
pub fn contact_appointments(fixture: &Value, contact: &str) -> Value {
    let mut body = fixture.clone();
    for event in body["events"].as_array_mut().into_iter().flatten() {
        let id = format!("{}-{contact}", event["id"].as_str().unwrap_or(""));
        event["id"] = Value::String(id);
        event["contactId"] = Value::String(contact.to_string());
    }
    body
}

impl ProviderMock {
    pub async fn start() -> ProviderMock {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../functions/reconcile-scheduled/tests/fixtures/ghl/api-contact-appointments.json"
        ))
        .expect("reconcile-scheduled's GHL fixture");
        let body: Value = serde_json::from_str(&text).expect("fixture JSON");
        let server = MockServer::start().await;
        let behaviour = Arc::new(Mutex::new(Behaviour::Healthy));
        Mock::given(method("GET"))
            .and(path_regex(r"^/ghl/contacts/[^/]+/appointments$"))
            .respond_with(Responder { body, behaviour: behaviour.clone() })
            .mount(&server)
            .await;
        let calendly = Arc::new(CalendlyState::default());
        Mock::given(method("GET"))
            .and(path_regex(r"^/calendly/scheduled_events/[^/]+(/invitees/[^/]+)?$"))
            .respond_with(CalendlyResponder { state: calendly.clone(), behaviour: behaviour.clone() })
            .mount(&server)
            .await;
        ProviderMock { server, behaviour, calendly }
    }

    /// Serves these invitees (by URI) and their scheduled events from now on.
    pub fn serve_calendly(&self, states: &BTreeMap<String, ApiInvitee>) {
        let ids = |uri: &str| shared::providers::calendly::invitee_ids(uri).map(|(e, i)| (e.to_string(), i.to_string()));
        let (mut invitees, mut events) = (self.calendly.invitees.lock().unwrap(), self.calendly.events.lock().unwrap());
        for (uri, state) in states {
            let (event, invitee) = ids(uri).expect("story invitee URIs name their event and invitee");
            invitees.insert((event.clone(), invitee), state.invitee.clone());
            events.insert(event, state.event.clone());
        }
    }

    /// Calendly invitee reads answered with an invitee so far.
    pub fn calendly_invitee_reads(&self) -> u64 {
        self.calendly.invitee_reads.load(Ordering::Relaxed)
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contact_gets_its_own_appointment_ids() {
        let fixture = serde_json::json!({"events": [{"id": "a1", "contactId": "x"}, {"id": "a2", "contactId": "x"}]});
        let body = contact_appointments(&fixture, "cnt_7");
        assert_eq!(body["events"][0]["id"], "a1-cnt_7");
        assert_eq!(body["events"][1]["contactId"], "cnt_7");
        assert_eq!(body["events"].as_array().unwrap().len(), APPOINTMENTS_PER_CONTACT);
    }
}
