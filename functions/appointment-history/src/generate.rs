//! A synthetic data set for the benchmark, generated set-based (`generate_series`) inside
//! PostgreSQL: a few workspaces, `leads` leads, `appointments` appointments spread evenly over them
//! (about 5 each at the default sizes), a change log, and one probe lead with exactly
//! [`PROBE_APPOINTMENTS`] appointments (ties on start, missing starts, reschedule chains of three),
//! the history the benchmark reads.
//!
//! Local data only: FK triggers are switched off for the bulk inserts
//! (`session_replication_role = replica`, superuser) because the generated rows are consistent by
//! construction; that is what keeps 1,000,000 appointments within a couple of minutes on 2 cores.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

pub const PROBE_CLIENT: &str = "gen-client-probe";
pub const PROBE_LEAD: &str = "gen-lead-probe";
pub const PROBE_APPOINTMENTS: i32 = 50;
pub const WORKSPACES: i32 = 20;

#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub leads: i32,
    pub appointments: i32,
    /// Also write the change log (one `created` event per appointment, plus a `status_changed`
    /// one for each that is no longer CONFIRMED).
    pub events: bool,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes { leads: 200_000, appointments: 1_000_000, events: true }
    }
}

/// How long each step took.
#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<(&'static str, Duration)>,
    pub skipped: bool,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.skipped {
            return write!(f, "data set already present; nothing generated");
        }
        let total: Duration = self.steps.iter().map(|(_, d)| *d).sum();
        for (name, d) in &self.steps {
            writeln!(f, "  {name:<28} {:>8.1} s", d.as_secs_f64())?;
        }
        write!(f, "  {:<28} {:>8.1} s", "total", total.as_secs_f64())
    }
}

