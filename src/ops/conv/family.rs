//! The convolution family (forward, backward data, backward weight) as a plug-in.

use super::{variants, ConvJob};
use crate::backend::external::{Describe, ExternalArray, ExternalCall};
use crate::error::{DetError, OpError};
use crate::ops::{Case, Family, FamilyOptions, Op, Prepared};

/// conv2d_fwd, conv2d_bwd_data and conv2d_bwd_weight.
pub struct Conv;

/// The registry entry.
pub const FAMILY: Conv = Conv;

impl Family for Conv {
    fn modules(&self, target: &dyn std::any::Any) -> Option<Box<dyn std::any::Any>> {
        crate::backend::module_entry(target, super::cuda::modules)
    }
    fn name(&self) -> &'static str {
        "conv"
    }
    fn variants(&self, op: Op) -> &'static [&'static str] {
        variants(op)
    }
    fn describe(&self, _op: Op, variant: &str) -> Option<&'static str> {
        Some(match variant {
            "direct" => "one thread per output, taps in a fixed order: deterministic",
            "tiled" => "shared-memory tiles, taps in a fixed order: deterministic",
            "atomic" => "partial weight gradients added with float atomics: nondeterministic",
            "deterministic" => "the batch reduced in a fixed order: deterministic",
            "tensor_core" => "CUDA mma.sync tensor cores (sm_80+, f16/bf16 inputs)",
            _ => return None,
        })
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    // direct's and deterministic's bound (gamma_L of the reduction length) holds for any
    // order of the L products.
    fn external_variant(&self, op: Op) -> Option<&'static str> {
        Some(if op == Op::Conv2dBwdWeight {
            "deterministic"
        } else {
            "direct"
        })
    }
    fn sized_by(&self) -> Option<&'static str> {
        Some("--conv-shape")
    }
    /// `direct` takes `--workgroup-size`; the tiled kernels launch a tile's threads and
    /// tensor cores eight warps (see `ConvJob`).
    fn own_workgroup_size(&self, case: &Case) -> Option<u32> {
        match case.variant.parse::<super::ConvVariant>().ok()? {
            super::ConvVariant::Direct => None,
            super::ConvVariant::TensorCore => Some(256),
            _ => Some((super::TILE * super::TILE) as u32),
        }
    }
    /// One case per shape (`--conv-shape`), sized by its output (the size list does not
    /// apply).
    fn expand(&self, cases: Vec<Case>, options: &FamilyOptions) -> Result<Vec<Case>, DetError> {
        let shapes = options.get::<super::ConvOptions>().map(|o| &o.shapes[..]);
        super::expand_shapes(cases, shapes.unwrap_or_default())
    }
    /// The batch is N (images); fwd and bwd_data only.
    fn with_batch(&self, case: &Case, batch: usize) -> Result<Option<(Case, usize)>, DetError> {
        super::with_batch(case, batch)
    }
}

crate::ops::family::atomic_job_spec!(ConvJob);

crate::ops::family::family_kernel!(
    ConvJob,
    |j| j.op.name(),
    [
        super::cpu::run,
        super::wgpu::run,
        super::cuda::run,
        external_call
    ]
);

/// NCHW activations, KCRS weights; the operands and output of the module docs' table.
fn external_call(_: &Describe, j: &ConvJob) -> Result<ExternalCall, OpError> {
    let s = j.shape;
    let x = vec![s.n as u64, s.c as u64, s.h as u64, s.w as u64];
    let w = vec![s.k as u64, s.c as u64, s.r as u64, s.s as u64];
    let y = vec![s.n as u64, s.k as u64, s.p as u64, s.q as u64];
    let (a, b, out) = match j.op {
        Op::Conv2dFwd => (("x", x), ("w", w), y),
        Op::Conv2dBwdData => (("dy", y), ("w", w), x),
        _ => (("dy", y), ("x", x), w),
    };
    Ok(ExternalCall {
        op: j.op.name().into(),
        precision: j.precision,
        accumulator: j.accumulator,
        params: serde_json::json!({
            "n": s.n, "c": s.c, "h": s.h, "w": s.w, "k": s.k, "r": s.r, "s": s.s,
            "p": s.p, "q": s.q, "stride": s.stride, "pad": s.pad, "dilation": s.dil,
        }),
        index_inputs: Vec::new(),
        inputs: vec![
            ExternalArray::new(a.0, j.precision, a.1, j.a.clone()),
            ExternalArray::new(b.0, j.precision, b.1, j.b.clone()),
        ],
        out_dtype: j.precision,
        out_shape: out,
        runs: j.runs,
    })
}
