//! Properties on a real PostgreSQL, over random leads:
//! - a run killed at random points (stopped after k batches, or its connection dropped before a
//!   batch's COMMIT) and resumed ends in exactly the rows and counts of an uninterrupted run, and a
//!   dry-run counts exactly what apply does;
//! - the set-based batch path makes the same appointments and events as `Store::record` of each
//!   lead's MIGRATION observation ([`migration_for`]).

mod common;

use chrono::{DateTime, Utc};
use common::*;
use migrate_batch::{invoke, Limits, MigrateError, Mode, Output};
use proptest::prelude::*;
use shared::domain::{AppointmentSource, AppointmentStatus, Observation, ObservedStatus, Provider};
use shared::write_path::migration_batch::{migration_for, rollup_mirrors_a_row, LeadMigration};

const CLIENTS: [(&str, Option<Provider>); 3] = [("c_cal", Some(Provider::Calendly)), ("c_ghl", Some(Provider::Ghl)), ("c_none", None)];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

fn time(slot: u8) -> DateTime<Utc> {
    t(10 + u32::from(slot % 6), 9)
}

/// Raw material of one lead; `unique_keys` gives every lead its own provider ids.
#[derive(Clone, Debug)]
struct LeadGen {
    client: usize,
    provider: Option<Provider>,
    ghl: Option<u8>,
    invitee: Option<u8>,
    event: bool,
    start: Option<u8>,
    end: Option<i64>,
    status: Option<&'static str>,
    canceled_at: Option<u8>,
}

fn provider() -> impl Strategy<Value = Option<Provider>> {
    prop_oneof![Just(None), Just(Some(Provider::Ghl)), Just(Some(Provider::Calendly))]
}

fn lead_gen() -> impl Strategy<Value = LeadGen> {
    (
        0..3usize,
        provider(),
        proptest::option::weighted(0.4, 0..6u8),
        proptest::option::weighted(0.4, 0..6u8),
        any::<bool>(),
        proptest::option::weighted(0.7, 0..6u8),
        proptest::option::weighted(0.7, prop_oneof![Just(30i64), Just(-30i64)]),
        prop_oneof![
            Just(None),
            Just(Some("confirmed")),
            Just(Some("canceled")),
            Just(Some(" Cancelled")),
            Just(Some("booked")),
            Just(Some(" "))
        ],
        proptest::option::weighted(0.3, 0..6u8),
    )
        .prop_map(|(client, provider, ghl, invitee, event, start, end, status, canceled_at)| LeadGen {
            client,
            provider,
            ghl,
            invitee,
            event,
            start,
            end,
            status,
            canceled_at,
        })
}

fn build_leads(gens: &[LeadGen], unique_keys: bool) -> Vec<Lead> {
    gens.iter()
        .enumerate()
        .map(|(i, g)| {
            // Shared pools make two leads claim the same provider id; unique keys do not.
            let key = |k: u8| if unique_keys { format!("{i}") } else { format!("{k}") };
            let start = g.start.map(time);
            let lead = Phase28Lead {
                lead_id: format!("lead_{i:03}"),
                appointment_provider: g.provider,
                ghl_appointment_id: g.ghl.map(|k| format!("g{}", key(k))),
                calendly_invitee_uri: g.invitee.map(|k| invitee(&key(k))),
                calendly_scheduled_event_uri: if g.event { Some(event(&format!("{i}"))) } else { None },
                start_at: start,
                end_at: g.end.and_then(|m| start.map(|s| s + minutes(m))),
                status: g.status.map(str::to_string),
                canceled_at: g.canceled_at.map(|s| time(s) - minutes(60 * 24)),
                client_provider: None,
            };
            (CLIENTS[g.client].0, lead)
        })
        .collect()
}

/// A webhook's complete row for a lead (what a provider delivery would have recorded first).
#[derive(Clone, Debug)]
struct WebhookGen {
    lead: usize,
    provider: Provider,
    /// Key taken from a lead's ids (index into the leads), or a fresh one.
    key_of: Option<usize>,
    start: u8,
    canceled: bool,
}

fn webhook_gen(leads: usize) -> impl Strategy<Value = WebhookGen> {
    (0..leads, prop_oneof![Just(Provider::Ghl), Just(Provider::Calendly)], proptest::option::of(0..leads), 0..6u8, any::<bool>())
        .prop_map(|(lead, provider, key_of, start, canceled)| WebhookGen { lead, provider, key_of, start, canceled })
}

