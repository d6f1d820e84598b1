//! `detbench tolerance`: tolerance bands a reviewer can check, with their justification.
//!
//! One row per (op, precision, accumulator, variant), devices, inputs, sizes and seeds
//! merged. Two forms of band:
//! - **normwise** (scale-free, for scalar reductions): |computed - exact| <= tau sum|x_i|
//!   (sum |x_i y_i| for dot). It needs no condition number, so it survives
//!   ill-conditioned inputs and exact sums of 0;
//! - **elementwise** (numpy/torch allclose): |computed - exact| <= atol + rtol |exact|,
//!   derived from tau as rtol = tau and atol = tau max(sum|x_i| - |exact|) over the
//!   results, which is finite for exact zeros. Families without a scalar output (scatter,
//!   conv, optimizers) get an absolute band (rtol = 0) from the per-element bounds.
//!
//! tau comes from the smallest basis valid at confidence C and never below an observed
//! error:
//! - deterministic: the variant's own a-priori bound (`error_bound`; Higham's gamma_k for
//!   float accumulation, the variant's bound for kahan, fixed_point, reproducible);
//! - probabilistic: Higham & Mary's gamma~_{n-1}(lambda) with lambda solved from
//!   Q(lambda, n) >= C for the actual n (see [`theory`]); float accumulation only;
//! - empirical: the largest tau observed, over the seeds of each configuration. The max of
//!   m exchangeable samples is a one-sided tolerance bound of content C at confidence C when
//!   m >= ln(1 - C) / ln C (Wilks), so it counts only when every configuration has that many
//!   seeds (22 at C = 0.9).

pub mod render;
pub mod theory;
pub mod validate;

pub use crate::report::rcp::{
    train_comparison, trimmed_summary, welch_greater, ReplicaSummary, TrainComparison,
};
pub use theory::{empirical_band, empirical_band_of_max, runs_needed, EmpiricalBand};

use crate::error::DetError;
use crate::numerics::Precision;
use crate::ops::{Op, SummationModel};
use crate::report::train::{load_train_report, TrainReport};
use crate::report::{load_report, Report, ResultRecord};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Schema tag of `tolerance --format json`.
pub const SCHEMA: &str = "detbench.tolerance.v1";

/// Which form the paste-ready assertions use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    /// |err| <= tau sum|x_i|.
    Normwise,
    /// |err| <= atol + rtol |exact|.
    Elementwise,
}

impl std::str::FromStr for Form {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "normwise" => Ok(Form::Normwise),
            "elementwise" => Ok(Form::Elementwise),
            o => Err(format!("--form must be normwise or elementwise, got '{o}'")),
        }
    }
}

