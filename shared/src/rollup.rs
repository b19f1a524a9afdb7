//! The rollup rule (so named in docs/architecture.md): which of a lead's appointments is its primary
//! one. Pure; the only place the rule lives.
//!
//! Given `now`:
//! 1. the earliest upcoming active appointment (`startAt >= now`);
//! 2. else the latest active one by `startAt`;
//! 3. else the latest canceled or rescheduled one by `startAt`, then by `canceledAt`;
//! 4. else none: the caller leaves the lead's rollups as they are.
//!
//! Missing times rank last within their group (an active appointment without a start is only
//! chosen when no active one has a start). Every remaining tie is broken by the provider key, then
//! by the row id, so the order is total: the same rows always give the same primary.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use crate::model::{AppointmentRow, Rollup};

/// The lead's primary appointment, or `None` when it has none.
pub fn select_primary(rows: &[AppointmentRow], now: DateTime<Utc>) -> Option<&AppointmentRow> {
    let upcoming = rows
        .iter()
        .filter(|r| r.status.is_active() && r.start_at.is_some_and(|s| s >= now))
        .min_by(|a, b| a.start_at.cmp(&b.start_at).then_with(|| tie(a, b)));
    if upcoming.is_some() {
        return upcoming;
    }
    let latest_active =
        rows.iter().filter(|r| r.status.is_active()).min_by(|a, b| later_first(a.start_at, b.start_at).then_with(|| tie(a, b)));
    if latest_active.is_some() {
        return latest_active;
    }
    rows.iter()
        .filter(|r| r.status.is_terminal())
        .min_by(|a, b| later_first(a.start_at, b.start_at).then_with(|| later_first(a.canceled_at, b.canceled_at)).then_with(|| tie(a, b)))
}

/// The rollup the rule gives for these rows, or `None` when the lead's rollup must stay as it is.
pub fn compute_rollup(rows: &[AppointmentRow], now: DateTime<Utc>) -> Option<Rollup> {
    select_primary(rows, now).map(Rollup::of)
}

