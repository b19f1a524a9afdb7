//! `cargo bench -p calendly-webhook --bench webhook`
//!
//! The whole delivery (API Gateway v2 event -> request, signature check, parsing, mapping and
//! `Store::record`) against `Store::record` alone on the same events, sequentially and 8 at a time
//! (each worker a warm process of its own: its own connection), on the embedded PostgreSQL (or
//! `DATABASE_URL`). Each mode runs on its own fresh database seeded identically; modes alternate
//! over rounds so that drift of the machine hits both. Target: handler p50 <= 1.2 x record p50.

use std::sync::Arc;
use std::time::{Duration, Instant};

use calendly_webhook::{calendly, handle_request, mapping, signature, App};
use shared::testing::{seed_client, seed_lead, test_database};
use shared::{Observation, Store};

const CLIENT: &str = "client_bench";
const KEY: &str = "whsec-bench-0123456789abcdef";
const WORKERS: usize = 8;
const LEADS_PER_WORKER: usize = 40;
const ROUNDS: usize = 3;

const STORY: [&str; 3] = ["invitee-created.json", "invitee-canceled-rescheduled.json", "invitee-created-after-reschedule.json"];
const OLD_INVITEE: &str = "6a1f0c2e-5b7d-4e38-9c0a-71d2e4f8b3a9";
const NEW_INVITEE: &str = "e4c2a9b7-1f3d-4e6a-8c5b-0d9f7a3e1b26";
const EMAIL: &str = "dana.whitfield@example.com";

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
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let templates: Vec<String> = STORY.iter().map(|f| std::fs::read_to_string(format!("{dir}/{f}")).unwrap()).collect();
    (0..WORKERS)
        .map(|w| {
            let mut list = Vec::new();
            for l in 0..LEADS_PER_WORKER {
                let n = w * LEADS_PER_WORKER + l;
                for t in &templates {
                    let body = t
                        .replace(OLD_INVITEE, &format!("old-{n:08}"))
                        .replace(NEW_INVITEE, &format!("new-{n:08}"))
                        .replace(EMAIL, &format!("lead{n}@example.com"))
                        .into_bytes();
                    let delivery = calendly::parse(&body).unwrap();
                    let obs = mapping::observation(CLIENT, &delivery).unwrap().unwrap();
                    list.push(Event { body, obs });
                }
            }
            list
        })
        .collect()
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
    serde_json::json!({
        "version": "2.0", "routeKey": "POST /webhooks/calendly/{clientId}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "calendly-webhook-signature": sig},
        "requestContext": {"accountId": "123456789012", "apiId": "bench", "domainName": "bench.example", "domainPrefix": "bench",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "Calendly"},
            "requestId": "r", "routeKey": "POST /webhooks/calendly/{clientId}", "stage": "$default",
            "time": "24/Nov/2026:09:00:00 +0000", "timeEpoch": 0},
        "pathParameters": {"clientId": CLIENT},
        "body": std::str::from_utf8(body).unwrap(), "isBase64Encoded": false
    })
    .to_string()
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Record,
    Handler,
}

