//! The "cold start and size" section: each function's deployable arm64 bootstrap and its stripped
//! size, and its cold start — process start to the first answered event — through a local Lambda
//! Runtime API, without its database (an event refused before any query, the database's port
//! closed) and with it (a real event on a fresh, migrated, seeded embedded PostgreSQL database).
//!
//! The cold starts are of the x86_64 host release binaries: the arm64 ones cannot run on an x86_64
//! machine without an emulator, which would measure the emulator.

pub mod build;
pub mod cases;
pub mod runtime_api;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::table::Table;
use cases::{Case, FUNCTIONS};
use runtime_api::{Invocation, Running};

pub const SECTION: &str = "cold start and size";
/// Decimal megabytes, the stricter reading of "10 MB".
const MAX_SIZE_BYTES: u64 = 10_000_000;
const MAX_COLD_START: Duration = Duration::from_millis(50);
/// Timed runs per case, after one untimed run (the binary in the page cache, the server warm).
const RUNS: usize = 7;
/// A run that has not answered by then has failed.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

pub async fn run(table: &mut Table) {
    let started = Instant::now();
    let root = build::workspace_root();
    let target = build::target_dir(&root);

    eprintln!("{SECTION}: cargo lambda build --release --arm64 (five functions)");
    let arm64 = build::arm64(&root, &target).await;
    match &arm64 {
        Ok(_) => sizes(table, &target).await,
        Err(e) => FUNCTIONS.iter().for_each(|f| table.failed(SECTION, format!("{f} stripped arm64 size"), e)),
    }

    if build::prebuilt().is_none() {
        eprintln!("{SECTION}: cargo build --release (host binaries)");
    }
    let host = build::host(&root, &target).await;
    let cold_started = Instant::now();
    match &host {
        Ok(_) => cold_starts(table, &target).await,
        Err(e) => FUNCTIONS.iter().for_each(|f| table.failed(SECTION, format!("{f} cold start"), e)),
    }

    let took = |build: &Result<Duration, String>| build.as_ref().map_or("failed".to_owned(), |d| format!("{:.0} s", d.as_secs_f64()));
    let measured = format!(
        "{:.0} s: arm64 build {}, host build {}, cold starts {:.0} s",
        started.elapsed().as_secs_f64(),
        took(&arm64),
        if build::prebuilt().is_some() { "none (scripts/soak.sh's binaries)".to_owned() } else { took(&host) },
        cold_started.elapsed().as_secs_f64()
    );
    table.push(SECTION, "section wall time, builds included", measured, "reported", true);
}

async fn sizes(table: &mut Table, target: &Path) {
    for function in FUNCTIONS {
        let check = format!("{function} stripped arm64 size");
        let bootstrap = build::arm64_bootstrap(target, function);
        let size = match std::fs::metadata(&bootstrap) {
            Ok(meta) => meta.len(),
            Err(e) => {
                table.failed(SECTION, check, format!("{}: {e}", bootstrap.display()));
                continue;
            }
        };
        let kind = match build::describe(&bootstrap).await {
            Ok(kind) => kind,
            Err(e) => {
                table.failed(SECTION, check, e);
                continue;
            }
        };
        let what = match (kind.aarch64, kind.stripped) {
            (true, true) => "stripped aarch64 ELF",
            (true, false) => "aarch64 ELF, NOT stripped",
            (false, _) => "NOT an aarch64 ELF",
        };
        let measured = format!("{:.2} MB ({size} bytes, {what})", size as f64 / 1e6);
        table.push(SECTION, check, measured, "< 10 MB, stripped", size < MAX_SIZE_BYTES && kind.aarch64 && kind.stripped);
    }
}

