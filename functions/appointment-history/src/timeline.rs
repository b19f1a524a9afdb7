//! The timeline's order, filters and cursors. Pure.
//!
//! Order: newest start first, appointments without a start last, ties broken by id (descending, so
//! that among equal starts the most recently created row, whose uuid v7 id is larger, comes first).
//! The id makes the order total, so a cursor that names the last sort key of a page never skips or
//! repeats a row, however many rows share a start.

use std::cmp::Ordering;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{AppointmentRow, AppointmentStatus};

/// Timeline filters from the query string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filters {
    /// `includeCanceled` (default true): false hides CANCELED rows. RESCHEDULED rows stay, since
    /// they carry the reschedule chain.
    pub include_canceled: bool,
    /// `activeOnly` (default false): true keeps only CONFIRMED, SHOWED and NO_SHOW rows.
    pub active_only: bool,
}

impl Default for Filters {
    fn default() -> Self {
        Filters { include_canceled: true, active_only: false }
    }
}

impl Filters {
    /// Both filters apply together (their intersection).
    pub fn admits(&self, status: AppointmentStatus) -> bool {
        if self.active_only && !status.is_active() {
            return false;
        }
        self.include_canceled || status != AppointmentStatus::Canceled
    }

    /// A short tag of the filter set, carried in cursors so that a cursor is only used with the
    /// filters it was made for.
    fn tag(&self) -> String {
        format!("{}{}", if self.include_canceled { 'c' } else { '-' }, if self.active_only { 'a' } else { '-' })
    }
}

/// Where a row sits in the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub start_at: Option<DateTime<Utc>>,
    pub id: String,
}

impl SortKey {
    pub fn of(row: &AppointmentRow) -> Self {
        SortKey { start_at: row.start_at, id: row.id.clone() }
    }
}

/// The timeline order on (start, id) pairs; `Less` means "earlier in the timeline".
pub fn order(a: (Option<DateTime<Utc>>, &str), b: (Option<DateTime<Utc>>, &str)) -> Ordering {
    let by_start = match (a.0, b.0) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_start.then_with(|| b.1.cmp(a.1))
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        order((self.start_at, &self.id), (other.start_at, &other.id))
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The opaque `cursor`: the sort key of the last row of the previous page and the filters it was
/// made with, as base64url JSON. Versioned so that the format can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub after: SortKey,
    filters: String,
}

#[derive(Serialize, Deserialize)]
struct CursorWire {
    v: u8,
    f: String,
    /// Start in epoch milliseconds (the storage precision), or null.
    s: Option<i64>,
    i: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum CursorError {
    Malformed,
    OtherFilters,
}

impl Cursor {
    pub fn new(after: SortKey, filters: &Filters) -> Self {
        Cursor { after, filters: filters.tag() }
    }

    pub fn encode(&self) -> String {
        let wire =
            CursorWire { v: 1, f: self.filters.clone(), s: self.after.start_at.map(|t| t.timestamp_millis()), i: self.after.id.clone() };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).expect("cursor serializes"))
    }

    pub fn decode(text: &str, filters: &Filters) -> Result<Cursor, CursorError> {
        let bytes = URL_SAFE_NO_PAD.decode(text.as_bytes()).map_err(|_| CursorError::Malformed)?;
        let wire: CursorWire = serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        if wire.v != 1 || wire.i.is_empty() || wire.i.len() > 200 {
            return Err(CursorError::Malformed);
        }
        let start_at = match wire.s {
            Some(ms) => Some(DateTime::<Utc>::from_timestamp_millis(ms).ok_or(CursorError::Malformed)?),
            None => None,
        };
        if wire.f != filters.tag() {
            return Err(CursorError::OtherFilters);
        }
        Ok(Cursor { after: SortKey { start_at, id: wire.i }, filters: wire.f })
    }
}

