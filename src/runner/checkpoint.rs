//! Checkpoints: the finished cases, shared with the Ctrl-C watchdog so that an interrupted
//! run still writes a partial report.

use crate::report::{Report, ResultRecord};
use std::sync::{Arc, Mutex, MutexGuard};

/// The report of a run, shared with the watchdog (see [`crate::interrupt::checkpoint`]).
/// The runner appends each case's records once the case is complete, under the lock and
/// without copying what is already there; the watchdog renders whatever is there when it
/// fires. A copy of the whole report per case made a run of n cases cost n^2 (16,000 seeds
/// took minutes).
pub(super) struct Checkpoint {
    report: Arc<Mutex<Report>>,
}

fn lock(r: &Mutex<Report>) -> MutexGuard<'_, Report> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

impl Checkpoint {
    /// Shares `report` (no results yet) and hands the watchdog its renderer.
    pub(super) fn new(report: Report) -> Self {
        let report = Arc::new(Mutex::new(report));
        let shared = Arc::clone(&report);
        crate::interrupt::checkpoint(move || {
            let mut r = lock(&shared);
            r.partial = true;
            serde_json::to_vec_pretty(&*r).unwrap_or_default()
        });
        Self { report }
    }

    /// Appends finished records (and updates earlier ones) under the lock: `f` gets the
    /// results so far.
    pub(super) fn commit(&self, f: impl FnOnce(&mut Vec<ResultRecord>)) {
        f(&mut lock(&self.report).results);
    }

    /// The report, taken back at the end of the run. The watchdog's copy of the handle
    /// then renders an empty report, which it never does: the command writes its own
    /// report once it stops polling.
    pub(super) fn into_report(self) -> Report {
        let mut r = lock(&self.report);
        Report {
            schema: r.schema.clone(),
            env: std::mem::take(&mut r.env),
            results: std::mem::take(&mut r.results),
            partial: r.partial,
        }
    }
}
