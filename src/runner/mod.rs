//! The experiment runner: expands the matrix, runs every case on every backend,
//! turns outputs into metrics and assembles the report.
//!
//! - `matrix`: the configuration and its cases; `seeds`: `--seed` lists and the matrix per
//!   seed; `batch`: the batch axis.
//! - `metrics`: outputs against the reference; `records`: the result rows.
//! - `case`: one case on one backend; `env`: provenance; `progress`, `dumps`, `checkpoint`.
//!
//! This file holds the loop over cases and backends. The files below it never import it
//! (their imports name their sibling directly), so the folder has no circle.

mod batch;
mod case;
mod checkpoint;
mod dumps;
mod env;
mod judge;
mod matrix;
mod metrics;
mod progress;
mod records;
pub mod seeds;
pub mod shard;

pub use crate::shared::host::{check_host_size, check_runs_memory};
pub use crate::shared::stats::median;
pub use batch::{BatchOutputs, BatchTag};
pub use case::{drop_warmup, run_case, Keep};
pub use env::{environment, now_rfc3339, os_description};
pub use judge::{fingerprint, nan_max, Judge, Judged};
pub use matrix::{copy_baseline, AccChoice, RunConfig, Shard};
pub use metrics::{judged_metrics, metrics, output_blocks, unjudgeable, Metrics};
pub use records::{cross_backend_ulp, finish_judged, finish_record};

use crate::error::DetError;
use crate::ops::{Case, Prepared};
use crate::report::{Report, ResultRecord, Status, SCHEMA};
use crate::safety::OutDir;
use checkpoint::Checkpoint;
use dumps::{dump_inputs, dump_outputs};
use matrix::family;
use progress::progress_bar;
use records::base_record;

use crate::interrupt::interrupted;
/// Set by the Ctrl-C handler; the runner stops between runs and marks the report partial.
pub use crate::interrupt::INTERRUPTED;

/// Prepares a case for its family.
pub fn prepare(case: &Case) -> Result<Prepared, DetError> {
    family(case.op)?.prepare(case)
}

/// The cases of the matrix, in a stable order.
pub fn expand(cfg: &RunConfig) -> Result<Vec<Case>, DetError> {
    Ok(expand_tagged(cfg)?.0)
}

/// The cases of the matrix with their place on the batch axis (None: not on it). A
/// backend whose variants are its own is one the caller built ([`RunConfig::given`]).
pub fn expand_tagged(cfg: &RunConfig) -> Result<(Vec<Case>, Vec<Option<BatchTag>>), DetError> {
    let given = crate::backend::Discovered::default().with_given(&cfg.given);
    expand_for(cfg, &given)
}

/// The matrix for the backends a run found: the variants of one whose variants are its
/// own replace the families'.
fn expand_for(
    cfg: &RunConfig,
    found: &crate::backend::Discovered,
) -> Result<(Vec<Case>, Vec<Option<BatchTag>>), DetError> {
    let owner = found.variant_owner().map_err(DetError::input)?;
    batch::batch_axis(cfg, matrix::expand_matrix(cfg, owner)?)
}

