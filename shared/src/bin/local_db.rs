//! `cargo run -p shared --features embedded --bin local-db`: a local PostgreSQL for development.
//! With `DATABASE_URL` set it migrates that server; otherwise it starts a throwaway cluster,
//! migrates it (with the CRM baseline tables), prints its URL and keeps it until Ctrl-C.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let (url, cluster, client) = shared::embedded::local_database().await?;
    drop(client);
    println!("DATABASE_URL={url}");
    if let Some(path) = std::env::args().nth(1) {
        // Written for scripts that start this in the background and wait for the URL.
        std::fs::write(&path, format!("{url}\n"))?;
    }
    if cluster.is_some() {
        eprintln!("local PostgreSQL is running; Ctrl-C stops and removes it");
        tokio::signal::ctrl_c().await?;
    }
    drop(cluster);
    Ok(())
}
