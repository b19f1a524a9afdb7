//! CloudWatch metrics as Embedded Metric Format (EMF) lines on stdout, written by awslabs' `metrique`.
//!
//! Lambda sends stdout to the function's log group, and CloudWatch Logs turns every line that is an
//! EMF document into metrics: no agent, no API call, no extra permission. Each event below is one
//! JSON line: an `_aws` block (timestamp, namespace, dimension sets, metric names and units) and the
//! values. Lines are written synchronously ([`FlushImmediately`]-style): a frozen or finished Lambda
//! instance never holds unwritten metrics in a queue.
//!
//! Privacy and cardinality: every dimension value is a `&'static str` from a fixed vocabulary
//! (function, outcome, reason, provider, mode, state) or a route template, so no id, email or other
//! request data can become a dimension. Ids are not emitted at all: the log lines next to the metric
//! carry them.
//!
//! Every line has the `Function` dimension (the binary's name), set once by [`init`].
//!
//! [`FlushImmediately`]: metrique::writer::sink::FlushImmediately

use std::sync::OnceLock;
use std::time::Duration;

use metrique::emf::Emf;
use metrique::unit::{Count, Millisecond, Percent};
use metrique::unit_of_work::metrics;
use metrique::writer::{AttachGlobalEntrySinkExt, Entry, FormatExt};
use metrique::ServiceMetrics;

/// The environment variable naming the CloudWatch namespace (the template's `MetricsNamespace`).
pub const NAMESPACE_VAR: &str = "METRICS_NAMESPACE";
/// The namespace when [`NAMESPACE_VAR`] is unset (local runs).
pub const DEFAULT_NAMESPACE: &str = "AppointmentHistory";
/// The dimension every line carries.
pub const FUNCTION_DIMENSION: &str = "Function";

#[derive(Entry)]
#[entry(rename_all = "PascalCase")]
struct Globals {
    function: &'static str,
}

static ATTACHED: OnceLock<()> = OnceLock::new();

/// Sends this process's metrics to stdout as EMF, in the namespace named by `METRICS_NAMESPACE`.
/// Call once at start-up, next to `telemetry::init`; later calls do nothing.
pub fn init(function: &'static str) {
    let namespace = crate::config::optional(NAMESPACE_VAR).unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    // One lock of stdout per line, so that a log line from another thread never lands inside it.
    init_with_writer(function, namespace, || std::io::stdout().lock());
}

/// [`init`] with another destination (tests capture the lines this way). The first call wins.
pub fn init_with_writer<W>(function: &'static str, namespace: String, writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    ATTACHED.get_or_init(|| {
        let stream = Emf::builder(namespace, vec![vec![FUNCTION_DIMENSION.to_string()]])
            .build()
            .merge_globals(Globals { function })
            .output_to_makewriter(writer);
        // Lives as long as the process: the sink stays attached.
        std::mem::forget(ServiceMetrics::write_directly_to(stream));
    });
}

/// Where events go: the attached stdout stream, or nowhere before [`init`] (unit tests, benches).
fn sink() -> metrique::writer::BoxEntrySink {
    ServiceMetrics::sink_or_discard()
}

/// Writes one entry to the function's metrics now: the one way every metric of this module is written.
fn emit<E>(entry: E)
where
    E: metrique::CloseValue<Closed: metrique::InflectableEntry>,
    metrique::writer::BoxEntrySink: metrique::writer::EntrySink<metrique::RootMetric<E>>,
{
    drop(metrique::append_and_close(entry, sink()));
}

// ------------------------------------------------------------------ webhooks

