//! The write path's decisions, as a pure function: given the locked lead's rows and rollup and one
//! observation, what to insert, update, log, roll up and ask a human to follow up. The store code
//! in `mod.rs` only reads the state and executes the plan.

use std::cmp::Ordering;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::domain::{AppointmentSource, AppointmentStatus, EventKind, Observation, ObservedStatus, Provider, TaskPolicy, TaskType};
use crate::model::{AppointmentRow, Rollup};
use crate::redact::mask_reason;
use crate::rollup::compute_rollup;

/// How close a GHL cancellation and a new booking of the same lead must be to count as a reschedule.
/// GHL gives no link; in its own UI a reschedule is a cancel and a new booking seconds apart.
pub const GHL_RESCHEDULE_WINDOW: TimeDelta = TimeDelta::minutes(30);

/// The locked lead as the write path sees it.
#[derive(Clone, Debug)]
pub struct LeadState {
    pub lead_id: String,
    pub rollup: Rollup,
    pub rows: Vec<AppointmentRow>,
}

/// What one `record` did to the appointment it was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Created,
    Updated,
    /// Nothing at all was written: a duplicate, or an observation with nothing new.
    Unchanged,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    pub id: String,
    pub appointment_id: String,
    pub kind: EventKind,
    pub source: AppointmentSource,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub provider_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TaskRow {
    pub id: String,
    pub appointment_id: String,
    pub task_type: TaskType,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub appointment_id: String,
    /// A new row, inserted before the updates (they may link to it).
    pub insert: Option<AppointmentRow>,
    /// Whole rows to write back: the observed one and any whose reschedule link changed.
    pub updates: Vec<AppointmentRow>,
    pub events: Vec<EventRow>,
    /// New rollup values, only when they differ from the lead's.
    pub rollup: Option<Rollup>,
    pub tasks: Vec<TaskRow>,
}

impl Plan {
    pub fn writes_nothing(&self) -> bool {
        self.insert.is_none() && self.updates.is_empty() && self.rollup.is_none() && self.tasks.is_empty()
    }

    /// What the plan does to its appointment, read off what it writes: the only row a plan ever
    /// inserts is the observed one, and "unchanged" means nothing at all is written.
    pub fn change(&self) -> Change {
        if self.insert.is_some() {
            Change::Created
        } else if self.writes_nothing() {
            Change::Unchanged
        } else {
            Change::Updated
        }
    }
}

/// Decides everything `record` writes. `new_id` makes ids for new rows (uuid v7 in production).
pub fn plan(state: &LeadState, obs: &Observation, now: DateTime<Utc>, new_id: &mut dyn FnMut() -> String) -> Plan {
    let mut rows = state.rows.clone();
    let mut events = Vec::new();
    let event = |appointment_id: &str, kind: EventKind, old: Option<String>, new: Option<String>, id: String| EventRow {
        id,
        appointment_id: appointment_id.to_string(),
        kind,
        source: obs.source,
        old_value: old,
        new_value: new,
        provider_at: obs.provider_updated_at,
    };

    // 1. Find the row this observation is about, or make one.
    let (target_index, before) = match find_target(&rows, obs) {
        Some(i) => {
            let before = rows[i].clone();
            let mut merged = merge(&before, obs, now);
            if before.key().is_none() && obs.key.is_some() {
                merged.set_key(obs.key.clone());
                events.push(event(&before.id, EventKind::Adopted, None, obs.key.clone(), new_id()));
            }
            rows[i] = merged;
            (i, Some(before))
        }
        None => {
            let row = new_row(&state.lead_id, obs, now, new_id());
            events.push(event(&row.id, EventKind::Created, None, Some(row.status.as_db().to_string()), new_id()));
            rows.push(row);
            (rows.len() - 1, None)
        }
    };
    let target_id = rows[target_index].id.clone();

    // 2. Reschedule links, recomputed from the whole set so that arrival order does not matter.
    let links_before: Vec<Option<String>> = rows.iter().map(|r| r.rescheduled_from_id.clone()).collect();
    relink(&mut rows);

    // 3. Change log of the observed row.
    if let Some(before) = &before {
        let after = &rows[target_index];
        if before.status != after.status {
            events.push(event(
                &after.id,
                EventKind::StatusChanged,
                Some(before.status.as_db().to_string()),
                Some(after.status.as_db().to_string()),
                new_id(),
            ));
        }
        if before.provider_deleted_at.is_none() && after.provider_deleted_at.is_some() {
            events.push(event(&after.id, EventKind::Deleted, None, None, new_id()));
        }
        if (before.start_at, before.end_at) != (after.start_at, after.end_at) {
            events.push(event(
                &after.id,
                EventKind::TimeChanged,
                interval(before.start_at, before.end_at),
                interval(after.start_at, after.end_at),
                new_id(),
            ));
        }
    }
    for (row, old_link) in rows.iter().zip(&links_before) {
        if row.rescheduled_from_id != *old_link {
            events.push(event(&row.id, EventKind::LinkedReschedule, old_link.clone(), row.rescheduled_from_id.clone(), new_id()));
        }
    }

    // 4. What to write: the new row, and every existing row that differs from what was read.
    let mut insert = None;
    let mut updates = Vec::new();
    for row in &rows {
        match state.rows.iter().find(|r| r.id == row.id) {
            None => insert = Some(row.clone()),
            Some(original) if original != row => {
                let mut changed = row.clone();
                changed.updated_at = now;
                updates.push(changed);
            }
            Some(_) => {}
        }
    }

    // 5. The lead's rollup, when the rule now gives something else. Migration never writes leads.
    let rollup = if obs.source == AppointmentSource::Migration { None } else { compute_rollup(&rows, now).filter(|r| *r != state.rollup) };

    // 6. Follow-up tasks for a cancellation or reschedule that just happened.
    let after = &rows[target_index];
    let became = |s: AppointmentStatus| after.status == s && before.as_ref().is_none_or(|b| b.status != s);
    let wanted = match obs.tasks {
        TaskPolicy::None => false,
        TaskPolicy::All => true,
        TaskPolicy::UpcomingOnly => after.start_at.is_some_and(|s| s > now),
    };
    let mut tasks = Vec::new();
    if wanted {
        for (status, task_type) in
            [(AppointmentStatus::Canceled, TaskType::MeetingCanceled), (AppointmentStatus::Rescheduled, TaskType::MeetingRescheduled)]
        {
            if became(status) {
                tasks.push(TaskRow { id: new_id(), appointment_id: target_id.clone(), task_type });
            }
        }
    }

    Plan { appointment_id: target_id, insert, updates, events, rollup, tasks }
}

