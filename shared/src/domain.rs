//! The vocabulary of the service: providers, statuses, sources, and the observation every writer
//! hands to the write path.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::text;

/// Longest provider key (GHL appointment id, Calendly invitee URI) the service stores, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// The times an appointment may carry: from [`EARLIEST_TIME`] (included) to [`LATEST_TIME`]
/// (excluded), as RFC 3339. Outside it a time is a mistake or a probe, never a booking: PostgreSQL
/// would store year 0000 as 1 BC, and a year-9999 time would sort above every real one for ever
/// (a rollup's "upcoming" primary, a provider time no later update could beat). Every entry point
/// refuses such a time before anything is written: [`Observation::normalized`] for every writer,
/// and the history API's POST by field.
pub const EARLIEST_TIME: &str = "2000-01-01T00:00:00Z";
pub const LATEST_TIME: &str = "2100-01-01T00:00:00Z";

/// Whether a time is within [`EARLIEST_TIME`]..[`LATEST_TIME`].
pub fn in_time_window(t: DateTime<Utc>) -> bool {
    // 2000-01-01 and 2100-01-01, 00:00 UTC, in seconds since the epoch (EARLIEST_TIME, LATEST_TIME).
    const EARLIEST: i64 = 946_684_800;
    const LATEST: i64 = 4_102_444_800;
    (EARLIEST..LATEST).contains(&t.timestamp())
}

/// The rule, as a refusal says it after a field's name: "must be from ... to before ...".
pub fn time_window_rule() -> String {
    format!("must be from {EARLIEST_TIME} to before {LATEST_TIME}")
}

/// The reason a time outside the window is refused, naming the field and the window.
pub fn outside_time_window(field: &str) -> String {
    format!("{field} {}", time_window_rule())
}

/// Which booking provider an appointment lives in (Prisma enum `MeetingBookingProvider`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Provider {
    Ghl,
    Calendly,
}

/// Prisma enum `AppointmentStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppointmentStatus {
    Confirmed,
    Canceled,
    Rescheduled,
    Showed,
    NoShow,
}

/// Prisma enum `AppointmentSource`: which writer made an observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppointmentSource {
    Webhook,
    ReconcileCron,
    Backfill,
    AutoBook,
    Manual,
    Migration,
}

/// Who canceled an appointment (stored as `host` / `invitee`; never the canceler's name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Canceler {
    Host,
    Invitee,
}

/// What one `AppointmentEvent` row, an entry of an appointment's change log, records (stored as
/// text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Created,
    /// A keyed observation took over a key-less row of its slot: the booking seen before its key was
    /// known (a migrated copy, or an entry made without the provider's id).
    Adopted,
    StatusChanged,
    TimeChanged,
    LinkedReschedule,
    /// The provider deleted the appointment (its status change, if any, is logged beside it).
    Deleted,
}

/// `FollowUpTask.type` of the tasks the write path creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskType {
    MeetingCanceled,
    MeetingRescheduled,
}

macro_rules! db_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The value as stored in PostgreSQL.
            pub fn as_db(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            pub fn from_db(text: &str) -> Result<Self, Error> {
                match text {
                    $($text => Ok($ty::$variant),)+
                    other => Err(Error::Corrupt(format!(concat!("unknown ", stringify!($ty), " {:?}"), other))),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_db())
            }
        }
    };
}

db_enum!(Provider { Ghl => "GHL", Calendly => "CALENDLY" });
db_enum!(AppointmentStatus {
    Confirmed => "CONFIRMED",
    Canceled => "CANCELED",
    Rescheduled => "RESCHEDULED",
    Showed => "SHOWED",
    NoShow => "NO_SHOW",
});
db_enum!(AppointmentSource {
    Webhook => "WEBHOOK",
    ReconcileCron => "RECONCILE_CRON",
    Backfill => "BACKFILL",
    AutoBook => "AUTO_BOOK",
    Manual => "MANUAL",
    Migration => "MIGRATION",
});
db_enum!(Canceler { Host => "host", Invitee => "invitee" });
db_enum!(EventKind {
    Created => "created",
    Adopted => "adopted",
    StatusChanged => "status_changed",
    TimeChanged => "time_changed",
    LinkedReschedule => "linked_reschedule",
    Deleted => "deleted",
});
db_enum!(TaskType { MeetingCanceled => "meeting-canceled", MeetingRescheduled => "meeting-rescheduled" });

