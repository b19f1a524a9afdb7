//! `make bench` (`cargo bench -p shared --bench record`): the write path's throughput, p50/p99
//! latency and round trips per call, on one connection and on 8 concurrent ones, for new
//! appointments, duplicate deliveries and status changes — and the anchor: `pgbench` replaying the
//! same statements with the same pipelining (`shared/benches/pgbench/*.sql`, written from the write
//! path's own SQL constants; the bench fails if the committed copies are stale).
//!
//! Environment: `DATABASE_URL` (else an embedded cluster), `BENCH_LEADS` (default 4000),
//! `BENCH_WRITE_SCRIPTS=1` to rewrite the committed pgbench scripts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use shared::domain::*;
use shared::testing::TestDb;
use shared::write_path as wp;
use shared::Store;

const CONCURRENCY: usize = 8;
const START: &str = "'2031-03-20 09:00:00'";
const END: &str = "'2031-03-20 09:30:00'";
const TS: &str = "'2026-11-24 10:00:00'";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    New,
    Duplicate,
    StatusChange,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::New => "new",
            Workload::Duplicate => "duplicate",
            Workload::StatusChange => "status-change",
        }
    }
}

struct Stats {
    ops: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    round_trips: f64,
}

impl Stats {
    fn of(mut latencies: Vec<Duration>, elapsed: Duration, round_trips: f64) -> Self {
        latencies.sort();
        let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
        Stats { ops: latencies.len(), elapsed, p50: pick(0.5), p99: pick(0.99), round_trips }
    }

