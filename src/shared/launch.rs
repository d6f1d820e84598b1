//! The one-dimensional grid of the two-pass kernels (reduction, scatter): one thread per
//! element up to a capped number of workgroups; larger inputs loop per thread.

use serde::{Deserialize, Serialize};

/// Launch configuration recorded in every result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Launch {
    /// Threads per workgroup (CUDA block).
    pub workgroup_size: u32,
    /// Workgroups (CUDA blocks) in the main pass.
    pub workgroups: u32,
}

/// Largest pass-1 grid. Large inputs are covered by the per-thread loop.
pub const MAX_WORKGROUPS: u32 = 1024;

/// Pass-1 grid for n elements.
pub fn launch_for(n: usize, workgroup_size: u32) -> Launch {
    let groups = (n as u64)
        .div_ceil(workgroup_size as u64)
        .clamp(1, MAX_WORKGROUPS as u64) as u32;
    Launch {
        workgroup_size,
        workgroups: groups,
    }
}
