//! The reduction family (sum, dot) as a plug-in.

use super::{ReduceJob, VARIANTS};
use crate::error::DetError;
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
}

crate::ops::family::atomic_job_spec!(ReduceJob);

crate::ops::family::family_kernel!(ReduceJob, |j| j.op.name(), [cpu, wgpu, cuda]);