/// What became of one webhook delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Written (something changed).
    Recorded,
    /// Already known: nothing written.
    Duplicate,
    /// Taken (2xx) but not recorded; the reason is the function's fixed label ("event-type", ...).
    Ignored(&'static str),
    /// Refused with a 4xx.
    Refused(Refusal),
    /// Not recorded because of us (5xx, or 429 where the provider only retries that); the reason is
    /// a fixed label ("database-unavailable", "internal").
    Failed(&'static str),
}

/// Why a delivery was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Missing, malformed or wrong signature: a rotated key, a misconfigured sender, or an attack.
    Signature,
    /// A valid signature outside the replay window.
    Stale,
    /// Not a delivery this function understands (size, JSON, shape).
    Malformed,
    /// No such client.
    UnknownClient,
    /// The client exists but has no key to verify with.
    NoSigningKey,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Signature => "signature",
            Refusal::Stale => "stale",
            Refusal::Malformed => "malformed",
            Refusal::UnknownClient => "unknown-client",
            Refusal::NoSigningKey => "no-signing-key",
        }
    }
}

impl Delivery {
    pub fn outcome(self) -> &'static str {
        match self {
            Delivery::Recorded => "recorded",
            Delivery::Duplicate => "duplicate",
            Delivery::Ignored(_) => "ignored",
            Delivery::Refused(_) => "refused",
            Delivery::Failed(_) => "failed",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Delivery::Recorded | Delivery::Duplicate => "none",
            Delivery::Ignored(r) | Delivery::Failed(r) => r,
            Delivery::Refused(r) => r.label(),
        }
    }
}

#[metrics(rename_all = "PascalCase", emf::dimension_sets = [["Outcome"], ["Outcome", "Reason"]])]
struct WebhookDelivery {
    outcome: &'static str,
    reason: &'static str,
    #[metrics(unit = Count)]
    webhook_deliveries: u64,
}

/// One webhook delivery. How long its write took is the write path's `RecordLatency` (same
/// `Function`).
pub fn webhook_delivery(delivery: Delivery) {
    emit(WebhookDelivery { outcome: delivery.outcome(), reason: delivery.reason(), webhook_deliveries: 1 });
}

// ------------------------------------------------------------------ history API

#[metrics(rename_all = "PascalCase", emf::dimension_sets = [["Route"], ["Route", "Status"]])]
struct ApiRequest {
    route: String,
    status: &'static str,
    #[metrics(unit = Count)]
    api_requests: u64,
    #[metrics(unit = Millisecond)]
    api_latency: Duration,
}

/// One history API request. `route` is the matched route template (`GET /leads/{leadId}/appointments`),
/// never the path: a path holds ids. Unmatched requests are `"unmatched"`.
pub fn api_request(route: &str, status: u16, latency: Duration) {
    emit(ApiRequest { route: route.to_string(), status: status_label(status), api_requests: 1, api_latency: latency });
}

/// The status as a dimension value, from a fixed set (anything unusual is its class).
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        s if s < 200 => "1xx",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

// ------------------------------------------------------------------ reconcile

/// The numbers of one reconcile run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReconcileRun {
    /// "cron" or "backfill".
    pub mode: &'static str,
    pub leads_checked: u64,
    pub leads_failed: u64,
    pub leads_skipped: u64,
    pub duration: Duration,
    /// The time the run allowed itself (the invocation's deadline less the margin).
    pub budget: Duration,
    /// The run ended in an error (nothing or only part of it done).
    pub failed: bool,
}

#[metrics(rename_all = "PascalCase", emf::dimension_sets = [["Mode"]])]
struct ReconcileRunEntry {
    mode: &'static str,
    #[metrics(unit = Count)]
    reconcile_runs: u64,
    #[metrics(unit = Count)]
    reconcile_run_errors: u64,
    #[metrics(unit = Count)]
    leads_checked: u64,
    #[metrics(unit = Count)]
    leads_failed: u64,
    #[metrics(unit = Count)]
    leads_skipped: u64,
    #[metrics(unit = Millisecond)]
    run_duration: Duration,
    #[metrics(unit = Millisecond)]
    run_budget: Duration,
    #[metrics(unit = Percent)]
    run_budget_used: f64,
}

