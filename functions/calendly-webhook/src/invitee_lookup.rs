//! A no-show delivered before its invitee's booking: the delivery names only the invitee's URI, so
//! the invitee is read from Calendly's API with the client's token and recorded as the API shows it
//! now (its booking, its status and no-show mark), matched to its lead as `invitee.created` is.
//!
//! Calendly retries any answer that is not a 2xx for 24 hours, then disables the whole
//! subscription. So only what a later attempt can fix is refused (503: the API or the database is
//! away); everything else (no such invitee, no token, a refused token, no matching lead) is
//! acknowledged and ignored, and left to reconciliation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_http::{Body, Response};
use shared::providers::calendly::{self, CalendlyAuth, CalendlyClient};
use shared::providers::{Endpoints, HttpSettings, ProviderError, ProviderHttp, Quotas};
use shared::{AppointmentSource, Error, Store, TaskPolicy};

use crate::answer::{self, CalendlyRefusal, Ignored, Problem};
use crate::{mapping, App};

/// The whole lookup (both requests, their retry and any rate-limiter wait) ends within this: the
/// function has 10 seconds (template.yaml), and the database write still follows.
pub const LOOKUP_BUDGET: Duration = Duration::from_secs(5);

/// Per-request timeout when `PROVIDER_TIMEOUT_MS` is unset.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

const SELECT_CALENDLY_AUTH: &str = r#"SELECT "calendlyAccessToken", "calendlyOrganizationUri" FROM "Client" WHERE "id" = $1"#;

/// The provider client's settings for a caller that is waited on: one retry, short back-off, and
/// no waiting out a 429 (Calendly redelivers later instead).
pub fn http_settings(request_timeout: Duration) -> HttpSettings {
    HttpSettings {
        timeout: request_timeout,
        connect_timeout: request_timeout.min(Duration::from_secs(1)),
        max_attempts: 2,
        backoff_base: Duration::from_millis(100),
        max_backoff: Duration::from_millis(200),
        max_rate_limited: 0,
        max_rate_limit_wait: Duration::ZERO,
    }
}

/// The Calendly API client from the environment (through `shared::config`): `CALENDLY_API_BASE`,
/// `PROVIDER_TIMEOUT_MS` (per request) and `CALENDLY_REQUESTS_PER_MINUTE` (per token, in this
/// process), as reconcile-scheduled reads them.
pub fn api_from_env() -> Result<CalendlyClient, Box<dyn std::error::Error + Send + Sync>> {
    let endpoints = Endpoints::new(&shared::config::calendly_api_base(), Endpoints::GHL)?;
    let timeout = Duration::from_millis(shared::config::number("PROVIDER_TIMEOUT_MS", DEFAULT_REQUEST_TIMEOUT.as_millis() as u64)?);
    let quotas = Quotas {
        calendly_per_minute: shared::config::number("CALENDLY_REQUESTS_PER_MINUTE", Quotas::default().calendly_per_minute)?.max(1),
        ..Quotas::default()
    };
    Ok(ProviderHttp::new(endpoints, http_settings(timeout), quotas)?.calendly())
}

/// Calendly's API at its real address, with the defaults (tests and tools that never reach it).
pub fn default_api() -> CalendlyClient {
    ProviderHttp::new(Endpoints::default(), http_settings(DEFAULT_REQUEST_TIMEOUT), Quotas::default())
        .expect("the built-in HTTP client settings are valid")
        .calendly()
}

/// The client's Calendly credentials, if it has them.
async fn calendly_auth(store: &Store, client_id: &str) -> Result<Option<CalendlyAuth>, Error> {
    let mut conn = store.conn().await?;
    let statement = conn.statement(SELECT_CALENDLY_AUTH).await?;
    conn.count_round_trip();
    Ok(match conn.client.query_opt(&statement, &[&client_id]).await? {
        Some(row) => CalendlyAuth::configured(row.try_get(0)?, row.try_get(1)?),
        None => None,
    })
}

