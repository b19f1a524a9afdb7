use std::process::ExitCode;

use soak::table::Table;

#[tokio::main]
async fn main() -> ExitCode {
    let mut table = Table::default();
    // Each section appends its rows; one that cannot run appends a failed row saying why.
    soak::footprint::run(&mut table).await;
    print!("{}", table.render());
    table.exit_code()
}
