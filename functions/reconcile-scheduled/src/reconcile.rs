//! The runs: cron (due leads of every client) and backfill (every lead of one client, resumable).
//! Each lead: ask its client's providers, record every appointment through the write path, and only
//! when all of that succeeded mark the lead checked.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use shared::metrics;
use shared::providers::calendly::{self, CalendlyAuth};
use shared::providers::ghl::{self, GhlAuth};
use shared::providers::{ProviderError, ProviderHttp, Secret, StatsSnapshot};
use shared::{AppointmentSource, Change, DbSettings, Observation, RecordOutcome, Store, TaskPolicy};
use tokio::time::Instant;
use tokio_postgres::Row;

use crate::claims::Claims;
use crate::config::ReconcileConfig;
use crate::due::due_params;
use crate::error::RunError;
use crate::input::{parse_request, BackfillRequest, Request};
use crate::{checkable_sql, due_sql, urgent_sql};

/// Failed lead ids listed in a summary at most (the count is always complete).
const MAX_LISTED_FAILURES: usize = 50;
/// Backfill reads leads in pages of this size.
const BACKFILL_PAGE: usize = 100;

/// What a run did. Counts only; ids of failed leads (never emails or provider data).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub mode: String,
    /// Leads whose check completed and that were marked checked.
    pub leads_checked: u64,
    /// Observations that created or changed an appointment (`created + updated`).
    pub observations_recorded: u64,
    pub created: u64,
    pub updated: u64,
    /// Observations that changed nothing (the history already knew).
    pub unchanged: u64,
    pub tasks_created: u64,
    /// Leads whose check failed (not marked checked: they come back next run).
    pub failed: u64,
    /// 429 answers received from providers during the run.
    pub rate_limited: u64,
    /// Provider requests repeated after a 5xx, a timeout or a connection error.
    pub retries: u64,
    /// Leads due (or walked) but not checked by this run: held by another run, or left for the
    /// next run when the time budget ran out.
    pub skipped: u64,
    /// The run stopped taking leads because of its time budget.
    pub stopped_early: bool,
    pub duration_ms: u64,
    /// Backfill: every lead of the client has been walked (absent in cron mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    /// Backfill: pass this as `cursor` to continue; absent when complete (or when the run stopped
    /// before its first lead without a cursor: then continue without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_lead_ids: Vec<String>,
}

