//! Webhook deliveries as the providers send them: each lead's story built from the functions'
//! fixtures, signed the providers' ways, sent to the function URLs and redelivered by each
//! provider's rule; and the in-order, once-only reference the database must end up equal to.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use http::{HeaderMap, HeaderValue};
use tokio_postgres::Client;

use crate::stack::{ghl_key, Stack};

/// Every soak client's Calendly signing key.
pub const CALENDLY_KEY: &str = "whsec-soak-0123456789abcdef";
/// Every soak client's Calendly API token (the provider mock serves any).
pub const CALENDLY_TOKEN: &str = "pat-soak-calendly-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Provider {
    Calendly,
    Ghl,
}

/// Whether the provider sends a delivery again after this answer (`None`: no answer at all).
/// Calendly retries anything but a 2xx; GHL retries a 429 and nothing else.
pub fn redelivers(provider: Provider, status: Option<u16>) -> bool {
    match provider {
        Provider::Calendly => !status.is_some_and(|s| (200..300).contains(&s)),
        Provider::Ghl => status == Some(429),
    }
}

/// The pause before redelivery number `attempt` (1-based): the providers' backoff, compressed from
/// minutes to at most a second so that a soak run stays short.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(1))
}

/// Attempts after which a sender gives a delivery up (about half a minute of redeliveries, well
/// past the outages the soak makes).
pub const MAX_ATTEMPTS: u32 = 40;

/// One delivery: which lead's story, its place in it, and the body as the provider signs it.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub provider: Provider,
    pub client_id: String,
    pub lead: String,
    pub step: usize,
    pub body: Arc<Vec<u8>>,
}

/// The deliveries a database must reflect: each once, each lead's in story order, a list per lead.
pub fn in_order(deliveries: &[Delivery]) -> Vec<Vec<Delivery>> {
    let mut by_lead: BTreeMap<(Provider, &str), BTreeMap<usize, &Delivery>> = BTreeMap::new();
    for d in deliveries {
        by_lead.entry((d.provider, &d.lead)).or_default().entry(d.step).or_insert(d);
    }
    by_lead.into_values().map(|steps| steps.into_values().cloned().collect()).collect()
}

// The calendly-webhook fixtures' ids, replaced by each lead's own.
use shared::testing::fixture_ids::calendly::{EMAIL, NEW_INVITEE, OLD_INVITEE};
const OLD_INVITEE_URI: &str = "scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40/invitees/6a1f0c2e-5b7d-4e38-9c0a-71d2e4f8b3a9";
const NEW_INVITEE_URI: &str = "scheduled_events/9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268/invitees/e4c2a9b7-1f3d-4e6a-8c5b-0d9f7a3e1b26";
const NO_SHOW: &str = "5e8a2c7d-9f1b-4a36-b7e0-c4d2f9a1e853";

/// Calendly stories, as Calendly can tell them: even leads are booked, marked no-show by the host
/// after the meeting, unmarked, and marked again (a new no-show object); odd leads are booked,
/// rescheduled (cancel + new booking) and the new booking marked no-show after its own start. A
/// no-show can only be marked on an active invitee whose meeting has begun, so no story marks a
/// canceled one. Both no-show deliveries carry the no-show object's `created_at`; only the
/// envelope's `created_at` is the delivery's own time.
const CALENDLY_STORIES: [[&str; 4]; 2] = [
    ["invitee-created.json", "invitee-no-show-created.json", "invitee-no-show-deleted.json", NO_SHOW_AGAIN],
    ["invitee-created.json", "invitee-canceled-rescheduled.json", "invitee-created-after-reschedule.json", NO_SHOW_OF_NEW],
];
/// The even story's last step: a second mark, 8 minutes after the first was removed.
const NO_SHOW_AGAIN: &str = "no-show-again";
const NO_SHOW_AGAIN_ID: &str = "0c4b7e19-3d2a-4f58-a6e1-92b8d5c3f704";
/// The odd story's last step: the new booking (12 March, 16:00) marked no-show at 16:40.
const NO_SHOW_OF_NEW: &str = "no-show-of-new";

