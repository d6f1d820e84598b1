//! The copy family (each device's bandwidth baseline) as a plug-in.

use super::{CopyJob, BASELINE_RUNS, BASELINE_WORKGROUP_SIZE, VARIANTS};
use crate::error::DetError;
use crate::inputs::InputSpec;
use crate::numerics::Precision;
use crate::ops::{BaselineSpec, Case, Family, JobSpec, Launch, Op, Prepared};

/// copy.
pub struct Copy;

/// The registry entry.
pub const FAMILY: Copy = Copy;

impl Family for Copy {
    fn modules(&self, target: &dyn std::any::Any) -> Option<Box<dyn std::any::Any>> {
        crate::backend::module_entry(target, super::cuda::modules)
    }
    fn name(&self) -> &'static str {
        "copy"
    }
    fn variants(&self, _op: Op) -> &'static [&'static str] {
        VARIANTS
    }
    fn describe(&self, _op: Op, variant: &str) -> Option<&'static str> {
        (variant == "copy").then_some("a plain copy: the device's bandwidth baseline")
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    /// A copy does no arithmetic: its only format is the data's.
    fn accumulators(&self, precision: Precision, _wanted: Vec<Precision>) -> Vec<Precision> {
        vec![precision]
    }
    fn baseline(&self, spec: BaselineSpec) -> Option<Case> {
        Some(Case {
            op: Op::Copy,
            precision: spec.precision,
            accumulator: spec.precision,
            variant: VARIANTS[0].into(),
            size: spec.size,
            // The values do not matter to a copy; uniform ones are the cheapest to draw.
            input: InputSpec::Uniform,
            seed: spec.seed,
            runs: spec.runs.min(BASELINE_RUNS),
            workgroup_size: BASELINE_WORKGROUP_SIZE,
            params: Default::default(),
        })
    }
}

impl JobSpec for CopyJob {
    fn launch(&self) -> Launch {
        self.launch
    }
}

crate::ops::family::family_kernel!(
    CopyJob,
    |_j| "copy",
    [super::cpu::run, super::wgpu::run, super::cuda::run]
);
