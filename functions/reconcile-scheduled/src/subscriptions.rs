//! Calendly webhook subscription health, once per cron run.
//!
//! Calendly retries a failing delivery for 24 hours, then disables the subscription (`state:
//! disabled`) without telling anyone, and never re-enables it. Reconciliation fills the gap, but
//! slowly: so every run reads each Calendly client's subscriptions (`GET /webhook_subscriptions`,
//! organization scope, then the token user's own when ours is not among them) and looks for the one
//! whose callback URL is this deployment's URL for that client. Disabled or missing: a warning (ids
//! only) and the `CalendlySubscriptionsDisabled` / `CalendlySubscriptionsMissing` metrics, which the
//! template alarms on.
//!
//! The requests go through the same client, rate limiter and retry policy as the leads' checks, and
//! stop at the run's deadline.

use futures::stream::{self, StreamExt};
use shared::metrics::{self, SubscriptionHealth};
use shared::providers::calendly::{CalendlyAuth, CalendlyClient, WebhookSubscription};
use shared::providers::{ProviderError, ProviderHttp, Secret};
use shared::DbSettings;
use tokio::time::Instant;

/// Where the client id goes in the URL pattern (`CALENDLY_WEBHOOK_URL_PATTERN`).
pub const CLIENT_PLACEHOLDER: &str = "{clientId}";

/// Every client with Calendly credentials (whatever its leads): each should have a subscription.
const SELECT_CALENDLY_CLIENTS: &str = r#"SELECT "id", "calendlyAccessToken", "calendlyOrganizationUri" FROM "Client"
    WHERE coalesce(btrim("calendlyAccessToken"), '') <> '' AND coalesce(btrim("calendlyOrganizationUri"), '') <> ''
    ORDER BY "id""#;

/// What one client's subscriptions say about ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Ours exists and is active.
    Active,
    /// Ours exists but Calendly disabled it (the subscription's URI).
    Disabled(String),
    /// None of the subscriptions points at this deployment's URL for the client.
    Missing,
    /// The subscriptions could not be read.
    Unchecked(String),
}

/// This deployment's callback URL for a client.
pub fn callback_url(pattern: &str, client_id: &str) -> String {
    pattern.replace(CLIENT_PLACEHOLDER, client_id)
}

/// The same endpoint: scheme and host compared without case, a trailing slash ignored.
pub fn same_url(a: &str, b: &str) -> bool {
    match (url::Url::parse(a.trim()), url::Url::parse(b.trim())) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
                && a.query() == b.query()
        }
        _ => false,
    }
}

/// Ours among a client's subscriptions: an active one wins over a disabled one (an operator who
/// recreated it may have left the old one behind).
pub fn classify(subscriptions: &[WebhookSubscription], ours: &str) -> Health {
    let mine: Vec<&WebhookSubscription> = subscriptions.iter().filter(|s| same_url(&s.callback_url, ours)).collect();
    if mine.iter().any(|s| s.state.eq_ignore_ascii_case("active")) {
        Health::Active
    } else if let Some(s) = mine.first() {
        Health::Disabled(s.uri.clone())
    } else {
        Health::Missing
    }
}

/// One client's health: the organization's subscriptions, then (when ours is not there) the token
/// user's own (`scope=user`).
pub async fn check_client(calendly: &CalendlyClient, auth: &CalendlyAuth, ours: &str) -> Result<Health, ProviderError> {
    let organization = calendly.webhook_subscriptions(auth, None).await?;
    let health = classify(&organization, ours);
    if health != Health::Missing {
        return Ok(health);
    }
    let user = calendly.current_user_uri(auth).await?;
    Ok(classify(&calendly.webhook_subscriptions(auth, Some(&user)).await?, ours))
}

