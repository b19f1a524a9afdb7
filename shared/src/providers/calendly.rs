//! Calendly API v2: for reconciliation, the scheduled events of an organization for one invitee
//! email, then that email's invitees of each event; for the webhook, one invitee by its URI (a
//! no-show delivered before its booking). An invitee is one booking (its URI is the appointment's
//! key; group events have several invitees per event).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{ProviderError, ProviderHttp, Secret, SlidingWindow};
use crate::domain::{
    AppointmentSource, AppointmentStatus, Canceler, LeadRef, Observation, ObservedStatus, Provider, TaskPolicy, MAX_KEY_BYTES,
};

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

impl CalendlyAuth {
    /// The credentials of a client row (`"calendlyAccessToken"`, `"calendlyOrganizationUri"`):
    /// Calendly is configured for the client when both are set (blank is unset).
    pub fn configured(token: Option<String>, organization_uri: Option<String>) -> Option<Self> {
        let set = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Some(CalendlyAuth { token: Secret::new(set(token)?), organization_uri: set(organization_uri)? })
    }
}

/// `GET /.../{uuid}` answers `{resource: ...}`.
#[derive(Deserialize)]
struct Resource<T> {
    resource: T,
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

/// A scheduled event (the meeting slot), as far as the service reads it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ScheduledEvent {
    pub uri: String,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// The whole event's cancellation (a host canceling the slot).
    pub cancellation: Option<Cancellation>,
}

