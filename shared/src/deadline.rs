//! The one reading of a Lambda invocation's deadline, for every function that stops before it.
//!
//! The runtime hands each invocation `Lambda-Runtime-Deadline-Ms` (`lambda_runtime`'s
//! `Context::deadline`): in AWS, the moment the invocation is killed, as Unix epoch milliseconds.
//! Local emulators do not keep that promise. cargo-lambda's `cargo lambda watch` sends the constant
//! `600000` with every invocation and never stops a function; other emulators send nothing (`0`).
//! Such a value is not a time limit: read as a date it lies in 1970, read as "ten minutes" it
//! invents a limit nobody enforces. So:
//!
//! - a value that is a date (from 2001 on) is the deadline; once it has passed, no time is left;
//! - a smaller value is no deadline at all, and the function runs on its own default budget (each
//!   function says what that is and how to change it).
//!
//! No real deadline is earlier than 2001 and no emulator's placeholder is later, so the two never
//! mix up.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// 2001-01-01T00:00:00Z in epoch milliseconds: runtime values below it are not dates.
pub const EARLIEST_DEADLINE_MS: u64 = 978_307_200_000;

/// What the runtime's deadline value says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeDeadline {
    /// A real deadline, epoch milliseconds.
    At(u64),
    /// No deadline (a local emulator's placeholder, or nothing).
    None,
}

impl RuntimeDeadline {
    pub fn of(raw_ms: u64) -> Self {
        if raw_ms >= EARLIEST_DEADLINE_MS {
            RuntimeDeadline::At(raw_ms)
        } else {
            RuntimeDeadline::None
        }
    }
}

/// The time the invocation has, given the runtime's value, the wall clock and the function's
/// default budget. Pure.
pub fn time_left(raw_ms: u64, now: SystemTime, default_budget: Duration) -> Duration {
    match RuntimeDeadline::of(raw_ms) {
        RuntimeDeadline::At(ms) => (UNIX_EPOCH + Duration::from_millis(ms)).duration_since(now).unwrap_or(Duration::ZERO),
        RuntimeDeadline::None => default_budget,
    }
}

/// The invocation's deadline on the monotonic clock (what budgets compare against), logged once.
pub fn deadline(raw_ms: u64, default_budget: Duration) -> Instant {
    let left = time_left(raw_ms, SystemTime::now(), default_budget);
    match RuntimeDeadline::of(raw_ms) {
        RuntimeDeadline::At(_) => tracing::info!(left_ms = left.as_millis() as u64, "invocation deadline from the runtime"),
        RuntimeDeadline::None => tracing::info!(
            runtime_value = raw_ms,
            budget_s = default_budget.as_secs(),
            "no invocation deadline from the runtime (a local emulator); using the default budget"
        ),
    }
    Instant::now() + left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_values_as_a_table() {
        let now_ms = 1_795_513_754_810u64;
        let now = UNIX_EPOCH + Duration::from_millis(now_ms);
        let budget = Duration::from_secs(123);
        let cases: [(&str, u64, Duration); 7] = [
            ("AWS: five minutes ahead", now_ms + 300_000, Duration::from_secs(300)),
            ("AWS: one millisecond ahead", now_ms + 1, Duration::from_millis(1)),
            ("AWS: passed", now_ms - 1_000, Duration::ZERO),
            ("AWS: exactly now", now_ms, Duration::ZERO),
            ("cargo-lambda's constant placeholder", 600_000, budget),
            ("no header", 0, budget),
            ("just below 2001", EARLIEST_DEADLINE_MS - 1, budget),
        ];
        for (name, raw, expected) in cases {
            assert_eq!(time_left(raw, now, budget), expected, "{name}");
        }
        assert_eq!(RuntimeDeadline::of(EARLIEST_DEADLINE_MS), RuntimeDeadline::At(EARLIEST_DEADLINE_MS));
    }

    #[test]
    fn the_monotonic_deadline_is_the_time_left_from_now() {
        let budget = Duration::from_secs(600);
        let left = deadline(600_000, budget).saturating_duration_since(Instant::now());
        assert!(left <= budget && left > budget - Duration::from_secs(2), "{left:?}");
        let aws = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 + 60_000;
        let left = deadline(aws, budget).saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_secs(60) && left > Duration::from_secs(58), "{left:?}");
    }
}