/// One worker: a warm process of its own. Returns each event's latency and the round trips used.
async fn worker(mode: Mode, url: String, events: Vec<Prepared>, ready: Arc<tokio::sync::Barrier>) -> (Vec<Duration>, u64, Duration) {
    let app = App::new(Store::connect(shared::DbSettings::from_url(&url).unwrap()).await.unwrap());
    // Warm: the client's key is cached and the write path prepared, as in a warm Lambda.
    let warm = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/invitee-created.json"))
        .unwrap()
        .replace(EMAIL, "warmup@example.com")
        .replace(OLD_INVITEE, &format!("warm-{}", uuid_like()));
    let warm_response = handle_request(&app, lambda_http::request::from_str(&apigw_event(warm.as_bytes())).unwrap()).await;
    assert_eq!(warm_response.status(), 200);
    // Every worker connected and warm before any starts the clock.
    ready.wait().await;
    let began = Instant::now();
    let rt_before = app.store.round_trips();
    let mut latencies = Vec::with_capacity(events.len());
    for e in events {
        match mode {
            Mode::Record => {
                let start = Instant::now();
                let outcome = app.store.record(e.obs).await.unwrap();
                latencies.push(start.elapsed());
                assert_ne!(outcome.change, shared::Change::Unchanged);
            }
            Mode::Handler => {
                let start = Instant::now();
                let request = lambda_http::request::from_str(&e.event).unwrap();
                let response = handle_request(&app, request).await;
                latencies.push(start.elapsed());
                assert_eq!(response.status(), 200);
                assert!(std::str::from_utf8(response.body().as_ref()).unwrap().contains("\"recorded\""));
            }
        }
    }
    (latencies, app.store.round_trips() - rt_before, began.elapsed())
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

async fn run(mode: Mode, concurrent: bool, events: &[Vec<Event>]) -> (Vec<Duration>, u64, Duration) {
    let db = fresh_db().await;
    let batches: Vec<Vec<Prepared>> = if concurrent {
        events.iter().map(|list| prepare(list)).collect()
    } else {
        vec![events.iter().flat_map(|list| prepare(list)).collect()]
    };
    // Each worker its own task, so that the runtime's threads share them as the cores would share
    // separate Lambda processes.
    let ready = Arc::new(tokio::sync::Barrier::new(batches.len()));
    let tasks: Vec<_> = batches.into_iter().map(|batch| tokio::spawn(worker(mode, db.url.clone(), batch, ready.clone()))).collect();
    let results: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(|r| r.expect("worker")).collect();
    let mut latencies = Vec::new();
    let mut round_trips = 0;
    let mut wall = Duration::ZERO;
    for (l, rt, elapsed) in results {
        latencies.extend(l);
        round_trips += rt;
        wall = wall.max(elapsed);
    }
    (latencies, round_trips, wall)
}

/// The handler's own work per delivery, without the database: event -> request, signature,
/// parsing and mapping, on one core.
fn cpu_only(events: &[Vec<Event>]) -> Duration {
    let prepared: Vec<Prepared> = events.iter().flat_map(|list| prepare(list)).collect();
    let now = chrono::Utc::now().timestamp();
    let start = Instant::now();
    for p in &prepared {
        let request = lambda_http::request::from_str(&p.event).unwrap();
        let header = request.headers().get(signature::HEADER).and_then(|v| v.to_str().ok());
        let body = request.body().as_ref();
        signature::verify_signature(header, body, KEY.as_bytes(), now).unwrap();
        let delivery = calendly::parse(body).unwrap();
        std::hint::black_box(mapping::observation(CLIENT, &delivery).unwrap());
    }
    start.elapsed() / prepared.len() as u32
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // Only warnings: the bench measures, it does not log every delivery.
    let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let events = events();
    let total: usize = events.iter().map(Vec::len).sum();
    println!("calendly-webhook bench: {total} deliveries per run ({} leads x 3-event reschedule story), {ROUNDS} rounds per mode", WORKERS * LEADS_PER_WORKER);
    println!("{:<46} {:>9} {:>9} {:>9} {:>11} {:>9}", "mode", "p50 ms", "p99 ms", "mean ms", "events/s", "rt/event");
    let mut verdicts = Vec::new();
    for concurrent in [false, true] {
        let mut samples: [(Vec<Duration>, u64, Duration); 2] = Default::default();
        for _ in 0..ROUNDS {
            for (i, mode) in [Mode::Record, Mode::Handler].into_iter().enumerate() {
                let (l, rt, wall) = runtime.block_on(run(mode, concurrent, &events));
                samples[i].0.extend(l);
                samples[i].1 += rt;
                samples[i].2 += wall;
            }
        }
        let mut p50s = [Duration::ZERO; 2];
        for (i, name) in ["Store::record alone", "handler (sig + parse + record)"].iter().enumerate() {
            let (lat, rt, wall) = &mut samples[i];
            lat.sort();
            let n = lat.len();
            let mean = lat.iter().sum::<Duration>() / n as u32;
            p50s[i] = percentile(lat, 0.50);
            let label = format!("{name}, {}", if concurrent { "8 concurrent" } else { "sequential" });
            println!(
                "{label:<46} {:>9.3} {:>9.3} {:>9.3} {:>11.0} {:>9.2}",
                p50s[i].as_secs_f64() * 1e3,
                percentile(lat, 0.99).as_secs_f64() * 1e3,
                mean.as_secs_f64() * 1e3,
                n as f64 / wall.as_secs_f64(),
                *rt as f64 / n as f64
            );
        }
        let ratio = p50s[1].as_secs_f64() / p50s[0].as_secs_f64();
        verdicts.push(format!(
            "{}: handler p50 / record p50 = {ratio:.3} (target <= 1.2): {}",
            if concurrent { "8 concurrent" } else { "sequential" },
            if ratio <= 1.2 { "met" } else { "NOT met" }
        ));
    }
    println!("handler work without the database (event -> request, signature, parse, map): {:.1} us per delivery", cpu_only(&events).as_secs_f64() * 1e6);
    for v in verdicts {
        println!("{v}");
    }
}
