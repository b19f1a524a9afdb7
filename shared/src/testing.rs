//! What every crate's tests and benches share: real databases (each test gets its own, cloned from
//! a migrated template, on the server named by `DATABASE_URL` or, when it is unset, on a throwaway
//! cluster started for this process), seeding, readers that describe what a database holds
//! independently of generated ids, and a writer that captures log lines.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use tokio::sync::OnceCell;
use tokio_postgres::Client;

use crate::domain::{AppointmentSource, AppointmentStatus, Canceler, Observation, ObservedStatus, Provider, TaskPolicy};
use crate::error::{Error, Result};
use crate::migrate::{self, Baseline};
use crate::model::AppointmentRow;
use crate::store::{DbSettings, Store};
use crate::write_path::migration_batch::Phase28Lead;

pub mod bench;

/// Ids the provider fixtures (every crate's `tests/fixtures/`) carry, for tests and benches that
/// seed the leads the fixtures name.
pub mod fixture_ids {
    /// The GHL fixtures: one workspace, one contact, one appointment.
    pub mod ghl {
        /// The workspace (`locationId`).
        pub const LOCATION: &str = "loc_Rt5vB2nQ";
        /// The contact (`contactId`).
        pub const CONTACT: &str = "cnt_8Hj3Kd9Lm";
        /// The webhook fixtures' appointment id.
        pub const APPOINTMENT: &str = "Yq3FpL8wV2nR6tKc9sDx";
    }

    /// The Calendly fixtures: Dana's booking, rescheduled from a first invitee to a new one.
    pub mod calendly {
        /// The invitee email (Dana's).
        pub const EMAIL: &str = "dana.whitfield@example.com";
        /// The first booking's invitee (canceled by the reschedule).
        pub const OLD_INVITEE: &str = "6a1f0c2e-5b7d-4e38-9c0a-71d2e4f8b3a9";
        /// The booking after the reschedule: its scheduled event and invitee.
        pub const NEW_EVENT: &str = "9b7d1e45-2c6a-4f83-a0e9-d3b5c7f1e268";
        pub const NEW_INVITEE: &str = "e4c2a9b7-1f3d-4e6a-8c5b-0d9f7a3e1b26";
    }
}
pub mod bad_input;

static SERVER: OnceCell<String> = OnceCell::const_new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A database of one's own.
pub struct TestDb {
    pub url: String,
    pub name: String,
}

impl TestDb {
    pub fn settings(&self) -> DbSettings {
        DbSettings::from_url(&self.url).expect("test database URL")
    }

    /// A store on its own connection, the write path's statements prepared (so that a test counting
    /// round trips sees the first `record` cost what any later one does).
    pub async fn store(&self) -> Store {
        let store = Store::connect(self.settings()).await.expect("connect to test database");
        crate::write_path::prepare(&mut store.conn().await.expect("connected")).await.expect("prepare the write path");
        store
    }

    /// A plain client for assertions and setup.
    pub async fn client(&self) -> Client {
        self.settings().connect().await.expect("connect to test database")
    }
}

/// The server's maintenance URL: `DATABASE_URL`, or a cluster started for this process.
pub async fn server_url() -> Result<String> {
    SERVER
        .get_or_try_init(|| async {
            match crate::config::optional("DATABASE_URL") {
                Some(url) => Ok(url),
                None => tokio::task::spawn_blocking(crate::embedded::start_for_process)
                    .await
                    .map_err(|e| Error::Config(format!("embedded postgres: {e}")))?,
            }
        })
        .await
        .cloned()
}

/// A new, migrated, empty database (with the CRM baseline tables).
pub async fn test_database() -> TestDb {
    try_test_database().await.expect("test database")
}

/// A new database (as [`test_database`]) and a plain client on it.
pub async fn database() -> (TestDb, Client) {
    let db = test_database().await;
    let client = db.client().await;
    (db, client)
}

