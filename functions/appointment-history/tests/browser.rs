//! The timeline view in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`; `scripts/browser.sh` installs them) driven over WebDriver, against the real
//! router served on a loopback port and a real PostgreSQL. Waits are explicit: every step polls for
//! the state it needs, with a deadline; nothing sleeps for a fixed time.
//!
//! The demo-like lead's timeline is written to `target/screenshots/timeline-desktop.png` and
//! `timeline-phone.png` (360 px wide).

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use appointment_history::api::LOCAL_PREFIX;
use appointment_history::auth::{sign, Claims};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::{at, calendly_booking, invitee, Harness, CLIENT_A, SECRET};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use shared::testing::ghl_observation;
use shared::{AppointmentStatus, Canceler, Observation, ObservedStatus};
use tower::ServiceExt;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one awaited state may take (a cold Chromium on a busy two-core machine is slow).
const PATIENCE: Duration = Duration::from_secs(30);
/// Between two looks at the page while waiting for a state.
const POLL: Duration = Duration::from_millis(50);

/// Browser tests share the machine's cores with PostgreSQL and each other: one browser at a time.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// The stack: the router on a loopback port, chromedriver on another, one Chromium session.

struct Stack {
    harness: Harness,
    base: String,
    browser: Browser,
}

impl Stack {
    async fn start() -> Stack {
        let harness = Harness::new().await;
        let base = serve(harness.router.clone()).await;
        let browser = Browser::start().await;
        Stack { harness, base, browser }
    }

    fn page(&self, prefix: &str, lead: &str, token: &str) -> String {
        format!("{}{prefix}/ui/timeline.html?lead={lead}#token={token}", self.base)
    }

    /// Opens a lead's page and waits until the component has settled (`ready` or `error`).
    async fn open(&self, prefix: &str, lead: &str, token: &str) -> &Client {
        let c = &self.browser.client;
        c.goto(&self.page(prefix, lead, token)).await.unwrap();
        wait_until(c, "the timeline to settle", "el && ['ready', 'error'].includes(el.dataset.state)").await;
        c
    }
}

/// Serves a router on a free loopback port until the test ends; its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

