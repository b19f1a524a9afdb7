//! Provider API clients for reconciliation: Calendly (by invitee email) and GoHighLevel (by contact
//! id). One HTTP client (reqwest, rustls), one retry policy, one client-side rate limiter per
//! provider quota (Calendly: per token per minute; GHL: per location per 10 seconds), one error type.
//!
//! Privacy: request URLs carry lead emails (Calendly's `invitee_email`), and requests carry tokens.
//! Neither ever reaches an error message or a log line: errors keep only a status code or a short
//! description, tokens live in [`Secret`], whose `Debug` is redacted and which has no `Display`.

pub mod calendly;
pub mod ghl;
mod limiter;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

pub use limiter::{Limiters, SlidingWindow};

/// A credential (access token, private key). Never printed: `Debug` shows `Secret(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that needs it: the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A stable, non-reversible label for keying in-memory state (rate limiters) by credential.
    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.0.hash(&mut h);
        h.finish()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The provider layer's one error type. Messages never hold a URL, a token or response data.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// The provider answered with a client error that retrying will not fix (401, 403, 404, ...).
    #[error("{provider} answered HTTP {status}")]
    Rejected { provider: &'static str, status: u16 },
    /// Still rate limited (429) after the allowed waits.
    #[error("{provider} kept answering 429 (rate limited)")]
    RateLimited { provider: &'static str },
    /// 5xx, timeouts or connection failures, still failing after the retries.
    #[error("{provider} unavailable: {reason}")]
    Unavailable { provider: &'static str, reason: String },
    /// The answer was not the JSON shape the provider documents.
    #[error("{provider} sent a malformed answer: {reason}")]
    Malformed { provider: &'static str, reason: String },
    /// Our own settings are wrong (a base URL that does not parse, say).
    #[error("provider configuration: {0}")]
    Config(String),
}

/// Timeouts, retries and waits for provider calls.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Whole-request timeout (connect, send, receive the body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per request for 5xx, timeouts and connection errors (1 = no retry).
    pub max_attempts: u32,
    /// Back-off before retry n is `base * 2^(n-1)`, capped at `max_backoff`, with jitter.
    pub backoff_base: Duration,
    pub max_backoff: Duration,
    /// 429 answers waited out per request before giving up.
    pub max_rate_limited: u32,
    /// Longest single wait for a 429 (a reset further away fails the call instead).
    pub max_rate_limit_wait: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            max_attempts: 3,
            backoff_base: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            max_rate_limited: 3,
            max_rate_limit_wait: Duration::from_secs(65),
        }
    }
}

/// Client-side quotas. Defaults stay under the published limits.
#[derive(Clone, Debug)]
pub struct Quotas {
    /// Calendly: requests per token per minute (published: 500 on paid plans, 50 on free ones).
    pub calendly_per_minute: usize,
    /// GHL: requests per location per `ghl_window` (published: 100 per 10 seconds).
    pub ghl_per_window: usize,
    pub ghl_window: Duration,
    /// Added to every window: the provider counts arrivals, we count departures, and network
    /// delays differ from request to request.
    pub safety_margin: Duration,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            calendly_per_minute: 400,
            ghl_per_window: 100,
            ghl_window: Duration::from_secs(10),
            safety_margin: Duration::from_millis(150),
        }
    }
}

/// Counters over the life of a [`ProviderHttp`], per provider; take a [`ProviderStats::snapshot`]
/// (all providers) or a [`ProviderStats::snapshot_of`] one before and after a run for that run's numbers.
#[derive(Debug, Default)]
pub struct ProviderStats {
    calendly: Counters,
    ghl: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// HTTP requests sent (every attempt counts).
    pub requests: u64,
    /// Attempts repeated after a 5xx, a timeout or a connection error.
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited: u64,
}

impl StatsSnapshot {
    pub fn since(self, earlier: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests - earlier.requests,
            retries: self.retries - earlier.retries,
            rate_limited: self.rate_limited - earlier.rate_limited,
        }
    }
}

impl ProviderStats {
    /// Every provider's counts together.
    pub fn snapshot(&self) -> StatsSnapshot {
        let (c, g) = (self.snapshot_of(calendly::PROVIDER), self.snapshot_of(ghl::PROVIDER));
        StatsSnapshot { requests: c.requests + g.requests, retries: c.retries + g.retries, rate_limited: c.rate_limited + g.rate_limited }
    }

    /// One provider's counts (`calendly::PROVIDER`, `ghl::PROVIDER`).
    pub fn snapshot_of(&self, provider: &str) -> StatsSnapshot {
        let c = self.counters(provider);
        StatsSnapshot {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
        }
    }

