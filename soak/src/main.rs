use std::process::ExitCode;

use soak::table::Table;

#[tokio::main]
async fn main() -> ExitCode {
    let mut table = Table::default();
    // `cargo run --release -p soak -- <section>` runs that section alone (footprint: cold start and size).
    let only = std::env::args().nth(1);
    let wanted = |section: &str| only.as_deref().is_none_or(|s| s == section);
    // Each section appends its rows; one that cannot run appends a failed row saying why.
    if wanted("footprint") {
        soak::footprint::run(&mut table).await;
    }
    print!("{}", table.render());
    table.exit_code()
}
