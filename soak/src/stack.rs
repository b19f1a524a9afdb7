//! The local stack `make soak` drives, as `make dev` runs it: an embedded PostgreSQL (which the
//! fault sections crash and restart), a mock of the providers' APIs, and `cargo lambda watch`
//! serving the release builds of every function on 127.0.0.1. It also watches the function
//! processes' peak memory.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use shared::embedded::EmbeddedPostgres;
use shared::testing::TestDb;

use crate::provider_mock::ProviderMock;

pub const FUNCTIONS: [&str; 5] = ["calendly-webhook", "ghl-webhook", "appointment-history", "migrate-batch", "reconcile-scheduled"];

/// The HS256 secret of the history API's bearer tokens (as `make dev`'s: not a secret).
pub const JWT_SECRET: &str = "soak-jwt-secret-0123456789abcdef0123456789abcdef";
/// Provider timeout the functions run with: above the slow provider's 2 s, under the hanging one's.
pub const PROVIDER_TIMEOUT_MS: u64 = 3_000;
/// The client-side limit per Calendly token: the load section's ~1,700 early no-shows of one client
/// within a minute, each read from the mock by calendly-webhook, are a day's compressed.
pub const CALENDLY_REQUESTS_PER_MINUTE: u64 = 1_000_000;

/// "GHL's" key pair for the soak (the function is given the public half).
pub fn ghl_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

pub struct Stack {
    pub pg: EmbeddedPostgres,
    /// The service database the functions use.
    pub db: TestDb,
    pub base: String,
    pub mock: ProviderMock,
    pub http: reqwest::Client,
    watch: Child,
    peaks: Arc<Mutex<BTreeMap<String, u64>>>,
    log: PathBuf,
    /// This run's files (the env file, logs, the functions' binaries in `bin/`).
    dir: PathBuf,
}

impl Stack {
    /// The cluster the stack runs on, started before anything else of the soak: shared::testing's
    /// databases (the service's, the in-order references, the cold starts') live on the first
    /// cluster it meets, which must be this one, the one the database crash stops.
    pub async fn start_cluster() -> Result<EmbeddedPostgres, String> {
        let pg = tokio::task::spawn_blocking(EmbeddedPostgres::start).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
        std::env::set_var("DATABASE_URL", pg.url());
        Ok(pg)
    }

