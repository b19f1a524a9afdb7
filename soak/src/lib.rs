//! `make soak`: the service end to end under faults and load, its cold start, size and memory. Each
//! section appends rows to one [`table::Table`]; `main` prints it and fails when any row missed.

pub mod deliveries;
pub mod faults;
pub mod footprint;
pub mod load;
pub mod memory;
pub mod provider_mock;
pub mod stack;
pub mod table;
