//! The batched row reductions as a plug-in.

use super::{cpu, cuda, wgpu, RowsJob, RowsParams, VARIANTS};
use crate::backend::{cpu::CpuBackend, cuda::CudaBackend, wgpu::WgpuBackend, Kernel, RunSet};
use crate::error::{DetError, OpError};
use crate::ops::{Case, Family, FamilyOptions, Op, Prepared};

/// row_sum, mean and log_softmax.
pub struct Rows;

/// The registry entry.
pub const FAMILY: Rows = Rows;

impl Family for Rows {
    fn name(&self) -> &'static str {
        "rows"
    }
    fn ops(&self) -> &'static [Op] {
        &[Op::RowSum, Op::Mean, Op::LogSoftmax]
    }
    fn variants(&self, _op: Op) -> &'static [&'static str] {
        VARIANTS
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    /// One case per row length (`--row-len`); the size list does not apply.
    fn expand(&self, cases: Vec<Case>, options: &FamilyOptions) -> Result<Vec<Case>, DetError> {
        let lens = options.get::<super::RowsOptions>().map(|o| &o.lens[..]);
        super::expand_lens(cases, lens.unwrap_or_default())
    }
    /// The batch is B: row i is the same at every B.
    fn with_batch(&self, case: &Case, batch: usize) -> Result<Option<(Case, usize)>, DetError> {
        let p = super::case_params(case);
        let c = super::with_params(
            case,
            RowsParams {
                rows: batch,
                len: p.len,
            },
        );
        let row_out = if case.op == Op::LogSoftmax { p.len } else { 1 };
        Ok(Some((c, row_out)))
    }
    fn cuda_modules(
        &self,
        target: &crate::backend::cuda::CudaTarget,
    ) -> Vec<crate::backend::cuda::ModuleBuild> {
        cuda::modules(target)
    }
}

impl Kernel for RowsJob {
    fn kernel_name(&self) -> String {
        self.op.name().into()
    }
    fn run_cpu(&self, b: &CpuBackend) -> Result<RunSet, OpError> {
        b.time_runs(self.runs, || {
            cpu::run_threads(self, b.threads()).map(|v| (v, String::new()))
        })
    }
    fn run_wgpu(&self, b: &WgpuBackend) -> Result<RunSet, OpError> {
        wgpu::run(b, self)
    }
    fn run_cuda(&self, b: &CudaBackend) -> Result<RunSet, OpError> {
        cuda::run(b, self)
    }
}