impl AppointmentStatus {
    /// CONFIRMED, SHOWED and NO_SHOW are "active": the meeting was booked and not called off.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Confirmed | Self::Showed | Self::NoShow)
    }

    /// CANCELED and RESCHEDULED: the booking was called off (a reschedule calls off the old slot).
    pub fn is_terminal(self) -> bool {
        !self.is_active()
    }

    /// Phase 28's rollup vocabulary: attendance does not change it, a reschedule reads canceled.
    pub fn rollup_text(self) -> &'static str {
        if self.is_active() {
            "confirmed"
        } else {
            "canceled"
        }
    }

    /// Precedence when two observations carry the same provider time: the one further along the
    /// booking's life wins, so that the outcome does not depend on arrival order.
    pub fn precedence(self) -> u8 {
        match self {
            Self::Confirmed => 0,
            Self::Showed => 1,
            Self::NoShow => 2,
            Self::Canceled => 3,
            Self::Rescheduled => 4,
        }
    }
}

impl AppointmentSource {
    /// Webhooks, reconciliation and backfill write what the provider itself said (a signed delivery,
    /// or the provider's API called with the workspace's own credentials); POST and migration write
    /// what the CRM asserts. Only the former may take a provider key from another workspace.
    pub fn is_provider_verified(self) -> bool {
        matches!(self, Self::Webhook | Self::ReconcileCron | Self::Backfill)
    }

    /// The value written to the lead's `appointmentSource` rollup column (a plain string there).
    pub fn rollup_text(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::ReconcileCron => "reconcile_cron",
            Self::Backfill => "backfill",
            Self::AutoBook => "auto_book",
            Self::Manual => "manual",
            Self::Migration => "migration",
        }
    }
}

/// What an observation says about the appointment's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObservedStatus {
    /// The provider says the appointment is in this state.
    Is(AppointmentStatus),
    /// The provider withdrew an earlier no-show mark (`invitee_no_show.deleted`): back to what it was
    /// before the no-show, which for a booking that can carry a no-show is CONFIRMED.
    NoShowCleared,
    /// The provider deleted the appointment (GHL `AppointmentDelete`, or an appointment missing from
    /// a complete provider listing), at `provider_updated_at`. Recorded as CANCELED, and final: no
    /// observation of that key, older or newer, makes it active again.
    Deleted,
}

impl ObservedStatus {
    /// The status as a delivery's log line names it: the stored status, or what was observed when
    /// it is not one.
    pub fn label(self) -> &'static str {
        match self {
            ObservedStatus::Is(s) => s.as_db(),
            ObservedStatus::NoShowCleared => "NO_SHOW_CLEARED",
            ObservedStatus::Deleted => "DELETED",
        }
    }
}

/// Which follow-up tasks a write may create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskPolicy {
    /// Migration and backfill: no side effects.
    None,
    /// Webhooks: every cancellation and reschedule.
    All,
    /// Scheduled reconciliation: only for appointments that have not started yet.
    UpcomingOnly,
}

/// Which lead an observation belongs to. Resolved inside the write path's first round trip, under
/// the lead lock, so that matching a lead costs no extra round trip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeadRef {
    /// A known lead id. If the provider key already belongs to another lead of the same client,
    /// the write goes to that lead (a key never changes lead).
    Id(String),
    /// This lead and no other: a provider key held by another lead of the same client is refused
    /// ([`Error::KeyOwnedElsewhere`]) under the lead lock instead of followed. For writers that
    /// answer for the lead they were asked about (the history API's POST).
    Pinned(String),
    /// A lead of this client: the owner of the observation's provider key if a row has it already;
    /// else `lead_hint` when it names one of the client's leads (Calendly `utm_content`); else the
    /// lead with this email, case-insensitively (several: the most recently updated, then lowest id).
    Match { client_id: String, lead_hint: Option<String>, email: Option<String> },
    /// A lead of the client whose `ghlLocationId` is `location_id`: the owner of the observation's
    /// GHL appointment id if a row of that client has it already; else the lead whose `ghlContactId`
    /// is `contact_id` (several: the most recently updated, then the lowest id). GHL's deliveries
    /// name the workspace only by location, so resolving it here saves the webhook a round trip.
    GhlContact { location_id: String, contact_id: String },
    /// The lead whose appointment holds the observation's provider key (no-show events carry only
    /// the invitee URI).
    KeyOwner,
}