    /// Starts everything on `pg` ([`Stack::start_cluster`]); `warmed` is how long the first request of every function took (their
    /// start, and any build `cargo lambda watch` still had to do).
    pub async fn start(pg: EmbeddedPostgres) -> Result<(Stack, Duration), String> {
        // The embedded cluster trades durability for speed (synchronous_commit off: a commit is
        // answered before its WAL is flushed), which a crash test must not: with it off, an
        // immediate stop loses transactions whose success the functions already answered. A
        // production server commits synchronously, so every session of the soak does too (a role
        // setting outranks the server's command line and survives the restarts).
        let admin =
            shared::store::DbSettings::from_url(&pg.url()).map_err(|e| e.to_string())?.connect().await.map_err(|e| e.to_string())?;
        admin.batch_execute("ALTER ROLE CURRENT_USER SET synchronous_commit = on").await.map_err(|e| format!("synchronous_commit: {e}"))?;
        drop(admin);
        let db = shared::testing::try_test_database().await.map_err(|e| format!("service database: {e}"))?;
        let mock = ProviderMock::start().await;
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        // Next to the soak binary (in the target directory), overwritten by every run.
        let dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|p| p.join("soak-run"))).unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let env_file = dir.join("functions.env");
        let log = dir.join("cargo-lambda-watch.log");
        // Hex, as `make dev` passes the dev key (base64 trips cargo-lambda's env-file parser).
        let public: String = ghl_key().verifying_key().as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            &env_file,
            format!(
                "DATABASE_URL={}\nJWT_SECRET={JWT_SECRET}\nRUST_LOG=warn\nGHL_WEBHOOK_PUBLIC_KEY={public}\n\
                 CALENDLY_API_BASE={mock}/calendly\nGHL_API_BASE={mock}/ghl\nPROVIDER_TIMEOUT_MS={PROVIDER_TIMEOUT_MS}\n\
                 CALENDLY_REQUESTS_PER_MINUTE={CALENDLY_REQUESTS_PER_MINUTE}\n",
                db.url,
                mock = mock.uri()
            ),
        )
        .map_err(|e| e.to_string())?;
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let cargo = run_prebuilt_functions(&dir)?;
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let watch = Command::new("cargo-lambda")
            .args(["lambda", "watch", "--release", "--locked", "--ignore-changes", "-A", "127.0.0.1", "-P", &port.to_string()])
            .env("CARGO", cargo)
            .args(["--timeout", "900", "--env-file"])
            .arg(&env_file)
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            // Its own process group: stopped as a whole (with the functions it started) at the end.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cargo lambda watch: {e} (is cargo-lambda on PATH? scripts/tools.sh installs it)"))?;
        let mut stack = Stack {
            pg,
            db,
            base,
            mock,
            http: reqwest::Client::builder().pool_max_idle_per_host(32).build().map_err(|e| e.to_string())?,
            watch,
            peaks: Arc::default(),
            log,
            dir,
        };
        stack.sample_memory_in_background();
        let began = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if let Ok(Some(status)) = stack.watch.try_wait() {
                let log = std::fs::read_to_string(&stack.log).unwrap_or_default();
                return Err(format!("cargo lambda watch exited ({status}): {}", log.lines().rev().take(4).collect::<Vec<_>>().join(" | ")));
            }
            if began.elapsed() > Duration::from_secs(120) {
                return Err(format!("cargo lambda watch did not listen within 2 minutes (log: {})", stack.log.display()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let warm = Instant::now();
        stack.warm_up().await?;
        Ok((stack, warm.elapsed()))
    }

    /// One request to each function, so that each process runs (and is built if it was not).
    async fn warm_up(&self) -> Result<(), String> {
        for (function, path) in [
            ("calendly-webhook", "/webhooks/calendly/nobody"),
            ("ghl-webhook", "/webhooks/ghl"),
            ("appointment-history", "/leads/nobody/appointments"),
        ] {
            let response = self
                .http
                .post(self.url(function, path))
                .body("{}")
                .timeout(Duration::from_secs(600))
                .send()
                .await
                .map_err(|e| format!("{function} did not answer: {e} (log: {})", self.log.display()))?;
            if response.status().is_server_error() {
                return Err(format!("{function} answered {} (log: {})", response.status(), self.log.display()));
            }
        }
        // Bad input: each answers at once (an error) without touching anything; what matters is
        // that the process runs.
        for function in ["migrate-batch", "reconcile-scheduled"] {
            let _ = self.invoke(function, &serde_json::json!({"mode": "soak-warm-up"}), Duration::from_secs(600)).await;
            if !function_processes(self.watch.id() as i32).contains_key(function) {
                return Err(format!("{function} is not running (log: {})", self.log.display()));
            }
        }
        Ok(())
    }

    /// The function URL of `path` as `cargo lambda watch` serves it.
    pub fn url(&self, function: &str, path: &str) -> String {
        format!("{}/lambda-url/{function}{path}", self.base)
    }

    /// Invokes a function with an event (as `cargo lambda invoke` does); its output or error as JSON.
    pub async fn invoke(&self, function: &str, event: &serde_json::Value, timeout: Duration) -> Result<serde_json::Value, String> {
        let response = self
            .http
            .post(format!("{}/2015-03-31/functions/{function}/invocations", self.base))
            .json(event)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        if status.is_success() && value.get("errorType").is_none() {
            Ok(value)
        } else {
            Err(format!("{status}: {value}"))
        }
    }

    /// A connection to the service database.
    pub async fn client(&self) -> tokio_postgres::Client {
        self.db.client().await
    }

    /// Crashes PostgreSQL (immediate stop), waits `down`, starts it again. Returns when it is back.
    pub async fn crash_database(&self, down: Duration) -> Result<(), String> {
        let pg = &self.pg;
        tokio::task::block_in_place(|| pg.crash()).map_err(|e| e.to_string())?;
        tokio::time::sleep(down).await;
        tokio::task::block_in_place(|| pg.restart()).map_err(|e| e.to_string())
    }

    /// SIGKILLs every running process of `function`; how many there were.
    pub fn kill_function(&self, function: &str) -> usize {
        let pids = function_processes(self.watch.id() as i32).remove(function).unwrap_or_default();
        for pid in &pids {
            // SAFETY: sending a signal to a process this stack started.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
        pids.len()
    }

    /// The release binary of `function` this run serves (a copy made at the start).
    pub fn binary(&self, function: &str) -> PathBuf {
        self.dir.join("bin").join(function)
    }

    /// Where a process the soak starts itself writes its output.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Counts the peak resident set of a function process the soak started itself (not under
    /// `cargo lambda watch`) with the ones watched.
    pub fn note_peak(&self, function: &str, pid: u32) {
        raise_peak(&self.peaks, function, pid as i32);
    }

    /// The highest VmHWM (peak resident set, kB) seen for each function's processes so far.
    pub fn peak_memory(&self) -> BTreeMap<String, u64> {
        record_peaks(&self.peaks, self.watch.id() as i32);
        self.peaks.lock().unwrap().clone()
    }

    fn sample_memory_in_background(&self) {
        let peaks = Arc::downgrade(&self.peaks);
        let watch = self.watch.id() as i32;
        tokio::spawn(async move {
            while let Some(peaks) = peaks.upgrade() {
                record_peaks(&peaks, watch);
                drop(peaks);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: signals to the process group this stack started (cargo lambda watch, its builds
        // and the functions).
        unsafe {
            libc::kill(-(self.watch.id() as i32), libc::SIGTERM);
        }
        let _ = self.watch.wait();
    }
}

/// `cargo lambda watch` starts each function with `$CARGO run --release --bin <name>`, which takes
/// cargo's lock on the target directory (held for minutes by any other build sharing it) and could
/// rebuild from sources changed since. So the soak hands it a `cargo` that runs a copy of the
/// release binary built just before the soak (next to this one), and is plain cargo otherwise.
/// Returns that `cargo`.
fn run_prebuilt_functions(dir: &std::path::Path) -> Result<PathBuf, String> {
    let built = match crate::footprint::build::prebuilt() {
        Some(dir) => dir,
        None => std::env::current_exe().map_err(|e| e.to_string())?.parent().map(PathBuf::from).ok_or("no target directory")?,
    };
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    for function in FUNCTIONS {
        std::fs::copy(built.join(function), bin.join(function))
            .map_err(|e| format!("{function} is not built in {} (scripts/soak.sh builds it): {e}", built.display()))?;
    }
    let cargo = dir.join("cargo");
    let script = format!(
        "#!/bin/sh\n# Written by make soak: `cargo run ... --bin <function>` runs the prebuilt release binary.\n\
         bin=; prev=\nfor a in \"$@\"; do [ \"$prev\" = --bin ] && bin=$a; prev=$a; done\n\
         if [ \"$1\" = run ] && [ -n \"$bin\" ] && [ -x \"{dir}/$bin\" ]; then exec \"{dir}/$bin\"; fi\n\
         exec cargo \"$@\"\n",
        dir = bin.display()
    );
    std::fs::write(&cargo, script).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    Ok(cargo)
}

fn record_peaks(peaks: &Mutex<BTreeMap<String, u64>>, watch: i32) {
    for (function, pids) in function_processes(watch) {
        for pid in pids {
            raise_peak(peaks, &function, pid);
        }
    }
}

fn raise_peak(peaks: &Mutex<BTreeMap<String, u64>>, function: &str, pid: i32) {
    if let Some(kb) = vm_hwm_kb(pid) {
        let mut peaks = peaks.lock().unwrap();
        let peak = peaks.entry(function.to_owned()).or_default();
        *peak = (*peak).max(kb);
    }
}

/// The processes of each function below `ancestor` (cargo lambda watch), by executable name.
fn function_processes(ancestor: i32) -> BTreeMap<String, Vec<i32>> {
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else { continue };
        let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) else { continue };
        let Some(name) = exe.file_name().and_then(|n| n.to_str()) else { continue };
        if FUNCTIONS.contains(&name) && descends_from(pid, ancestor) {
            out.entry(name.to_string()).or_default().push(pid);
        }
    }
    out
}

fn descends_from(mut pid: i32, ancestor: i32) -> bool {
    for _ in 0..16 {
        if pid == ancestor {
            return true;
        }
        match parent(pid) {
            Some(p) if p > 1 => pid = p,
            _ => return false,
        }
    }
    false
}

fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// VmHWM of a process: its peak resident set size, in kB.
pub fn vm_hwm_kb(pid: i32) -> Option<u64> {
    parse_vm_hwm(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_peak_resident_set_of_a_status_file() {
        let status = "Name:\tcalendly-webhoo\nVmPeak:\t  120000 kB\nVmHWM:\t   18432 kB\nVmRSS:\t   17000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(18432));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
        // This very process has one.
        assert!(vm_hwm_kb(std::process::id() as i32).unwrap() > 0);
    }
}
