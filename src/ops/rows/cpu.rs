//! The row reductions on the CPU, in the kernels' order: `row_sum` and `mean` give the
//! GPU's bits; `log_softmax` uses libm's exp and log, which a GPU's need not match (see
//! [`super`]); the cuda-emu device uses these same functions (src/backend/cuda/emu.rs). `atomic` really is atomic: threads add the chunks' partials into the row's
//! cell by compare-exchange, so the order changes run to run.

use super::{RowSplit, RowsJob};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::Op;
use crate::shared::gemm::GemmArith as ConvArith;
use std::sync::atomic::AtomicU64;

/// exp in the accumulator format (f32 or f64).
fn exp_acc(acc: Precision, t: f64) -> f64 {
    if acc == Precision::F64 {
        libm::exp(t)
    } else {
        libm::expf(t as f32) as f64
    }
}

fn log_acc(acc: Precision, s: f64) -> f64 {
    if acc == Precision::F64 {
        libm::log(s)
    } else {
        libm::logf(s as f32) as f64
    }
}

/// The chunked sum of `f(x_j)` over one row: each chunk a chain from +0, the partials
/// added in chunk order from +0.
fn chunked(row: &[f64], split: RowSplit, ar: ConvArith, f: impl Fn(f64) -> f64) -> f64 {
    let mut total = 0.0;
    for c in row.chunks(split.chunk) {
        let mut part = 0.0;
        for &v in c {
            part = ar.add(part, f(v));
        }
        total = if split.splits > 1 {
            ar.add(total, part)
        } else {
            part
        };
    }
    total
}

/// `atomic`: `threads` threads take the (row, chunk) pairs round-robin and add each chunk's
/// chain into the row's cell (zeroed) by compare-exchange; returns the cells.
fn atomic_sums(job: &RowsJob, ar: ConvArith, threads: usize) -> Vec<f64> {
    let cells: Vec<AtomicU64> = (0..job.rows)
        .map(|_| AtomicU64::new(0f64.to_bits()))
        .collect();
    let (splits, chunk, n) = (job.split.splits, job.split.chunk, job.len);
    std::thread::scope(|s| {
        for t in 0..threads {
            let cells = &cells;
            s.spawn(move || {
                let mut i = t;
                while i < job.rows * splits {
                    let (r, c) = (i / splits, i % splits);
                    let beg = r * n + c * chunk;
                    let end = r * n + ((c + 1) * chunk).min(n);
                    let mut part = 0.0;
                    for &v in &job.x[beg..end] {
                        part = ar.add(part, v);
                    }
                    crate::shared::arith::cas_update(&cells[r], |w| ar.add(w, part));
                    i += threads;
                }
            });
        }
    });
    cells
        .into_iter()
        .map(|c| f64::from_bits(c.into_inner()))
        .collect()
}

/// One run of a job (`atomic` with two threads).
pub fn run_once(job: &RowsJob) -> Result<Vec<f64>, OpError> {
    run_threads(job, 2)
}

/// One run of a job, `atomic` with `threads` threads (at least 2).
pub fn run_threads(job: &RowsJob, threads: usize) -> Result<Vec<f64>, OpError> {
    super::check_job(job)?;
    let acc = job.accumulator;
    let ar = ConvArith {
        acc,
        out: job.precision,
    };
    if job.variant == super::RowsVariant::Atomic {
        let sums = atomic_sums(job, ar, threads.max(2));
        return Ok(sums
            .into_iter()
            .map(|s| match job.op {
                Op::Mean => ar.store(acc.round(s * job.inv_len())),
                _ => ar.store(s),
            })
            .collect());
    }
    let mut out = Vec::with_capacity(job.out_len());
    for row in job.x.chunks(job.len) {
        match job.op {
            Op::RowSum => out.push(ar.store(chunked(row, job.split, ar, |v| v))),
            Op::Mean => {
                let s = chunked(row, job.split, ar, |v| v);
                out.push(ar.store(acc.round(s * job.inv_len())));
            }
            _ => {
                let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let t = |v: f64| acc.round(v - m);
                let s = chunked(row, job.split, ar, |v| exp_acc(acc, t(v)));
                let l = log_acc(acc, s);
                out.extend(row.iter().map(|&v| ar.store(acc.round(t(v) - l))));
            }
        }
    }
    Ok(out)
}
