//! The one configuration loader: environment variables, read once at cold start.

use crate::error::{Error, Result};
use crate::store::DbSettings;

/// A required variable.
pub fn required(name: &str) -> Result<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(Error::Config(format!("{name} is not set"))),
    }
}

/// An optional variable (unset and empty are the same).
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A boolean variable: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
pub fn flag(name: &str, default: bool) -> Result<bool> {
    match optional(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(_) => Err(Error::Config(format!("{name} must be true or false"))),
    }
}

/// A number variable.
pub fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match optional(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| Error::Config(format!("{name} must be a number"))),
    }
}

/// The Calendly API's base URL (`CALENDLY_API_BASE`; unset, Calendly's own): local runs and the
/// soak point it at a mock.
pub fn calendly_api_base() -> String {
    optional("CALENDLY_API_BASE").unwrap_or_else(|| crate::providers::Endpoints::CALENDLY.into())
}

/// Database settings: `DATABASE_URL` (a libpq URL; see [`DbSettings::from_url`]) and
/// `DB_MIGRATE_ON_CONNECT` (apply pending migrations at cold start; default true).
pub fn database() -> Result<DbSettings> {
    let mut settings = DbSettings::from_url(&required("DATABASE_URL")?)?;
    settings.migrate_on_connect = flag("DB_MIGRATE_ON_CONNECT", true)?;
    Ok(settings)
}
