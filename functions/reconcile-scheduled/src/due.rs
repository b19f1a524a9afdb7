//! When a lead is due for a check (the pure rule), and the same rule in SQL for selecting leads.

use chrono::{DateTime, TimeDelta, Utc};

/// How often leads are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuePolicy {
    /// A lead checked longer ago than this is due.
    pub interval: TimeDelta,
    /// A lead whose appointment starts within `upcoming_window` is due after this shorter interval.
    pub upcoming_interval: TimeDelta,
    pub upcoming_window: TimeDelta,
}

impl Default for DuePolicy {
    fn default() -> Self {
        DuePolicy { interval: TimeDelta::hours(6), upcoming_interval: TimeDelta::minutes(30), upcoming_window: TimeDelta::hours(48) }
    }
}

/// What the rule looks at: the lead's `appointmentLastCheckedAt` and its rollup (the primary
/// appointment is the earliest upcoming active one, so an active upcoming appointment within the
/// window exists exactly when the rollup shows one).
#[derive(Clone, Copy, Debug)]
pub struct LeadClock<'a> {
    pub last_checked_at: Option<DateTime<Utc>>,
    pub rollup_status: Option<&'a str>,
    pub rollup_start_at: Option<DateTime<Utc>>,
}

impl LeadClock<'_> {
    /// An active appointment starts within the policy's upcoming window.
    pub fn has_upcoming(&self, now: DateTime<Utc>, policy: &DuePolicy) -> bool {
        self.rollup_status == Some("confirmed") && self.rollup_start_at.is_some_and(|s| s >= now && s < now + policy.upcoming_window)
    }

    /// Never checked, checked longer ago than the interval, or (with an appointment coming up) longer
    /// ago than the short interval.
    pub fn is_due(&self, now: DateTime<Utc>, policy: &DuePolicy) -> bool {
        match self.last_checked_at {
            None => true,
            Some(t) => t < now - policy.interval || (self.has_upcoming(now, policy) && t < now - policy.upcoming_interval),
        }
    }
}

/// The parameters of [`DUE_SQL`] and [`URGENT_SQL`]: `$1` now, `$2` now − interval,
/// `$3` now − upcoming interval, `$4` now + upcoming window.
pub fn due_params(now: DateTime<Utc>, policy: &DuePolicy) -> [chrono::NaiveDateTime; 4] {
    [now, now - policy.interval, now - policy.upcoming_interval, now + policy.upcoming_window].map(|t| t.naive_utc())
}

/// [`LeadClock::is_due`] over `"Lead" l`.
#[macro_export]
macro_rules! due_sql {
    () => {
        r#"(l."appointmentLastCheckedAt" IS NULL
            OR l."appointmentLastCheckedAt" < $2
            OR (l."appointmentLastCheckedAt" < $3 AND l."appointmentStatus" = 'confirmed'
                AND l."appointmentStartAt" >= $1 AND l."appointmentStartAt" < $4))"#
    };
}

/// [`LeadClock::has_upcoming`] over `"Lead" l` (for ordering: urgent leads first).
#[macro_export]
macro_rules! urgent_sql {
    () => {
        r#"(l."appointmentStatus" = 'confirmed' AND l."appointmentStartAt" >= $1 AND l."appointmentStartAt" < $4)"#
    };
}

/// A lead the reconciler can check at all: its client has a provider configured and the lead has
/// that provider's identity (an email for Calendly, a contact id for GHL). Over `"Lead" l` and
/// `"Client" c`.
#[macro_export]
macro_rules! checkable_sql {
    () => {
        r#"((c."calendlyAccessToken" <> '' AND c."calendlyOrganizationUri" <> '' AND l."email" <> '')
            OR (c."ghlLocationId" <> '' AND c."ghlPrivateKey" <> '' AND l."ghlContactId" <> ''))"#
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_as_a_table() {
        let now: DateTime<Utc> = "2026-03-10T12:00:00Z".parse().unwrap();
        let p = DuePolicy::default();
        let h = TimeDelta::hours;
        let m = TimeDelta::minutes;
        // (last checked ago, rollup status, starts in, due?)
        type Case = (Option<TimeDelta>, Option<&'static str>, Option<TimeDelta>, bool);
        let table: [Case; 12] = [
            (None, None, None, true),
            (None, Some("confirmed"), Some(h(1)), true),
            (Some(m(5)), None, None, false),
            (Some(h(5)), None, None, false),
            (Some(h(6) + m(1)), None, None, true),
            (Some(m(31)), Some("confirmed"), Some(h(3)), true),
            (Some(m(29)), Some("confirmed"), Some(h(3)), false),
            (Some(m(31)), Some("confirmed"), Some(h(47)), true),
            (Some(m(31)), Some("confirmed"), Some(h(49)), false),
            (Some(m(31)), Some("canceled"), Some(h(3)), false),
            // Started already: no longer upcoming.
            (Some(m(31)), Some("confirmed"), Some(-m(1)), false),
            (Some(h(7)), Some("confirmed"), Some(-h(1)), true),
        ];
        for (ago, status, starts_in, due) in table {
            let clock =
                LeadClock { last_checked_at: ago.map(|a| now - a), rollup_status: status, rollup_start_at: starts_in.map(|s| now + s) };
            assert_eq!(clock.is_due(now, &p), due, "{ago:?} {status:?} {starts_in:?}");
        }
    }
}
