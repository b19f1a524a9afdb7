//! Calendly API v2, for reconciliation: the scheduled events of an organization for one invitee
//! email, then that email's invitees of each event. An invitee is one booking (its URI is the
//! appointment's key; group events have several invitees per event).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{ProviderError, ProviderHttp, Secret, SlidingWindow};
use crate::domain::{AppointmentSource, AppointmentStatus, Canceler, Observation, ObservedStatus, Provider, TaskPolicy};

pub const PROVIDER: &str = "calendly";

/// Largest page Calendly serves.
const PAGE_SIZE: &str = "100";
/// A lead with more pages than this is not a lead but a shared inbox; stop rather than loop.
const MAX_PAGES: usize = 50;

/// A client's Calendly credentials.
#[derive(Clone, Debug)]
pub struct CalendlyAuth {
    pub token: Secret,
    /// `https://api.calendly.com/organizations/...`: whose scheduled events to search.
    pub organization_uri: String,
}

#[derive(Deserialize)]
struct Page<T> {
    collection: Vec<T>,
    #[serde(default)]
    pagination: Pagination,
}

#[derive(Deserialize, Default)]
struct Pagination {
    next_page_token: Option<String>,
}

/// A scheduled event (the meeting slot), as far as reconciliation needs it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ScheduledEvent {
    pub uri: String,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One invitee of a scheduled event: one booking. PII fields (name, answers, phone) are not read;
/// the email is read only to double-check the API's filter, and is left out of `Debug`.
#[derive(Clone, Deserialize, PartialEq)]
pub struct Invitee {
    pub uri: String,
    #[serde(default)]
    email: Option<String>,
    pub event: Option<String>,
    pub status: String,
    pub timezone: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub rescheduled: bool,
    pub old_invitee: Option<String>,
    pub new_invitee: Option<String>,
    pub cancellation: Option<Cancellation>,
    pub no_show: Option<NoShow>,
}

impl std::fmt::Debug for Invitee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitee")
            .field("uri", &self.uri)
            .field("status", &self.status)
            .field("updated_at", &self.updated_at)
            .field("rescheduled", &self.rescheduled)
            .field("cancellation", &self.cancellation)
            .field("no_show", &self.no_show)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Deserialize, PartialEq)]
pub struct Cancellation {
    pub canceler_type: Option<String>,
    /// Free text: handed to the write path, which masks it; never logged.
    pub reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancellation")
            .field("canceler_type", &self.canceler_type)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct NoShow {
    pub uri: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// A booking as the API shows it: the invitee and its event (which holds the times).
#[derive(Clone, Debug, PartialEq)]
pub struct Booking {
    pub event: ScheduledEvent,
    pub invitee: Invitee,
}

pub struct CalendlyClient {
    http: ProviderHttp,
}

impl CalendlyClient {
    pub fn new(http: ProviderHttp) -> Self {
        CalendlyClient { http }
    }

    fn limiter(&self, auth: &CalendlyAuth) -> std::sync::Arc<SlidingWindow> {
        self.http.limiter(
            format!("calendly:{:016x}", auth.token.fingerprint()),
            self.http.quotas.calendly_per_minute,
            Duration::from_secs(60),
        )
    }

    /// Every booking of `email` in the organization: its scheduled events (all pages, active and
    /// canceled), then each event's invitees with that email (all pages).
    pub async fn bookings_for_email(&self, auth: &CalendlyAuth, email: &str) -> Result<Vec<Booking>, ProviderError> {
        let limiter = self.limiter(auth);
        let mut events_url = self.http.endpoints.calendly.clone();
        events_url
            .path_segments_mut()
            .map_err(|_| ProviderError::Config("Calendly base URL".into()))?
            .pop_if_empty()
            .push("scheduled_events");
        let events: Vec<ScheduledEvent> = self
            .paginate(
                auth,
                &limiter,
                &events_url,
                &[
                    ("organization", auth.organization_uri.as_str()),
                    ("invitee_email", email),
                    ("sort", "start_time:asc"),
                    ("count", PAGE_SIZE),
                ],
            )
            .await?;

        let mut bookings = Vec::new();
        for event in events {
            let uuid = event_uuid(&event.uri)
                .ok_or_else(|| ProviderError::Malformed { provider: PROVIDER, reason: "scheduled event URI without an id".into() })?;
            let mut url = self.http.endpoints.calendly.clone();
            url.path_segments_mut().map_err(|_| ProviderError::Config("Calendly base URL".into()))?.pop_if_empty().extend([
                "scheduled_events",
                uuid,
                "invitees",
            ]);
            let invitees: Vec<Invitee> = self.paginate(auth, &limiter, &url, &[("email", email), ("count", PAGE_SIZE)]).await?;
            for invitee in invitees {
                // The API filters by email already; a group event's other invitees must never be
                // attributed to this lead even if a filter were ignored.
                if invitee.email.as_deref().is_some_and(|e| !e.trim().eq_ignore_ascii_case(email.trim())) {
                    continue;
                }
                bookings.push(Booking { event: event.clone(), invitee });
            }
        }
        Ok(bookings)
    }

    async fn paginate<T: serde::de::DeserializeOwned>(
        &self,
        auth: &CalendlyAuth,
        limiter: &SlidingWindow,
        url: &url::Url,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, ProviderError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page: Page<T> = self
                .http
                .get_json(PROVIDER, limiter, |client| {
                    let mut req = client.get(url.clone()).bearer_auth(auth.token.expose()).query(query);
                    if let Some(t) = &token {
                        req = req.query(&[("page_token", t.as_str())]);
                    }
                    req
                })
                .await?;
            items.extend(page.collection);
            match page.pagination.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                Some(_) => return Err(ProviderError::Malformed { provider: PROVIDER, reason: "pagination repeats its page token".into() }),
                None => return Ok(items),
            }
        }
        Err(ProviderError::Malformed { provider: PROVIDER, reason: format!("more than {MAX_PAGES} pages") })
    }