/// Orders later times first and missing times last.
fn later_first(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.cmp(&a),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The last resort: provider key (rows with one first), then id.
fn tie(a: &AppointmentRow, b: &AppointmentRow) -> Ordering {
    match (a.key(), b.key()) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| a.id.cmp(&b.id))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{AppointmentSource, AppointmentStatus::*, Provider};
    use chrono::TimeZone;

    pub(crate) fn t(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    pub(crate) fn row(id: &str, status: crate::domain::AppointmentStatus, start: Option<DateTime<Utc>>) -> AppointmentRow {
        let mut row = crate::testing::appointment_row(id, Provider::Calendly, status, start, t(1, 0));
        row.calendly_invitee_uri = Some(format!("inv-{id}"));
        row.end_at = start.map(|s| s + chrono::TimeDelta::minutes(30));
        row.canceled_at = status.is_terminal().then(|| t(1, 1));
        row.source = AppointmentSource::Webhook;
        row
    }

    fn primary(rows: &[AppointmentRow], now: DateTime<Utc>) -> Option<&str> {
        select_primary(rows, now).map(|r| r.id.as_str())
    }

    #[test]
    fn the_rule_as_a_table() {
        let now = t(10, 12);
        let mut keyless = row("k", Confirmed, Some(t(12, 9)));
        keyless.calendly_invitee_uri = None;
        let mut canceled_later = row("c2", Canceled, Some(t(5, 9)));
        canceled_later.canceled_at = Some(t(4, 0));
        let cases: Vec<(&str, Vec<AppointmentRow>, Option<&str>)> = vec![
            ("no rows: none, rollup left alone", vec![], None),
            ("all canceled: the latest by start", vec![row("a", Canceled, Some(t(3, 9))), row("b", Canceled, Some(t(5, 9)))], Some("b")),
            (
                "canceled with and without start: the one with a start",
                vec![row("a", Canceled, None), row("b", Canceled, Some(t(2, 9)))],
                Some("b"),
            ),
            ("canceled, same start: the later cancellation", vec![row("c1", Canceled, Some(t(5, 9))), canceled_later.clone()], Some("c2")),
            ("upcoming beats past", vec![row("past", Confirmed, Some(t(9, 9))), row("next", Confirmed, Some(t(20, 9)))], Some("next")),
            ("earliest upcoming", vec![row("late", Confirmed, Some(t(25, 9))), row("soon", Confirmed, Some(t(11, 9)))], Some("soon")),
            (
                "starting exactly now is upcoming",
                vec![row("now", Confirmed, Some(now)), row("later", Confirmed, Some(t(11, 9)))],
                Some("now"),
            ),
            (
                "no upcoming: the latest past active",
                vec![row("old", Confirmed, Some(t(2, 9))), row("recent", Showed, Some(t(9, 9)))],
                Some("recent"),
            ),
            ("attendance states are active", vec![row("ns", NoShow, Some(t(9, 9))), row("x", Canceled, Some(t(9, 10)))], Some("ns")),
            ("active beats a later canceled", vec![row("a", Confirmed, Some(t(2, 9))), row("c", Canceled, Some(t(20, 9)))], Some("a")),
            (
                "upcoming canceled never wins over active",
                vec![row("c", Canceled, Some(t(20, 9))), row("s", Showed, Some(t(1, 9)))],
                Some("s"),
            ),
            ("rescheduled counts as canceled", vec![row("r", Rescheduled, Some(t(9, 9))), row("c", Canceled, Some(t(8, 9)))], Some("r")),
            (
                "missing start: active without start loses to one with",
                vec![row("nostart", Confirmed, None), row("dated", Confirmed, Some(t(1, 9)))],
                Some("dated"),
            ),
            (
                "missing start: only active without start still wins over canceled",
                vec![row("nostart", Confirmed, None), row("c", Canceled, Some(t(20, 9)))],
                Some("nostart"),
            ),
            (
                "tie on start: provider key decides",
                vec![row("b", Confirmed, Some(t(12, 9))), row("a", Confirmed, Some(t(12, 9)))],
                Some("a"),
            ),
            ("tie on start: keyed before keyless", vec![keyless, row("z", Confirmed, Some(t(12, 9)))], Some("z")),
        ];
        for (name, rows, expected) in cases {
            assert_eq!(primary(&rows, now), expected, "{name}");
            let mut reversed = rows.clone();
            reversed.reverse();
            assert_eq!(primary(&reversed, now), expected, "{name} (rows reversed)");
        }
    }

    #[test]
    fn rescheduled_primary_reads_canceled_and_copies_times() {
        let now = t(10, 12);
        let mut r = row("r", Rescheduled, Some(t(9, 9)));
        r.provider = Provider::Ghl;
        r.ghl_appointment_id = Some("g".into());
        r.calendly_invitee_uri = None;
        let rollup = compute_rollup(std::slice::from_ref(&r), now).unwrap();
        assert_eq!(rollup.status.as_deref(), Some("canceled"));
        assert_eq!(rollup.start_at, r.start_at);
        assert_eq!(rollup.end_at, r.end_at);
        assert_eq!(rollup.canceled_at, r.canceled_at);
        assert_eq!(rollup.provider, Some(Provider::Ghl));
        assert_eq!(rollup.source.as_deref(), Some("webhook"));
        assert_eq!(compute_rollup(&[], now), None);
    }

    #[test]
    fn showed_and_no_show_read_confirmed() {
        let now = t(10, 12);
        for s in [Showed, NoShow, Confirmed] {
            let rollup = compute_rollup(&[row("a", s, Some(t(9, 9)))], now).unwrap();
            assert_eq!(rollup.status.as_deref(), Some("confirmed"), "{s:?}");
            assert_eq!(rollup.canceled_at, None);
        }
    }
}
