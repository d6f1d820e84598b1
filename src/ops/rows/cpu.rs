//! The row reductions on the CPU, in the kernels' order: `row_sum` and `mean` give the
//! GPU's bits; `log_softmax` uses libm's exp and log, which a GPU's need not match (see
//! [`super`]).

use super::{RowSplit, RowsJob};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::Op;
use crate::shared::gemm::GemmArith as ConvArith;

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

/// One run of a job.
pub fn run_once(job: &RowsJob) -> Result<Vec<f64>, OpError> {
    super::check_job(job)?;
    let acc = job.accumulator;
    let ar = ConvArith {
        acc,
        out: job.precision,
    };
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
