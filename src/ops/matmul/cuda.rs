//! The matmul family on CUDA: no kernels in this build yet; every variant is Unsupported
//! with that reason.

use super::MatmulJob;
use crate::backend::cuda::{CudaBackend, CudaTarget, ModuleBuild};
use crate::error::OpError;
use crate::ops::RunSet;

/// Every module this family builds for `target` (none yet).
pub fn modules(_target: &CudaTarget) -> Vec<ModuleBuild> {
    Vec::new()
}

/// Runs a matmul job on a CUDA device.
pub fn run(_b: &CudaBackend, job: &MatmulJob) -> Result<RunSet, OpError> {
    Err(OpError::Unsupported(format!(
        "matmul {} has no CUDA kernel in this build of detbench",
        job.variant.name()
    )))
}
