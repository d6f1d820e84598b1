//! `detbench check`: compares a current report with a baseline, for CI.
//!
//! Rows are matched by the one result key ([`crate::report::key`]): case, launch, ordering
//! and the stable device identity. Before comparing, both reports must be usable; anything
//! else is bad input (exit 2): an empty or partial report, two rows under one key, an `ok`
//! row without its measurements or breaking its bound, reports of other devices on the
//! same backend ("incompatible"), or no key in common ("nothing comparable").
//!
//! Two kinds of finding make a regression (exit 1):
//! - **numeric**: an `ok` row that stopped running ok or vanished; inputs that changed; a
//!   deterministic variant whose bits changed or that stopped being reproducible; an error
//!   (or run-to-run spread) that grew beyond `--error-growth` x the baseline's scale +
//!   `--ulp-slack` ULP. A nondeterministic (atomic) variant is judged by the size of its
//!   wander, never by whether the baseline's few runs happened to agree: its scale is the
//!   larger of its largest error and its run-to-run spread, and its distinct-output rate is
//!   reported, not judged.
//! - **performance**: a slowdown that is significant (one-sided Mann-Whitney U on
//!   `times_ms` at `--alpha`, Bonferroni over the rows that pass the other tests) AND
//!   large: its Hodges-Lehmann lower confidence bound (relative to the device's overall
//!   shift) and its fastest-run ratio exceed both 1 + `--max-slowdown` and the noise the
//!   two reports show (each row's quartile ratio, the scatter of row shifts on the device,
//!   and the device's largest row speedup: with nothing changed, baseline and current are
//!   exchangeable, so a row slows by chance as far as another sped up). Rows timed on the
//!   host's scheduler must also have slowed by more than `--host-floor-ms` in their
//!   fastest run (a preempted run waits whole time slices). With several baselines, the
//!   current median must exceed the slowest baseline median times their spread.
//!   `--no-timing` turns these off.
//!
//! The environments (driver, Mesa/LLVM, NVRTC, detbench version and commit, compile options,
//! kernel hashes, device names) are compared first; every changed fingerprint names the
//! differences that concern its backend as the likely cause.

mod accept;
mod compare;
mod drift;
mod env;
mod options;
mod render;
mod result;
#[cfg(test)]
mod tests;
mod timing;
mod validate;
mod verdict;

pub use compare::compare;
pub use drift::{Between, Drift, MIN_ROWS_FOR_DRIFT, ROW_SHIFT_Z};
pub use env::{env_changes, EnvChange};
pub use options::{
    CheckOptions, DEFAULT_ALPHA, DEFAULT_ERROR_GROWTH, DEFAULT_HOST_FLOOR_MS, DEFAULT_MAX_SLOWDOWN,
    DEFAULT_ULP_SLACK,
};
pub use render::{document, junit, render_text};
pub use result::{check_reports, check_reports_multi, CheckResult};
pub use verdict::{Finding, Kind, Verdict};

use crate::error::{DetError, Outcome};
use crate::report::render::{emit, Format};
use crate::report::{self, Report};
use accept::accept;
use result::check_reports_at;
use std::path::{Path, PathBuf};

/// `detbench check`: the verdict on stdout in `format` (the console text by default), and
/// JUnit XML to `junit_out`.
pub fn run(
    baselines: &[PathBuf],
    current: &Path,
    junit_out: Option<&Path>,
    format: Format,
    opts: &CheckOptions,
) -> Result<Outcome, DetError> {
    opts.validate()?;
    let Some(baseline) = baselines.first() else {
        return Err(DetError::input("no --baseline report given"));
    };
    if opts.accept && baselines.len() > 1 {
        return Err(DetError::input(
            "--accept replaces one baseline: give a single --baseline (make the other baselines by rerunning the matrix)",
        ));
    }
    let cur = report::load_report(current)?;
    if opts.accept {
        return accept(baseline, current, &cur, opts);
    }
    let mut loaded = Vec::new();
    for p in baselines {
        loaded.push((report::load_report(p)?, p.clone()));
    }
    judge(&loaded, &cur, current, junit_out, format, opts)
}

/// `detbench check --baseline-from URL --device ID`: the baseline is a report read from the
/// results store (`label` names it in messages, as a path would).
pub fn run_with_baseline(
    baseline: Report,
    label: &str,
    current: &Path,
    junit_out: Option<&Path>,
    format: Format,
    opts: &CheckOptions,
) -> Result<Outcome, DetError> {
    opts.validate()?;
    if opts.accept {
        return Err(DetError::input(
            "--accept cannot replace a baseline in the store (it is append-only): store the new report with `detbench store add`",
        ));
    }
    let cur = report::load_report(current)?;
    judge(
        &[(baseline, PathBuf::from(label))],
        &cur,
        current,
        junit_out,
        format,
        opts,
    )
}

fn judge(
    loaded: &[(Report, PathBuf)],
    cur: &Report,
    current: &Path,
    junit_out: Option<&Path>,
    format: Format,
    opts: &CheckOptions,
) -> Result<Outcome, DetError> {
    let named: Vec<(&Report, &Path)> = loaded.iter().map(|(r, p)| (r, p.as_path())).collect();
    let res = check_reports_at(&named, cur, current, opts)?;
    emit(format, &document(&res, opts.verbose), Path::new("-"))?;
    if let Some(p) = junit_out {
        report::write_atomic(p, junit(&res)?.as_bytes())?;
    }
    Ok(if res.regressions() > 0 {
        Outcome::Regression
    } else {
        Outcome::Ok
    })
}
