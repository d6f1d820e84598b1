//! The metrics of a run set against its prepared reference: fingerprints, run-to-run
//! distances, errors against the exact value and the a-priori bound, and whether a case
//! can be judged at all.

use super::judge::{fingerprint, Judged, Reference};
use crate::backend::Slot;
use crate::numerics::Precision;
use crate::ops::{Job, Prepared, RunSet};
use crate::report::{OutputBlocks, Status};
use crate::shared::stats::median_u64;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Metrics of one run set against its prepared reference.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub distinct_outputs: u64,
    pub max_ulp_run_to_run: u64,
    pub median_ulp_run_to_run: f64,
    pub max_abs_err: f64,
    pub max_rel_err: f64,
    pub max_ulp_err: u64,
    pub bound_violations: u64,
    pub elements_differing: u64,
    pub fingerprint: String,
    pub non_finite: u64,
}

/// The bounded sketch of one output that lets `check` name where two reports' outputs
/// first differ ([`OutputBlocks`]): at most `MAX_BLOCKS` blocks, each with the first 16 hex
/// digits of the SHA-256 of its bits in `p` and its first `HEAD` elements' bits.
pub fn output_blocks(p: Precision, values: &[f64]) -> OutputBlocks {
    let n = values.len() as u64;
    let mut sk = OutputBlocks {
        elements: n,
        block: n.div_ceil(OutputBlocks::MAX_BLOCKS).max(1),
        head: OutputBlocks::HEAD,
        ..Default::default()
    };
    let digits = 2 * p.bytes();
    for b in 0..sk.blocks() {
        let (start, end, kept) = sk.span(b);
        let block = &values[start as usize..end as usize];
        let hash = Sha256::digest(p.encode(block));
        sk.hashes.push(hex::encode(&hash[..8]));
        sk.heads.extend(
            block[..kept as usize]
                .iter()
                .map(|&v| format!("{:0digits$x}", p.bits(v))),
        );
    }
    sk
}

/// [`judged_metrics`] of a run set that folded nothing: every output judged here.
pub fn metrics(prep: &Prepared, set: &RunSet) -> Metrics {
    judged_metrics(prep, set, Judged::default())
}

/// Computes every metric of the contract from the outputs of all runs: those the run set
/// kept whole, judged here, and those a [`super::judge::Judge`] judged as they were read
/// back (`judged`; empty where nothing was folded).
///
/// The run set holds each bit pattern once ([`crate::backend::Outputs`]): a later run with
/// the first run's bits (the usual case for deterministic variants) repeats the first
/// run's fingerprint, distance (0) and errors, so the hashes and the per-element work run
/// once per distinct output, not once per run (seconds per run at 2^28 elements).
pub fn judged_metrics(prep: &Prepared, set: &RunSet, judged: Judged) -> Metrics {
    let reference = Reference::of(prep);
    let p = prep.out_precision;
    let mut m = Metrics::default();
    let outs = &set.outputs;
    let (kept, folded) = (outs.kept(), outs.folded());
    let first = &outs[0];
    let slots: Vec<Slot> = (0..outs.len()).map(|i| outs.slot(i)).collect();
    let prints: Vec<String> = kept.iter().map(|o| fingerprint(p, o)).collect();
    let name = |s: Slot| match s {
        Slot::Kept(k) => &prints[k],
        Slot::Folded(j) => &folded[j],
    };
    m.distinct_outputs = slots.iter().map(|&s| name(s)).collect::<HashSet<_>>().len() as u64;
    m.fingerprint = name(slots[0]).clone();
    let Judged {
        mut tally, by_name, ..
    } = judged;
    // Per kept output: its largest distance from the first run's (marking the elements
    // where its bits differ); a folded one's was taken as it was read back.
    let worst: Vec<u64> = kept
        .iter()
        .enumerate()
        .map(|(k, out)| match Slot::Kept(k) == slots[0] {
            true => 0,
            false => tally.distance(p, first, out),
        })
        .collect();
    // Every folded pattern was judged by the judge that named it (the runner passes that
    // judge's findings with the run set it filled).
    debug_assert!(folded.iter().all(|n| by_name.contains_key(n)));
    let of_folded = |j: usize| by_name.get(&folded[j]).copied().unwrap_or_default();
    let per_run: Vec<u64> = slots[1..]
        .iter()
        .map(|&s| match s {
            Slot::Kept(k) => worst[k],
            Slot::Folded(j) => of_folded(j).0,
        })
        .collect();
    m.max_ulp_run_to_run = per_run.iter().copied().max().unwrap_or(0);
    m.median_ulp_run_to_run = median_u64(&per_run);
    // Errors once per distinct output; non-finite outputs counted once per run that gave
    // them.
    let runs_of = |s: Slot| slots.iter().filter(|&&r| r == s).count() as u64;
    for (k, out) in kept.iter().enumerate() {
        m.non_finite += tally.errors(&reference, out) * runs_of(Slot::Kept(k));
    }
    for j in 0..folded.len() {
        m.non_finite += of_folded(j).1 * runs_of(Slot::Folded(j));
    }
    m.elements_differing = tally.differing.iter().filter(|&&d| d).count() as u64;
    m.bound_violations = tally.violating.iter().filter(|&&v| v).count() as u64;
    m.max_abs_err = tally.max_abs_err;
    m.max_rel_err = tally.max_rel_err;
    m.max_ulp_err = tally.max_ulp_err;
    m
}