/// The row an observation is about. The rule, in order:
///
/// 1. the row holding the observation's provider key;
/// 2. else a row of the lead for the same slot (same provider and start; for a key-less observation
///    without a start, a key-less row without a start) that can be the same booking:
///    - a keyed observation adopts only a key-less row, and only an active one or a MIGRATION copy:
///      the booking seen before its key was known. A canceled or rescheduled key-less entry is
///      history of an earlier booking of that slot, not this one;
///    - a key-less observation may be about any row of the slot, except that an active one is never
///      absorbed by a canceled or rescheduled row: re-booking a called-off slot is a new booking;
///    - MIGRATION observations keep the plain slot rule (any key-less row; for a key-less one, any
///      row): a Phase 28 rollup is an older snapshot of a booking the history may already hold, and
///      the set-based migration counts such a lead as already present by the same rule.
///
///    Several candidates: the one the observation leaves unchanged first (an exact re-delivery, so
///    that recording it again changes nothing), then active rows (a cancellation calls off the live
///    booking), then key-less rows, then the oldest;
/// 3. else none: a new row.
pub fn find_target(rows: &[AppointmentRow], obs: &Observation) -> Option<usize> {
    if let Some(key) = &obs.key {
        if let Some(i) = rows.iter().position(|r| r.provider == obs.provider && r.key() == Some(key.as_str())) {
            return Some(i);
        }
    }
    if obs.key.is_some() && obs.start_at.is_none() {
        return None;
    }
    let migration = obs.source == AppointmentSource::Migration;
    let observed_active = matches!(obs.status, ObservedStatus::Is(s) if s.is_active()) || obs.status == ObservedStatus::NoShowCleared;
    let same_slot = |r: &AppointmentRow| {
        r.provider == obs.provider
            && r.start_at == obs.start_at
            // Without a start, only key-less rows without one (a bare status recorded before).
            && (obs.start_at.is_some() || r.key().is_none())
    };
    let same_booking = |r: &AppointmentRow| match (&obs.key, r.key()) {
        (Some(_), Some(_)) => false,
        (Some(_), None) => migration || r.status.is_active() || r.source == AppointmentSource::Migration,
        (None, _) => migration || !(observed_active && r.status.is_terminal()),
    };
    rows.iter()
        .enumerate()
        .filter(|(_, r)| same_slot(r) && same_booking(r))
        .min_by_key(|(_, r)| (merge(r, obs, r.updated_at) != **r, r.status.is_terminal(), r.key().is_some(), r.created_at, &r.id))
        .map(|(i, _)| i)
}

fn new_row(lead_id: &str, obs: &Observation, now: DateTime<Utc>, id: String) -> AppointmentRow {
    let status = match obs.status {
        ObservedStatus::Is(s) => s,
        ObservedStatus::NoShowCleared => AppointmentStatus::Confirmed,
        ObservedStatus::Deleted => AppointmentStatus::Canceled,
    };
    let verified = obs.key.is_some() && obs.source.is_provider_verified();
    let deleted_at = (obs.status == ObservedStatus::Deleted).then(|| obs.provider_updated_at.unwrap_or(now));
    let (canceled_at, canceled_by, cancel_reason) = if let Some(at) = deleted_at {
        (Some(obs.canceled_at.unwrap_or(at)), obs.canceled_by, obs.cancel_reason.as_deref().and_then(mask_reason))
    } else if status.is_terminal() {
        (obs.canceled_at.or(obs.provider_updated_at), obs.canceled_by, obs.cancel_reason.as_deref().and_then(mask_reason))
    } else {
        (None, None, None)
    };
    let mut row = AppointmentRow {
        id,
        lead_id: lead_id.to_string(),
        provider: obs.provider,
        ghl_appointment_id: None,
        calendly_invitee_uri: None,
        calendly_scheduled_event_uri: obs.calendly_event_uri.clone(),
        start_at: obs.start_at,
        end_at: obs.end_at,
        timezone: obs.timezone.clone(),
        status,
        status_changed_at: obs.provider_updated_at.unwrap_or(now),
        canceled_at,
        cancel_reason,
        canceled_by,
        rescheduled_from_id: None,
        rescheduled_from_key: obs.rescheduled_from_key.clone(),
        rescheduled_to_key: obs.rescheduled_to_key.clone(),
        provider_created_at: obs.provider_created_at,
        provider_updated_at: obs.provider_updated_at,
        provider_verified_at: verified.then_some(now),
        provider_deleted_at: deleted_at,
        source: obs.source,
        created_at: now,
        updated_at: now,
    };
    row.set_key(obs.key.clone());
    row
}

