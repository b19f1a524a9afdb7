//! `cargo bench -p appointment-history --bench history`: the timeline of a lead with 50
//! appointments, on a data set of 200,000 leads and 1,000,000 appointments (generated set-based
//! first, see `src/generate.rs`), against the same SQL alone.
//!
//! - handler: the `lambda_http` request of an API Gateway v2 event → the router → JSON body bytes,
//!   on one warm connection, as a warm Lambda runs it (also shown: plus the runtime's parsing of
//!   the event text);
//! - anchors: `pgbench` replaying the handler's statement (`target/tmp/pgbench/timeline.sql`,
//!   written at each run from `history::SELECT_LEAD_AND_APPOINTMENTS`), and the same prepared
//!   statement on a bare tokio-postgres client,
//!   timed interleaved with the handler's requests so that both see the same machine load.
//! - the verdict: five rounds (`BENCH_ROUNDS`), each timing the handler and pgbench back to back
//!   (alternating which goes first) on the same, unchanging data; each round's ratio is handler
//!   p50 / pgbench p50, the verdict is the median ratio ≤ 1.5 (the process exits 1 otherwise). The
//!   bare tokio-postgres client is printed beside it, timed interleaved with the handler.
//!   Also printed: `include=changes` and booking-status, and `EXPLAIN (ANALYZE, BUFFERS)` of each
//!   statement.
//!
//! Environment: `DATABASE_URL` (else an embedded cluster), `BENCH_LEADS` (200000),
//! `BENCH_APPOINTMENTS` (1000000), `BENCH_ITERATIONS` (2000 per round), `BENCH_ROUNDS` (5).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use appointment_history::auth::{sign, Claims};
use appointment_history::generate::{generate, Sizes, PROBE_APPOINTMENTS, PROBE_CLIENT, PROBE_LEAD};
use appointment_history::history::{SELECT_EVENTS, SELECT_LEAD_AND_APPOINTMENTS};
use appointment_history::{router, App, AppConfig};
use axum::body::Body;
use shared::testing::bench::{pgbench, write_script, Bound, Verdict};
use tower::ServiceExt;

const SECRET: &str = "bench-jwt-secret-0123456789abcdef0123456789";
const TARGET_RATIO: f64 = 1.5;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

struct Stats {
    p50: Duration,
    p90: Duration,
    p99: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        Stats { p50: pick(0.5), p90: pick(0.9), p99: pick(0.99) }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// An API Gateway HTTP API v2 event, as Lambda hands it to the function.
fn event(token: &str, path: &str, query: &str) -> String {
    serde_json::json!({
        "version": "2.0",
        "routeKey": "GET /leads/{leadId}/appointments",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"accept": "application/json", "authorization": format!("Bearer {token}"),
                    "host": "abc123defg.execute-api.us-east-1.amazonaws.com", "user-agent": "crm-backend/1.0",
                    "x-forwarded-proto": "https"},
        "pathParameters": {"leadId": PROBE_LEAD},
        "requestContext": {"accountId": "123456789012", "apiId": "abc123defg",
            "domainName": "abc123defg.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "crm-backend/1.0"},
            "requestId": "bench", "routeKey": "GET /leads/{leadId}/appointments", "stage": "$default",
            "time": "24/Nov/2026:09:00:00 +0000", "timeEpoch": 1795510800000u64},
        "isBase64Encoded": false
    })
    .to_string()
}

/// The `lambda_http` request the runtime hands the handler for an event.
fn request(event: &str) -> axum::http::Request<Body> {
    let request = lambda_http::request::from_str(event).expect("event");
    let (parts, body) = request.into_parts();
    axum::http::Request::from_parts(parts, Body::from(body.to_vec()))
}

/// The handler: a request through the router to the response's bytes.
async fn handle(router: &axum::Router, request: axum::http::Request<Body>) -> (u16, usize) {
    let response = router.clone().oneshot(request).await.expect("router");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await.expect("body");
    (status, bytes.len())
}

