//! The result records: a case's record before its runs, filled from a finished run set,
//! and the cross-backend comparison of one case's records.

use super::judge::Judged;
use super::metrics::{abs_sum, judged_metrics, output_blocks, unjudgeable};
use crate::backend::DeviceInfo;
use crate::numerics::ulp::ulp_distance;
use crate::numerics::Precision;
use crate::ops::{Case, Job, Op, Prepared, RunSet};
use crate::report::{ResultRecord, Status};
pub use crate::shared::stats::median;

/// The record of a case, before the backend ran it.
pub(super) fn base_record(
    case: &Case,
    prep: Option<&Prepared>,
    backend: &DeviceInfo,
    job: Option<&Job>,
) -> ResultRecord {
    ResultRecord {
        op: case.op.name().into(),
        backend: backend.backend.clone(),
        device: backend.name.clone(),
        device_ordinal: backend.details.get("ordinal").and_then(|v| v.as_u64()),
        precision: case.precision.name().into(),
        accumulator: case.accumulator.name().into(),
        variant: case.variant.clone(),
        ordering: job.map(|j| j.ordering()).unwrap_or_default(),
        size: case.size as u64,
        bins: case.params.bins(),
        shape: case.params.shape(),
        launch: job.map(|j| j.launch()).unwrap_or_default(),
        input: case
            .op
            .family()
            .map_or_else(|| case.input.label(), |f| f.input_label(case)),
        extra: case.op.family().map(|f| f.extras(case)).unwrap_or_default(),
        seed: case.seed,
        runs: case.runs as u64,
        exact: prep.filter(|p| p.scalar).map(|p| p.exact[0]),
        exact_rounded: prep.filter(|p| p.scalar).map(|p| {
            p.exact_out
                .first()
                .copied()
                .unwrap_or_else(|| p.out_precision.round(p.exact[0]))
        }),
        // The largest bound, None (not a smaller one) if any element has none.
        error_bound: prep.and_then(|p| {
            p.bounds
                .iter()
                .try_fold(0.0f64, |m, b| b.filter(|b| b.is_finite()).map(|b| m.max(b)))
        }),
        condition_number: prep.and_then(|p| p.condition_number),
        abs_sum: prep.and_then(abs_sum),
        input_sha256: prep.map(|p| p.input_sha256.clone()).unwrap_or_default(),
        output_precision: prep
            .map(|p| p.out_precision.name().to_string())
            .unwrap_or_default(),
        deterministic_variant: job.map(|j| !j.is_atomic()).unwrap_or(false),
        ..Default::default()
    }
}

/// Fills the record from a finished run set whose outputs were all kept whole.
pub fn finish_record(rec: ResultRecord, prep: &Prepared, set: &RunSet) -> ResultRecord {
    finish_judged(rec, prep, set, Judged::default())
}

/// Fills the record from a finished run set and what was judged of it as it was read back.
pub fn finish_judged(
    mut rec: ResultRecord,
    prep: &Prepared,
    set: &RunSet,
    judged: Judged,
) -> ResultRecord {
    let m = judged_metrics(prep, set, judged);
    rec.status = Status::Ok;
    let mut notes = Vec::new();
    if !prep.note.is_empty() {
        notes.push(prep.note.clone());
    }
    if !set.message.is_empty() {
        notes.push(set.message.clone());
    }
    if let Some((status, why)) = unjudgeable(prep) {
        rec.status = status;
        notes.push(why);
    }
    // An unjudged record (no bound: overflow possible, an exact value out of range)
    // keeps its status, with what happened noted; a judged one with a non-finite output
    // or an error above its bound is an error.
    let judged = rec.status != Status::Unsupported;
    if m.non_finite > 0 {
        if judged {
            rec.status = Status::Error;
        }
        notes.push(format!(
            "{} output values were NaN or infinite (overflow in {})",
            m.non_finite, prep.out_precision
        ));
    }
    if m.bound_violations > 0 {
        rec.status = Status::Error;
        notes.push(format!(
            "{} output elements exceeded the a-priori error bound",
            m.bound_violations
        ));
    }
    rec.message = notes.join("; ");
    rec.distinct_outputs = Some(m.distinct_outputs);
    rec.bitwise_reproducible = Some(m.distinct_outputs == 1);
    rec.max_ulp_run_to_run = Some(m.max_ulp_run_to_run);
    rec.median_ulp_run_to_run = Some(m.median_ulp_run_to_run);
    rec.max_abs_err = Some(m.max_abs_err);
    rec.max_rel_err = Some(m.max_rel_err);
    rec.max_ulp_err = Some(m.max_ulp_err);
    rec.bound_violations = m.bound_violations;
    rec.elements_differing = Some(m.elements_differing);
    rec.times_ms = set.times_ms.clone();
    rec.median_ms = median(&set.times_ms);
    rec.gbps = rec
        .median_ms
        .filter(|&t| t > 0.0)
        .map(|t| prep.bytes_moved / (t * 1e-3) / 1e9);
    rec.fingerprint = Some(m.fingerprint);
    if let Some(f) = rec.op.parse::<Op>().ok().and_then(Op::family) {
        f.finish_extras(&mut rec.extra, m.elements_differing, m.max_ulp_run_to_run);
    }
    rec.output_first = match set.outputs[0].as_slice() {
        [v] if prep.scalar => Some(*v),
        _ => None,
    };
    // Multi-element outputs only: a scalar's one value is `output_first`.
    rec.output_blocks = (!prep.scalar).then(|| output_blocks(prep.out_precision, &set.outputs[0]));
    rec.timer = set.timer.clone();
    rec
}

/// Fills `extra["cross_backend_max_ulp"]` (largest ULP distance between this record's
/// first-run output and any other backend's, element by element) and
/// `extra["cross_backend_bitwise_equal"]` in the records of one case, once every backend
/// has run it.
pub fn cross_backend_ulp(
    results: &mut [ResultRecord],
    outputs: &[(usize, Vec<f64>)],
    p: Precision,
) {
    if outputs.len() < 2 {
        return;
    }
    for (i, a) in outputs {
        let mut worst = 0u64;
        let mut with = Vec::new();
        for (j, b) in outputs {
            if i == j {
                continue;
            }
            with.push(results[*j].backend.clone());
            for (&x, &y) in a.iter().zip(b) {
                worst = worst.max(ulp_distance(p, x, y));
            }
        }
        let rec = &mut results[*i];
        rec.extra
            .insert("cross_backend_max_ulp".into(), serde_json::json!(worst));
        rec.extra.insert(
            "cross_backend_bitwise_equal".into(),
            serde_json::json!(worst == 0),
        );
        rec.extra
            .insert("cross_backend_with".into(), serde_json::json!(with));
    }
}
