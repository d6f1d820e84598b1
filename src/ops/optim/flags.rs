//! The optimizers' own `detbench run` flags (see [`crate::ops::FamilyFlags`]).

use super::{OptimParams, DEFAULT_STEPS};
use crate::error::DetError;
use crate::ops::{FamilyFlags, Op};

/// Most optimizer steps (`run --steps`; `train --steps` shares the limit).
pub const MAX_STEPS: usize = 100_000;

/// The flags, as clap reads them.
#[derive(clap::Args, Clone, Debug)]
pub struct OptimFlags {
    /// Optimizer steps.
    #[arg(long)]
    pub steps: Option<usize>,
}

impl FamilyFlags for OptimFlags {
    /// Every case runs the steps asked for.
    type Options = OptimParams;

    fn options(&self, _ops: &[Op]) -> Result<OptimParams, DetError> {
        let steps = match self.steps {
            Some(0) => return Err(DetError::input("--steps must be at least 1")),
            Some(n) if n > MAX_STEPS => {
                return Err(DetError::input(format!(
                    "--steps {n} is more than the limit of {MAX_STEPS}"
                )))
            }
            Some(n) => n,
            None => DEFAULT_STEPS,
        };
        Ok(OptimParams { steps })
    }
}
