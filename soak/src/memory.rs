//! Memory: the peak resident set (VmHWM) of each function's process over the whole soak (the load
//! and the faults), against the 40 MB a function may use.

use crate::stack::{Stack, FUNCTIONS};
use crate::table::Table;

const SECTION: &str = "memory";
pub const LIMIT_KB: u64 = 40 * 1024;

pub async fn run(table: &mut Table, stack: &Stack) {
    let peaks = stack.peak_memory();
    for function in FUNCTIONS {
        match peaks.get(function) {
            Some(kb) => table.push(
                SECTION,
                format!("{function} peak RSS (VmHWM) under the soak"),
                format!("{:.1} MB", *kb as f64 / 1024.0),
                "< 40 MB",
                *kb < LIMIT_KB,
            ),
            None => table.failed(SECTION, format!("{function} peak RSS"), "its process was never seen running"),
        }
    }
}
