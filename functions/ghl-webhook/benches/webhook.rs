//! `cargo bench -p ghl-webhook --bench webhook`
//!
//! The whole delivery (API Gateway v2 event -> request, Ed25519 check, parsing, replay window,
//! mapping and `Store::record`, which finds the lead by location and contact) against
//! `Store::record` alone on the same observations,
//! sequentially and 8 at a time (each worker a warm process of its own: its own connection), on the
//! embedded PostgreSQL (or `DATABASE_URL`). Each mode runs on its own fresh database seeded
//! identically; modes alternate over rounds so that drift of the machine hits both.
//! Target: handler p50 <= 1.2 x record p50. Also prints the Ed25519 check's own cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ghl_webhook::{handle_request, signature, App};
use shared::providers::ghl::{self, Seen, WebhookDelivery};
use shared::testing::{seed_client, seed_lead, test_database};
use shared::{AppointmentSource, LeadRef, Observation, Store, TaskPolicy};

const CLIENT: &str = "client_bench";
const LOCATION: &str = "loc_Rt5vB2nQ";
const CONTACT: &str = "cnt_8Hj3Kd9Lm";
const APPOINTMENT: &str = "Yq3FpL8wV2nR6tKc9sDx";
const WORKERS: usize = 8;
const LEADS_PER_WORKER: usize = 30;
const ROUNDS: usize = 3;

const STORY: [&str; 4] = [
    "webhook-appointment-create.json",
    "webhook-appointment-update-time.json",
    "webhook-appointment-update-cancelled.json",
    "webhook-appointment-delete.json",
];

fn ghl_key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

/// One delivery: its body (timestamp stamped when prepared) and the observation the handler makes.
struct Event {
    body: String,
    obs: Observation,
}

struct Prepared {
    obs: Observation,
    event: String,
}

/// The body stamped now and wrapped in a signed API Gateway event, as the runtime receives it.
fn prepare(events: &[Event]) -> Vec<Prepared> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    events
        .iter()
        .map(|e| {
            let mut v: serde_json::Value = serde_json::from_str(&e.body).unwrap();
            v["timestamp"] = now.clone().into();
            Prepared { obs: e.obs.clone(), event: apigw_event(&serde_json::to_vec(&v).unwrap()) }
        })
        .collect()
}