/// Leads, and webhook deliveries that arrived for some of them before the migration.
fn leads_and_webhooks(
    leads: std::ops::Range<usize>,
    webhooks: std::ops::Range<usize>,
) -> impl Strategy<Value = (Vec<LeadGen>, Vec<WebhookGen>)> {
    proptest::collection::vec(lead_gen(), leads).prop_flat_map(move |g| {
        let n = g.len();
        (Just(g), proptest::collection::vec(webhook_gen(n), webhooks.clone()))
    })
}

fn webhook_observation(w: &WebhookGen, leads: &[Lead], n: usize) -> Observation {
    let status = if w.canceled { AppointmentStatus::Canceled } else { AppointmentStatus::Confirmed };
    let (_, lead) = &leads[w.lead];
    let mut o = Observation::new(lead.lead_id.as_str(), w.provider, ObservedStatus::Is(status), AppointmentSource::Webhook);
    let from = w.key_of.map(|j| &leads[j].1);
    o.key = Some(match w.provider {
        Provider::Ghl => from.and_then(|l| l.ghl_appointment_id.clone()).unwrap_or_else(|| format!("webhook-{n}")),
        Provider::Calendly => from.and_then(|l| l.calendly_invitee_uri.clone()).unwrap_or_else(|| invitee(&format!("webhook-{n}"))),
    });
    if w.provider == Provider::Calendly {
        o.calendly_event_uri = Some(event(&format!("webhook-{n}")));
    }
    o.start_at = Some(time(w.start));
    o.end_at = Some(time(w.start) + minutes(30));
    // Long before any migrated cancellation: no GHL reschedule pairing with migrated rows.
    o.provider_created_at = Some("2020-01-01T00:00:00Z".parse().unwrap());
    o.provider_updated_at = Some("2020-01-02T00:00:00Z".parse().unwrap());
    if w.canceled {
        o.canceled_at = Some("2020-01-02T00:00:00Z".parse().unwrap());
    }
    o
}

async fn seeded(leads: &[Lead], webhooks: &[WebhookGen]) -> (shared::testing::TestDb, tokio_postgres::Client, shared::Store) {
    let (db, client) = database().await;
    for (id, default) in CLIENTS {
        seed_client_preferring(&client, id, default).await.unwrap();
    }
    seed_phase28_leads(&client, leads).await.unwrap();
    let store = db.store().await;
    for (n, w) in webhooks.iter().enumerate() {
        // A key the webhook takes from another lead may already be elsewhere: the write path then
        // records on the key's lead (same client) or refuses it (another client's lead), which is
        // fine for a fixture.
        match store.record(webhook_observation(w, leads, n)).await {
            Ok(_) | Err(shared::Error::KeyOwnedElsewhere) => {}
            Err(e) => panic!("seeding webhook {n}: {e}"),
        }
    }
    (db, client, store)
}

