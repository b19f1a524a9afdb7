//! The one telemetry init: a `tracing` subscriber writing JSON when the function's `LoggingConfig`
//! says JSON (`AWS_LAMBDA_LOG_FORMAT`), text locally, filtered by `RUST_LOG` or else
//! `AWS_LAMBDA_LOG_LEVEL` — the shape of the Lambda runtime's default subscriber, plus a privacy floor.
//!
//! Logging rule ("Security and privacy" in docs/architecture.md): ids, URIs, counts and SQLSTATEs
//! only. Never an email, a name, a phone number, free text, a token, a signing key or a payload.

use tracing::Metadata;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Libraries whose debug output carries data: tokio-postgres logs every statement's parameter
/// values at DEBUG (emails, signing keys), so nothing below INFO from them is ever written,
/// whatever `RUST_LOG` says.
const QUIET_BELOW_INFO: [&str; 3] = ["tokio_postgres", "postgres_protocol", "reqwest"];

/// Whether an event may be written at all (the privacy floor, independent of the level filter).
pub fn allowed(meta: &Metadata<'_>) -> bool {
    !(*meta.level() > tracing::Level::INFO && QUIET_BELOW_INFO.iter().any(|t| meta.target().starts_with(t)))
}

/// The level filter from the environment.
pub fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "info".into()).to_lowercase()))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber once; later calls do nothing.
pub fn init() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer().with_target(false).without_time();
    let layer = if json { fmt.json().flatten_event(true).with_current_span(false).boxed() } else { fmt.boxed() };
    let _ = tracing_subscriber::registry().with(env_filter()).with(layer.with_filter(filter_fn(allowed))).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_driver_debug_output_is_never_written() {
        let cases = [
            ("tokio_postgres::query", tracing::Level::DEBUG, false),
            ("tokio_postgres::connection", tracing::Level::TRACE, false),
            ("tokio_postgres::connection", tracing::Level::INFO, true),
            ("postgres_protocol", tracing::Level::DEBUG, false),
            ("shared::write_path", tracing::Level::DEBUG, true),
        ];
        for (target, level, expected) in cases {
            let callsite = tracing::callsite::Identifier(&CALLSITE);
            let fields = tracing::field::FieldSet::new(&[], callsite);
            let meta = Metadata::new("event", target, level, None, None, None, fields, tracing::metadata::Kind::EVENT);
            assert_eq!(allowed(&meta), expected, "{target} {level}");
        }
    }

    struct Callsite;
    static CALLSITE: Callsite = Callsite;
    impl tracing::callsite::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unimplemented!("not registered")
        }
    }
}
