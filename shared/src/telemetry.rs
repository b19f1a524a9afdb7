//! The one telemetry init: the Lambda runtime's tracing subscriber (JSON when the function's
//! `LoggingConfig` says JSON, text locally), filtered by `RUST_LOG` / `AWS_LAMBDA_LOG_LEVEL`.
//!
//! Logging rule (DESIGN §6): ids, URIs, counts and SQLSTATEs only. Never an email, a name, a phone
//! number, free text, a token, a signing key or a payload.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "info".into()).to_lowercase()))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).without_time();
    let _ = if json {
        builder.json().flatten_event(true).with_current_span(false).try_init()
    } else {
        builder.try_init()
    };
}
