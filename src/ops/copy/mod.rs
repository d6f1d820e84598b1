//! The `copy` family: a plain device copy of the input buffer, the bandwidth baseline.
//!
//! A copy does no arithmetic, so its result must be bit-exact: the exact reference is the
//! input itself and the a-priori bound is 0. What it is for is its speed: a report divides
//! every other result's GB/s by the device's copy GB/s (see `report::inputs::Inputs::
//! copy_gbps`), so the throughput of a reduction or a scatter reads as a fraction of what
//! the memory system can do at all. GB/s counts the bytes read plus the bytes written
//! (2 x n x element size), the convention in which "a plain copy kernel reaches 2810 GB/s
//! on an H100".
//!
//! The GPU kernels move 16-byte words (`vec4<u32>` in WGSL, an aligned 4 x u32 struct in
//! CUDA), the widest load and store both APIs have; the buffers are padded with zeros to a
//! whole number of words, and only the first n elements are read back. The launch is a
//! grid-stride loop over the words, so any size fits in one dispatch.

pub mod cpu;
pub mod cuda;
mod family;
pub use family::FAMILY;
pub mod wgpu;

use super::{Case, Job, Launch, Prepared};
use crate::error::DetError;
use crate::inputs;
use crate::numerics::{Precision, Values};

/// Variant names, in report order: one, the copy.
pub const VARIANTS: &[&str] = &["copy"];

/// Bytes each GPU thread moves per step: one 16-byte vector load and store.
pub const WORD_BYTES: usize = 16;

/// Largest grid: WebGPU's guaranteed `max_compute_workgroups_per_dimension`. Larger
/// buffers are covered by the grid-stride loop.
pub const MAX_WORKGROUPS: u32 = 65535;

/// Workgroup size of the copy `detbench run` adds as a baseline.
pub const BASELINE_WORKGROUP_SIZE: u32 = 256;

/// Most runs of the copy `detbench run` adds as a baseline: a copy's time barely varies,
/// while reading back and checking each run's n elements is what costs at large sizes.
pub const BASELINE_RUNS: usize = 5;

/// A copy job.
#[derive(Clone, Debug)]
pub struct CopyJob {
    /// Element format of the buffer (only its width matters to a copy).
    pub precision: Precision,
    /// The elements, exactly representable in `precision`; shared with the prepared case's
    /// exact values, which are the same elements.
    pub x: std::sync::Arc<Vec<f64>>,
    pub launch: Launch,
    pub runs: usize,
}

impl CopyJob {
    pub fn n(&self) -> usize {
        self.x.len()
    }

    /// Bytes of the n elements.
    pub fn bytes(&self) -> usize {
        self.n() * self.precision.bytes()
    }

    /// 16-byte words the GPU kernels copy (the buffer padded to whole words).
    pub fn words(&self) -> usize {
        self.bytes().div_ceil(WORD_BYTES).max(1)
    }

    /// The input's bytes padded with zeros to [`CopyJob::words`] words: what the GPU
    /// backends upload.
    pub fn padded_bytes(&self) -> Vec<u8> {
        let mut b = self.precision.encode(&self.x);
        b.resize(self.words() * WORD_BYTES, 0);
        b
    }

    /// The elements of a buffer read back (padding ignored).
    pub fn decode(&self, bytes: &[u8]) -> Vec<f64> {
        self.precision.decode(&bytes[..self.bytes()])
    }
}

/// Grid for `words` 16-byte words: one word per thread up to [`MAX_WORKGROUPS`] groups.
pub fn launch_for(words: usize, workgroup_size: u32) -> Launch {
    let groups = (words as u64)
        .div_ceil(workgroup_size as u64)
        .clamp(1, MAX_WORKGROUPS as u64) as u32;
    Launch {
        workgroup_size,
        workgroups: groups,
    }
}

/// Builds the job, reference (the input) and bound (0) of one copy case.
pub fn prepare(case: &Case) -> Result<Prepared, DetError> {
    if case.variant != "copy" {
        return Err(DetError::input(format!(
            "unknown copy variant '{}' (expected {})",
            case.variant,
            VARIANTS.join(", ")
        )));
    }
    if case.size == 0 {
        return Err(DetError::input("size must be at least 1"));
    }
    let x = inputs::generate(&case.input, case.precision, case.size, case.seed, 0)?;
    let n = x.len();
    let p = case.precision;
    let words = (n * p.bytes()).div_ceil(WORD_BYTES).max(1);
    let x = std::sync::Arc::new(x);
    let job = CopyJob {
        precision: p,
        x: x.clone(),
        launch: launch_for(words, case.workgroup_size),
        runs: case.runs,
    };
    Ok(Prepared {
        phases: Vec::new(),
        job: Job::Copy(job),
        input_sha256: inputs::checksum(p, &x),
        dumps: vec![(
            "x".to_string(),
            p,
            std::sync::Arc::new(Values::copy_of(p, &x)),
        )],
        exact: x,
        exact_out: Vec::new().into(),
        exact_rest: Vec::new().into(),
        // A copy must reproduce every bit: any difference is a bound violation.
        bounds: vec![Some(0.0)].into(),
        condition_number: None,
        // Read once and written once.
        bytes_moved: 2.0 * n as f64 * p.bytes() as f64,
        out_precision: p,
        scalar: false,
        note: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_whole_words() {
        let job = CopyJob {
            precision: Precision::F16,
            x: vec![1.0, 2.0, 3.0].into(),
            launch: launch_for(1, 64),
            runs: 1,
        };
        assert_eq!(job.bytes(), 6);
        assert_eq!(job.words(), 1);
        let b = job.padded_bytes();
        assert_eq!(b.len(), 16);
        assert_eq!(job.decode(&b), *job.x);
    }

    #[test]
    fn grid_is_capped() {
        assert_eq!(launch_for(1 << 26, 256).workgroups, MAX_WORKGROUPS);
        assert_eq!(launch_for(1000, 256).workgroups, 4);
        assert_eq!(launch_for(0, 256).workgroups, 1);
    }
}
