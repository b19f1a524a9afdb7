//! Faults, end to end through the function URLs: the database crashing under a stream of webhook
//! deliveries, migrate-batch killed mid-batch, reconcile-scheduled under database and provider
//! trouble. Each ends by comparing the database with what in-order, once-only work makes.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::deliveries::{self, CalendlyWorld, Delivery, GhlWorld, Seen};
use crate::footprint::cases;
use crate::footprint::runtime_api::{AnswerKind, Invocation, Running};
use crate::provider_mock::{Behaviour, APPOINTMENTS_PER_CONTACT};
use crate::stack::Stack;
use crate::table::Table;

const SECTION: &str = "faults";
const SENDERS: usize = 8;

/// PostgreSQL crashes (immediate stop) and comes back while 8 senders deliver signed Calendly and
/// GHL stories, each redelivering by its provider's rule.
pub async fn database_crash(table: &mut Table, stack: &Stack) {
    const DOWN: Duration = Duration::from_secs(3);
    let calendly = CalendlyWorld::new("soak_crash_cal", "crashcal", 150);
    let ghl = GhlWorld::new("soak_crash_ghl", "loc_soak_crash", "crashghl", 150);
    let check = "database crash (immediate stop, restart) during 8 concurrent Calendly + GHL senders";
    let reference = match seed_both(stack, &calendly, &ghl).await {
        Ok(r) => r,
        Err(e) => return table.failed(SECTION, check, e),
    };
    // Each sender takes every 8th lead's story and sends it in order, a delivery at a time.
    // Calendly and GHL stories alternate, so that both providers' deliveries meet the outage.
    let stories: Vec<Vec<Delivery>> = calendly.stories().into_iter().zip(ghl.stories()).flat_map(|(c, g)| [c, g]).collect();
    let all: Vec<Delivery> = stories.iter().flatten().cloned().collect();
    let mut per_sender: Vec<Vec<Delivery>> = vec![Vec::new(); SENDERS];
    for (i, story) in stories.into_iter().enumerate() {
        per_sender[i % SENDERS].extend(story);
    }
    let seen = [Mutex::new(Seen::default()), Mutex::new(Seen::default())];
    let senders = futures::future::join_all(per_sender.iter().map(|list| {
        let seen = &seen;
        async move {
            for d in list {
                deliveries::deliver(stack, d, &seen[d.provider as usize]).await;
            }
        }
    }));
    // The crash comes once a quarter of the deliveries are answered (not after a fixed time: on a
    // quiet machine the senders can be done in a second or two), so that most meet it or follow it.
    let crash = async {
        let answered = || seen.iter().map(|s| s.lock().unwrap().attempts.len()).sum::<usize>();
        while answered() < all.len() / 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (crashed, answered_at_crash) = (Instant::now(), answered());
        let result = stack.crash_database(DOWN).await;
        (crashed, Instant::now(), result, answered_at_crash, answered())
    };
    let began = Instant::now();
    let (_, (crashed, back, crash_result, answered_at_crash, answered_when_back)) = tokio::join!(senders, crash);
    let took = began.elapsed();
    if let Err(e) = crash_result {
        return table.failed(SECTION, check, format!("could not crash and restart PostgreSQL: {e}"));
    }
    let [calendly_seen, ghl_seen] = seen.map(|s| s.into_inner().unwrap());
    // Recovery: from PostgreSQL being back to the first delivery taken after it.
    let first_taken_after =
        calendly_seen.attempts.iter().chain(&ghl_seen.attempts).filter(|(at, ok)| *ok && *at > back).map(|(at, _)| *at).min();
    let recovery = first_taken_after.map(|t| t - back);
    let refused_during = |s: &Seen| s.attempts.iter().filter(|(at, ok)| !ok && *at >= crashed).count();
    let unrecorded: BTreeSet<(String, usize)> = calendly_seen.never_recorded().union(&ghl_seen.never_recorded()).cloned().collect();
    let differences = compare(stack, &reference, all, &[calendly.leads.ids(), ghl.leads.ids()].concat()).await;
    let ghl_5xx: u64 = ghl_seen.answers.iter().filter(|(s, _)| **s >= 500 || **s == 0).map(|(_, n)| n).sum();
    table.push(
        SECTION,
        check,
        format!(
            "{} deliveries in {:.1} s; down {:.0} s, from the {answered_at_crash}th answer ({answered_when_back} answers when back); Calendly answers: {}; GHL answers: {}; refused after the crash: {} Calendly, {} GHL; \
             first delivery taken {} after PostgreSQL was back; not taken in the end: {}; acknowledged unrecorded: {}; \
             database vs in-order once-only: {}",
            all_len(&calendly, &ghl),
            took.as_secs_f64(),
            DOWN.as_secs_f64(),
            calendly_seen.summary(),
            ghl_seen.summary(),
            refused_during(&calendly_seen),
            refused_during(&ghl_seen),
            recovery.map_or("never".into(), |r| format!("{} ms", r.as_millis())),
            calendly_seen.not_taken.len() + ghl_seen.not_taken.len(),
            unrecorded.len(),
            deliveries::verdict(&differences),
        ),
        "outage answered 503 (Calendly) / 429 (GHL), nothing lost or duplicated",
        differences.is_empty()
            && unrecorded.is_empty()
            && calendly_seen.not_taken.is_empty()
            && ghl_seen.not_taken.is_empty()
            && ghl_5xx == 0
            && calendly_seen.count(503) + ghl_seen.count(429) > 0
            && recovery.is_some(),
    );
}