pub fn reconcile_run(run: ReconcileRun) {
    let used = if run.budget.is_zero() { 0.0 } else { 100.0 * run.duration.as_secs_f64() / run.budget.as_secs_f64() };
    emit(ReconcileRunEntry {
        mode: run.mode,
        reconcile_runs: 1,
        reconcile_run_errors: u64::from(run.failed),
        leads_checked: run.leads_checked,
        leads_failed: run.leads_failed,
        leads_skipped: run.leads_skipped,
        run_duration: run.duration,
        run_budget: run.budget,
        run_budget_used: (used * 10.0).round() / 10.0,
    });
}

#[metrics(rename_all = "PascalCase", emf::dimension_sets = [["Provider"]])]
struct ProviderCalls {
    provider: &'static str,
    #[metrics(unit = Count)]
    provider_requests: u64,
    #[metrics(unit = Count)]
    provider_rate_limited: u64,
    #[metrics(unit = Count)]
    provider_retries: u64,
}

/// A provider's HTTP requests (every attempt), 429 answers and retries during one run.
pub fn provider_calls(provider: &'static str, requests: u64, rate_limited: u64, retries: u64) {
    emit(ProviderCalls { provider, provider_requests: requests, provider_rate_limited: rate_limited, provider_retries: retries });
}

/// Calendly webhook subscriptions seen by one check (every Calendly client once per run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionHealth {
    /// Ours, active.
    pub active: u64,
    /// Ours, `state: disabled` (Calendly gave up after 24 hours of failed deliveries).
    pub disabled: u64,
    /// No subscription of the workspace points at this deployment.
    pub missing: u64,
    /// The list could not be read (token without the scope, Calendly down).
    pub unchecked: u64,
}

#[metrics(rename_all = "PascalCase")]
struct SubscriptionHealthEntry {
    #[metrics(unit = Count)]
    calendly_subscriptions_active: u64,
    #[metrics(unit = Count)]
    calendly_subscriptions_disabled: u64,
    #[metrics(unit = Count)]
    calendly_subscriptions_missing: u64,
    #[metrics(unit = Count)]
    calendly_subscriptions_unchecked: u64,
}

pub fn subscription_health(h: SubscriptionHealth) {
    emit(SubscriptionHealthEntry {
        calendly_subscriptions_active: h.active,
        calendly_subscriptions_disabled: h.disabled,
        calendly_subscriptions_missing: h.missing,
        calendly_subscriptions_unchecked: h.unchecked,
    });
}

// ------------------------------------------------------------------ migrate

#[metrics(rename_all = "PascalCase", emf::dimension_sets = [["Mode"]])]
struct MigrateBatchEntry {
    mode: &'static str,
    #[metrics(unit = Count)]
    migrate_batch_leads: u64,
    #[metrics(unit = Count)]
    migrate_rows_created: u64,
    #[metrics(unit = Millisecond)]
    migrate_batch_duration: Duration,
}

/// One migration batch: leads read, appointment rows created, wall time.
pub fn migrate_batch(mode: &'static str, leads: u64, rows_created: u64, duration: Duration) {
    emit(MigrateBatchEntry { mode, migrate_batch_leads: leads, migrate_rows_created: rows_created, migrate_batch_duration: duration });
}

// ------------------------------------------------------------------ write path

#[metrics(rename_all = "PascalCase")]
struct WriteEntry {
    #[metrics(unit = Count)]
    writes: u64,
    #[metrics(unit = Count)]
    write_round_trips: u64,
    #[metrics(unit = Count)]
    write_retries: u64,
    #[metrics(unit = Millisecond)]
    record_latency: Duration,
}

/// One call of the write path (a record, or a migration batch): database round trips, transaction
/// retries (serialization failures, deadlocks) and its wall time.
pub fn write(round_trips: u64, retries: u64, latency: Duration) {
    emit(WriteEntry { writes: 1, write_round_trips: round_trips, write_retries: retries, record_latency: latency });
}