/// Whether a called-off booking of this provider is never active again: a keyed Calendly invitee
/// (Calendly makes a new invitee for a new booking). Used for the row's own state and for an
/// observation that arrives older than the row's newest word.
fn called_off_is_final(provider: Provider, keyed: bool) -> bool {
    provider == Provider::Calendly && keyed
}

/// Applies an observation to a row. A newer observation (by provider time; a missing time is older
/// than any) replaces what it carries; an older one only fills fields the row lacks. On equal
/// times the status further along the booking's life wins. Two called-off states are final, never
/// active again: a canceled Calendly invitee (Calendly makes a new invitee for a new booking), and
/// an appointment the provider deleted, whatever the order in which the deletion and other
/// observations arrive (a deletion cancels even a row that holds newer words).
pub fn merge(row: &AppointmentRow, obs: &Observation, now: DateTime<Utc>) -> AppointmentRow {
    let mut r = row.clone();
    let deleted = obs.status == ObservedStatus::Deleted;
    let observed = match obs.status {
        ObservedStatus::Is(s) => s,
        ObservedStatus::NoShowCleared if row.status == AppointmentStatus::NoShow => AppointmentStatus::Confirmed,
        ObservedStatus::NoShowCleared => row.status,
        ObservedStatus::Deleted => AppointmentStatus::Canceled,
    };
    // What the observation itself says called the booking off (a no-show cleared on a canceled row
    // says nothing about the cancellation).
    let calls_off = deleted || matches!(obs.status, ObservedStatus::Is(s) if s.is_terminal());
    let calendly_canceled = called_off_is_final(row.provider, row.key().is_some()) && row.status.is_terminal();
    let is_final = calendly_canceled || (row.provider_deleted_at.is_some() && row.status.is_terminal());
    let status = if is_final && observed.is_active() { row.status } else { observed };
    let wins = match cmp_provider_time(obs.provider_updated_at, row.provider_updated_at) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => status.precedence() >= row.status.precedence(),
    };

    fill(&mut r.provider_created_at, &obs.provider_created_at);
    if wins {
        if status != row.status {
            r.status = status;
            r.status_changed_at = obs.provider_updated_at.unwrap_or(now);
        }
        carry_booking(&mut r, obs, Word::Newer);
        if r.status.is_terminal() {
            if calls_off {
                // Without the provider's own cancellation time (GHL), the time of the newest word
                // that it is canceled: the same whatever order the words arrive in.
                replace(&mut r.canceled_at, &obs.canceled_at.or(obs.provider_updated_at));
            }
            replace(&mut r.canceled_by, &obs.canceled_by);
            replace(&mut r.cancel_reason, &obs.cancel_reason.as_deref().and_then(mask_reason));
        } else {
            r.canceled_at = None;
            r.canceled_by = None;
            r.cancel_reason = None;
        }
        if obs.provider_updated_at > r.provider_updated_at {
            r.provider_updated_at = obs.provider_updated_at;
        }
    } else {
        carry_booking(&mut r, obs, Word::Older);
        if calls_off && obs.provider_updated_at.is_some() && called_off_is_final(obs.provider, obs.key.is_some()) && r.status.is_active() {
            // A Calendly cancel is final in any order of arrival: one older than the row's newest
            // (active) word still ends the booking, with its own time and details. Only the
            // provider's own word, which carries its time: a word without one (a migrated rollup)
            // is older than any and fills gaps only, as the migration's batch path does.
            r.status = observed;
            r.status_changed_at = obs.provider_updated_at.unwrap_or(now);
        }
        if r.status.is_terminal() && observed.is_terminal() {
            fill(&mut r.canceled_at, &obs.canceled_at);
            fill(&mut r.canceled_by, &obs.canceled_by);
            fill(&mut r.cancel_reason, &obs.cancel_reason.as_deref().and_then(mask_reason));
        }
    }
    // A deleted appointment's cancellation is the deletion's: its time (the earliest word of it)
    // and details, whatever else arrives before or after, so that no order of arrival matters.
    let deleted_at = obs.provider_updated_at.unwrap_or(now);
    match row.provider_deleted_at {
        Some(first) if !(deleted && deleted_at < first) => {
            r.canceled_at = row.canceled_at;
            r.canceled_by = row.canceled_by;
            r.cancel_reason = row.cancel_reason.clone();
        }
        _ if deleted => {
            r.provider_deleted_at = Some(deleted_at);
            r.canceled_at = Some(obs.canceled_at.unwrap_or(deleted_at));
            r.canceled_by = obs.canceled_by;
            r.cancel_reason = obs.cancel_reason.as_deref().and_then(mask_reason);
        }
        _ => {}
    }
    if deleted && r.status.is_active() {
        // A deletion older than what the row holds still ends the booking.
        r.status = AppointmentStatus::Canceled;
        r.status_changed_at = deleted_at;
    }
    if obs.key.is_some() && obs.source.is_provider_verified() && r.provider_verified_at.is_none() {
        r.provider_verified_at = Some(now);
    }
    r
}