    fn counters(&self, provider: &str) -> &Counters {
        if provider == ghl::PROVIDER {
            &self.ghl
        } else {
            &self.calendly
        }
    }
}

/// Base URLs of the provider APIs (overridden in tests to point at a local mock server).
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub calendly: url::Url,
    pub ghl: url::Url,
}

impl Endpoints {
    pub const CALENDLY: &'static str = "https://api.calendly.com";
    pub const GHL: &'static str = "https://services.leadconnectorhq.com";

    pub fn new(calendly: &str, ghl: &str) -> Result<Self, ProviderError> {
        let parse = |name: &str, text: &str| {
            let mut u = url::Url::parse(text).map_err(|e| ProviderError::Config(format!("{name} base URL: {e}")))?;
            if u.cannot_be_a_base() {
                return Err(ProviderError::Config(format!("{name} base URL cannot be a base")));
            }
            // Joined paths go below the base's path.
            if !u.path().ends_with('/') {
                let p = format!("{}/", u.path());
                u.set_path(&p);
            }
            Ok(u)
        };
        Ok(Endpoints { calendly: parse("Calendly", calendly)?, ghl: parse("GHL", ghl)? })
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints::new(Self::CALENDLY, Self::GHL).expect("built-in provider URLs parse")
    }
}

/// The shared HTTP machinery of both provider clients: one connection pool, the retry policy, the
/// rate limiters and the counters. Cheap to clone (everything is shared).
#[derive(Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    pub settings: HttpSettings,
    pub quotas: Quotas,
    pub endpoints: Endpoints,
    limiters: Arc<Limiters>,
    stats: Arc<ProviderStats>,
}