#[metrics(rename_all = "PascalCase", emf::dimension_sets = [["Conflict"]])]
struct KeyConflictEntry {
    conflict: &'static str,
    #[metrics(unit = Count)]
    provider_key_conflicts: u64,
}

/// One committed write that met its provider key on another workspace's row: `conflict` is
/// `"taken"` (a provider-verified write took the key from a row the CRM only asserted) or
/// `"dropped"` (an asserted key was recorded without it). The write path's log line carries the ids.
pub fn key_conflict(conflict: &'static str) {
    emit(KeyConflictEntry { conflict, provider_key_conflicts: 1 });
}

// ------------------------------------------------------------------ reading the lines back

/// Reading EMF lines back: what the tests of every function use to check the lines a real run
/// wrote (the specification's required fields, the namespace, the units, the dimensions).
pub mod check {
    use serde_json::Value;

    /// The lines of `text` that claim to be EMF (a JSON object with an `_aws` member).
    pub fn emf_lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with('{') && l.contains("\"_aws\"")).collect()
    }

    /// Checks one line against the EMF specification and returns it parsed: a JSON object whose
    /// `_aws` has a millisecond `Timestamp` and `CloudWatchMetrics` directives, each with
    /// `namespace`, dimension sets that name string members of the line (each set at most 30), and
    /// metric definitions with a `Name` and a `Unit` naming a numeric member.
    pub fn emf(line: &str, namespace: &str) -> Result<Value, String> {
        let doc: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let root = doc.as_object().ok_or("not an object")?;
        let aws = root.get("_aws").and_then(Value::as_object).ok_or("no _aws object")?;
        let ts = aws.get("Timestamp").and_then(Value::as_u64).ok_or("no integer _aws.Timestamp")?;
        if ts < 1_000_000_000_000 {
            return Err(format!("Timestamp {ts} is not in milliseconds"));
        }
        let directives = aws.get("CloudWatchMetrics").and_then(Value::as_array).ok_or("no CloudWatchMetrics array")?;
        if directives.is_empty() {
            return Err("empty CloudWatchMetrics".into());
        }
        for d in directives {
            if d.get("Namespace").and_then(Value::as_str) != Some(namespace) {
                return Err(format!("namespace is not {namespace:?}: {d}"));
            }
            let sets = d.get("Dimensions").and_then(Value::as_array).ok_or("no Dimensions array")?;
            for set in sets {
                let names = set.as_array().ok_or("a dimension set is not an array")?;
                if names.len() > 30 {
                    return Err("more than 30 dimensions in a set".into());
                }
                for name in names {
                    let name = name.as_str().ok_or("a dimension name is not a string")?;
                    match root.get(name) {
                        Some(Value::String(v)) if !v.is_empty() => {}
                        other => return Err(format!("dimension {name} is not a non-empty string member: {other:?}")),
                    }
                }
            }
            let metrics = d.get("Metrics").and_then(Value::as_array).ok_or("no Metrics array")?;
            if metrics.len() > 100 {
                return Err("more than 100 metrics".into());
            }
            for m in metrics {
                let name = m.get("Name").and_then(Value::as_str).ok_or("a metric without Name")?;
                let unit = m.get("Unit").and_then(Value::as_str).ok_or_else(|| format!("metric {name} has no Unit"))?;
                if !UNITS.contains(&unit) {
                    return Err(format!("metric {name}: unit {unit:?} is not a CloudWatch unit"));
                }
                if !root.get(name).is_some_and(Value::is_number) {
                    return Err(format!("metric {name} has no numeric member"));
                }
            }
        }
        Ok(doc)
    }

    /// The dimension values of a checked line (every name in any dimension set, with its value).
    pub fn dimensions(doc: &Value) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|d| d["Dimensions"].as_array().into_iter().flatten())
            .flat_map(|set| set.as_array().into_iter().flatten())
            .filter_map(|n| n.as_str())
            .map(|n| (n.to_string(), doc[n].as_str().unwrap_or_default().to_string()))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The metric names of a checked line.
    pub fn metric_names(doc: &Value) -> Vec<String> {
        doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|d| d["Metrics"].as_array().into_iter().flatten())
            .filter_map(|m| m["Name"].as_str().map(String::from))
            .collect()
    }

    /// CloudWatch's units (MetricDatum.Unit).
    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_a_closed_set() {
        for (status, label) in [(200, "200"), (404, "404"), (418, "4xx"), (599, "5xx"), (302, "3xx"), (503, "503")] {
            assert_eq!(status_label(status), label);
        }
    }

    #[test]
    fn every_event_is_a_valid_emf_line_with_fixed_dimensions() {
        let out = crate::testing::LogCapture::default();
        init_with_writer("unit-test", "Test/Metrics".into(), out.clone());
        webhook_delivery(Delivery::Refused(Refusal::Signature));
        webhook_delivery(Delivery::Recorded);
        api_request("GET /leads/{leadId}/appointments", 200, Duration::from_millis(7));
        reconcile_run(ReconcileRun {
            mode: "cron",
            leads_checked: 3,
            leads_failed: 1,
            leads_skipped: 0,
            duration: Duration::from_secs(30),
            budget: Duration::from_secs(290),
            failed: false,
        });
        provider_calls("calendly", 5, 1, 0);
        subscription_health(SubscriptionHealth { active: 1, disabled: 1, missing: 0, unchecked: 0 });
        migrate_batch("apply", 100, 140, Duration::from_millis(900));
        write(4, 1, Duration::from_micros(2_500));
        key_conflict("taken");

        let text = out.text();
        let lines = check::emf_lines(&text);
        assert_eq!(lines.len(), 9, "{text}");
        let docs: Vec<_> = lines.iter().map(|l| check::emf(l, "Test/Metrics").unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
        for doc in &docs {
            assert!(check::dimensions(doc).contains(&("Function".into(), "unit-test".into())), "{doc}");
        }
        let refused = &docs[0];
        assert_eq!(
            check::dimensions(refused),
            [("Function", "unit-test"), ("Outcome", "refused"), ("Reason", "signature")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(check::metric_names(refused), ["WebhookDeliveries"]);
        assert_eq!(docs[1]["Reason"], "none");
        assert_eq!(docs[7]["RecordLatency"], 2.5);
        let units: Vec<_> =
            docs[7]["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap().iter().map(|m| m["Unit"].clone()).collect();
        assert_eq!(units, ["Count", "Count", "Count", "Milliseconds"].map(serde_json::Value::from));
        assert_eq!(docs[2]["Route"], "GET /leads/{leadId}/appointments");
        assert_eq!(docs[3]["RunBudgetUsed"], 10.3);
        assert_eq!(docs[3]["LeadsFailed"], 1);
        assert_eq!(docs[5]["CalendlySubscriptionsDisabled"], 1);
        assert_eq!(docs[7]["WriteRoundTrips"], 4);
        assert_eq!(
            check::dimensions(&docs[8]),
            [("Conflict", "taken"), ("Function", "unit-test")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(check::metric_names(&docs[8]), ["ProviderKeyConflicts"]);
    }

    #[test]
    fn the_checker_refuses_what_cloudwatch_would_not_extract() {
        let good = r#"{"_aws":{"Timestamp":1764633600000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Function"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"Function":"f","M":1}"#;
        assert!(check::emf(good, "N").is_ok());
        let bad = [
            good.replace(r#","Unit":"Count""#, ""),
            good.replace("Count", "Things"),
            good.replace(r#""M":1"#, r#""M":"1""#),
            good.replace(r#""Function":"f","#, ""),
            good.replace("1764633600000", "1764633600"),
            good.replace(r#""Namespace":"N""#, r#""Namespace":"Other""#),
            good.replace("_aws", "aws"),
        ];
        for b in bad {
            assert!(check::emf(&b, "N").is_err(), "{b}");
        }
    }
}
