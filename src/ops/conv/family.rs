//! The convolution family (forward, backward data, backward weight) as a plug-in.

use super::{cpu, cuda, variants, wgpu, ConvJob};
use crate::backend::{cpu::CpuBackend, cuda::CudaBackend, wgpu::WgpuBackend, Kernel, RunSet};
use crate::error::{DetError, OpError};
use crate::ops::{Case, Family, MatrixParams, Op, Prepared};

/// conv2d_fwd, conv2d_bwd_data and conv2d_bwd_weight.
pub struct Conv;

/// The registry entry.
pub const FAMILY: Conv = Conv;

impl Family for Conv {
    fn cuda_modules(
        &self,
        target: &crate::backend::cuda::CudaTarget,
    ) -> Vec<crate::backend::cuda::ModuleBuild> {
        super::cuda::modules(target)
    }
    fn name(&self) -> &'static str {
        "conv"
    }
    fn ops(&self) -> &'static [Op] {
        &[Op::Conv2dFwd, Op::Conv2dBwdData, Op::Conv2dBwdWeight]
    }
    fn variants(&self, op: Op) -> &'static [&'static str] {
        variants(op)
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    /// One case per shape, sized by its output (the size list does not apply).
    fn expand(&self, cases: Vec<Case>, params: &MatrixParams) -> Result<Vec<Case>, DetError> {
        super::expand_shapes(cases, params.shapes)
    }
}

crate::ops::family::atomic_job_spec!(ConvJob);

impl Kernel for ConvJob {
    fn kernel_name(&self) -> String {
        self.op.name().into()
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
}