/// A story step's body, from the fixtures.
fn calendly_step(name: &str) -> String {
    let edited = |at: &str, no_show_created: &str, uri: Option<&str>| {
        let mut body: serde_json::Value = serde_json::from_str(&fixture("calendly-webhook", "invitee-no-show-created.json")).expect("JSON");
        body["created_at"] = at.into();
        body["payload"]["created_at"] = no_show_created.into();
        if let Some(uri) = uri {
            body["payload"]["uri"] = uri.into();
        }
        serde_json::to_string_pretty(&body).expect("JSON")
    };
    match name {
        NO_SHOW_AGAIN => edited(
            "2026-03-10T18:10:05.000000Z",
            "2026-03-10T18:10:04.118000Z",
            Some(&format!("https://api.calendly.com/invitee_no_shows/{NO_SHOW_AGAIN_ID}")),
        ),
        NO_SHOW_OF_NEW => {
            edited("2026-03-12T16:40:12.000000Z", "2026-03-12T16:40:11.250000Z", None).replace(OLD_INVITEE_URI, NEW_INVITEE_URI)
        }
        name => fixture("calendly-webhook", name),
    }
}

// The ghl-webhook fixtures' ids.
const GHL_STORY: [&str; 4] = [
    "webhook-appointment-create.json",
    "webhook-appointment-update-time.json",
    "webhook-appointment-update-cancelled.json",
    "webhook-appointment-delete.json",
];
const GHL_APPOINTMENT: &str = "Yq3FpL8wV2nR6tKc9sDx";
const GHL_CONTACT: &str = "cnt_8Hj3Kd9Lm";
const GHL_LOCATION: &str = "loc_Rt5vB2nQ";