/// Runs the whole matrix. Returns the report (partial if interrupted).
pub fn run(cfg: &RunConfig) -> Result<Report, DetError> {
    // The backends first: one may own the run's variants (an adapter's modes).
    let found = crate::backend::discover(&cfg.backends).with_given(&cfg.given);
    let (cases, tags) = expand_for(cfg, &found)?;
    let owned = found.variant_owner().map_err(DetError::input)?.is_some();
    let mut batched = BatchOutputs::default();
    let baseline = copy_baseline(cfg, &cases, owned)?;
    if cases.is_empty() && baseline.is_none() {
        return Err(DetError::input("the matrix is empty: nothing to run"));
    }
    // `--shard K/N` keeps its part of the whole matrix (which may be empty); cases from
    // `user_cases` on are the copy baseline, which the user did not ask for.
    let shard::Selection {
        cases,
        tags,
        user_cases,
        shard,
    } = shard::select(cfg, shard::plan(cfg, cases, tags, baseline));
    check_backends(cfg, &found)?;
    let mut report = Report {
        schema: SCHEMA.into(),
        env: environment(&cfg.command, cfg.seed, found.infos.clone(), &found.backends),
        results: Vec::new(),
        partial: false,
    };
    seeds::record_seeds(&mut report.env, &cfg.seeds);
    report.env.shard = shard;
    if found.backends.is_empty() {
        // Nothing can run: skip preparing inputs and references (minutes at 2^28).
        return Ok(report);
    }
    let bar = progress_bar(cfg, (cases.len() * found.backends.len().max(1)) as u64);
    // One writer for the whole run: it creates the folder at the first file and refuses
    // to write one name twice.
    let mut dump_dir = cfg.dump.as_ref().map(|d| OutDir::new("--dump", d));
    let env = report.env.clone();
    let shared = Checkpoint::new(report);
    let mut partial = false;
    // Records in `shared`; the running case's records wait in `pending` until it is
    // complete (an index is `committed` + its place in `pending`).
    let mut committed = 0usize;
    let mut pending: Vec<ResultRecord> = Vec::new();
    let verbose = progress::Verbose {
        on: cfg.verbose,
        bar: bar.as_ref(),
    };
    let mut last_sha = String::new();
    'cases: for (ci, case) in cases.iter().enumerate() {
        let baseline = ci >= user_cases;
        // The baseline's arrays are not the user's data: never dumped.
        let dump = !baseline;
        if interrupted() {
            partial = true;
            break;
        }
        // The job runs warm-up runs first (see [`drop_warmup`]).
        let started = std::time::Instant::now();
        // A case whose variant is a backend's own (an adapter's mode) is prepared as
        // the family's order-independent reference variant.
        let prep_variant: String = match owned {
            true => crate::ops::reference_variant(case.op)?.into(),
            false => case.variant.clone(),
        };
        let mut prep = prepare(&Case {
            runs: case.runs + cfg.warmup,
            variant: prep_variant.clone(),
            ..case.clone()
        })?;
        if owned {
            // The note describes detbench's own kernel, not the backend's.
            prep.note.clear();
        }
        let shared_input = prep.input_sha256 == last_sha;
        verbose.prepared(
            (ci + 1, cases.len()),
            case,
            &prep,
            started.elapsed().as_secs_f64(),
            shared_input,
        );
        last_sha.clone_from(&prep.input_sha256);
        if interrupted() {
            // The reference may be incomplete: the case is not run.
            partial = true;
            break;
        }
        // Every run's output is kept where all of them are written (`--dump`) or a batch
        // group compares them; otherwise the warm-up runs' and the first judged run's.
        let keep = Keep {
            warmup: cfg.warmup,
            every_run: (dump_dir.is_some() && dump) || matches!(tags.get(ci), Some(Some(_))),
        };
        let held = match keep.every_run {
            true => case.runs + cfg.warmup,
            false => (cfg.warmup + 1).min(case.runs + cfg.warmup),
        };
        check_runs_memory(case.runs + cfg.warmup, held, prep.exact.len())?;
        if let (Some(dir), true) = (dump_dir.as_mut(), dump) {
            dump_inputs(dir, case, &prep)?;
        }
        // Families that compare devices: every backend's first output.
        let compare = family(case.op)?.compare_across_backends();
        let mut cross: Vec<(usize, Vec<f64>)> = Vec::new();
        for backend in &found.backends {
            if interrupted() {
                partial = true;
                break 'cases;
            }
            if let Some(b) = &bar {
                b.set_message(format!(
                    "{} {} {} {} {}",
                    case.op,
                    backend.kind(),
                    case.precision,
                    case.variant,
                    case.size
                ));
            }
            let started = std::time::Instant::now();
            let outcome = match run_case(case, &prep, backend.as_ref(), &cfg.orderings, keep) {
                // A baseline this device cannot hold is a failed row, not a failed run.
                Err(DetError::Input(m)) if baseline => vec![(
                    ResultRecord {
                        status: Status::Error,
                        message: format!("copy baseline: {m}"),
                        ..base_record(case, Some(&prep), backend.info(), Some(&prep.job))
                    },
                    None,
                )],
                other => other?,
            };
            verbose.ran(
                &backend.info().name,
                &outcome,
                started.elapsed().as_secs_f64(),
            );
            if interrupted() {
                // Stopped inside the case: its runs are incomplete, so it is dropped.
                partial = true;
                break 'cases;
            }
            for (mut rec, set) in outcome {
                if cfg.reveal {
                    crate::reveal::record::annotate(
                        &mut rec,
                        case,
                        &prep_variant,
                        backend.as_ref(),
                    );
                }
                let index = committed + pending.len();
                if let (Some(dir), true, Some(set)) = (dump_dir.as_mut(), dump, &set) {
                    dump_outputs(dir, &env, &rec, set, prep.out_precision)?;
                }
                if let (true, Some(set)) = (compare, &set) {
                    cross.push((index, set.outputs[0].clone()));
                }
                if let (Some(Some(tag)), Some(set)) = (tags.get(ci), &set) {
                    batched.push(index, &rec, *tag, set, prep.out_precision);
                }
                pending.push(rec);
            }
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
        shared.commit(|results| {
            results.append(&mut pending);
            cross_backend_ulp(results, &cross, prep.out_precision);
            batched.fill(results);
            committed = results.len();
        });
    }
    // A case stopped by Ctrl-C keeps the records of the backends that finished it.
    shared.commit(|results| {
        results.append(&mut pending);
        batched.fill(results);
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut report = shared.into_report();
    report.partial = partial;
    Ok(report)
}

/// Refuses a run whose explicitly named backend has no usable device. A backend reached
/// through `all` may have none: the report's env.devices says why, and the CLI repeats it
/// once the report is written.
fn check_backends(cfg: &RunConfig, found: &crate::backend::Discovered) -> Result<(), DetError> {
    for kind in cfg
        .backends
        .iter()
        .filter(|k| cfg.required_backends.contains(k))
    {
        if !found.backends.iter().any(|b| b.kind() == *kind) {
            let why: Vec<String> = found
                .infos
                .iter()
                .filter(|i| i.backend == kind.name())
                .map(|i| format!("{}: {}", i.name, i.reason))
                .collect();
            return Err(DetError::input(format!(
                "backend {kind} has no usable device: {}",
                why.join("; ")
            )));
        }
    }
    Ok(())
}

/// The headline, then a readable table of results (see `report::document::run_console`).
pub fn table(results: &[ResultRecord]) -> String {
    crate::report::document::console_text(results)
}