/// Each lead's story with its own appointment and contact. Events per worker, in order.
fn events() -> Vec<Vec<Event>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let templates: Vec<String> = STORY.iter().map(|f| std::fs::read_to_string(format!("{dir}/{f}")).unwrap()).collect();
    (0..WORKERS)
        .map(|w| {
            let mut list = Vec::new();
            for l in 0..LEADS_PER_WORKER {
                let n = w * LEADS_PER_WORKER + l;
                for t in &templates {
                    let body = t.replace(APPOINTMENT, &format!("appt{n:08}")).replace(CONTACT, &format!("cnt{n:08}"));
                    let d: WebhookDelivery = serde_json::from_str(&body).unwrap();
                    let seen = if d.kind == ghl::event_type::DELETE { Seen::Deleted { at: None } } else { Seen::Present };
                    // The observation the handler hands to `record`: the lead is found by location
                    // and contact inside the write path's first round trip.
                    let lead = LeadRef::GhlContact { location_id: LOCATION.into(), contact_id: format!("cnt{n:08}") };
                    let obs = ghl::observation(
                        lead,
                        d.appointment.as_ref().unwrap(),
                        seen,
                        chrono_tz::America::New_York,
                        AppointmentSource::Webhook,
                        TaskPolicy::All,
                    )
                    .unwrap();
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
    seed_client(&client, CLIENT, None).await.unwrap();
    client.execute(r#"UPDATE "Client" SET "ghlLocationId" = $2 WHERE "id" = $1"#, &[&CLIENT, &LOCATION]).await.unwrap();
    for n in 0..WORKERS * LEADS_PER_WORKER {
        let lead = format!("lead_{n}");
        seed_lead(&client, CLIENT, &lead, None).await.unwrap();
        client.execute(r#"UPDATE "Lead" SET "ghlContactId" = $2 WHERE "id" = $1"#, &[&lead, &format!("cnt{n:08}")]).await.unwrap();
    }
    seed_lead(&client, CLIENT, "lead_warmup", None).await.unwrap();
    client.execute(r#"UPDATE "Lead" SET "ghlContactId" = 'cnt_warmup' WHERE "id" = 'lead_warmup'"#, &[]).await.unwrap();
    db
}

fn apigw_event(body: &[u8]) -> String {
    let sig = signature::sign(&ghl_key(), body);
    serde_json::json!({
        "version": "2.0", "routeKey": "POST /webhooks/ghl", "rawPath": "/webhooks/ghl", "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-ghl-signature": sig},
        "requestContext": {"accountId": "123456789012", "apiId": "bench", "domainName": "bench.example", "domainPrefix": "bench",
            "http": {"method": "POST", "path": "/webhooks/ghl", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "GHL"},
            "requestId": "r", "routeKey": "POST /webhooks/ghl", "stage": "$default",
            "time": "24/Nov/2026:09:00:00 +0000", "timeEpoch": 0},
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
    let app = App::new(Store::connect(shared::DbSettings::from_url(&url).unwrap()).await.unwrap(), ghl_key().verifying_key());
    // Warm: the lookup and the write path prepared, as in a warm Lambda.
    let warm = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webhook-appointment-create.json"))
        .unwrap()
        .replace(CONTACT, "cnt_warmup")
        .replace(APPOINTMENT, &format!("warm{}", uuid_like()));
    let mut v: serde_json::Value = serde_json::from_str(&warm).unwrap();
    v["timestamp"] = chrono::Utc::now().to_rfc3339().into();
    let warm_response = handle_request(&app, lambda_http::request::from_str(&apigw_event(&serde_json::to_vec(&v).unwrap())).unwrap()).await;
    assert_eq!(warm_response.status(), 200);
    ready.wait().await;
    let began = Instant::now();
    let rt_before = app.store.round_trips();
    let mut latencies = Vec::with_capacity(events.len());
    for e in events {
        match mode {
            Mode::Record => {
                let start = Instant::now();
                app.store.record(e.obs).await.unwrap();
                latencies.push(start.elapsed());
            }
            Mode::Handler => {
                let start = Instant::now();
                let request = lambda_http::request::from_str(&e.event).unwrap();
                let response = handle_request(&app, request).await;
                latencies.push(start.elapsed());
                assert_eq!(response.status(), 200, "{}", std::str::from_utf8(response.body().as_ref()).unwrap());
                assert!(!std::str::from_utf8(response.body().as_ref()).unwrap().contains("\"ignored\""));
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

/// The Ed25519 check alone, per delivery, on one core.
fn verify_cost(events: &[Vec<Event>]) -> Duration {
    let key = ghl_key();
    let public = key.verifying_key();
    let signed: Vec<(String, String)> =
        events.iter().flatten().map(|e| (signature::sign(&key, e.body.as_bytes()), e.body.clone())).collect();
    let start = Instant::now();
    for (sig, body) in &signed {
        signature::verify(Some(sig), false, body.as_bytes(), &public).unwrap();
    }
    start.elapsed() / signed.len() as u32
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let events = events();
    let total: usize = events.iter().map(Vec::len).sum();
    println!(
        "ghl-webhook bench: {total} deliveries per run ({} leads x create, move, cancel, delete), {ROUNDS} rounds per mode",
        WORKERS * LEADS_PER_WORKER
    );
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
        for (i, name) in ["Store::record alone", "handler (sig + parse + map + record)"].iter().enumerate() {
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
    println!("Ed25519 check (ed25519-dalek verify_strict) alone: {:.1} us per delivery", verify_cost(&events).as_secs_f64() * 1e6);
    for v in verdicts {
        println!("{v}");
    }
}
