//! The convolution family on the CPU: library functions on host slices, and the CPU
//! backend's execution of every variant.
//!
//! Ordered variants (`direct`, `tiled`, `deterministic`) compute each output element with
//! the exact step sequence of the GPU kernels (see [`super`]), so their bits are the GPU's.
//! `atomic` really is atomic: several threads add chunk partials into shared words with
//! compare-exchange, in whatever order they get there.

use super::{ConvJob, ConvShape, ConvVariant, Order};
use crate::backend::{cpu::CpuBackend, RunSet};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::Op;
use std::sync::atomic::AtomicU64;

pub use crate::shared::gemm::{round_half, GemmArith as ConvArith};

/// Calls `f(a, b)` for every non-padding term of output element `idx` of `op`, in the
/// order `order` (for bwd_weight the (n, p, q) indices in `range`, increasing).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn for_each_term_in(
    op: Op,
    s: &ConvShape,
    a: &[f64],
    b: &[f64],
    idx: usize,
    order: Order,
    range: std::ops::Range<usize>,
    mut f: impl FnMut(f64, f64),
) {
    match op {
        Op::Conv2dBwdWeight => {
            // dw[k,c,r,s] = sum over (n,p,q) of dy[n,k,p,q] * x[n,c,h,w].
            let (k, rest) = (idx / (s.c * s.r * s.s), idx % (s.c * s.r * s.s));
            let (c, rs) = (rest / (s.r * s.s), rest % (s.r * s.s));
            let (r, ss) = (rs / s.s, rs % s.s);
            let pq = s.p * s.q;
            for t in range {
                let (n, pq_i) = (t / pq, t % pq);
                let (p, q) = (pq_i / s.q, pq_i % s.q);
                if let (Some(h), Some(w)) = (s.in_row(p, r), s.in_col(q, ss)) {
                    f(
                        a[((n * s.k + k) * s.p + p) * s.q + q],
                        b[((n * s.c + c) * s.h + h) * s.w + w],
                    );
                }
            }
        }
        Op::Conv2dBwdData => {
            // dx[n,c,h,w] = sum over (k,r,s) of dy[n,k,p,q] * w[k,c,r,s].
            let (n, rest) = (idx / (s.c * s.h * s.w), idx % (s.c * s.h * s.w));
            let (c, hw) = (rest / (s.h * s.w), rest % (s.h * s.w));
            let (h, w) = (hw / s.w, hw % s.w);
            let tap = |k: usize, r: usize, ss: usize| {
                if let (Some(p), Some(q)) = (s.out_row(h, r), s.out_col(w, ss)) {
                    f(
                        a[((n * s.k + k) * s.p + p) * s.q + q],
                        b[((k * s.c + c) * s.r + r) * s.s + ss],
                    );
                }
            };
            visit_taps(order, s.k, s.r, s.s, tap);
        }
        _ => {
            // y[n,k,p,q] = sum over (c,r,s) of x[n,c,h,w] * w[k,c,r,s].
            let (n, rest) = (idx / (s.k * s.p * s.q), idx % (s.k * s.p * s.q));
            let (k, pq) = (rest / (s.p * s.q), rest % (s.p * s.q));
            let (p, q) = (pq / s.q, pq % s.q);
            let tap = |c: usize, r: usize, ss: usize| {
                if let (Some(h), Some(w)) = (s.in_row(p, r), s.in_col(q, ss)) {
                    f(
                        a[((n * s.c + c) * s.h + h) * s.w + w],
                        b[((k * s.c + c) * s.r + r) * s.s + ss],
                    );
                }
            };
            visit_taps(order, s.c, s.r, s.s, tap);
        }
    }
}

/// [`for_each_term_in`] over the whole reduction.
#[inline]
pub fn for_each_term(
    op: Op,
    s: &ConvShape,
    a: &[f64],
    b: &[f64],
    idx: usize,
    order: Order,
    f: impl FnMut(f64, f64),
) {
    for_each_term_in(op, s, a, b, idx, order, 0..s.n * s.p * s.q, f)
}

