//! I1–I5 as a property: random sets of Calendly-like and GHL-like observations (deletions
//! included) for one lead, delivered in random order with random duplicates, end in the same rows,
//! links and rollup as in-order delivery, never with duplicate rows; a deleted GHL appointment ends
//! canceled.
//!
//! Compared: every provider-derived column, links (as provider keys), the lead's rollup, and the
//! Calendly follow-up tasks. Not compared: `statusChangedAt` (out of order, the write path learns
//! of an older status later and keeps the time it first saw the current one) and GHL tasks (a GHL
//! appointment canceled and re-confirmed, delivered newest first, was never seen canceled).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::*;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use shared::domain::*;
use shared::testing::{seed_lead, TestDb};
use tokio::sync::OnceCell;

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap());
static DB: OnceCell<TestDb> = OnceCell::const_new();
static CASE: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Debug)]
struct Chain {
    len: usize,
    /// 0: stays booked, 1: canceled, 2: no-show, 3: no-show then cleared, 4: canceled, then
    /// (words Calendly should not send, but the write path must not depend on their order) marked
    /// no-show and cleared.
    end: u8,
    offset_minutes: i64,
    past: bool,
}

#[derive(Clone, Debug)]
struct GhlAppt {
    /// (status index into GHL_STATUSES, or its length for a deletion; start shift in days) per
    /// observation, in provider order.
    steps: Vec<(usize, i64)>,
    offset_minutes: i64,
    past: bool,
}

const GHL_STATUSES: [AppointmentStatus; 4] =
    [AppointmentStatus::Confirmed, AppointmentStatus::Canceled, AppointmentStatus::Showed, AppointmentStatus::NoShow];

fn chain() -> impl Strategy<Value = Chain> {
    (1usize..=3, 0u8..5, 0i64..600, any::<bool>()).prop_map(|(len, end, offset_minutes, past)| Chain { len, end, offset_minutes, past })
}

