use std::process::ExitCode;
use std::time::{Duration, Instant};

use soak::stack::Stack;
use soak::table::Table;

/// Runs a section (`$run`, a future appending to `$table`) within `$limit` seconds; past it, the
/// section is stopped where it is (its rows so far kept) and a failed row says so. The form with
/// `$runs` first runs it only when `$runs($name)` (the section was asked for, or all were).
macro_rules! section {
    ($times:ident, $table:ident, $name:literal, $what:literal, $limit:literal, $run:expr) => {{
        let (started, limit) = $times.start(concat!($name, ": ", $what), $limit);
        let finished = tokio::time::timeout(limit, $run).await.is_ok();
        $times.ended(&mut $table, $name, started, limit, finished);
    }};
    ($runs:ident, $times:ident, $table:ident, $name:literal, $what:literal, $limit:literal, $run:expr) => {{
        if $runs($name) {
            section!($times, $table, $name, $what, $limit, $run);
        }
    }};
}

#[tokio::main]
async fn main() -> ExitCode {
    let began = Instant::now();
    let mut table = Table::default();
    // `soak <section>` runs that section alone (after the stack, for those that need it).
    let only = std::env::args().nth(1);
    if let Some(name) = only.as_deref().filter(|s| !SECTIONS.contains(s)) {
        eprintln!("soak: no section {name:?}; the sections: {}", SECTIONS.join(", "));
        return ExitCode::from(2);
    }
    let runs = |section: &str| only.as_deref().is_none_or(|s| s == section);
    let mut times = Times::default();
    if let Ok(built) = std::env::var("SOAK_BUILD_TIMES") {
        // scripts/soak.sh's builds, before this process started.
        times.0.push(built);
    }
    // The stack's PostgreSQL first: every database of the run is made on it.
    let cluster = match only.as_deref() {
        Some("footprint") => None,
        _ => Some(Stack::start_cluster().await),
    };
    // Each section appends its rows; one that cannot run, or does not end within its limit,
    // appends a failed row saying why, and the next section runs.
    if runs("footprint") {
        section!(times, table, "cold start and size", "builds, sizes, cold starts", 900, soak::footprint::run(&mut table));
    }
    if let Some(cluster) = cluster {
        let (started, limit) = times.start("stack: PostgreSQL, the provider mock and cargo lambda watch (release builds)", 300);
        let stack = async { Stack::start(cluster?).await };
        match tokio::time::timeout(limit, stack).await {
            Ok(Ok((stack, warm))) => {
                times.ended(&mut table, "stack", started, limit, true);
                table.push(
                    "stack",
                    "cargo lambda watch --release: every function answering",
                    format!("{:.1} s to the first answers", warm.as_secs_f64()),
                    "runs",
                    true,
                );
                section!(
                    runs,
                    times,
                    table,
                    "migration",
                    "migrate-batch killed mid-run",
                    300,
                    soak::faults::migration_killed(&mut table, &stack)
                );
                section!(
                    runs,
                    times,
                    table,
                    "crash",
                    "database crash during webhooks",
                    300,
                    soak::faults::database_crash(&mut table, &stack)
                );
                section!(
                    runs,
                    times,
                    table,
                    "reconcile",
                    "reconcile-scheduled under trouble",
                    300,
                    soak::faults::reconcile_under_trouble(&mut table, &stack)
                );
                section!(runs, times, table, "load", "10,000 deliveries with reads", 600, soak::load::run(&mut table, &stack));
                if runs("memory") {
                    soak::memory::run(&mut table, &stack).await;
                }
            }
            Ok(Err(e)) => table.failed("stack", "PostgreSQL, provider mock, cargo lambda watch", e),
            Err(_) => {
                table.failed("stack", "PostgreSQL, provider mock, cargo lambda watch", format!("not up within {} s", limit.as_secs()))
            }
        }
    }
    times.0.push(format!("this process {:.0} s", began.elapsed().as_secs_f64()));
    table.push("time", "wall time per part (the builds are scripts/soak.sh's)", times.0.join("; "), "reported", true);
    print!("{}", table.render());
    println!("\nsoak wall time: {:.0} s", began.elapsed().as_secs_f64());
    table.exit_code()
}

/// What `soak <section>` may name: `footprint` runs without the stack, the others on it (`memory`
/// reports the function processes' peaks of what ran before it).
const SECTIONS: [&str; 6] = ["footprint", "migration", "crash", "reconcile", "load", "memory"];

/// Each part's wall time, for the table's last row.
#[derive(Default)]
struct Times(Vec<String>);

impl Times {
    /// A section begins: its start and its time limit.
    fn start(&self, what: &str, limit_s: u64) -> (Instant, Duration) {
        eprintln!("soak: {what}");
        (Instant::now(), Duration::from_secs(limit_s))
    }

    /// A section ended, or was stopped where it was at its limit (its rows so far kept): then a
    /// failed row says so.
    fn ended(&mut self, table: &mut Table, name: &str, started: Instant, limit: Duration, finished: bool) {
        if !finished {
            table.failed(name, "the section", format!("did not end within {} s (stopped there)", limit.as_secs()));
        }
        self.0.push(format!("{name} {:.0} s", started.elapsed().as_secs_f64()));
    }
}
