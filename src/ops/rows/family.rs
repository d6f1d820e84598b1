//! The batched row reductions as a plug-in.

use super::{cpu, RowsJob, RowsParams, VARIANTS};
use crate::backend::{cpu::CpuBackend, RunSet};
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
    fn variants(&self, _op: Op) -> &'static [&'static str] {
        VARIANTS
    }
    fn describe(&self, _op: Op, variant: &str) -> Option<&'static str> {
        Some(match variant {
            "split_by_batch" => "each row split in chunks whose number follows the batch size: deterministic, not batch invariant",
            "batch_invariant" => "the split chosen from the reduced length alone: the same bits for a row at any batch size",
            "atomic" => "each row's chunk sums added into its output with float atomics: nondeterministic (row_sum, mean; log_softmax refuses it)",
            _ => return None,
        })
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    /// A masked logit: log_softmax defines -inf (its element is -inf, a fully masked
    /// row's is NaN; see the module docs); row_sum and mean take finite values only.
    fn non_finite_inputs(&self, op: Op) -> &'static [f64] {
        if op == Op::LogSoftmax {
            &[f64::NEG_INFINITY]
        } else {
            &[]
        }
    }
    fn sized_by(&self) -> Option<&'static str> {
        Some("--row-len")
    }
    /// Every row op launches 64 threads per group (see `RowJob`).
    fn own_workgroup_size(&self, _case: &Case) -> Option<u32> {
        Some(super::ROW_WORKGROUP)
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
    fn modules(&self, target: &dyn std::any::Any) -> Option<Box<dyn std::any::Any>> {
        crate::backend::module_entry(target, super::cuda::modules)
    }
}

crate::ops::family::family_kernel!(
    RowsJob,
    |j| j.op.name(),
    [run_cpu, super::wgpu::run, super::cuda::run]
);

fn run_cpu(b: &CpuBackend, job: &RowsJob) -> Result<RunSet, OpError> {
    b.time_runs(job.runs, || {
        cpu::run_threads(job, b.threads()).map(|v| (v, String::new()))
    })
}