/// One invitee of a scheduled event: one booking. PII fields (name, answers, phone) are not read;
/// the email is read only to double-check the API's filter and to match the invitee's lead, and is
/// left out of `Debug`.
#[derive(Clone, Deserialize, PartialEq)]
pub struct Invitee {
    pub uri: String,
    #[serde(default)]
    email: Option<String>,
    /// The booking link's UTM fields: the CRM puts the lead id in `utm_content`.
    #[serde(default)]
    pub tracking: Option<Tracking>,
    pub event: Option<String>,
    pub status: String,
    pub timezone: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub rescheduled: Option<bool>,
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

impl Invitee {
    /// The email the invitee booked with (PII: for lead matching only, never logged).
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// The lead id the booking link carried, if any.
    pub fn lead_hint(&self) -> Option<&str> {
        self.tracking.as_ref().and_then(|t| t.utm_content.as_deref())
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Tracking {
    #[serde(default)]
    pub utm_content: Option<String>,
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

/// An invitee's no-show mark: only when it was made matters (its own URI names nothing we keep).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct NoShow {
    pub created_at: Option<DateTime<Utc>>,
}

/// One booking: an invitee and its scheduled event (which holds the times). The API shows them
/// apart (an invitee, and the event it is listed under); a webhook delivers them together (the
/// invitee with its event embedded as `scheduled_event`). Both read into this.
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

    /// `{base}/{segments...}`: only the segments come from the caller, the base is configured.
    fn url(&self, segments: &[&str]) -> Result<url::Url, ProviderError> {
        let mut url = self.http.endpoints.calendly.clone();
        url.path_segments_mut().map_err(|_| ProviderError::Config("Calendly base URL".into()))?.pop_if_empty().extend(segments);
        Ok(url)
    }

    /// `GET {base}/{segments...}`, which answers `{resource: T}`.
    async fn resource<T: serde::de::DeserializeOwned>(
        &self,
        auth: &CalendlyAuth,
        limiter: &SlidingWindow,
        segments: &[&str],
    ) -> Result<T, ProviderError> {
        let url = self.url(segments)?;
        let answer: Resource<T> =
            self.http.get_json(PROVIDER, limiter, |client| client.get(url.clone()).bearer_auth(auth.token.expose())).await?;
        Ok(answer.resource)
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
        let events_url = self.url(&["scheduled_events"])?;
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
            let url = self.url(&["scheduled_events", uuid, "invitees"])?;
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

    /// One booking by its invitee URI (`.../scheduled_events/{event}/invitees/{invitee}`), as the
    /// API shows it now: `GET /scheduled_events/{event}/invitees/{invitee}`, then
    /// `GET /scheduled_events/{event}` for its times. Only the two ids are taken from the URI: the
    /// requests go to the configured base, wherever the URI points.
    pub async fn booking(&self, auth: &CalendlyAuth, invitee_uri: &str) -> Result<Booking, ProviderError> {
        let (event_id, invitee_id) = invitee_ids(invitee_uri)
            .ok_or_else(|| ProviderError::Malformed { provider: PROVIDER, reason: "invitee URI without its two ids".into() })?;
        let limiter = self.limiter(auth);
        let invitee = self.resource(auth, &limiter, &["scheduled_events", event_id, "invitees", invitee_id]).await?;
        let event = self.resource(auth, &limiter, &["scheduled_events", event_id]).await?;
        Ok(Booking { event, invitee })
    }

    /// The organization's webhook subscriptions of one scope (`organization`, or `user` with the
    /// user's URI), all pages. Needs the token's `webhooks:read` scope.
    pub async fn webhook_subscriptions(&self, auth: &CalendlyAuth, user: Option<&str>) -> Result<Vec<WebhookSubscription>, ProviderError> {
        let limiter = self.limiter(auth);
        let url = self.url(&["webhook_subscriptions"])?;
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
        struct UserRef {
            uri: String,
        }
        let me: UserRef = self.resource(auth, &self.limiter(auth), &["users", "me"]).await?;
        Ok(me.uri)
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

/// The scheduled event's and the invitee's ids in an invitee URI
/// (`.../scheduled_events/{event}/invitees/{invitee}`).
pub fn invitee_ids(uri: &str) -> Option<(&str, &str)> {
    let mut tail = uri.trim_end_matches('/').rsplit('/');
    let (invitee, invitees, event, events) = (tail.next()?, tail.next()?, tail.next()?, tail.next()?);
    let id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (invitees == "invitees" && events == "scheduled_events" && id(event) && id(invitee)).then_some((event, invitee))
}

/// Longer time zone names are dropped (the write path refuses them).
const MAX_TIMEZONE_LEN: usize = 64;

/// What one invitee shows, from either source: a webhook delivery (the invitee with its embedded
/// scheduled event) or the API (an invitee and the scheduled event it was listed under). Each
/// source fills this in; [`invitee_observation`] holds every rule, once.
#[derive(Clone, Copy, Debug, Default)]
pub struct InviteeFacts<'a> {
    /// The invitee URI: the appointment's key.
    pub uri: &'a str,
    pub event_uri: &'a str,
    /// `invitee.canceled`, or an invitee whose `status` is `canceled`.
    pub canceled: bool,
    pub rescheduled: Option<bool>,
    pub old_invitee: Option<&'a str>,
    pub new_invitee: Option<&'a str>,
    /// The no-show mark's time, when the invitee carries one (`Some(None)`: marked, time unknown).
    pub no_show: Option<Option<DateTime<Utc>>>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub timezone: Option<&'a str>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The invitee's cancellation, else the scheduled event's.
    pub cancellation: Option<CancellationFacts<'a>>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CancellationFacts<'a> {
    pub canceler_type: Option<&'a str>,
    /// Free text: handed to the write path, which masks and truncates it; never logged.
    pub reason: Option<&'a str>,
    pub created_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a Cancellation> for CancellationFacts<'a> {
    fn from(c: &'a Cancellation) -> Self {
        CancellationFacts { canceler_type: c.canceler_type.as_deref(), reason: c.reason.as_deref(), created_at: c.created_at }
    }
}

/// An invitee whose identifying fields are unusable. The text is ours, never the payload's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInvitee(pub &'static str);

/// The status an invitee shows: canceled (rescheduled when Calendly says so: `rescheduled`, or a
/// named new invitee), a no-show, or confirmed.
pub fn invitee_status(facts: &InviteeFacts<'_>) -> AppointmentStatus {
    if facts.canceled {
        if facts.rescheduled == Some(true) || facts.new_invitee.is_some_and(|n| !n.trim().is_empty()) {
            AppointmentStatus::Rescheduled
        } else {
            AppointmentStatus::Canceled
        }
    } else if facts.no_show.is_some() {
        AppointmentStatus::NoShow
    } else {
        AppointmentStatus::Confirmed
    }
}

/// The one mapping of a Calendly invitee (webhook or API) to an observation. Strict on what
/// identifies and times the appointment (unusable: an error), lenient on the rest (an odd optional
/// field is dropped). `provider_updated_at` is the latest time the invitee shows (its `updated_at`,
/// its cancellation's or its no-show's time): what the stale guard compares.
pub fn invitee_observation(
    lead: impl Into<LeadRef>,
    facts: &InviteeFacts<'_>,
    source: AppointmentSource,
    tasks: TaskPolicy,
) -> Result<Observation, InvalidInvitee> {
    let status = invitee_status(facts);
    let mut obs = Observation::new(lead, Provider::Calendly, ObservedStatus::Is(status), source);
    obs.key = Some(checked_uri(facts.uri, "the invitee uri is not a Calendly URI")?);
    obs.calendly_event_uri = Some(checked_uri(facts.event_uri, "the scheduled event uri is not a Calendly URI")?);
    if let (Some(start), Some(end)) = (facts.start_time, facts.end_time) {
        if end < start {
            return Err(InvalidInvitee("the scheduled event ends before it starts"));
        }
    }
    obs.start_at = facts.start_time;
    obs.end_at = facts.end_time;
    obs.timezone = facts.timezone.map(str::trim).filter(|z| !z.is_empty() && z.len() <= MAX_TIMEZONE_LEN).map(str::to_string);
    obs.provider_created_at = facts.created_at;
    obs.rescheduled_from_key = link(facts.old_invitee, "old_invitee is not a Calendly URI")?;
    obs.rescheduled_to_key = link(facts.new_invitee, "new_invitee is not a Calendly URI")?;
    let cancellation = facts.cancellation.filter(|_| status.is_terminal());
    obs.provider_updated_at =
        [facts.updated_at, cancellation.and_then(|c| c.created_at), facts.no_show.flatten()].into_iter().flatten().max();
    if let Some(c) = cancellation {
        obs.canceled_at = c.created_at;
        obs.canceled_by = match c.canceler_type.map(str::trim) {
            Some(t) if t.eq_ignore_ascii_case("host") => Some(Canceler::Host),
            Some(t) if t.eq_ignore_ascii_case("invitee") => Some(Canceler::Invitee),
            _ => None,
        };
        obs.cancel_reason = c.reason.map(str::to_string);
    }
    obs.tasks = tasks;
    Ok(obs)
}

/// A provider URI used as a key or link: absolute https, no spaces or control characters, within
/// the write path's key limit. `problem` names the field when it is not.
pub fn checked_uri(value: &str, problem: &'static str) -> Result<String, InvalidInvitee> {
    let ok = value.len() <= MAX_KEY_BYTES
        && value.starts_with("https://")
        && value.len() > "https://".len()
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(value.to_string())
    } else {
        Err(InvalidInvitee(problem))
    }
}

/// An optional link to another invitee: blank is none, anything else must be a URI.
fn link(value: Option<&str>, problem: &'static str) -> Result<Option<String>, InvalidInvitee> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => checked_uri(v, problem).map(Some),
    }
}

impl Booking {
    /// The booking as [`invitee_observation`] reads it.
    pub fn facts(&self) -> InviteeFacts<'_> {
        let Booking { event, invitee } = self;
        InviteeFacts {
            uri: &invitee.uri,
            event_uri: invitee.event.as_deref().unwrap_or(&event.uri),
            canceled: invitee.status.trim().eq_ignore_ascii_case("canceled"),
            rescheduled: invitee.rescheduled,
            old_invitee: invitee.old_invitee.as_deref(),
            new_invitee: invitee.new_invitee.as_deref(),
            no_show: invitee.no_show.as_ref().map(|n| n.created_at),
            start_time: event.start_time,
            end_time: event.end_time,
            timezone: invitee.timezone.as_deref(),
            created_at: invitee.created_at,
            updated_at: invitee.updated_at,
            cancellation: invitee.cancellation.as_ref().or(event.cancellation.as_ref()).map(CancellationFacts::from),
        }
    }
}

/// The observation of one booking read from the API (see [`invitee_observation`]), for `lead`: a
/// lead id (reconciliation asks per lead) or a match (the webhook, as for its deliveries).
pub fn observation(
    lead: impl Into<LeadRef>,
    booking: &Booking,
    source: AppointmentSource,
    tasks: TaskPolicy,
) -> Result<Observation, InvalidInvitee> {
    invitee_observation(lead, &booking.facts(), source, tasks)
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
            let b = Booking { event: ScheduledEvent { uri: "e".into(), ..Default::default() }, invitee: with(patch.clone()) };
            assert_eq!(invitee_status(&b.facts()), expected, "{patch}");
        }
    }

