//! The matmul family as a plug-in.

use super::{cpu, cuda, wgpu, MatmulJob, VARIANTS};
use crate::backend::external::{ExternalArray, ExternalCall};
use crate::backend::{cpu::CpuBackend, cuda::CudaBackend, wgpu::WgpuBackend, Kernel, RunSet};
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
    fn ops(&self) -> &'static [Op] {
        &[Op::Matmul]
    }
    fn variants(&self, _op: Op) -> &'static [&'static str] {
        VARIANTS
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    // tiled's bound (gamma_K) holds for any order of the K products.
    fn external_variant(&self, _op: Op) -> Option<&'static str> {
        Some("tiled")
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
    fn cuda_modules(
        &self,
        target: &crate::backend::cuda::CudaTarget,
    ) -> Vec<crate::backend::cuda::ModuleBuild> {
        cuda::modules(target)
    }
}

crate::ops::family::atomic_job_spec!(MatmulJob);

impl Kernel for MatmulJob {
    fn kernel_name(&self) -> String {
        "matmul".into()
    }
    fn run_cpu(&self, b: &CpuBackend) -> Result<RunSet, OpError> {
        b.time_runs(self.runs, || {
            cpu::run_once(self, b.threads()).map(|v| (v, String::new()))
        })
    }
    fn run_wgpu(&self, b: &WgpuBackend) -> Result<RunSet, OpError> {
        wgpu::run(b, self)
    }
    fn run_cuda(&self, b: &CudaBackend) -> Result<RunSet, OpError> {
        cuda::run(b, self)
    }
    fn external_call(&self) -> Result<ExternalCall, OpError> {
        let s = self.shape;
        let (m, n, k) = (s.m as u64, s.n as u64, s.k as u64);
        Ok(ExternalCall {
            op: "matmul".into(),
            precision: self.precision,
            accumulator: self.accumulator,
            params: serde_json::json!({ "m": m, "n": n, "k": k }),
            index_inputs: Vec::new(),
            inputs: vec![
                ExternalArray::new("a", self.precision, vec![m, k], self.a.clone()),
                ExternalArray::new("b", self.precision, vec![k, n], self.b.clone()),
            ],
            out_dtype: self.precision,
            out_shape: vec![m, n],
            runs: self.runs,
        })
    }
}
