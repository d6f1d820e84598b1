//! The scatter-add family on CUDA (stub while the kernels are written).

use super::ScatterJob;
use crate::backend::cuda::CudaBackend;
use crate::error::OpError;
use crate::ops::RunSet;

/// Runs a scatter-add job on a CUDA device.
pub fn run(_b: &CudaBackend, job: &ScatterJob) -> Result<RunSet, OpError> {
    super::check_job(job)?;
    Err(OpError::Unsupported("not yet".into()))
}
