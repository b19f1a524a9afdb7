//! Running a database transaction again when it lost a race or its connection dropped: the one
//! rule for every writer (the write path's `record`, migrate-batch's batches).
//!
//! - A transaction that lost a race ([`Error::is_retryable`]: serialization failure, deadlock, a
//!   unique key raced in by a writer of another lead) runs again, a few times, after a short pause
//!   that grows with each attempt and carries jitter, so that two losers do not collide again.
//! - After a dropped connection ([`Error::is_unavailable`]) the store reconnects and the work runs
//!   once more. That is safe because every caller's work either committed nothing or is
//!   idempotent (`record`; a migration batch commits its checkpoint with its work).
//! - A failed attempt's open transaction is rolled back ([`rollback`]) by the attempt, before its
//!   connection is used again.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use crate::error::Error;
use crate::store::{Connection, Store};

/// How a unit of work is run again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included, for lost races.
    pub max_attempts: u32,
    /// Before attempt `n + 1`: `n` times this, plus up to twice this of jitter.
    pub pause: Duration,
    /// Whether a dropped connection is re-opened and the work run once more.
    pub reconnect: bool,
}

impl Retry {
    /// The pause after failed attempt `attempt` (1-based).
    pub fn pause_after(&self, attempt: u32) -> Duration {
        let jitter = self.pause.mul_f64(2.0 * rand::random::<f64>());
        self.pause * attempt + jitter
    }
}

/// An error that may carry a store error, which decides whether the work runs again.
pub trait StoreFailure {
    fn store_error(&self) -> Option<&Error>;
}

impl StoreFailure for Error {
    fn store_error(&self) -> Option<&Error> {
        Some(self)
    }
}

/// Runs `work` (one transaction; it takes its connection from `store` and rolls back on error)
/// under the [`Retry`] rule. `subject` names what is worked on in logs (ids only).
pub async fn with_retries<T, E, F, Fut>(store: &Store, retry: Retry, subject: &(dyn Display + Sync), mut work: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: StoreFailure,
{
    let mut attempt = 0;
    let mut reconnected = false;
    loop {
        attempt += 1;
        let result = work().await;
        let (race, dropped) = match result.as_ref().err().and_then(StoreFailure::store_error) {
            Some(e) => (e.is_retryable(), e.is_unavailable()),
            None => return result,
        };
        if race && attempt < retry.max_attempts {
            tracing::debug!(attempt, subject = %subject, "transaction lost a race; running it again");
            tokio::time::sleep(retry.pause_after(attempt)).await;
        } else if dropped && retry.reconnect && !reconnected {
            reconnected = true;
            tracing::warn!(subject = %subject, "database connection lost; reconnecting and running the transaction once more");
            store.reset().await;
        } else {
            return result;
        }
    }
}

/// Ends a failed attempt's transaction so that its connection can be used again. Quiet: the
/// attempt's own error is what the caller reports, and a closed connection needs nothing.
pub async fn rollback(conn: &Connection) {
    if conn.client.is_closed() {
        return;
    }
    conn.count_round_trip();
    if let Err(e) = conn.client.batch_execute("ROLLBACK").await {
        tracing::debug!(error = %e, "rollback after a failed transaction");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn store() -> Store {
        // Never connected: `reset` only forgets a connection.
        Store::new(crate::DbSettings::from_url("postgres://nobody@127.0.0.1:1/none").unwrap())
    }

    const QUICK: Retry = Retry { max_attempts: 3, pause: Duration::from_millis(1), reconnect: true };

    fn race() -> Error {
        Error::Database { code: "40001".into(), message: "could not serialize access".into() }
    }

    /// (errors the work returns before it succeeds, policy) -> (attempts made, succeeded)
    #[tokio::test]
    async fn which_failures_run_again_as_a_table() {
        let unavailable = || Error::Unavailable("connection closed".into());
        let cases: Vec<(&str, Vec<Error>, Retry, u32, bool)> = vec![
            ("success at once", vec![], QUICK, 1, true),
            ("two races, then success", vec![race(), race()], QUICK, 3, true),
            ("races up to the limit", vec![race(), race(), race()], QUICK, 3, false),
            ("a dropped connection: once more", vec![unavailable()], QUICK, 2, true),
            ("dropped twice: given up", vec![unavailable(), unavailable()], QUICK, 2, false),
            ("no reconnect asked", vec![unavailable()], Retry { reconnect: false, ..QUICK }, 1, false),
            ("a race after a reconnect", vec![unavailable(), race()], QUICK, 3, true),
            ("not a race", vec![Error::KeyOwnedElsewhere], QUICK, 1, false),
            ("a constraint, not a race", vec![Error::Database { code: "23503".into(), message: "fk".into() }], QUICK, 1, false),
        ];
        let store = store();
        for (name, errors, retry, attempts, ok) in cases {
            let calls = AtomicU32::new(0);
            let errors = std::sync::Mutex::new(errors.into_iter());
            let result: Result<u32, Error> = with_retries(&store, retry, &name, || async {
                calls.fetch_add(1, Ordering::Relaxed);
                match errors.lock().unwrap().next() {
                    Some(e) => Err(e),
                    None => Ok(7),
                }
            })
            .await;
            assert_eq!((calls.load(Ordering::Relaxed), result.is_ok()), (attempts, ok), "{name}");
        }
    }

    #[test]
    fn pauses_grow_with_jitter_within_bounds() {
        let retry = Retry { max_attempts: 5, pause: Duration::from_millis(20), reconnect: true };
        for attempt in 1..5 {
            for _ in 0..50 {
                let p = retry.pause_after(attempt);
                assert!(p >= Duration::from_millis(20) * attempt && p <= Duration::from_millis(20) * (attempt + 2), "{p:?}");
            }
        }
    }
}
