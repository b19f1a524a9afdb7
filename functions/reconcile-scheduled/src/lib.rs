//! reconcile-scheduled: pulls the providers' truth (Calendly, GHL) for due leads on a schedule, and
//! walks one client's leads on an operator's backfill request. Every appointment goes through the
//! shared write path; `main.rs` only wires the Lambda runtime to [`Reconciler::handle`].

pub mod claims;
pub mod config;
pub mod due;
pub mod error;
pub mod input;
pub mod reconcile;
pub mod subscriptions;

pub use error::RunError;
pub use input::{parse_request, BackfillRequest, Request};
pub use reconcile::{Reconciler, Summary};
