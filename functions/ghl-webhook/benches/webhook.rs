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
use std::time::Duration;

use ed25519_dalek::SigningKey;
use ghl_webhook::{handle_request, signature, App};
use shared::providers::ghl::{self, Seen, WebhookDelivery};
use shared::testing::{
    compare_with_record, fresh_number, http_api_event, mean_time, run_workers, seed_client, seed_lead, stories, test_database, time_each,
    worker_batches, BenchMode, Measured,
};
use shared::{AppointmentSource, LeadRef, Observation, Store, TaskPolicy};

const CLIENT: &str = "client_bench";
use shared::testing::fixture_ids::ghl::{APPOINTMENT, CONTACT, LOCATION};
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
    stories(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"), &STORY, WORKERS, LEADS_PER_WORKER, |n, t| {
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
        Event { body, obs }
    })
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
    let headers = [
        ("content-type", "application/json".to_string()),
        ("x-ghl-signature", signature::sign(&ghl_key(), body)),
        ("user-agent", "GHL".to_string()),
    ];
    http_api_event("POST /webhooks/ghl", "POST", "/webhooks/ghl", &headers, body).to_string()
}

/// One worker: a warm process of its own. Returns each event's latency and the round trips used.
async fn worker(mode: BenchMode, url: String, events: Vec<Prepared>, ready: Arc<tokio::sync::Barrier>) -> Measured {
    let app = App::new(Store::connect(shared::DbSettings::from_url(&url).unwrap()).await.unwrap(), ghl_key().verifying_key());
    // Warm: the lookup and the write path prepared, as in a warm Lambda.
    let warm = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webhook-appointment-create.json"))
        .unwrap()
        .replace(CONTACT, "cnt_warmup")
        .replace(APPOINTMENT, &format!("warm{}", fresh_number()));
    let mut v: serde_json::Value = serde_json::from_str(&warm).unwrap();
    v["timestamp"] = chrono::Utc::now().to_rfc3339().into();
    let warm_response = handle_request(&app, lambda_http::request::from_str(&apigw_event(&serde_json::to_vec(&v).unwrap())).unwrap()).await;
    assert_eq!(warm_response.status(), 200);
    let app = &app;
    time_each(&app.store, &ready, events, |e| async move {
        match mode {
            BenchMode::Record => {
                app.store.record(e.obs).await.unwrap();
            }
            BenchMode::Handler => {
                let response = handle_request(app, lambda_http::request::from_str(&e.event).unwrap()).await;
                let body = std::str::from_utf8(response.body().as_ref()).unwrap();
                assert_eq!(response.status(), 200, "{body}");
                assert!(!body.contains("\"ignored\""));
            }
        }
    })
    .await
}

async fn run(mode: BenchMode, concurrent: bool, events: &[Vec<Event>]) -> Measured {
    let db = fresh_db().await;
    run_workers(worker_batches(events, concurrent, prepare), |batch, ready| worker(mode, db.url.clone(), batch, ready)).await
}

/// The Ed25519 check alone, per delivery, on one core.
fn verify_cost(events: &[Vec<Event>]) -> Duration {
    let key = ghl_key();
    let public = key.verifying_key();
    let signed: Vec<(String, String)> =
        events.iter().flatten().map(|e| (signature::sign(&key, e.body.as_bytes()), e.body.clone())).collect();
    mean_time(&signed, |(sig, body)| {
        signature::verify(Some(sig), false, body.as_bytes(), &public).unwrap();
    })
}

fn main() {
    let events = events();
    let story = format!("{} leads x create, move, cancel, delete", WORKERS * LEADS_PER_WORKER);
    let own_work = ("Ed25519 check (ed25519-dalek verify_strict) alone", verify_cost(&events));
    compare_with_record("ghl-webhook", &story, &events, ROUNDS, "handler (sig + parse + map + record)", own_work, run);
}