/// Checks every Calendly client, `parallel` at a time, until `stop`; logs what is wrong, emits the
/// counts as metrics and returns them.
pub async fn check_all(db: &DbSettings, http: &ProviderHttp, pattern: &str, parallel: usize, stop: Instant) -> SubscriptionHealth {
    let clients = match load_clients(db).await {
        Ok(clients) => clients,
        Err(e) => {
            // Not the run's business to fail for this: the next run checks again.
            tracing::warn!(error = %e, "calendly subscription check skipped: the clients could not be read");
            return SubscriptionHealth::default();
        }
    };
    let calendly = http.calendly();
    let calendly = &calendly;
    let results: Vec<(String, Health)> = stream::iter(clients)
        .map(|(client_id, auth)| async move {
            let ours = callback_url(pattern, &client_id);
            let health = match tokio::time::timeout_at(stop, check_client(calendly, &auth, &ours)).await {
                Ok(Ok(health)) => health,
                Ok(Err(e)) => Health::Unchecked(e.to_string()),
                Err(_) => Health::Unchecked("out of time".into()),
            };
            (client_id, health)
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;

    let mut counts = SubscriptionHealth::default();
    for (client_id, health) in &results {
        match health {
            Health::Active => counts.active += 1,
            Health::Disabled(subscription) => {
                counts.disabled += 1;
                tracing::warn!(
                    client_id = %client_id,
                    subscription = %subscription,
                    "calendly webhook subscription disabled: Calendly stopped delivering; recreate it"
                );
            }
            Health::Missing => {
                counts.missing += 1;
                tracing::warn!(client_id = %client_id, "no calendly webhook subscription points at this deployment for the client");
            }
            Health::Unchecked(reason) => {
                counts.unchecked += 1;
                tracing::warn!(client_id = %client_id, reason = %reason, "calendly webhook subscriptions could not be read");
            }
        }
    }
    tracing::info!(
        clients = results.len(),
        active = counts.active,
        disabled = counts.disabled,
        missing = counts.missing,
        unchecked = counts.unchecked,
        "calendly subscription check finished"
    );
    metrics::subscription_health(counts);
    counts
}

async fn load_clients(db: &DbSettings) -> Result<Vec<(String, CalendlyAuth)>, shared::Error> {
    // Its own short-lived connection: one query, closed before the provider calls start.
    let client = db.connect().await?;
    let rows = client.query(SELECT_CALENDLY_CLIENTS, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let token: String = r.get(1);
            let organization_uri: String = r.get(2);
            (r.get(0), CalendlyAuth { token: Secret::new(token.trim()), organization_uri: organization_uri.trim().to_string() })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(url: &str, state: &str) -> WebhookSubscription {
        WebhookSubscription {
            uri: format!("https://api.calendly.com/webhook_subscriptions/{state}"),
            callback_url: url.into(),
            state: state.into(),
            scope: None,
        }
    }

    #[test]
    fn urls_compare_as_endpoints() {
        let ours = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/calendly/client_1";
        let cases = [
            (ours, true),
            ("https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/calendly/client_1/", true),
            ("HTTPS://ABC123.execute-api.eu-west-1.amazonaws.com/webhooks/calendly/client_1", true),
            ("https://abc123.execute-api.eu-west-1.amazonaws.com:443/webhooks/calendly/client_1", true),
            ("https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/calendly/client_2", false),
            ("https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/calendly/CLIENT_1", false),
            ("http://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/calendly/client_1", false),
            ("https://other.example/webhooks/calendly/client_1", false),
            ("not a url", false),
        ];
        shared::testing::assert_table(cases, |url| same_url(url, ours));
        assert_eq!(callback_url("https://h.example/webhooks/calendly/{clientId}", "c9"), "https://h.example/webhooks/calendly/c9");
    }

    #[test]
    fn health_as_a_table() {
        let ours = "https://h.example/webhooks/calendly/c1";
        let other = "https://zapier.example/hooks/1";
        let cases: Vec<(Vec<WebhookSubscription>, Health)> = vec![
            (vec![], Health::Missing),
            (vec![sub(other, "active")], Health::Missing),
            (vec![sub(other, "active"), sub(ours, "active")], Health::Active),
            (vec![sub(ours, "disabled")], Health::Disabled("https://api.calendly.com/webhook_subscriptions/disabled".into())),
            (vec![sub(ours, "disabled"), sub(ours, "active")], Health::Active),
            (vec![sub(other, "disabled"), sub(ours, "ACTIVE")], Health::Active),
        ];
        shared::testing::assert_table(cases, |subs| classify(subs, ours));
    }
}
