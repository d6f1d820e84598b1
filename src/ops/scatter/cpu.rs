//! CPU execution of every scatter-add variant.
//!
//! The ordered variants (sort_segmented, fixed_point, reproducible) compute exactly what
//! the GPU kernels compute, so a GPU's bits can be compared with them. atomic_cas and
//! privatized really run on several threads that update shared bins with compare-exchange,
//! so their order changes from run to run like a GPU's.

use super::{stable_order, ScatterJob, ScatterVariant};
use crate::backend::{cpu::CpuBackend, RunSet};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::shared::arith::{cas_add, no_float_atomic, Arith};
use crate::shared::fixed::{fixed_message, fixed_quantize, fixed_to_value};
use std::sync::atomic::AtomicU64;

/// Runs the job `job.runs` times on the host, timed.
pub fn run(b: &CpuBackend, job: &ScatterJob) -> Result<RunSet, OpError> {
    b.time_runs(job.runs, || run_once(job, b.threads()))
}

/// Runs the job once; returns the value of every bin and a message.
pub fn run_once(job: &ScatterJob, threads: usize) -> Result<(Vec<f64>, String), OpError> {
    super::check_job(job)?;
    let ar = Arith(job.accumulator);
    Ok(match job.variant {
        ScatterVariant::Atomic => return Err(no_float_atomic()),
        ScatterVariant::AtomicCas => (atomic_cas(job, ar, threads), String::new()),
        ScatterVariant::Privatized => (
            privatized(job, ar, threads),
            format!("{threads} threads, each with private bins, merged with compare-exchange"),
        ),
        ScatterVariant::SortSegmented => (sort_segmented(job), String::new()),
        ScatterVariant::FixedPoint => {
            let (v, lost) = fixed_point(job);
            (v, fixed_message(lost, job.n(), job.fixed_scale))
        }
        ScatterVariant::Reproducible => (reproducible(job), String::new()),
    })
}

fn new_cells(bins: usize) -> Vec<AtomicU64> {
    (0..bins).map(|_| AtomicU64::new(0f64.to_bits())).collect()
}

fn cells_out(cells: Vec<AtomicU64>) -> Vec<f64> {
    cells
        .into_iter()
        .map(|c| f64::from_bits(c.into_inner()))
        .collect()
}

/// Every element added into its bin by `threads` interleaved threads.
fn atomic_cas(job: &ScatterJob, ar: Arith, threads: usize) -> Vec<f64> {
    let cells = new_cells(job.bins);
    std::thread::scope(|s| {
        for t in 0..threads {
            let cells = &cells;
            s.spawn(move || {
                let mut i = t;
                while i < job.n() {
                    cas_add(&cells[job.idx[i] as usize], ar, job.x[i]);
                    i += threads;
                }
            });
        }
    });
    cells_out(cells)
}

/// Each thread sums its elements into private bins, then adds its non-empty bins into the
/// shared bins; the threads finish in whatever order the scheduler gives.
fn privatized(job: &ScatterJob, ar: Arith, threads: usize) -> Vec<f64> {
    let cells = new_cells(job.bins);
    std::thread::scope(|s| {
        for t in 0..threads {
            let cells = &cells;
            s.spawn(move || {
                let mut private = vec![0.0f64; job.bins];
                let mut touched = vec![false; job.bins];
                let mut i = t;
                while i < job.n() {
                    let b = job.idx[i] as usize;
                    private[b] = ar.add(private[b], job.x[i]);
                    touched[b] = true;
                    i += threads;
                }
                for b in 0..job.bins {
                    if touched[b] {
                        cas_add(&cells[b], ar, private[b]);
                    }
                }
            });
        }
    });
    cells_out(cells)
}

/// The segmented reduction of [`super`] over the stable order, chunk by chunk, exactly as
/// the GPU's two passes compute it.
pub fn sort_segmented(job: &ScatterJob) -> Vec<f64> {
    let ar = Arith(job.accumulator);
    let (perm, offsets) = stable_order(&job.idx, job.bins);
    let c = job.chunk;
    (0..job.bins)
        .map(|b| {
            let (s, e) = (offsets[b], offsets[b + 1]);
            if s == e {
                return 0.0;
            }
            // Piece sums: runs cut at multiples of the chunk, each summed from 0.
            let piece = |lo: usize, hi: usize| {
                perm[lo..hi]
                    .iter()
                    .fold(0.0, |a, &i| ar.add(a, job.x[i as usize]))
            };
            let first_end = e.min((s / c + 1) * c);
            let mut acc = piece(s, first_end);
            let mut lo = first_end;
            while lo < e {
                let hi = e.min(lo + c);
                acc = ar.add(acc, piece(lo, hi));
                lo = hi;
            }
            acc
        })
        .collect()
}

fn fixed_point(job: &ScatterJob) -> (Vec<f64>, u64) {
    let mut totals = vec![0i64; job.bins];
    let mut lost = 0u64;
    for (&v, &b) in job.x.iter().zip(&job.idx) {
        let (q, l) = fixed_quantize(job.accumulator.round(v), job.fixed_scale);
        totals[b as usize] = totals[b as usize].wrapping_add(q);
        lost += l as u64;
    }
    let out = totals
        .into_iter()
        .map(|t| fixed_to_value(t, job.fixed_scale, job.accumulator))
        .collect();
    (out, lost)
}

/// Binned state of every bin in the bin's own layout, deposited in the stable order (any
/// order gives the same state: every deposit and renormalisation is exact).
fn reproducible(job: &ScatterJob) -> Vec<f64> {
    let terms = job.terms();
    let (perm, offsets) = stable_order(&job.idx, job.bins);
    job.repro_bins
        .iter()
        .enumerate()
        .map(|(b, p)| {
            let vals: Vec<f64> = perm[offsets[b]..offsets[b + 1]]
                .iter()
                .map(|&i| terms[i as usize])
                .collect();
            crate::numerics::repro::repro_sum(p, &vals)
        })
        .collect()
}

/// Values of the bins read back from a device's value words: f64 words for an f64
/// accumulator, f32 words otherwise (f16 and bf16 values are carried as equal f32s).
pub fn decode_words(acc: Precision, bytes: &[u8], bins: usize) -> Vec<f64> {
    let f = if acc == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    };
    let mut v = f.decode(bytes);
    v.truncate(bins);
    v
}
