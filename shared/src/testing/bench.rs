//! What the benchmarks share: the anchor (`pgbench` replaying the same statements, the database's
//! floor) with its scripts written from the code's SQL, copies of a prepared database so that every
//! round starts from the same table state, and the verdict over rounds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{server_url, with_database, TestDb};
use crate::error::Result;
use crate::store::DbSettings;

/// What one pgbench run measured.
pub struct Pgbench {
    /// Transactions per second, without connection set-up.
    pub tps: f64,
    /// Every transaction's latency, from pgbench's per-transaction log.
    pub latencies: Vec<Duration>,
}

fn pgbench_binary() -> PathBuf {
    crate::embedded::find_binaries().ok().map(|b| b.join("pgbench")).filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("pgbench"))
}

/// Runs `script` with `clients` connections (`-M prepared`, each client `transactions` times),
/// `defines` as `-D name=value`, and reads back every transaction's latency.
pub fn pgbench(url: &str, script: &Path, clients: usize, transactions: usize, defines: &[(&str, String)]) -> Pgbench {
    let logdir = std::env::temp_dir().join(format!("appt-pgbench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&logdir).unwrap();
    let mut command = Command::new(pgbench_binary());
    command.args(["-n", "-M", "prepared", "-c", &clients.to_string(), "-j", &clients.min(2).to_string()]);
    command.args(["-t", &transactions.to_string(), "-l", "--log-prefix"]).arg(logdir.join("tx"));
    for (name, value) in defines {
        command.arg("-D").arg(format!("{name}={value}"));
    }
    let out = command.arg("-f").arg(script).arg(url).output().expect("run pgbench");
    assert!(out.status.success(), "pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tps = stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .expect("pgbench tps");
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(&logdir).unwrap().flatten() {
        for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
            // client_id transaction_no time(us) script_no epoch us
            if let Some(us) = line.split_whitespace().nth(2).and_then(|v| v.parse::<u64>().ok()) {
                latencies.push(Duration::from_micros(us));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&logdir);
    Pgbench { tps, latencies }
}

/// Writes a pgbench script from the code's SQL of today, so the anchor never replays statements the
/// service no longer sends, and returns its path (under the bench's `target/tmp`, `dir`; the
/// bench prints it, for a reader who wants to replay it by hand).
pub fn write_script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join("pgbench").join(format!("{name}.sql"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// A new database copied from `template`, which nobody may be connected to: every round of a
/// benchmark starts from the same table state (same rows, same statistics, no bloat of the
/// previous round).
pub async fn copy_of(template: &TestDb) -> Result<TestDb> {
    let server = server_url().await?;
    let name = format!("appt_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = DbSettings::from_url(&server)?.connect().await?;
    // The template's last session may still be closing: CREATE DATABASE ... TEMPLATE refuses while
    // anyone is connected, so wait a little for it.
    let mut tries = 0;
    loop {
        match admin.batch_execute(&format!(r#"CREATE DATABASE "{name}" TEMPLATE "{}""#, template.name)).await {
            Ok(()) => return Ok(TestDb { url: with_database(&server, &name)?, name }),
            Err(e) if tries < 40 => {
                tries += 1;
                tracing::debug!(error = %e, "copy a database: retrying");
                tokio::time::sleep(Duration::from_millis(25 * tries)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Drops a database made for one round.
pub async fn drop_database(db: TestDb) -> Result<()> {
    let admin = DbSettings::from_url(&server_url().await?)?.connect().await?;
    admin.batch_execute(&format!(r#"DROP DATABASE "{}" WITH (FORCE)"#, db.name)).await?;
    Ok(())
}

/// The median of some ratios.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Whether a ratio of ours to the anchor must stay at least or at most the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    AtLeast,
    AtMost,
}

/// The verdict of a benchmark: each row's ratio to the anchor, one per round, judged on the median.
pub struct Verdict {
    what: String,
    target: f64,
    bound: Bound,
    rows: BTreeMap<String, Vec<f64>>,
}

impl Verdict {
    /// `what` names the ratio ("throughput, ours / pgbench").
    pub fn new(what: &str, bound: Bound, target: f64) -> Self {
        Verdict { what: what.into(), target, bound, rows: BTreeMap::new() }
    }

    pub fn add(&mut self, row: &str, ratio: f64) {
        self.rows.entry(row.to_string()).or_default().push(ratio);
    }

    fn met(&self, ratio: f64) -> bool {
        match self.bound {
            Bound::AtLeast => ratio >= self.target,
            Bound::AtMost => ratio <= self.target,
        }
    }

    /// The verdict's lines: every round's ratio and the median of each row, then met or missed.
    pub fn render(&self) -> (String, bool) {
        let sign = if self.bound == Bound::AtLeast { ">=" } else { "<=" };
        let mut out = format!("verdict: {}, median over rounds (target {sign} {:.2})\n", self.what, self.target);
        let mut all_met = !self.rows.is_empty();
        for (row, ratios) in &self.rows {
            let m = median(ratios);
            let rounds: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            let met = self.met(m);
            all_met &= met;
            out += &format!("  {row:<28} {m:>6.2}  {}   rounds: {}\n", if met { "met" } else { "MISSED" }, rounds.join(" "));
        }
        out += if all_met { "VERDICT: targets met\n" } else { "VERDICT: TARGET MISSED\n" };
        (out, all_met)
    }

    /// Prints the verdict and ends the process with status 1 when a target was missed.
    pub fn conclude(&self) {
        let (text, met) = self.render();
        print!("{text}");
        if !met {
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn a_row_is_judged_on_its_median_not_its_worst_round() {
        let mut v = Verdict::new("throughput", Bound::AtLeast, 0.8);
        for r in [0.5, 0.9, 0.85, 1.0, 0.95] {
            v.add("status-change x1", r);
        }
        let (text, met) = v.render();
        assert!(met, "{text}");
        v.add("new x8", 0.7);
        let (text, met) = v.render();
        assert!(!met && text.contains("MISSED"), "{text}");
    }

    #[test]
    fn at_most_bounds_and_empty_verdicts() {
        let mut v = Verdict::new("p50, ours / pgbench", Bound::AtMost, 1.5);
        assert!(!v.render().1, "no rows is no verdict");
        v.add("timeline", 1.4);
        assert!(v.render().1);
        v.add("timeline", 1.7);
        v.add("timeline", 1.6);
        assert!(!v.render().1);
    }
}
