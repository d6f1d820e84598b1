//! The matmul family on the CPU. Ordered variants (`tiled`, `split_k_deterministic`,
//! `batch_invariant`) compute every element with the step sequence of the GPU kernels, so
//! their bits are the GPU's. `split_k_atomic` really is atomic: threads add split partials
//! into shared words with compare-exchange, in whatever order they get there. `addmm`'s
//! bias is added to each element's reduced value with one accumulator add, before the store
//! (the position [`super`] documents).

use super::{MatmulJob, MmShape, MmVariant, Split};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::shared::gemm::GemmArith as ConvArith;
use std::sync::atomic::AtomicU64;

/// The partial of output (row, col) over k in `range`, one sequential chain from +0.
#[inline]
fn partial(
    s: &MmShape,
    a: &[f64],
    b: &[f64],
    row: usize,
    col: usize,
    range: std::ops::Range<usize>,
    ar: ConvArith,
) -> f64 {
    let mut acc = 0.0;
    for kk in range {
        acc = ar.step(acc, a[row * s.k + kk], b[kk * s.n + col]);
    }
    acc
}

/// One element with `split`: the chunk partials added in chunk order from +0, before the
/// store rounding.
#[inline]
fn element(s: &MmShape, a: &[f64], b: &[f64], idx: usize, split: Split, ar: ConvArith) -> f64 {
    let (row, col) = (idx / s.n, idx % s.n);
    if split.splits <= 1 {
        return partial(s, a, b, row, col, 0..s.k, ar);
    }
    let mut total = 0.0;
    for j in 0..split.splits {
        let r = j * split.chunk..((j + 1) * split.chunk).min(s.k);
        total = ar.add(total, partial(s, a, b, row, col, r, ar));
    }
    total
}

/// C = A·B with K split as `split` (one chunk: the `tiled` chain), accumulated in `acc`,
/// stored in `out`, on `threads` threads (each element is computed by one thread, so the
/// thread count does not change any bit).
#[allow(clippy::too_many_arguments)]
pub fn compute(
    s: &MmShape,
    a: &[f64],
    b: &[f64],
    acc: Precision,
    out: Precision,
    split: Split,
    threads: usize,
) -> Vec<f64> {
    compute_addmm(s, a, b, None, acc, out, split, threads)
}

/// [`compute`] plus an optional `addmm` bias `c` (M x N), added to each element after its
/// K reduction with one accumulator add, before the store.
#[allow(clippy::too_many_arguments)]
pub fn compute_addmm(
    s: &MmShape,
    a: &[f64],
    b: &[f64],
    c: Option<&[f64]>,
    acc: Precision,
    out: Precision,
    split: Split,
    threads: usize,
) -> Vec<f64> {
    let ar = ConvArith { acc, out };
    let len = s.out_len();
    let mut res = vec![0.0; len];
    let per = len.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|sc| {
        for (t, chunk) in res.chunks_mut(per).enumerate() {
            sc.spawn(move || {
                for (i, v) in chunk.iter_mut().enumerate() {
                    let e = t * per + i;
                    let mut x = element(s, a, b, e, split, ar);
                    if let Some(c) = c {
                        x = ar.add(x, c[e]);
                    }
                    *v = ar.store(x);
                }
            });
        }
    });
    res
}

/// `split_k_atomic`: `threads` threads take splits round-robin and add each split's
/// partials into shared words as they finish.
fn atomic(job: &MatmulJob, threads: usize) -> Vec<f64> {
    let s = &job.shape;
    let ar = ConvArith {
        acc: job.accumulator,
        out: job.precision,
    };
    let cells: Vec<AtomicU64> = (0..s.out_len())
        .map(|_| AtomicU64::new(0f64.to_bits()))
        .collect();
    let split = job.split;
    std::thread::scope(|sc| {
        for t in 0..threads {
            let cells = &cells;
            sc.spawn(move || {
                let mut j = t;
                while j < split.splits {
                    let range = j * split.chunk..((j + 1) * split.chunk).min(s.k);
                    for (e, cell) in cells.iter().enumerate() {
                        let p = partial(s, &job.a, &job.b, e / s.n, e % s.n, range.clone(), ar);
                        crate::shared::arith::cas_update(cell, |c| ar.add(c, p));
                    }
                    j += threads;
                }
            });
        }
    });
    cells
        .into_iter()
        .enumerate()
        .map(|(e, cell)| {
            let x = f64::from_bits(cell.into_inner());
            ar.store(job.bias.as_ref().map_or(x, |c| ar.add(x, c[e])))
        })
        .collect()
}

/// Runs a matmul job once on the CPU.
pub fn run_once(job: &MatmulJob, threads: usize) -> Result<Vec<f64>, OpError> {
    super::check_job(job)?;
    match job.variant {
        MmVariant::TensorCore => Err(OpError::Unsupported(
            "tensor_core needs a GPU with tensor cores (mma.sync); the CPU has none".into(),
        )),
        MmVariant::SplitKAtomic => Ok(atomic(job, threads.max(2))),
        _ => Ok(compute_addmm(
            &job.shape,
            &job.a,
            &job.b,
            job.bias.as_deref(),
            job.accumulator,
            job.precision,
            job.split,
            threads,
        )),
    }
}
