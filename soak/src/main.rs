use std::process::ExitCode;
use std::time::Instant;

use soak::table::Table;

#[tokio::main]
async fn main() -> ExitCode {
    let began = Instant::now();
    let mut table = Table::default();
    // `cargo run --release -p soak -- <section>` runs that section alone (footprint: cold start and size).
    let only = std::env::args().nth(1);
    let wanted = |section: &str| only.as_deref().is_none_or(|s| s == section);
    // Each section appends its rows; one that cannot run appends a failed row saying why.
    if wanted("footprint") {
        soak::footprint::run(&mut table).await;
    }
    if only.as_deref() != Some("footprint") {
        eprintln!("soak: starting PostgreSQL, the provider mock and cargo lambda watch (release builds)");
        match soak::stack::Stack::start().await {
            Ok((stack, warm)) => {
                table.push(
                    "stack",
                    "cargo lambda watch --release: every function answering",
                    format!("{:.1} s to the first answers", warm.as_secs_f64()),
                    "runs",
                    true,
                );
                soak::faults::run(&mut table, &stack).await;
                soak::load::run(&mut table, &stack).await;
                soak::memory::run(&mut table, &stack).await;
            }
            Err(e) => table.failed("stack", "PostgreSQL, provider mock, cargo lambda watch", e),
        }
    }
    print!("{}", table.render());
    println!("\nsoak wall time: {:.0} s", began.elapsed().as_secs_f64());
    table.exit_code()
}