    fn tps(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

fn observation(lead: usize, workload: Workload) -> Observation {
    let status = if workload == Workload::StatusChange { AppointmentStatus::Canceled } else { AppointmentStatus::Confirmed };
    let mut o = Observation::new(format!("L{lead}"), Provider::Calendly, ObservedStatus::Is(status), AppointmentSource::Webhook);
    o.key = Some(format!("https://api.calendly.com/scheduled_events/ev{lead}/invitees/inv{lead}"));
    o.calendly_event_uri = Some(format!("https://api.calendly.com/scheduled_events/ev{lead}"));
    o.start_at = Some(Utc.with_ymd_and_hms(2031, 3, 20, 9, 0, 0).unwrap());
    o.end_at = Some(Utc.with_ymd_and_hms(2031, 3, 20, 9, 30, 0).unwrap());
    o.timezone = Some("America/New_York".into());
    let updated = if workload == Workload::StatusChange { (3, 9) } else { (2, 15) };
    o.provider_updated_at = Some(Utc.with_ymd_and_hms(2031, 3, updated.0, updated.1, 0, 0).unwrap());
    o.provider_created_at = Some(Utc.with_ymd_and_hms(2031, 3, 2, 15, 0, 0).unwrap());
    if workload == Workload::StatusChange {
        o.canceled_at = o.provider_updated_at;
        o.canceled_by = Some(Canceler::Host);
        o.cancel_reason = Some("Prospect asked to call 415-555-0134 instead".into());
    }
    o.tasks = TaskPolicy::All;
    o
}

async fn seed(db: &TestDb, leads: usize) {
    let client = db.client().await;
    shared::testing::seed_client(&client, "bench", Some("key")).await.unwrap();
    client
        .execute(
            r#"INSERT INTO "Lead" ("id", "clientId", "email", "updatedAt")
               SELECT 'L' || i, 'bench', 'lead' || i || '@example.com', now() FROM generate_series(1, $1::int) i"#,
            &[&(leads as i32)],
        )
        .await
        .unwrap();
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
}

/// Runs the three workloads in order (each builds on the previous one's rows) with `conns` stores.
async fn run_ours(db: &TestDb, leads: usize, conns: usize) -> Vec<(Workload, Stats)> {
    let stores: Vec<Arc<Store>> = futures::future::join_all((0..conns).map(|_| db.store())).await.into_iter().map(Arc::new).collect();
    let mut results = Vec::new();
    let admin = db.client().await;
    for workload in [Workload::New, Workload::Duplicate, Workload::StatusChange] {
        // As autovacuum would: fresh statistics for what the previous phase wrote (the anchor's
        // database gets the same before pgbench runs).
        admin.batch_execute("VACUUM ANALYZE").await.unwrap();
        let rt_before: u64 = stores.iter().map(|s| s.round_trips()).sum();
        let started = Instant::now();
        let tasks: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(c, store)| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    for lead in (1..=leads).filter(|l| l % conns == c) {
                        let obs = observation(lead, workload);
                        let t = Instant::now();
                        let outcome = store.record(obs).await.expect("record");
                        latencies.push(t.elapsed());
                        let expected = match workload {
                            Workload::New => Change::Created,
                            Workload::Duplicate => Change::Unchanged,
                            Workload::StatusChange => Change::Updated,
                        };
                        assert_eq!(outcome.change, expected);
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed();
        let rt_after: u64 = stores.iter().map(|s| s.round_trips()).sum();
        let per_call = (rt_after - rt_before) as f64 / latencies.len() as f64;
        results.push((workload, Stats::of(latencies, elapsed, per_call)));
    }
    results
}

use shared::Change;

/// Substitutes `$n` parameters (highest first, so that `$1` does not eat `$12`).
fn bind(sql: &str, args: &[&str]) -> String {
    let mut out = sql.to_string();
    for (i, arg) in args.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), arg);
    }
    format!("{};", out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The pgbench script replaying what `record` sends for one workload, with the same two pipelines.
fn pgbench_script(workload: Workload, leads: usize) -> String {
    let lead = "('L' || :lead)";
    let key = "('https://api.calendly.com/scheduled_events/ev' || :lead || '/invitees/inv' || :lead || '-' || :key)";
    let seeded_key = "('https://api.calendly.com/scheduled_events/ev' || :lead || '/invitees/inv' || :lead)";
    let (appt_id, read_key) = match workload {
        Workload::New => ("('a' || :lead || '-' || :key)", key),
        _ => ("('a' || :lead)", seeded_key),
    };
    let mut s = format!(
        "-- {} — generated from shared::write_path's SQL by benches/record.rs; do not edit.\n\\set lead random(1, {leads})\n\\set key random(1, 1000000000000)\n\\startpipeline\n{}\n{}\n{}\n\\endpipeline\n\\startpipeline\n",
        workload.name(),
        bind(wp::BEGIN, &[]),
        bind(wp::LOCK_BY_ID, &[lead]),
        bind(wp::READ_WITH_CALENDLY_KEY, &[read_key]),
    );
    let event_id = "('e' || :lead || '-' || :key)";
    let event_uri = "('https://api.calendly.com/scheduled_events/ev' || :lead)";
    let one = |e: &str| format!("ARRAY[{e}]");
    let none = || "'{}'".to_string();
    let row = |key: &str, status: &str, canceled_at: &str, reason: &str, canceled_by: &str| -> Vec<String> {
        [
            appt_id,
            lead,
            "'CALENDLY'",
            "NULL::text",
            key,
            event_uri,
            START,
            END,
            "'America/New_York'",
            status,
            TS,
            canceled_at,
            reason,
            canceled_by,
            "NULL::text",
            "NULL::text",
            "NULL::text",
            TS,
            TS,
            "'WEBHOOK'",
            TS,
            TS,
        ]
        .iter()
        .map(|e| one(e))
        .collect()
    };
    let empty_rows: Vec<String> = (0..22).map(|_| none()).collect();
    let write = |new_rows: Vec<String>, changed_rows: Vec<String>, event: [&str; 5], rollup: [&str; 6], task: Option<&str>| {
        // providerVerifiedAt and providerDeletedAt of the new and changed rows, bound last.
        let later = |rows: &[String]| if rows[0] == none() { [none(), none()] } else { [one(TS), one("NULL::timestamp")] };
        let later_columns: Vec<String> = later(&new_rows).into_iter().chain(later(&changed_rows)).collect();
        let mut args = new_rows;
        args.extend(changed_rows);
        args.extend([event_id, appt_id, event[0], event[1], event[2], event[3], event[4]].iter().map(|e| one(e)));
        args.extend([lead.to_string(), TS.to_string()]);
        args.extend(rollup.iter().map(|e| e.to_string()));
        args.push("true".into());
        match task {
            Some(kind) => args.extend([one("('t' || :lead || '-' || :key)"), one(kind), one(appt_id)]),
            None => args.extend([none(), none(), none()]),
        }
        args.extend(later_columns);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        bind(wp::WRITE_PLAN, &refs) + "\n"
    };
    match workload {
        Workload::New => {
            s += &write(
                row(key, "'CONFIRMED'", "NULL::timestamp", "NULL::text", "NULL::text"),
                empty_rows,
                ["'created'", "'WEBHOOK'", "NULL::text", "'CONFIRMED'", TS],
                [START, END, "'confirmed'", "NULL", "'CALENDLY'", "'webhook'"],
                None,
            );
        }
        Workload::Duplicate => {}
        Workload::StatusChange => {
            s += &write(
                empty_rows,
                row(seeded_key, "'CANCELED'", TS, "'Prospect asked to call [phone] instead'", "'host'"),
                ["'status_changed'", "'WEBHOOK'", "'CONFIRMED'", "'CANCELED'", TS],
                [START, END, "'canceled'", TS, "'CALENDLY'", "'webhook'"],
                // Ours cancels each appointment once, so each of its task inserts is new; pgbench
                // picks leads at random, so the task's type carries the transaction's key to keep
                // its inserts new too instead of cheap ON CONFLICT skips.
                Some("('meeting-canceled-' || :key)"),
            );
        }
    }
    s += &bind(wp::COMMIT, &[]);
    s += "\n\\endpipeline\n";
    s
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pgbench")
}

/// The committed scripts must be what the current SQL gives.
fn check_scripts(leads: usize) {
    let write = std::env::var("BENCH_WRITE_SCRIPTS").is_ok_and(|v| v == "1");
    for w in [Workload::New, Workload::Duplicate, Workload::StatusChange] {
        let path = scripts_dir().join(format!("{}.sql", w.name()));
        let fresh = pgbench_script(w, leads);
        if write {
            std::fs::create_dir_all(scripts_dir()).unwrap();
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(committed, fresh, "{} is stale: rerun with BENCH_WRITE_SCRIPTS=1 BENCH_LEADS={leads}", path.display());
    }
}

fn pgbench_binary() -> PathBuf {
    let embedded = shared::embedded::find_binaries().ok().map(|b| b.join("pgbench")).filter(|p| p.exists());
    embedded.unwrap_or_else(|| PathBuf::from("pgbench"))
}

/// Runs pgbench with per-transaction logging and reads the latencies.
fn run_pgbench(url: &str, workload: Workload, clients: usize, transactions_per_client: usize) -> Stats {
    let logdir = std::env::temp_dir().join(format!("appt-pgbench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&logdir).unwrap();
    let script = scripts_dir().join(format!("{}.sql", workload.name()));
    let out = Command::new(pgbench_binary())
        .args(["-n", "-M", "prepared", "-f"])
        .arg(&script)
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
            "-t",
            &transactions_per_client.to_string(),
            "-l",
            "--log-prefix",
        ])
        .arg(logdir.join("tx"))
        .arg(url)
        .output()
        .expect("run pgbench");
    assert!(out.status.success(), "pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tps: f64 = stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .expect("pgbench tps");
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(&logdir).unwrap().flatten() {
        for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
            if let Some(us) = line.split_whitespace().nth(2).and_then(|v| v.parse::<u64>().ok()) {
                latencies.push(Duration::from_micros(us));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&logdir);
    let ops = latencies.len();
    Stats::of(latencies, Duration::from_secs_f64(ops as f64 / tps), 2.0)
}

async fn fresh_db(leads: usize, seed_appointments: bool) -> TestDb {
    let db = shared::testing::test_database().await;
    seed(&db, leads).await;
    if seed_appointments {
        // The rows `new` leaves behind, for pgbench's duplicate and status-change phases.
        let store = db.store().await;
        for lead in 1..=leads {
            store.record(observation(lead, Workload::New)).await.unwrap();
        }
        // pgbench addresses the seeded appointment by a fixed id.
        let client = db.client().await;
        client
            .batch_execute(r#"UPDATE "Appointment" SET "id" = 'a' || substring("leadId" from 2) WHERE "calendlyInviteeUri" IS NOT NULL"#)
            .await
            .unwrap();
        client.batch_execute("VACUUM ANALYZE").await.unwrap();
    }
    db
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let leads: usize = std::env::var("BENCH_LEADS").ok().and_then(|v| v.parse().ok()).unwrap_or(4000);
    check_scripts(leads);
    // One thread, like a Lambda instance serving one request at a time; the 8 concurrent
    // connections are 8 tasks on it (the client work is small next to the server's).
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        println!("record benchmark: {leads} leads per run; p50/p99 in ms; throughput in calls/s");
        println!(
            "{:<14} {:>5} {:>10} {:>9} {:>9} {:>7} | {:>10} {:>9} {:>9} | {:>6}",
            "workload", "conns", "ours/s", "p50", "p99", "rt/call", "pgbench/s", "p50", "p99", "ratio"
        );
        // Rounds alternate ours and the anchor on the same cluster, so that a neighbour's burst
        // of load hits both; the verdict uses the median ratio of each row.
        let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
        let mut ratios: std::collections::BTreeMap<(usize, &'static str), Vec<f64>> = Default::default();
        let mut failures = Vec::new();
        for round in 1..=rounds {
            for conns in [1, CONCURRENCY] {
                let ours_db = fresh_db(leads, false).await;
                let ours = run_ours(&ours_db, leads, conns).await;
                for (workload, stats) in ours {
                    let anchor_db = fresh_db(leads, workload != Workload::New).await;
                    let anchor = run_pgbench(&anchor_db.url, workload, conns, leads / conns);
                    let ratio = stats.tps() / anchor.tps();
                    println!(
                        "{:<14} {:>5} {:>10.0} {:>9} {:>9} {:>7.2} | {:>10.0} {:>9} {:>9} | {:>6.2}  (round {round})",
                        workload.name(),
                        conns,
                        stats.tps(),
                        ms(stats.p50),
                        ms(stats.p99),
                        stats.round_trips,
                        anchor.tps(),
                        ms(anchor.p50),
                        ms(anchor.p99),
                        ratio
                    );
                    if stats.round_trips > 3.0 {
                        failures.push(format!("{} x{conns}: {:.2} round trips per call", workload.name(), stats.round_trips));
                    }
                    ratios.entry((conns, workload.name())).or_default().push(ratio);
                }
            }
        }
        println!("median throughput ratio, ours / pgbench:");
        for ((conns, name), mut r) in ratios {
            r.sort_by(f64::total_cmp);
            let median = r[r.len() / 2];
            println!("  {name:<14} x{conns}: {median:.2}");
            if median < 0.8 {
                failures.push(format!("{name} x{conns}: {median:.2}x pgbench's throughput (target 0.8x)"));
            }
        }
        if failures.is_empty() {
            println!("targets met: at most 3 round trips per record, throughput at least 0.8x pgbench");
        } else {
            println!("TARGETS MISSED:\n  {}", failures.join("\n  "));
            std::process::exit(1);
        }
    });
}
