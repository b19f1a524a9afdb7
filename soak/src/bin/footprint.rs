//! The cold start and size section of `make soak` alone:
//! `cargo run --release -p soak --bin footprint`.

use std::process::ExitCode;

use soak::table::Table;

#[tokio::main]
async fn main() -> ExitCode {
    let mut table = Table::default();
    soak::footprint::run(&mut table).await;
    print!("{}", table.render());
    table.exit_code()
}