fn fixture(function: &str, name: &str) -> String {
    let path = format!("{}/../functions/{function}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A client's `count` leads, `{prefix}_{n}`; the prefix also names each lead's provider ids.
pub struct LeadSet {
    pub client_id: String,
    pub prefix: String,
    pub count: usize,
}

impl LeadSet {
    pub fn new(client_id: &str, prefix: &str, count: usize) -> Self {
        LeadSet { client_id: client_id.into(), prefix: prefix.into(), count }
    }

    pub fn lead(&self, n: usize) -> String {
        format!("{}_{n}", self.prefix)
    }

    pub fn ids(&self) -> Vec<String> {
        (0..self.count).map(|n| self.lead(n)).collect()
    }

    /// The client (with `signing_key`) and its leads, the n-th with `email(n)`.
    async fn seed(&self, db: &Client, signing_key: Option<&str>, email: impl Fn(usize) -> Option<String>) -> shared::Result<()> {
        shared::testing::seed_client(db, &self.client_id, signing_key).await?;
        for n in 0..self.count {
            shared::testing::seed_lead(db, &self.client_id, &self.lead(n), email(n).as_deref()).await?;
        }
        Ok(())
    }
}

/// A Calendly client whose leads each have their own email and invitees.
pub struct CalendlyWorld {
    pub leads: LeadSet,
}

impl CalendlyWorld {
    pub fn new(client_id: &str, prefix: &str, count: usize) -> Self {
        CalendlyWorld { leads: LeadSet::new(client_id, prefix, count) }
    }

    fn email(&self, n: usize) -> String {
        format!("{}{n}@example.com", self.leads.prefix)
    }

    pub async fn seed(&self, db: &Client) -> shared::Result<()> {
        self.leads.seed(db, Some(CALENDLY_KEY), |n| Some(self.email(n))).await
    }

    /// Gives the client a Calendly API token, with which calendly-webhook reads the invitees of
    /// no-shows that come before their booking. Only the load section's client has one: with it,
    /// reconcile-scheduled would also find the client's leads due for a Calendly check.
    pub async fn grant_api_token(&self, db: &Client) -> shared::Result<()> {
        db.execute(
            r#"UPDATE "Client" SET "calendlyAccessToken" = $2, "calendlyOrganizationUri" = $3 WHERE "id" = $1"#,
            &[&self.leads.client_id, &CALENDLY_TOKEN, &format!("https://api.calendly.com/organizations/{}", self.leads.prefix)],
        )
        .await?;
        Ok(())
    }

    /// Each lead's story, a list per lead, in order.
    pub fn stories(&self) -> Vec<Vec<Delivery>> {
        let templates: Vec<Vec<String>> =
            CALENDLY_STORIES.iter().map(|story| story.iter().map(|name| calendly_step(name)).collect()).collect();
        (0..self.leads.count)
            .map(|n| {
                templates[n % 2]
                    .iter()
                    .enumerate()
                    .map(|(step, t)| Delivery {
                        provider: Provider::Calendly,
                        client_id: self.leads.client_id.clone(),
                        lead: self.leads.lead(n),
                        step,
                        body: Arc::new(
                            t.replace(OLD_INVITEE, &format!("{}-old-{n}", self.leads.prefix))
                                .replace(NEW_INVITEE, &format!("{}-new-{n}", self.leads.prefix))
                                .replace(NO_SHOW, &format!("{}-no-show-{n}", self.leads.prefix))
                                .replace(NO_SHOW_AGAIN_ID, &format!("{}-no-show-again-{n}", self.leads.prefix))
                                .replace(EMAIL, &self.email(n))
                                .into_bytes(),
                        ),
                    })
                    .collect()
            })
            .collect()
    }
}

/// What Calendly's API shows of each invitee of these stories once they have ended: the invitee
/// as its last `invitee.*` delivery carried it, with the no-show mark its last no-show delivery
/// left (`GET /scheduled_events/{event}/invitees/{invitee}`'s `resource`), and its scheduled event
/// (`GET /scheduled_events/{event}`'s), by invitee URI.
pub fn api_states(stories: &[Vec<Delivery>]) -> BTreeMap<String, ApiInvitee> {
    let mut states: BTreeMap<String, ApiInvitee> = BTreeMap::new();
    for d in stories.iter().flatten().filter(|d| d.provider == Provider::Calendly) {
        let body: serde_json::Value = serde_json::from_slice(&d.body).expect("story JSON");
        let payload = &body["payload"];
        match body["event"].as_str().unwrap_or("") {
            "invitee.created" | "invitee.canceled" => {
                let mut invitee = payload.clone();
                let mut event = invitee.as_object_mut().and_then(|o| o.remove("scheduled_event")).unwrap_or_default();
                event["uri"] = invitee["event"].clone();
                let uri = invitee["uri"].as_str().unwrap_or_default().to_string();
                // A delivery does not carry the no-show mark: the invitee keeps the one it has.
                invitee["no_show"] = states.get(&uri).map(|s| s.invitee["no_show"].clone()).unwrap_or_default();
                states.insert(uri, ApiInvitee { invitee, event });
            }
            kind @ ("invitee_no_show.created" | "invitee_no_show.deleted") => {
                let uri = payload["invitee"].as_str().or(payload["invitee"]["uri"].as_str()).unwrap_or_default();
                if let Some(state) = states.get_mut(uri) {
                    state.invitee["no_show"] = if kind == "invitee_no_show.created" {
                        serde_json::json!({"uri": payload["uri"], "created_at": payload["created_at"]})
                    } else {
                        serde_json::Value::Null
                    };
                }
            }
            _ => {}
        }
    }
    states
}

/// One invitee and its scheduled event, as Calendly's API answers them.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiInvitee {
    pub invitee: serde_json::Value,
    pub event: serde_json::Value,
}

/// A GHL workspace whose leads are each of their own contact with one appointment's story, the
/// bodies stamped now (GHL's signed timestamp must be within 5 minutes of the delivery).
pub struct GhlWorld {
    pub leads: LeadSet,
    pub location: String,
}

impl GhlWorld {
    pub fn new(client_id: &str, location: &str, prefix: &str, count: usize) -> Self {
        GhlWorld { leads: LeadSet::new(client_id, prefix, count), location: location.into() }
    }

    fn contact(&self, n: usize) -> String {
        format!("cnt_{}_{n}", self.leads.prefix)
    }

    pub async fn seed(&self, db: &Client) -> shared::Result<()> {
        self.leads.seed(db, None, |_| None).await?;
        db.execute(r#"UPDATE "Client" SET "ghlLocationId" = $2 WHERE "id" = $1"#, &[&self.leads.client_id, &self.location]).await?;
        for n in 0..self.leads.count {
            db.execute(r#"UPDATE "Lead" SET "ghlContactId" = $2 WHERE "id" = $1"#, &[&self.leads.lead(n), &self.contact(n)]).await?;
        }
        Ok(())
    }

    pub fn stories(&self) -> Vec<Vec<Delivery>> {
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let templates: Vec<String> = GHL_STORY.iter().map(|name| fixture("ghl-webhook", name)).collect();
        (0..self.leads.count)
            .map(|n| {
                templates
                    .iter()
                    .enumerate()
                    .map(|(step, t)| {
                        let text = t
                            .replace(GHL_APPOINTMENT, &format!("{}appt{n}", self.leads.prefix))
                            .replace(GHL_CONTACT, &self.contact(n))
                            .replace(GHL_LOCATION, &self.location);
                        let mut body: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
                        body["timestamp"] = now.clone().into();
                        body["webhookId"] =
                            format!("{}-{}-{n}-{step}", body["webhookId"].as_str().unwrap_or("wh"), self.leads.prefix).into();
                        Delivery {
                            provider: Provider::Ghl,
                            client_id: self.leads.client_id.clone(),
                            lead: self.leads.lead(n),
                            step,
                            body: Arc::new(serde_json::to_vec(&body).expect("JSON")),
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// What the senders saw.
#[derive(Default)]
pub struct Seen {
    /// Answers by status (0: no answer).
    pub answers: BTreeMap<u16, u64>,
    /// Each attempt: when it was answered and whether it was taken (2xx).
    pub attempts: Vec<(Instant, bool)>,
    /// Time from sending a delivery to its first answer, per attempt.
    pub latencies: Vec<Duration>,
    /// Deliveries whose last answer was not a 2xx (lost, unless the refusal was right).
    pub not_taken: Vec<(String, usize, u16)>,
    /// (lead, step) of deliveries answered 2xx but not recorded (`"status": "ignored"`): none of
    /// the soak's should be (a no-show before its booking is read from Calendly's API and recorded).
    pub ignored: BTreeSet<(String, usize)>,
    /// (lead, step) of deliveries recorded (answered 2xx and not ignored), by any of their copies.
    pub recorded: BTreeSet<(String, usize)>,
}

impl Seen {
    pub fn count(&self, status: u16) -> u64 {
        self.answers.get(&status).copied().unwrap_or(0)
    }

    /// Deliveries no copy of which was recorded, each once: acknowledged unrecorded.
    pub fn never_recorded(&self) -> BTreeSet<(String, usize)> {
        self.ignored.difference(&self.recorded).cloned().collect()
    }

    pub fn summary(&self) -> String {
        self.answers
            .iter()
            .map(|(s, n)| if *s == 0 { format!("{n} x no answer") } else { format!("{n} x {s}") })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A delivery's answer: its status, and for a 2xx whether the body said it was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub ignored: bool,
}

/// Sends one delivery once, signed now; the answer, or `None` when none came.
pub async fn send_once(stack: &Stack, d: &Delivery) -> Option<Answer> {
    let request = match d.provider {
        Provider::Calendly => stack.http.post(stack.url("calendly-webhook", &format!("/webhooks/calendly/{}", d.client_id))).header(
            calendly_webhook::signature::HEADER,
            calendly_webhook::signature::header_value(CALENDLY_KEY.as_bytes(), Utc::now().timestamp(), &d.body),
        ),
        Provider::Ghl => stack
            .http
            .post(stack.url("ghl-webhook", "/webhooks/ghl"))
            .header(ghl_webhook::signature::HEADER, ghl_webhook::signature::sign(&ghl_key(), &d.body)),
    };
    let response = request.header("content-type", "application/json").body(d.body.to_vec()).timeout(Duration::from_secs(60)).send().await;
    let response = response.ok()?;
    let status = response.status().as_u16();
    let body = response.bytes().await.ok()?;
    let ignored = serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v["status"] == "ignored");
    Some(Answer { status, ignored })
}

/// Delivers until the provider's rule says stop; records every attempt in `seen`.
pub async fn deliver(stack: &Stack, d: &Delivery, seen: &Mutex<Seen>) {
    for attempt in 1..=MAX_ATTEMPTS {
        let sent = Instant::now();
        let answer = send_once(stack, d).await;
        let status = answer.map(|a| a.status);
        let answered = Instant::now();
        let taken = status.is_some_and(|s| (200..300).contains(&s));
        {
            let mut seen = seen.lock().unwrap();
            *seen.answers.entry(status.unwrap_or(0)).or_default() += 1;
            seen.attempts.push((answered, taken));
            seen.latencies.push(answered - sent);
            if taken {
                let which = if answer.is_some_and(|a| a.ignored) { &mut seen.ignored } else { &mut seen.recorded };
                which.insert((d.lead.clone(), d.step));
            }
            if !redelivers(d.provider, status) || attempt == MAX_ATTEMPTS {
                if !taken {
                    seen.not_taken.push((d.lead.clone(), d.step, status.unwrap_or(0)));
                }
                return;
            }
        }
        tokio::time::sleep(backoff(attempt)).await;
    }
}

/// Feeds `leads` (each lead's deliveries in order) once each, in order, straight through the
/// webhook handlers into `db`, as 8 workers sharing the leads.
pub async fn replay_in_order(db: &shared::testing::TestDb, leads: Vec<Vec<Delivery>>) {
    let leads = Arc::new(Mutex::new(leads));
    let workers = (0..8).map(|_| {
        let leads = leads.clone();
        async move {
            let calendly = calendly_webhook::App::new(db.store().await);
            let ghl = ghl_webhook::App::new(db.store().await, ghl_key().verifying_key());
            loop {
                let Some(story) = leads.lock().unwrap().pop() else { break };
                for d in story {
                    let mut headers = HeaderMap::new();
                    headers.insert("content-type", HeaderValue::from_static("application/json"));
                    let now = Utc::now();
                    let status = match d.provider {
                        Provider::Calendly => {
                            let sig = calendly_webhook::signature::header_value(CALENDLY_KEY.as_bytes(), now.timestamp(), &d.body);
                            headers.insert(calendly_webhook::signature::HEADER, HeaderValue::from_str(&sig).expect("header"));
                            calendly_webhook::handle(&calendly, &d.client_id, &headers, &d.body, now).await.status()
                        }
                        Provider::Ghl => {
                            let sig = ghl_webhook::signature::sign(&ghl_key(), &d.body);
                            headers.insert(ghl_webhook::signature::HEADER, HeaderValue::from_str(&sig).expect("header"));
                            ghl_webhook::handle(&ghl, &headers, &d.body, now).await.status()
                        }
                    };
                    assert!(status.is_success(), "the in-order reference refused {} step {}: {status}", d.lead, d.step);
                }
            }
        }
    });
    futures::future::join_all(workers).await;
}

/// The leads whose appointments, rollup or tasks differ between two databases (by
/// `shared::testing::snapshot`, which ignores generated ids and write times, less
/// `statusChangedAt`), then each database's appointments whose history does not end at their
/// status, then the two databases' appointment and task counts when those differ.
///
/// Not compared, as in shared's order property: `statusChangedAt` (out of order, the write path
/// learns of an older status later and keeps the time it first saw the current one) and the
/// event log's length: `AppointmentEvent` records what was observed in arrival order (a word older
/// than the row's is no change), so shuffled delivery logs fewer steps than in-order delivery.
/// What the log must do in any order is end, for every appointment, at the row's status.
pub async fn differences(actual: &Client, expected: &Client, leads: &[String]) -> Vec<String> {
    let snapshot = |db, lead| async move {
        let (mut rows, rollup, tasks) = shared::testing::snapshot(db, lead).await;
        rows.iter_mut().for_each(|r| r.status_changed_at = chrono::NaiveDateTime::default());
        (rows, rollup, tasks)
    };
    let mut out = Vec::new();
    for lead in leads {
        if snapshot(actual, lead).await != snapshot(expected, lead).await {
            out.push(lead.clone());
        }
    }
    for (db, name) in [(actual, "service"), (expected, "in-order")] {
        let astray = history_astray(db, leads).await;
        if astray != 0 {
            out.push(format!("{astray} appointments whose history ends elsewhere than their status ({name})"));
        }
    }
    let (a, b) = (lead_counts(actual, leads).await, lead_counts(expected, leads).await);
    if a != b {
        out.push(format!("appointments/tasks {a:?} vs in-order {b:?}"));
    }
    out
}

/// Appointments of these leads whose last status word in `AppointmentEvent` is not their status.
/// `recordedAt` has milliseconds: within one, the ids (UUID v7, increasing within a process) order
/// the events.
async fn history_astray(db: &Client, leads: &[String]) -> i64 {
    const SQL: &str = r#"SELECT count(*) FROM "Appointment" a WHERE a."leadId" = ANY($1) AND a."status"::text IS DISTINCT FROM (
        SELECT e."newValue" FROM "AppointmentEvent" e
         WHERE e."appointmentId" = a."id" AND e."kind" IN ('created', 'adopted', 'status_changed')
         ORDER BY e."recordedAt" DESC, e."id" DESC LIMIT 1)"#;
    db.query_one(SQL, &[&leads]).await.map(|r| r.get::<_, i64>(0)).unwrap_or(-1)
}

/// Events of these leads: reported, not compared.
pub async fn event_count(db: &Client, leads: &[String]) -> i64 {
    db.query_one(r#"SELECT count(*) FROM "AppointmentEvent" WHERE "leadId" = ANY($1)"#, &[&leads])
        .await
        .map(|r| r.get::<_, i64>(0))
        .unwrap_or(-1)
}

/// Appointments and tasks of these leads.
async fn lead_counts(db: &Client, leads: &[String]) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in ["Appointment", "FollowUpTask"] {
        let sql = format!(r#"SELECT count(*) FROM "{table}" WHERE "leadId" = ANY($1)"#);
        counts.push(db.query_one(&sql, &[&leads]).await.map(|r| r.get::<_, i64>(0)).unwrap_or(-1));
    }
    counts
}

/// "equal" or what differs, shortly.
pub fn verdict(differences: &[String]) -> String {
    match differences.len() {
        0 => "equal".into(),
        n => format!("{n} differ, e.g. {}", differences.iter().rev().take(3).cloned().collect::<Vec<_>>().join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(provider: Provider, lead: &str, step: usize, body: &str) -> Delivery {
        Delivery { provider, client_id: "c".into(), lead: lead.into(), step, body: Arc::new(body.as_bytes().to_vec()) }
    }

    #[test]
    fn the_reference_takes_each_delivery_once_in_story_order() {
        let shuffled = vec![
            d(Provider::Calendly, "b", 1, "b1"),
            d(Provider::Calendly, "a", 2, "a2"),
            d(Provider::Calendly, "b", 0, "b0"),
            d(Provider::Calendly, "a", 0, "a0"),
            d(Provider::Calendly, "a", 2, "a2"),
            d(Provider::Ghl, "a", 0, "g0"),
            d(Provider::Calendly, "a", 1, "a1"),
            d(Provider::Calendly, "b", 1, "b1"),
        ];
        let bodies: Vec<Vec<String>> =
            in_order(&shuffled).iter().map(|lead| lead.iter().map(|d| String::from_utf8(d.body.to_vec()).unwrap()).collect()).collect();
        assert_eq!(bodies, vec![vec!["a0", "a1", "a2"], vec!["b0", "b1"], vec!["g0"]]);
    }

    #[test]
    fn each_provider_redelivers_by_its_own_rule() {
        // (status, Calendly redelivers, GHL redelivers)
        let table = [
            (Some(200), false, false),
            (Some(204), false, false),
            (Some(400), true, false),
            (Some(401), true, false),
            (Some(429), true, true),
            (Some(500), true, false),
            (Some(503), true, false),
            (None, true, false),
        ];
        for (status, calendly, ghl) in table {
            assert_eq!(redelivers(Provider::Calendly, status), calendly, "calendly {status:?}");
            assert_eq!(redelivers(Provider::Ghl, status), ghl, "ghl {status:?}");
        }
    }

    #[test]
    fn the_api_shows_each_invitee_as_its_story_ends() {
        let world = CalendlyWorld::new("c", "t", 2);
        let states = api_states(&world.stories());
        let uri = |kind: &str, n: usize| {
            let event = if kind == "old" { "3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40" } else { "9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268" };
            format!("https://api.calendly.com/scheduled_events/{event}/invitees/t-{kind}-{n}")
        };
        assert_eq!(states.len(), 3, "lead 0's invitee, lead 1's old and new ones");
        // Lead 0: marked, unmarked, marked again: the second mark.
        let even = &states[&uri("old", 0)];
        assert_eq!(even.invitee["status"], "active");
        assert_eq!(even.invitee["no_show"]["uri"], "https://api.calendly.com/invitee_no_shows/t-no-show-again-0");
        assert_eq!(even.invitee["email"], "t0@example.com");
        assert_eq!(even.event["uri"], "https://api.calendly.com/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40");
        assert_eq!(even.event["start_time"], "2026-03-10T17:00:00.000000Z");
        // Lead 1: the old invitee canceled by the reschedule, the new one marked a no-show.
        assert_eq!(states[&uri("old", 1)].invitee["status"], "canceled");
        assert!(states[&uri("old", 1)].invitee["no_show"].is_null());
        let new = &states[&uri("new", 1)];
        assert_eq!(
            (new.invitee["status"].as_str(), new.invitee["no_show"]["created_at"].as_str()),
            (Some("active"), Some("2026-03-12T16:40:11.250000Z"))
        );
        assert_eq!(new.event["start_time"], "2026-03-12T16:00:00.000000Z");
        // What the webhook reads of it is the API's Invitee.
        let read: shared::providers::calendly::Invitee = serde_json::from_value(new.invitee.clone()).unwrap();
        assert_eq!((read.uri.as_str(), read.email()), (uri("new", 1).as_str(), Some("t1@example.com")));
    }

    #[test]
    fn backoff_grows_then_stays_at_a_second() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_secs(1));
        assert_eq!(backoff(60), Duration::from_secs(1));
    }

    #[test]
    fn every_lead_gets_its_own_ids() {
        let world = CalendlyWorld::new("c", "t", 2);
        let stories = world.stories();
        assert_eq!(stories.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4]);
        let text = |lead: usize, step: usize| String::from_utf8(stories[lead][step].body.to_vec()).unwrap();
        assert!(text(0, 0).contains("t0@example.com") && text(0, 0).contains("invitees/t-old-0"));
        assert!(!text(1, 0).contains(EMAIL) && !text(1, 1).contains(OLD_INVITEE));
        // The odd lead's last step marks the new booking (after the reschedule) a no-show, after its start.
        assert!(text(1, 3).contains("invitees/t-new-1") && text(1, 3).contains("9b7d1e45"));
        let at = |lead: usize, step: usize| serde_json::from_str::<serde_json::Value>(&text(lead, step)).unwrap()["created_at"].clone();
        assert!(at(1, 3).as_str() > Some("2026-03-12T16:00:00"));
        // The even lead's no-shows: marked, unmarked, marked again (another no-show object), in time order.
        assert!(at(0, 1).as_str() < at(0, 2).as_str() && at(0, 2).as_str() < at(0, 3).as_str());
        assert!(text(0, 1).contains("invitee_no_shows/t-no-show-0") && text(0, 3).contains("invitee_no_shows/t-no-show-again-0"));
        assert!(text(0, 3).contains("invitees/t-old-0"));
        let ghl = GhlWorld::new("g", "loc_t", "gt", 1).stories();
        let body: serde_json::Value = serde_json::from_slice(&ghl[0][2].body).unwrap();
        assert_eq!((body["locationId"].as_str(), body["appointment"]["contactId"].as_str()), (Some("loc_t"), Some("cnt_gt_0")));
    }
}