/// One output element in `order`, before the store rounding.
fn element(
    op: Op,
    s: &ConvShape,
    a: &[f64],
    b: &[f64],
    idx: usize,
    ar: ConvArith,
    order: Order,
) -> f64 {
    match order {
        Order::Chunked { chunk } if op == Op::Conv2dBwdWeight => {
            let npq = s.n * s.p * s.q;
            let mut total = 0.0;
            let mut start = 0;
            while start < npq {
                let mut part = 0.0;
                for_each_term_in(
                    op,
                    s,
                    a,
                    b,
                    idx,
                    order,
                    start..(start + chunk).min(npq),
                    |x, y| part = ar.step(part, x, y),
                );
                total = ar.add(total, part);
                start += chunk;
            }
            total
        }
        _ => {
            let mut acc = 0.0;
            for_each_term(op, s, a, b, idx, order, |x, y| acc = ar.step(acc, x, y));
            acc
        }
    }
}

/// Every output element of `op` in a fixed order, stored in `out`, on `threads` threads
/// (each element is computed by one thread, so the thread count does not change any bit).
#[allow(clippy::too_many_arguments)]
pub fn compute(
    op: Op,
    s: &ConvShape,
    a: &[f64],
    b: &[f64],
    acc: Precision,
    out: Precision,
    order: Order,
    threads: usize,
) -> Vec<f64> {
    let ar = ConvArith { acc, out };
    let len = s.out_len(op);
    let mut res = vec![0.0; len];
    let per = len.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|sc| {
        for (t, chunk) in res.chunks_mut(per).enumerate() {
            sc.spawn(move || {
                for (i, v) in chunk.iter_mut().enumerate() {
                    *v = ar.store(element(op, s, a, b, t * per + i, ar, order));
                }
            });
        }
    });
    res
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// y = conv(x, w) on the host, in `order`, accumulated in `acc`, stored in `out`.
pub fn fwd(
    s: &ConvShape,
    x: &[f64],
    w: &[f64],
    acc: Precision,
    out: Precision,
    order: Order,
) -> Vec<f64> {
    compute(Op::Conv2dFwd, s, x, w, acc, out, order, threads())
}

/// dx = conv_transpose(dy, w) on the host.
pub fn bwd_data(
    s: &ConvShape,
    dy: &[f64],
    w: &[f64],
    acc: Precision,
    out: Precision,
    order: Order,
) -> Vec<f64> {
    compute(Op::Conv2dBwdData, s, dy, w, acc, out, order, threads())
}

/// dw = the correlation of dy with x on the host; `Order::Chunked` is the deterministic
/// variant's split.
pub fn bwd_weight(
    s: &ConvShape,
    dy: &[f64],
    x: &[f64],
    acc: Precision,
    out: Precision,
    order: Order,
) -> Vec<f64> {
    compute(Op::Conv2dBwdWeight, s, dy, x, acc, out, order, threads())
}

/// Adds `v` to the accumulator value held (as f64 bits) in `cell`.
fn cas_add(cell: &AtomicU64, ar: ConvArith, v: f64) {
    crate::shared::arith::cas_update(cell, |c| ar.add(c, v));
}

