//! `tolerance --validate HELD_OUT.json`: the coverage each band reaches on a report it was
//! not fitted on (other seeds of the same input classes, other devices, ...).

use super::theory::binomial_sf;
use super::{abs_sum_of, row_key, ToleranceReport, ToleranceRow};
use crate::report::{Report, ResultRecord};
use serde::Serialize;
use std::collections::BTreeSet;

/// Coverage of one band on the held-out results of its row.
#[derive(Clone, Debug, Serialize)]
pub struct ValidationRow {
    pub op: String,
    pub precision: String,
    pub accumulator: String,
    pub variant: String,
    /// Held-out `ok` results of this row.
    pub results: usize,
    /// The basis of the recommended band.
    pub basis: String,
    /// The coverage that basis states.
    pub stated_coverage: Option<f64>,
    /// Results inside the recommended band (normwise tau, or atol for the absolute form).
    pub covered: usize,
    /// covered / results.
    pub coverage: Option<f64>,
    /// Results inside the elementwise form atol + rtol |exact|.
    pub covered_elementwise: usize,
    /// Coverage of each basis on its own (null where the row has none).
    pub coverage_deterministic: Option<f64>,
    pub coverage_probabilistic: Option<f64>,
    pub coverage_empirical: Option<f64>,
    /// P(this many misses or more) if the band's true coverage were the stated one.
    pub p_value: Option<f64>,
    /// meets, within sampling error, fails, or no held-out results.
    pub verdict: String,
}

/// The whole validation.
#[derive(Clone, Debug, Serialize)]
pub struct Validation {
    /// The command that made the held-out report.
    pub held_out_command: String,
    /// Held-out `ok` results (copy excluded).
    pub results: usize,
    /// Held-out results whose input bytes also occur in the fitted report: not held out.
    pub shared_inputs: usize,
    /// Held-out results with no fitted row (another op, format or variant).
    pub unmatched: usize,
    pub rows: Vec<ValidationRow>,
}

/// Within a band with a margin for the roundings of computing tau = err / sum and back.
fn within(err: f64, limit: f64) -> bool {
    err <= limit * (1.0 + 4.0 * f64::EPSILON)
}

fn inside(row: &ToleranceRow, r: &ResultRecord, tau: Option<f64>) -> Option<bool> {
    let e = r.max_abs_err?;
    if row.form == "normwise" {
        let s = abs_sum_of(r)?;
        Some(within(e, tau? * s))
    } else {
        Some(within(e, tau?))
    }
}

fn fraction(rows: &[&ResultRecord], f: impl Fn(&ResultRecord) -> Option<bool>) -> Option<f64> {
    if rows.is_empty() {
        return None;
    }
    let mut any = false;
    let covered = rows
        .iter()
        .filter(|r| match f(r) {
            Some(b) => {
                any = true;
                b
            }
            None => false,
        })
        .count();
    any.then(|| covered as f64 / rows.len() as f64)
}

/// Coverage of every band of `t` (fitted on `fitted`) on `held_out`.
pub fn validate(t: &ToleranceReport, fitted: &Report, held_out: &Report) -> Validation {
    let fit_inputs: BTreeSet<&str> = fitted
        .results
        .iter()
        .map(|r| r.input_sha256.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    let held: Vec<&ResultRecord> = held_out
        .results
        .iter()
        .filter(|r| r.status == "ok" && r.op != crate::report::schema::BASELINE_OP)
        .collect();
    let shared_inputs = held
        .iter()
        .filter(|r| fit_inputs.contains(r.input_sha256.as_str()))
        .count();
    let mut matched = 0usize;
    let mut rows = Vec::new();
    for row in &t.rows {
        let key = (
            row.op.clone(),
            row.precision.clone(),
            row.accumulator.clone(),
            row.variant.clone(),
        );
        let recs: Vec<&ResultRecord> = held.iter().copied().filter(|r| row_key(r) == key).collect();
        matched += recs.len();
        // The absolute form keeps its band in atol.
        let rec_band = if row.form == "normwise" {
            row.tau
        } else {
            row.atol
        };
        let covered = recs
            .iter()
            .filter(|r| inside(row, r, rec_band) == Some(true))
            .count();
        let covered_elementwise = recs
            .iter()
            .filter(|r| match (r.max_abs_err, r.exact, row.rtol, row.atol) {
                (Some(e), Some(y), Some(rt), Some(at)) => within(e, at + rt * y.abs()),
                (Some(e), None, Some(_), Some(at)) => within(e, at),
                _ => false,
            })
            .count();
        let n = recs.len();
        let coverage = (n > 0).then(|| covered as f64 / n as f64);
        let (p_value, verdict) = match (coverage, row.stated_coverage) {
            (None, _) => (None, "no held-out results".to_string()),
            (Some(_), None) => (None, "no band".to_string()),
            (Some(a), Some(s)) => {
                let misses = (n - covered) as u64;
                let p = binomial_sf(misses, n as u64, 1.0 - s);
                let v = if a >= s {
                    "meets its stated coverage".to_string()
                } else if p >= 0.05 {
                    format!("below its stated coverage, within sampling error (p = {p:.3})")
                } else {
                    format!("fails its stated coverage (p = {p:.2e})")
                };
                (Some(p), v)
            }
        };
        let absolute = row.form != "normwise";
        rows.push(ValidationRow {
            op: row.op.clone(),
            precision: row.precision.clone(),
            accumulator: row.accumulator.clone(),
            variant: row.variant.clone(),
            results: n,
            basis: row.basis.clone(),
            stated_coverage: row.stated_coverage,
            covered,
            coverage,
            covered_elementwise,
            coverage_deterministic: if absolute {
                None
            } else {
                row.tau_deterministic
                    .and_then(|d| fraction(&recs, |r| inside(row, r, Some(d))))
            },
            coverage_probabilistic: row
                .tau_probabilistic
                .and_then(|p| fraction(&recs, |r| inside(row, r, Some(p)))),
            coverage_empirical: if absolute {
                None
            } else {
                row.tau_observed
                    .and_then(|o| fraction(&recs, |r| inside(row, r, Some(o))))
            },
            p_value,
            verdict,
        });
    }
    Validation {
        held_out_command: held_out.env.command.clone(),
        results: held.len(),
        shared_inputs,
        unmatched: held.len() - matched,
        rows,
    }
}