/// One band.
#[derive(Clone, Debug, Serialize)]
pub struct ToleranceRow {
    /// Operation.
    pub op: String,
    /// Input format.
    pub precision: String,
    /// Accumulator format.
    pub accumulator: String,
    /// Kernel variant.
    pub variant: String,
    /// `normwise` (scalar reductions: tau is relative to sum|x_i|) or `absolute` (other
    /// families: only atol, from per-element bounds).
    pub form: String,
    /// `ok` results the band is fitted on.
    pub results: usize,
    /// Results of this row that were not `ok` (error or unsupported), left out.
    pub left_out: usize,
    /// Devices, as backend:name, merged.
    pub devices: Vec<String>,
    /// Input distributions merged.
    pub inputs: Vec<String>,
    /// Problem sizes merged.
    pub sizes: Vec<u64>,
    /// Largest problem size (the theory bands are taken there; they grow with n).
    pub n_max: u64,
    /// Distinct seeds.
    pub seeds: usize,
    /// Whether the variant promises identical bits run to run.
    pub deterministic_variant: bool,
    /// Whether every result was bitwise reproducible.
    pub bitwise_reproducible: bool,
    /// The batch axis (`run --batch-sizes`): whether every result measured on it kept the
    /// shared rows' bits across batch sizes (null when none was measured on it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_invariant: Option<bool>,
    /// The largest ULP distance across batch sizes of those results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ulp_across_batches: Option<u64>,
    /// Largest condition number sum|x_i| / |exact| (null where every exact value is 0).
    pub cond_max: Option<f64>,
    /// Largest sum of magnitudes.
    pub abs_sum_max: Option<f64>,
    /// Higham's gamma_{n_max - 1} (+1 for dot) in the accumulator's unit roundoff: the
    /// deterministic bound for any order of float additions (null when n u >= 1).
    pub gamma_n: Option<f64>,
    /// The variant's own deterministic bound as a normwise tau: max over results of
    /// error_bound / sum|x_i| (null when a result has none).
    pub tau_deterministic: Option<f64>,
    /// Higham & Mary's lambda at the confidence and n_max (null where the model does not
    /// apply).
    pub lambda: Option<f64>,
    /// Higham & Mary's gamma~_{n_max - 1}(lambda) (+1 for dot): holds for the whole sum with
    /// probability >= C under the model (null where it does not apply).
    pub tau_probabilistic: Option<f64>,
    /// Largest observed |computed - exact| / sum|x_i|.
    pub tau_observed: Option<f64>,
    /// What the observed maximum guarantees (m = the fewest seeds of any configuration).
    pub empirical: Option<EmpiricalBand>,
    /// The recommended normwise band (null for the absolute form).
    pub tau: Option<f64>,
    /// deterministic, probabilistic, empirical or none.
    pub basis: String,
    /// Coverage the basis states: 1 (deterministic), C (probabilistic: under the model;
    /// empirical: with confidence C).
    pub stated_coverage: Option<f64>,
    /// Elementwise form: rtol (= tau; 0 for the absolute form).
    pub rtol: Option<f64>,
    /// Elementwise form: atol (tau max(sum|x_i| - |exact|); the absolute band for other
    /// families). Valid for data whose cancellation sum|x_i| - |exact| stays within the
    /// largest seen.
    pub atol: Option<f64>,
    /// The elementwise atol per input distribution (atol depends on the data's scale, so a
    /// row that merges `wide` inputs with others has a large atol).
    pub atol_by_input: BTreeMap<String, f64>,
    /// Largest observed |computed - exact|.
    pub max_abs_err: f64,
    /// Largest observed |computed - exact| / |exact| (exact != 0).
    pub max_rel_err: Option<f64>,
    /// Largest run-to-run spread in ULPs of the output format.
    pub run_to_run_ulp: Option<u64>,
    /// Explanations a reviewer will ask for.
    pub notes: Vec<String>,
}

/// Everything `detbench tolerance` prints.
#[derive(Clone, Debug, Serialize)]
pub struct ToleranceReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Requested confidence C.
    pub confidence: f64,
    /// Seeds per configuration the empirical basis needs for C.
    pub runs_needed: u64,
    /// Form of the paste-ready assertions.
    pub form: Form,
    /// The command that made the fitted report.
    pub source_command: String,
    /// One row per (op, precision, accumulator, variant).
    pub rows: Vec<ToleranceRow>,
    /// Training comparison, when a training report was given.
    pub train: Vec<TrainComparison>,
    /// Coverage on a held-out report, with `--validate`.
    pub validation: Option<validate::Validation>,
}

fn unit_roundoff(name: &str) -> Option<f64> {
    name.parse::<Precision>().ok().map(|p| p.unit_roundoff())
}

fn max_opt(a: Option<f64>, b: f64) -> Option<f64> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// The summation model the family of `op` declares (see [`Family::summation_model`]), if
/// the op is known to this build and its results are one float sum.
pub fn summation_model(op: &str) -> Option<SummationModel> {
    let op: Op = op.parse().ok()?;
    op.family()?.summation_model(op)
}

/// Variants whose error the Higham-Mary model covers: plain float additions in some order.
/// Compensated, fixed-point and binned sums have their own, tighter bounds.
pub fn float_order_variant(op: &str, variant: &str) -> bool {
    summation_model(op).is_some_and(|m| !m.own_bound(variant))
}

/// Variants with their own error bound (u + eps) |exact| + R rather than gamma_k sum|x_i|,
/// as the op's family declares them.
pub fn own_bound_variant(op: &str, variant: &str) -> bool {
    summation_model(op).is_some_and(|m| m.own_bound(variant))
}

/// The sum of magnitudes of a record: the field, or cond |exact| in older reports.
pub fn abs_sum_of(r: &ResultRecord) -> Option<f64> {
    r.abs_sum.or_else(|| match (r.condition_number, r.exact) {
        (Some(c), Some(e)) if e != 0.0 => Some(c * e.abs()),
        _ => None,
    })
}

/// Grouping key of a row.
pub type RowKey = (String, String, String, String);

/// The row key of a record.
pub fn row_key(r: &ResultRecord) -> RowKey {
    (
        r.op.clone(),
        r.precision.clone(),
        r.accumulator.clone(),
        r.variant.clone(),
    )
}