/// A missing provider time is older than any.
fn cmp_provider_time(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Ordering {
    a.cmp(&b)
}

/// Whether an observation is the row's newest word or an older one.
#[derive(Clone, Copy)]
enum Word {
    Newer,
    Older,
}

/// What an observation says about the booking itself (times, time zone, event, reschedule keys):
/// a newer word replaces what it carries, an older one only fills what the row lacks.
fn carry_booking(r: &mut AppointmentRow, obs: &Observation, word: Word) {
    fn carry<T: Clone>(slot: &mut Option<T>, value: &Option<T>, word: Word) {
        match word {
            Word::Newer => replace(slot, value),
            Word::Older => fill(slot, value),
        }
    }
    carry(&mut r.start_at, &obs.start_at, word);
    carry(&mut r.end_at, &obs.end_at, word);
    carry(&mut r.timezone, &obs.timezone, word);
    carry(&mut r.calendly_scheduled_event_uri, &obs.calendly_event_uri, word);
    carry(&mut r.rescheduled_from_key, &obs.rescheduled_from_key, word);
    carry(&mut r.rescheduled_to_key, &obs.rescheduled_to_key, word);
}

fn replace<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
    if value.is_some() {
        *slot = value.clone();
    }
}

fn fill<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
    if slot.is_none() {
        *slot = value.clone();
    }
}

fn interval(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<String> {
    let fmt = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    match (fmt(start), fmt(end)) {
        (None, None) => None,
        (s, e) => Some(format!("{}/{}", s.unwrap_or_default(), e.unwrap_or_default())),
    }
}

/// Recomputes reschedule links of a lead's rows from what the rows say, so that the result is the
/// same whichever delivery came first.
///
/// Calendly is exact: a row whose `rescheduledFromKey` (`old_invitee`) names another row of the
/// lead, or that another row names as its `rescheduledToKey` (`new_invitee`), is linked to it.
/// Calendly links are only ever set, never cleared.
///
/// GHL is best-effort: a canceled GHL appointment and a GHL booking of the same lead made within
/// [`GHL_RESCHEDULE_WINDOW`] of the cancellation (and after the canceled one was booked) are paired,
/// cancellations in time order, each with the closest unpaired booking. GHL links are recomputed
/// from scratch each time, so a closer pair found later replaces an earlier guess.
pub fn relink(rows: &mut [AppointmentRow]) {
    // Calendly.
    for i in 0..rows.len() {
        let row = &rows[i];
        if row.provider != Provider::Calendly {
            continue;
        }
        let Some(key) = row.key() else { continue };
        let by_old_invitee = row
            .rescheduled_from_key
            .as_deref()
            .and_then(|from| rows.iter().find(|p| p.provider == Provider::Calendly && p.key() == Some(from) && p.id != row.id));
        let by_new_invitee =
            || rows.iter().find(|p| p.provider == Provider::Calendly && p.rescheduled_to_key.as_deref() == Some(key) && p.id != row.id);
        if let Some(pred) = by_old_invitee.or_else(by_new_invitee) {
            let pred_id = pred.id.clone();
            if rows[i].rescheduled_from_id.as_deref() != Some(pred_id.as_str()) && !creates_cycle(rows, i, &pred_id) {
                rows[i].rescheduled_from_id = Some(pred_id);
            }
        }
    }

    // GHL.
    let booked_at = |r: &AppointmentRow| r.provider_created_at;
    let canceled_at = |r: &AppointmentRow| r.canceled_at.or(r.provider_updated_at);
    let mut cancels: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            rows[i].provider == Provider::Ghl && rows[i].key().is_some() && rows[i].status.is_terminal() && canceled_at(&rows[i]).is_some()
        })
        .collect();
    cancels.sort_by(|&a, &b| (canceled_at(&rows[a]), rows[a].key()).cmp(&(canceled_at(&rows[b]), rows[b].key())));
    let mut links: Vec<(usize, Option<String>)> =
        (0..rows.len()).filter(|&i| rows[i].provider == Provider::Ghl && rows[i].key().is_some()).map(|i| (i, None)).collect();
    for c in cancels {
        let cancel_time = canceled_at(&rows[c]).expect("filtered");
        let best = links
            .iter()
            .filter(|(b, link)| {
                link.is_none()
                    && *b != c
                    && booked_at(&rows[*b]).is_some_and(|t| (t - cancel_time).abs() <= GHL_RESCHEDULE_WINDOW)
                    && match (booked_at(&rows[c]), booked_at(&rows[*b])) {
                        (Some(old), Some(new)) => new > old,
                        _ => true,
                    }
            })
            .min_by_key(|(b, _)| ((booked_at(&rows[*b]).expect("filtered") - cancel_time).abs(), rows[*b].key()))
            .map(|(b, _)| *b);
        if let Some(b) = best {
            let cancel_id = rows[c].id.clone();
            if let Some(entry) = links.iter_mut().find(|(i, _)| *i == b) {
                entry.1 = Some(cancel_id);
            }
        }
    }
    for (i, link) in links {
        rows[i].rescheduled_from_id = link;
    }
}

