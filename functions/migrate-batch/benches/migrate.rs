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
//!    (and a leaner hand-written INSERT ... SELECT of the same rows on copy C, for comparison);
//! 5. checks they made the same rows, and prints time ratio and the longest batch (an upper bound
//!    of how long a batch held its lead locks). Exits non-zero when a target is missed
//!    (ratio > 1.5 or a batch over 1 s).

use std::time::{Duration, Instant};

use migrate_batch::{invoke, Limits, Mode};
use shared::testing::{server_url, with_database, APPOINTMENT_DIGEST_SQL, PHASE28_LEADS_SQL};
use shared::write_path::migration_batch::INSERT_BATCH;
use shared::DbSettings;

/// A second, leaner anchor: the same inserts written as plainly as possible (same mapping and
/// matching, no warnings, no counts, no dedupe of keys shared by two leads, which this data set
/// does not have). It shows what the batch statement's bookkeeping costs.
const LEAN_ANCHOR: &str = r#"
WITH m AS MATERIALIZED (
    SELECT l."id" AS lead_id, l."appointmentStartAt" AS start_at, l."appointmentEndAt" AS end_at,
           l."appointmentCanceledAt" AS canceled_at, coalesce(lower(btrim(l."appointmentStatus", E' \t\r\n')), '') AS status_text,
           x.ghl_id, x.invitee_uri, x.event_uri,
           coalesce(l."appointmentProvider"::text,
                    CASE WHEN x.ghl_id IS NOT NULL AND x.invitee_uri IS NULL AND x.event_uri IS NULL THEN 'GHL'
                         WHEN x.ghl_id IS NULL AND (x.invitee_uri IS NOT NULL OR x.event_uri IS NOT NULL) THEN 'CALENDLY' END,
                    c."meetingBookingProvider"::text) AS provider,
           EXISTS (SELECT 1 FROM "Appointment" a WHERE a."leadId" = l."id" AND a."provider" = l."appointmentProvider"
                      AND a."startAt" IS NOT DISTINCT FROM l."appointmentStartAt" AND a."endAt" IS NOT DISTINCT FROM l."appointmentEndAt"
                      AND a."canceledAt" IS NOT DISTINCT FROM l."appointmentCanceledAt"
                      AND (CASE WHEN a."status" IN ('CONFIRMED', 'SHOWED', 'NO_SHOW') THEN 'confirmed' ELSE 'canceled' END) = l."appointmentStatus"
                      AND lower(a."source"::text) = l."appointmentSource") AS mirrored
      FROM "Lead" l JOIN "Client" c ON c."id" = l."clientId"
     CROSS JOIN LATERAL (SELECT CASE WHEN btrim(l."ghlAppointmentId", E' \t\r\n') <> '' THEN l."ghlAppointmentId" END AS ghl_id,
                                CASE WHEN btrim(l."calendlyInviteeUri", E' \t\r\n') <> '' THEN l."calendlyInviteeUri" END AS invitee_uri,
                                CASE WHEN btrim(l."calendlyScheduledEventUri", E' \t\r\n') <> '' THEN l."calendlyScheduledEventUri" END AS event_uri) x
     WHERE l."appointmentStartAt" IS NOT NULL OR l."appointmentEndAt" IS NOT NULL OR l."appointmentCanceledAt" IS NOT NULL
        OR btrim(l."appointmentStatus", E' \t\r\n') <> '' OR x.ghl_id IS NOT NULL OR x.invitee_uri IS NOT NULL OR x.event_uri IS NOT NULL
),
r AS MATERIALIZED (
    SELECT m.*, CASE WHEN octet_length(k.raw_key) <= 512 THEN k.raw_key END AS key,
           m.status_text IN ('canceled', 'cancelled') OR (m.status_text = '' AND m.canceled_at IS NOT NULL) AS canceled
      FROM m CROSS JOIN LATERAL (SELECT CASE m.provider WHEN 'GHL' THEN m.ghl_id WHEN 'CALENDLY' THEN m.invitee_uri END AS raw_key) k
     WHERE m.provider IS NOT NULL AND NOT m.mirrored
),
ins AS (
    INSERT INTO "Appointment" ("id", "leadId", "provider", "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri",
                               "startAt", "endAt", "status", "statusChangedAt", "canceledAt", "source", "createdAt", "updatedAt")
    SELECT gen_random_uuid()::text, r.lead_id, r.provider::"MeetingBookingProvider",
           CASE WHEN r.provider = 'GHL' THEN r.key END, CASE WHEN r.provider = 'CALENDLY' THEN r.key END,
           CASE WHEN r.provider = 'CALENDLY' THEN r.event_uri END,
           r.start_at, CASE WHEN r.end_at < r.start_at THEN NULL ELSE r.end_at END,
           (CASE WHEN r.canceled THEN 'CANCELED' ELSE 'CONFIRMED' END)::"AppointmentStatus",
           $1::timestamp(3), CASE WHEN r.canceled THEN r.canceled_at END, 'MIGRATION'::"AppointmentSource", $1::timestamp(3), $1::timestamp(3)
      FROM r
     WHERE NOT EXISTS (SELECT 1 FROM "Appointment" a WHERE r.provider = 'GHL' AND a."ghlAppointmentId" = r.key)
       AND NOT EXISTS (SELECT 1 FROM "Appointment" a WHERE r.provider = 'CALENDLY' AND a."calendlyInviteeUri" = r.key)
       AND NOT ((r.key IS NULL OR r.start_at IS NOT NULL) AND EXISTS (
               SELECT 1 FROM "Appointment" a
                WHERE a."leadId" = r.lead_id AND a."provider" = r.provider::"MeetingBookingProvider"
                  AND a."startAt" IS NOT DISTINCT FROM r.start_at
                  AND ((r.key IS NULL AND r.start_at IS NOT NULL)
                       OR (CASE a."provider" WHEN 'GHL' THEN a."ghlAppointmentId" ELSE a."calendlyInviteeUri" END) IS NULL)))
    RETURNING "id", "leadId", "status"
)
INSERT INTO "AppointmentEvent" ("id", "appointmentId", "leadId", "kind", "source", "newValue", "recordedAt")
SELECT gen_random_uuid()::text, ins."id", ins."leadId", 'created', 'MIGRATION'::"AppointmentSource", ins."status"::text, $1::timestamp(3)
  FROM ins
