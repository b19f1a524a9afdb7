//! `make bench` (`cargo bench -p shared --bench record`): the write path's throughput, p50/p99
//! latency and round trips per call, on one connection and on 8 concurrent ones, for new
//! appointments, duplicate deliveries and status changes, against the anchor: `pgbench` replaying
//! the same statements with the same pipelining (scripts written at each run from the write path's
//! own SQL constants into `target/tmp/pgbench/`, whose paths the bench prints).
//!
//! A verdict that holds on a shared machine:
//! - every run starts from a fresh copy of one template database (leads only for `new`; leads with
//!   one appointment each for `duplicate` and `status-change`), so neither side inherits the other's
//!   bloat or statistics;
//! - ours and pgbench touch the same leads, each once, split over the connections the same way
//!   (lead `n` goes to connection `n mod conns`), with the same keys;
//! - each round runs ours and the anchor back to back, alternating which goes first;
//! - the verdict is each row's median ratio over the rounds (≥ 0.8); the process exits 1 when a
//!   row misses it.
//!
//! Besides each side's client CPU per call, the bench reports the server's CPU per call (its
//! sessions' CPU, read from the postmaster's `/proc` entry when the server runs on this machine):
//! the two sides make the server work alike, so a gap in throughput lies in the client and in how
//! it talks (tokio-postgres ends every statement with its own `Sync`, pgbench's pipeline has one).
//!
//! Environment: `DATABASE_URL` (else an embedded cluster), `BENCH_LEADS` (default 8000: long
//! enough that the shortest row, duplicates on 8 connections, lasts about a second and a single
//! scheduling hiccup of a shared machine does not decide a round), `BENCH_ROUNDS` (default 5),
//! `BENCH_ONLY` (rows to run, e.g. `"duplicate x8,status-change x1"`, for profiling one).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use shared::domain::*;
use shared::testing::bench::{copy_of, drop_database, pgbench, write_script, Bound, Verdict};
use shared::testing::TestDb;
use shared::write_path as wp;
use shared::{Change, Store};

const CONCURRENCY: usize = 8;
const TARGET: f64 = 0.8;
const START: &str = "'2031-03-20 09:00:00'";
const END: &str = "'2031-03-20 09:30:00'";
const TS: &str = "'2026-11-24 10:00:00'";
/// The lead pgbench's client takes next: each lead once, lead `n` on connection `n mod conns`, as
/// ours splits them (`n` counts the client's transactions from `-D n=0`).
const NEXT_LEAD: &str = "\\set n :n + 1\n\\set lead (:n - 1) * :conns + :client_id + 1\n";
/// Ids shaped like ours (36 characters, increasing with the lead as uuid v7 ids increase with
/// time), so that the anchor's index inserts cost what ours do.
const APPOINTMENT_ID: &str = "('a' || lpad((:lead)::text, 35, '0'))";

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

    fn expected(self) -> Change {
        match self {
            Workload::New => Change::Created,
            Workload::Duplicate => Change::Unchanged,
            Workload::StatusChange => Change::Updated,
        }
    }
}