fn all_len(calendly: &CalendlyWorld, ghl: &GhlWorld) -> usize {
    (calendly.leads.count + ghl.leads.count) * 4
}

/// Seeds the worlds in the service database and in a fresh reference database.
async fn seed_both(stack: &Stack, calendly: &CalendlyWorld, ghl: &GhlWorld) -> Result<shared::testing::TestDb, String> {
    let reference = shared::testing::try_test_database().await.map_err(|e| e.to_string())?;
    for db in [stack.client().await, reference.client().await] {
        calendly.seed(&db).await.map_err(|e| e.to_string())?;
        ghl.seed(&db).await.map_err(|e| e.to_string())?;
    }
    Ok(reference)
}

/// Replays every delivery once, in order, into the reference; what differs from
/// the service database.
pub async fn compare(stack: &Stack, reference: &shared::testing::TestDb, sent: Vec<Delivery>, leads: &[String]) -> Vec<String> {
    deliveries::replay_in_order(reference, deliveries::in_order(&sent)).await;
    deliveries::differences(&stack.client().await, &reference.client().await, leads).await
}

/// migrate-batch is SIGKILLed in the middle of an apply run and resumed; its rows must be those of
/// an uninterrupted run of the same data on another database.
///
/// An operator-invoked function (no function URL): the soak runs its release binary on a local
/// Runtime API of its own (`footprint::runtime_api`), as Lambda would, so that the process it kills
/// is the one doing the batch and the resume is a new process, as after a crash in AWS. (Under
/// `cargo lambda watch`, the function restarted after a SIGKILL was handed events without their
/// request id, and panicked.)
pub async fn migration_killed(table: &mut Table, stack: &Stack) {
    const LEADS: u32 = 40_000;
    const BATCH: u32 = 500;
    const FUNCTION: &str = "migrate-batch";
    /// Each invocation's own limit: the whole apply takes seconds.
    const ANSWER_WITHIN: Duration = Duration::from_secs(120);
    /// A resume that is not done after this many invocations has failed.
    const MAX_RESUMES: u32 = 3;
    let check = format!("migrate-batch SIGKILLed mid-run ({LEADS} Phase 28 leads, batches of {BATCH}), then resumed by a new process");
    let result = async {
        let reference = shared::testing::try_test_database().await.map_err(|e| e.to_string())?;
        let service = stack.client().await;
        let generate = shared::testing::PHASE28_LEADS_SQL.replace("$N", &LEADS.to_string());
        service.batch_execute(&generate).await.map_err(|e| e.to_string())?;
        let expected_db = reference.client().await;
        expected_db.batch_execute(&generate).await.map_err(|e| e.to_string())?;

        // Uninterrupted, in this process, on the reference.
        let store = reference.store().await;
        let apply = json!({"mode": "apply", "batchSize": BATCH});
        let whole = migrate_batch::handle(&store, &apply, None).await.map_err(|e| format!("uninterrupted run: {e}"))?;
        if !whole.done {
            return Err("the uninterrupted run did not finish".to_string());
        }

        // The function's own process, killed once a batch is committed.
        let env = cases::env(FUNCTION, &stack.db.url, &stack.mock.uri());
        let start = |event: serde_json::Value, n: u32| {
            let invocation = Invocation::new(FUNCTION, serde_json::to_vec(&event).expect("JSON"), cases::timeout(FUNCTION));
            let (binary, log) = (stack.binary(FUNCTION), stack.log_file(&format!("{FUNCTION}-{n}")));
            let env = env.clone();
            async move { Running::spawn(&binary, &env, invocation, &log).await }
        };
        let mut first = start(apply.clone(), 0).await?;
        let began = Instant::now();
        let (run_id, cursor_at_kill) = loop {
            if let Some(pid) = first.child.id() {
                stack.note_peak(FUNCTION, pid);
            }
            let cursor = service
                .query_opt(r#"SELECT "id", "cursor" FROM "AppointmentMigrationRun" WHERE "cursor" IS NOT NULL LIMIT 1"#, &[])
                .await
                .map_err(|e| e.to_string())?;
            if let Some(row) = cursor {
                break (row.get::<_, String>(0), row.get::<_, String>(1));
            }
            if let Ok(Some(status)) = first.child.try_wait() {
                return Err(format!(
                    "the run exited ({status}) before committing a batch (log: {})",
                    stack.log_file(&format!("{FUNCTION}-0")).display()
                ));
            }
            if began.elapsed() > ANSWER_WITHIN {
                return Err(format!("the run committed no batch within {} s", ANSWER_WITHIN.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // A few batches more, then the kill: it must land mid-run.
        tokio::time::sleep(Duration::from_millis(150)).await;
        if let Ok(Some(status)) = first.child.try_wait() {
            return Err(format!("the run ended ({status}) before the kill"));
        }
        first.child.start_kill().map_err(|e| format!("SIGKILL: {e}"))?;
        let killed = first.child.wait().await.map_err(|e| e.to_string())?;
        use std::os::unix::process::ExitStatusExt;
        if killed.signal() != Some(libc::SIGKILL) {
            return Err(format!("the run ended ({killed}) before the kill"));
        }
        drop(first);
        let at_kill = service
            .query_one(r#"SELECT "cursor", "done" FROM "AppointmentMigrationRun" WHERE "id" = $1"#, &[&run_id])
            .await
            .map_err(|e| e.to_string())?;
        let (checkpoint, done): (Option<String>, bool) = (at_kill.get(0), at_kill.get(1));
        if done {
            return Err("the run was done when killed".to_string());
        }
        let mut resumes = 0;
        loop {
            resumes += 1;
            let mut resume = start(json!({"mode": "apply", "resume": run_id}), resumes).await?;
            let answer = resume.answer(ANSWER_WITHIN).await.map_err(|e| format!("resume {resumes}: {e}"))?;
            let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            if answer.kind != AnswerKind::Response {
                return Err(format!("resume {resumes} answered {:?} {}", answer.kind, body["errorType"]));
            }
            if body["done"] == json!(true) {
                break;
            }
            if resumes >= MAX_RESUMES {
                return Err(format!("not done after {MAX_RESUMES} resumes"));
            }
        }
        let digest = |db: tokio_postgres::Client| async move {
            let row = db.query_one(shared::testing::APPOINTMENT_DIGEST_SQL, &[]).await.map_err(|e| e.to_string())?;
            let events = db
                .query_one(r#"SELECT count(*) FROM "AppointmentEvent" WHERE "source" = 'MIGRATION'"#, &[])
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((row.get::<_, i64>(0), row.get::<_, Option<String>>(1), events.get::<_, i64>(0)))
        };
        let (actual, expected) = (digest(stack.client().await).await?, digest(reference.client().await).await?);
        Ok::<_, String>((cursor_at_kill, checkpoint, resumes, actual, expected))
    }
    .await;
    match result {
        Err(e) => table.failed(SECTION, check, e),
        Ok((cursor_at_kill, checkpoint, resumes, actual, expected)) => table.push(
            SECTION,
            check,
            format!(
                "killed after checkpoint {} (first seen {cursor_at_kill}); {resumes} resume(s) to done; {} appointments + {} events, \
                 digest {} the uninterrupted run's ({} + {})",
                checkpoint.unwrap_or_default(),
                actual.0,
                actual.2,
                if actual == expected { "equal to" } else { "DIFFERENT from" },
                expected.0,
                expected.2
            ),
            "rows identical to an uninterrupted run",
            actual == expected,
        ),
    }
}

/// reconcile-scheduled's cron run with the database restarted mid-run, and with GHL failing in
/// each way; then a healthy run. No lead may be marked checked without its appointments
/// recorded, and the healthy run must finish the job.
pub async fn reconcile_under_trouble(table: &mut Table, stack: &Stack) {
    const LEADS: usize = 8;
    let scenarios: [(&str, Behaviour, bool); 5] = [
        ("database restarted mid-run", Behaviour::Slow(Duration::from_millis(400)), true),
        ("provider 5xx", Behaviour::ServerErrors, false),
        ("provider timeouts", Behaviour::Hanging, false),
        ("429 storm", Behaviour::RateLimited, false),
        ("slow provider, 2 s per request", Behaviour::Slow(Duration::from_secs(2)), false),
    ];
    let schedule: serde_json::Value =
        match std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/reconcile-scheduled/schedule.json"))
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => return table.failed(SECTION, "reconcile-scheduled under trouble", e),
        };
    for (i, (name, behaviour, crash)) in scenarios.into_iter().enumerate() {
        let check = format!("reconcile-scheduled cron, {name}, {LEADS} GHL leads");
        let client_id = format!("soak_reconcile_{i}");
        let leads: Vec<(String, String)> = (0..LEADS).map(|n| (format!("recon{i}_lead_{n}"), format!("cnt_recon{i}_{n}"))).collect();
        let result = async {
            let db = stack.client().await;
            shared::testing::seed_client(&db, &client_id, None).await.map_err(|e| e.to_string())?;
            db.execute(
                r#"UPDATE "Client" SET "ghlLocationId" = $2, "ghlPrivateKey" = $3, "timezone" = 'America/New_York' WHERE "id" = $1"#,
                &[&client_id, &format!("loc_recon_{i}"), &format!("pit-soak-{i}")],
            )
            .await
            .map_err(|e| e.to_string())?;
            for (lead, contact) in &leads {
                shared::testing::seed_lead(&db, &client_id, lead, None).await.map_err(|e| e.to_string())?;
                db.execute(r#"UPDATE "Lead" SET "ghlContactId" = $2 WHERE "id" = $1"#, &[lead, contact])
                    .await
                    .map_err(|e| e.to_string())?;
            }
            drop(db);
            stack.mock.set(behaviour);
            let began = Instant::now();
            let run = stack.invoke("reconcile-scheduled", &schedule, Duration::from_secs(600));
            let first = if crash {
                let restart = async {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    stack.crash_database(Duration::from_secs(1)).await
                };
                let (first, restarted) = tokio::join!(run, restart);
                restarted.map_err(|e| format!("could not restart PostgreSQL: {e}"))?;
                first
            } else {
                run.await
            };
            let first_took = began.elapsed();
            let after_first = lead_states(stack, &leads).await?;
            stack.mock.set(Behaviour::Healthy);
            let second = stack.invoke("reconcile-scheduled", &schedule, Duration::from_secs(600)).await;
            let after_second = lead_states(stack, &leads).await?;
            Ok::<_, String>((first, first_took, after_first, second, after_second))
        }
        .await;
        stack.mock.set(Behaviour::Healthy);
        match result {
            Err(e) => table.failed(SECTION, check, e),
            Ok((first, first_took, after_first, second, after_second)) => {
                let checked_unrecorded =
                    |states: &[(bool, i64)]| states.iter().filter(|(checked, n)| *checked && *n != APPOINTMENTS_PER_CONTACT as i64).count();
                let checked = |states: &[(bool, i64)]| states.iter().filter(|(c, _)| *c).count();
                let finished = after_second.iter().all(|(c, n)| *c && *n == APPOINTMENTS_PER_CONTACT as i64);
                let run_said = |r: &Result<serde_json::Value, String>| match r {
                    Ok(v) => format!(
                        "checked {}, failed {}, retries {}, 429s {}",
                        v["leadsChecked"], v["failed"], v["retries"], v["rateLimited"]
                    ),
                    Err(e) => format!("failed: {}", e.chars().take(120).collect::<String>()),
                };
                table.push(
                    SECTION,
                    check,
                    format!(
                        "run under fault ({:.1} s): {}; {}/{LEADS} marked checked, {} of them without their appointments; \
                         next run: {}; {}/{LEADS} checked with all appointments",
                        first_took.as_secs_f64(),
                        run_said(&first),
                        checked(&after_first),
                        checked_unrecorded(&after_first),
                        run_said(&second),
                        after_second.iter().filter(|(c, n)| *c && *n == APPOINTMENTS_PER_CONTACT as i64).count(),
                    ),
                    "no lead checked unrecorded; the next run finishes",
                    checked_unrecorded(&after_first) == 0 && checked_unrecorded(&after_second) == 0 && finished && second.is_ok(),
                );
            }
        }
    }
}

/// Per lead: whether it is marked checked, and how many of its contact's appointments are recorded.
async fn lead_states(stack: &Stack, leads: &[(String, String)]) -> Result<Vec<(bool, i64)>, String> {
    // Right after a restart the first connection can still be refused.
    let mut tries = 0;
    let db = loop {
        match stack.db.settings().connect().await {
            Ok(db) => break db,
            Err(_) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let mut out = Vec::new();
    for (lead, contact) in leads {
        let row = db
            .query_one(
                r#"SELECT (SELECT "appointmentLastCheckedAt" IS NOT NULL FROM "Lead" WHERE "id" = $1),
                          (SELECT count(*) FROM "Appointment" WHERE "leadId" = $1 AND "ghlAppointmentId" LIKE '%-' || $2)"#,
                &[lead, contact],
            )
            .await
            .map_err(|e| e.to_string())?;
        out.push((row.get(0), row.get(1)));
    }
    Ok(out)
}