/// Every lead's Phase 28 columns as stored, and whether its rollup mirrors one of its rows.
async fn phase28_leads(db: &tokio_postgres::Client) -> Vec<(Phase28Lead, bool)> {
    let leads = db
        .query(
            r#"SELECT l."appointmentStartAt", l."appointmentEndAt", l."appointmentStatus", l."appointmentCanceledAt",
                      l."appointmentProvider"::text, l."appointmentSource", l."id", c."meetingBookingProvider"::text,
                      l."ghlAppointmentId", l."calendlyInviteeUri", l."calendlyScheduledEventUri"
                 FROM "Lead" l JOIN "Client" c ON c."id" = l."clientId" ORDER BY l."id""#,
            &[],
        )
        .await
        .unwrap();
    let rows = db.query(concat!("SELECT ", shared::appointment_columns!(), r#" FROM "Appointment""#), &[]).await.unwrap();
    let rows = shared::write_path::repair::rows_by_lead(&rows).unwrap();
    let provider = |v: Option<&str>| v.map(|p| Provider::from_db(p).unwrap());
    leads
        .iter()
        .map(|l| {
            let stored = shared::write_path::rollup_from_row(l, 0).unwrap();
            let id: String = l.get(6);
            let mirrored = rows.get(&id).is_some_and(|r| rollup_mirrors_a_row(&stored, r));
            let lead = Phase28Lead {
                lead_id: id,
                appointment_provider: provider(l.get(4)),
                client_provider: provider(l.get(7)),
                ghl_appointment_id: l.get(8),
                calendly_invitee_uri: l.get(9),
                calendly_scheduled_event_uri: l.get(10),
                start_at: stored.start_at,
                end_at: stored.end_at,
                status: stored.status.clone(),
                canceled_at: stored.canceled_at,
            };
            (lead, mirrored)
        })
        .collect()
}

/// Runs apply with the given interruptions, then resumes to the end.
async fn interrupted_apply(store: &shared::Store, client: &tokio_postgres::Client, batch: u32, stops: &[(bool, u32)]) -> Output {
    let mut run_id: Option<String> = None;
    for &(crash, k) in stops {
        let mut input = input_with(Mode::Apply, None, batch);
        input.resume = run_id.clone();
        let limits = if crash {
            Limits { crash_before_commit_of_batch: Some(k + 1), ..Limits::default() }
        } else {
            Limits { max_batches: Some(k), ..Limits::default() }
        };
        match invoke(store, &input, &limits).await {
            Ok(out) => {
                run_id = Some(out.run_id.clone());
                if out.done {
                    return out;
                }
            }
            Err(MigrateError::Store(e)) if e.is_unavailable() => {
                let id: String = client
                    .query_one(
                        r#"SELECT "id" FROM "AppointmentMigrationRun" WHERE "mode" = 'apply' ORDER BY "startedAt" DESC, "id" DESC LIMIT 1"#,
                        &[],
                    )
                    .await
                    .unwrap()
                    .get(0);
                run_id = Some(id);
            }
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    let mut input = input_with(Mode::Apply, None, batch);
    input.resume = run_id;
    run_to_end(store, &input).await
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 32, ..ProptestConfig::default() })]

    #[test]
    fn killed_and_resumed_equals_uninterrupted_and_dry_run_equals_apply(
        (gens, webhooks) in leads_and_webhooks(1..40, 0..5),
        batch in 1..9u32,
        stops in proptest::collection::vec((any::<bool>(), 0..4u32), 0..5),
    ) {
        let leads = build_leads(&gens, false);
        runtime().block_on(async {
            let (_a, client_a, store_a) = seeded(&leads, &webhooks).await;
            let dry = run_to_end(&store_a, &input_with(Mode::DryRun, None, batch)).await;
            let whole = run_to_end(&store_a, &input_with(Mode::Apply, None, batch)).await;

            let (_b, client_b, store_b) = seeded(&leads, &webhooks).await;
            let resumed = interrupted_apply(&store_b, &client_b, batch, &stops).await;

            assert_eq!(appointments(&client_b).await, appointments(&client_a).await);
            assert_eq!(first_writes(&client_b).await, first_writes(&client_a).await);
            assert_eq!(events(&client_b).await, events(&client_a).await);
            assert_eq!(resumed.counts, whole.counts);
            assert_eq!(dry.counts, whole.counts, "a dry-run reports every count apply does");
            assert_eq!(count(&client_a, r#"SELECT count(*) FROM "AppointmentMigrationClaim""#).await, 0);
        });
    }

    /// The domain where `record` and the batch path coincide (see the module doc of
    /// `migration_batch`; leads whose rollup the write path wrote are not migrated by either): no two leads share a provider id (`record` would merge the second into
    /// the first's row), and rows that exist already are complete, keyed provider rows booked long
    /// before the migrated cancellations (`record` would otherwise fill their gaps, adopt keys or
    /// pair GHL reschedules, which the batch path leaves to the next provider observation).
    #[test]
    fn batch_path_makes_what_record_makes(
        (gens, webhooks) in leads_and_webhooks(1..30, 0..6),
        batch in 1..12u32,
    ) {
        let leads = build_leads(&gens, true);
        runtime().block_on(async {
            let (_a, client_a, store_a) = seeded(&leads, &webhooks).await;
            let out = run_to_end(&store_a, &input_with(Mode::Apply, None, batch)).await;

            let (_b, client_b, store_b) = seeded(&leads, &webhooks).await;
            let mut created = 0u64;
            // The leads as the migration finds them: seeding through the write path has rewritten
            // the rollups of leads that got a webhook row (their Phase 28 ids stay as they were).
            for (phase28, mirrored) in phase28_leads(&client_b).await {
                if mirrored {
                    continue;
                }
                if let LeadMigration::Observe { observation, .. } = migration_for(&phase28) {
                    // A key held by another client's lead: the write path refuses it, and the batch
                    // path counts the lead as present (keyOnOtherLead); neither writes.
                    match store_b.record(observation).await {
                        Ok(outcome) if outcome.change == shared::Change::Created => created += 1,
                        Ok(_) | Err(shared::Error::KeyOwnedElsewhere) => {}
                        Err(e) => panic!("record: {e}"),
                    }
                }
            }
            assert_eq!(appointments(&client_a).await, appointments(&client_b).await);
            assert_eq!(first_writes(&client_a).await, first_writes(&client_b).await);
            assert_eq!(events(&client_a).await, events(&client_b).await);
            assert_eq!(out.counts.migration.appointments_created, created);
        });
    }
}