/// Why a prepared case cannot be judged `ok` whatever its outputs: an exact value that is
/// not finite (overflow of the output format, or a NaN/infinite input), or an element
/// without a finite a-priori bound. `(status, reason)`; None when it can be judged.
pub fn unjudgeable(prep: &Prepared) -> Option<(Status, String)> {
    let p = prep.out_precision;
    let outs: &[f64] = if prep.exact_out.is_empty() {
        &prep.exact
    } else {
        &prep.exact_out
    };
    for (i, (&e, &o)) in prep.exact.iter().zip(outs).enumerate() {
        let o = if prep.exact_out.is_empty() {
            p.round(o)
        } else {
            o
        };
        let at = if prep.exact.len() > 1 {
            format!(" at element {i}")
        } else {
            String::new()
        };
        // A non-finite exact value with a finite bound is one the family defines (a -inf
        // logit's log_softmax is -inf, a fully masked row's is NaN): judged by equality.
        let bound = prep.bounds.get(if prep.bounds.len() == 1 { 0 } else { i });
        let defined = bound.is_some_and(|b| b.is_some_and(f64::is_finite))
            && (e == o || (e.is_nan() && o.is_nan()));
        if (e.is_nan() || o.is_nan()) && !defined {
            return Some((
                Status::Error,
                format!("exact value undefined{at}: the input holds NaN or infinity"),
            ));
        }
        // Any other infinite exact value is an overflow of the format, which the error
        // model does not cover: not judged (a correctly rounded result is then an
        // infinity, never an `error`).
        if (e.is_infinite() || o.is_infinite()) && !defined {
            return Some((
                Status::Unsupported,
                format!(
                    "overflow: the exact result{at} is outside the {p} range (|exact| {} max {:e}); the error model assumes no overflow",
                    if e.is_infinite() {
                        "past f64's"
                    } else {
                        "rounds past"
                    },
                    p.max_finite()
                ),
            ));
        }
    }
    if let Some(i) = prep
        .bounds
        .iter()
        .position(|b| !b.is_some_and(f64::is_finite))
    {
        let at = if prep.bounds.len() > 1 {
            format!(" for element {i}")
        } else {
            String::new()
        };
        return Some((
            Status::Unsupported,
            format!("no finite a-priori error bound{at}, so the error cannot be judged (it is measured, not checked)"),
        ));
    }
    None
}

/// Sum of magnitudes of a scalar reduction's terms (sum |x_i| or sum |x_i y_i|, the products
/// taken exactly in f64 for inputs up to f32), `None` for other families.
pub fn abs_sum(prep: &Prepared) -> Option<f64> {
    // The condition number is abs_sum / |exact|: where it exists, no second pass over
    // the terms (seconds per record at 2^28 elements).
    if let (Some(c), Some(&e), true) = (prep.condition_number, prep.exact.first(), prep.scalar) {
        if e != 0.0 && e.is_finite() {
            return Some(c * e.abs());
        }
    }
    match &prep.job {
        Job::Reduce(j) if prep.scalar => Some(match &j.y {
            None => crate::numerics::exact::sum_abs(&j.x.to_f64()),
            Some(y) => crate::numerics::exact::sum_abs_products(&j.x.to_f64(), &y.to_f64()),
        }),
        _ => None,
    }
}
