//! apply in batches against the anchor: one set-based `INSERT ... SELECT` doing the same inserts.
//!
//!     cargo bench -p migrate-batch --bench migrate
//!
//! Environment: MIGRATE_BENCH_LEADS (default 1,000,000), MIGRATE_BENCH_BATCH (leads per batch,
//! default 2,000), DATABASE_URL (a server to use; default: a throwaway embedded PostgreSQL).
//!
//! 1. generates N leads with mixed Phase 28 rollup data (generate_series), 5% of them with a
//!    webhook appointment already present, in one database;
//! 2. copies it twice (CREATE DATABASE ... TEMPLATE);
//! 3. anchor: on copy A, the batch statement over every lead at once, one transaction, no locks;
//! 4. apply: on copy B, the real invocation (run row, lead locks, checkpoints), in batches;
//! 5. checks both made the same rows, and prints time ratio and the longest batch (an upper bound
//!    of how long a batch held its lead locks). Exits non-zero when a target is missed
//!    (ratio > 1.5 or a batch over 1 s).

use std::time::{Duration, Instant};

use migrate_batch::{invoke, Limits, Mode};
use shared::testing::{server_url, with_database};
use shared::write_path::migration_batch::INSERT_BATCH;
use shared::DbSettings;

const GENERATE: &str = r#"
INSERT INTO "Client" ("id", "name", "timezone", "meetingBookingProvider", "updatedAt")
SELECT 'client_' || lpad(g::text, 3, '0'), 'Client ' || g, 'America/New_York',
       (CASE g % 3 WHEN 0 THEN 'CALENDLY' WHEN 1 THEN 'GHL' END)::"MeetingBookingProvider", now()
  FROM generate_series(1, 100) g;

INSERT INTO "Lead" ("id", "clientId", "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri",
                    "appointmentStartAt", "appointmentEndAt", "appointmentStatus", "appointmentCanceledAt",
                    "appointmentProvider", "updatedAt")
SELECT 'lead_' || lpad(g::text, 8, '0'),
       'client_' || lpad((1 + g % 100)::text, 3, '0'),
       CASE WHEN k.kind = 'ghl' THEN 'ghl_appt_' || g END,
       CASE WHEN k.kind = 'cal' THEN 'https://api.calendly.com/scheduled_events/ev' || g || '/invitees/inv' || g END,
       CASE WHEN k.kind = 'cal' THEN 'https://api.calendly.com/scheduled_events/ev' || g END,
       CASE WHEN k.kind <> 'none' AND g % 20 <> 7 THEN k.start END,
       CASE WHEN k.kind <> 'none' AND g % 20 <> 7 THEN k.start + interval '30 minutes' END,
       CASE WHEN k.kind = 'none' THEN NULL WHEN g % 5 = 0 THEN 'canceled' ELSE 'confirmed' END,
       CASE WHEN k.kind <> 'none' AND g % 5 = 0 THEN k.start - interval '1 day' END,
       (CASE WHEN k.kind = 'ghl' THEN 'GHL' WHEN k.kind = 'cal' THEN 'CALENDLY'
             WHEN k.kind = 'keyless' AND g % 2 = 0 THEN 'GHL' END)::"MeetingBookingProvider",
       now()
  FROM generate_series(1, $N) g
 CROSS JOIN LATERAL (SELECT CASE WHEN g % 10 = 0 THEN 'none'
                                 WHEN g % 10 IN (1, 2, 3, 4) THEN 'cal'
                                 WHEN g % 10 IN (5, 6, 7) THEN 'ghl'
                                 ELSE 'keyless' END AS kind,
                            timestamp '2024-01-01' + (g % 100000) * interval '17 minutes' AS start) k;

-- Webhooks got there first for 5% of the leads (all Calendly ones with g % 20 = 1).
INSERT INTO "Appointment" ("id", "leadId", "provider", "calendlyInviteeUri", "calendlyScheduledEventUri", "startAt", "endAt",
                           "status", "statusChangedAt", "providerUpdatedAt", "source", "createdAt", "updatedAt")
SELECT gen_random_uuid()::text, l."id", 'CALENDLY', l."calendlyInviteeUri", l."calendlyScheduledEventUri",
       l."appointmentStartAt", l."appointmentEndAt", 'CONFIRMED', now(), now(), 'WEBHOOK', now(), now()
  FROM "Lead" l
 WHERE substr(l."id", 6)::int % 20 = 1;
"#;