impl Summary {
    fn add(&mut self, lead_id: &str, outcome: &LeadOutcome) {
        match outcome {
            LeadOutcome::Skipped => self.skipped += 1,
            LeadOutcome::Done { counts, failure } => {
                self.created += counts.created;
                self.updated += counts.updated;
                self.unchanged += counts.unchanged;
                self.tasks_created += counts.tasks_created;
                self.observations_recorded = self.created + self.updated;
                match failure {
                    None => self.leads_checked += 1,
                    // Cut short by the time budget: not the lead's fault; it stays due.
                    Some(Failure::OutOfTime) => {
                        self.skipped += 1;
                        self.stopped_early = true;
                    }
                    Some(Failure::Error(_)) => {
                        self.failed += 1;
                        if self.failed_lead_ids.len() < MAX_LISTED_FAILURES {
                            self.failed_lead_ids.push(lead_id.to_string());
                        }
                    }
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    created: u64,
    updated: u64,
    unchanged: u64,
    tasks_created: u64,
}

impl Counts {
    fn add(&mut self, outcome: &RecordOutcome) {
        match outcome.change {
            Change::Created => self.created += 1,
            Change::Updated => self.updated += 1,
            Change::Unchanged => self.unchanged += 1,
        }
        self.tasks_created += outcome.tasks_created as u64;
    }
}

#[derive(Debug)]
enum LeadOutcome {
    /// Not checked by this run (another run holds it, or the budget ran out before it started).
    Skipped,
    /// Checked; `failure` says why it does not count as checked.
    Done { counts: Counts, failure: Option<Failure> },
}

#[derive(Debug)]
enum Failure {
    /// A provider call was still running when the run's time budget ran out.
    OutOfTime,
    /// Why the check failed (ids, status codes, SQLSTATEs; never provider data).
    Error(String),
}

/// A lead to check: its ids and provider identities. The email is only ever sent to Calendly.
#[derive(Clone)]
struct LeadWork {
    id: String,
    client_id: String,
    email: Option<String>,
    ghl_contact_id: Option<String>,
}

impl std::fmt::Debug for LeadWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadWork").field("id", &self.id).field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

impl LeadWork {
    fn from_row(row: &Row) -> Result<Self, RunError> {
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        Ok(LeadWork {
            id: row.try_get(0)?,
            client_id: row.try_get(1)?,
            email: non_empty(row.try_get(2)?),
            ghl_contact_id: non_empty(row.try_get(3)?),
        })
    }
}

/// A client's provider settings, read once per run.
struct ClientInfo {
    id: String,
    calendly: Option<CalendlyAuth>,
    /// `Err`: GHL is configured but the client's time zone is missing or unknown, so the times GHL
    /// sends without an offset cannot be read; its GHL leads fail (and say why) rather than guess.
    ghl: Option<Result<GhlAuth, String>>,
    /// The provider answered 401/403 for this client earlier in the run: its credentials are wrong
    /// or revoked, so the client's other leads fail at once instead of asking again, lead by lead.
    calendly_refused: AtomicBool,
    ghl_refused: AtomicBool,
}

/// A provider refusing the credentials (rather than the request).
fn refuses_credentials(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Rejected { status: 401 | 403, .. })
}

/// A provider call that failed fails the lead; when the provider refused the client's credentials,
/// `refused` is set so that the run stops asking with them.
fn provider_failed(e: ProviderError, refused: &AtomicBool) -> Failure {
    if refuses_credentials(&e) {
        refused.store(true, Ordering::Relaxed);
    }
    Failure::Error(e.to_string())
}

impl ClientInfo {
    fn from_row(row: &Row) -> Result<Self, RunError> {
        let text =
            |i: usize| -> Result<Option<String>, RunError> { Ok(row.try_get::<_, Option<String>>(i)?.filter(|s| !s.trim().is_empty())) };
        let id: String = row.try_get(0)?;
        let calendly = CalendlyAuth::configured(text(1)?, text(2)?);
        let ghl = match (text(3)?, text(4)?) {
            (Some(location_id), Some(key)) => Some(match text(5)?.and_then(|z| z.trim().parse::<Tz>().ok()) {
                Some(timezone) => Ok(GhlAuth { location_id, private_key: Secret::new(key), timezone }),
                None => Err("client time zone missing or unknown (GHL times without offset cannot be read)".to_string()),
            }),
            _ => None,
        };
        Ok(ClientInfo { id, calendly, ghl, calendly_refused: AtomicBool::new(false), ghl_refused: AtomicBool::new(false) })
    }

    fn has_provider(&self) -> bool {
        self.calendly.is_some() || self.ghl.is_some()
    }
}

/// The run's clock: the wall-clock time the run started (injectable for tests), the monotonic
/// clock for budgets.
#[derive(Clone, Copy)]
struct RunClock {
    started_at: DateTime<Utc>,
    started: Instant,
    /// No new lead starts after this.
    stop_taking: Instant,
    /// Provider calls still running now are abandoned (records already under way finish).
    hard_stop: Instant,
}

impl RunClock {
    fn new(now: DateTime<Utc>, deadline: Instant, margin: Duration) -> Self {
        let started = Instant::now();
        // A short invocation (a small timeout, a local run) keeps three quarters of its time for
        // work instead of none at all.
        let margin = margin.min(deadline.saturating_duration_since(started) / 4);
        let stop_taking = deadline.checked_sub(margin).unwrap_or(started).max(started);
        let hard_stop = deadline.checked_sub(margin / 2).unwrap_or(started).max(stop_taking);
        RunClock { started_at: now, started, stop_taking, hard_stop }
    }

    fn now(&self) -> DateTime<Utc> {
        self.started_at + TimeDelta::from_std(self.started.elapsed()).unwrap_or_default()
    }

    fn may_start(&self) -> bool {
        Instant::now() < self.stop_taking
    }
}

const SELECT_DUE: &str = concat!(
    r#"SELECT l."id", l."clientId", l."email", l."ghlContactId"
       FROM "Lead" l JOIN "Client" c ON c."id" = l."clientId"
       WHERE "#,
    checkable_sql!(),
    " AND ",
    due_sql!(),
    " ORDER BY ",
    urgent_sql!(),
    r#" DESC, l."appointmentLastCheckedAt" ASC NULLS FIRST, l."id" LIMIT $5"#
);

/// The due rule again, for leads just claimed: another run may have checked them in between.
const RECHECK_DUE: &str = concat!(r#"SELECT l."id" FROM "Lead" l WHERE l."id" = ANY($5) AND "#, due_sql!());

const SELECT_CLIENT_LEADS: &str = concat!(
    r#"SELECT l."id", l."clientId", l."email", l."ghlContactId"
       FROM "Lead" l JOIN "Client" c ON c."id" = l."clientId"
       WHERE l."clientId" = $1 AND ($2::text IS NULL OR l."id" > $2) AND "#,
    checkable_sql!(),
    r#" ORDER BY l."id" LIMIT $3"#
);

const MORE_CLIENT_LEADS: &str = concat!(
    r#"SELECT EXISTS (SELECT 1 FROM "Lead" l JOIN "Client" c ON c."id" = l."clientId"
       WHERE l."clientId" = $1 AND l."id" > $2 AND "#,
    checkable_sql!(),
    ")"
);

const SELECT_CLIENTS: &str = r#"SELECT "id", "calendlyAccessToken", "calendlyOrganizationUri", "ghlLocationId", "ghlPrivateKey", "timezone"
    FROM "Client" WHERE "id" = ANY($1)"#;

/// `appointmentLastCheckedAt` is the reconciler's alone. `updatedAt` is left alone on purpose: a
/// check is bookkeeping, not a change to the lead, and the CRM sorts and matches by `updatedAt`.
/// Never moves the mark backwards (an overlapping backfill that started earlier).
const MARK_CHECKED: &str = r#"UPDATE "Lead" SET "appointmentLastCheckedAt" = $2
    WHERE "id" = $1 AND ("appointmentLastCheckedAt" IS NULL OR "appointmentLastCheckedAt" < $2)"#;

/// The reconciler: database, provider clients, settings. One per Lambda process.
pub struct Reconciler {
    db: DbSettings,
    stores: Vec<Store>,
    next_store: AtomicUsize,
    http: ProviderHttp,
    pub config: ReconcileConfig,
}

impl Reconciler {
    /// Connects lazily: nothing is opened until the first run.
    pub fn new(db: DbSettings, http: ProviderHttp, config: ReconcileConfig) -> Self {
        let stores = (0..config.db_connections.max(1)).map(|_| Store::new(db.clone())).collect();
        Reconciler { db, stores, next_store: AtomicUsize::new(0), http, config }
    }

    pub fn http(&self) -> &ProviderHttp {
        &self.http
    }

    /// Database round trips of the write path and the lead marks so far.
    pub fn round_trips(&self) -> u64 {
        self.stores.iter().map(Store::round_trips).sum()
    }

    fn store(&self) -> &Store {
        &self.stores[self.next_store.fetch_add(1, Ordering::Relaxed) % self.stores.len()]
    }

    /// The Lambda handler's body: parse the payload and run the mode it asks for.
    /// The Lambda entry: the payload as the runtime received it, read strictly
    /// ([`crate::input::read_payload`]), then [`Reconciler::handle`]d.
    pub async fn handle_payload(&self, payload: &[u8], deadline: Instant) -> Result<Summary, RunError> {
        let payload = crate::input::read_payload(payload)?;
        self.handle(payload, deadline).await
    }

    pub async fn handle(&self, payload: serde_json::Value, deadline: Instant) -> Result<Summary, RunError> {
        let (started, calls_before) = (Instant::now(), self.provider_calls());
        let request = parse_request(payload)?;
        let mode = if matches!(request, Request::Cron) { "cron" } else { "backfill" };
        let result = match request {
            Request::Cron => {
                // Subscription health alongside the leads, under the same deadline margin.
                let subscriptions = async {
                    if let Some(pattern) = &self.config.calendly_webhook_url_pattern {
                        let stop = deadline.checked_sub(self.config.deadline_margin).unwrap_or(deadline);
                        crate::subscriptions::check_all(&self.db, &self.http, pattern, self.config.parallel_clients, stop).await;
                    }
                };
                tokio::join!(self.run_cron(Utc::now(), deadline), subscriptions).0
            }
            Request::Backfill(request) => self.run_backfill(&request, Utc::now(), deadline).await,
        };
        self.count_run(mode, &result, started, deadline, calls_before);
        let summary = result?;
        tracing::info!(
            mode = %summary.mode,
            leads_checked = summary.leads_checked,
            observations_recorded = summary.observations_recorded,
            unchanged = summary.unchanged,
            tasks_created = summary.tasks_created,
            failed = summary.failed,
            rate_limited = summary.rate_limited,
            skipped = summary.skipped,
            stopped_early = summary.stopped_early,
            duration_ms = summary.duration_ms,
            next_cursor = summary.next_cursor.as_deref().unwrap_or(""),
            "reconcile run finished"
        );
        Ok(summary)
    }

    /// Each provider's counters (requests, 429s, retries), to subtract at the end of a run.
    fn provider_calls(&self) -> [StatsSnapshot; 2] {
        [calendly::PROVIDER, ghl::PROVIDER].map(|p| self.http.stats().snapshot_of(p))
    }

    /// The run's metrics (`shared::metrics`): its counts, duration against its budget, and each
    /// provider's calls. A run that failed counts as a run with an error.
    fn count_run(
        &self,
        mode: &'static str,
        result: &Result<Summary, RunError>,
        started: Instant,
        deadline: Instant,
        before: [StatsSnapshot; 2],
    ) {
        let mut run = metrics::ReconcileRun {
            mode,
            duration: started.elapsed(),
            budget: deadline.saturating_duration_since(started),
            ..metrics::ReconcileRun::default()
        };
        match result {
            Ok(s) => (run.leads_checked, run.leads_failed, run.leads_skipped) = (s.leads_checked, s.failed, s.skipped),
            Err(e) => {
                run.failed = true;
                tracing::error!(mode, error_type = e.error_type(), "reconcile run failed");
            }
        }
        metrics::reconcile_run(run);
        for ((provider, now), before) in [calendly::PROVIDER, ghl::PROVIDER].into_iter().zip(self.provider_calls()).zip(before) {
            let calls = now.since(before);
            metrics::provider_calls(provider, calls.requests, calls.rate_limited, calls.retries);
        }
    }

    /// Cron mode: the due leads of every client, most urgent first, at most `max_leads_per_run`.
    /// `now` is the run's wall-clock start (the due rule and the checked marks use it).
    pub async fn run_cron(&self, now: DateTime<Utc>, deadline: Instant) -> Result<Summary, RunError> {
        let clock = RunClock::new(now, deadline, self.config.deadline_margin);
        let stats_before = self.http.stats().snapshot();
        let claims = Claims::new(self.db.connect().await?);
        let [p1, p2, p3, p4] = due_params(now, &self.config.due);
        let limit = self.config.max_leads_per_run as i64;

        let candidates = claims.client().query(SELECT_DUE, &[&p1, &p2, &p3, &p4, &limit]).await?;
        let candidates = candidates.iter().map(LeadWork::from_row).collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<String> = candidates.iter().map(|l| l.id.clone()).collect();
        let claimed = claims.try_claim(&ids).await?;
        let still_due: HashSet<String> =
            claims.client().query(RECHECK_DUE, &[&p1, &p2, &p3, &p4, &claimed]).await?.iter().map(|r| r.get(0)).collect();
        let not_due: Vec<String> = claimed.iter().filter(|id| !still_due.contains(*id)).cloned().collect();
        claims.release(&not_due).await?;
        let work: Vec<LeadWork> = candidates.into_iter().filter(|l| still_due.contains(&l.id)).collect();

        let mut summary = Summary { mode: "cron".into(), skipped: (ids.len() - work.len()) as u64, ..Summary::default() };
        tracing::info!(
            due = ids.len(),
            claimed = work.len(),
            budget_ms = clock.stop_taking.saturating_duration_since(clock.started).as_millis() as u64,
            "reconcile cron run starting"
        );

        let clients = self.load_clients(&claims, work.iter().map(|l| l.client_id.clone()).collect()).await?;
        let mut by_client: Vec<(String, Vec<LeadWork>)> = Vec::new();
        for lead in work {
            match by_client.iter_mut().find(|(c, _)| *c == lead.client_id) {
                Some((_, leads)) => leads.push(lead),
                None => by_client.push((lead.client_id.clone(), vec![lead])),
            }
        }

        let per_client = stream::iter(by_client)
            .map(|(client_id, leads)| {
                let client = clients.get(&client_id);
                let claims = &claims;
                async move {
                    let mut results = Vec::with_capacity(leads.len());
                    let mut pending = stream::iter(leads)
                        .map(|lead| async move {
                            if !clock.may_start() {
                                return (lead, LeadOutcome::Skipped, true);
                            }
                            let outcome = match client {
                                Some(c) => {
                                    self.check_lead(&lead, c, AppointmentSource::ReconcileCron, TaskPolicy::UpcomingOnly, &clock).await
                                }
                                None => {
                                    LeadOutcome::Done { counts: Counts::default(), failure: Some(Failure::Error("client vanished".into())) }
                                }
                            };
                            if let Err(e) = claims.release(std::slice::from_ref(&lead.id)).await {
                                tracing::warn!(lead = %lead.id, error = %e, "releasing a lead claim failed (released when the run ends)");
                            }
                            (lead, outcome, false)
                        })
                        .buffer_unordered(self.config.lead_concurrency.max(1));
                    while let Some(result) = pending.next().await {
                        results.push(result);
                    }
                    results
                }
            })
            .buffer_unordered(self.config.parallel_clients.max(1));
        let results: Vec<Vec<(LeadWork, LeadOutcome, bool)>> = per_client.collect().await;
        for (lead, outcome, out_of_time) in results.into_iter().flatten() {
            summary.stopped_early |= out_of_time;
            summary.add(&lead.id, &outcome);
        }
        let stats = self.http.stats().snapshot().since(stats_before);
        summary.rate_limited = stats.rate_limited;
        summary.retries = stats.retries;
        summary.duration_ms = clock.started.elapsed().as_millis() as u64;
        Ok(summary)
    }

    /// Backfill: every checkable lead of one client in id order, from `cursor`, at most `maxLeads`;
    /// returns the cursor to continue from. Source BACKFILL, no follow-up tasks.
    pub async fn run_backfill(&self, request: &BackfillRequest, now: DateTime<Utc>, deadline: Instant) -> Result<Summary, RunError> {
        let clock = RunClock::new(now, deadline, self.config.deadline_margin);
        let stats_before = self.http.stats().snapshot();
        let claims = Claims::new(self.db.connect().await?);
        let clients = self.load_clients(&claims, vec![request.client_id.clone()]).await?;
        let client = clients
            .get(&request.client_id)
            .filter(|c| c.has_provider())
            .ok_or_else(|| RunError::ClientNotFound(request.client_id.clone()))?;
        let max = request.max_leads.unwrap_or(self.config.backfill_default_max_leads) as usize;

        let mut summary = Summary { mode: "backfill".into(), ..Summary::default() };
        let mut cursor = request.cursor.clone();
        let mut walked = 0usize;
        let mut done = false;
        while walked < max {
            if !clock.may_start() {
                summary.stopped_early = true;
                break;
            }
            let page_size = BACKFILL_PAGE.min(max - walked);
            let rows = claims.client().query(SELECT_CLIENT_LEADS, &[&request.client_id, &cursor, &(page_size as i64)]).await?;
            let page = rows.iter().map(LeadWork::from_row).collect::<Result<Vec<_>, _>>()?;
            if page.is_empty() {
                done = true;
                break;
            }
            let ids: Vec<String> = page.iter().map(|l| l.id.clone()).collect();
            let claimed: HashSet<String> = claims.try_claim(&ids).await?.into_iter().collect();
            let claimed_ref = &claimed;
            // In order (`buffered`), so that the cursor only ever passes leads that are finished.
            let results: Vec<(String, Option<LeadOutcome>)> = stream::iter(page.iter())
                .map(|lead| async move {
                    if !clock.may_start() {
                        return (lead.id.clone(), None);
                    }
                    if !claimed_ref.contains(&lead.id) {
                        return (lead.id.clone(), Some(LeadOutcome::Skipped));
                    }
                    let outcome = self.check_lead(lead, client, AppointmentSource::Backfill, TaskPolicy::None, &clock).await;
                    (lead.id.clone(), Some(outcome))
                })
                .buffered(self.config.lead_concurrency.max(1))
                .collect()
                .await;
            claims.release(&ids.iter().filter(|id| claimed.contains(*id)).cloned().collect::<Vec<_>>()).await?;
            let mut finished_page = true;
            for (id, outcome) in results {
                match outcome {
                    // Cut short by the budget: the cursor stays before it, the next invocation redoes it.
                    Some(outcome @ LeadOutcome::Done { failure: Some(Failure::OutOfTime), .. }) => {
                        summary.add(&id, &outcome);
                        finished_page = false;
                    }
                    Some(outcome) if finished_page => {
                        summary.add(&id, &outcome);
                        cursor = Some(id);
                        walked += 1;
                    }
                    // Not started (out of time), or after one that was not: the next run does these.
                    _ => {
                        finished_page = false;
                    }
                }
            }
            if !finished_page {
                summary.stopped_early = true;
                break;
            }
            if page.len() < page_size {
                done = true;
                break;
            }
        }
        if !done {
            // Walked exactly to the end of a full page: look whether anything follows.
            done = match &cursor {
                Some(c) if !summary.stopped_early => {
                    !claims.client().query_one(MORE_CLIENT_LEADS, &[&request.client_id, c]).await?.get::<_, bool>(0)
                }
                _ => false,
            };
        }
        summary.complete = Some(done);
        summary.next_cursor = if done { None } else { cursor };
        let stats = self.http.stats().snapshot().since(stats_before);
        summary.rate_limited = stats.rate_limited;
        summary.retries = stats.retries;
        summary.duration_ms = clock.started.elapsed().as_millis() as u64;
        Ok(summary)
    }

    async fn load_clients(&self, claims: &Claims, mut ids: Vec<String>) -> Result<HashMap<String, ClientInfo>, RunError> {
        ids.sort();
        ids.dedup();
        let rows = claims.client().query(SELECT_CLIENTS, &[&ids]).await?;
        rows.iter().map(|r| ClientInfo::from_row(r).map(|c| (c.id.clone(), c))).collect()
    }

    /// Checks one lead. Never returns an error: a failure is part of the outcome, so that one lead
    /// never stops the others.
    async fn check_lead(
        &self,
        lead: &LeadWork,
        client: &ClientInfo,
        source: AppointmentSource,
        tasks: TaskPolicy,
        clock: &RunClock,
    ) -> LeadOutcome {
        let checked_at = clock.now();
        let mut counts = Counts::default();
        let mut failure: Option<Failure> = None;
        let error = |text: String| Some(Failure::Error(text));
        let mut observations: Vec<Observation> = Vec::new();

        if let (Some(auth), Some(email)) = (&client.calendly, lead.email.as_deref()) {
            if client.calendly_refused.load(Ordering::Relaxed) {
                failure = error("calendly refused the client's token earlier in this run".into());
            } else {
                match tokio::time::timeout_at(clock.hard_stop, self.http.calendly().bookings_for_email(auth, email)).await {
                    Ok(Ok(bookings)) => {
                        for booking in &bookings {
                            match calendly::observation(&lead.id, booking, source, tasks) {
                                Ok(obs) => observations.push(obs),
                                Err(e) => failure = error(format!("calendly invitee: {e}")),
                            }
                        }
                    }
                    Ok(Err(e)) => failure = Some(provider_failed(e, &client.calendly_refused)),
                    Err(_) => failure = Some(Failure::OutOfTime),
                }
            }
        }
        if let (Some(ghl_auth), Some(contact_id)) = (&client.ghl, lead.ghl_contact_id.as_deref()) {
            match ghl_auth {
                Err(reason) => failure = error(reason.clone()),
                Ok(_) if client.ghl_refused.load(Ordering::Relaxed) => {
                    failure = error("ghl refused the client's key earlier in this run".into())
                }
                Ok(auth) => match tokio::time::timeout_at(clock.hard_stop, self.http.ghl().contact_appointments(auth, contact_id)).await {
                    Ok(Ok(appointments)) => {
                        for appointment in &appointments {
                            match ghl::observation(lead.id.as_str(), appointment, ghl::Seen::Present, auth.timezone, source, tasks) {
                                Ok(obs) => observations.push(obs),
                                Err(e) => failure = error(e.to_string()),
                            }
                        }
                        // The listing is complete (the call succeeded: GHL serves a contact's
                        // appointments in one answer): what we hold as booked and upcoming but GHL
                        // no longer lists was deleted there.
                        match deleted_in_ghl(self.store(), &lead.id, &appointments, checked_at).await {
                            Ok(gone) => observations.extend(gone.into_iter().map(|key| deletion(&lead.id, key, checked_at, source, tasks))),
                            Err(e) => failure = error(format!("held GHL appointments: {e}")),
                        }
                    }
                    Ok(Err(e)) => failure = Some(provider_failed(e, &client.ghl_refused)),
                    Err(_) => failure = Some(Failure::OutOfTime),
                },
            }
        }

        // Whatever was read is recorded, even when another part failed: each observation stands on
        // its own, and recording is idempotent when the lead comes back next run.
        let store = self.store();
        for obs in observations {
            let key = obs.key.clone().unwrap_or_default();
            match store.record(obs).await {
                Ok(outcome) => counts.add(&outcome),
                Err(e) => {
                    tracing::warn!(lead = %lead.id, key = %key, error = %e, "recording a provider appointment failed");
                    failure = error(format!("record: {e}"));
                }
            }
        }

        if failure.is_none() {
            if let Err(e) = mark_checked(store, &lead.id, checked_at).await {
                failure = error(format!("mark checked: {e}"));
            }
        }
        match &failure {
            Some(Failure::Error(reason)) => {
                tracing::warn!(lead = %lead.id, client = %client.id, reason = %reason, "lead check failed; it stays due")
            }
            Some(Failure::OutOfTime) => {
                tracing::info!(lead = %lead.id, client = %client.id, "lead check cut short by the time budget; it stays due")
            }
            None => {}
        }
        LeadOutcome::Done { counts, failure }
    }
}

/// The lead's GHL appointments we hold as active and upcoming.
const HELD_UPCOMING_GHL: &str = r#"SELECT "ghlAppointmentId" FROM "Appointment"
    WHERE "leadId" = $1 AND "provider" = 'GHL' AND "ghlAppointmentId" IS NOT NULL
      AND "status" IN ('CONFIRMED', 'SHOWED', 'NO_SHOW') AND "startAt" >= $2
    ORDER BY "ghlAppointmentId""#;

/// Keys of appointments held as active and upcoming that a complete GHL listing of the lead's
/// contact does not show. Only ever called with a complete listing: a partial or failed one
/// proves nothing about what is missing.
async fn deleted_in_ghl(
    store: &Store,
    lead_id: &str,
    listed: &[ghl::GhlAppointment],
    now: DateTime<Utc>,
) -> Result<Vec<String>, shared::Error> {
    let mut conn = store.conn().await?;
    let statement = conn.statement(HELD_UPCOMING_GHL).await?;
    conn.count_round_trip();
    let now = shared::domain::to_millis(now).naive_utc();
    let rows = conn.client.query(&statement, &[&lead_id, &now]).await?;
    let listed: HashSet<&str> = listed.iter().map(|a| a.id.as_str()).collect();
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).filter(|key| !listed.contains(key.as_str())).collect())
}

/// The observation that an appointment was deleted in GHL, seen at `at`.
fn deletion(lead_id: &str, key: String, at: DateTime<Utc>, source: AppointmentSource, tasks: TaskPolicy) -> Observation {
    let gone = ghl::GhlAppointment {
        id: key,
        appointment_status: None,
        status: None,
        contact_id: None,
        start_time: serde_json::Value::Null,
        end_time: serde_json::Value::Null,
        date_added: serde_json::Value::Null,
        date_updated: serde_json::Value::Null,
    };
    ghl::observation(lead_id, &gone, ghl::Seen::Deleted { at: Some(at) }, chrono_tz::UTC, source, tasks)
        .expect("a held key is a valid key and a deletion needs nothing else")
}

async fn mark_checked(store: &Store, lead_id: &str, at: DateTime<Utc>) -> Result<(), shared::Error> {
    let mut conn = store.conn().await?;
    let statement = conn.statement(MARK_CHECKED).await?;
    conn.count_round_trip();
    let at = shared::domain::to_millis(at).naive_utc();
    conn.client.execute(&statement, &[&lead_id, &at]).await?;
    Ok(())
}
