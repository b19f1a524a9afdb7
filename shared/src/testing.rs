//! Real databases for tests and benches: each test gets its own database, cloned from a migrated
//! template (fast), on the server named by `DATABASE_URL` or, when it is unset, on a throwaway
//! cluster started for this process.

use tokio::sync::OnceCell;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::migrate::{self, Baseline};
use crate::store::{DbSettings, Store};

static SERVER: OnceCell<String> = OnceCell::const_new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A database of one's own.
pub struct TestDb {
    pub url: String,
    pub name: String,
}

impl TestDb {
    pub fn settings(&self) -> DbSettings {
        DbSettings::from_url(&self.url).expect("test database URL")
    }

    /// A store on its own connection.
    pub async fn store(&self) -> Store {
        Store::connect(self.settings()).await.expect("connect to test database")
    }

    /// A plain client for assertions and setup.
    pub async fn client(&self) -> Client {
        self.settings().connect().await.expect("connect to test database")
    }
}

/// The server's maintenance URL: `DATABASE_URL`, or a cluster started for this process.
pub async fn server_url() -> Result<String> {
    SERVER
        .get_or_try_init(|| async {
            match crate::config::optional("DATABASE_URL") {
                Some(url) => Ok(url),
                None => tokio::task::spawn_blocking(crate::embedded::start_for_process)
                    .await
                    .map_err(|e| Error::Config(format!("embedded postgres: {e}")))?,
            }
        })
        .await
        .cloned()
}

/// A new, migrated, empty database (with the CRM baseline tables).
pub async fn test_database() -> TestDb {
    try_test_database().await.expect("test database")
}

pub async fn try_test_database() -> Result<TestDb> {
    let server = server_url().await?;
    let template = template(&server).await?;
    let name = format!("appt_test_{}", uuid::Uuid::new_v4().simple());
    let admin = DbSettings::from_url(&server)?.connect().await?;
    // CREATE DATABASE ... TEMPLATE fails while another session is connected to the template; only
    // the template builder ever is, briefly, so retry a few times.
    let mut tries = 0;
    loop {
        match admin.batch_execute(&format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#)).await {
            Ok(()) => break,
            Err(e) if tries < 20 => {
                tries += 1;
                tracing::debug!(error = %e, "create test database: retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(TestDb { url: with_database(&server, &name)?, name })
}

/// Replaces the database name in a URL.
pub fn with_database(url: &str, database: &str) -> Result<String> {
    let mut u = url::Url::parse(url).map_err(|e| Error::Config(e.to_string()))?;
    u.set_path(&format!("/{database}"));
    Ok(u.to_string())
}

/// The template database for this set of migrations, built once per server.
async fn template(server: &str) -> Result<String> {
    TEMPLATE
        .get_or_try_init(|| async {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for (name, sql) in migrate::crm_baseline_sql().into_iter().chain(migrate::service_sql()) {
                for b in name.bytes().chain(sql.bytes()) {
                    hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
            }
            let name = format!("appt_tmpl_{hash:016x}");
            let admin = DbSettings::from_url(server)?.connect().await?;
            // Serializes template builders of several test processes on one server.
            admin.execute("SELECT pg_advisory_lock(7319)", &[]).await?;
            let result = async {
                let exists = admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?.is_some();
                if !exists {
                    let building = format!("{name}_building");
                    admin.batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{building}""#)).await?;
                    admin.batch_execute(&format!(r#"CREATE DATABASE "{building}""#)).await?;
                    {
                        let mut client = DbSettings::from_url(&with_database(server, &building)?)?.connect().await?;
                        migrate::run(&mut client, Baseline::Create).await?;
                    }
                    // Let the builder's backend go before renaming.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    admin.batch_execute(&format!(r#"ALTER DATABASE "{building}" RENAME TO "{name}""#)).await?;
                }
                Ok::<_, Error>(())
            }
            .await;
            admin.execute("SELECT pg_advisory_unlock(7319)", &[]).await?;
            result.map(|_| name)
        })
        .await
        .cloned()
}

/// Inserts a CRM client (workspace).
pub async fn seed_client(db: &Client, id: &str, signing_key: Option<&str>) -> Result<()> {
    db.execute(
        r#"INSERT INTO "Client" ("id", "name", "calendlyWebhookSigningKey", "timezone", "updatedAt")
           VALUES ($1, $1, $2, 'America/New_York', now()) ON CONFLICT ("id") DO NOTHING"#,
        &[&id, &signing_key],
    )
    .await?;
    Ok(())
}

/// Inserts a lead of a client.
pub async fn seed_lead(db: &Client, client_id: &str, lead_id: &str, email: Option<&str>) -> Result<()> {
    db.execute(
        r#"INSERT INTO "Lead" ("id", "clientId", "email", "updatedAt") VALUES ($1, $2, $3, now())"#,
        &[&lead_id, &client_id, &email],
    )
    .await?;
    Ok(())
}
