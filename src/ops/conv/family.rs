//! The convolution family (forward, backward data, backward weight) as a plug-in.

use super::{variants, ConvJob};
use crate::error::DetError;
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

crate::ops::family::family_kernel!(ConvJob, |j| j.op.name(), [cpu, wgpu, cuda]);