struct Stats {
    /// The client's CPU time per call (user + system): ours is this process's, the anchor's is
    /// pgbench's.
    cpu_per_call: Duration,
    /// The server's CPU time per call (its sessions', user + system), when the server runs on this
    /// machine: the part of the cost the client's way of talking changes too (one flush per `Sync`).
    server_cpu_per_call: Option<Duration>,
    /// Ours: the write statement's generic and custom plans on the first connection.
    plans: Option<(i64, i64)>,
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
        Stats { cpu_per_call: Duration::ZERO, server_cpu_per_call: None, plans: None, ops: latencies.len(), elapsed, p50: pick(0.5), p99: pick(0.99), round_trips }
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

/// Ours: `record` of each lead once, lead `n` on connection `n mod conns`, as pgbench runs: up to
/// two threads (`-j 2`), each a single-threaded runtime (as every function's Lambda runtime is)
/// serving its share of the connections. Connections are made and their statements prepared before
/// the clock starts, as pgbench excludes its connection set-up.
fn run_ours(db: &TestDb, leads: usize, conns: usize, workload: Workload) -> Stats {
    let threads = conns.min(2);
    let ready = Arc::new(std::sync::Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (db, ready) = (TestDb { url: db.url.clone(), name: db.name.clone() }, ready.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    let mine: Vec<usize> = (0..conns).filter(|c| c % threads == t).collect();
                    let stores: Vec<Store> = futures::future::join_all(mine.iter().map(|_| db.store())).await;
                    ready.wait();
                    let rt_before: u64 = stores.iter().map(|s| s.round_trips()).sum();
                    let runs = stores.iter().zip(&mine).map(|(store, &c)| async move {
                        let mut latencies = Vec::with_capacity(leads / conns + 1);
                        for lead in (1..=leads).filter(|l| (l - 1) % conns == c) {
                            let obs = observation(lead, workload);
                            let started = Instant::now();
                            let outcome = store.record(obs).await.expect("record");
                            latencies.push(started.elapsed());
                            assert_eq!(outcome.change, workload.expected());
                        }
                        latencies
                    });
                    let latencies: Vec<Duration> = futures::future::join_all(runs).await.into_iter().flatten().collect();
                    let finished = Instant::now();
                    let round_trips: u64 = stores.iter().map(|s| s.round_trips()).sum::<u64>() - rt_before;
                    // How PostgreSQL ran the write statement: planned once and reused (generic)
                    // or planned again for every call (custom).
                    let plans = stores[0]
                        .conn()
                        .await
                        .unwrap()
                        .client
                        .query_one(
                            "SELECT coalesce(sum(generic_plans), 0)::int8, coalesce(sum(custom_plans), 0)::int8 \
                             FROM pg_prepared_statements WHERE statement LIKE 'WITH new_rows%'",
                            &[],
                        )
                        .await
                        .unwrap();
                    (latencies, finished, round_trips, (plans.get::<_, i64>(0), plans.get::<_, i64>(1)))
                })
            })
        })
        .collect();
    ready.wait();
    let started = Instant::now();
    let (mut latencies, mut finished, mut round_trips, mut plans) = (Vec::new(), started, 0, (0, 0));
    for worker in workers {
        let (l, f, r, p) = worker.join().expect("bench worker");
        latencies.extend(l);
        finished = finished.max(f);
        round_trips += r;
        plans = (plans.0 + p.0, plans.1 + p.1);
    }
    let per_call = round_trips as f64 / latencies.len() as f64;
    let mut stats = Stats::of(latencies, finished - started, per_call);
    stats.plans = Some(plans);
    stats
}

