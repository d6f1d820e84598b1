//! Checkpoints: the finished cases, handed to the Ctrl-C watchdog after each case so that an
//! interrupted run still writes a partial report.

use crate::report::Report;

/// Hands the finished cases to the Ctrl-C watchdog (see [`crate::interrupt::checkpoint`]).
pub(super) fn checkpoint(report: &Report) {
    let mut partial = report.clone();
    partial.partial = true;
    crate::interrupt::checkpoint(move || serde_json::to_vec_pretty(&partial).unwrap_or_default());
}
