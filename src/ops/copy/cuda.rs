//! The copy on CUDA (`kernels/cuda/copy.cu`): one launch per run between two events. The
//! destination is cleared before every run (outside the events), so each run's read-back
//! is that run's copy.

use super::CopyJob;
use crate::backend::cuda::{CudaBackend, CudaTarget, LaunchConfig, ModuleBuild, ModuleSpec};
use crate::error::OpError;
use crate::ops::RunSet;

/// Kernel source of this family.
pub const SOURCE: &str = "kernels/cuda/copy.cu";

/// Entry point.
pub const ENTRY: &str = "copy_u32x4";

/// The one module and its one entry point.
pub fn modules(_target: &CudaTarget) -> Vec<ModuleBuild> {
    vec![ModuleBuild {
        spec: module_spec(),
        entries: vec![ENTRY.to_string()],
    }]
}

/// The module: no defines, and `--fmad` is irrelevant to a copy.
pub fn module_spec() -> ModuleSpec {
    ModuleSpec {
        path: SOURCE,
        fmad: false,
        defines: Vec::new(),
    }
}

/// Runs the copy `job.runs` times on one GPU.
pub fn run(backend: &CudaBackend, job: &CopyJob) -> Result<RunSet, OpError> {
    copies(backend, job, job.runs, true)
}

/// Times of `runs` copies, without reading the destination back: for benchmarks, where
/// reading back every copy would cost far more host time than the copies themselves.
pub fn times(backend: &CudaBackend, job: &CopyJob, runs: usize) -> Result<Vec<f64>, OpError> {
    Ok(copies(backend, job, runs, false)?.times_ms)
}

fn copies(
    backend: &CudaBackend,
    job: &CopyJob,
    runs: usize,
    read_back: bool,
) -> Result<RunSet, OpError> {
    let dev = backend.device();
    let module = crate::ops::common::cuda_declared(modules(&dev.target()), &module_spec())?;
    let f = dev.function(&module, ENTRY)?;
    let words = job.words() as u64;
    let src = dev.upload(&job.padded_bytes())?;
    let mut dst = dev.zeros(words as usize * super::WORD_BYTES)?;
    let cfg = LaunchConfig {
        grid_dim: (job.launch.workgroups, 1, 1),
        block_dim: (job.launch.workgroup_size, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut set = RunSet {
        timer: dev.timer().into(),
        message: "16-byte vector loads and stores".into(),
        ..Default::default()
    };
    for _ in 0..runs {
        dev.zero(&mut dst)?;
        let ms = dev.timed(|s| {
            let mut b = s.launch_builder(&f);
            b.arg(&src).arg(&mut dst).arg(&words);
            // SAFETY: `copy_u32x4(const DbU32x4* src, DbU32x4* dst, u64 words)`: src and dst
            // were allocated with `words * 16` bytes (cuMemAlloc aligns them to 256 bytes,
            // more than the 16 the vector accesses need), and the kernel touches only
            // indices below `words`; src and dst are distinct allocations (__restrict__).
            unsafe { b.launch(cfg) }?;
            Ok(())
        })?;
        set.times_ms.push(ms);
        if read_back {
            set.outputs.push(job.decode(&dev.read(&dst)?));
        }
    }
    Ok(set)
}