fn ghl_appt() -> impl Strategy<Value = GhlAppt> {
    (prop::collection::vec((0usize..=GHL_STATUSES.len(), 0i64..3), 1..=4), 0i64..600, any::<bool>())
        .prop_map(|(steps, offset_minutes, past)| GhlAppt { steps, offset_minutes, past })
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

fn start_of(past: bool, offset_minutes: i64) -> DateTime<Utc> {
    let day0 = if past { Utc.with_ymd_and_hms(2020, 6, 1, 9, 0, 0).unwrap() } else { Utc.with_ymd_and_hms(2033, 6, 1, 9, 0, 0).unwrap() };
    day0 + TimeDelta::hours(offset_minutes % 48)
}

fn observations(lead: &str, chains: &[Chain], ghls: &[GhlAppt]) -> Vec<Observation> {
    let mut out = Vec::new();
    let key = |s: String| format!("{lead}:{s}");
    for (c, ch) in chains.iter().enumerate() {
        let t0 = base() + TimeDelta::minutes(ch.offset_minutes);
        for k in 0..ch.len {
            let inv = key(format!("c{c}i{k}"));
            let start = start_of(ch.past, ch.offset_minutes) + TimeDelta::days(k as i64);
            let t = t0 + TimeDelta::minutes(10 * k as i64);
            let mut created =
                Observation::new(lead, Provider::Calendly, ObservedStatus::Is(AppointmentStatus::Confirmed), AppointmentSource::Webhook);
            created.key = Some(inv.clone());
            created.start_at = Some(start);
            created.end_at = Some(start + TimeDelta::minutes(30));
            created.provider_created_at = Some(t);
            created.provider_updated_at = Some(t);
            created.tasks = TaskPolicy::All;
            if k > 0 {
                created.rescheduled_from_key = Some(key(format!("c{c}i{}", k - 1)));
            }
            let later = |status: ObservedStatus, minutes: i64| {
                let mut o = created.clone();
                o.status = status;
                o.provider_updated_at = Some(t + TimeDelta::minutes(minutes));
                o
            };
            if k + 1 < ch.len {
                let mut canceled = later(ObservedStatus::Is(AppointmentStatus::Rescheduled), 5);
                canceled.canceled_at = canceled.provider_updated_at;
                canceled.canceled_by = Some(Canceler::Invitee);
                canceled.cancel_reason = Some("moving it".into());
                canceled.rescheduled_to_key = Some(key(format!("c{c}i{}", k + 1)));
                out.push(canceled);
            } else {
                match ch.end {
                    1 => {
                        let mut canceled = later(ObservedStatus::Is(AppointmentStatus::Canceled), 5);
                        canceled.canceled_at = canceled.provider_updated_at;
                        canceled.canceled_by = Some(Canceler::Host);
                        out.push(canceled);
                    }
                    2 => out.push(no_show(later(ObservedStatus::Is(AppointmentStatus::NoShow), 7))),
                    3 => {
                        out.push(no_show(later(ObservedStatus::Is(AppointmentStatus::NoShow), 7)));
                        out.push(no_show(later(ObservedStatus::NoShowCleared, 8)));
                    }
                    4 => {
                        let mut canceled = later(ObservedStatus::Is(AppointmentStatus::Canceled), 5);
                        canceled.canceled_at = canceled.provider_updated_at;
                        canceled.canceled_by = Some(Canceler::Host);
                        out.push(canceled);
                        out.push(no_show(later(ObservedStatus::Is(AppointmentStatus::NoShow), 7)));
                        out.push(no_show(later(ObservedStatus::NoShowCleared, 8)));
                    }
                    _ => {}
                }
            }
            out.push(created);
        }
    }
    for (g, appt) in ghls.iter().enumerate() {
        let booked = base() + TimeDelta::minutes(appt.offset_minutes);
        for (m, (status, shift)) in appt.steps.iter().enumerate() {
            let start = start_of(appt.past, appt.offset_minutes) + TimeDelta::days(*shift);
            // A deletion is final: whatever came before or after it in provider time, the row ends
            // canceled, in any delivery order.
            let observed = GHL_STATUSES.get(*status).map_or(ObservedStatus::Deleted, |s| ObservedStatus::Is(*s));
            let mut o = Observation::new(lead, Provider::Ghl, observed, AppointmentSource::Webhook);
            o.key = Some(key(format!("g{g}")));
            o.start_at = Some(start);
            o.end_at = Some(start + TimeDelta::minutes(30));
            o.provider_created_at = Some(booked);
            o.provider_updated_at = Some(booked + TimeDelta::minutes(3 * m as i64));
            o.tasks = TaskPolicy::All;
            out.push(o);
        }
    }
    out
}

/// A no-show delivery carries only the invitee (and the lead, resolved by the caller).
fn no_show(mut o: Observation) -> Observation {
    o.start_at = None;
    o.end_at = None;
    o.provider_created_at = None;
    o.rescheduled_from_key = None;
    o
}

async fn deliver(lead: &str, obs: &[Observation]) -> (Vec<AppointmentSnapshot>, Vec<Option<String>>, Vec<(String, String)>) {
    let db = DB.get_or_init(|| async { shared::testing::test_database().await }).await;
    let client = db.client().await;
    shared::testing::seed_client(&client, CLIENT, None).await.unwrap();
    seed_lead(&client, CLIENT, lead, None).await.unwrap();
    let store = db.store().await;
    for o in obs {
        let rt = store.round_trips();
        store.record(o.clone()).await.unwrap();
        assert!(store.round_trips() - rt <= 3, "more than 3 round trips");
    }
    assert_eq!(keys_held_twice(&client, lead).await, 0, "duplicate rows for one provider key");
    let (mut rows, rollup, tasks) = snapshot(&client, lead).await;
    let prefix = format!("{lead}:");
    for r in &mut rows {
        // Each delivery order has a lead of its own, whose id prefixes the keys.
        r.lead.clear();
        for key in [&mut r.key, &mut r.linked_from, &mut r.from_key, &mut r.to_key] {
            *key = key.as_ref().map(|k| k.trim_start_matches(&prefix).to_string());
        }
        r.status_changed_at = chrono::NaiveDateTime::default();
    }
    let tasks =
        tasks.into_iter().map(|(k, t)| (k.trim_start_matches(&prefix).to_string(), t)).filter(|(k, _)| k.starts_with('c')).collect();
    (rows, rollup, tasks)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_order_and_repetition_ends_where_in_order_delivery_ends(
        chains in prop::collection::vec(chain(), 0..=2),
        ghls in prop::collection::vec(ghl_appt(), 0..=3),
        seed in any::<u64>(),
    ) {
        prop_assume!(!chains.is_empty() || !ghls.is_empty());
        let case = CASE.fetch_add(1, Ordering::Relaxed);
        let (ordered_lead, shuffled_lead) = (format!("p{case}a"), format!("p{case}b"));

        let mut in_order = observations(&ordered_lead, &chains, &ghls);
        in_order.sort_by(|a, b| (a.provider_updated_at, &a.key).cmp(&(b.provider_updated_at, &b.key)));

        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut shuffled = observations(&shuffled_lead, &chains, &ghls);
        shuffled.shuffle(&mut rng);
        for _ in 0..rng.random_range(0..=shuffled.len()) {
            let dup = shuffled[rng.random_range(0..shuffled.len())].clone();
            let at = rng.random_range(0..=shuffled.len());
            shuffled.insert(at, dup);
        }

        let (expected, shuffled_result) = RUNTIME.block_on(async {
            (deliver(&ordered_lead, &in_order).await, deliver(&shuffled_lead, &shuffled).await)
        });
        prop_assert_eq!(&expected.0, &shuffled_result.0, "rows");
        prop_assert_eq!(&expected.1, &shuffled_result.1, "rollup");
        prop_assert_eq!(&expected.2, &shuffled_result.2, "calendly tasks");
        for (g, appt) in ghls.iter().enumerate() {
            if appt.steps.iter().any(|(status, _)| *status == GHL_STATUSES.len()) {
                let key = format!("g{g}");
                let row = expected.0.iter().find(|r| r.key.as_deref() == Some(key.as_str())).expect("the appointment's row");
                prop_assert_eq!(row.status.as_str(), "CANCELED", "a deleted appointment is active again: {:?}", appt);
            }
        }

        // I3: delivering everything again changes nothing.
        let again = RUNTIME.block_on(async {
            let db = DB.get().unwrap();
            let client = db.client().await;
            let before = count(&client, r#"SELECT count(*) FROM "AppointmentEvent""#).await;
            let store = db.store().await;
            for o in &in_order {
                let outcome = store.record(o.clone()).await.unwrap();
                assert_eq!(outcome.change, shared::Change::Unchanged, "redelivery changed something");
            }
            let after = count(&client, r#"SELECT count(*) FROM "AppointmentEvent""#).await;
            (before, after)
        });
        prop_assert_eq!(again.0, again.1);
    }
}