async fn cold_starts(table: &mut Table, target: &Path) {
    // A port nobody listens on: the database of the runs without one, and the providers' base.
    let closed = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => return table.failed(SECTION, "cold start", format!("no free port: {e}")),
    };
    let closed_url = format!("postgres://soak@127.0.0.1:{closed}/soak");
    let providers = format!("http://127.0.0.1:{closed}");

    for function in FUNCTIONS {
        let binary = build::host_binary(target, function);
        let check = format!("{function} cold start, no database (x86_64 host binary)");
        let runs = measure(&binary, target, || async { Ok(cases::without_database(function, &closed_url, &providers)) }).await;
        push_cold_start(table, check, runs, "< 50 ms", |s| s.median < MAX_COLD_START);

        let check = format!("{function} cold start, with database (x86_64 host binary)");
        let runs = measure(&binary, target, || async {
            let db = shared::testing::try_test_database().await.map_err(|e| format!("test database: {e}"))?;
            cases::with_database(function, &db, &providers).await.map_err(|e| format!("seeding: {e}"))
        })
        .await;
        push_cold_start(table, check, runs, "reported", |_| true);
    }
}

fn push_cold_start(
    table: &mut Table,
    check: String,
    runs: Result<(Summary, &'static str), String>,
    target: &str,
    pass: impl Fn(&Summary) -> bool,
) {
    match runs {
        Ok((summary, what)) => {
            let measured = format!(
                "{} median of {} ({}–{}); init {}, then the event {}; event: {what}",
                ms(summary.median),
                summary.runs,
                ms(summary.fastest),
                ms(summary.slowest),
                ms(summary.init),
                ms(summary.handling)
            );
            table.push(SECTION, check, measured, target, pass(&summary));
        }
        Err(why) => table.failed(SECTION, check, why),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// One untimed run and [`RUNS`] timed ones, each on a case `prepare` makes just before it.
async fn measure<F, Fut>(binary: &Path, target: &Path, prepare: F) -> Result<(Summary, &'static str), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Case, String>>,
{
    let mut timings = Vec::with_capacity(RUNS);
    let mut what = "";
    for run in 0..=RUNS {
        let case = prepare().await?;
        what = case.what;
        let log = target.join("footprint-bin").join(format!("{}.log", case.function));
        let timing = start_once(binary, &case, &log).await.map_err(|e| format!("{e} (log: {})", log.display()))?;
        if run > 0 {
            timings.push(timing);
        }
    }
    Ok((Summary::of(&timings), what))
}

/// One run's times from the spawn: to the first `next` poll (the function's init), and to its answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    pub init: Duration,
    pub total: Duration,
}

/// Starts the function on a Runtime API of its own, with the case's event, and times it.
async fn start_once(binary: &Path, case: &Case, log: &Path) -> Result<Timing, String> {
    let invocation = Invocation::new(case.function, case.event.clone(), case.timeout);
    let mut running = Running::spawn(binary, &case.env, invocation, log).await?;
    let answer = running.answer(ANSWER_WITHIN).await?;
    cases::check(case.expect, answer.kind, &answer.body)?;
    let polled = answer.polled_at.ok_or("answered without asking for the event")?;
    Ok(Timing { init: polled - running.spawned, total: answer.at - running.spawned })
}

/// Medians of the runs (each part on its own) and the range of the totals.
#[derive(Debug, PartialEq)]
pub struct Summary {
    pub runs: usize,
    pub median: Duration,
    pub init: Duration,
    pub handling: Duration,
    pub fastest: Duration,
    pub slowest: Duration,
}

impl Summary {
    pub fn of(timings: &[Timing]) -> Summary {
        let median = |part: fn(&Timing) -> Duration| {
            let mut values: Vec<Duration> = timings.iter().map(part).collect();
            values.sort();
            shared::testing::percentile(&values, 0.5)
        };
        let total = |t: &Timing| t.total;
        Summary {
            runs: timings.len(),
            median: median(total),
            init: median(|t| t.init),
            handling: median(|t| t.total - t.init),
            fastest: timings.iter().map(total).min().unwrap_or_default(),
            slowest: timings.iter().map(total).max().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_median_is_of_its_own_sorted_values() {
        let t = |init: u64, total: u64| Timing { init: Duration::from_millis(init), total: Duration::from_millis(total) };
        // Unsorted; the run with the median total is not the one with the median init.
        let summary = Summary::of(&[t(9, 30), t(2, 10), t(5, 50), t(4, 20), t(1, 40)]);
        let ms = Duration::from_millis;
        assert_eq!(
            summary,
            Summary { runs: 5, median: ms(30), init: ms(4), handling: ms(21), fastest: ms(10), slowest: ms(50) },
            "handling: 21, 8, 45, 16, 39"
        );
    }
}