pub async fn try_test_database() -> Result<TestDb> {
    let server = server_url().await?;
    let template = template(&server).await?;
    let name = format!("appt_test_{}", uuid::Uuid::new_v4().simple());
    let admin = DbSettings::from_url(&server)?.connect().await?;
    // CREATE DATABASE ... TEMPLATE fails while another session is connected to the template; only
    // the template builder ever is, briefly, so retry a few times.
    let mut tries = 0;
    loop {
        match admin.batch_execute(&format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#)).await {
            Ok(()) => break,
            Err(e) if tries < 20 => {
                tries += 1;
                tracing::debug!(error = %e, "create test database: retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(TestDb { url: with_database(&server, &name)?, name })
}

/// Replaces the database name in a URL.
pub fn with_database(url: &str, database: &str) -> Result<String> {
    let mut u = url::Url::parse(url).map_err(|e| Error::Config(e.to_string()))?;
    u.set_path(&format!("/{database}"));
    Ok(u.to_string())
}

/// The template database for this set of migrations, built once per server.
async fn template(server: &str) -> Result<String> {
    TEMPLATE
        .get_or_try_init(|| async {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for (name, sql) in migrate::crm_baseline_sql().into_iter().chain(migrate::service_sql()) {
                for b in name.bytes().chain(sql.bytes()) {
                    hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
            }
            let name = format!("appt_tmpl_{hash:016x}");
            let admin = DbSettings::from_url(server)?.connect().await?;
            // Serializes template builders of several test processes on one server.
            admin.execute("SELECT pg_advisory_lock(7319)", &[]).await?;
            let result = async {
                let exists = admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?.is_some();
                if !exists {
                    let building = format!("{name}_building");
                    admin.batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{building}""#)).await?;
                    admin.batch_execute(&format!(r#"CREATE DATABASE "{building}""#)).await?;
                    {
                        let mut client = DbSettings::from_url(&with_database(server, &building)?)?.connect().await?;
                        migrate::run(&mut client, Baseline::Create).await?;
                    }
                    // Let the builder's backend go before renaming.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    admin.batch_execute(&format!(r#"ALTER DATABASE "{building}" RENAME TO "{name}""#)).await?;
                }
                Ok::<_, Error>(())
            }
            .await;
            admin.execute("SELECT pg_advisory_unlock(7319)", &[]).await?;
            result.map(|_| name)
        })
        .await
        .cloned()
}

/// Inserts a CRM client (workspace).
pub async fn seed_client(db: &Client, id: &str, signing_key: Option<&str>) -> Result<()> {
    db.execute(
        r#"INSERT INTO "Client" ("id", "name", "calendlyWebhookSigningKey", "timezone", "updatedAt")
           VALUES ($1, $1, $2, 'America/New_York', now()) ON CONFLICT ("id") DO NOTHING"#,
        &[&id, &signing_key],
    )
    .await?;
    Ok(())
}

/// Inserts a lead of a client.
pub async fn seed_lead(db: &Client, client_id: &str, lead_id: &str, email: Option<&str>) -> Result<()> {
    db.execute(
        r#"INSERT INTO "Lead" ("id", "clientId", "email", "updatedAt") VALUES ($1, $2, $3, now())"#,
        &[&lead_id, &client_id, &email],
    )
    .await?;
    Ok(())
}

/// Inserts a CRM client whose Phase 28 default booking provider (`meetingBookingProvider`) is
/// `default`.
pub async fn seed_client_preferring(db: &Client, id: &str, default: Option<Provider>) -> Result<()> {
    seed_client(db, id, None).await?;
    db.execute(
        r#"UPDATE "Client" SET "meetingBookingProvider" = $2::text::"MeetingBookingProvider" WHERE "id" = $1"#,
        &[&id, &default.map(|p| p.as_db())],
    )
    .await?;
    Ok(())
}

/// Inserts leads as Phase 28 left them, each `(client, columns)`: a lead of that client with the
/// rollup columns and provider ids of `columns`. Its `client_provider` is the client's (see
/// [`seed_client_preferring`]), not written here.
pub async fn seed_phase28_leads(db: &Client, leads: &[(&str, Phase28Lead)]) -> Result<()> {
    let stmt = db
        .prepare(
            r#"INSERT INTO "Lead" ("id", "clientId", "email", "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri",
                   "appointmentStartAt", "appointmentEndAt", "appointmentStatus", "appointmentCanceledAt", "appointmentProvider",
                   "updatedAt")
               VALUES ($1, $2, 'someone@example.com', $3, $4, $5, $6, $7, $8, $9, $10::text::"MeetingBookingProvider", '2030-01-01')"#,
        )
        .await?;
    let naive = |t: Option<DateTime<Utc>>| t.map(|t| t.naive_utc());
    futures::future::try_join_all(leads.iter().map(|(client, l)| {
        let stmt = stmt.clone();
        async move {
            db.execute(
                &stmt,
                &[
                    &l.lead_id,
                    client,
                    &l.ghl_appointment_id,
                    &l.calendly_invitee_uri,
                    &l.calendly_scheduled_event_uri,
                    &naive(l.start_at),
                    &naive(l.end_at),
                    &l.status,
                    &naive(l.canceled_at),
                    &l.appointment_provider.map(|p| p.as_db()),
                ],
            )
            .await
        }
    }))
    .await?;
    Ok(())
}

/// A Calendly webhook's observation of an invitee booked at `start` for 30 minutes, sent at
/// `updated` (also its creation time); canceled or rescheduled by the invitee at `updated` when
/// `status` is terminal. Follow-up tasks on.
pub fn calendly_observation(
    lead: &str,
    invitee_uri: &str,
    event_uri: &str,
    status: AppointmentStatus,
    start: DateTime<Utc>,
    updated: DateTime<Utc>,
) -> Observation {
    let mut o = Observation::new(lead, Provider::Calendly, ObservedStatus::Is(status), AppointmentSource::Webhook);
    o.key = Some(invitee_uri.to_string());
    o.calendly_event_uri = Some(event_uri.to_string());
    o.start_at = Some(start);
    o.end_at = Some(start + TimeDelta::minutes(30));
    o.provider_created_at = Some(updated);
    o.provider_updated_at = Some(updated);
    if status.is_terminal() {
        o.canceled_at = Some(updated);
        o.canceled_by = Some(Canceler::Invitee);
    }
    o.tasks = TaskPolicy::All;
    o
}

/// Reconciliation's observation of a GHL appointment at `start` (if any) for 30 minutes, created
/// and last updated at `updated`. No follow-up tasks.
pub fn ghl_observation(
    lead: &str,
    id: &str,
    status: AppointmentStatus,
    start: Option<DateTime<Utc>>,
    updated: DateTime<Utc>,
) -> Observation {
    let mut o = Observation::new(lead, Provider::Ghl, ObservedStatus::Is(status), AppointmentSource::ReconcileCron);
    o.key = Some(id.to_string());
    o.start_at = start;
    o.end_at = start.map(|s| s + TimeDelta::minutes(30));
    o.provider_created_at = Some(updated);
    o.provider_updated_at = Some(updated);
    o
}

/// An appointment row of the lead `lead` with only these fields set (created, status changed and
/// updated `at`, source MANUAL): what the pure rules' table tests start from.
pub fn appointment_row(
    id: &str,
    provider: Provider,
    status: AppointmentStatus,
    start: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> AppointmentRow {
    AppointmentRow {
        id: id.into(),
        lead_id: "lead".into(),
        provider,
        ghl_appointment_id: None,
        calendly_invitee_uri: None,
        calendly_scheduled_event_uri: None,
        start_at: start,
        end_at: None,
        timezone: None,
        status,
        status_changed_at: at,
        canceled_at: None,
        cancel_reason: None,
        canceled_by: None,
        rescheduled_from_id: None,
        rescheduled_from_key: None,
        rescheduled_to_key: None,
        provider_created_at: None,
        provider_updated_at: None,
        provider_verified_at: None,
        provider_deleted_at: None,
        source: AppointmentSource::Manual,
        created_at: at,
        updated_at: at,
    }
}

/// The one number a query returns (`SELECT count(*) ...`).
/// Every row `sql` returns, as a `T` whose fields are the query's column names: what a test reads
/// from the tables, without matching positions in the select list by hand. The order is the query's.
/// Give `T` `#[serde(deny_unknown_fields)]`, so that a misspelt column fails instead of reading as
/// a missing (`None`) field.
pub async fn rows_as<T: serde::de::DeserializeOwned>(
    db: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<T> {
    db.query(&format!("SELECT to_jsonb(q) FROM ({sql}) q"), params)
        .await
        .expect("the rows")
        .iter()
        .map(|r| serde_json::from_value(r.get(0)).expect("a row of the described shape"))
        .collect()
}

/// Settings of a database that is not there (nothing listens on its port), for outage tests: every
/// connection attempt fails at once.
pub fn unreachable_database() -> DbSettings {
    let port = crate::embedded::free_port().expect("a free port");
    DbSettings::from_url(&format!("postgres://nobody@127.0.0.1:{port}/none?connect_timeout=2")).expect("valid settings")
}

pub async fn count(db: &Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.expect("a count").get(0)
}

/// Everything a write could touch, as one text: row counts, and the update time of every
/// appointment and lead (with the lead's rollup status). Equal before and after means nothing was
/// written.
pub async fn fingerprint(db: &Client) -> String {
    db.query_one(
        r#"SELECT concat_ws(' | ',
             (SELECT count(*) FROM "Appointment"), (SELECT count(*) FROM "AppointmentEvent"), (SELECT count(*) FROM "FollowUpTask"),
             (SELECT string_agg("id" || '@' || "updatedAt"::text, ',' ORDER BY "id") FROM "Appointment"),
             (SELECT string_agg("id" || '@' || "updatedAt"::text || coalesce("appointmentStatus", '-'), ',' ORDER BY "id") FROM "Lead"))"#,
        &[],
    )
    .await
    .expect("fingerprint")
    .get(0)
}

/// How many of a lead's appointments hold a provider key another of its appointments holds too
/// (invariant I1 in docs/architecture.md: none).
pub async fn keys_held_twice(db: &Client, lead: &str) -> i64 {
    db.query_one(
        r#"SELECT count(coalesce("ghlAppointmentId", "calendlyInviteeUri")) - count(DISTINCT coalesce("ghlAppointmentId", "calendlyInviteeUri"))
             FROM "Appointment" WHERE "leadId" = $1"#,
        &[&lead],
    )
    .await
    .expect("keys held twice")
    .get(0)
}

/// One stored text value: where it is and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredText {
    pub table: String,
    pub column: String,
    pub value: String,
}

/// Every non-null value of every text-like column (text, enums, JSON, arrays, as text) of every
/// table, except the migration runner's history: what a privacy test scans for PII.
pub async fn stored_text(db: &Client) -> Vec<StoredText> {
    let columns = db
        .query(
            r#"SELECT table_name::text, column_name::text FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name <> 'refinery_schema_history'
                  AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'USER-DEFINED', 'ARRAY')
                ORDER BY 1, 2"#,
            &[],
        )
        .await
        .expect("the schema's text columns");
    let mut out = Vec::new();
    for c in columns {
        let (table, column): (String, String) = (c.get(0), c.get(1));
        let sql = format!(r#"SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL"#);
        for row in db.query(&sql, &[]).await.expect("a column's values") {
            out.push(StoredText { table: table.clone(), column: column.clone(), value: row.get(0) });
        }
    }
    out
}

/// One appointment, without generated ids or write times: its provider key (the GHL appointment
/// id or the Calendly invitee URI) and its reschedule link as the linked row's key (or, for a row
/// without one, its start). What every test that reads the appointment table compares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentSnapshot {
    pub lead: String,
    pub key: Option<String>,
    pub start: Option<NaiveDateTime>,
    pub provider: String,
    pub event_uri: Option<String>,
    pub end: Option<NaiveDateTime>,
    pub timezone: Option<String>,
    pub status: String,
    pub status_changed_at: NaiveDateTime,
    pub canceled_at: Option<NaiveDateTime>,
    pub canceled_by: Option<String>,
    pub reason: Option<String>,
    pub linked_from: Option<String>,
    pub from_key: Option<String>,
    pub to_key: Option<String>,
    pub provider_created_at: Option<NaiveDateTime>,
    pub provider_updated_at: Option<NaiveDateTime>,
    pub source: String,
}

/// Every appointment of `lead`, or of the database when it is `None`, as [`AppointmentSnapshot`]s
/// ordered by lead, key, start, then the other columns: the same list for the same rows whatever
/// their ids and write times.
pub async fn appointments(db: &Client, lead: Option<&str>) -> Vec<AppointmentSnapshot> {
    rows_as(
        db,
        r#"SELECT a."leadId" AS lead, coalesce(a."ghlAppointmentId", a."calendlyInviteeUri") AS key, a."startAt" AS start,
                  a."provider"::text AS provider, a."calendlyScheduledEventUri" AS event_uri, a."endAt" AS "end", a."timezone",
                  a."status"::text AS status, a."statusChangedAt" AS status_changed_at, a."canceledAt" AS canceled_at,
                  a."canceledBy" AS canceled_by, a."cancelReason" AS reason,
                  coalesce(p."ghlAppointmentId", p."calendlyInviteeUri", p."startAt"::text, p."id") AS linked_from,
                  a."rescheduledFromKey" AS from_key, a."rescheduledToKey" AS to_key, a."providerCreatedAt" AS provider_created_at,
                  a."providerUpdatedAt" AS provider_updated_at, a."source"::text AS source
             FROM "Appointment" a LEFT JOIN "Appointment" p ON p."id" = a."rescheduledFromId"
            WHERE $1::text IS NULL OR a."leadId" = $1
            ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18"#,
        &[&lead],
    )
    .await
}

/// The table snapshot of one lead, equal for the same history whatever ids and write times the rows
/// got: its appointments (as [`appointments`] lists them), its rollup columns as text (start, end,
/// status, canceled at, provider, source) and its follow-up tasks as (appointment key, type).
pub async fn snapshot(db: &Client, lead: &str) -> (Vec<AppointmentSnapshot>, Vec<Option<String>>, Vec<(String, String)>) {
    let appointments = appointments(db, Some(lead)).await;
    let lead_row = db
        .query_one(
            r#"SELECT "appointmentStartAt"::text, "appointmentEndAt"::text, "appointmentStatus", "appointmentCanceledAt"::text,
                      "appointmentProvider"::text, "appointmentSource" FROM "Lead" WHERE "id" = $1"#,
            &[&lead],
        )
        .await
        .expect("the lead");
    let rollup = (0..6).map(|i| lead_row.get::<_, Option<String>>(i)).collect();
    let tasks = db
        .query(
            r#"SELECT coalesce(a."ghlAppointmentId", a."calendlyInviteeUri"), t."type" FROM "FollowUpTask" t
                 JOIN "Appointment" a ON a."id" = t."appointmentId" WHERE t."leadId" = $1 ORDER BY 1, 2"#,
            &[&lead],
        )
        .await
        .expect("the lead's tasks")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    (appointments, rollup, tasks)
}

/// A log destination that keeps every line in memory: hand a clone to
/// `tracing_subscriber::fmt().with_writer(..)` (or to a metrics writer) and read [`LogCapture::text`].
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// An API Gateway HTTP API (payload 2.0) event as Lambda hands it to a function behind `route_key`
/// (`"POST /webhooks/ghl"`): a `method` request of `path` with these headers (lower-case names) and
/// body (text as it is, anything else base64, as API Gateway does). Path parameters and a query
/// string are the caller's to add (`pathParameters`, `rawQueryString`).
pub fn http_api_event(route_key: &str, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> serde_json::Value {
    use base64::Engine;
    let headers: serde_json::Map<String, serde_json::Value> = headers.iter().map(|(k, v)| (k.to_string(), v.clone().into())).collect();
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let (body, base64_encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    serde_json::json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": user_agent},
            "requestId": "req-1",
            "routeKey": route_key,
            "stage": "$default",
            "time": "24/Nov/2026:09:00:00 +0000",
            "timeEpoch": 1795510800000u64
        },
        "body": body,
        "isBase64Encoded": base64_encoded
    })
}

/// What a benchmark measured: each delivery's latency, the database round trips, and the wall time.
#[derive(Debug, Default)]
pub struct Measured {
    pub latencies: Vec<Duration>,
    pub round_trips: u64,
    pub wall: Duration,
}

/// What a webhook benchmark times: `Store::record` alone, or the whole handler on the same deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchMode {
    Record,
    Handler,
}

/// Runs each batch on a worker task of its own, so that the runtime's threads share them as the
/// cores would share separate Lambda processes. `worker(batch, ready)` warms up, waits on `ready`
/// (every worker connected and warm before any starts its clock), then measures. Latencies and
/// round trips add up; the wall time is the slowest worker's.
pub async fn run_workers<T, F, Fut>(batches: Vec<T>, worker: F) -> Measured
where
    F: Fn(T, Arc<tokio::sync::Barrier>) -> Fut,
    Fut: std::future::Future<Output = Measured> + Send + 'static,
{
    let ready = Arc::new(tokio::sync::Barrier::new(batches.len()));
    let tasks: Vec<_> = batches.into_iter().map(|batch| tokio::spawn(worker(batch, ready.clone()))).collect();
    let mut all = Measured::default();
    for measured in futures::future::join_all(tasks).await {
        let measured = measured.expect("worker");
        all.latencies.extend(measured.latencies);
        all.round_trips += measured.round_trips;
        all.wall = all.wall.max(measured.wall);
    }
    all
}

/// A webhook bench's events, a list per worker: `workers` x `leads_per_worker` leads, numbered
/// from 0, each given `event(n, template)` for every fixture of `story` (files in `dir`), in order.
pub fn stories<E>(dir: &str, story: &[&str], workers: usize, leads_per_worker: usize, event: impl Fn(usize, &str) -> E) -> Vec<Vec<E>> {
    let templates: Vec<String> = story.iter().map(|f| std::fs::read_to_string(format!("{dir}/{f}")).unwrap()).collect();
    (0..workers)
        .map(|w| {
            let leads = w * leads_per_worker..(w + 1) * leads_per_worker;
            leads.flat_map(|n| templates.iter().map(move |t| (n, t))).map(|(n, t)| event(n, t)).collect()
        })
        .collect()
}

/// The events of a run, prepared, as the workers take them: a batch per worker's list when
/// `concurrent`, else every list in one batch.
pub fn worker_batches<E, P>(events: &[Vec<E>], concurrent: bool, prepare: impl Fn(&[E]) -> Vec<P>) -> Vec<Vec<P>> {
    if concurrent {
        events.iter().map(|list| prepare(list)).collect()
    } else {
        vec![events.iter().flat_map(|list| prepare(list)).collect()]
    }
}

/// Nanoseconds since the epoch: an id part that no earlier bench run used.
pub fn fresh_number() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// One worker's run: once every worker is warm (`ready`), times `deliver` on each event in turn
/// and counts `store`'s round trips. What `deliver` asserts about its answer is timed with it
/// (nanoseconds against the milliseconds of a delivery).
pub async fn time_each<T, Fut>(store: &Store, ready: &tokio::sync::Barrier, events: Vec<T>, mut deliver: impl FnMut(T) -> Fut) -> Measured
where
    Fut: std::future::Future<Output = ()>,
{
    ready.wait().await;
    let began = std::time::Instant::now();
    let round_trips_before = store.round_trips();
    let mut latencies = Vec::with_capacity(events.len());
    for event in events {
        let start = std::time::Instant::now();
        deliver(event).await;
        latencies.push(start.elapsed());
    }
    Measured { latencies, round_trips: store.round_trips() - round_trips_before, wall: began.elapsed() }
}

/// The mean time `each` takes over `items`, run one after the other on this thread.
pub fn mean_time<T>(items: &[T], mut each: impl FnMut(&T)) -> Duration {
    let start = std::time::Instant::now();
    for item in items {
        each(item);
    }
    start.elapsed() / items.len() as u32
}

/// Checks every row of a table test, `f(input) == expected`, and names every row that fails, not
/// only the first.
#[track_caller]
pub fn assert_table<I: std::fmt::Debug, E: PartialEq + std::fmt::Debug>(table: impl IntoIterator<Item = (I, E)>, f: impl Fn(&I) -> E) {
    let failed: Vec<String> = table
        .into_iter()
        .filter_map(|(input, expected)| {
            let got = f(&input);
            (got != expected).then(|| format!("{input:?}: got {got:?}, expected {expected:?}"))
        })
        .collect();
    assert!(failed.is_empty(), "{} row(s) of the table failed:\n{}", failed.len(), failed.join("\n"));
}

/// The `p` quantile (0..=1) of sorted durations, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A webhook bench's report: what a run of `function`'s bench delivers (`events`, a list per
/// worker: `story` says to how many leads and what), then the handler (`handler` names what it
/// does) against `Store::record` alone, sequentially and 8 at a time: `run(mode, concurrent,
/// events)` measures one run on a fresh database, on a multi-threaded runtime, logging only
/// warnings (the bench measures, it does not log every delivery). The modes alternate over
/// `rounds` so that drift of the machine hits both. Prints a table row per mode, what the handler's
/// own work costs per delivery (`own_work`: what it is, and the time), and the verdicts against
/// the target handler p50 <= 1.2 x record p50.
pub fn compare_with_record<'a, E, Fut>(
    function: &str,
    story: &str,
    events: &'a [Vec<E>],
    rounds: usize,
    handler: &str,
    own_work: (&str, Duration),
    mut run: impl FnMut(BenchMode, bool, &'a [Vec<E>]) -> Fut,
) where
    Fut: std::future::Future<Output = Measured>,
{
    let total: usize = events.iter().map(Vec::len).sum();
    println!("{function} bench: {total} deliveries per run ({story}), {rounds} rounds per mode");
    let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("{:<46} {:>9} {:>9} {:>9} {:>11} {:>9}", "mode", "p50 ms", "p99 ms", "mean ms", "events/s", "rt/event");
    let mut verdicts = Vec::new();
    for concurrent in [false, true] {
        let mut samples: [Measured; 2] = Default::default();
        for _ in 0..rounds {
            for (i, mode) in [BenchMode::Record, BenchMode::Handler].into_iter().enumerate() {
                let measured = runtime.block_on(run(mode, concurrent, events));
                samples[i].latencies.extend(measured.latencies);
                samples[i].round_trips += measured.round_trips;
                samples[i].wall += measured.wall;
            }
        }
        let how = if concurrent { "8 concurrent" } else { "sequential" };
        let mut p50s = [Duration::ZERO; 2];
        for (i, name) in ["Store::record alone", handler].iter().enumerate() {
            let Measured { latencies, round_trips, wall } = &mut samples[i];
            latencies.sort();
            let n = latencies.len();
            let mean = latencies.iter().sum::<Duration>() / n as u32;
            p50s[i] = percentile(latencies, 0.50);
            println!(
                "{:<46} {:>9.3} {:>9.3} {:>9.3} {:>11.0} {:>9.2}",
                format!("{name}, {how}"),
                p50s[i].as_secs_f64() * 1e3,
                percentile(latencies, 0.99).as_secs_f64() * 1e3,
                mean.as_secs_f64() * 1e3,
                n as f64 / wall.as_secs_f64(),
                *round_trips as f64 / n as f64
            );
        }
        let ratio = p50s[1].as_secs_f64() / p50s[0].as_secs_f64();
        verdicts.push(format!(
            "{how}: handler p50 / record p50 = {ratio:.3} (target <= 1.2): {}",
            if ratio <= 1.2 { "met" } else { "NOT met" }
        ));
    }
    println!("{}: {:.1} us per delivery", own_work.0, own_work.1.as_secs_f64() * 1e6);
    for v in verdicts {
        println!("{v}");
    }
}

/// The metric lines of a webhook function in `text`, parsed: each a valid EMF line of `namespace`
/// whose dimensions are only `Function`, `Outcome` and `Reason` with fixed lower-case values (never
/// an id or a delivery's text). Panics on any other.
pub fn webhook_metric_lines(text: &str, namespace: &str) -> Vec<serde_json::Value> {
    let lines: Vec<_> = crate::metrics::check::emf_lines(text)
        .into_iter()
        .map(|l| crate::metrics::check::emf(l, namespace).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for d in &lines {
        for (name, value) in crate::metrics::check::dimensions(d) {
            assert!(["Function", "Outcome", "Reason"].contains(&name.as_str()), "dimension {name}");
            assert!(value.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{name}={value}");
        }
    }
    lines
}

/// What a privacy test looks for in logs, answers and rows: the given values of at least 4
/// characters (shorter ones match by chance), each once.
pub fn needles(values: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = values.into_iter().filter(|n| n.len() >= 4).collect();
    out.sort();
    out.dedup();
    out
}

/// What a webhook function answered, as its tests read it (every answer's body is JSON).
#[derive(Debug)]
pub struct WebhookAnswer {
    pub status: http::StatusCode,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub body: serde_json::Value,
}

impl WebhookAnswer {
    pub fn of<B: AsRef<[u8]>>(response: http::Response<B>) -> WebhookAnswer {
        let header = |name: http::header::HeaderName| response.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        let content_type = header(http::header::CONTENT_TYPE).unwrap_or_default();
        let retry_after = header(http::header::RETRY_AFTER);
        let body = serde_json::from_slice(response.body().as_ref()).expect("every answer is JSON");
        WebhookAnswer { status: response.status(), content_type, retry_after, body }
    }

    /// The `status` of a taken delivery (`recorded`, `duplicate`, `ignored`).
    pub fn taken(&self) -> Option<&str> {
        self.body["status"].as_str()
    }

    /// The problem `type` of a refusal, or "".
    pub fn problem_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or("")
    }
}

/// Phase 28 data as the migration meets it: 100 clients and `$N` leads (replace it) with mixed
/// rollups (Calendly, GHL, keyless, none, some canceled, some without times), and for 5% of them a
/// webhook appointment already present. Deterministic but for generated ids.
pub const PHASE28_LEADS_SQL: &str = r#"
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
pub const APPOINTMENT_DIGEST_SQL: &str = r#"SELECT count(*), md5(string_agg(concat_ws('|', "leadId", "provider", "ghlAppointmentId", "calendlyInviteeUri",
       "calendlyScheduledEventUri", "startAt", "endAt", "status", "canceledAt", "source"), ',' ORDER BY "leadId", "source"))
  FROM "Appointment""#;

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "2 row(s) of the table failed:\n\"b\": got 1, expected 2\n\"c\": got 1, expected 3")]
    fn a_table_names_every_failing_row() {
        super::assert_table([("a", 1), ("b", 2), ("c", 3)], |_| 1);
    }
}