/// The handler and the same statements on a bare tokio-postgres client, interleaved request by
/// request (alternating which goes first) so that both see the same moments of a shared machine.
/// Returns the handler's, the handler-plus-event-parsing and the bare SQL's latencies.
async fn time_interleaved(
    router: &axum::Router,
    event: &str,
    client: &tokio_postgres::Client,
    statements: &[&str],
    iterations: usize,
) -> (Stats, Stats, Stats) {
    let mut prepared = Vec::new();
    for s in statements {
        prepared.push(client.prepare(s).await.unwrap());
    }
    let sql = || async {
        let t = Instant::now();
        let rows = futures::future::try_join_all(prepared.iter().map(|p| client.query(p, &[&PROBE_LEAD]))).await.unwrap();
        let elapsed = t.elapsed();
        std::hint::black_box(rows);
        elapsed
    };
    let ours = || async {
        let t0 = Instant::now();
        let req = request(event);
        let t1 = Instant::now();
        let (status, _) = handle(router, req).await;
        let t2 = Instant::now();
        assert_eq!(status, 200);
        (t2 - t1, t2 - t0)
    };
    for _ in 0..iterations / 10 {
        ours().await;
        sql().await;
    }
    let (mut handler, mut with_event, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations {
        let (h, e, s) = if i % 2 == 0 {
            let (h, e) = ours().await;
            (h, e, sql().await)
        } else {
            let s = sql().await;
            let (h, e) = ours().await;
            (h, e, s)
        };
        handler.push(h);
        with_event.push(e);
        bare.push(s);
    }
    (Stats::of(handler), Stats::of(with_event), Stats::of(bare))
}

fn script_path() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("pgbench/timeline.sql")
}

/// The handler's statement, the lead id as a pgbench variable (`-D lead=...`), which in prepared
/// mode is sent as a parameter like ours.
fn pgbench_script() -> String {
    format!(
        "-- The timeline read of appointment-history, written from src/history.rs by benches/history.rs at each run.\n{};\n",
        SELECT_LEAD_AND_APPOINTMENTS.replace("$1", ":lead")
    )
}

fn run_pgbench(url: &str, transactions: usize) -> Stats {
    let run = pgbench(url, &script_path(), 1, transactions + transactions / 10, &[("lead", PROBE_LEAD.to_string())]);
    let mut samples = run.latencies;
    // The first tenth warms up, as for ours.
    let skip = samples.len() / 11;
    Stats::of(samples.split_off(skip))
}

