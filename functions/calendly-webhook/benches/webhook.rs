//! `cargo bench -p calendly-webhook --bench webhook`
//!
//! The whole delivery (API Gateway v2 event -> request, signature check, parsing, mapping and
//! `Store::record`) against `Store::record` alone on the same events, sequentially and 8 at a time
//! (each worker a warm process of its own: its own connection), on the embedded PostgreSQL (or
//! `DATABASE_URL`). Each mode runs on its own fresh database seeded identically; modes alternate
//! over rounds so that drift of the machine hits both. Target: handler p50 <= 1.2 x record p50.

use std::sync::Arc;
use std::time::Duration;

use calendly_webhook::{calendly, handle_request, mapping, signature, App};
use shared::testing::fixture_ids::calendly::{EMAIL, NEW_INVITEE, OLD_INVITEE};
use shared::testing::{
    compare_with_record, fresh_number, http_api_event, mean_time, run_workers, seed_client, seed_lead, stories, test_database, time_each,
    worker_batches, BenchMode, Measured,
};
use shared::{Observation, Store};

const CLIENT: &str = "client_bench";
const KEY: &str = "whsec-bench-0123456789abcdef";
const WORKERS: usize = 8;
const LEADS_PER_WORKER: usize = 40;
const ROUNDS: usize = 3;

const STORY: [&str; 3] = ["invitee-created.json", "invitee-canceled-rescheduled.json", "invitee-created-after-reschedule.json"];

/// One delivery: its raw body and the observation the handler makes of it.
struct Event {
    body: Vec<u8>,
    obs: Observation,
}

/// What each mode is handed, prepared before the clock starts so that no worker's preparation
/// competes for the CPU with another's timed work: the observation, or the API Gateway event as
/// the runtime receives it (signed by "Calendly" just before the run).
struct Prepared {
    obs: Observation,
    event: String,
}

fn prepare(events: &[Event]) -> Vec<Prepared> {
    events.iter().map(|e| Prepared { obs: e.obs.clone(), event: apigw_event(&e.body) }).collect()
}

/// Each lead's reschedule story, with its own invitees and email. Events per worker, in order.
fn events() -> Vec<Vec<Event>> {
    stories(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"), &STORY, WORKERS, LEADS_PER_WORKER, |n, t| {
        let body = t
            .replace(OLD_INVITEE, &format!("old-{n:08}"))
            .replace(NEW_INVITEE, &format!("new-{n:08}"))
            .replace(EMAIL, &format!("lead{n}@example.com"))
            .into_bytes();
        let delivery = calendly::parse(&body).unwrap();
        let obs = mapping::observation(CLIENT, &delivery).unwrap().unwrap();
        Event { body, obs }
    })
}

async fn fresh_db() -> shared::testing::TestDb {
    let db = test_database().await;
    let client = db.client().await;
    seed_client(&client, CLIENT, Some(KEY)).await.unwrap();
    for n in 0..WORKERS * LEADS_PER_WORKER {
        seed_lead(&client, CLIENT, &format!("lead_{n}"), Some(&format!("lead{n}@example.com"))).await.unwrap();
    }
    seed_lead(&client, CLIENT, "lead_warmup", Some("warmup@example.com")).await.unwrap();
    db
}

fn apigw_event(body: &[u8]) -> String {
    let path = format!("/webhooks/calendly/{CLIENT}");
    let sig = signature::header_value(KEY.as_bytes(), chrono::Utc::now().timestamp(), body);
    let headers =
        [("content-type", "application/json".to_string()), ("calendly-webhook-signature", sig), ("user-agent", "Calendly".to_string())];
    let mut event = http_api_event("POST /webhooks/calendly/{clientId}", "POST", &path, &headers, body);
    event["pathParameters"] = serde_json::json!({"clientId": CLIENT});
    event.to_string()
}

/// One worker: a warm process of its own. Returns each event's latency and the round trips used.
async fn worker(mode: BenchMode, url: String, events: Vec<Prepared>, ready: Arc<tokio::sync::Barrier>) -> Measured {
    let app = App::new(Store::connect(shared::DbSettings::from_url(&url).unwrap()).await.unwrap());
    // Warm: the client's key is cached and the write path prepared, as in a warm Lambda.
    let warm = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/invitee-created.json"))
        .unwrap()
        .replace(EMAIL, "warmup@example.com")
        .replace(OLD_INVITEE, &format!("warm-{}", fresh_number()));
    let warm_response = handle_request(&app, lambda_http::request::from_str(&apigw_event(warm.as_bytes())).unwrap()).await;
    assert_eq!(warm_response.status(), 200);
    // Every worker connected and warm before any starts the clock.
    let app = &app;
    time_each(&app.store, &ready, events, |e| async move {
        match mode {
            BenchMode::Record => {
                let outcome = app.store.record(e.obs).await.unwrap();
                assert_ne!(outcome.change, shared::Change::Unchanged);
            }
            BenchMode::Handler => {
                let response = handle_request(app, lambda_http::request::from_str(&e.event).unwrap()).await;
                assert_eq!(response.status(), 200);
                assert!(std::str::from_utf8(response.body().as_ref()).unwrap().contains("\"recorded\""));
            }
        }
    })
    .await
}

async fn run(mode: BenchMode, concurrent: bool, events: &[Vec<Event>]) -> Measured {
    let db = fresh_db().await;
    run_workers(worker_batches(events, concurrent, prepare), |batch, ready| worker(mode, db.url.clone(), batch, ready)).await
}

/// The handler's own work per delivery, without the database: event -> request, signature,
/// parsing and mapping, on one core.
fn cpu_only(events: &[Vec<Event>]) -> Duration {
    let prepared: Vec<Prepared> = events.iter().flat_map(|list| prepare(list)).collect();
    let now = chrono::Utc::now().timestamp();
    mean_time(&prepared, |p| {
        let request = lambda_http::request::from_str(&p.event).unwrap();
        let header = request.headers().get(signature::HEADER).and_then(|v| v.to_str().ok());
        let body = request.body().as_ref();
        signature::verify_signature(header, body, KEY.as_bytes(), now).unwrap();
        let delivery = calendly::parse(body).unwrap();
        std::hint::black_box(mapping::observation(CLIENT, &delivery).unwrap());
    })
}

fn main() {
    let events = events();
    let story = format!("{} leads x 3-event reschedule story", WORKERS * LEADS_PER_WORKER);
    let own_work = ("handler work without the database (event -> request, signature, parse, map)", cpu_only(&events));
    compare_with_record("calendly-webhook", &story, &events, ROUNDS, "handler (sig + parse + record)", own_work, run);
}
