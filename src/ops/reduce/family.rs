//! The reduction family (sum, dot) as a plug-in.

use super::{cpu, cuda, wgpu, ReduceJob, VARIANTS};
use crate::backend::external::{ExternalArray, ExternalCall};
use crate::backend::{cpu::CpuBackend, cuda::CudaBackend, wgpu::WgpuBackend, Kernel, RunSet};
use crate::error::{DetError, OpError};
use crate::ops::{Case, Family, Op, Prepared};

/// sum and dot.
pub struct Reduce;

/// The registry entry.
pub const FAMILY: Reduce = Reduce;

impl Family for Reduce {
    fn cuda_modules(
        &self,
        target: &crate::backend::cuda::CudaTarget,
    ) -> Vec<crate::backend::cuda::ModuleBuild> {
        super::cuda::modules(target)
    }
    fn name(&self) -> &'static str {
        "reduce"
    }
    fn ops(&self) -> &'static [Op] {
        &[Op::Sum, Op::Dot]
    }
    fn variants(&self, _op: Op) -> &'static [&'static str] {
        VARIANTS
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    // atomic's bound (gamma_{n-1}, recursive summation) holds for any order of the terms.
    fn external_variant(&self, _op: Op) -> Option<&'static str> {
        Some("atomic")
    }
}

crate::ops::family::atomic_job_spec!(ReduceJob);

impl Kernel for ReduceJob {
    fn kernel_name(&self) -> String {
        self.op.name().into()
    }
    fn run_cpu(&self, b: &CpuBackend) -> Result<RunSet, OpError> {
        b.time_runs(self.runs, || {
            cpu::run_once(self, b.threads()).map(|(v, m)| (vec![v], m))
        })
    }
    fn run_wgpu(&self, b: &WgpuBackend) -> Result<RunSet, OpError> {
        wgpu::run(b, self)
    }
    fn run_cuda(&self, b: &CudaBackend) -> Result<RunSet, OpError> {
        cuda::run(b, self)
    }
    fn external_call(&self) -> Result<ExternalCall, OpError> {
        let n = self.x.len() as u64;
        let mut inputs = vec![ExternalArray::new(
            "x",
            self.precision,
            vec![n],
            self.x.clone(),
        )];
        if let Some(y) = &self.y {
            inputs.push(ExternalArray::new("y", self.precision, vec![n], y.clone()));
        }
        Ok(ExternalCall {
            op: self.op.name().into(),
            precision: self.precision,
            accumulator: self.accumulator,
            params: serde_json::json!({ "size": n }),
            index_inputs: Vec::new(),
            inputs,
            out_dtype: self.accumulator,
            out_shape: Vec::new(),
            runs: self.runs,
        })
    }
}