    #[test]
    fn invitee_ids_from_uris() {
        let table = [
            ("https://api.calendly.com/scheduled_events/3c9e/invitees/6a1f", Some(("3c9e", "6a1f"))),
            ("https://api.calendly.com/scheduled_events/3c9e/invitees/6a1f/", Some(("3c9e", "6a1f"))),
            ("https://api.calendly.com/scheduled_events/3c9e/invitees/", None),
            ("https://api.calendly.com/scheduled_events/3c9e", None),
            ("https://api.calendly.com/scheduled_events/../invitees/6a1f", None),
            ("https://api.calendly.com/scheduled_events/3c9e/invitees/6a%2F1", None),
            ("https://api.calendly.com/invitee_no_shows/3c9e/invitees/6a1f", None),
            ("", None),
        ];
        crate::testing::assert_table(table, |uri| invitee_ids(uri));
    }

    #[test]
    fn credentials_are_configured_when_both_are_set() {
        let some = |s: &str| Some(s.to_string());
        assert!(CalendlyAuth::configured(some(" pat "), some("https://api.calendly.com/organizations/o")).is_some());
        assert_eq!(CalendlyAuth::configured(some("pat"), some("o")).unwrap().token.expose(), "pat");
        for (token, org) in [(None, some("o")), (some("pat"), None), (some(" "), some("o")), (some("pat"), some(""))] {
            assert!(CalendlyAuth::configured(token.clone(), org.clone()).is_none(), "{token:?} {org:?}");
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

    fn api_fixture(name: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(format!("{}/tests/fixtures/calendly/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()).unwrap()
    }

    /// Every API fixture's invitee with its event, through the one mapping.
    #[test]
    fn maps_the_api_fixtures() {
        let events: Vec<ScheduledEvent> =
            serde_json::from_value(api_fixture("api-list-scheduled-events.json")["collection"].clone()).unwrap();
        let invitees: Vec<Invitee> = serde_json::from_value(api_fixture("api-list-event-invitees.json")["collection"].clone()).unwrap();
        assert_eq!(invitees.len(), 1);
        let event = events.iter().find(|e| Some(&e.uri) == invitees[0].event.as_ref()).unwrap().clone();
        let o = observation(
            "lead_1",
            &Booking { event, invitee: invitees[0].clone() },
            AppointmentSource::ReconcileCron,
            TaskPolicy::UpcomingOnly,
        )
        .unwrap();
        assert_eq!(o.status, ObservedStatus::Is(AppointmentStatus::Confirmed));
        assert_eq!(o.key.as_deref(), Some("https://api.calendly.com/scheduled_events/9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268/invitees/e4c2a9b7-1f3d-4e6a-8c5b-0d9f7a3e1b26"));
        assert_eq!(o.start_at.unwrap().to_rfc3339(), "2026-03-12T16:00:00+00:00");
        assert_eq!(o.rescheduled_from_key.as_deref(), Some("https://api.calendly.com/scheduled_events/3c9e7b21-8a4f-4d6e-b0c2-5f1a9d7e2c40/invitees/6a1f0c2e-5b7d-4e38-9c0a-71d2e4f8b3a9"));
        assert_eq!(o.timezone.as_deref(), Some("America/Los_Angeles"));
        assert_eq!(o.tasks, TaskPolicy::UpcomingOnly);
        o.normalized().unwrap();
    }

    /// The rules both sources share, as a table over edits of a canceled invitee.
    #[test]
    #[allow(clippy::type_complexity)] // a table reads best inline
    fn invitee_rules_as_a_table() {
        let base = serde_json::json!({
            "uri": "https://api.calendly.com/scheduled_events/e1/invitees/i1", "status": "canceled",
            "event": "https://api.calendly.com/scheduled_events/e1", "timezone": "Europe/Paris",
            "updated_at": "2026-03-04T09:00:00Z", "created_at": "2026-03-01T09:00:00Z",
            "cancellation": {"canceler_type": "host", "reason": "call 415-555-0134", "created_at": "2026-03-04T09:00:05Z"}
        });
        let event = ScheduledEvent {
            uri: "https://api.calendly.com/scheduled_events/e1".into(),
            start_time: Some("2026-03-10T17:00:00Z".parse().unwrap()),
            end_time: Some("2026-03-10T17:30:00Z".parse().unwrap()),
            ..Default::default()
        };
        type Edit = fn(&mut serde_json::Value);
        let cases: Vec<(&str, Edit, Result<(AppointmentStatus, Option<Canceler>), &str>)> = vec![
            ("as is", |_| {}, Ok((AppointmentStatus::Canceled, Some(Canceler::Host)))),
            // Trimmed and case-folded on every source (the API side once compared exactly).
            (
                "canceler type with spaces and capitals",
                |v| v["cancellation"]["canceler_type"] = " HOST ".into(),
                Ok((AppointmentStatus::Canceled, Some(Canceler::Host))),
            ),
            (
                "Invitee",
                |v| v["cancellation"]["canceler_type"] = "Invitee".into(),
                Ok((AppointmentStatus::Canceled, Some(Canceler::Invitee))),
            ),
            ("unknown canceler", |v| v["cancellation"]["canceler_type"] = "robot".into(), Ok((AppointmentStatus::Canceled, None))),
            ("rescheduled", |v| v["rescheduled"] = true.into(), Ok((AppointmentStatus::Rescheduled, Some(Canceler::Host)))),
            (
                "new invitee named",
                |v| v["new_invitee"] = "https://api.calendly.com/scheduled_events/e2/invitees/i2".into(),
                Ok((AppointmentStatus::Rescheduled, Some(Canceler::Host))),
            ),
            ("blank new invitee", |v| v["new_invitee"] = " ".into(), Ok((AppointmentStatus::Canceled, Some(Canceler::Host)))),
            ("status with capitals", |v| v["status"] = "Canceled".into(), Ok((AppointmentStatus::Canceled, Some(Canceler::Host)))),
            ("active", |v| v["status"] = "active".into(), Ok((AppointmentStatus::Confirmed, None))),
            ("new invitee not a URI", |v| v["new_invitee"] = "javascript:alert(1)".into(), Err("new_invitee is not a Calendly URI")),
            ("uri not https", |v| v["uri"] = "http://api.calendly.com/x".into(), Err("the invitee uri is not a Calendly URI")),
            (
                "uri too long",
                |v| v["uri"] = format!("https://api.calendly.com/{}", "x".repeat(600)).into(),
                Err("the invitee uri is not a Calendly URI"),
            ),
        ];
        for (name, edit, expected) in cases {
            let mut v = base.clone();
            edit(&mut v);
            let booking = Booking { event: event.clone(), invitee: invitee(v) };
            match (observation("l", &booking, AppointmentSource::Webhook, TaskPolicy::All), expected) {
                (Ok(o), Ok((status, by))) => {
                    assert_eq!((o.status, o.canceled_by), (ObservedStatus::Is(status), by), "{name}");
                    if status.is_terminal() {
                        // The cancellation is later than updated_at: it orders the observation.
                        assert_eq!(o.provider_updated_at.unwrap().to_rfc3339(), "2026-03-04T09:00:05+00:00", "{name}");
                    }
                }
                (Err(e), Err(problem)) => assert_eq!(e, InvalidInvitee(problem), "{name}"),
                (got, expected) => panic!("{name}: {got:?} but expected {expected:?}"),
            }
        }
    }
}
