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
//! - each round runs ours and the anchor on a copy each, taking turns slice by slice (`BENCH_SLICES`,
//!   default 10, of the leads; which side goes first alternates), so that a slow spell of a shared
//!   machine, which lasts seconds, slows both sides alike instead of deciding the round;
//! - the verdict is each row's median ratio over the rounds (≥ 0.8); the process exits 1 when a
//!   row misses it.
//!
//! Besides each side's client CPU per call, the bench reports the server's CPU per call (its
//! sessions' CPU, read from the postmaster's `/proc` entry when the server runs on this machine;
//! it includes each slice's sessions starting and ending, as many for both sides).
//! Both sides send the same statements, so where the server works more for ours, it is in how the
//! client talks: tokio-postgres ends every statement with its own `Sync`, and the server flushes and
//! answers each one, where pgbench's pipeline has one `Sync` per round trip.
//!
//! Environment: `DATABASE_URL` (else an embedded cluster), `BENCH_LEADS` (default 8000),
//! `BENCH_SLICES` (default 10), `BENCH_ROUNDS` (default 5), `BENCH_ONLY` (rows to run, e.g.
//! `"duplicate x8,status-change x1"`, for profiling one).

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

/// One side's measurements over a row's slices, summed.
#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    /// The slices' wall times, summed.
    elapsed: Duration,
    round_trips: u64,
    /// The client's CPU time (user + system): ours is this process's, the anchor's is pgbench's.
    cpu: Duration,
    /// The server's CPU time (its sessions', user + system), when the server runs on this
    /// machine: the part of the cost the client's way of talking changes too (one flush per `Sync`).
    server_cpu: Option<Duration>,
    /// Ours: the write statement's generic and custom plans on the first connection of each thread.
    plans: Option<(i64, i64)>,
}

impl Stats {
    fn add(&mut self, slice: Stats) {
        self.server_cpu = match (self.server_cpu, slice.server_cpu) {
            (Some(a), Some(b)) => Some(a + b),
            (None, b) if self.latencies.is_empty() => b,
            _ => None,
        };
        self.latencies.extend(slice.latencies);
        self.elapsed += slice.elapsed;
        self.round_trips += slice.round_trips;
        self.cpu += slice.cpu;
        self.plans = match (self.plans, slice.plans) {
            (Some(a), Some(b)) => Some((a.0 + b.0, a.1 + b.1)),
            (a, b) => a.or(b),
        };
    }

    fn ops(&self) -> usize {
        self.latencies.len()
    }

    fn tps(&self) -> f64 {
        self.ops() as f64 / self.elapsed.as_secs_f64()
    }

    fn latency(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        shared::testing::percentile(&sorted, q)
    }

