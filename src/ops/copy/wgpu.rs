//! The copy on wgpu: `kernels/wgsl/copy.wgsl`, one dispatch per run, device-timed with
//! timestamp queries where the adapter has them. The destination is cleared before every
//! run (outside the timed pass), so each run's read-back is that run's copy.

use super::CopyJob;
use crate::backend::wgpu::{Pass, WgpuBackend};
use crate::error::OpError;
use crate::ops::wgsl::specialise_family;
use crate::ops::RunSet;

/// The template, embedded once in [`crate::kernels::wgsl`] and hashed from there; modules are
/// [`crate::kernels::WGSL_PRELUDE`] and this, specialised together.
pub const TEMPLATE: &str = crate::kernels::wgsl::COPY;

/// Entry point of the template.
pub const ENTRY: &str = "copy_vec4u32";

/// The uniform of `copy_vec4u32`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    words: u32,
    threads: u32,
    _pad: [u32; 2],
}

/// The specialised WGSL of one job.
pub fn module_source(job: &CopyJob) -> Result<String, OpError> {
    let header = format!(
        "// specialised by detbench: copy\nconst WG: u32 = {}u;\n",
        job.launch.workgroup_size
    );
    specialise_family(&header, &["copy"], &[])
}

/// Runs the copy `job.runs` times on one adapter.
pub fn run(b: &WgpuBackend, job: &CopyJob) -> Result<RunSet, OpError> {
    copies(b, job, job.runs, true)
}

/// Times of `runs` copies, without reading the destination back: for benchmarks, where
/// reading back every copy would cost far more host time than the copies themselves.
pub fn times(b: &WgpuBackend, job: &CopyJob, runs: usize) -> Result<Vec<f64>, OpError> {
    Ok(copies(b, job, runs, false)?.times_ms)
}

fn copies(b: &WgpuBackend, job: &CopyJob, runs: usize, read_back: bool) -> Result<RunSet, OpError> {
    let threads = job.launch.workgroups as u64 * job.launch.workgroup_size as u64;
    let words = job.words() as u64;
    // The kernel indexes words with u32 and steps by `threads`: keep i + threads in range.
    if words + threads > u32::MAX as u64 {
        return Err(OpError::BadInput(format!(
            "size {} ({} bytes) is too large for one wgpu copy (at most {} bytes)",
            job.n(),
            job.bytes(),
            (u32::MAX as u64 - threads) * super::WORD_BYTES as u64
        )));
    }
    let p = b.pipeline(&module_source(job)?, ENTRY)?;
    let prm = b.uniform(
        "params",
        &Params {
            words: words as u32,
            threads: threads as u32,
            _pad: [0; 2],
        },
    )?;
    let src = b.storage_from_bytes("src", &job.padded_bytes())?;
    let dst = b.storage_zeroed("dst", words * super::WORD_BYTES as u64)?;
    let bg = b.bind_group(&p, &[(0, &prm), (1, &src), (2, &dst)])?;
    let mut set = RunSet {
        timer: b.timer().into(),
        message: "16-byte vec4<u32> words".into(),
        ..Default::default()
    };
    let reads: &[&wgpu::Buffer] = if read_back { &[&dst] } else { &[] };
    for _ in 0..runs {
        let r = b.execute(
            &[&dst],
            &[Pass::new(&p, &bg, [job.launch.workgroups, 1, 1])],
            reads,
        )?;
        if read_back {
            set.outputs.push(job.decode(&r.outputs[0]));
        }
        set.times_ms.push(r.ms);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_wgsl_struct() {
        crate::assert_wgsl_layout!(Params, TEMPLATE, "Params", [words, threads]);
    }
}