/// The configuration of a record without its seed: records that differ only in the seed
/// are exchangeable draws of one input class, the samples of the empirical band.
fn config_key(r: &ResultRecord) -> String {
    format!(
        "{}|{}|{}|{}|{}|{:?}|{}|{}",
        r.backend,
        r.device,
        r.ordering,
        r.size,
        r.input,
        r.bins,
        serde_json::to_string(&r.launch).unwrap_or_default(),
        r.shape.as_ref().map(|s| s.to_string()).unwrap_or_default()
    )
}

/// Derives the bands from a run report.
pub fn tolerances(report: &Report, confidence: f64) -> Vec<ToleranceRow> {
    let mut groups: BTreeMap<RowKey, Vec<&ResultRecord>> = BTreeMap::new();
    let mut left_out: BTreeMap<RowKey, usize> = BTreeMap::new();
    for r in &report.results {
        if r.op == crate::report::schema::BASELINE_OP {
            // A copy does no arithmetic: bit equality, no band.
            continue;
        }
        if r.status == "ok" {
            groups.entry(row_key(r)).or_default().push(r);
        } else {
            *left_out.entry(row_key(r)).or_default() += 1;
        }
    }
    let mut rows: Vec<ToleranceRow> = groups
        .into_iter()
        .map(|(key, recs)| {
            let lo = left_out.get(&key).copied().unwrap_or(0);
            band(key, &recs, lo, confidence, &report.env)
        })
        .collect();
    explain_order(&mut rows);
    rows
}

fn band(
    key: RowKey,
    recs: &[&ResultRecord],
    left_out: usize,
    c: f64,
    env: &crate::report::Env,
) -> ToleranceRow {
    let (mut row, m) = summary(key, recs, left_out, c, env);
    if row.form == "normwise" {
        normwise_band(&mut row, recs, m, c);
    } else {
        absolute_band(&mut row, recs, m, c);
    }
    row
}

