//! One prepared case on one backend: its jobs (an atomic one under every ordering the
//! backend's capabilities sweep), the
//! warm-up runs dropped, the process CPU time and the finished records.

use super::judge::Judge;
use super::records::{base_record, finish_judged};
use crate::backend::{folding, Backend};
use crate::error::{DetError, OpError};
use crate::ops::{Case, Job, Ordering, Prepared, RunSet};
use crate::report::{ResultRecord, Status};
use crate::shared::host::process_cpu_ms;
use std::sync::Arc;

/// Keeps the last `timed` runs of a set. [`run`] prepares each job with `--warmup` more
/// runs than the case's; those first runs (cold caches, shader compilation, clocks ramping
/// up) are neither timed nor judged. One place for every backend and family.
pub fn drop_warmup(set: &mut RunSet, timed: usize) {
    let skip = set.outputs.len().saturating_sub(timed);
    set.outputs.drop_first(skip);
    let skip = set.times_ms.len().saturating_sub(timed);
    set.times_ms.drain(..skip);
}

/// The orderings an atomic job runs with on a backend that offers `offered`: those of the
/// user's `wanted` it offers, in the user's order, else the first it offers (a backend
/// whose atomics have one ordering runs that one).
fn sweep(offered: &[Ordering], wanted: &[Ordering]) -> Vec<Ordering> {
    let chosen: Vec<Ordering> = wanted
        .iter()
        .copied()
        .filter(|o| offered.contains(o))
        .collect();
    match (chosen.is_empty(), offered.first()) {
        (true, Some(&first)) => vec![first],
        _ => chosen,
    }
}

/// How the runs of a case are kept: the warm-up runs before the timed ones, and whether
/// every run's output must be kept whole (`--dump` writes them all; a batch-invariance
/// group compares every run's probe rows). Otherwise an output that differs from the
/// first judged run's is judged as it is read back and dropped ([`Judge`]).
#[derive(Clone, Copy, Debug)]
pub struct Keep {
    pub warmup: usize,
    pub every_run: bool,
}

/// Runs one prepared case on one backend (every ordering its capabilities sweep). The prepared
/// job runs `keep.warmup` more times than `case.runs`: the extra first runs are warm-up.
pub fn run_case(
    case: &Case,
    prep: &Prepared,
    backend: &dyn Backend,
    orderings: &[Ordering],
    keep: Keep,
) -> Result<Vec<(ResultRecord, Option<RunSet>)>, DetError> {
    let jobs: Vec<Job> = if prep.job.is_atomic() {
        sweep(backend.capabilities().orderings, orderings)
            .into_iter()
            .map(|o| prep.job.with_ordering(o))
            .collect()
    } else {
        vec![prep.job.clone()]
    };
    let mut out = Vec::new();
    for job in jobs {
        let mut rec = base_record(case, Some(prep), backend.info(), Some(&job));
        backend.annotate(&mut rec);
        // Only where the work runs on this process's threads does the process's CPU clock
        // measure it (a GPU, or an external process, works while this process waits).
        let on_host = backend.runs_on_host();
        let cpu_start = if on_host { process_cpu_ms() } else { None };
        let judge = (!keep.every_run).then(|| Arc::new(Judge::new(prep)));
        let ran = match &judge {
            Some(j) => folding(j.clone(), keep.warmup, || {
                backend.run_variant(&job, &case.variant)
            }),
            None => backend.run_variant(&job, &case.variant),
        };
        let judged = judge.map(|j| j.take()).unwrap_or_default();
        match ran {
            Ok(mut set) if !set.outputs.is_empty() => {
                let cpu_ms_per_run = cpu_start
                    .zip(process_cpu_ms())
                    .map(|(a, b)| (b - a - judged.cpu_ms) / set.times_ms.len().max(1) as f64);
                drop_warmup(&mut set, case.runs);
                let mut rec = finish_judged(rec, prep, &set, judged);
                rec.cpu_ms_per_run = cpu_ms_per_run;
                out.push((rec, Some(set)));
            }
            Ok(_) => out.push((
                ResultRecord {
                    status: Status::Error,
                    message: "backend returned no runs".into(),
                    ..rec
                },
                None,
            )),
            Err(OpError::Unsupported(m)) => out.push((
                ResultRecord {
                    status: Status::Unsupported,
                    message: m,
                    ..rec
                },
                None,
            )),
            Err(OpError::Failed(m)) => out.push((
                ResultRecord {
                    status: Status::Error,
                    message: m,
                    ..rec
                },
                None,
            )),
            Err(OpError::BadInput(m)) => return Err(DetError::Input(m)),
        }
    }
    Ok(out)
}