/// Substitutes `$n` parameters (highest first, so that `$1` does not eat `$12`).
fn bind(sql: &str, args: &[&str]) -> String {
    let mut out = sql.to_string();
    for (i, arg) in args.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), arg);
    }
    format!("{};", out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The pgbench script replaying what `record` sends for one workload, with the same two pipelines.
fn pgbench_script(workload: Workload) -> String {
    let lead = "('L' || :lead)";
    let key = "('https://api.calendly.com/scheduled_events/ev' || :lead || '/invitees/inv' || :lead)";
    let mut s = format!(
        "-- {} — written from shared::write_path's SQL by benches/record.rs at each run.\n{NEXT_LEAD}\\startpipeline\n{}\n{}\n{}\n\\endpipeline\n\\startpipeline\n",
        workload.name(),
        bind(wp::BEGIN, &[]),
        bind(wp::LOCK_BY_ID, &[lead]),
        bind(wp::READ_WITH_CALENDLY_KEY, &[key]),
    );
    let event_id = "('e' || lpad((:lead)::text, 35, '0'))";
    let event_uri = "('https://api.calendly.com/scheduled_events/ev' || :lead)";
    let one = |e: &str| format!("ARRAY[{e}]");
    let none = || "'{}'".to_string();
    let row = |status: &str, canceled_at: &str, reason: &str, canceled_by: &str| -> Vec<String> {
        [
            APPOINTMENT_ID,
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
        args.extend([event_id, APPOINTMENT_ID, event[0], event[1], event[2], event[3], event[4]].iter().map(|e| one(e)));
        args.extend([lead.to_string(), TS.to_string()]);
        args.extend(rollup.iter().map(|e| e.to_string()));
        args.push("true".into());
        match task {
            Some(kind) => args.extend([one("('t' || lpad((:lead)::text, 35, '0'))"), one(kind), one(APPOINTMENT_ID)]),
            None => args.extend([none(), none(), none()]),
        }
        args.extend(later_columns);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        bind(wp::WRITE_PLAN, &refs) + "\n"
    };
    match workload {
        Workload::New => {
            s += &write(
                row("'CONFIRMED'", "NULL::timestamp", "NULL::text", "NULL::text"),
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
                row("'CANCELED'", TS, "'Prospect asked to call [phone] instead'", "'host'"),
                ["'status_changed'", "'WEBHOOK'", "'CONFIRMED'", "'CANCELED'", TS],
                [START, END, "'canceled'", TS, "'CALENDLY'", "'webhook'"],
                Some("'meeting-canceled'"),
            );
        }
    }
    s += &bind(wp::COMMIT, &[]);
    s += "\n\\endpipeline\n";
    s
}

fn script_path(workload: Workload) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("pgbench").join(format!("{}.sql", workload.name()))
}

/// A database of `leads` leads of one workspace; with `appointments`, each lead also has the
/// appointment `new` gives it (recorded through `record`, renamed to the anchor's id shape).
async fn template(leads: usize, appointments: bool) -> TestDb {
    let db = shared::testing::test_database().await;
    seed(&db, leads).await;
    if appointments {
        // A session keeps the plans it made first (its prepared statements', and the foreign-key
        // checks'): made on the empty table they scan it, and seeding would take quadratic time.
        // So a first few rows, fresh statistics, then new sessions for the rest.
        let first = leads.min(64);
        let store = db.store().await;
        for lead in 1..=first {
            store.record(observation(lead, Workload::New)).await.unwrap();
        }
        drop(store);
        db.client().await.batch_execute("ANALYZE").await.unwrap();
        let store = db.store().await;
        for lead in first + 1..=leads {
            store.record(observation(lead, Workload::New)).await.unwrap();
        }
        drop(store);
        let client = db.client().await;
        client.batch_execute(r#"UPDATE "Appointment" SET "id" = 'a' || lpad(substring("leadId" from 2), 35, '0')"#).await.unwrap();
        client.batch_execute("VACUUM ANALYZE").await.unwrap();
    }
    db
}

/// CPU time (user + system) of this process or of its waited-for children.
fn cpu_time(who: libc::c_int) -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(who, &mut usage) };
    let micros = |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    micros(usage.ru_utime) + micros(usage.ru_stime)
}

/// The CPU time (user + system) of the ended sessions of the PostgreSQL server whose postmaster
/// is `pid`, from `/proc` (a postmaster waits for its sessions, so their time adds to its
/// children's). `None` when the server is not on this machine.
fn sessions_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised name: state is field 3; cutime and cstime are 16 and 17.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Some(Duration::from_micros(ticks * 1_000_000 / per_second.max(1)))
}