struct Browser {
    client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    async fn start() -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: run scripts/browser.sh (make test does) to install Debian's chromium and chromium-driver"
            );
        }
        let port = shared::embedded::free_port().unwrap();
        let profile = std::env::temp_dir().join(format!("appointment-timeline-chromium-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&profile).unwrap();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            // A fixed zone and language, so that "your time" differs from the appointments' zone
            // and the screenshots read the same on every machine.
            .env("TZ", "Europe/Berlin")
            .env("LANG", "en_US.UTF-8")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--lang=en-US", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities.as_object().unwrap().clone());
        // chromedriver needs a moment to listen: retry the session until the deadline.
        let deadline = Instant::now() + PATIENCE;
        let client = loop {
            match builder.connect(&url).await {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => panic!("no WebDriver session from {CHROMEDRIVER}: {e}"),
            }
        };
        Browser { client, driver, profile }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Stopping chromedriver ends its Chromium; the session is not needed any more.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

// ---------------------------------------------------------------------------------------------
// Looking into the page. `el` is the <appointment-timeline>, `root` its shadow root.

const PRELUDE: &str = "const el = document.querySelector('appointment-timeline'); const root = el && el.shadowRoot;";

async fn js(c: &Client, body: &str) -> Value {
    c.execute(&format!("{PRELUDE} {body}"), vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}\n{body}"))
}

/// Polls a JavaScript condition until it holds; panics with what it was waiting for after PATIENCE.
async fn wait_until(c: &Client, what: &str, condition: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if js(c, &format!("return Boolean({condition});")).await == Value::Bool(true) {
            return;
        }
        if Instant::now() > deadline {
            let state = js(c, "return el ? el.dataset.state + ' ' + root.textContent.slice(0, 500) : document.body.textContent;").await;
            panic!("timed out waiting for {what} ({condition}); page: {state}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The appointment ids listed, in order.
async fn listed(c: &Client) -> Vec<String> {
    let v = js(c, "return [...root.querySelectorAll('ol.timeline > li')].map(li => li.dataset.appointmentId || li.dataset.origin);").await;
    serde_json::from_value(v).unwrap()
}

/// An element inside the component's shadow root (found over WebDriver, for real clicks).
async fn shadow_find(c: &Client, css: &str) -> Element {
    let host = c.find(Locator::Css("appointment-timeline")).await.unwrap();
    host.shadow_root().await.unwrap().find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Data, through the write path as the webhooks record it.

fn calendly(lead: &str, name: &str, status: AppointmentStatus, start: DateTime<Utc>, updated: DateTime<Utc>) -> Observation {
    calendly_booking(lead, name, status, start, updated, "America/Los_Angeles")
}

fn ghl(lead: &str, id: &str, status: AppointmentStatus, start: DateTime<Utc>) -> Observation {
    ghl_observation(lead, id, status, Some(start), at(1, 8))
}

/// The `make demo` story on `lead_a1`: an intro call the host canceled, then a discovery call that
/// Dana rescheduled (the new booking arrives before the cancel of the old one). Returns
/// (intro, discovery, rescheduled discovery).
async fn demo_lead(h: &Harness) -> (String, String, String) {
    let mut intro = calendly("lead_a1", "intro", AppointmentStatus::Confirmed, at(6, 16), at(1, 9));
    let intro_id = h.record(intro.clone()).await;
    intro.status = ObservedStatus::Is(AppointmentStatus::Canceled);
    intro.provider_updated_at = Some(at(5, 14));
    intro.canceled_at = Some(at(5, 14));
    intro.canceled_by = Some(Canceler::Host);
    intro.cancel_reason = Some("Double-booked, sorry! Call me at +1 415 555 0134".into());
    h.record(intro).await;

    let first = h.record(calendly("lead_a1", "discovery", AppointmentStatus::Confirmed, at(18, 17), at(10, 9))).await;
    let mut second = calendly("lead_a1", "discovery-2", AppointmentStatus::Confirmed, at(20, 16), at(14, 9));
    second.rescheduled_from_key = Some(invitee("discovery"));
    let second_id = h.record(second).await;
    let mut canceled = calendly("lead_a1", "discovery", AppointmentStatus::Rescheduled, at(18, 17), at(14, 9));
    canceled.rescheduled_to_key = Some(invitee("discovery-2"));
    canceled.canceled_at = Some(at(14, 9));
    canceled.canceled_by = Some(Canceler::Invitee);
    canceled.cancel_reason = Some("Travelling that day, moving to Thursday. Reach me at dana.whitfield@example.com".into());
    h.record(canceled).await;
    (intro_id, first, second_id)
}

fn expired_token() -> String {
    let exp = (Utc::now() - TimeDelta::hours(2)).timestamp() as u64;
    sign(&Claims { sub: "crm-test".into(), exp, client_ids: vec![CLIENT_A.into()] }, SECRET.as_bytes())
}

fn screenshot_dir() -> PathBuf {
    // target/ of the workspace (or CARGO_TARGET_DIR), beside the test binaries.
    let dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    };
    dir.join("screenshots")
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reschedule_chain_renders_and_links_with_red_follow_ups() {
    let _one = ONE_BROWSER.lock().await;
    let stack = Stack::start().await;
    let (intro, first, second) = demo_lead(&stack.harness).await;
    // The local (cargo lambda) path: the page finds the API beside itself.
    let c = stack.open(LOCAL_PREFIX, "lead_a1", &common::token(&[CLIENT_A])).await;
    assert_eq!(js(c, "return el.dataset.state;").await, json!("ready"));

    // Newest first; the new booking says where it came from.
    assert_eq!(listed(c).await, [second.clone(), first.clone(), intro.clone()]);
    let chain = js(
        c,
        &format!(
            "const li = root.querySelector('li[data-appointment-id=\"{second}\"]');
             return {{ from: li.dataset.rescheduledFrom, line: li.classList.contains('links-next'),
                      text: li.textContent, old: root.querySelector('li[data-appointment-id=\"{first}\"]').textContent }};"
        ),
    )
    .await;
    assert_eq!(chain["from"], json!(first));
    assert_eq!(chain["line"], json!(true), "a line joins the new booking to the one it replaced");
    let text = chain["text"].as_str().unwrap();
    assert!(text.contains("Rescheduled from"), "{text}");
    assert!(text.contains("Primary"), "{text}");
    assert!(text.contains("America/Los_Angeles"), "the appointment's zone: {text}");
    assert!(text.contains("Europe/Berlin"), "the viewer's zone: {text}");
    let old = chain["old"].as_str().unwrap();
    assert!(old.contains("Rescheduled to") && old.contains("The invitee"), "{old}");
    assert!(old.contains("Reach me at [email]"), "the masked reason: {old}");
    assert!(!old.contains("dana.whitfield"), "{old}");

    // The link moves the focus to the old appointment.
    shadow_find(c, &format!("li[data-appointment-id=\"{second}\"] .chain-from a")).await.click().await.unwrap();
    wait_until(
        c,
        "focus on the replaced appointment",
        &format!("root.activeElement && root.activeElement.dataset.appointmentId === '{first}'"),
    )
    .await;

    // Booking status first; the open cancel and reschedule tasks in red, on their appointments.
    let status = js(c, "return root.querySelector('.booking').textContent;").await;
    assert!(status.as_str().unwrap().contains("Booked"), "{status}");
    assert_eq!(js(c, "return root.querySelector('.booked').dataset.booked;").await, json!("true"));
    let flagged = js(
        c,
        "return [...root.querySelectorAll('li.has-open-task')].map(li => [li.dataset.appointmentId,
             [...li.querySelectorAll('.task.urgent')].map(t => t.dataset.taskType).join(),
             getComputedStyle(li.querySelector('.task')).color]);",
    )
    .await;
    assert_eq!(
        flagged,
        json!([[first, "meeting-rescheduled", "rgb(179, 38, 30)"], [intro, "meeting-canceled", "rgb(179, 38, 30)"]]),
        "red follow-ups on the rescheduled and the canceled appointment"
    );
    let intro_text = js(c, &format!("return root.querySelector('li[data-appointment-id=\"{intro}\"]').textContent;")).await;
    assert!(intro_text.as_str().unwrap().contains("The host"), "{intro_text}");

    // The change log on demand.
    assert_eq!(js(c, "return root.querySelectorAll('details.changes').length;").await, json!(0));
    shadow_find(c, "input[name=changes]").await.click().await.unwrap();
    wait_until(c, "the change logs", "el.dataset.state === 'ready' && root.querySelectorAll('details.changes').length === 3").await;

    // The token left the address bar; the page was served with its security headers (below).
    let url = c.current_url().await.unwrap();
    assert!(url.fragment().is_none(), "{url}");

    // Screenshots: desktop, then phone width (nothing wider than the screen).
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    shadow_find(c, "input[name=changes]").await.click().await.unwrap();
    wait_until(c, "the change logs to go", "el.dataset.state === 'ready' && root.querySelectorAll('details.changes').length === 0").await;
    c.set_window_size(1280, 1500).await.unwrap();
    wait_until(c, "a desktop-wide page", "window.innerWidth >= 1200").await;
    std::fs::write(dir.join("timeline-desktop.png"), c.screenshot().await.unwrap()).unwrap();
    c.set_window_size(360, 2000).await.unwrap();
    wait_until(c, "a 360 px wide page", "window.innerWidth === 360").await;
    assert_eq!(
        js(c, "return document.documentElement.scrollWidth <= window.innerWidth;").await,
        json!(true),
        "at 360 px nothing scrolls sideways"
    );
    std::fs::write(dir.join("timeline-phone.png"), c.screenshot().await.unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_hide_and_show_canceled_and_inactive_appointments() {
    let _one = ONE_BROWSER.lock().await;
    let stack = Stack::start().await;
    let h = &stack.harness;
    let confirmed = h.record(ghl("lead_a1", "c", AppointmentStatus::Confirmed, at(20, 9))).await;
    let canceled = h.record(ghl("lead_a1", "x", AppointmentStatus::Canceled, at(19, 9))).await;
    let showed = h.record(ghl("lead_a1", "s", AppointmentStatus::Showed, at(5, 9))).await;
    let rescheduled = h.record(ghl("lead_a1", "r1", AppointmentStatus::Rescheduled, at(4, 9))).await;
    let c = stack.open("", "lead_a1", &h.token()).await;
    let all = [confirmed.clone(), canceled.clone(), showed.clone(), rescheduled.clone()];
    assert_eq!(listed(c).await, all);

    // Hide canceled: the canceled one goes (a rescheduled one stays: it carries the chain).
    shadow_find(c, "input[name=includeCanceled]").await.click().await.unwrap();
    wait_until(
        c,
        "canceled hidden",
        &format!("el.dataset.state === 'ready' && !root.querySelector('li[data-appointment-id=\"{canceled}\"]')"),
    )
    .await;
    assert_eq!(listed(c).await, [confirmed.clone(), showed.clone(), rescheduled.clone()]);

    // Active only as well: only confirmed and showed.
    shadow_find(c, "input[name=activeOnly]").await.click().await.unwrap();
    wait_until(
        c,
        "active only",
        &format!("el.dataset.state === 'ready' && !root.querySelector('li[data-appointment-id=\"{rescheduled}\"]')"),
    )
    .await;
    assert_eq!(listed(c).await, [confirmed.clone(), showed.clone()]);

    // Both off again, with the keyboard this time: everything is back.
    for name in ["activeOnly", "includeCanceled"] {
        let input = shadow_find(c, &format!("input[name={name}]")).await;
        input.send_keys(" ").await.unwrap();
    }
    wait_until(c, "all appointments", "el.dataset.state === 'ready' && root.querySelectorAll('ol.timeline > li').length === 4").await;
    assert_eq!(listed(c).await, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_without_history_shows_its_rollup_clearly_labelled() {
    let _one = ONE_BROWSER.lock().await;
    let stack = Stack::start().await;
    let start = Utc.with_ymd_and_hms(2031, 3, 11, 15, 0, 0).unwrap().naive_utc();
    stack
        .harness
        .sql
        .execute(
            r#"UPDATE "Lead" SET "appointmentStartAt" = $1, "appointmentEndAt" = $2, "appointmentStatus" = 'confirmed',
                      "appointmentProvider" = 'GHL', "appointmentSource" = 'ghl-webhook' WHERE "id" = 'lead_a2'"#,
            &[&start, &(start + TimeDelta::minutes(30))],
        )
        .await
        .unwrap();
    let c = stack.open("", "lead_a2", &stack.harness.token()).await;
    let fallback = js(
        c,
        "const li = root.querySelector('li[data-origin=\"leadRollup\"]');
         return li && { id: li.dataset.appointmentId || null, text: li.textContent, count: root.querySelectorAll('ol.timeline > li').length };",
    )
    .await;
    assert_eq!(fallback["count"], json!(1), "{fallback}");
    assert_eq!(fallback["id"], Value::Null);
    let text = fallback["text"].as_str().unwrap();
    assert!(text.contains("From the lead record"), "{text}");
    assert!(text.contains("GoHighLevel"), "{text}");

    // A lead with nothing at all: a clear empty state.
    let c = stack.open("", "lead_a1", &stack.harness.token()).await;
    assert_eq!(listed(c).await, Vec::<String>::new());
    assert_eq!(js(c, "return root.querySelector('[role=status]').textContent;").await, json!("No appointments yet."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_a_missing_lead_or_an_outage_shows_an_alert() {
    let _one = ONE_BROWSER.lock().await;
    let stack = Stack::start().await;
    stack.harness.record(ghl("lead_a1", "g1", AppointmentStatus::Confirmed, at(20, 9))).await;
    let c = stack.open("", "lead_a1", &expired_token()).await;
    let alert = js(c, "return { state: el.dataset.state, status: root.querySelector('[role=alert]').dataset.status, text: root.querySelector('[role=alert]').textContent, items: root.querySelectorAll('ol.timeline > li').length };").await;
    assert_eq!(alert["state"], json!("error"));
    assert_eq!(alert["status"], json!("401"));
    assert!(alert["text"].as_str().unwrap().contains("expired"), "{alert}");
    assert_eq!(alert["items"], json!(0));

    // Another workspace's lead answers like a missing one.
    let c = stack.open("", "lead_b1", &stack.harness.token()).await;
    let alert = js(c, "return root.querySelector('[role=alert]').textContent;").await;
    assert!(alert.as_str().unwrap().contains("not found"), "{alert}");

    // The database is down: 503, said plainly, with a way to try again.
    let config = appointment_history::AppConfig::new(shared::testing::unreachable_database(), SECRET).unwrap();
    let down = serve(appointment_history::router(std::sync::Arc::new(appointment_history::App::new(config)))).await;
    c.goto(&format!("{down}/ui/timeline.html?lead=lead_a1#token={}", stack.harness.token())).await.unwrap();
    wait_until(c, "the 503 alert", "el && el.dataset.state === 'error'").await;
    let alert = js(c, "const a = root.querySelector('[role=alert]'); return { status: a.dataset.status, text: a.textContent, retry: !!a.querySelector('button') };").await;
    assert_eq!(alert["status"], json!("503"), "{alert}");
    assert!(alert["text"].as_str().unwrap().contains("unavailable"), "{alert}");
    assert_eq!(alert["retry"], json!(true));

    // The page itself says when it has no token.
    c.goto(&format!("{}/ui/timeline.html?lead=lead_a1", stack.base)).await.unwrap();
    wait_until(c, "the page's alert", "document.querySelector('#page-error[role=alert]').textContent.includes('No token')").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_more_pages_through_the_cursor() {
    let _one = ONE_BROWSER.lock().await;
    let stack = Stack::start().await;
    let h = &stack.harness;
    // 25 appointments, some sharing a start (the cursor's tie-break): 20 on the first page.
    let mut expected = Vec::new();
    for i in 0..25u32 {
        let start = Utc.with_ymd_and_hms(2031, 2, 1 + i / 2, 9, 0, 0).unwrap();
        expected.push((start, h.record(ghl("lead_a1", &format!("g{i:02}"), AppointmentStatus::Confirmed, start)).await));
    }
    expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    let c = stack.open("", "lead_a1", &h.token()).await;
    assert_eq!(listed(c).await, expected[..20]);
    let more = shadow_find(c, "button.more").await;
    assert!(more.is_displayed().await.unwrap());
    more.click().await.unwrap();
    wait_until(c, "the second page", "el.dataset.state === 'ready' && root.querySelectorAll('ol.timeline > li').length === 25").await;
    assert_eq!(listed(c).await, expected);
    assert_eq!(js(c, "return root.querySelector('button.more').hidden;").await, json!(true), "no third page");
    // The keyboard continues at the first new appointment.
    assert_eq!(js(c, "return root.activeElement && root.activeElement.dataset.appointmentId;").await, json!(expected[20]));
}

// ---------------------------------------------------------------------------------------------
// Without a browser: the files' headers, and the tasks the view reads.

#[tokio::test]
async fn the_view_is_served_with_its_security_headers() {
    let h = Harness::new().await;
    for (path, content_type) in [
        ("/ui/timeline.html", "text/html; charset=utf-8"),
        ("/ui/appointment-timeline.js", "text/javascript; charset=utf-8"),
        ("/ui/appointment-timeline.css", "text/css; charset=utf-8"),
        ("/lambda-url/appointment-history/ui/timeline.js", "text/javascript; charset=utf-8"),
    ] {
        let response = h.router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert_eq!(get("content-type"), content_type, "{path}");
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
        let csp = get("content-security-policy");
        let script_src = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src")).unwrap_or("");
        assert_eq!(script_src, "script-src 'self'", "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    }
    // Not a file of the view: the API's 404 problem (checked against openapi.json).
    let r = h.get("/ui/../leads/lead_a1/appointments", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h.get("/ui/secrets.txt", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["type"], json!("urn:appointment-history:problem:route-not-found"));
}

#[tokio::test]
async fn include_tasks_returns_the_open_cancel_and_reschedule_tasks() {
    let h = Harness::new().await;
    let (intro, first, _) = demo_lead(&h).await;
    let uri = "/leads/lead_a1/appointments";
    // Not asked for: absent.
    let plain = h.get(uri, Some(&h.token())).await;
    assert!(plain.body.get("followUpTasks").is_none());

    let r = h.get(&format!("{uri}?include=tasks"), Some(&h.token())).await;
    assert_eq!(r.status, StatusCode::OK);
    let tasks: Vec<(String, String, bool, String)> = r.body["followUpTasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["appointmentId"].as_str().unwrap().into(),
                t["type"].as_str().unwrap().into(),
                t["isUrgent"].as_bool().unwrap(),
                t["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            (intro.clone(), "meeting-canceled".into(), true, "pending".into()),
            (first.clone(), "meeting-rescheduled".into(), true, "pending".into())
        ]
    );
    assert!(r.body["appointments"][0].get("changes").is_none());

    // A finished task is not open any more; other kinds of task are not the timeline's.
    h.sql.execute(r#"UPDATE "FollowUpTask" SET "status" = 'completed' WHERE "appointmentId" = $1"#, &[&intro]).await.unwrap();
    h.sql
        .execute(
            r#"INSERT INTO "FollowUpTask" ("id", "leadId", "type", "status", "updatedAt") VALUES ('t-call', 'lead_a1', 'call-back', 'pending', now())"#,
            &[],
        )
        .await
        .unwrap();
    let r = h.get(&format!("{uri}?include=tasks,changes&limit=1"), Some(&h.token())).await;
    let ids: Vec<&str> = r.body["followUpTasks"].as_array().unwrap().iter().map(|t| t["appointmentId"].as_str().unwrap()).collect();
    assert_eq!(ids, [first.as_str()]);
    assert!(r.body["appointments"][0]["changes"].is_array());
    // Every page carries them.
    let next = r.body["nextCursor"].as_str().unwrap();
    let r = h.get(&format!("{uri}?include=tasks&limit=1&cursor={next}"), Some(&h.token())).await;
    assert_eq!(r.body["followUpTasks"].as_array().unwrap().len(), 1);

    // One round trip per page, whatever is included (once the statements are prepared).
    for query in ["include=tasks", "include=tasks,changes", "include=changes,tasks&includeCanceled=false"] {
        let before = h.store().round_trips();
        assert_eq!(h.get(&format!("{uri}?{query}"), Some(&h.token())).await.status, StatusCode::OK);
        assert_eq!(h.store().round_trips() - before, 1, "{query}");
    }

    // Another lead's tasks never show.
    let other = h.get("/leads/lead_a2/appointments?include=tasks", Some(&h.token())).await;
    assert_eq!(other.body["followUpTasks"], json!([]));
}