    /// The organization's webhook subscriptions of one scope (`organization`, or `user` with the
    /// user's URI), all pages. Needs the token's `webhooks:read` scope.
    pub async fn webhook_subscriptions(&self, auth: &CalendlyAuth, user: Option<&str>) -> Result<Vec<WebhookSubscription>, ProviderError> {
        let limiter = self.limiter(auth);
        let mut url = self.http.endpoints.calendly.clone();
        url.path_segments_mut()
            .map_err(|_| ProviderError::Config("Calendly base URL".into()))?
            .pop_if_empty()
            .push("webhook_subscriptions");
        let mut query = vec![("organization", auth.organization_uri.as_str()), ("count", PAGE_SIZE)];
        match user {
            Some(user) => query.extend([("scope", "user"), ("user", user)]),
            None => query.push(("scope", "organization")),
        }
        self.paginate(auth, &limiter, &url, &query).await
    }

    /// The URI of the user the token belongs to (`GET /users/me`; nothing else of the answer is read).
    pub async fn current_user_uri(&self, auth: &CalendlyAuth) -> Result<String, ProviderError> {
        #[derive(Deserialize)]
        struct Me {
            resource: UserRef,
        }
        #[derive(Deserialize)]
        struct UserRef {
            uri: String,
        }
        let limiter = self.limiter(auth);
        let mut url = self.http.endpoints.calendly.clone();
        url.path_segments_mut().map_err(|_| ProviderError::Config("Calendly base URL".into()))?.pop_if_empty().extend(["users", "me"]);
        let me: Me = self.http.get_json(PROVIDER, &limiter, |client| client.get(url.clone()).bearer_auth(auth.token.expose())).await?;
        Ok(me.resource.uri)
    }
}

/// A webhook subscription, as far as its health needs it (`GET /webhook_subscriptions`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct WebhookSubscription {
    pub uri: String,
    pub callback_url: String,
    /// `active`, or `disabled` (after 24 hours of failed deliveries Calendly stops and disables it).
    pub state: String,
    #[serde(default)]
    pub scope: Option<String>,
}

/// The last path segment of a scheduled-event URI.
pub fn event_uuid(uri: &str) -> Option<&str> {
    uri.trim_end_matches('/').rsplit('/').next().filter(|s| !s.is_empty() && !s.contains(':') && *s != "scheduled_events")
}

