use futures::future::{FutureExt, LocalBoxFuture};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use soak::stack::Stack;
use soak::table::Table;

#[tokio::main]
async fn main() -> ExitCode {
    let began = Instant::now();
    let mut table = Table::default();
    // `cargo run --release -p soak -- <section>` runs that section alone (footprint: cold start and size).
    let only = std::env::args().nth(1);
    let mut times = Times::default();
    if let Ok(built) = std::env::var("SOAK_BUILD_TIMES") {
        // scripts/soak.sh's builds, before this process started.
        times.0.push(built);
    }
    // Each section appends its rows; one that cannot run, or does not end within its limit,
    // appends a failed row saying why, and the next section runs.
    if only.as_deref().is_none_or(|s| s == "footprint") {
        times.run(&mut table, "footprint", "cold start and size", 900, |t| soak::footprint::run(t).boxed_local()).await;
    }
    if only.as_deref() != Some("footprint") {
        eprintln!("soak: starting PostgreSQL, the provider mock and cargo lambda watch (release builds)");
        let started = Instant::now();
        let stack = tokio::time::timeout(Duration::from_secs(300), Stack::start()).await;
        times.0.push(format!("stack {:.0} s", started.elapsed().as_secs_f64()));
        match stack {
            Ok(Ok((stack, warm))) => {
                table.push(
                    "stack",
                    "cargo lambda watch --release: every function answering",
                    format!("{:.1} s to the first answers", warm.as_secs_f64()),
                    "runs",
                    true,
                );
                let stack = &stack;
                times
                    .run(&mut table, "migration", "migrate-batch killed mid-run", 300, |t| {
                        soak::faults::migration_killed(t, stack).boxed_local()
                    })
                    .await;
                times
                    .run(&mut table, "crash", "database crash during webhooks", 300, |t| {
                        soak::faults::database_crash(t, stack).boxed_local()
                    })
                    .await;
                times
                    .run(&mut table, "reconcile", "reconcile-scheduled under trouble", 300, |t| {
                        soak::faults::reconcile_under_trouble(t, stack).boxed_local()
                    })
                    .await;
                times.run(&mut table, "load", "load", 600, |t| soak::load::run(t, stack).boxed_local()).await;
                soak::memory::run(&mut table, stack).await;
            }
            Ok(Err(e)) => table.failed("stack", "PostgreSQL, provider mock, cargo lambda watch", e),
            Err(_) => table.failed("stack", "PostgreSQL, provider mock, cargo lambda watch", "not up within 300 s"),
        }
    }
    times.0.push(format!("this process {:.0} s", began.elapsed().as_secs_f64()));
    table.push("time", "wall time per part (builds by scripts/soak.sh)", times.0.join("; "), "reported", true);
    print!("{}", table.render());
    println!("\nsoak wall time: {:.0} s", began.elapsed().as_secs_f64());
    table.exit_code()
}

/// Each part's wall time, for the table's last row.
#[derive(Default)]
struct Times(Vec<String>);

impl Times {
    /// Runs a section within `limit_s` seconds; past it, the section is stopped where it is (its
    /// rows so far kept) and a failed row says so.
    async fn run<F>(&mut self, table: &mut Table, name: &str, check: &str, limit_s: u64, section: F)
    where
        F: for<'t> FnOnce(&'t mut Table) -> LocalBoxFuture<'t, ()>,
    {
        eprintln!("soak: {check}");
        let started = Instant::now();
        let finished = tokio::time::timeout(Duration::from_secs(limit_s), section(table)).await.is_ok();
        if !finished {
            table.failed(name, check, format!("did not end within {limit_s} s (stopped there)"));
        }
        self.0.push(format!("{name} {:.0} s", started.elapsed().as_secs_f64()));
    }
}