/// The same rows, whatever their ids and write times.
const DIGEST: &str = r#"SELECT count(*), md5(string_agg(concat_ws('|', "leadId", "provider", "ghlAppointmentId", "calendlyInviteeUri",
       "calendlyScheduledEventUri", "startAt", "endAt", "status", "canceledAt", "source"), ',' ORDER BY "leadId", "source"))
  FROM "Appointment""#;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let leads = env_number("MIGRATE_BENCH_LEADS", 1_000_000);
    let batch = env_number("MIGRATE_BENCH_BATCH", 2_000) as u32;
    println!("migrate-batch bench: {leads} leads, batches of {batch}");

    let server = server_url().await.expect("database server");
    let admin = DbSettings::from_url(&server).unwrap().connect().await.unwrap();
    let source = shared::testing::test_database().await;
    {
        let db = source.client().await;
        let started = Instant::now();
        db.batch_execute(&GENERATE.replace("$N", &leads.to_string())).await.expect("generate");
        db.batch_execute("VACUUM ANALYZE").await.unwrap();
        let (with_data, present): (i64, i64) = {
            let r = db
                .query_one(
                    r#"SELECT count(*) FILTER (WHERE "appointmentStatus" IS NOT NULL), (SELECT count(*) FROM "Appointment") FROM "Lead""#,
                    &[],
                )
                .await
                .unwrap();
            (r.get(0), r.get(1))
        };
        println!("generated in {:.1?}: {with_data} leads with data, {present} webhook appointments already present", started.elapsed());
    }
    // Let the generator's backend go before copying.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut copies = Vec::new();
    for suffix in ["anchor", "batched"] {
        let name = format!("{}_{suffix}", source.name);
        admin.batch_execute(&format!(r#"CREATE DATABASE "{name}" TEMPLATE "{}""#, source.name)).await.expect("copy");
        copies.push(with_database(&server, &name).unwrap());
    }

    // Anchor: the whole table in one statement.
    let anchor_db = DbSettings::from_url(&copies[0]).unwrap().connect().await.unwrap();
    anchor_db.batch_execute("SELECT count(*) FROM \"Lead\"").await.unwrap();
    let last: String = anchor_db.query_one(r#"SELECT max("id") FROM "Lead""#, &[]).await.unwrap().get(0);
    let now = chrono::Utc::now().naive_utc();
    let started = Instant::now();
    anchor_db.batch_execute("BEGIN").await.unwrap();
    let row = anchor_db.query_one(INSERT_BATCH, &[&"", &last, &None::<String>, &now]).await.expect("anchor");
    anchor_db.batch_execute("COMMIT").await.unwrap();
    let anchor = started.elapsed();
    let anchor_created: i64 = row.get(2);
    println!("anchor  (one INSERT ... SELECT): {anchor:>10.2?}  created {anchor_created}");

    // apply in batches through the function's own code.
    let mut settings = DbSettings::from_url(&copies[1]).unwrap();
    settings.migrate_on_connect = false;
    let store = shared::Store::connect(settings).await.unwrap();
    let mut input = migrate_batch::parse_input(&serde_json::json!({"mode": "apply"})).unwrap();
    input.batch_size = batch;
    input.batch_size_given = true;
    assert_eq!(input.mode, Mode::Apply);
    let trips = store.round_trips();
    let started = Instant::now();
    let out = invoke(&store, &input, &Limits::default()).await.expect("apply");
    let batched = started.elapsed();
    assert!(out.done);
    let batches = out.batches.max(1);
    println!(
        "apply   ({} batches):            {batched:>10.2?}  created {}  already present {}  skipped {}+{}  round trips/batch {:.1}",
        out.batches,
        out.counts.migration.appointments_created,
        out.counts.migration.already_present,
        out.counts.skipped_without_data,
        out.counts.migration.skipped_unknown_provider,
        (store.round_trips() - trips) as f64 / f64::from(batches)
    );

    // Same rows.
    let batched_db = DbSettings::from_url(&copies[1]).unwrap().connect().await.unwrap();
    let a = anchor_db.query_one(DIGEST, &[]).await.unwrap();
    let b = batched_db.query_one(DIGEST, &[]).await.unwrap();
    let same = a.get::<_, i64>(0) == b.get::<_, i64>(0) && a.get::<_, Option<String>>(1) == b.get::<_, Option<String>>(1);
    println!("same rows as the anchor: {same} ({} appointments)", b.get::<_, i64>(0));

    let ratio = batched.as_secs_f64() / anchor.as_secs_f64();
    let longest = Duration::from_millis(out.max_batch_ms);
    println!("ratio apply/anchor: {ratio:.2} (target <= 1.5)");
    println!("longest batch (upper bound of lead-lock hold): {longest:.2?} (target <= 1 s)");

    drop((anchor_db, batched_db, store));
    tokio::time::sleep(Duration::from_millis(200)).await;
    for name in copies.iter().map(|u| u.rsplit('/').next().unwrap().to_string()).chain([source.name.clone()]) {
        let _ = admin.batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)).await;
    }
    let ok = same && ratio <= 1.5 && longest <= Duration::from_secs(1) && i64::try_from(out.counts.migration.appointments_created).ok() == Some(anchor_created);
    println!("{}", if ok { "PASS" } else { "FAIL" });
    if !ok {
        std::process::exit(1);
    }
}
