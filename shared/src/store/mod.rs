//! The database connection: one per warm Lambda process, reused across invocations and
//! re-established after a failure. TLS (rustls) for remote servers, plain for local ones.

mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, NoTls, Statement};

use crate::error::{Error, Result};

pub use tls::TlsMode;

/// How to reach the database, parsed from a `postgres://` URL.
#[derive(Clone)]
pub struct DbSettings {
    pg: tokio_postgres::Config,
    tls: TlsMode,
    /// Host and database name, for logs (never the password).
    display: String,
    /// Apply the service migrations when a process first connects (see `crate::migrate`).
    pub migrate_on_connect: bool,
}

impl std::fmt::Debug for DbSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSettings").field("server", &self.display).field("tls", &self.tls).finish()
    }
}

impl DbSettings {
    /// Parses a libpq-style URL. `sslmode`: `disable`; `require` (encrypted, certificate not
    /// checked, as libpq does); `verify-ca` / `verify-full` (checked against the public web roots
    /// plus `sslrootcert`, a PEM file, for RDS's own CA). Without `sslmode`, local servers (loopback,
    /// Unix socket) are plain and every other server is `verify-full`.
    pub fn from_url(url: &str) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| Error::Config(format!("DATABASE_URL is not a URL: {e}")))?;
        let mut sslmode = None;
        let mut root_cert = None;
        let mut rest = parsed.clone();
        rest.query_pairs_mut().clear();
        for (k, v) in parsed.query_pairs() {
            match k.as_ref() {
                "sslmode" => sslmode = Some(v.into_owned()),
                "sslrootcert" => root_cert = Some(v.into_owned()),
                _ => {
                    rest.query_pairs_mut().append_pair(&k, &v);
                }
            }
        }
        let mut text = rest.to_string();
        if text.ends_with('?') {
            text.pop();
        }
        let mut pg: tokio_postgres::Config = text.parse().map_err(|e| Error::Config(format!("DATABASE_URL: {e}")))?;
        pg.connect_timeout(Duration::from_secs(5));
        pg.keepalives_idle(Duration::from_secs(30));
        if pg.get_application_name().is_none() {
            pg.application_name("appointment-history");
        }
        let local = pg.get_hosts().iter().all(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => {
                matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1" | "[::1]")
            }
            tokio_postgres::config::Host::Unix(_) => true,
        });
        let tls = match sslmode.as_deref() {
            Some("disable") => TlsMode::Disable,
            Some("require") | Some("prefer") | Some("allow") => TlsMode::Require,
            Some("verify-ca") | Some("verify-full") => TlsMode::VerifyFull { root_cert },
            None if local => TlsMode::Disable,
            None => TlsMode::VerifyFull { root_cert },
            Some(other) => return Err(Error::Config(format!("unsupported sslmode {other:?}"))),
        };
        let display = format!(
            "{}/{}",
            pg.get_hosts()
                .iter()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(n) => n.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            pg.get_dbname().unwrap_or("")
        );
        Ok(DbSettings { pg, tls, display, migrate_on_connect: false })
    }

    pub fn tls(&self) -> &TlsMode {
        &self.tls
    }

    /// Server and database, safe to log.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Opens a new connection; its driver task runs on the current Tokio runtime.
    pub async fn connect(&self) -> Result<Client> {
        let client = match &self.tls {
            TlsMode::Disable => {
                let (client, connection) = self.pg.connect(NoTls).await?;
                tokio::spawn(drive(connection));
                client
            }
            mode => {
                let (client, connection) = self.pg.connect(tls::connector(mode)?).await?;
                tokio::spawn(drive(connection));
                client
            }
        };
        Ok(client)
    }
}

async fn drive<C: std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>>>(connection: C) {
    if let Err(e) = connection.await {
        tracing::warn!(error = %e, "database connection ended");
    }
}

/// One open connection with its prepared statements and a count of round trips.
pub struct Connection {
    pub client: Client,
    statements: StatementCache,
    round_trips: Arc<AtomicU64>,
}

