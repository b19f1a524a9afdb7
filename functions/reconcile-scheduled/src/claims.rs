//! Which run works on which lead. Two overlapping runs (a slow cron run and the next one, or a
//! backfill during a cron run) must never check one lead at the same time.
//!
//! Session-level PostgreSQL advisory locks on a connection of the run's own, keyed by the lead id:
//! - no schema change and no writes to the CRM's `Lead` rows (a lease column would be one more
//!   write per lead and bump nothing useful);
//! - a run that dies (Lambda timeout, crash) loses its connection and with it every claim at once;
//!   there is no stale lease to expire;
//! - unlike `SELECT ... FOR UPDATE SKIP LOCKED`, no transaction stays open while the providers are
//!   asked, and the write path's own lock on the lead row is never held or waited for.
//!
//! Needs a session-pooled connection (direct, or RDS Proxy / PgBouncer in session mode).

use tokio_postgres::Client;

use crate::error::RunError;

/// The advisory-lock class of reconciler claims ("REC1"); the second key is `hashtext(lead id)`.
/// Two-key advisory locks do not share a key space with the one-key locks the migrations use.
const CLAIM_CLASS: i32 = 0x5245_4331;

/// A run's claims on leads, held on its own connection.
pub struct Claims {
    client: Client,
}

impl Claims {
    pub fn new(client: Client) -> Self {
        Claims { client }
    }

    /// The connection, also used for the run's selection queries.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Tries to claim each lead; returns the ones claimed (in the given order). Leads another run
    /// holds are left out. Every row is evaluated (no LIMIT), so no lock is taken and then lost.
    pub async fn try_claim(&self, lead_ids: &[String]) -> Result<Vec<String>, RunError> {
        if lead_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "SELECT t.id, pg_try_advisory_lock($2::int4, hashtext(t.id)) FROM unnest($1::text[]) WITH ORDINALITY AS t(id, n) ORDER BY t.n",
                &[&lead_ids, &CLAIM_CLASS],
            )
            .await?;
        Ok(rows.iter().filter(|r| r.get::<_, bool>(1)).map(|r| r.get(0)).collect())
    }

    /// Gives a lead back (after its check, or when it turned out not to be due any more).
    pub async fn release(&self, lead_ids: &[String]) -> Result<(), RunError> {
        if lead_ids.is_empty() {
            return Ok(());
        }
        self.client
            .execute(
                "SELECT count(pg_advisory_unlock($2::int4, hashtext(t.id))) FROM unnest($1::text[]) AS t(id)",
                &[&lead_ids, &CLAIM_CLASS],
            )
            .await?;
        Ok(())
    }
}
