//! The shared crate of the appointment history service: the domain, the rollup rule, the single
//! write path, the store, migrations, configuration and telemetry. Every function crate builds on it.

pub mod config;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod json;
pub mod metrics;
pub mod migrate;
pub mod model;
pub mod providers;
pub mod redact;
pub mod retry;
pub mod rollup;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod webhook;
pub mod write_path;

#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "embedded")]
pub mod testing;

pub use domain::{AppointmentSource, AppointmentStatus, Canceler, LeadRef, Observation, ObservedStatus, Provider, TaskPolicy};
pub use error::{Error, Result};
pub use model::{AppointmentRow, Rollup};
pub use store::{DbSettings, Store};
pub use write_path::{Change, RecordOutcome};
