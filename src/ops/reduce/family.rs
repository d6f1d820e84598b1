//! The reduction family (sum, dot) as a plug-in.

use super::{ReduceJob, ReduceVariant, VARIANTS};
use crate::backend::external::{Describe, ExternalArray, ExternalCall};
use crate::error::{DetError, OpError};
use crate::numerics::{Precision, Values};
use crate::ops::{Case, Family, Op, Prepared, SummationModel};

/// sum and dot.
pub struct Reduce;

/// The registry entry.
pub const FAMILY: Reduce = Reduce;

impl Family for Reduce {
    fn modules(&self, target: &dyn std::any::Any) -> Option<Box<dyn std::any::Any>> {
        crate::backend::module_entry(target, super::cuda::modules)
    }
    fn name(&self) -> &'static str {
        "reduce"
    }
    fn variants(&self, _op: Op) -> &'static [&'static str] {
        VARIANTS
    }
    fn describe(&self, _op: Op, variant: &str) -> Option<&'static str> {
        Some(match variant {
            "atomic" => "float atomic adds, in whatever order threads arrive: nondeterministic",
            "atomic_cas" => "atomic add as a compare-and-swap loop (devices without float atomics): nondeterministic",
            "block_atomic" => "a fixed tree per workgroup, then one atomic add per workgroup: nondeterministic",
            "tree" => "a fixed-shape tree: deterministic for a given launch shape",
            "kahan" => "compensated (Kahan) sums per thread, then a fixed tree: deterministic for a given launch shape",
            "fixed_point" => "integer (fixed-point) atomics: the same bits in any order; reports the bits lost below its scale",
            "reproducible" => "binned pre-rounded sums (ReproBLAS style): the same bits on any device, launch shape or order",
            _ => return None,
        })
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    // Each vector is held once in its host format (f32 for every format but f64, shared
    // by every variant; the output is one value), plus at most three copies in its storage
    // format while a device holds it: the encoded upload, a staging buffer and a device
    // whose memory is the host's (lavapipe, which keeps the last input for its next
    // variant). Measured: a 2^26 f32 sum on the cpu backend peaks at 274 MB RSS, 4.1 bytes
    // per element.
    fn host_bytes_per_element(&self, op: Op, precision: Precision) -> u64 {
        let vectors = if op == Op::Dot { 2 } else { 1 };
        let held = if Values::narrow_for(precision) { 4 } else { 8 };
        vectors * (held + 3 * precision.bytes() as u64)
    }
    // atomic's bound (gamma_{n-1}, recursive summation) holds for any order of the terms.
    fn external_variant(&self, op: Op) -> Option<&'static str> {
        matches!(op, Op::Sum | Op::Dot).then_some("atomic")
    }
    // Every variant adds in float except the compensated, fixed-point and binned ones, whose
    // bounds are tighter; dot also rounds each product once.
    fn summation_model(&self, op: Op) -> Option<SummationModel> {
        const OWN_BOUND: &[&str] = &[
            ReduceVariant::Kahan.name(),
            ReduceVariant::FixedPoint.name(),
            ReduceVariant::Reproducible.name(),
        ];
        let own_bound_variants = OWN_BOUND;
        match op {
            Op::Sum => Some(SummationModel {
                extra_roundings: 0,
                own_bound_variants,
                magnitudes: SummationModel::ABS_SUM_MAGNITUDES,
            }),
            Op::Dot => Some(SummationModel {
                extra_roundings: 1,
                own_bound_variants,
                magnitudes: [
                    "numpy.abs(x.astype(numpy.float64) * y).sum()",
                    "(x.double() * y.double()).abs().sum().item()",
                    "x.iter().zip(&y).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum::<f64>()",
                ],
            }),
            _ => None,
        }
    }
}

crate::ops::family::atomic_job_spec!(ReduceJob);

crate::ops::family::family_kernel!(
    ReduceJob,
    |j| j.op.name(),
    [
        super::cpu::run,
        super::wgpu::run,
        super::cuda::run,
        external_call
    ]
);

fn external_call(_: &Describe, j: &ReduceJob) -> Result<ExternalCall, OpError> {
    let n = j.x.len() as u64;
    let mut inputs = vec![ExternalArray::new(
        "x",
        j.precision,
        vec![n],
        j.x.to_f64().into_owned(),
    )];
    if let Some(y) = &j.y {
        inputs.push(ExternalArray::new(
            "y",
            j.precision,
            vec![n],
            y.to_f64().into_owned(),
        ));
    }
    Ok(ExternalCall {
        op: j.op.name().into(),
        precision: j.precision,
        accumulator: j.accumulator,
        params: serde_json::json!({ "size": n }),
        index_inputs: Vec::new(),
        inputs,
        out_dtype: j.accumulator,
        out_shape: Vec::new(),
        runs: j.runs,
    })
}
