//! `cargo run --release -p appointment-history --features embedded --bin generate [-- LEADS APPOINTMENTS]`
//!
//! Generates the benchmark's data set (200,000 leads and 1,000,000 appointments by default) into
//! `DATABASE_URL` (migrating it first, with the local CRM baseline tables), or, when it is unset,
//! into a throwaway PostgreSQL that it starts and keeps until Ctrl-C, printing its URL.

use appointment_history::generate::{generate, Sizes, PROBE_LEAD};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes = Sizes::default();
    if let Some(n) = args.first() {
        sizes.leads = n.replace('_', "").parse()?;
    }
    if let Some(n) = args.get(1) {
        sizes.appointments = n.replace('_', "").parse()?;
    }
    let (url, cluster, db) = shared::embedded::local_database().await?;
    eprintln!("generating {} leads and {} appointments ...", sizes.leads, sizes.appointments);
    let report = generate(&db, sizes).await?;
    eprintln!("{report}");
    println!("DATABASE_URL={url}");
    println!("probe lead (50 appointments): {PROBE_LEAD}");
    if cluster.is_some() {
        eprintln!("PostgreSQL keeps running with the data; Ctrl-C stops and removes it");
        tokio::signal::ctrl_c().await?;
    }
    drop(cluster);
    Ok(())
}