/// bwd_weight `atomic`: `threads` threads take chunks round-robin and add each chunk's
/// partials into shared words as they finish.
fn atomic_bwd_weight(job: &ConvJob, threads: usize) -> Vec<f64> {
    let s = &job.shape;
    let ar = ConvArith {
        acc: job.accumulator,
        out: job.precision,
    };
    let len = s.w_len();
    let cells: Vec<AtomicU64> = (0..len).map(|_| AtomicU64::new(0f64.to_bits())).collect();
    let npq = s.n * s.p * s.q;
    let chunks = job.chunks();
    std::thread::scope(|sc| {
        for t in 0..threads {
            let cells = &cells;
            sc.spawn(move || {
                let mut j = t;
                while j < chunks {
                    let range = j * job.chunk..((j + 1) * job.chunk).min(npq);
                    for (e, cell) in cells.iter().enumerate() {
                        let mut part = 0.0;
                        for_each_term_in(
                            job.op,
                            s,
                            &job.a,
                            &job.b,
                            e,
                            job.order(),
                            range.clone(),
                            |x, y| part = ar.step(part, x, y),
                        );
                        cas_add(cell, ar, part);
                    }
                    j += threads;
                }
            });
        }
    });
    cells
        .into_iter()
        .map(|c| ar.store(f64::from_bits(c.into_inner())))
        .collect()
}

/// Runs the job `job.runs` times on the host, timed.
pub fn run(b: &CpuBackend, job: &ConvJob) -> Result<RunSet, OpError> {
    b.time_runs(job.runs, || {
        run_once(job, b.threads()).map(|v| (v, String::new()))
    })
}

/// Runs a conv job once on the CPU.
pub fn run_once(job: &ConvJob, threads: usize) -> Result<Vec<f64>, OpError> {
    super::check_job(job)?;
    match job.variant {
        ConvVariant::TensorCore => Err(OpError::Unsupported(
            "tensor_core needs a GPU with tensor cores (mma.sync); the CPU has none".into(),
        )),
        ConvVariant::Atomic => Ok(atomic_bwd_weight(job, threads.max(2))),
        _ => Ok(compute(
            job.op,
            &job.shape,
            &job.a,
            &job.b,
            job.accumulator,
            job.precision,
            job.order(),
            threads,
        )),
    }
}

/// Visits every (channel, r, s) tap of one output element in the variant's fixed order:
/// `direct` loops channel, r, s; `tiled` (the implicit GEMM's k loop) loops r, s, channel.
fn visit_taps(
    order: Order,
    channels: usize,
    rs: usize,
    ss: usize,
    mut tap: impl FnMut(usize, usize, usize),
) {
    if order == Order::Tiled {
        for r in 0..rs {
            for s in 0..ss {
                for ch in 0..channels {
                    tap(ch, r, s);
                }
            }
        }
    } else {
        for ch in 0..channels {
            for r in 0..rs {
                for s in 0..ss {
                    tap(ch, r, s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three ops are adjoint: <conv(x, w), dy> = <x, bwd_data(dy, w)> = <w, bwd_weight(dy, x)>,
    /// checked in f64 on small integers (every sum exact).
    #[test]
    fn ops_are_adjoint() {
        for raw in [
            [2, 3, 7, 6, 2, 3, 2, 2, 1, 1],
            [1, 2, 9, 9, 3, 3, 3, 1, 2, 2],
            [1, 1, 4, 4, 1, 6, 6, 1, 1, 1],
        ] {
            let s = ConvShape::new(&raw).unwrap();
            let ints = |n: usize, m: usize| -> Vec<f64> {
                (0..n).map(|i| ((i * m + 3) % 7) as f64 - 3.0).collect()
            };
            let x = ints(s.x_len(), 5);
            let w = ints(s.w_len(), 3);
            let dy = ints(s.y_len(), 2);
            let f64p = Precision::F64;
            let y = fwd(&s, &x, &w, f64p, f64p, Order::Direct);
            let y2 = fwd(&s, &x, &w, f64p, f64p, Order::Tiled);
            assert_eq!(y, y2);
            let dx = bwd_data(&s, &dy, &w, f64p, f64p, Order::Tiled);
            let dw = bwd_weight(&s, &dy, &x, f64p, f64p, Order::Chunked { chunk: 16 });
            let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
            assert_eq!(dot(&y, &dy), dot(&x, &dx), "{raw:?}");
            assert_eq!(dot(&y, &dy), dot(&w, &dw), "{raw:?}");
        }
    }
}