    fn per_call(&self, total: Duration) -> Duration {
        total / self.ops().max(1) as u32
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
fn run_ours(db: &TestDb, leads: std::ops::RangeInclusive<usize>, conns: usize, workload: Workload) -> Stats {
    let threads = conns.min(2);
    let ready = Arc::new(std::sync::Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (db, ready, leads) = (TestDb { url: db.url.clone(), name: db.name.clone() }, ready.clone(), leads.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    let mine: Vec<usize> = (0..conns).filter(|c| c % threads == t).collect();
                    let stores: Vec<Store> = futures::future::join_all(mine.iter().map(|_| db.store())).await;
                    ready.wait();
                    let rt_before: u64 = stores.iter().map(|s| s.round_trips()).sum();
                    let leads = &leads;
                    let runs = stores.iter().zip(&mine).map(|(store, &c)| async move {
                        let mut latencies = Vec::with_capacity(leads.clone().count() / conns + 1);
                        for lead in leads.clone().filter(|l| (l - 1) % conns == c) {
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
    Stats { latencies, elapsed: finished - started, round_trips, plans: Some(plans), ..Stats::default() }
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

/// One side's slice of a row: the leads `first..=last` on its own copy of the template. The
/// slice's sessions are made before its clock starts and have ended when it returns, so that the
/// server's CPU read around it is theirs.
async fn run_slice(side: Side, db: &TestDb, first: usize, last: usize, conns: usize, workload: Workload, server: &Server) -> Stats {
    let who = if side == Side::Ours { libc::RUSAGE_SELF } else { libc::RUSAGE_CHILDREN };
    let server_before = server.sessions_cpu();
    let cpu_before = cpu_time(who);
    let mut stats = match side {
        Side::Ours => {
            let copy = TestDb { url: db.url.clone(), name: db.name.clone() };
            tokio::task::spawn_blocking(move || run_ours(&copy, first..=last, conns, workload)).await.unwrap()
        }
        Side::Pgbench => {
            let (url, script) = (db.url.clone(), script_path(workload));
            // The script's counter starts where this slice does (see NEXT_LEAD).
            let defines = [("n", ((first - 1) / conns).to_string()), ("conns", conns.to_string())];
            let run =
                tokio::task::spawn_blocking(move || pgbench(&url, &script, conns, (last + 1 - first) / conns, &defines)).await.unwrap();
            let ops = run.latencies.len();
            Stats {
                elapsed: Duration::from_secs_f64(ops as f64 / run.tps),
                round_trips: 2 * ops as u64,
                latencies: run.latencies,
                ..Stats::default()
            }
        }
    };
    stats.cpu = cpu_time(who) - cpu_before;
    server.wait_for_sessions_to_end(&db.name).await;
    if let (Some(before), Some(after)) = (server_before, server.sessions_cpu()) {
        stats.server_cpu = Some(after.saturating_sub(before));
    }
    stats
}

/// One row of one round: ours and the anchor each on a fresh copy of the template, taking turns
/// slice by slice (`slices` slices of the leads, `first` going first in every other slice), so that
/// a slow spell of a shared machine falls on both sides alike instead of deciding the round.
async fn run_row(
    template: &TestDb,
    leads: usize,
    slices: usize,
    conns: usize,
    workload: Workload,
    first: Side,
    server: &Server,
) -> [Stats; 2] {
    let copies = [copy_of(template).await.expect("copy the template"), copy_of(template).await.expect("copy the template")];
    let mut stats = [Stats::default(), Stats::default()];
    let per_slice = leads / slices;
    for slice in 0..slices {
        let second = if first == Side::Ours { Side::Pgbench } else { Side::Ours };
        let order = if slice % 2 == 0 { [first, second] } else { [second, first] };
        for side in order {
            let i = side as usize;
            let lead = slice * per_slice + 1;
            stats[i].add(run_slice(side, &copies[i], lead, lead + per_slice - 1, conns, workload, server).await);
        }
    }
    for copy in copies {
        drop_database(copy).await.expect("drop the copy");
    }
    stats
}

/// The server the copies live on: an idle session to watch the copies' sessions end, and the
/// postmaster, when it runs on this machine.
struct Server {
    admin: tokio_postgres::Client,
    postmaster: Option<u32>,
}

impl Server {
    async fn of() -> Self {
        // On the maintenance database: a session on a template would keep it from being copied.
        let url = shared::testing::server_url().await.expect("the server");
        let admin = shared::store::DbSettings::from_url(&url).unwrap().connect().await.unwrap();
        let backend: i32 = admin.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
        let postmaster = std::fs::read_to_string(format!("/proc/{backend}/stat"))
            .ok()
            .and_then(|stat| stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok());
        Server { admin, postmaster }
    }

    /// The CPU time (user + system) of the server's ended sessions, from `/proc` (a postmaster
    /// waits for its sessions, so their time adds to its children's).
    fn sessions_cpu(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.postmaster?)).ok()?;
        // Fields after the parenthesised name: state is field 3; cutime and cstime are 16 and 17.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
        // SAFETY: sysconf reads a constant of the system.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Some(Duration::from_micros(ticks * 1_000_000 / per_second.max(1)))
    }

    /// Waits until no session is connected to `database`, and a moment more: the postmaster counts
    /// a session's CPU once it has reaped the process.
    async fn wait_for_sessions_to_end(&self, database: &str) {
        let sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1";
        for _ in 0..200 {
            if self.admin.query_one(sql, &[&database]).await.unwrap().get::<_, i64>(0) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours = 0,
    Pgbench = 1,
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
    let slices: usize = std::env::var("BENCH_SLICES").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    assert!(leads.is_multiple_of(CONCURRENCY * slices), "BENCH_LEADS must be a multiple of {CONCURRENCY} x BENCH_SLICES ({slices})");
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
        let server = Server::of().await;
        println!(
            "record benchmark: {leads} leads per run in {slices} slices taking turns, {rounds} rounds; p50/p99 in ms; \
             throughput in calls/s; client and server CPU in µs per call"
        );
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
                let first = if ours_first { Side::Ours } else { Side::Pgbench };
                let [ours, anchor] = run_row(template, leads, slices, conns, workload, first, &server).await;
                let ratio = ours.tps() / anchor.tps();
                let round_trips = ours.round_trips as f64 / ours.ops() as f64;
                println!(
                    "{:<14} {:>5} {:>9.0} {:>8} {:>8} {:>7.2} {:>7.0} {:>7} | {:>9.0} {:>8} {:>8} {:>7.0} {:>7} | {:>6.2}  (round {round}, {} first)",
                    workload.name(),
                    conns,
                    ours.tps(),
                    ms(ours.latency(0.5)),
                    ms(ours.latency(0.99)),
                    round_trips,
                    ours.per_call(ours.cpu).as_secs_f64() * 1e6,
                    micros(ours.server_cpu.map(|c| ours.per_call(c))),
                    anchor.tps(),
                    ms(anchor.latency(0.5)),
                    ms(anchor.latency(0.99)),
                    anchor.per_call(anchor.cpu).as_secs_f64() * 1e6,
                    micros(anchor.server_cpu.map(|c| anchor.per_call(c))),
                    ratio,
                    if ours_first { "ours" } else { "pgbench" }
                );
                if let Some((generic, custom)) = ours.plans {
                    if generic + custom > 0 {
                        println!(
                            "    ours' write statement: {generic} generic plans, {custom} custom plans (first connection of each thread and slice)"
                        );
                    }
                }
                if round_trips > 2.0 {
                    too_many_round_trips.push(format!("{} x{conns}: {round_trips:.2} round trips per call", workload.name()));
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
