//! The optimizer family (sgd, adam, adamw) as a plug-in.

use super::{OptimJob, OptimParams, ADAM_VARIANTS, DEFAULT_STEPS, SGD_VARIANTS};
use crate::error::DetError;
use crate::ops::{Case, Family, FamilyOptions, FamilyParams, JobSpec, Launch, Op, Prepared};

/// sgd, adam and adamw.
pub struct Optim;

/// The registry entry.
pub const FAMILY: Optim = Optim;

impl Family for Optim {
    fn modules(&self, target: &dyn std::any::Any) -> Option<Box<dyn std::any::Any>> {
        crate::backend::module_entry(target, super::cuda::modules)
    }
    fn name(&self) -> &'static str {
        "optim"
    }
    fn variants(&self, op: Op) -> &'static [&'static str] {
        if op == Op::Sgd {
            SGD_VARIANTS
        } else {
            ADAM_VARIANTS
        }
    }
    fn describe(&self, op: Op, variant: &str) -> Option<&'static str> {
        if !self.variants(op).contains(&variant) {
            return None;
        }
        Some(if variant.ends_with("no_fma") {
            "elementwise update, separate multiply and add: deterministic"
        } else if variant.ends_with("stochastic_rounding") {
            "elementwise update with seeded stochastic rounding to the storage format: deterministic"
        } else {
            "elementwise update with fused multiply-adds: deterministic"
        })
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    /// Every case runs the steps asked for (`--steps`).
    fn expand(&self, cases: Vec<Case>, options: &FamilyOptions) -> Result<Vec<Case>, DetError> {
        let p = options
            .get::<OptimParams>()
            .copied()
            .unwrap_or(OptimParams {
                steps: DEFAULT_STEPS,
            });
        Ok(cases
            .into_iter()
            .map(|c| Case {
                params: FamilyParams::new(p),
                ..c
            })
            .collect())
    }
    /// Element-wise updates with one rounding order: every device should give the same bits.
    fn compare_across_backends(&self) -> bool {
        true
    }
}

impl JobSpec for OptimJob {
    fn launch(&self) -> Launch {
        self.launch
    }
}

crate::ops::family::family_kernel!(
    OptimJob,
    |j| j.op.name(),
    [super::cpu::run, super::wgpu::run, super::cuda::run]
);
