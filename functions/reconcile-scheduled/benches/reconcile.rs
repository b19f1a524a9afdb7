//! Throughput of cron reconciliation against a GHL that answers in 50 ms and enforces its published
//! limit of 100 requests per location per 10 seconds (any 10-second interval, counted at arrival;
//! over it: 429).
//!
//! For 1, 2 and 4 locations (clients) reconciled in parallel, one run with a time budget of
//! `WINDOW` seconds. The mock counts the requests it accepted in that window per location; the
//! ceiling in a window of T seconds is 100 * T / 10 per location. Pass: at least 90 % of the ceiling
//! for every location, zero 429s, and the total scaling with the number of locations.
//!
//! Run: `cargo bench -p reconcile-scheduled --bench reconcile` (about 1.5 minutes).
//! `RECONCILE_BENCH_WINDOW_SECONDS` (default 20) and `RECONCILE_BENCH_LOCATIONS` (default "1,2,4").

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use reconcile_scheduled::config::ReconcileConfig;
use reconcile_scheduled::Reconciler;
use serde_json::{json, Value};
use shared::providers::{Endpoints, HttpSettings, ProviderHttp, Quotas};
use shared::testing::{seed_client, test_database};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const LATENCY: Duration = Duration::from_millis(50);
const LIMIT: usize = 100;
const LIMIT_WINDOW: Duration = Duration::from_secs(10);

/// The mock GHL: per-location sliding window on arrival times (the location is known by its token).
struct RateLimitedGhl {
    body: Value,
    state: Arc<MockState>,
}

#[derive(Default)]
struct MockState {
    arrivals: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Accepted requests: (location token, arrival).
    accepted: Mutex<Vec<(String, Instant)>>,
    rejected: AtomicU64,
}

impl Respond for RateLimitedGhl {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let now = Instant::now();
        let token = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        {
            let mut arrivals = self.state.arrivals.lock().unwrap();
            let window = arrivals.entry(token.clone()).or_default();
            while window.front().is_some_and(|t| now.duration_since(*t) >= LIMIT_WINDOW) {
                window.pop_front();
            }
            if window.len() >= LIMIT {
                self.state.rejected.fetch_add(1, Ordering::Relaxed);
                return ResponseTemplate::new(429)
                    .insert_header("X-RateLimit-Max", "100")
                    .insert_header("X-RateLimit-Remaining", "0")
                    .insert_header("X-RateLimit-Interval-Milliseconds", "10000")
                    .set_body_json(json!({"message": "Too Many Requests"}))
                    .set_delay(LATENCY);
            }
            window.push_back(now);
        }
        self.state.accepted.lock().unwrap().push((token, now));
        let contact = request.url.path_segments().and_then(|mut s| s.nth(1)).unwrap_or("none").to_string();
        let mut body = self.body.clone();
        for event in body["events"].as_array_mut().unwrap() {
            let id = format!("{}-{contact}", event["id"].as_str().unwrap());
            event["id"] = Value::String(id);
        }
        ResponseTemplate::new(200).set_body_json(body).set_delay(LATENCY)
    }
}

struct Outcome {
    locations: usize,
    accepted_in_window: Vec<usize>,
    ceiling: usize,
    rejected: u64,
    summary: reconcile_scheduled::Summary,
    round_trips_per_lead: f64,
}