/// One page of the timeline: the admitted rows after the cursor, in timeline order, at most
/// `limit` of them, and the cursor of the next page when more rows follow.
pub fn page<'a>(
    rows: &'a [AppointmentRow],
    filters: &Filters,
    after: Option<&SortKey>,
    limit: usize,
) -> (Vec<&'a AppointmentRow>, Option<Cursor>) {
    let key = |r: &'a AppointmentRow| (r.start_at, r.id.as_str());
    let mut admitted: Vec<&AppointmentRow> = rows
        .iter()
        .filter(|r| filters.admits(r.status))
        .filter(|r| after.is_none_or(|a| order(key(r), (a.start_at, &a.id)) == Ordering::Greater))
        .collect();
    admitted.sort_unstable_by(|a, b| order(key(a), key(b)));
    let more = admitted.len() > limit;
    admitted.truncate(limit);
    let next = if more { admitted.last().map(|r| Cursor::new(SortKey::of(r), filters)) } else { None };
    (admitted, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use shared::Provider;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 1, day, 9, 0, 0).unwrap()
    }

    pub(crate) fn row(id: &str, status: AppointmentStatus, start: Option<DateTime<Utc>>) -> AppointmentRow {
        shared::testing::appointment_row(id, Provider::Ghl, status, start, at(1))
    }

    #[test]
    fn filters_as_a_table() {
        use AppointmentStatus::*;
        let all = Filters::default();
        let no_canceled = Filters { include_canceled: false, active_only: false };
        let active = Filters { include_canceled: true, active_only: true };
        let cases = [
            (all, [true, true, true, true, true]),
            (no_canceled, [true, false, true, true, true]),
            (active, [true, false, false, true, true]),
            (Filters { include_canceled: false, active_only: true }, [true, false, false, true, true]),
        ];
        for (filters, expected) in cases {
            let got: Vec<bool> = [Confirmed, Canceled, Rescheduled, Showed, NoShow].iter().map(|s| filters.admits(*s)).collect();
            assert_eq!(got, expected, "{filters:?}");
        }
    }

    #[test]
    fn newest_first_missing_last_ties_by_id() {
        let rows = vec![
            row("a", AppointmentStatus::Confirmed, Some(at(2))),
            row("b", AppointmentStatus::Confirmed, None),
            row("c", AppointmentStatus::Confirmed, Some(at(5))),
            row("d", AppointmentStatus::Confirmed, Some(at(2))),
            row("e", AppointmentStatus::Confirmed, None),
        ];
        let (page, next) = page(&rows, &Filters::default(), None, 10);
        let ids: Vec<&str> = page.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["c", "d", "a", "e", "b"]);
        assert!(next.is_none());
    }

    #[test]
    fn cursor_round_trips_and_is_bound_to_filters() {
        let filters = Filters { include_canceled: false, active_only: false };
        for start in [Some(at(3)), None] {
            let c = Cursor::new(SortKey { start_at: start, id: "0190-x".into() }, &filters);
            assert_eq!(Cursor::decode(&c.encode(), &filters).unwrap(), c);
            assert_eq!(Cursor::decode(&c.encode(), &Filters::default()), Err(CursorError::OtherFilters));
        }
        for bad in ["", "!!", "bm90IGpzb24", &URL_SAFE_NO_PAD.encode(br#"{"v":2,"f":"c-","s":null,"i":"x"}"#)] {
            assert_eq!(Cursor::decode(bad, &Filters::default()), Err(CursorError::Malformed), "{bad}");
        }
    }

    fn arb_rows() -> impl Strategy<Value = Vec<AppointmentRow>> {
        // Few distinct starts and ids drawn from a small alphabet: many ties, some missing starts.
        prop::collection::vec((prop::option::of(1u32..4), 0usize..5), 0..40).prop_map(|specs| {
            let statuses = [
                AppointmentStatus::Confirmed,
                AppointmentStatus::Canceled,
                AppointmentStatus::Rescheduled,
                AppointmentStatus::Showed,
                AppointmentStatus::NoShow,
            ];
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (day, s))| row(&format!("id{:03}", (i * 7919) % 1000), statuses[s], day.map(at)))
                .collect()
        })
    }

    proptest! {
        /// Walking the pages with any page size gives every admitted row exactly once, in order.
        #[test]
        fn pages_never_skip_or_repeat(rows in arb_rows(), limit in 1usize..7, include_canceled: bool, active_only: bool) {
            let filters = Filters { include_canceled, active_only };
            let mut expected: Vec<&AppointmentRow> = rows.iter().filter(|r| filters.admits(r.status)).collect();
            expected.sort_by_key(|r| SortKey::of(r));
            let mut seen = Vec::new();
            let mut cursor: Option<Cursor> = None;
            for _ in 0..=rows.len() {
                // Through the wire form, as a client would.
                let after = cursor.as_ref().map(|c| Cursor::decode(&c.encode(), &filters).unwrap().after);
                let (items, next) = page(&rows, &filters, after.as_ref(), limit);
                prop_assert!(items.len() <= limit);
                seen.extend(items);
                cursor = next;
                if cursor.is_none() { break; }
            }
            prop_assert!(cursor.is_none());
            let seen_ids: Vec<&str> = seen.iter().map(|r| r.id.as_str()).collect();
            let expected_ids: Vec<&str> = expected.iter().map(|r| r.id.as_str()).collect();
            prop_assert_eq!(seen_ids, expected_ids);
        }
    }
}
