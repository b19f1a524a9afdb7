//! `Idempotency-Key` for `POST /leads/{leadId}/appointments`, stored in
//! `"AppointmentIdempotencyKey"` (migration V4), keyed by the lead's workspace and the key.
//!
//! 1. **Claim**: insert the key with the request's hash. Exactly one concurrent request wins.
//! 2. The winner records the appointment and **completes** the claim with the answer (status and
//!    body); on any failure it **releases** the claim, so that a retry runs afresh.
//! 3. A request that finds the key taken: another request hash → 409 `idempotency-key-reused`;
//!    completed → the stored answer again (with `Idempotency-Replayed: true`); still running → 409
//!    `idempotency-key-in-progress` with `Retry-After`.
//!
//! A key is remembered for `IDEMPOTENCY_TTL_HOURS` (24 by default); after that the same key starts
//! afresh. A claim left behind by a process that died mid-request is taken over by a request with
//! the same hash after [`ABANDONED_AFTER`] (safe: recording the same body again changes nothing).

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use shared::write_path::to_db;
use shared::{Result, Store};

use crate::problem::{FieldError, Kind, Location, Problem};

pub const HEADER: &str = "idempotency-key";
pub const MAX_KEY_CHARS: usize = 255;
/// A claim older than this without an answer belongs to a request that died.
pub const ABANDONED_AFTER: TimeDelta = TimeDelta::seconds(60);

/// The `Idempotency-Key` header value: 1 to 255 visible ASCII characters. The IETF draft's
/// structured-field form (`"key"`) is accepted too and means the same key.
pub fn parse_key(value: Option<&[u8]>) -> Result<Option<String>, Problem> {
    let Some(raw) = value else { return Ok(None) };
    let text = std::str::from_utf8(raw).ok().map(str::trim);
    let text = text.map(|t| t.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(t));
    match text {
        Some(t) if !t.is_empty() && t.len() <= MAX_KEY_CHARS && t.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(t.to_string())),
        _ => Err(Problem::fields(
            Kind::BadRequest,
            vec![FieldError::new(Location::Header, "Idempotency-Key", "must be 1 to 255 visible ASCII characters")],
        )),
    }
}

/// A key within its workspace: the idempotency record's primary key.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    pub client_id: &'a str,
    pub key: &'a str,
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// This request owns the key; `claimed_at` identifies the claim for complete/release.
    Owned { claimed_at: DateTime<Utc> },
    /// The same request was answered before.
    Replay { status: u16, body: Value },
    /// The key was used with another request.
    Reused,
    /// The same request is being processed by someone else right now.
    InProgress,
}

const CLAIM: &str = r#"INSERT INTO "AppointmentIdempotencyKey" ("clientId", "key", "leadId", "requestHash", "createdAt")
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT ("clientId", "key") DO UPDATE SET
       "leadId" = EXCLUDED."leadId", "requestHash" = EXCLUDED."requestHash", "responseStatus" = NULL,
       "responseBody" = NULL, "appointmentId" = NULL, "createdAt" = EXCLUDED."createdAt", "completedAt" = NULL
 WHERE "AppointmentIdempotencyKey"."createdAt" < $6
    OR ("AppointmentIdempotencyKey"."completedAt" IS NULL
        AND "AppointmentIdempotencyKey"."createdAt" < $7
        AND "AppointmentIdempotencyKey"."requestHash" = EXCLUDED."requestHash")
RETURNING "createdAt""#;

const EXISTING: &str = r#"SELECT "requestHash", "responseStatus", "responseBody"
  FROM "AppointmentIdempotencyKey" WHERE "clientId" = $1 AND "key" = $2"#;

const COMPLETE: &str = r#"UPDATE "AppointmentIdempotencyKey"
   SET "responseStatus" = $4, "responseBody" = $5, "appointmentId" = $6, "completedAt" = $7
 WHERE "clientId" = $1 AND "key" = $2 AND "createdAt" = $3"#;

const RELEASE: &str =
    r#"DELETE FROM "AppointmentIdempotencyKey" WHERE "clientId" = $1 AND "key" = $2 AND "createdAt" = $3 AND "completedAt" IS NULL"#;

/// Claims `key` of workspace `client_id` for a request with `hash`.
pub async fn claim(store: &Store, scope: Scope<'_>, lead_id: &str, hash: &str, now: DateTime<Utc>, ttl: TimeDelta) -> Result<Claim> {
    let Scope { client_id, key } = scope;
    let now = shared::domain::to_millis(now);
    let mut conn = store.conn().await?;
    let claim = conn.statement(CLAIM).await?;
    conn.count_round_trip();
    let won = conn
        .client
        .query_opt(
            &claim,
            &[&client_id, &key, &lead_id, &hash, &now.naive_utc(), &(now - ttl).naive_utc(), &(now - ABANDONED_AFTER).naive_utc()],
        )
        .await?;
    if won.is_some() {
        return Ok(Claim::Owned { claimed_at: now });
    }
    let existing = conn.statement(EXISTING).await?;
    conn.count_round_trip();
    let Some(row) = conn.client.query_opt(&existing, &[&client_id, &key]).await? else {
        // Released between our insert and this read: the caller may simply retry.
        return Ok(Claim::InProgress);
    };
    let stored_hash: String = row.try_get(0)?;
    if stored_hash != hash {
        return Ok(Claim::Reused);
    }
    match (row.try_get::<_, Option<i32>>(1)?, row.try_get::<_, Option<Value>>(2)?) {
        (Some(status), Some(body)) => Ok(Claim::Replay { status: status as u16, body }),
        _ => Ok(Claim::InProgress),
    }
}

/// Stores the answer of an owned claim.
pub async fn complete(
    store: &Store,
    scope: Scope<'_>,
    claimed_at: DateTime<Utc>,
    status: u16,
    body: &Value,
    appointment_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let Scope { client_id, key } = scope;
    let mut conn = store.conn().await?;
    let stmt = conn.statement(COMPLETE).await?;
    conn.count_round_trip();
    conn.client
        .execute(
            &stmt,
            &[
                &client_id,
                &key,
                &to_db(Some(claimed_at)),
                &i32::from(status),
                body,
                &appointment_id,
                &to_db(Some(shared::domain::to_millis(now))),
            ],
        )
        .await?;
    Ok(())
}

/// Gives up an owned claim after a failure, so that a retry with the same key runs afresh.
pub async fn release(store: &Store, scope: Scope<'_>, claimed_at: DateTime<Utc>) {
    let Scope { client_id, key } = scope;
    let result = async {
        let mut conn = store.conn().await?;
        let stmt = conn.statement(RELEASE).await?;
        conn.count_round_trip();
        conn.client.execute(&stmt, &[&client_id, &key, &to_db(Some(claimed_at))]).await?;
        Ok::<_, shared::Error>(())
    }
    .await;
    if let Err(e) = result {
        // The claim then expires as abandoned after ABANDONED_AFTER.
        tracing::warn!(error = %e, "could not release an idempotency claim");
    }
}