async fn scenario(locations: usize, window: Duration) -> Outcome {
    let db = test_database().await;
    let client = db.client().await;
    let per_location_leads = (LIMIT * (window.as_secs() as usize / 10 + 1)) + 40;
    for l in 0..locations {
        let client_id = format!("client_{l}");
        seed_client(&client, &client_id, None).await.unwrap();
        client
            .execute(
                r#"UPDATE "Client" SET "ghlLocationId" = $2, "ghlPrivateKey" = $3, "timezone" = 'America/New_York' WHERE "id" = $1"#,
                &[&client_id, &format!("loc_{l}"), &format!("pit-bench-{l}")],
            )
            .await
            .unwrap();
        client
            .execute(
                r#"INSERT INTO "Lead" ("id", "clientId", "ghlContactId", "updatedAt")
                   SELECT $1 || '_lead_' || lpad(i::text, 5, '0'), $1, $1 || '_cnt_' || i, now() FROM generate_series(1, $2::int) i"#,
                &[&client_id, &(per_location_leads as i32)],
            )
            .await
            .unwrap();
    }

    let server = MockServer::start().await;
    let state = Arc::new(MockState::default());
    let body: Value = serde_json::from_str(include_str!("../tests/fixtures/ghl/api-contact-appointments.json")).unwrap();
    Mock::given(method("GET"))
        .and(path_regex(r"^/contacts/[^/]+/appointments$"))
        .respond_with(RateLimitedGhl { body, state: state.clone() })
        .mount(&server)
        .await;

    let config = ReconcileConfig {
        max_leads_per_run: 10_000,
        parallel_clients: 8,
        lead_concurrency: 8,
        db_connections: 4,
        deadline_margin: Duration::from_secs(2),
        ..ReconcileConfig::default()
    };
    let http =
        ProviderHttp::new(Endpoints::new(&server.uri(), &server.uri()).unwrap(), HttpSettings::default(), Quotas::default()).unwrap();
    let reconciler = Reconciler::new(db.settings(), http, config);

    // The run stops taking leads exactly `window` after it starts (deadline minus the margin).
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start) + window + Duration::from_secs(2);
    let summary = reconciler.run_cron(Utc::now(), deadline).await.unwrap();

    let accepted = state.accepted.lock().unwrap();
    let accepted_in_window = (0..locations)
        .map(|l| {
            let token = format!("Bearer pit-bench-{l}");
            accepted.iter().filter(|(t, at)| *t == token && at.duration_since(start) < window).count()
        })
        .collect();
    let ceiling = LIMIT * (window.as_secs_f64() / LIMIT_WINDOW.as_secs_f64()).ceil() as usize;
    let round_trips_per_lead = reconciler.round_trips() as f64 / summary.leads_checked.max(1) as f64;
    Outcome { locations, accepted_in_window, ceiling, rejected: state.rejected.load(Ordering::Relaxed), summary, round_trips_per_lead }
}

fn main() {
    let window = Duration::from_secs(std::env::var("RECONCILE_BENCH_WINDOW_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20));
    let location_counts: Vec<usize> = std::env::var("RECONCILE_BENCH_LOCATIONS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4]);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!(
        "reconcile bench: GHL mock answering in {} ms, {LIMIT} requests per location per {} s (sliding, at arrival); window {} s",
        LATENCY.as_millis(),
        LIMIT_WINDOW.as_secs(),
        window.as_secs()
    );
    println!(
        "{:>9} | {:>22} | {:>8} | {:>7} | {:>5} | {:>7} | {:>7} | {:>11}",
        "locations", "accepted per location", "ceiling", "of ceil", "429s", "req/s", "checked", "db rt/lead"
    );
    let mut ok = true;
    let mut single_rate = None;
    for locations in location_counts {
        let o = runtime.block_on(scenario(locations, window));
        let worst = *o.accepted_in_window.iter().min().unwrap();
        let total: usize = o.accepted_in_window.iter().sum();
        let share = worst as f64 / o.ceiling as f64;
        let rate = total as f64 / window.as_secs_f64();
        println!(
            "{:>9} | {:>22} | {:>8} | {:>6.1}% | {:>5} | {:>7.1} | {:>7} | {:>11.2}",
            o.locations,
            format!("{:?}", o.accepted_in_window),
            o.ceiling,
            share * 100.0,
            o.rejected + o.summary.rate_limited,
            rate,
            o.summary.leads_checked,
            o.round_trips_per_lead
        );
        if share < 0.9 {
            println!("  FAIL: a location got {:.1}% of the ceiling (< 90%)", share * 100.0);
            ok = false;
        }
        if o.rejected > 0 || o.summary.rate_limited > 0 {
            println!("  FAIL: {} requests answered 429", o.rejected);
            ok = false;
        }
        if o.summary.failed > 0 {
            println!("  FAIL: {} leads failed: {:?}", o.summary.failed, o.summary.failed_lead_ids);
            ok = false;
        }
        match single_rate {
            None => single_rate = Some(rate / o.locations as f64),
            Some(one) => {
                let scaling = rate / one;
                println!("  scaling: {scaling:.2}x the one-location rate with {} locations", o.locations);
                if scaling < 0.9 * o.locations as f64 {
                    println!("  FAIL: scaling below 90% of linear");
                    ok = false;
                }
            }
        }
    }
    if !ok {
        std::process::exit(1);
    }
}