impl From<&str> for LeadRef {
    fn from(id: &str) -> Self {
        LeadRef::Id(id.to_string())
    }
}

impl From<String> for LeadRef {
    fn from(id: String) -> Self {
        LeadRef::Id(id)
    }
}

impl From<&String> for LeadRef {
    fn from(id: &String) -> Self {
        LeadRef::Id(id.clone())
    }
}

impl std::fmt::Display for LeadRef {
    /// Ids only: never the email of a `Match`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeadRef::Id(id) | LeadRef::Pinned(id) => write!(f, "lead {id}"),
            LeadRef::Match { client_id, .. } => write!(f, "a lead of client {client_id}"),
            LeadRef::GhlContact { location_id, contact_id } => write!(f, "contact {contact_id} of GHL location {location_id}"),
            LeadRef::KeyOwner => f.write_str("the provider key's lead"),
        }
    }
}

/// One writer's view of one appointment at one moment. Every writer builds these and hands them to
/// [`crate::write_path::record`]; nothing else writes appointments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The lead the writer matched, or how to match it. If the provider key already belongs to
    /// another lead's row of the same client, that row's lead wins (a key is never moved between
    /// a client's leads), except for [`LeadRef::Pinned`], which is refused instead.
    pub lead: LeadRef,
    pub provider: Provider,
    /// The provider's identity of the appointment: the GHL appointment id, or the Calendly
    /// **invitee** URI. `None` for manual entries and migrated rollups without one.
    pub key: Option<String>,
    pub calendly_event_uri: Option<String>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub timezone: Option<String>,
    pub status: ObservedStatus,
    pub canceled_at: Option<DateTime<Utc>>,
    pub canceled_by: Option<Canceler>,
    /// Free text from the provider; the write path masks and truncates it before storing.
    pub cancel_reason: Option<String>,
    /// When the provider created the booking (Calendly invitee `created_at`, GHL `dateAdded`).
    pub provider_created_at: Option<DateTime<Utc>>,
    /// The provider's last-modified time of what is observed. Older than what a row holds: stale.
    pub provider_updated_at: Option<DateTime<Utc>>,
    /// Calendly `old_invitee`: the invitee this booking replaces.
    pub rescheduled_from_key: Option<String>,
    /// Calendly `new_invitee`: the invitee that replaces this booking.
    pub rescheduled_to_key: Option<String>,
    pub source: AppointmentSource,
    pub tasks: TaskPolicy,
}

impl Observation {
    /// A minimal observation; writers fill in what they know.
    pub fn new(lead: impl Into<LeadRef>, provider: Provider, status: ObservedStatus, source: AppointmentSource) -> Self {
        Observation {
            lead: lead.into(),
            provider,
            key: None,
            calendly_event_uri: None,
            start_at: None,
            end_at: None,
            timezone: None,
            status,
            canceled_at: None,
            canceled_by: None,
            cancel_reason: None,
            provider_created_at: None,
            provider_updated_at: None,
            rescheduled_from_key: None,
            rescheduled_to_key: None,
            source,
            tasks: TaskPolicy::None,
        }
    }