async fn explain(client: &tokio_postgres::Client) {
    for (name, sql) in [("timeline", SELECT_LEAD_AND_APPOINTMENTS), ("changes", SELECT_EVENTS)] {
        // A prepared statement's plan, as the handler runs it (EXPLAIN EXECUTE of a PREPARE).
        client.batch_execute(&format!("PREPARE bench_{name}(text) AS {sql}")).await.unwrap();
        let rows = client.query(&format!("EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_{name}('{PROBE_LEAD}')"), &[]).await.unwrap();
        println!("\nEXPLAIN (ANALYZE, BUFFERS) {name}:");
        for r in rows {
            println!("  {}", r.get::<_, String>(0));
        }
        client.batch_execute(&format!("DEALLOCATE bench_{name}")).await.unwrap();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let script = write_script(Path::new(env!("CARGO_TARGET_TMPDIR")), "timeline", &pgbench_script());
    assert_eq!(script, script_path());
    println!("pgbench script: {}", script.display());
    let sizes = Sizes {
        leads: env_number("BENCH_LEADS", 200_000) as i32,
        appointments: env_number("BENCH_APPOINTMENTS", 1_000_000) as i32,
        events: true,
    };
    let iterations = env_number("BENCH_ITERATIONS", 2000);
    let rounds = env_number("BENCH_ROUNDS", 5);
    // Like main.rs: Lambda hands a process one event at a time, so one runtime thread.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let verdict = rt.block_on(async {
        let db = shared::testing::test_database().await;
        let sql = db.client().await;
        println!("appointment-history benchmark: generating {} leads / {} appointments ...", sizes.leads, sizes.appointments);
        let report = generate(&sql, sizes).await.expect("generate");
        println!("{report}");
        let counts = sql
            .query_one(
                r#"SELECT (SELECT count(*) FROM "Lead"), (SELECT count(*) FROM "Appointment"), (SELECT count(*) FROM "AppointmentEvent"),
                          (SELECT count(*) FROM "Appointment" WHERE "leadId" = $1)"#,
                &[&PROBE_LEAD],
            )
            .await
            .unwrap();
        let (leads, appointments, events, probe): (i64, i64, i64, i64) = (counts.get(0), counts.get(1), counts.get(2), counts.get(3));
        println!(
            "data set: {leads} leads, {appointments} appointments, {events} change-log rows; probe lead {PROBE_LEAD}: {probe} appointments"
        );
        assert_eq!(probe, i64::from(PROBE_APPOINTMENTS));

        let app = Arc::new(App::new(AppConfig::new(db.settings(), SECRET).unwrap()));
        let router = router(app.clone());
        let token = sign(
            &Claims { sub: "bench".into(), exp: (chrono::Utc::now().timestamp() + 3600) as u64, client_ids: vec![PROBE_CLIENT.into()] },
            SECRET.as_bytes(),
        );
        let path = format!("/leads/{PROBE_LEAD}/appointments");
        let plain = event(&token, &path, "limit=50");
        let (status, bytes) = handle(&router, request(&plain)).await;
        assert_eq!(status, 200);
        println!("timeline response: {bytes} bytes for {PROBE_APPOINTMENTS} appointments");

        sql.batch_execute("VACUUM ANALYZE").await.unwrap();
        let before = app.store.round_trips();
        let mut verdict = Verdict::new("timeline p50, handler / pgbench on the same SQL", Bound::AtMost, TARGET_RATIO);
        let mut last = None;
        for round in 1..=rounds {
            let ours_first = round % 2 == 1;
            let url = db.url.clone();
            let anchor = || async { tokio::task::spawn_blocking(move || run_pgbench(&url, iterations)).await.unwrap() };
            let (timed, pgbench) = if ours_first {
                let timed = time_interleaved(&router, &plain, &sql, &[SELECT_LEAD_AND_APPOINTMENTS], iterations).await;
                (timed, anchor().await)
            } else {
                let pgbench = anchor().await;
                (time_interleaved(&router, &plain, &sql, &[SELECT_LEAD_AND_APPOINTMENTS], iterations).await, pgbench)
            };
            let ratio = timed.0.p50.as_secs_f64() / pgbench.p50.as_secs_f64();
            println!(
                "round {round} ({} first): handler p50 {} ms, pgbench p50 {} ms, tokio-postgres p50 {} ms: {ratio:.2}x pgbench",
                if ours_first { "handler" } else { "pgbench" },
                ms(timed.0.p50),
                ms(pgbench.p50),
                ms(timed.2.p50)
            );
            verdict.add("timeline, 50 appointments", ratio);
            last = Some((timed, pgbench));
        }
        let ((ours, ours_with_event, bare), pgbench) = last.expect("at least one round");
        let round_trips = (app.store.round_trips() - before) as f64 / (rounds * (iterations + iterations / 10)) as f64;
        let changes_event = event(&token, &path, "limit=50&include=changes");
        let (with_changes, _, bare_changes) =
            time_interleaved(&router, &changes_event, &sql, &[SELECT_LEAD_AND_APPOINTMENTS, SELECT_EVENTS], iterations).await;
        let booking_event = event(&token, &format!("/leads/{PROBE_LEAD}/booking-status"), "");
        let (booking, _, _) = time_interleaved(&router, &booking_event, &sql, &[SELECT_LEAD_AND_APPOINTMENTS], iterations).await;

        println!(
            "\np50 / p90 / p99 in ms over {iterations} requests (after {} warm-up), one warm connection each; the last round",
            iterations / 10
        );
        println!("{:<50} {:>8} {:>8} {:>8}", "", "p50", "p90", "p99");
        let row = |name: &str, s: &Stats| println!("{name:<50} {:>8} {:>8} {:>8}", ms(s.p50), ms(s.p90), ms(s.p99));
        row("handler: timeline, 50 appointments", &ours);
        row("  the same plus parsing the API Gateway event", &ours_with_event);
        row("  SQL alone: tokio-postgres, same statement (*)", &bare);
        row("  SQL alone: pgbench, same statement", &pgbench);
        row("handler: timeline + include=changes", &with_changes);
        row("  SQL alone: tokio-postgres, same 2 statements (*)", &bare_changes);
        row("handler: booking-status (same statement)", &booking);
        println!("(*) interleaved with the handler's requests");
        println!("round trips per timeline request: {round_trips:.2}");
        if round_trips > 1.0 {
            println!("MORE THAN ONE ROUND TRIP PER TIMELINE PAGE");
            std::process::exit(1);
        }
        explain(&sql).await;
        println!();
        verdict
    });
    verdict.conclude();
}
