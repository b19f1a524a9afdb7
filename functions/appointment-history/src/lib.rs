//! `appointment-history`: the CRM's HTTP API (API Gateway HTTP API, payload v2) for a lead's
//! appointment timeline, its booking status, and new auto-booked or manual appointments.
//!
//! - `GET  /leads/{leadId}/appointments`   the timeline ([`timeline`], [`history`])
//! - `GET  /leads/{leadId}/booking-status` the rollup, the primary and counts ([`history`])
//! - `POST /leads/{leadId}/appointments`   record through the write path ([`booking`], [`idempotency`])
//! - `GET  /ui/{file}`                     the embeddable timeline view ([`ui`])
//!
//! [`api::router`] wires them into an axum router that `main.rs` hands to `lambda_http::run`;
//! tests drive the same router. Every answer that is not a success is `application/problem+json`
//! ([`problem`]).

pub mod api;
pub mod auth;
pub mod booking;
pub mod config;
pub mod generate;
pub mod history;
pub mod idempotency;
pub mod problem;
pub mod query;
pub mod timeline;
pub mod ui;
pub mod views;

pub use api::{router, App};
pub use config::AppConfig;

/// Most of a timeline request's cost beyond its SQL is small allocations (decoding 50 rows of 22
/// columns, the views, 26 KB of JSON); mimalloc makes them cheaper than glibc's allocator. Declared
/// here so that the Lambda binary, the tests and the benchmark all run with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