    /// Checks what the write path relies on and brings times to the database's millisecond
    /// precision (`TIMESTAMP(3)`), so that a redelivery compares equal to what was stored.
    pub fn normalized(mut self) -> Result<Self, Error> {
        // Text bound for the database never carries NUL (`crate::text`): an identifier holding
        // one is refused, free text loses it.
        let lead_ids: [Option<(&str, &String)>; 2] = match &self.lead {
            LeadRef::Id(id) | LeadRef::Pinned(id) => [Some(("lead id", id)), None],
            LeadRef::Match { client_id, .. } => [Some(("client id", client_id)), None],
            LeadRef::GhlContact { location_id, contact_id } => [Some(("location id", location_id)), Some(("contact id", contact_id))],
            LeadRef::KeyOwner => [None, None],
        };
        let keys = [
            ("provider key", &self.key),
            ("scheduled event URI", &self.calendly_event_uri),
            ("rescheduled-from key", &self.rescheduled_from_key),
            ("rescheduled-to key", &self.rescheduled_to_key),
        ];
        let ids = lead_ids.into_iter().flatten().chain(keys.into_iter().filter_map(|(name, id)| id.as_ref().map(|id| (name, id))));
        for (name, id) in ids {
            if let Err(nul) = text::check_id(id) {
                return Err(Error::InvalidObservation(format!("{name} {nul}")));
            }
        }
        if let LeadRef::Match { lead_hint, email, .. } = &mut self.lead {
            *lead_hint = lead_hint.take().map(text::strip_nul);
            *email = email.take().map(text::strip_nul);
        }
        self.timezone = self.timezone.take().map(text::strip_nul).filter(|tz| !tz.is_empty());
        self.cancel_reason = self.cancel_reason.take().map(text::strip_nul);

        match &mut self.lead {
            LeadRef::Id(id) | LeadRef::Pinned(id) if id.trim().is_empty() => {
                return Err(Error::InvalidObservation("lead id is empty".into()))
            }
            LeadRef::Match { client_id, .. } if client_id.trim().is_empty() => {
                return Err(Error::InvalidObservation("client id is empty".into()))
            }
            LeadRef::GhlContact { location_id, contact_id } if location_id.trim().is_empty() || contact_id.trim().is_empty() => {
                return Err(Error::InvalidObservation("location id or contact id is empty".into()))
            }
            LeadRef::Match { lead_hint, email, .. } => {
                // Blank hints and emails match nothing; say so rather than match on "".
                *lead_hint = lead_hint.take().filter(|h| !h.trim().is_empty());
                *email = email.take().map(|e| e.trim().to_string()).filter(|e| !e.is_empty());
            }
            LeadRef::KeyOwner if self.key.is_none() => {
                return Err(Error::InvalidObservation("the key's lead was asked for, but there is no key".into()))
            }
            _ => {}
        }
        for key in [&self.key, &self.rescheduled_from_key, &self.rescheduled_to_key].into_iter().flatten() {
            if key.trim().is_empty() || key.len() > MAX_KEY_BYTES {
                return Err(Error::InvalidObservation(format!("provider key is empty or longer than {MAX_KEY_BYTES} bytes")));
            }
        }
        if self.key.is_none() && self.status == ObservedStatus::NoShowCleared {
            return Err(Error::InvalidObservation("a no-show can only be cleared on a keyed appointment".into()));
        }
        let times = [
            ("start time", &mut self.start_at),
            ("end time", &mut self.end_at),
            ("cancel time", &mut self.canceled_at),
            ("provider's created time", &mut self.provider_created_at),
            ("provider's updated time", &mut self.provider_updated_at),
        ];
        for (name, t) in times {
            if t.is_some_and(|t| !in_time_window(t)) {
                return Err(Error::InvalidObservation(outside_time_window(name)));
            }
            *t = t.map(to_millis);
        }
        if let (Some(s), Some(e)) = (self.start_at, self.end_at) {
            if e < s {
                return Err(Error::InvalidObservation("end is before start".into()));
            }
        }
        if let Some(tz) = &self.timezone {
            if tz.len() > 64 {
                return Err(Error::InvalidObservation("timezone is longer than 64 bytes".into()));
            }
        }
        Ok(self)
    }
}

