//! Judging outputs one distinct bit pattern at a time: against the first judged run (the
//! run-to-run distance) and against the prepared reference (errors and bound violations).
//!
//! [`metrics`](super::metrics) judges the outputs a run set kept whole with these; a
//! [`Judge`] judges the others as the backend reads them back ([`crate::backend::folding`]),
//! so that a run set of many different outputs (an atomic variant's) holds only its
//! warm-up outputs and its first judged one. The two give the same metrics by
//! construction: both add into one [`Tally`] with the same functions.

use crate::backend::Fold;
use crate::numerics::error::abs_err_up;
use crate::numerics::exact::ExactRest;
use crate::numerics::ulp::{ulp_distance, ulp_error};
use crate::numerics::Precision;
use crate::ops::Prepared;
use crate::shared::host::process_cpu_ms;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// SHA-256 of one output's bits in its format: the digest inputs are checksummed with,
/// encoded a block at a time (no second copy of a large output).
pub fn fingerprint(p: Precision, values: &[f64]) -> String {
    crate::inputs::checksum(p, values)
}

/// max that keeps NaN: a NaN anywhere makes the maximum NaN.
pub fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// What an output is judged against: the prepared case's reference, shared with it.
#[derive(Clone, Debug)]
pub struct Reference {
    pub format: Precision,
    exact: Arc<Vec<f64>>,
    exact_out: Arc<Vec<f64>>,
    exact_rest: Arc<Vec<ExactRest>>,
    bounds: Arc<Vec<Option<f64>>>,
}

impl Reference {
    pub fn of(prep: &Prepared) -> Self {
        Reference {
            format: prep.out_precision,
            exact: prep.exact.clone(),
            exact_out: prep.exact_out.clone(),
            exact_rest: prep.exact_rest.clone(),
            bounds: prep.bounds.clone(),
        }
    }
}

/// The per-element and largest figures over the outputs judged so far.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Elements where some output's bits differ from the first judged run's.
    pub differing: Vec<bool>,
    /// Elements where some output's error exceeds the bound (or is NaN).
    pub violating: Vec<bool>,
    pub max_abs_err: f64,
    pub max_rel_err: f64,
    pub max_ulp_err: u64,
}

impl Tally {
    /// Sizes the element masks for outputs of `n` elements (once).
    fn sized(&mut self, n: usize) -> &mut Self {
        if self.differing.len() != n {
            self.differing = vec![false; n];
            self.violating = vec![false; n];
        }
        self
    }

    /// Marks the elements where `out`'s bits differ from `first`'s and returns the largest
    /// ULP distance between them.
    pub fn distance(&mut self, p: Precision, first: &[f64], out: &[f64]) -> u64 {
        let differing = &mut self.sized(first.len()).differing;
        let mut worst = 0u64;
        for (e, (&a, &b)) in out.iter().zip(first).enumerate() {
            if a.to_bits() != b.to_bits() {
                differing[e] = true;
            }
            worst = worst.max(ulp_distance(p, a, b));
        }
        worst
    }

    /// Adds `out`'s errors against the reference and marks its elements past their bound;
    /// returns how many of its elements are non-finite where the exact value is not that
    /// defined non-finite value (counted once per run that gave the output).
    pub fn errors(&mut self, r: &Reference, out: &[f64]) -> u64 {
        let t = self.sized(out.len());
        let mut non_finite = 0;
        for (e, &c) in out.iter().enumerate() {
            let exact = r.exact[e];
            let bound = if r.bounds.len() == 1 {
                r.bounds[0]
            } else {
                r.bounds[e]
            };
            // A non-finite exact value with a finite bound is one the family defines (a
            // -inf logit's log_softmax is -inf; a fully masked row's is NaN): the output
            // is right when it is that value (any NaN for NaN), and infinitely wrong
            // otherwise.
            let defined = !exact.is_finite() && bound.is_some_and(f64::is_finite);
            let hit = c == exact || (c.is_nan() && exact.is_nan());
            // A non-finite output is an error (its error is infinite), unless it is the
            // defined value itself.
            let right = defined && hit;
            if !c.is_finite() && !right {
                non_finite += 1;
            }
            // |c - x| against the real exact value x = exact + rest, rounded upward; NaN
            // (an undefined exact value or a NaN output) must survive the maxima, which
            // `f64::max` would drop.
            let rest = r.exact_rest.get(e).copied().unwrap_or_default();
            let abs = match (defined, hit) {
                (true, true) => 0.0,
                (true, false) => f64::INFINITY,
                _ => abs_err_up(c, exact, rest),
            };
            t.max_abs_err = nan_max(t.max_abs_err, abs);
            if exact != 0.0 && exact.is_finite() && abs != 0.0 {
                t.max_rel_err = nan_max(t.max_rel_err, abs / exact.abs());
            }
            // Against the exact value rounded once to the output format.
            let ulp = match r.exact_out.get(e) {
                Some(&x) => ulp_distance(r.format, c, x),
                None => ulp_error(r.format, c, exact),
            };
            t.max_ulp_err = t.max_ulp_err.max(ulp);
            // Both sides are upper bounds in f64 of real numbers, the error rounded upward:
            // `abs <= b` exactly when the real error is within the bound, so an `ok` record
            // has max_abs_err <= error_bound with no slack. NaN on either side violates.
            if let Some(b) = bound {
                if abs.is_nan() || b.is_nan() || abs > b {
                    t.violating[e] = true;
                }
            }
        }
        non_finite
    }
}

/// What a [`Judge`] found in the outputs it folded.
#[derive(Clone, Debug, Default)]
pub struct Judged {
    pub tally: Tally,
    /// Per folded bit pattern, by its fingerprint: the largest ULP distance from the first
    /// judged run, and its count of non-finite elements.
    pub by_name: HashMap<String, (u64, u64)>,
    /// Process CPU time spent judging, in ms (taken off the row's CPU time per run: it is
    /// the instrument's work, not the kernel's).
    pub cpu_ms: f64,
}

/// Judges outputs as they are read back, for [`crate::backend::folding`].
pub struct Judge {
    reference: Reference,
    judged: Mutex<Judged>,
}

impl Judge {
    pub fn new(prep: &Prepared) -> Self {
        Judge {
            reference: Reference::of(prep),
            judged: Mutex::new(Judged::default()),
        }
    }

    /// What it found so far, leaving it empty.
    pub fn take(&self) -> Judged {
        std::mem::take(&mut *self.judged.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Fold for Judge {
    fn fold(&self, first: &[f64], out: &[f64]) -> String {
        let started = process_cpu_ms();
        let name = fingerprint(self.reference.format, out);
        let mut j = self.judged.lock().unwrap_or_else(|e| e.into_inner());
        if !j.by_name.contains_key(&name) {
            let worst = j.tally.distance(self.reference.format, first, out);
            let non_finite = j.tally.errors(&self.reference, out);
            j.by_name.insert(name.clone(), (worst, non_finite));
        }
        if let Some((a, b)) = started.zip(process_cpu_ms()) {
            j.cpu_ms += b - a;
        }
        name
    }
}
