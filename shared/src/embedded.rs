//! A throwaway PostgreSQL cluster from the machine's binaries ("Running it" in
//! docs/architecture.md), for tests, benches and the local stack when `DATABASE_URL` is unset.
//!
//! - Finds `initdb`/`pg_ctl` (PATH or `/usr/lib/postgresql/<version>/bin`); if there are none and
//!   this is a Debian machine run as root, installs Debian's `postgresql` package first.
//! - As root (where `initdb` and `postgres` refuse to run) runs them as the `postgres` user.
//! - Data directory and socket in a fresh temp dir, trust auth on 127.0.0.1, a free port,
//!   durability off (it is thrown away).
//! - Stopped when the value is dropped, or at process exit for the process-wide one; clusters left
//!   behind by killed processes are swept at the next start.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::error::{Error, Result};

const DIR_PREFIX: &str = "appt-history-pg-";

pub struct EmbeddedPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    run_as_postgres: bool,
    stopped: bool,
}

impl EmbeddedPostgres {
    /// Initialises and starts a new cluster. Takes a second or two.
    pub fn start() -> Result<Self> {
        sweep_abandoned();
        let bin = find_binaries()?;
        let run_as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| Error::Config(format!("embedded postgres: {e}")))?;
        std::fs::write(dir.join("owner.pid"), std::process::id().to_string()).ok();
        if run_as_postgres {
            chown_postgres(&dir)?;
        }
        let port = free_port()?;
        let mut pg = EmbeddedPostgres { dir, bin, port, run_as_postgres, stopped: false };
        pg.run(
            "initdb",
            &["-D", &path(&data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
        )?;
        if let Err(e) = pg.start_server() {
            pg.stopped = true;
            return Err(e);
        }
        Ok(pg)
    }

    fn start_server(&self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB",
            self.port,
            path(&self.dir)
        );
        let log = path(&self.dir.join("postgres.log"));
        let data = path(&self.dir.join("data"));
        self.run("pg_ctl", &["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start"]).map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            Error::Config(format!("{e}; server log: {}", tail.lines().rev().take(5).collect::<Vec<_>>().join(" | ")))
        })
    }

    /// Crashes the server (`pg_ctl stop -m immediate`: no shutdown checkpoint, every connection
    /// cut, crash recovery at the next start), keeping its data: for fault tests, with [`Self::restart`].
    pub fn crash(&self) -> Result<()> {
        self.run("pg_ctl", &["-D", &path(&self.dir.join("data")), "-m", "immediate", "-w", "stop"])
    }

    /// Starts the server again on the same port and data after [`Self::crash`].
    pub fn restart(&self) -> Result<()> {
        self.start_server()
    }

    /// URL of the `postgres` database of this cluster.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory of the PostgreSQL binaries in use (for pgbench and psql in benches).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Stops the server and removes its files.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let data = path(&self.dir.join("data"));
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Keeps the cluster running after this value is gone, until [`stop_at_exit`] or a sweep.
    fn detach(mut self) -> Detached {
        self.stopped = true;
        Detached { dir: self.dir.clone(), bin: self.bin.clone(), run_as_postgres: self.run_as_postgres }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        run_tool(&self.bin, self.run_as_postgres, tool, args)
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The database of a local tool (`local-db`, the bench data generator): `DATABASE_URL` when it is
/// set, else a throwaway cluster started now and kept while the returned handle lives; either way
/// migrated, with the CRM baseline tables. Returns its URL, the cluster (if one was started) and a
/// connection.
pub async fn local_database() -> Result<(String, Option<EmbeddedPostgres>, tokio_postgres::Client)> {
    let (url, cluster) = match crate::config::optional("DATABASE_URL") {
        Some(url) => (url, None),
        None => {
            let pg = tokio::task::spawn_blocking(EmbeddedPostgres::start)
                .await
                .map_err(|e| Error::Unavailable(format!("starting PostgreSQL: {e}")))??;
            (pg.url(), Some(pg))
        }
    };
    let mut client = crate::DbSettings::from_url(&url)?.connect().await?;
    crate::migrate::run(&mut client, crate::migrate::Baseline::Create).await?;
    Ok((url, cluster, client))
}

struct Detached {
    dir: PathBuf,
    bin: PathBuf,
    run_as_postgres: bool,
}

static PROCESS_CLUSTER: Mutex<Option<Detached>> = Mutex::new(None);

/// Starts a cluster that lives until this process exits (tests share one per test binary).
pub fn start_for_process() -> Result<String> {
    let pg = EmbeddedPostgres::start()?;
    let url = pg.url();
    let mut slot = PROCESS_CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    *slot = Some(pg.detach());
    // SAFETY: registering a plain extern "C" fn with atexit; it only touches the static above.
    unsafe {
        libc::atexit(stop_at_exit);
    }
    Ok(url)
}

extern "C" fn stop_at_exit() {
    let taken = PROCESS_CLUSTER.lock().map(|mut s| s.take()).unwrap_or(None);
    if let Some(d) = taken {
        let data = path(&d.dir.join("data"));
        let _ = run_tool(&d.bin, d.run_as_postgres, "pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&d.dir);
    }
}

fn run_tool(bin: &Path, as_postgres: bool, tool: &str, args: &[&str]) -> Result<()> {
    let exe = path(&bin.join(tool));
    let mut cmd = if as_postgres {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let out = cmd
        .args(args)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Config(format!("embedded postgres: cannot run {tool}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "embedded postgres: {tool} failed: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        )))
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn chown_postgres(dir: &Path) -> Result<()> {
    let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir).status().map(|s| s.success()).unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(Error::Config("embedded postgres: cannot give the data directory to the postgres user".into()))
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on (at the time of asking).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::Config(format!("no free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| Error::Config(format!("no free port: {e}")))
}

/// Finds the directory holding `initdb`, installing Debian's `postgresql` if there is none.
pub fn find_binaries() -> Result<PathBuf> {
    if let Some(found) = locate() {
        return Ok(found);
    }
    if is_root() && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("embedded postgres: no PostgreSQL binaries found; installing Debian's postgresql package");
        let installed = Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null",
            ])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if installed {
            if let Some(found) = locate() {
                return Ok(found);
            }
        }
    }
    Err(Error::Config(
        "embedded postgres: no PostgreSQL server binaries (initdb, pg_ctl); install Debian's postgresql package or set DATABASE_URL".into(),
    ))
}

fn locate() -> Option<PathBuf> {
    // Debian's versioned directories first: /usr/bin has only wrappers for some tools.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    versions
        .sort_by_key(|p| p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0));
    if let Some(newest) = versions.pop() {
        return Some(newest);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists()))
}

/// Stops clusters whose owning process is gone (a test binary killed before its exit handler ran).
fn sweep_abandoned() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with(DIR_PREFIX) {
            continue;
        }
        let dir = entry.path();
        let owner = std::fs::read_to_string(dir.join("owner.pid")).ok().and_then(|p| p.trim().parse::<i32>().ok());
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let alive = owner.is_some_and(|pid| unsafe { libc::kill(pid, 0) == 0 });
        if alive {
            continue;
        }
        if let Some(bin) = locate() {
            let _ = run_tool(&bin, is_root(), "pg_ctl", &["-D", &path(&dir.join("data")), "-m", "immediate", "-w", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