/// Truncates to whole milliseconds, the precision of Prisma's `DateTime` (`TIMESTAMP(3)`).
pub fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observed_status_is_logged_by_its_stored_name_or_what_was_observed() {
        let cases = [
            (ObservedStatus::Is(AppointmentStatus::Canceled), "CANCELED"),
            (ObservedStatus::Is(AppointmentStatus::NoShow), "NO_SHOW"),
            (ObservedStatus::NoShowCleared, "NO_SHOW_CLEARED"),
            (ObservedStatus::Deleted, "DELETED"),
        ];
        crate::testing::assert_table(cases, |status| status.label());
    }

    #[test]
    fn db_names_round_trip() {
        for s in AppointmentStatus::ALL {
            assert_eq!(AppointmentStatus::from_db(s.as_db()).unwrap(), *s);
        }
        for s in AppointmentSource::ALL {
            assert_eq!(AppointmentSource::from_db(s.as_db()).unwrap(), *s);
        }
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_db(k.as_db()).unwrap(), *k);
        }
        for t in TaskType::ALL {
            assert_eq!(TaskType::from_db(t.as_db()).unwrap(), *t);
        }
        assert_eq!(Provider::from_db("CALENDLY").unwrap(), Provider::Calendly);
        assert!(Provider::from_db("calendly").is_err());
    }

    #[test]
    fn rollup_vocabulary_is_phase_28s() {
        use AppointmentStatus::*;
        let table =
            [(Confirmed, "confirmed"), (Showed, "confirmed"), (NoShow, "confirmed"), (Canceled, "canceled"), (Rescheduled, "canceled")];
        crate::testing::assert_table(table, |status| status.rollup_text());
    }

    #[test]
    fn the_time_window_is_its_two_constants() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(in_time_window(t(EARLIEST_TIME)));
        assert!(!in_time_window(t(LATEST_TIME)));
        let table = [
            ("0000-01-01T00:00:00Z", false),
            ("1999-12-31T23:59:59.999Z", false),
            ("2000-01-01T00:00:00Z", true),
            ("2026-03-10T17:00:00Z", true),
            ("2099-12-31T23:59:59.999Z", true),
            ("2100-01-01T00:00:00Z", false),
            ("9999-12-31T23:59:59Z", false),
        ];
        crate::testing::assert_table(table, |text| in_time_window(t(text)));
    }

    #[test]
    fn every_time_of_an_observation_is_within_the_window() {
        let base = || {
            let mut o =
                Observation::new("lead", Provider::Ghl, ObservedStatus::Is(AppointmentStatus::Canceled), AppointmentSource::Webhook);
            let t = "2026-03-10T17:00:00Z".parse::<DateTime<Utc>>().unwrap();
            (o.start_at, o.end_at, o.canceled_at, o.provider_created_at, o.provider_updated_at) =
                (Some(t), Some(t), Some(t), Some(t), Some(t));
            o
        };
        assert!(base().normalized().is_ok());
        for year in ["0000", "1970", "2100", "9999"] {
            let bad = Some(format!("{year}-06-01T00:00:00Z").parse::<DateTime<Utc>>().unwrap());
            type SetTime = fn(&mut Observation, Option<DateTime<Utc>>);
            let edits: [(&str, SetTime); 5] = [
                ("start time", |o, t| o.start_at = t),
                ("end time", |o, t| o.end_at = t),
                ("cancel time", |o, t| o.canceled_at = t),
                ("provider's created time", |o, t| o.provider_created_at = t),
                ("provider's updated time", |o, t| o.provider_updated_at = t),
            ];
            for (name, edit) in edits {
                let mut o = base();
                edit(&mut o, bad);
                match o.normalized() {
                    Err(Error::InvalidObservation(reason)) => assert_eq!(reason, outside_time_window(name), "{year}"),
                    other => panic!("{name} in {year}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn normalization_truncates_to_millis_and_validates() {
        let t = "2023-07-25T16:30:00.123456Z".parse::<DateTime<Utc>>().unwrap();
        let mut o =
            Observation::new("lead", Provider::Calendly, ObservedStatus::Is(AppointmentStatus::Confirmed), AppointmentSource::Webhook);
        o.start_at = Some(t);
        let n = o.clone().normalized().unwrap();
        assert_eq!(n.start_at.unwrap().to_rfc3339(), "2023-07-25T16:30:00.123+00:00");

        let mut bad = o.clone();
        bad.end_at = Some(t - TimeDelta::hours(1));
        assert!(matches!(bad.normalized(), Err(Error::InvalidObservation(_))));

        let mut empty = o.clone();
        empty.lead = " ".into();
        assert!(empty.normalized().is_err());

        let mut unkeyed_clear = o;
        unkeyed_clear.status = ObservedStatus::NoShowCleared;
        assert!(unkeyed_clear.normalized().is_err());
    }

    /// PostgreSQL refuses NUL in text: identifiers holding one are refused, free text loses it.
    #[test]
    fn normalization_refuses_nul_in_ids_and_strips_it_from_free_text() {
        type Edit = fn(&mut Observation);
        let base = || {
            let mut o = Observation::new(
                LeadRef::Match { client_id: "client_1".into(), lead_hint: Some("lead_1".into()), email: Some("a@example.com".into()) },
                Provider::Calendly,
                ObservedStatus::Is(AppointmentStatus::Canceled),
                AppointmentSource::Webhook,
            );
            o.key = Some("https://api.calendly.com/scheduled_events/e/invitees/i".into());
            o.calendly_event_uri = Some("https://api.calendly.com/scheduled_events/e".into());
            o.timezone = Some("Europe/Berlin".into());
            o.cancel_reason = Some("moving it".into());
            o
        };
        let refused: [(&str, Edit); 8] = [
            ("lead id", |o| o.lead = LeadRef::Id("lead_1\0".into())),
            ("lead id", |o| o.lead = LeadRef::Pinned("\0".into())),
            ("client id", |o| o.lead = LeadRef::Match { client_id: "client\0_1".into(), lead_hint: None, email: None }),
            ("provider key", |o| o.key = Some("https://api.calendly.com/scheduled_events/e/invitees/i\0".into())),
            ("provider key", |o| {
                o.lead = LeadRef::KeyOwner;
                o.key = Some("\0g1".into());
            }),
            ("scheduled event URI", |o| o.calendly_event_uri = Some("https://api.calendly.com/\0".into())),
            ("rescheduled-from key", |o| o.rescheduled_from_key = Some("a\0".into())),
            ("rescheduled-to key", |o| o.rescheduled_to_key = Some("\0".into())),
        ];
        for (name, edit) in refused {
            let mut o = base();
            edit(&mut o);
            match o.normalized() {
                Err(Error::InvalidObservation(reason)) => assert_eq!(reason, format!("{name} contains a NUL character")),
                other => panic!("NUL in the {name}: {other:?}"),
            }
        }

        let matching = |hint: Option<&str>, email: Option<&str>| LeadRef::Match {
            client_id: "client_1".into(),
            lead_hint: hint.map(Into::into),
            email: email.map(Into::into),
        };
        // (what holds the NUL, the observation, what normalization makes of it: `base()` unless said)
        let stripped: [(&str, Observation, Option<Observation>); 6] = [
            ("cancel reason", Observation { cancel_reason: Some("moving\0 it\0".into()), ..base() }, None),
            ("timezone", Observation { timezone: Some("Europe/\0Berlin".into()), ..base() }, None),
            (
                "timezone of NULs only",
                Observation { timezone: Some("\0\0".into()), ..base() },
                Some(Observation { timezone: None, ..base() }),
            ),
            ("lead hint", Observation { lead: matching(Some("lead\0_1"), Some("a@example.com")), ..base() }, None),
            ("email", Observation { lead: matching(Some("lead_1"), Some(" a@\0example.com\0")), ..base() }, None),
            (
                "hint and email of NULs only",
                Observation { lead: matching(Some("\0"), Some("\0 ")), ..base() },
                Some(Observation { lead: matching(None, None), ..base() }),
            ),
        ];
        for (name, observation, expected) in stripped {
            let normalized = observation.normalized().unwrap_or_else(|e| panic!("NUL in the {name}: {e}"));
            assert_eq!(normalized, expected.unwrap_or_else(base), "NUL in the {name}");
        }
        assert_eq!(base().normalized().unwrap(), base(), "nothing to strip");
    }
}