/// A row's figures over its results, with no band yet, and the empirical band's sample
/// size (the fewest seeds of any configuration).
fn summary(
    key: RowKey,
    recs: &[&ResultRecord],
    left_out: usize,
    c: f64,
    env: &crate::report::Env,
) -> (ToleranceRow, u64) {
    let (op, precision, accumulator, variant) = key;
    // The stable device identity: one device under two driver versions counts once.
    let mut devices: Vec<String> = recs
        .iter()
        .map(|r| crate::report::key::DeviceId::of(r, env).to_string())
        .collect();
    devices.sort();
    devices.dedup();
    let inputs: Vec<String> = recs
        .iter()
        .map(|r| r.input.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let sizes: Vec<u64> = recs
        .iter()
        .map(|r| r.size)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let n_max = sizes.last().copied().unwrap_or(0);
    let seeds = recs.iter().map(|r| r.seed).collect::<BTreeSet<_>>().len();
    let deterministic_variant = recs.iter().all(|r| r.deterministic_variant);
    let bitwise = recs.iter().all(|r| r.bitwise_reproducible == Some(true));
    let cond_max = recs
        .iter()
        .filter_map(|r| r.condition_number)
        .reduce(f64::max);
    let max_abs_err = recs
        .iter()
        .filter_map(|r| r.max_abs_err)
        .fold(0.0, f64::max);
    let max_rel_err = recs
        .iter()
        .filter(|r| r.exact.is_some_and(|e| e != 0.0))
        .filter_map(|r| r.max_rel_err)
        .reduce(f64::max);
    let run_to_run_ulp = recs.iter().filter_map(|r| r.max_ulp_run_to_run).max();
    // Seeds per configuration: the empirical band's sample size is the smallest.
    let mut per_config: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for r in recs {
        per_config.entry(config_key(r)).or_default().insert(r.seed);
    }
    let m = per_config
        .values()
        .map(|s| s.len() as u64)
        .min()
        .unwrap_or(0);
    let normwise = recs
        .iter()
        .all(|r| abs_sum_of(r).is_some() && r.exact.is_some());
    let mut notes = Vec::new();
    if left_out > 0 {
        notes.push(format!(
            "{left_out} results of this row were not ok (error or unsupported) and are not in the band"
        ));
    }
    let need = theory::runs_needed(c);
    if m < need {
        notes.push(format!(
            "the empirical band has {m} seed(s) per configuration; coverage {c} at confidence {c} needs {need} (Wilks): run {} more seeds (e.g. --seed 1..{need})",
            need - m
        ));
    }

    let row = ToleranceRow {
        op: op.clone(),
        precision,
        accumulator,
        variant: variant.clone(),
        form: if normwise { "normwise" } else { "absolute" }.into(),
        results: recs.len(),
        left_out,
        devices,
        inputs,
        sizes,
        n_max,
        seeds,
        deterministic_variant,
        bitwise_reproducible: bitwise,
        batch_invariant: recs
            .iter()
            .filter_map(|r| r.batch_invariant)
            .reduce(|a, b| a && b),
        max_ulp_across_batches: recs.iter().filter_map(|r| r.max_ulp_across_batches).max(),
        cond_max,
        abs_sum_max: None,
        gamma_n: None,
        tau_deterministic: None,
        lambda: None,
        tau_probabilistic: None,
        tau_observed: None,
        empirical: None,
        tau: None,
        basis: "none".into(),
        stated_coverage: None,
        rtol: None,
        atol: None,
        atol_by_input: BTreeMap::new(),
        max_abs_err,
        max_rel_err,
        run_to_run_ulp,
        notes,
    };
    (row, m)
}

/// Absolute band from the per-element bounds and errors: families whose report rows carry
/// no per-element magnitudes.
fn absolute_band(row: &mut ToleranceRow, recs: &[&ResultRecord], m: u64, c: f64) {
    let det = if recs.iter().all(|r| r.error_bound.is_some()) {
        recs.iter().filter_map(|r| r.error_bound).reduce(f64::max)
    } else {
        None
    };
    let emp = theory::empirical_band_of_max(row.max_abs_err, m, c);
    let mut cands: Vec<(f64, &str, f64)> = Vec::new();
    if let Some(d) = det {
        cands.push((d, "deterministic", 1.0));
    }
    if emp.sufficient {
        cands.push((emp.value, "empirical", c));
    }
    row.empirical = Some(emp);
    if let Some((a, basis, cov)) = cands.into_iter().min_by(|a, b| a.0.total_cmp(&b.0)) {
        row.atol = Some(a.max(row.max_abs_err));
        row.rtol = Some(0.0);
        row.basis = basis.into();
        row.stated_coverage = Some(cov);
    }
    row.notes.push(
        "absolute band: the report carries no per-element magnitudes for this family, so atol is the largest per-element bound (or error)".into(),
    );
}

/// What the normwise band is fitted to: over the results, the largest error relative to
/// sum |x_i|, the largest bound in that form, the cancellation, and how many results
/// contradict the probabilistic bound at their own n.
struct NormwiseFit {
    prob_violations: usize,
    det: Option<f64>,
    det_missing: bool,
    observed: f64,
    abs_sum_max: f64,
    cancel_max: f64,
    cancel_by_input: BTreeMap<String, f64>,
}

fn normwise_fit(
    recs: &[&ResultRecord],
    op: &str,
    variant: &str,
    u: f64,
    extra: u64,
    float_order: bool,
    c: f64,
) -> NormwiseFit {
    // Per result, at its own n: the probabilistic bound a result's error contradicts.
    let mut prob_violations = 0usize;
    let mut det: Option<f64> = None;
    let mut det_missing = false;
    let mut observed = 0.0f64;
    let mut abs_sum_max = 0.0f64;
    let mut cancel_max = 0.0f64;
    let mut cancel_by_input: BTreeMap<String, f64> = BTreeMap::new();
    for r in recs {
        let s = abs_sum_of(r).unwrap_or(0.0);
        let e = r.max_abs_err.unwrap_or(0.0);
        abs_sum_max = abs_sum_max.max(s);
        let cancel = s - r.exact.unwrap_or(0.0).abs();
        cancel_max = cancel_max.max(cancel);
        let ci = cancel_by_input.entry(r.input.clone()).or_insert(0.0);
        *ci = ci.max(cancel);
        if s > 0.0 {
            observed = observed.max(e / s);
            // Bounds of the form (u + eps) |exact| + R (kahan, fixed_point, reproducible)
            // depend on the data through |exact|; |exact| <= s makes them scale-free:
            // tau <= (u + eps) + R / s, so a new input cannot exceed the fitted tau through
            // a larger |exact| / s.
            let own = |b: f64| {
                if own_bound_variant(op, variant) {
                    let a = u + f64::EPSILON;
                    a + (b - a * r.exact.unwrap_or(0.0).abs()).max(0.0) / s
                } else {
                    b / s
                }
            };
            if float_order {
                let k = r.size.saturating_sub(1) + extra;
                let p = theory::hm_gamma(k, u, theory::hm_lambda(r.size, c, u));
                if e > p * s {
                    prob_violations += 1;
                }
            }
            match r.error_bound {
                Some(b) => det = max_opt(det, own(b)),
                None => det_missing = true,
            }
        }
        // s == 0: every term is 0, the exact sum is 0 and so is any float sum of them.
    }
    NormwiseFit {
        prob_violations,
        det,
        det_missing,
        observed,
        abs_sum_max,
        cancel_max,
        cancel_by_input,
    }
}

/// The normwise band: tau bounds |computed - exact| / sum |x_i|, from the variant's own
/// bound, the Higham-Mary probabilistic bound (float-order variants) or the empirical band,
/// whichever is smallest and valid.
fn normwise_band(row: &mut ToleranceRow, recs: &[&ResultRecord], m: u64, c: f64) {
    let (op, variant) = (row.op.clone(), row.variant.clone());
    let model = summation_model(&op);
    let u = unit_roundoff(&row.accumulator).unwrap_or(f64::NAN);
    let extra = model.map_or(0, |m| m.extra_roundings);
    let n_max = row.n_max;
    let float_order = float_order_variant(&op, &variant) && u.is_finite();
    let NormwiseFit {
        prob_violations,
        mut det,
        det_missing,
        observed,
        abs_sum_max,
        cancel_max,
        cancel_by_input,
    } = normwise_fit(recs, &op, &variant, u, extra, float_order, c);
    if det_missing {
        det = None;
    }
    row.abs_sum_max = Some(abs_sum_max);
    row.tau_observed = Some(observed);
    row.gamma_n = theory::gamma(n_max.saturating_sub(1) + extra, u);
    row.tau_deterministic = det;
    let emp = theory::empirical_band_of_max(observed, m, c);
    let mut cands: Vec<(f64, &str, f64)> = Vec::new();
    if let Some(d) = det {
        cands.push((d, "deterministic", 1.0));
    }
    if float_order {
        let lambda = theory::hm_lambda(n_max, c, u);
        let p = theory::hm_gamma(n_max.saturating_sub(1) + extra, u, lambda);
        row.lambda = Some(lambda);
        row.tau_probabilistic = Some(p);
        if prob_violations > 0 {
            row.notes.push(format!(
                "{prob_violations} result(s) exceed the probabilistic bound at their n: the independent, mean-zero rounding model does not hold for these data, so that bound is not used"
            ));
        } else {
            cands.push((p, "probabilistic", c));
        }
    } else if model.is_some() {
        row.notes.push(format!(
            "{variant} does not round each addition in float, so the Higham-Mary model does not apply; its own bound is the deterministic basis"
        ));
    }
    if emp.sufficient {
        cands.push((emp.value, "empirical", c));
    }
    row.empirical = Some(emp);
    if own_bound_variant(&op, &variant) {
        row.notes.push(
            "tau_det is the variant's bound (u + eps) |exact| + R with |exact| <= sum|x_i|: u + eps plus the largest R / sum|x_i| over the fitted results (R, the compensation or quantisation term, depends on n and the data's scale; its largest fitted value is used)".into(),
        );
    }
    if let Some((t, basis, cov)) = cands.into_iter().min_by(|a, b| a.0.total_cmp(&b.0)) {
        // Never below what was observed (every basis already satisfies this; the max is a
        // guard against rounding in the divisions).
        let t = t.max(observed);
        row.tau = Some(t);
        row.basis = basis.into();
        row.stated_coverage = Some(cov);
        row.rtol = Some(t);
        row.atol = Some(t * cancel_max);
        row.atol_by_input = cancel_by_input
            .into_iter()
            .map(|(k, v)| (k, t * v))
            .collect();
    }
    if row.bitwise_reproducible && row.deterministic_variant {
        row.notes.push(
            "bitwise identical run to run: between two runs of the same launch on one device, compare bits (rtol = atol = 0)".into(),
        );
    }
}

/// When an unordered (atomic) variant shows smaller errors than an ordered one of the same
/// op and formats, say why: the error depends on the order of the additions, not on
/// whether that order repeats.
fn explain_order(rows: &mut [ToleranceRow]) {
    let mut notes: Vec<(usize, String)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let Some(obs) = r.tau_observed.filter(|_| !r.deterministic_variant) else {
            continue;
        };
        let looser: Vec<&str> = rows
            .iter()
            .filter(|o| {
                o.deterministic_variant
                    && (&o.op, &o.precision, &o.accumulator)
                        == (&r.op, &r.precision, &r.accumulator)
                    && o.tau_observed.is_some_and(|t| t > obs)
            })
            .map(|o| o.variant.as_str())
            .collect();
        if !looser.is_empty() {
            notes.push((i, format!(
                "its observed errors are below those of the ordered {}: the error depends on the order in which partial sums are formed (how many roundings each term meets and how large the partial sums are), not on whether that order repeats; determinism fixes the error, it does not make it smaller",
                looser.join(", ")
            )));
        }
    }
    for (i, n) in notes {
        rows[i].notes.push(n);
    }
}

