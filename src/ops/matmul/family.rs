//! The matmul family as a plug-in.

use super::{cpu, MatmulJob, VARIANTS};
use crate::backend::external::{Describe, ExternalArray, ExternalCall};
use crate::backend::{cpu::CpuBackend, RunSet};
use crate::error::{DetError, OpError};
use crate::ops::{Case, Family, FamilyOptions, Op, Prepared};

/// `matmul`.
pub struct Matmul;

/// The registry entry.
pub const FAMILY: Matmul = Matmul;

impl Family for Matmul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn variants(&self, _op: Op) -> &'static [&'static str] {
        VARIANTS
    }
    fn describe(&self, _op: Op, variant: &str) -> Option<&'static str> {
        Some(match variant {
            "tiled" => "one sequential chain over K per output: deterministic and batch invariant",
            "split_k_atomic" => "K split in chunks whose partials are added with float atomics: nondeterministic",
            "split_k_deterministic" => "K split in chunks (the split follows M), partials added in order: deterministic, not batch invariant",
            "batch_invariant" => "the split chosen from the reduced length alone: the same bits for a row at any batch size",
            "tensor_core" => "CUDA mma.sync tensor cores (sm_80+, f16/bf16 inputs)",
            _ => return None,
        })
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    // tiled's bound (gamma_K) holds for any order of the K products.
    fn external_variant(&self, _op: Op) -> Option<&'static str> {
        Some("tiled")
    }
    fn sized_by(&self) -> Option<&'static str> {
        Some("--mm-shape")
    }
    /// Tiles of TILE x TILE threads; tensor cores eight warps per tile (see `MmJob`).
    fn own_workgroup_size(&self, case: &Case) -> Option<u32> {
        Some(match case.variant.parse::<super::MmVariant>().ok()? {
            super::MmVariant::TensorCore => 256,
            _ => (super::TILE * super::TILE) as u32,
        })
    }
    /// One case per shape (`--mm-shape`), sized by its output (the size list does not
    /// apply).
    fn expand(&self, cases: Vec<Case>, options: &FamilyOptions) -> Result<Vec<Case>, DetError> {
        let shapes = options.get::<super::MatmulOptions>().map(|o| &o.shapes[..]);
        super::expand_shapes(cases, shapes.unwrap_or_default())
    }
    /// The batch is M: row i of A is the same at every M.
    fn with_batch(&self, case: &Case, batch: usize) -> Result<Option<(Case, usize)>, DetError> {
        let s = super::case_shape(case);
        let s = super::MmShape::new(&[batch, s.n, s.k])?;
        Ok(Some((super::with_shape(case, s), s.n)))
    }
    fn modules(&self, target: &dyn std::any::Any) -> Option<Box<dyn std::any::Any>> {
        crate::backend::module_entry(target, super::cuda::modules)
    }
}

crate::ops::family::atomic_job_spec!(MatmulJob);

crate::ops::family::family_kernel!(
    MatmulJob,
    |j| j.op_name(),
    [run_cpu, super::wgpu::run, super::cuda::run, external_call]
);

fn run_cpu(b: &CpuBackend, job: &MatmulJob) -> Result<RunSet, OpError> {
    b.time_runs(job.runs, || {
        cpu::run_once(job, b.threads()).map(|v| (v, String::new()))
    })
}

fn external_call(_: &Describe, job: &MatmulJob) -> Result<ExternalCall, OpError> {
    let s = job.shape;
    let (m, n, k) = (s.m as u64, s.n as u64, s.k as u64);
    Ok(ExternalCall {
        op: job.op_name().into(),
        precision: job.precision,
        accumulator: job.accumulator,
        params: serde_json::json!({ "m": m, "n": n, "k": k }),
        index_inputs: Vec::new(),
        inputs: {
            let mut v = vec![
                ExternalArray::new("a", job.precision, vec![m, k], job.a.clone()),
                ExternalArray::new("b", job.precision, vec![k, n], job.b.clone()),
            ];
            if let Some(c) = &job.bias {
                v.push(ExternalArray::new(
                    "c",
                    job.precision,
                    vec![m, n],
                    c.clone(),
                ));
            }
            v
        },
        out_dtype: job.precision,
        out_shape: vec![m, n],
        runs: job.runs,
    })
}