/// Prepared statements by their SQL text, found by address first.
///
/// Every statement the service runs is a `&'static str` constant, so a lookup almost always finds
/// its entry by address; the text is compared only when addresses differ (a constant's text may
/// be emitted more than once), and a length mismatch ends that comparison at once. A hash map
/// hashed the whole text (the write statement is kilobytes long) on every lookup, which showed in
/// the write path's profile. A connection holds a few dozen statements, so a scan is enough.
#[derive(Default)]
struct StatementCache(Vec<(&'static str, Statement)>);

impl StatementCache {
    fn get(&self, sql: &str) -> Option<&Statement> {
        self.0
            .iter()
            .find(|(known, _)| std::ptr::eq(*known, sql))
            .or_else(|| self.0.iter().find(|(known, _)| *known == sql))
            .map(|(_, s)| s)
    }

    fn insert(&mut self, sql: &'static str, statement: Statement) {
        if self.get(sql).is_none() {
            self.0.push((sql, statement));
        }
    }
}

impl Connection {
    pub fn new(client: Client, round_trips: Arc<AtomicU64>) -> Self {
        Connection { client, statements: StatementCache::default(), round_trips }
    }

    /// Prepares statements not yet prepared on this connection, all in one round trip.
    pub async fn prepare_all(&mut self, sqls: &[&'static str]) -> Result<()> {
        let mut missing: Vec<&'static str> = Vec::new();
        for &sql in sqls {
            if self.statements.get(sql).is_none() && !missing.contains(&sql) {
                missing.push(sql);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        self.count_round_trip();
        let prepared = futures::future::try_join_all(missing.iter().map(|sql| self.client.prepare(sql))).await?;
        for (sql, statement) in missing.into_iter().zip(prepared) {
            self.statements.insert(sql, statement);
        }
        Ok(())
    }

    /// A statement prepared earlier with [`Connection::prepare_all`] (or prepared now).
    pub async fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        self.prepare_all(&[sql]).await?;
        self.prepared(sql)
    }

    /// Statements that must already be prepared (for hot paths, which never prepare).
    pub fn prepared(&self, sql: &'static str) -> Result<Statement> {
        self.statements
            .get(sql)
            .cloned()
            .ok_or_else(|| Error::Corrupt(format!("statement not prepared: {}", sql.lines().next().unwrap_or(""))))
    }

    /// Round trips counted so far (the store's count: see [`Store::round_trips`]).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Called once per batch of pipelined requests that waits for the server.
    pub fn count_round_trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }
}

/// The process's database handle: connects lazily, reconnects after a failure.
pub struct Store {
    settings: DbSettings,
    conn: Mutex<Option<Connection>>,
    round_trips: Arc<AtomicU64>,
    migrated: std::sync::atomic::AtomicBool,
}

/// A connection borrowed from the store for one unit of work.
pub type ConnGuard<'a> = tokio::sync::MappedMutexGuard<'a, Connection>;

impl Store {
    pub fn new(settings: DbSettings) -> Self {
        Store {
            settings,
            conn: Mutex::new(None),
            round_trips: Arc::new(AtomicU64::new(0)),
            migrated: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A store that has connected already.
    pub async fn connect(settings: DbSettings) -> Result<Self> {
        let store = Store::new(settings);
        drop(store.conn().await?);
        Ok(store)
    }

    pub fn settings(&self) -> &DbSettings {
        &self.settings
    }

    /// The connection, opened or re-opened if needed.
    pub async fn conn(&self) -> Result<ConnGuard<'_>> {
        let mut guard: MutexGuard<'_, Option<Connection>> = self.conn.lock().await;
        if guard.as_ref().is_some_and(|c| c.client.is_closed()) {
            tracing::info!(server = self.settings.display(), "reconnecting to the database");
            *guard = None;
        }
        if guard.is_none() {
            let mut client = self.settings.connect().await?;
            if self.settings.migrate_on_connect && !self.migrated.load(Ordering::Relaxed) {
                crate::migrate::run(&mut client, crate::migrate::Baseline::Skip).await?;
                self.migrated.store(true, Ordering::Relaxed);
            }
            *guard = Some(Connection::new(client, self.round_trips.clone()));
        }
        Ok(MutexGuard::map(guard, |c| c.as_mut().expect("connected above")))
    }

    /// Forgets the connection so that the next use opens a new one.
    pub async fn reset(&self) {
        *self.conn.lock().await = None;
    }

    /// Round trips to the server so far (each batch of pipelined requests counts once).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }
}