/// Whether linking `rows[i]` to `pred_id` would close a loop in the chain.
fn creates_cycle(rows: &[AppointmentRow], i: usize, pred_id: &str) -> bool {
    let mut cursor = Some(pred_id.to_string());
    let mut steps = 0;
    while let Some(id) = cursor {
        if id == rows[i].id || steps > rows.len() {
            return true;
        }
        cursor = rows.iter().find(|r| r.id == id).and_then(|r| r.rescheduled_from_id.clone());
        steps += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AppointmentStatus::*, Canceler};
    use crate::rollup::tests::{row, t};

    /// Ids for new rows and events: `id1`, `id2`, ...
    fn numbered_ids() -> impl FnMut() -> String {
        let mut ids = 0;
        move || {
            ids += 1;
            format!("id{ids}")
        }
    }

    fn obs(key: &str, status: ObservedStatus, updated: Option<DateTime<Utc>>) -> Observation {
        let mut o = Observation::new("lead", Provider::Calendly, status, AppointmentSource::Webhook);
        o.key = Some(key.into());
        o.provider_updated_at = updated;
        o
    }

    fn stored(status: AppointmentStatus, updated: Option<DateTime<Utc>>) -> AppointmentRow {
        let mut r = row("a", status, Some(t(20, 9)));
        r.calendly_invitee_uri = Some("k".into());
        r.provider_updated_at = updated;
        r
    }

    #[test]
    fn merge_as_a_table() {
        let now = t(15, 0);
        let is = ObservedStatus::Is;
        // (case, stored status, stored time, observed status, observed time, resulting status)
        let cases = [
            ("newer wins", Confirmed, Some(t(1, 0)), is(Canceled), Some(t(2, 0)), Canceled),
            ("older is stale", Canceled, Some(t(2, 0)), is(NoShow), Some(t(1, 0)), Canceled),
            ("missing time is older than any", Confirmed, Some(t(1, 0)), is(Showed), None, Confirmed),
            ("both missing: applies", Confirmed, None, is(Showed), None, Showed),
            ("tie: further along wins", Confirmed, Some(t(1, 0)), is(Canceled), Some(t(1, 0)), Canceled),
            ("tie: not backwards", Canceled, Some(t(1, 0)), is(Confirmed), Some(t(1, 0)), Canceled),
            ("calendly cancel is final", Canceled, Some(t(1, 0)), is(Confirmed), Some(t(9, 0)), Canceled),
            ("calendly canceled learns it was a reschedule", Canceled, Some(t(1, 0)), is(Rescheduled), Some(t(2, 0)), Rescheduled),
            ("no-show cleared reverts a no-show", NoShow, Some(t(1, 0)), ObservedStatus::NoShowCleared, Some(t(2, 0)), Confirmed),
            ("no-show cleared leaves others alone", Showed, Some(t(1, 0)), ObservedStatus::NoShowCleared, Some(t(2, 0)), Showed),
            ("stale no-show cleared does nothing", NoShow, Some(t(3, 0)), ObservedStatus::NoShowCleared, Some(t(2, 0)), NoShow),
        ];
        for (name, status, stored_at, observed, observed_at, expected) in cases {
            let merged = merge(&stored(status, stored_at), &obs("k", observed, observed_at), now);
            assert_eq!(merged.status, expected, "{name}");
            assert!(merged.provider_updated_at >= stored_at, "{name}: watermark went back");
        }
    }

    #[test]
    fn ghl_cancel_can_be_undone_and_clears_cancellation() {
        let mut r = stored(Canceled, Some(t(1, 0)));
        r.provider = Provider::Ghl;
        r.ghl_appointment_id = Some("g".into());
        r.calendly_invitee_uri = None;
        r.canceled_by = Some(Canceler::Host);
        let mut o = obs("g", ObservedStatus::Is(Confirmed), Some(t(2, 0)));
        o.provider = Provider::Ghl;
        let merged = merge(&r, &o, t(15, 0));
        assert_eq!(merged.status, Confirmed);
        assert_eq!((merged.canceled_at, merged.canceled_by), (None, None));
    }

    #[test]
    fn stale_observation_only_fills_gaps() {
        let mut r = stored(Confirmed, Some(t(5, 0)));
        r.timezone = None;
        let mut o = obs("k", ObservedStatus::Is(Confirmed), Some(t(1, 0)));
        o.start_at = Some(t(25, 9));
        o.timezone = Some("Europe/Paris".into());
        o.rescheduled_to_key = Some("next".into());
        let merged = merge(&r, &o, t(15, 0));
        assert_eq!(merged.start_at, Some(t(20, 9)), "a stale time never moves the appointment");
        assert_eq!(merged.timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(merged.rescheduled_to_key.as_deref(), Some("next"));
        assert_eq!(merged.provider_updated_at, Some(t(5, 0)));
    }

    #[test]
    fn calendly_links_from_either_side_and_never_loop() {
        let mut old = row("old", Rescheduled, Some(t(20, 9)));
        old.rescheduled_to_key = Some("inv-new".into());
        let new = row("new", Confirmed, Some(t(22, 9)));
        let mut rows = vec![old.clone(), new.clone()];
        relink(&mut rows);
        assert_eq!(rows[1].rescheduled_from_id.as_deref(), Some("old"), "linked from the canceled side");

        let mut new2 = new.clone();
        new2.rescheduled_from_key = Some("inv-old".into());
        let mut rows = vec![row("old", Rescheduled, Some(t(20, 9))), new2];
        relink(&mut rows);
        assert_eq!(rows[1].rescheduled_from_id.as_deref(), Some("old"), "linked from the new side");

        // A pair naming each other does not become a loop.
        let mut a = row("a", Rescheduled, Some(t(20, 9)));
        a.rescheduled_from_key = Some("inv-b".into());
        let mut b = row("b", Rescheduled, Some(t(21, 9)));
        b.rescheduled_from_key = Some("inv-a".into());
        let mut rows = vec![a, b];
        relink(&mut rows);
        assert!(rows[0].rescheduled_from_id.is_none() || rows[1].rescheduled_from_id.is_none());
    }

    #[test]
    fn ghl_links_pair_closest_within_window() {
        let ghl = |id: &str, status, booked: DateTime<Utc>, canceled: Option<DateTime<Utc>>| {
            let mut r = row(id, status, Some(t(20, 9)));
            r.provider = Provider::Ghl;
            r.ghl_appointment_id = Some(id.into());
            r.calendly_invitee_uri = None;
            r.provider_created_at = Some(booked);
            r.canceled_at = canceled;
            r
        };
        let minute = |m: i64| t(10, 12) + TimeDelta::minutes(m);
        let mut rows = vec![
            ghl("old", Canceled, t(1, 0), Some(minute(0))),
            ghl("far", Confirmed, minute(45), None),
            ghl("near", Confirmed, minute(2), None),
            ghl("closer", Confirmed, minute(1), None),
        ];
        relink(&mut rows);
        let link = |rows: &[AppointmentRow], id: &str| rows.iter().find(|r| r.id == id).unwrap().rescheduled_from_id.clone();
        assert_eq!(link(&rows, "closer").as_deref(), Some("old"));
        assert_eq!(link(&rows, "near"), None);
        assert_eq!(link(&rows, "far"), None, "outside the window");
        // The same set in another order gives the same links.
        rows.reverse();
        relink(&mut rows);
        assert_eq!(link(&rows, "closer").as_deref(), Some("old"));
        assert_eq!(link(&rows, "near"), None);
    }

    #[test]
    fn plan_writes_nothing_for_a_duplicate_and_tasks_only_on_transition() {
        let now = t(15, 0);
        let mut new_id = numbered_ids();
        let mut o = obs("inv-x", ObservedStatus::Is(Canceled), Some(t(2, 0)));
        o.start_at = Some(t(20, 9));
        o.tasks = TaskPolicy::All;
        let empty = LeadState { lead_id: "lead".into(), rollup: Rollup::default(), rows: vec![] };
        let first = plan(&empty, &o, now, &mut new_id);
        assert_eq!(first.change(), Change::Created);
        assert_eq!(first.tasks.len(), 1);
        assert!(first.rollup.is_some());
        let after = LeadState { lead_id: "lead".into(), rollup: first.rollup.clone().unwrap(), rows: vec![first.insert.clone().unwrap()] };
        let again = plan(&after, &o, now, &mut new_id);
        assert!(again.writes_nothing(), "{again:?}");
        assert_eq!(again.change(), Change::Unchanged);
        assert!(again.events.is_empty());

        let mut migration = o.clone();
        migration.source = AppointmentSource::Migration;
        migration.key = None;
        migration.start_at = Some(t(25, 9));
        let m = plan(&empty, &migration, now, &mut new_id);
        assert!(m.rollup.is_none(), "migration never writes the lead");

        // Nothing but a status, recorded twice: one row.
        let mut bare = migration.clone();
        bare.start_at = None;
        let first = plan(&empty, &bare, now, &mut new_id);
        let after = LeadState { lead_id: "lead".into(), rollup: Rollup::default(), rows: vec![first.insert.clone().unwrap()] };
        assert!(plan(&after, &bare, now, &mut new_id).writes_nothing());
    }

    /// A GHL row of the lead at `start`: `key` None for a key-less entry.
    fn ghl_row(
        id: &str,
        key: Option<&str>,
        status: AppointmentStatus,
        source: AppointmentSource,
        start: Option<DateTime<Utc>>,
    ) -> AppointmentRow {
        let mut r = row(id, status, start);
        r.provider = Provider::Ghl;
        r.calendly_invitee_uri = None;
        r.ghl_appointment_id = key.map(Into::into);
        r.source = source;
        r
    }

    fn ghl_obs(key: Option<&str>, status: AppointmentStatus, source: AppointmentSource, start: Option<DateTime<Utc>>) -> Observation {
        let mut o = Observation::new("lead", Provider::Ghl, ObservedStatus::Is(status), source);
        o.key = key.map(Into::into);
        o.start_at = start;
        o.end_at = start.map(|s| s + TimeDelta::minutes(30));
        o
    }

    /// (id, key, status, source, start) of a GHL row.
    type RowSpec<'a> = (&'a str, Option<&'a str>, AppointmentStatus, AppointmentSource, Option<DateTime<Utc>>);

    #[test]
    fn find_target_as_a_table() {
        use AppointmentSource::{Manual, Migration, Webhook};
        let slot = Some(t(20, 15));
        let other_slot = Some(t(21, 15));
        let rows = |list: &[RowSpec<'_>]| -> Vec<AppointmentRow> {
            list.iter()
                .enumerate()
                .map(|(i, (id, key, status, source, start))| {
                    let mut r = ghl_row(id, *key, *status, *source, *start);
                    r.created_at = t(1, i as u32);
                    r
                })
                .collect()
        };
        let canceled_manual = ("canceled", None, Canceled, Manual, slot);
        let confirmed_manual = ("confirmed", None, Confirmed, Manual, slot);
        let canceled_migration = ("migrated", None, Canceled, Migration, slot);
        let keyed_canceled = ("keyed", Some("g1"), Canceled, Webhook, slot);
        // (case, rows, observation, expected row id; None: a new row)
        let cases: Vec<(&str, Vec<AppointmentRow>, Observation, Option<&str>)> = vec![
            ("by key", rows(&[confirmed_manual, keyed_canceled]), ghl_obs(Some("g1"), Confirmed, Webhook, other_slot), Some("keyed")),
            ("re-booking a canceled slot is new", rows(&[canceled_manual]), ghl_obs(None, Confirmed, Manual, slot), None),
            ("nor absorbed by a keyed canceled row", rows(&[keyed_canceled]), ghl_obs(None, Confirmed, Manual, slot), None),
            ("attendance of the booking", rows(&[confirmed_manual]), ghl_obs(None, Showed, Manual, slot), Some("confirmed")),
            ("exact re-delivery of a cancel", rows(&[canceled_manual]), ghl_obs(None, Canceled, Manual, slot), Some("canceled")),
            (
                "a cancel calls off the re-booking",
                rows(&[canceled_manual, confirmed_manual]),
                {
                    let mut o = ghl_obs(None, Canceled, Manual, slot);
                    o.canceled_at = Some(t(19, 9));
                    o
                },
                Some("confirmed"),
            ),
            (
                "the re-booking, delivered again",
                rows(&[canceled_manual, confirmed_manual]),
                ghl_obs(None, Confirmed, Manual, slot),
                Some("confirmed"),
            ),
            ("another slot is another booking", rows(&[confirmed_manual]), ghl_obs(None, Confirmed, Manual, other_slot), None),
            (
                "a key adopts the key-less booking",
                rows(&[confirmed_manual]),
                ghl_obs(Some("g2"), Confirmed, Webhook, slot),
                Some("confirmed"),
            ),
            ("a key adopts a migrated copy", rows(&[canceled_migration]), ghl_obs(Some("g2"), Confirmed, Webhook, slot), Some("migrated")),
            ("a key never adopts a canceled entry", rows(&[canceled_manual]), ghl_obs(Some("g2"), Confirmed, Webhook, slot), None),
            ("nor its cancel", rows(&[canceled_manual]), ghl_obs(Some("g2"), Canceled, Webhook, slot), None),
            ("a key never adopts a keyed row", rows(&[keyed_canceled]), ghl_obs(Some("g2"), Canceled, Webhook, slot), None),
            ("migration keeps the plain slot rule", rows(&[keyed_canceled]), ghl_obs(None, Confirmed, Migration, slot), Some("keyed")),
            (
                "a bare status again",
                rows(&[("bare", None, Confirmed, Migration, None)]),
                ghl_obs(None, Confirmed, Migration, None),
                Some("bare"),
            ),
            (
                "a keyed observation without a start",
                rows(&[("bare", None, Confirmed, Migration, None)]),
                ghl_obs(Some("g3"), Confirmed, Webhook, None),
                None,
            ),
        ];
        for (name, rows, obs, expected) in cases {
            let found = find_target(&rows, &obs).map(|i| rows[i].id.as_str());
            assert_eq!(found, expected, "{name}");
        }
    }

    #[test]
    fn rebooking_a_canceled_slot_without_key_is_a_new_row_and_rolls_up_confirmed() {
        let now = t(15, 0);
        let mut new_id = numbered_ids();
        let canceled = ghl_obs(None, Canceled, AppointmentSource::Manual, Some(t(20, 15)));
        let first = plan(&LeadState { lead_id: "lead".into(), rollup: Rollup::default(), rows: vec![] }, &canceled, now, &mut new_id);
        let state = LeadState { lead_id: "lead".into(), rollup: first.rollup.clone().unwrap(), rows: vec![first.insert.clone().unwrap()] };
        let rebooked = plan(&state, &ghl_obs(None, Confirmed, AppointmentSource::Manual, Some(t(20, 15))), now, &mut new_id);
        assert_eq!(rebooked.change(), Change::Created);
        assert!(rebooked.updates.is_empty(), "the canceled row is history: {:?}", rebooked.updates);
        assert_eq!(rebooked.rollup.and_then(|r| r.status).as_deref(), Some("confirmed"));
    }

    /// Applies observations one after another to one GHL appointment, as `record` would.
    fn apply_all(observations: &[Observation]) -> Option<AppointmentRow> {
        let now = t(15, 0);
        let mut current: Option<AppointmentRow> = None;
        for o in observations {
            current = Some(match &current {
                None => new_row("lead", o, now, "a".into()),
                Some(r) => merge(r, o, now),
            });
        }
        current
    }

    #[test]
    fn a_canceled_calendly_invitee_ends_canceled_at_its_cancellation_in_any_order() {
        // Booked, canceled by the host, then marked a no-show and unmarked: whatever order the four
        // words arrive in, the row ends canceled, with the cancellation's own time and canceler (a
        // no-show word is not a cancellation, and an older cancel still ends the booking).
        let at = |hour: u32| Some(t(10, hour));
        let mut created = obs("k", ObservedStatus::Is(Confirmed), at(1));
        created.start_at = Some(t(20, 15));
        let mut canceled = created.clone();
        canceled.status = ObservedStatus::Is(Canceled);
        canceled.provider_updated_at = at(2);
        canceled.canceled_at = at(2);
        canceled.canceled_by = Some(Canceler::Host);
        let no_show = obs("k", ObservedStatus::Is(NoShow), at(5));
        let cleared = obs("k", ObservedStatus::NoShowCleared, at(6));
        let words = [created, canceled, no_show, cleared];
        let mut results = Vec::new();
        for first in 0..words.len() {
            for second in 0..words.len() {
                let mut order: Vec<Observation> = words.to_vec();
                order.swap(0, first);
                order.swap(1, second);
                let mut row = apply_all(&order).unwrap();
                let name = format!("{:?}", order.iter().map(|o| o.status).collect::<Vec<_>>());
                assert_eq!((row.status, row.canceled_at, row.canceled_by), (Canceled, at(2), Some(Canceler::Host)), "{name}");
                row.status_changed_at = t(1, 0);
                results.push(row);
            }
        }
        assert!(results.windows(2).all(|w| w[0] == w[1]), "the order changed the row: {results:#?}");
    }

    #[test]
    fn a_deleted_ghl_appointment_is_never_active_again_in_any_order() {
        let at = |hour: u32| Some(t(10, hour));
        let step = |status: ObservedStatus, hour: u32, start_day: u32| {
            let mut o = obs("g", status, at(hour));
            o.provider = Provider::Ghl;
            o.start_at = Some(t(start_day, 15));
            o
        };
        let deleted = step(ObservedStatus::Deleted, 5, 20);
        // (case, the other observations of the appointment, the status it ends in)
        let cases = [
            ("older booking", vec![step(ObservedStatus::Is(Confirmed), 1, 20)], Canceled),
            ("newer booking", vec![step(ObservedStatus::Is(Confirmed), 9, 22)], Canceled),
            ("newer attendance", vec![step(ObservedStatus::Is(Showed), 9, 20)], Canceled),
            (
                "booked, canceled, re-confirmed",
                vec![
                    step(ObservedStatus::Is(Confirmed), 1, 20),
                    step(ObservedStatus::Is(Canceled), 2, 20),
                    step(ObservedStatus::Is(Confirmed), 8, 21),
                ],
                Canceled,
            ),
            ("newer rescheduled stays rescheduled", vec![step(ObservedStatus::Is(Rescheduled), 9, 20)], Rescheduled),
        ];
        for (name, others, expected) in cases {
            let mut all = others.clone();
            all.push(deleted.clone());
            let mut results = Vec::new();
            // Every rotation and its reverse: the deletion first, last and in between.
            for shift in 0..all.len() {
                for reverse in [false, true] {
                    let mut order = all.clone();
                    order.rotate_left(shift);
                    if reverse {
                        order.reverse();
                    }
                    let mut row = apply_all(&order).unwrap();
                    assert_eq!(row.status, expected, "{name}: order {shift}/{reverse}");
                    assert_eq!(row.provider_deleted_at, at(5), "{name}");
                    row.status_changed_at = t(1, 0);
                    results.push(row);
                }
            }
            assert!(results.windows(2).all(|w| w[0] == w[1]), "{name}: the order changed the row: {results:#?}");
            // And delivering the deletion again changes nothing.
            let last = results.pop().unwrap();
            let mut again = merge(&last, &deleted, t(15, 0));
            again.status_changed_at = t(1, 0);
            assert_eq!(again, last, "{name}: redelivery");
        }
    }

    #[test]
    fn deletion_is_logged_and_asks_for_a_follow_up() {
        let now = t(15, 0);
        let mut new_id = numbered_ids();
        let mut booked = obs("g", ObservedStatus::Is(Confirmed), Some(t(10, 1)));
        booked.provider = Provider::Ghl;
        booked.start_at = Some(t(20, 15));
        let first = plan(&LeadState { lead_id: "lead".into(), rollup: Rollup::default(), rows: vec![] }, &booked, now, &mut new_id);
        let state = LeadState { lead_id: "lead".into(), rollup: first.rollup.clone().unwrap(), rows: vec![first.insert.clone().unwrap()] };
        let mut deleted = booked.clone();
        deleted.status = ObservedStatus::Deleted;
        deleted.provider_updated_at = Some(t(10, 5));
        deleted.tasks = TaskPolicy::All;
        let p = plan(&state, &deleted, now, &mut new_id);
        let kinds: Vec<EventKind> = p.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::StatusChanged, EventKind::Deleted]);
        assert_eq!(p.tasks.len(), 1);
        assert_eq!(p.rollup.and_then(|r| r.status).as_deref(), Some("canceled"));
    }
}
