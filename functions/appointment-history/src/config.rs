//! This function's settings, read once at cold start through `shared::config`.

use chrono::TimeDelta;
use shared::config;
use shared::providers::Secret;
use shared::{DbSettings, Error, Result};

/// Shortest accepted HS256 secret: 256 bits, as RFC 7518 §3.2 requires for HS256 keys.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Clone, Debug)]
pub struct AppConfig {
    pub database: DbSettings,
    /// `JWT_SECRET`: the HS256 secret the CRM signs its bearer tokens with.
    pub jwt_secret: Secret,
    /// `JWT_ISSUER` / `JWT_AUDIENCE`: checked when set.
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// `IDEMPOTENCY_TTL_HOURS` (default 24): how long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: TimeDelta,
    /// `JWT_MAX_LIFETIME_SECONDS` (default 3600): a token whose `exp` is further than this from now
    /// is refused, so that a leaked token (or one minted with `exp` 2^64-1) is not valid for ever.
    pub jwt_max_lifetime_seconds: u64,
}

/// The longest a bearer token may still be valid, unless `JWT_MAX_LIFETIME_SECONDS` says otherwise.
pub const DEFAULT_JWT_MAX_LIFETIME_SECONDS: u64 = 3600;
/// The bounds of `JWT_MAX_LIFETIME_SECONDS`: a minute to a week.
pub const JWT_MAX_LIFETIME_RANGE: std::ops::RangeInclusive<u64> = 60..=7 * 24 * 3600;

impl AppConfig {
    pub fn from_env() -> Result<Self> {
        let secret = Secret::new(config::required("JWT_SECRET")?);
        check_secret(&secret)?;
        let hours: i64 = config::number("IDEMPOTENCY_TTL_HOURS", 24)?;
        if !(1..=24 * 30).contains(&hours) {
            return Err(Error::Config("IDEMPOTENCY_TTL_HOURS must be between 1 and 720".into()));
        }
        let jwt_max_lifetime_seconds = config::number("JWT_MAX_LIFETIME_SECONDS", DEFAULT_JWT_MAX_LIFETIME_SECONDS)?;
        if !JWT_MAX_LIFETIME_RANGE.contains(&jwt_max_lifetime_seconds) {
            return Err(Error::Config("JWT_MAX_LIFETIME_SECONDS must be between 60 and 604800".into()));
        }
        Ok(AppConfig {
            database: config::database()?,
            jwt_secret: secret,
            jwt_issuer: config::optional("JWT_ISSUER"),
            jwt_audience: config::optional("JWT_AUDIENCE"),
            idempotency_ttl: TimeDelta::hours(hours),
            jwt_max_lifetime_seconds,
        })
    }

    /// Settings for tests and benches: a database and a secret, the rest default.
    pub fn new(database: DbSettings, jwt_secret: impl Into<String>) -> Result<Self> {
        let jwt_secret = Secret::new(jwt_secret);
        check_secret(&jwt_secret)?;
        Ok(AppConfig {
            database,
            jwt_secret,
            jwt_issuer: None,
            jwt_audience: None,
            idempotency_ttl: TimeDelta::hours(24),
            jwt_max_lifetime_seconds: DEFAULT_JWT_MAX_LIFETIME_SECONDS,
        })
    }
}

fn check_secret(secret: &Secret) -> Result<()> {
    if secret.expose().len() < MIN_SECRET_BYTES {
        return Err(Error::Config(format!("JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_form_never_shows_the_secret() {
        let secret = "a-secret-of-more-than-32-bytes-0123456789";
        let config = AppConfig::new(DbSettings::from_url("postgres://app@127.0.0.1:5432/app").unwrap(), secret).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains(secret) && debug.contains("jwt_secret: Secret(***)"), "{debug}");
    }
}