/// The status a Calendly invitee shows: canceled (rescheduled when Calendly says so), a no-show,
/// or confirmed.
pub fn invitee_status(invitee: &Invitee) -> AppointmentStatus {
    if invitee.status.eq_ignore_ascii_case("canceled") {
        if invitee.rescheduled || invitee.new_invitee.is_some() {
            AppointmentStatus::Rescheduled
        } else {
            AppointmentStatus::Canceled
        }
    } else if invitee.no_show.is_some() {
        AppointmentStatus::NoShow
    } else {
        AppointmentStatus::Confirmed
    }
}

/// The observation of one booking. `provider_updated_at` is the latest time the invitee shows
/// (its `updated_at`, its cancellation's or its no-show's `created_at`): what the stale guard compares.
pub fn observation(lead_id: &str, booking: &Booking, source: AppointmentSource, tasks: TaskPolicy) -> Observation {
    let Booking { event, invitee } = booking;
    let status = invitee_status(invitee);
    let mut obs = Observation::new(lead_id.to_string(), Provider::Calendly, ObservedStatus::Is(status), source);
    obs.key = Some(invitee.uri.clone());
    obs.calendly_event_uri = Some(invitee.event.clone().unwrap_or_else(|| event.uri.clone()));
    obs.start_at = event.start_time;
    obs.end_at = event.end_time;
    obs.timezone = invitee.timezone.clone();
    obs.provider_created_at = invitee.created_at;
    obs.provider_updated_at =
        [invitee.updated_at, invitee.cancellation.as_ref().and_then(|c| c.created_at), invitee.no_show.as_ref().and_then(|n| n.created_at)]
            .into_iter()
            .flatten()
            .max();
    if status.is_terminal() {
        if let Some(c) = &invitee.cancellation {
            obs.canceled_at = c.created_at;
            obs.canceled_by = match c.canceler_type.as_deref() {
                Some("host") => Some(Canceler::Host),
                Some("invitee") => Some(Canceler::Invitee),
                _ => None,
            };
            obs.cancel_reason = c.reason.clone();
        }
    }
    obs.rescheduled_from_key = invitee.old_invitee.clone();
    obs.rescheduled_to_key = invitee.new_invitee.clone();
    obs.tasks = tasks;
    obs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitee(json: serde_json::Value) -> Invitee {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn statuses_as_a_table() {
        let base = serde_json::json!({"uri": "u", "status": "active"});
        let with = |patch: serde_json::Value| {
            let mut v = base.clone();
            for (k, val) in patch.as_object().unwrap() {
                v[k] = val.clone();
            }
            invitee(v)
        };
        let cases = [
            (serde_json::json!({}), AppointmentStatus::Confirmed),
            (serde_json::json!({"no_show": {"uri": "n", "created_at": "2026-03-01T10:00:00Z"}}), AppointmentStatus::NoShow),
            (serde_json::json!({"status": "canceled"}), AppointmentStatus::Canceled),
            (serde_json::json!({"status": "canceled", "rescheduled": true}), AppointmentStatus::Rescheduled),
            (serde_json::json!({"status": "canceled", "new_invitee": "x"}), AppointmentStatus::Rescheduled),
        ];
        for (patch, expected) in cases {
            assert_eq!(invitee_status(&with(patch.clone())), expected, "{patch}");
        }
    }

    #[test]
    fn event_uuids() {
        assert_eq!(event_uuid("https://api.calendly.com/scheduled_events/9b7d1e45"), Some("9b7d1e45"));
        assert_eq!(event_uuid("https://api.calendly.com/scheduled_events/9b7d1e45/"), Some("9b7d1e45"));
        assert_eq!(event_uuid("https://api.calendly.com/scheduled_events/"), None);
        assert_eq!(event_uuid(""), None);
    }

    #[test]
    fn debug_leaves_out_email_and_reason() {
        let i = invitee(serde_json::json!({
            "uri": "u", "status": "canceled", "email": "dana@example.com",
            "cancellation": {"canceler_type": "invitee", "reason": "call me 415-555-0134", "created_at": "2026-03-01T10:00:00Z"}
        }));
        let text = format!("{i:?}");
        assert!(!text.contains("dana@example.com") && !text.contains("415"), "{text}");
    }
}
