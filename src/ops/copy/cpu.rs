//! The copy on the CPU: the input's bytes copied with `copy_from_slice` (the platform's
//! memcpy), split over the backend's threads for large buffers, since one core cannot
//! saturate a modern memory system. Only the copy is timed; clearing the destination
//! before each run (so a run that copied nothing cannot pass) and decoding it after are not.

use super::CopyJob;
use crate::backend::cpu::CpuBackend;
use crate::error::OpError;
use crate::ops::RunSet;
use std::time::Instant;

/// Below this many bytes one thread copies: starting threads would cost more than it saves.
pub const PARALLEL_BYTES: usize = 4 << 20;

/// Copies `src` into `dst` (same length) with up to `threads` threads.
pub fn parallel_copy(dst: &mut [u8], src: &[u8], threads: usize) {
    if threads <= 1 || src.len() < PARALLEL_BYTES {
        dst.copy_from_slice(src);
        return;
    }
    // Chunks of whole cache lines, so no two threads write the same line.
    let chunk = src.len().div_ceil(threads).next_multiple_of(64);
    std::thread::scope(|s| {
        for (d, c) in dst.chunks_mut(chunk).zip(src.chunks(chunk)) {
            s.spawn(move || d.copy_from_slice(c));
        }
    });
}

/// Runs the copy `job.runs` times on the host. Times only the memcpy, not the decoding of
/// each copy.
pub fn run(b: &CpuBackend, job: &CopyJob) -> Result<RunSet, OpError> {
    Ok(copies(job, b.threads(), job.runs, true))
}

/// Times of `runs` copies, without decoding the destination: for benchmarks.
pub fn times(job: &CopyJob, threads: usize, runs: usize) -> Vec<f64> {
    copies(job, threads, runs, false).times_ms
}

fn copies(job: &CopyJob, threads: usize, runs: usize, read_back: bool) -> RunSet {
    let src = job.precision.encode(&job.x);
    let mut dst = vec![0u8; src.len()];
    let mut set = RunSet {
        timer: "host".into(),
        message: format!("memcpy on {} threads", threads.max(1)),
        ..Default::default()
    };
    if src.len() < PARALLEL_BYTES {
        set.message = "memcpy on 1 thread".into();
    }
    for _ in 0..runs {
        if crate::interrupt::interrupted() {
            // The runner drops a case stopped by Ctrl-C.
            break;
        }
        // Also touches every page, so no run pays first-touch page faults.
        dst.fill(0);
        // Keeps the compiler from dropping the clear as a dead store before the copy.
        std::hint::black_box(&mut dst);
        let start = Instant::now();
        parallel_copy(&mut dst, &src, threads);
        set.times_ms.push(start.elapsed().as_secs_f64() * 1e3);
        if read_back {
            set.outputs.push(job.decode(&dst));
        }
    }
    set
}
