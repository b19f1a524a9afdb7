//! The one table `make soak` prints: a row per check, its measured value against its target.

use std::process::ExitCode;

pub struct Row {
    /// What part of the service was exercised ("faults", "cold start", "load", ...).
    pub section: String,
    /// The check, with its subject ("calendly-webhook stripped arm64 size").
    pub check: String,
    /// What was measured or seen.
    pub measured: String,
    /// What it had to be.
    pub target: String,
    pub pass: bool,
}

#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    pub fn push(&mut self, section: &str, check: impl Into<String>, measured: impl Into<String>, target: impl Into<String>, pass: bool) {
        self.rows.push(Row { section: section.to_owned(), check: check.into(), measured: measured.into(), target: target.into(), pass });
    }

    /// A section that could not run is a failed row saying why, never a silent omission.
    pub fn failed(&mut self, section: &str, check: impl Into<String>, why: impl std::fmt::Display) {
        self.push(section, check, format!("could not run: {why}"), "runs", false);
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// A Markdown table, so that the README's "Reliability" section can hold it as printed.
    pub fn render(&self) -> String {
        let mut out = String::from("| section | check | measured | target | verdict |\n|---|---|---|---|---|\n");
        for row in &self.rows {
            let verdict = if row.pass { "ok" } else { "MISSED" };
            out.push_str(&format!("| {} | {} | {} | {} | {} |\n", row.section, row.check, row.measured, row.target, verdict));
        }
        out
    }

    pub fn exit_code(&self) -> ExitCode {
        if !self.rows.is_empty() && self.rows.iter().all(|row| row.pass) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_missed_row_fails_the_run() {
        let mut table = Table::default();
        table.push("load", "throughput", "900/s", "runs", true);
        assert_eq!(table.exit_code(), ExitCode::SUCCESS);
        table.failed("faults", "database crash", "postgres did not start");
        assert_eq!(table.exit_code(), ExitCode::FAILURE);
        assert!(table.render().contains("| faults | database crash | could not run: postgres did not start | runs | MISSED |"));
    }

    #[test]
    fn an_empty_table_is_not_a_pass() {
        assert_eq!(Table::default().exit_code(), ExitCode::FAILURE);
    }
}