/// The postmaster of the server `db` is on, when it runs on this machine.
async fn postmaster_of(db: &TestDb) -> Option<u32> {
    let backend: i32 = db.client().await.query_one("SELECT pg_backend_pid()", &[]).await.ok()?.get(0);
    let stat = std::fs::read_to_string(format!("/proc/{backend}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// One run of one side on a fresh copy of the template.
async fn run(side: Side, template: &TestDb, leads: usize, conns: usize, workload: Workload, postmaster: Option<u32>) -> Stats {
    let db = copy_of(template).await.expect("copy the template");
    let who = if side == Side::Ours { libc::RUSAGE_SELF } else { libc::RUSAGE_CHILDREN };
    let server_before = postmaster.and_then(sessions_cpu);
    let cpu_before = cpu_time(who);
    let mut stats = match side {
        Side::Ours => {
            let copy = TestDb { url: db.url.clone(), name: db.name.clone() };
            tokio::task::spawn_blocking(move || run_ours(&copy, leads, conns, workload)).await.unwrap()
        }
        Side::Pgbench => {
            let url = db.url.clone();
            let script = script_path(workload);
            let run = tokio::task::spawn_blocking(move || {
                pgbench(&url, &script, conns, leads / conns, &[("n", "0".into()), ("conns", conns.to_string())])
            })
            .await
            .unwrap();
            let ops = run.latencies.len();
            Stats::of(run.latencies, Duration::from_secs_f64(ops as f64 / run.tps), 2.0)
        }
    };
    stats.cpu_per_call = (cpu_time(who) - cpu_before) / stats.ops as u32;
    drop_database(db).await.expect("drop the copy");
    // DROP DATABASE waits for the copy's sessions to end; the postmaster counts a session's CPU
    // once it has reaped the process, a moment later.
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let (Some(before), Some(after)) = (server_before, postmaster.and_then(sessions_cpu)) {
        stats.server_cpu_per_call = Some(after.saturating_sub(before) / stats.ops as u32);
    }
    stats
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours,
    Pgbench,
}

fn micros(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.0}", d.as_secs_f64() * 1e6))
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let leads: usize = std::env::var("BENCH_LEADS").ok().and_then(|v| v.parse().ok()).unwrap_or(8000);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    // `BENCH_ONLY="duplicate x8,new x1"`: these rows alone (for profiling one of them).
    let only: Option<Vec<String>> =
        std::env::var("BENCH_ONLY").ok().map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect());
    assert!(leads % CONCURRENCY == 0, "BENCH_LEADS must be a multiple of {CONCURRENCY}");
    let workloads = [Workload::New, Workload::Duplicate, Workload::StatusChange];
    for w in workloads {
        let path = write_script(Path::new(env!("CARGO_TARGET_TMPDIR")), w.name(), &pgbench_script(w));
        assert_eq!(path, script_path(w));
        println!("pgbench script: {}", path.display());
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let empty = template(leads, false).await;
        let seeded = template(leads, true).await;
        let postmaster = postmaster_of(&empty).await;
        println!("record benchmark: {leads} leads per run, {rounds} rounds; p50/p99 in ms; throughput in calls/s");
        println!(
            "{:<14} {:>5} {:>9} {:>8} {:>8} {:>7} {:>7} {:>7} | {:>9} {:>8} {:>8} {:>7} {:>7} | {:>6}",
            "workload", "conns", "ours/s", "p50", "p99", "rt/call", "cpu µs", "srv µs", "pgbench/s", "p50", "p99", "cpu µs", "srv µs", "ratio"
        );
        let mut verdict = Verdict::new("throughput, ours / pgbench", Bound::AtLeast, TARGET);
        let mut too_many_round_trips = Vec::new();
        for round in 1..=rounds {
            for (i, (conns, workload)) in [1, CONCURRENCY].into_iter().flat_map(|c| workloads.map(|w| (c, w))).enumerate() {
                if only.as_ref().is_some_and(|only| !only.iter().any(|o| *o == format!("{} x{conns}", workload.name()))) {
                    continue;
                }
                let template = if workload == Workload::New { &empty } else { &seeded };
                let ours_first = (round + i) % 2 == 0;
                let order = if ours_first { [Side::Ours, Side::Pgbench] } else { [Side::Pgbench, Side::Ours] };
                let mut results = Vec::new();
                for side in order {
                    results.push(run(side, template, leads, conns, workload, postmaster).await);
                }
                if !ours_first {
                    results.reverse();
                }
                let (ours, anchor) = (&results[0], &results[1]);
                let ratio = ours.tps() / anchor.tps();
                println!(
                    "{:<14} {:>5} {:>9.0} {:>8} {:>8} {:>7.2} {:>7.0} {:>7} | {:>9.0} {:>8} {:>8} {:>7.0} {:>7} | {:>6.2}  (round {round}, {} first)",
                    workload.name(),
                    conns,
                    ours.tps(),
                    ms(ours.p50),
                    ms(ours.p99),
                    ours.round_trips,
                    ours.cpu_per_call.as_secs_f64() * 1e6,
                    micros(ours.server_cpu_per_call),
                    anchor.tps(),
                    ms(anchor.p50),
                    ms(anchor.p99),
                    anchor.cpu_per_call.as_secs_f64() * 1e6,
                    micros(anchor.server_cpu_per_call),
                    ratio,
                    if ours_first { "ours" } else { "pgbench" }
                );
                if let Some((generic, custom)) = ours.plans {
                    if generic + custom > 0 {
                        println!(
                            "    ours' write statement: {generic} generic plans, {custom} custom plans (first connection of each thread)"
                        );
                    }
                }
                if ours.round_trips > 2.0 {
                    too_many_round_trips.push(format!("{} x{conns}: {:.2} round trips per call", workload.name(), ours.round_trips));
                }
                verdict.add(&format!("{} x{conns}", workload.name()), ratio);
            }
        }
        if !too_many_round_trips.is_empty() {
            println!("MORE THAN 2 ROUND TRIPS PER RECORD:\n  {}", too_many_round_trips.join("\n  "));
            std::process::exit(1);
        }
        verdict.conclude();
    });
}