"#;

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
        db.batch_execute(&PHASE28_LEADS_SQL.replace("$N", &leads.to_string())).await.expect("generate");
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
    for suffix in ["anchor", "batched", "lean"] {
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
    let max_key = shared::domain::MAX_KEY_BYTES as i32;
    let row = anchor_db.query_one(INSERT_BATCH, &[&"", &last, &None::<String>, &now, &max_key]).await.expect("anchor");
    anchor_db.batch_execute("COMMIT").await.unwrap();
    let anchor = started.elapsed();
    let anchor_created: i64 = row.get(2);
    println!("anchor  (one INSERT ... SELECT): {anchor:>10.2?}  created {anchor_created}");

    // The lean anchor, on the third copy.
    let lean_db = DbSettings::from_url(&copies[2]).unwrap().connect().await.unwrap();
    lean_db.batch_execute("SELECT count(*) FROM \"Lead\"").await.unwrap();
    let started = Instant::now();
    let lean_events = lean_db.execute(LEAN_ANCHOR, &[&now]).await.expect("lean anchor");
    let lean = started.elapsed();
    println!("lean anchor (plain INSERT ... SELECT): {lean:>10.2?}  created {lean_events}");

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
    let a = anchor_db.query_one(APPOINTMENT_DIGEST_SQL, &[]).await.unwrap();
    let b = batched_db.query_one(APPOINTMENT_DIGEST_SQL, &[]).await.unwrap();
    let c = lean_db.query_one(APPOINTMENT_DIGEST_SQL, &[]).await.unwrap();
    let digest = |r: &tokio_postgres::Row| (r.get::<_, i64>(0), r.get::<_, Option<String>>(1));
    let same = digest(&a) == digest(&b);
    println!("same rows as the anchor: {same}; as the lean anchor: {} ({} appointments)", digest(&c) == digest(&b), b.get::<_, i64>(0));

    let ratio = batched.as_secs_f64() / anchor.as_secs_f64();
    let longest = Duration::from_millis(out.max_batch_ms);
    println!("ratio apply/anchor: {ratio:.2} (target <= 1.5); apply/lean anchor: {:.2}", batched.as_secs_f64() / lean.as_secs_f64());
    println!("longest batch (upper bound of lead-lock hold): {longest:.2?} (target <= 1 s)");

    drop((anchor_db, batched_db, lean_db, store));
    tokio::time::sleep(Duration::from_millis(200)).await;
    for name in copies.iter().map(|u| u.rsplit('/').next().unwrap().to_string()).chain([source.name.clone()]) {
        let _ = admin.batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)).await;
    }
    let ok = same
        && ratio <= 1.5
        && longest <= Duration::from_secs(1)
        && i64::try_from(out.counts.migration.appointments_created).ok() == Some(anchor_created);
    println!("{}", if ok { "PASS" } else { "FAIL" });
    if !ok {
        std::process::exit(1);
    }
}