/// Generates the data set into a migrated database (with the CRM baseline tables). Does nothing
/// when the probe lead already exists.
pub async fn generate(db: &Client, sizes: Sizes) -> Result<Report, tokio_postgres::Error> {
    let mut report = Report::default();
    if db.query_opt(r#"SELECT 1 FROM "Lead" WHERE "id" = $1"#, &[&PROBE_LEAD]).await?.is_some() {
        report.skipped = true;
        return Ok(report);
    }
    let leads = sizes.leads.max(1);
    let bulk = (sizes.appointments - PROBE_APPOINTMENTS).max(0);
    db.batch_execute(
        "SET session_replication_role = replica; SET synchronous_commit = off; SET work_mem = '256MB'; SET maintenance_work_mem = '512MB'",
    )
    .await?;

    let mut step = |name: &'static str, started: Instant| report.steps.push((name, started.elapsed()));

    let t = Instant::now();
    db.execute(
        r#"INSERT INTO "Client" ("id", "name", "timezone", "updatedAt")
           SELECT 'gen-client-' || w, 'Generated workspace ' || w, 'America/New_York', now()
             FROM generate_series(1, $1::int) w
           UNION ALL SELECT $2, 'Probe workspace', 'America/New_York', now()"#,
        &[&WORKSPACES, &PROBE_CLIENT],
    )
    .await?;
    db.execute(
        r#"INSERT INTO "Lead" ("id", "clientId", "updatedAt")
           SELECT 'gen-lead-' || lpad(g::text, 7, '0'), 'gen-client-' || (1 + g % $2::int), now()
             FROM generate_series(1, $1::int) g
           UNION ALL SELECT $3, $4, now()"#,
        &[&leads, &WORKSPACES, &PROBE_LEAD, &PROBE_CLIENT],
    )
    .await?;
    step("clients and leads", t);

    // Appointment k belongs to lead 1 + (k - 1) % leads; starts spread over four years (one in 40
    // missing), statuses in realistic proportions, providers alternating.
    let t = Instant::now();
    db.execute(
        r#"INSERT INTO "Appointment" ("id", "leadId", "provider", "ghlAppointmentId", "calendlyInviteeUri",
               "calendlyScheduledEventUri", "startAt", "endAt", "timezone", "status", "statusChangedAt", "canceledAt",
               "canceledBy", "providerCreatedAt", "providerUpdatedAt", "source", "createdAt", "updatedAt")
           SELECT gen_random_uuid()::text,
                  'gen-lead-' || lpad((1 + (k - 1) % $2::int)::text, 7, '0'),
                  (CASE WHEN k % 2 = 0 THEN 'GHL' ELSE 'CALENDLY' END)::"MeetingBookingProvider",
                  CASE WHEN k % 2 = 0 THEN 'gen-ghl-' || k END,
                  CASE WHEN k % 2 = 1 THEN 'https://api.calendly.com/scheduled_events/gen-ev-' || k || '/invitees/gen-inv-' || k END,
                  CASE WHEN k % 2 = 1 THEN 'https://api.calendly.com/scheduled_events/gen-ev-' || k END,
                  s.start_at, s.start_at + interval '30 minutes', 'America/New_York',
                  st.status::"AppointmentStatus", s.booked + interval '1 day',
                  CASE WHEN st.status IN ('CANCELED', 'RESCHEDULED') THEN s.booked + interval '1 day' END,
                  CASE WHEN st.status IN ('CANCELED', 'RESCHEDULED') THEN 'invitee' END,
                  s.booked, s.booked + interval '1 day',
                  (CASE k % 7 WHEN 0 THEN 'RECONCILE_CRON' WHEN 1 THEN 'AUTO_BOOK' WHEN 2 THEN 'MIGRATION' ELSE 'WEBHOOK' END)::"AppointmentSource",
                  s.booked, s.booked + interval '1 day'
             FROM generate_series(1, $1::int) k
             CROSS JOIN LATERAL (SELECT
                  CASE WHEN k % 40 = 0 THEN NULL
                       ELSE timestamp '2023-01-01 09:00' + ((k::bigint * 7919) % 1461) * interval '1 day' + (k % 8) * interval '1 hour' END AS start_at,
                  timestamp '2023-01-01 09:00' + ((k::bigint * 7919) % 1461) * interval '1 day' - interval '7 days' AS booked) s
             CROSS JOIN LATERAL (SELECT CASE (k / 2) % 10 WHEN 6 THEN 'CANCELED' WHEN 7 THEN 'RESCHEDULED' WHEN 8 THEN 'SHOWED'
                                                      WHEN 9 THEN 'NO_SHOW' ELSE 'CONFIRMED' END AS status) st"#,
        &[&bulk, &leads],
    )
    .await?;
    step("appointments", t);

    // The probe lead: 50 appointments with deterministic ids; every third start repeats the one
    // before (ties), two have no start, and the first 30 form ten reschedule chains of three.
    let t = Instant::now();
    db.execute(
        r#"INSERT INTO "Appointment" ("id", "leadId", "provider", "ghlAppointmentId", "startAt", "endAt", "timezone", "status",
               "statusChangedAt", "canceledAt", "canceledBy", "rescheduledFromId", "providerCreatedAt", "providerUpdatedAt",
               "source", "createdAt", "updatedAt")
           SELECT 'gen-probe-' || lpad(i::text, 2, '0'), $1, 'GHL', 'gen-probe-ghl-' || i,
                  s.start_at, s.start_at + interval '45 minutes', 'America/Chicago',
                  st.status::"AppointmentStatus", timestamp '2026-01-01' + i * interval '1 hour',
                  CASE WHEN st.status IN ('CANCELED', 'RESCHEDULED') THEN timestamp '2026-01-01' + i * interval '1 hour' END,
                  CASE WHEN st.status IN ('CANCELED', 'RESCHEDULED') THEN 'host' END,
                  CASE WHEN i <= 30 AND i % 3 <> 1 THEN 'gen-probe-' || lpad((i - 1)::text, 2, '0') END,
                  timestamp '2025-12-01' + i * interval '1 hour', timestamp '2026-01-01' + i * interval '1 hour',
                  (CASE WHEN i % 2 = 0 THEN 'AUTO_BOOK' ELSE 'WEBHOOK' END)::"AppointmentSource",
                  timestamp '2025-12-01' + i * interval '1 hour', timestamp '2026-01-01' + i * interval '1 hour'
             FROM generate_series(1, $2::int) i
             CROSS JOIN LATERAL (SELECT CASE WHEN i IN (17, 41) THEN NULL
                                             ELSE timestamp '2026-02-01 15:00' + (i - i % 3) * interval '1 day' END AS start_at) s
             CROSS JOIN LATERAL (SELECT CASE WHEN i <= 30 AND i % 3 <> 0 THEN 'RESCHEDULED'
                                             WHEN i % 5 = 0 THEN 'CANCELED'
                                             WHEN i % 7 = 0 THEN 'SHOWED' ELSE 'CONFIRMED' END AS status) st"#,
        &[&PROBE_LEAD, &PROBE_APPOINTMENTS],
    )
    .await?;
    db.execute(
        r#"UPDATE "Lead" SET "appointmentStartAt" = a."startAt", "appointmentEndAt" = a."endAt", "appointmentStatus" = 'confirmed',
                  "appointmentProvider" = 'GHL', "appointmentSource" = 'webhook', "appointmentLastCheckedAt" = timestamp '2026-03-01'
             FROM "Appointment" a WHERE "Lead"."id" = $1 AND a."id" = 'gen-probe-49'"#,
        &[&PROBE_LEAD],
    )
    .await?;
    step("probe lead", t);

    if sizes.events {
        let t = Instant::now();
        db.batch_execute(
            r#"INSERT INTO "AppointmentEvent" ("id", "appointmentId", "leadId", "kind", "source", "oldValue", "newValue", "providerAt", "recordedAt")
               SELECT gen_random_uuid()::text, a."id", a."leadId", 'created', a."source", NULL, 'CONFIRMED', a."providerCreatedAt", a."createdAt"
                 FROM "Appointment" a
               UNION ALL
               SELECT gen_random_uuid()::text, a."id", a."leadId", 'status_changed', a."source", 'CONFIRMED', a."status"::text,
                      a."providerUpdatedAt", a."updatedAt"
                 FROM "Appointment" a WHERE a."status" <> 'CONFIRMED'"#,
        )
        .await?;
        step("change log", t);
    }

    let t = Instant::now();
    db.batch_execute("RESET session_replication_role").await?;
    // Its own statement: VACUUM cannot run in the implicit transaction of a multi-statement query.
    db.batch_execute(r#"VACUUM ANALYZE "Client", "Lead", "Appointment", "AppointmentEvent""#).await?;
    step("vacuum analyze", t);
    Ok(report)
}