impl ProviderHttp {
    pub fn new(endpoints: Endpoints, settings: HttpSettings, quotas: Quotas) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("appointment-history-reconciler/", env!("CARGO_PKG_VERSION")))
            // Provider APIs never redirect a GET we make; following one could carry the token away.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::Config(format!("HTTP client: {}", e.without_url())))?;
        Ok(ProviderHttp {
            client,
            settings,
            quotas,
            endpoints,
            limiters: Arc::new(Limiters::default()),
            stats: Arc::new(ProviderStats::default()),
        })
    }

    pub fn stats(&self) -> &ProviderStats {
        &self.stats
    }

    pub fn calendly(&self) -> calendly::CalendlyClient {
        calendly::CalendlyClient::new(self.clone())
    }

    pub fn ghl(&self) -> ghl::GhlClient {
        ghl::GhlClient::new(self.clone())
    }

    fn limiter(&self, key: String, limit: usize, window: Duration) -> Arc<SlidingWindow> {
        self.limiters.get(key, limit, window + self.quotas.safety_margin)
    }

    /// Sends a GET built by `build` (called once per attempt) under `limiter`, with the retry
    /// policy, and parses the JSON answer.
    async fn get_json<T: DeserializeOwned>(
        &self,
        provider: &'static str,
        limiter: &SlidingWindow,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<T, ProviderError> {
        let body = self.get_bytes(provider, limiter, build).await?;
        serde_json::from_slice(&body).map_err(|e| ProviderError::Malformed {
            provider,
            // serde_json's message names the position and the expected shape, never the data.
            reason: format!("{} at line {} column {}", classify(&e), e.line(), e.column()),
        })
    }

    async fn get_bytes(
        &self,
        provider: &'static str,
        limiter: &SlidingWindow,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Vec<u8>, ProviderError> {
        let mut attempt: u32 = 0;
        let mut rate_limited: u32 = 0;
        loop {
            limiter.acquire().await;
            attempt += 1;
            self.stats.counters(provider).requests.fetch_add(1, Ordering::Relaxed);
            let outcome = match build(&self.client).send().await {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        match response.bytes().await {
                            Ok(body) => return Ok(body.to_vec()),
                            Err(e) => Failure::Transient(describe(e)),
                        }
                    } else if status == StatusCode::TOO_MANY_REQUESTS {
                        Failure::RateLimited(rate_limit_wait(response.headers(), &self.quotas, provider))
                    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                        Failure::Transient(format!("HTTP {}", status.as_u16()))
                    } else {
                        return Err(ProviderError::Rejected { provider, status: status.as_u16() });
                    }
                }
                Err(e) => Failure::Transient(describe(e)),
            };
            match outcome {
                Failure::RateLimited(wait) => {
                    self.stats.counters(provider).rate_limited.fetch_add(1, Ordering::Relaxed);
                    rate_limited += 1;
                    // Rate limiting is not the request's fault: it does not use up an attempt.
                    attempt -= 1;
                    if rate_limited > self.settings.max_rate_limited || wait > self.settings.max_rate_limit_wait {
                        return Err(ProviderError::RateLimited { provider });
                    }
                    tracing::warn!(provider, wait_ms = wait.as_millis() as u64, "rate limited by the provider; waiting");
                    // Everyone on this quota waits, not just this request.
                    limiter.pause_until(Instant::now() + wait);
                }
                Failure::Transient(reason) => {
                    if attempt >= self.settings.max_attempts {
                        return Err(ProviderError::Unavailable { provider, reason });
                    }
                    self.stats.counters(provider).retries.fetch_add(1, Ordering::Relaxed);
                    let wait = backoff(&self.settings, attempt);
                    tracing::info!(provider, attempt, wait_ms = wait.as_millis() as u64, reason = %reason, "provider call failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

enum Failure {
    RateLimited(Duration),
    Transient(String),
}

/// A reqwest error described without its URL (which may hold an email).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "response body interrupted".into()
    } else {
        e.without_url().to_string()
    }
}

fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

/// How long a 429 asks us to wait: `Retry-After` (seconds), else `X-RateLimit-Reset` (Calendly:
/// seconds until the window resets; an epoch timestamp is accepted too), else the provider's window.
pub fn rate_limit_wait(headers: &HeaderMap, quotas: &Quotas, provider: &str) -> Duration {
    let number = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0)
    };
    let now_epoch = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let seconds = number("retry-after").or_else(|| {
        number("x-ratelimit-reset").map(|v| {
            // Values this large are a point in time (epoch seconds or milliseconds), not a delay.
            if v > 1e12 {
                (v / 1000.0 - now_epoch()).max(0.0)
            } else if v > 1e9 {
                (v - now_epoch()).max(0.0)
            } else {
                v
            }
        })
    });
    match seconds {
        // A reset of "0" still means the window is full right now: wait a little.
        Some(s) => Duration::from_secs_f64(s.max(0.25)),
        None if provider == ghl::PROVIDER => quotas.ghl_window,
        None => Duration::from_secs(60),
    }
}

/// Exponential back-off with "equal jitter": half the step fixed, half random, so that retries of
/// many callers spread out but none retries immediately.
pub fn backoff(settings: &HttpSettings, attempt: u32) -> Duration {
    let step = settings.backoff_base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(settings.max_backoff);
    let half = step / 2;
    half + half.mul_f64(jitter_fraction())
}

/// A number in [0, 1) that differs between calls and processes (no cryptographic needs here).
fn jitter_fraction() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut x = nanos ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    // splitmix64 finalizer
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("pat_live_very_secret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(!format!("{:?}", Some(&s)).contains("very_secret"));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let settings =
            HttpSettings { backoff_base: Duration::from_millis(100), max_backoff: Duration::from_millis(700), ..HttpSettings::default() };
        for attempt in 1..10 {
            let step = Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_millis(700));
            for _ in 0..50 {
                let wait = backoff(&settings, attempt);
                assert!(wait >= step / 2 && wait <= step, "attempt {attempt}: {wait:?} not in [{:?}, {step:?}]", step / 2);
            }
        }
        let waits: std::collections::HashSet<_> = (0..20).map(|_| backoff(&settings, 3)).collect();
        assert!(waits.len() > 1, "jitter varies");
    }

    #[test]
    fn rate_limit_waits_as_a_table() {
        let q = Quotas::default();
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let cases: Vec<(HeaderMap, &str, Duration)> = vec![
            (headers(&[("retry-after", "3")]), "calendly", Duration::from_secs(3)),
            (headers(&[("x-ratelimit-reset", "7")]), "calendly", Duration::from_secs(7)),
            (headers(&[("retry-after", "2"), ("x-ratelimit-reset", "9")]), "calendly", Duration::from_secs(2)),
            (headers(&[("x-ratelimit-reset", "0")]), "calendly", Duration::from_millis(250)),
            (headers(&[]), "calendly", Duration::from_secs(60)),
            (headers(&[]), ghl::PROVIDER, Duration::from_secs(10)),
            (headers(&[("retry-after", "soon")]), ghl::PROVIDER, Duration::from_secs(10)),
        ];
        for (h, provider, expected) in cases {
            assert_eq!(rate_limit_wait(&h, &q, provider), expected, "{h:?}");
        }
        let epoch = rate_limit_wait(&headers(&[("x-ratelimit-reset", &(now + 5).to_string())]), &q, "calendly");
        assert!(epoch <= Duration::from_secs(5) && epoch >= Duration::from_secs(3), "{epoch:?}");
    }
}