/// Builds the whole tolerance report.
pub fn build(
    report: &Report,
    train: Option<&TrainReport>,
    confidence: f64,
    form: Form,
) -> ToleranceReport {
    ToleranceReport {
        schema: SCHEMA.into(),
        confidence,
        runs_needed: runs_needed(confidence),
        form,
        source_command: report.env.command.clone(),
        rows: tolerances(report, confidence),
        train: train
            .map(|t| train_comparison(t, confidence))
            .unwrap_or_default(),
        validation: None,
    }
}

/// What `detbench tolerance` was asked for.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    pub input: &'a Path,
    pub confidence: f64,
    pub format: &'a str,
    /// Files (or `-` for stdout) to write; when all are `None`, `format` goes to stdout.
    pub outputs: Outputs<'a>,
    pub form: &'a str,
    pub train: Option<&'a Path>,
    pub validate: Option<&'a Path>,
    pub bib: Option<&'a Path>,
}

/// Where `detbench tolerance` writes each rendering (`-`: stdout).
#[derive(Clone, Copy, Debug, Default)]
pub struct Outputs<'a> {
    pub md: Option<&'a Path>,
    pub html: Option<&'a Path>,
    pub latex: Option<&'a Path>,
    pub json: Option<&'a Path>,
}

/// `detbench tolerance`.
pub fn run(o: &Options) -> Result<(), DetError> {
    if !(o.confidence > 0.0 && o.confidence < 1.0) {
        return Err(DetError::input(format!(
            "--confidence must lie strictly between 0 and 1, got {}",
            o.confidence
        )));
    }
    if !matches!(o.format, "md" | "text" | "html" | "latex" | "json") {
        return Err(DetError::input(format!(
            "--format must be md, text, html, latex or json, got '{}'",
            o.format
        )));
    }
    let form: Form = o.form.parse().map_err(DetError::input)?;
    let report = load_report(o.input)?;
    // Two rows under one result key would be counted twice in a band.
    crate::report::key::index(&report)
        .map_err(|e| DetError::input(format!("{}: {e}", o.input.display())))?;
    let train = o.train.map(load_train_report).transpose()?;
    let held_out = o.validate.map(load_report).transpose()?;
    if let Some(b) = o.bib {
        if b == o.input || Some(b) == o.train || Some(b) == o.validate {
            return Err(DetError::input(format!(
                "--bib {} would overwrite an input",
                b.display()
            )));
        }
    }
    let mut t = build(&report, train.as_ref(), o.confidence, form);
    if let Some(h) = &held_out {
        t.validation = Some(validate::validate(&t, &report, h));
    }
    // Markdown, text and HTML are the view document through the shared renderers; the
    // LaTeX is the paper's table (render::latex); JSON is the detbench.tolerance.v1 report
    // itself, in its schema's field order.
    let render = |format: &str| -> Result<String, DetError> {
        Ok(match format {
            "latex" => render::latex(&t),
            "json" => {
                serde_json::to_string_pretty(&t)
                    .map_err(|e| DetError::encode("cannot serialise", e))?
                    + "\n"
            }
            other => other
                .parse::<crate::report::render::Format>()?
                .renderer()
                .render(&render::document(&t)),
        })
    };
    if let Some(b) = o.bib {
        crate::report::write_atomic(b, render::BIBTEX.as_bytes())?;
    }
    let files = [
        ("md", o.outputs.md),
        ("html", o.outputs.html),
        ("latex", o.outputs.latex),
        ("json", o.outputs.json),
    ];
    if files.iter().all(|(_, p)| p.is_none()) {
        return crate::safety::out(&render(o.format)?);
    }
    for (format, path) in files {
        match path {
            Some(p) if p.as_os_str() == "-" => crate::safety::out(&render(format)?)?,
            Some(p) => {
                crate::report::write_atomic(p, render(format)?.as_bytes())?;
                eprintln!("detbench: wrote {}", p.display());
            }
            None => {}
        }
    }
    Ok(())
}