/// A no-show (`kind`, delivered at `delivered_at`) of `invitee`, which no appointment of the client
/// holds: read from the API and recorded, or the answer that says why not.
pub async fn record_unknown_invitee(
    app: &App,
    client_id: &str,
    kind: &'static str,
    invitee: &str,
    delivered_at: Option<DateTime<Utc>>,
) -> Response<Body> {
    let ignore = |why: Ignored| crate::ignored(client_id, kind, invitee, why);
    let auth = match calendly_auth(&app.store, client_id).await {
        Ok(Some(auth)) => auth,
        Ok(None) => return ignore(Ignored::NoCalendlyToken),
        Err(e) => return crate::database_problem(client_id, &e),
    };
    let booking = match tokio::time::timeout(app.lookup_budget, app.calendly.booking(&auth, invitee)).await {
        Ok(Ok(booking)) if booking.invitee.uri == invitee => booking,
        Ok(Ok(_)) => {
            tracing::warn!(client_id, kind, invitee, "calendly answered with another invitee");
            return ignore(Ignored::InviteeUnreadable);
        }
        Ok(Err(ProviderError::Rejected { status: status @ (401 | 403), .. })) => {
            // The client's credentials are wrong or revoked: the operator's to fix, not Calendly's to retry.
            tracing::warn!(client_id, status, "calendly refused the client's token");
            return ignore(Ignored::CalendlyTokenRefused);
        }
        Ok(Err(ProviderError::Rejected { status, .. })) => {
            tracing::info!(client_id, kind, invitee, status, "calendly does not know the invitee");
            return ignore(Ignored::UnknownInvitee);
        }
        Ok(Err(e @ ProviderError::Malformed { .. })) => {
            tracing::warn!(client_id, kind, invitee, error = %e, "calendly's answer about the invitee is unreadable");
            return ignore(Ignored::InviteeUnreadable);
        }
        Ok(Err(e @ (ProviderError::Unavailable { .. } | ProviderError::RateLimited { .. }))) => return api_unavailable(client_id, &e),
        Err(_) => return api_unavailable(client_id, &format!("no answer within {} s", app.lookup_budget.as_secs_f64())),
        Ok(Err(e @ ProviderError::Config(_))) => {
            tracing::error!(client_id, error = %e, "calendly delivery not recorded: the Calendly API client is misconfigured");
            return answer::problem(Problem::Internal, None);
        }
    };
    let lead = mapping::lead_match(client_id, booking.invitee.lead_hint(), booking.invitee.email());
    let mut obs = match calendly::observation(lead, &booking, AppointmentSource::Webhook, TaskPolicy::All) {
        Ok(obs) => obs,
        Err(e) => {
            tracing::warn!(client_id, kind, invitee, problem = e.0, "calendly's invitee cannot be recorded");
            return ignore(Ignored::InviteeUnreadable);
        }
    };
    // What the API shows was read after the delivery was made: it is at least as new as the
    // delivery, so an older word (the booking's own delivery, arriving later) does not undo it.
    obs.provider_updated_at = obs.provider_updated_at.max(delivered_at);
    let status = obs.status.label();
    match app.store.record(obs).await {
        Ok(outcome) => crate::recorded(client_id, kind, invitee, status, "calendly api", &outcome),
        Err(Error::LeadNotFound(_)) => ignore(Ignored::NoMatchingLead),
        Err(Error::InvalidObservation(reason)) => {
            tracing::warn!(client_id, kind, invitee, reason = %reason, "calendly's invitee refused by the write path");
            ignore(Ignored::InviteeUnreadable)
        }
        Err(e) => crate::database_problem(client_id, &e),
    }
}

/// 503 with `Retry-After`, as for the database being away: Calendly redelivers, and by then the API
/// may answer.
fn api_unavailable(client_id: &str, why: &dyn std::fmt::Display) -> Response<Body> {
    tracing::warn!(client_id, reason = %why, "calendly delivery not recorded: the Calendly API is unavailable");
    answer::problem(Problem::Own(CalendlyRefusal::CalendlyApiUnavailable), None)
}

#[cfg(test)]
mod tests {
    use lambda_http::http::header;
    use shared::webhook::Provider as _;

    use super::*;

    #[test]
    fn the_lookup_ends_well_inside_the_function_timeout() {
        let s = http_settings(DEFAULT_REQUEST_TIMEOUT);
        // Two attempts and the back-off between them fit the budget; a 429 is not waited out.
        assert!(s.timeout * s.max_attempts + s.max_backoff <= LOOKUP_BUDGET);
        assert_eq!(s.max_rate_limited, 0);
        assert!(LOOKUP_BUDGET <= Duration::from_secs(5));
    }

    #[test]
    fn an_unavailable_api_is_retried_later() {
        let r = api_unavailable("c1", &"HTTP 503");
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], CalendlyRefusal::RETRY_AFTER_SECONDS);
        assert_eq!(r.extensions().get::<shared::metrics::Delivery>(), Some(&shared::metrics::Delivery::Failed("calendly-api-unavailable")));
    }
}
