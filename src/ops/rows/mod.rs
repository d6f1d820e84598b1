//! Batched row reductions over the last axis of a B x N input: `row_sum`, `mean` and
//! `log_softmax`, the other kernels batch-invariant inference replaces (besides matmul).
//!
//! # Variants
//!
//! Each row's reduction is split into S chunks of `chunk` consecutive elements; each chunk
//! is one sequential chain from +0, and the partials are added in chunk order from +0.
//!
//! - `split_by_batch`: S follows B the way a reduction kernel keeps a device busy with few
//!   rows ([`split_for`]): S is the largest power of two no greater than
//!   `min(MAX_SPLIT, TARGET_GROUPS / B, N / MIN_CHUNK)` (at least 1). The batch-variant
//!   baseline: the same row gets another order when B changes.
//! - `batch_invariant`: S from N alone ([`invariant_split`]).
//! - `atomic` (row_sum and mean): the split of `batch_invariant`, each chunk's chain added
//!   into the row's zeroed cell with a float atomic (CUDA's atomicAdd, a compare-exchange
//!   loop on wgpu and for half accumulators, compare-exchange threads on the CPU), so the
//!   partials land in whatever order the hardware gives: nondeterministic. The cell is one
//!   chain from +0 over the S partials in some order, so the bound of the ordered variants
//!   (chunk + S - 1 rounded adds) covers every order. log_softmax refuses it: its sum
//!   feeds a log that every element of the row needs, a second pass over the cells that
//!   adds nothing the row_sum case does not measure.
//!
//! # Arithmetic
//!
//! - `row_sum`: the chains add in the accumulator (rounded after every add; halves through
//!   f32 then rounded, exact as in the conv family); the sum is stored in the input format.
//! - `mean`: the sum times `inv = fl_acc(1/N)` (computed on the host: WGSL's division is
//!   not correctly rounded, its multiplication is), rounded in the accumulator, stored.
//! - `log_softmax`: `m` = the row's maximum (exact), `t_j = fl(x_j - m)`, the chains add
//!   `exp(t_j)`, `l = log(s)`, and `out_j = fl(t_j - l)`, all in the accumulator (f32, or
//!   f64 on the CPU; WGSL has no f64 exp or log). Device exp and log are not correctly
//!   rounded (WGSL allows 3 + 2|x| ulp for exp, 3 ulp or 2^-21 absolute for log), so the
//!   CPU does not emulate a GPU's bits here: the bound ([`lsm_bound`]) covers any
//!   implementation within WGSL's accuracy, and batch invariance is measured per device.
//!
//! # References
//!
//! `row_sum`: the real sum (the oracle); errors are taken against it, not its rounding.
//! `mean`: the real quotient S/N of the exact sum by N ([`mean_split`]: to about 106 bits,
//! the rest bounded; a sum beyond f64's range is scaled by 2^-64 first, so a finite mean
//! is never infinite). `log_softmax`: f64 with libm's exp and log and an exact sum of the
//! f64 exponentials, accurate to a few f64 ulps, which the bound also counts; masked
//! elements ([`is_masked`]) are judged on their own. A fully masked row (every logit
//! -inf) has no softmax (0/0): its exact answer is NaN in every element, the convention of
//! PyTorch and JAX, and only NaN is judged right. Row i is drawn from its own stream,
//! as matmul's rows of A.
//!
//! # Bounds at the range's edges
//!
//! Every bound adds an absolute term where a rounding may land in the subnormal range (the
//! store into the output format, the mean's product) or be flushed to zero by a device
//! that flushes subnormals, and none is given where a partial sum or a stored value could
//! round past the format's largest value: the error model assumes no overflow, so such a
//! row is `unsupported` with the reason in the note.

/// Threads per workgroup of every row kernel (`--workgroup-size` does not apply).
pub const ROW_WORKGROUP: u32 = 64;
pub mod cpu;
pub mod cuda;
mod family;
pub use family::FAMILY;
mod flags;
pub use flags::{RowsFlags, RowsOptions};
pub mod wgpu;

use super::{Case, CaseParams, FamilyParams, Job, Launch, Op, Prepared};
use crate::error::{DetError, OpError};
use crate::inputs;
use crate::numerics::bounds::gamma;
use crate::numerics::exact::{ExactAcc, ExactRest};
use crate::numerics::{Precision, Values};
use crate::shared::gemm::{chain_store_bound, compute_format, store_abs, store_roundoff};
use std::str::FromStr;

/// Variants, in report order.
pub const VARIANTS: &[&str] = &["split_by_batch", "batch_invariant", "atomic"];
/// Rows without `--batch-sizes`.
pub const DEFAULT_ROWS: usize = 8;
/// Row length without `--row-len`.
pub const DEFAULT_LEN: usize = 4096;
/// Groups the B-dependent rule tries to keep busy.
pub const TARGET_GROUPS: usize = 64;
/// Most chunks per row.
pub const MAX_SPLIT: usize = 16;
/// Fewest elements per chunk under the B-dependent rule.
pub const MIN_CHUNK: usize = 64;
/// Elements per chunk of `batch_invariant` (before the cap of [`MAX_SPLIT`]).
pub const INVARIANT_CHUNK: usize = 256;

/// A row split: `splits` chunks of `chunk` elements (the last may be shorter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowSplit {
    pub splits: usize,
    pub chunk: usize,
}

impl RowSplit {
    fn of(n: usize, wanted: usize) -> RowSplit {
        let chunk = n.div_ceil(wanted.clamp(1, MAX_SPLIT)).max(1);
        RowSplit {
            splits: n.div_ceil(chunk),
            chunk,
        }
    }
}

/// The B-dependent split of `split_by_batch`.
pub fn split_for(rows: usize, len: usize) -> RowSplit {
    let cap = (TARGET_GROUPS / rows.max(1))
        .min(len / MIN_CHUNK)
        .clamp(1, MAX_SPLIT);
    RowSplit::of(len, 1usize << (usize::BITS - 1 - cap.leading_zeros()))
}

/// The split of `batch_invariant`: from N alone.
pub fn invariant_split(len: usize) -> RowSplit {
    RowSplit::of(len, len.div_ceil(INVARIANT_CHUNK))
}

/// A row-reduction variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowsVariant {
    SplitByBatch,
    BatchInvariant,
    Atomic,
}

impl RowsVariant {
    pub fn name(self) -> &'static str {
        match self {
            RowsVariant::SplitByBatch => "split_by_batch",
            RowsVariant::BatchInvariant => "batch_invariant",
            RowsVariant::Atomic => "atomic",
        }
    }

    /// Whether the partials land in the order atomics give (run with every CUDA ordering).
    pub fn is_atomic(self) -> bool {
        self == RowsVariant::Atomic
    }
}

impl FromStr for RowsVariant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "split_by_batch" => Ok(RowsVariant::SplitByBatch),
            "batch_invariant" => Ok(RowsVariant::BatchInvariant),
            "atomic" => Ok(RowsVariant::Atomic),
            o => Err(format!(
                "unknown row-reduction variant '{o}' (expected split_by_batch, batch_invariant, atomic)"
            )),
        }
    }
}

/// The row reductions' own case parameters: B rows of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowsParams {
    pub rows: usize,
    pub len: usize,
}

impl CaseParams for RowsParams {
    fn shape(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!([self.rows, self.len]))
    }
}

/// The shape of a case (the defaults when it carries none).
pub fn case_params(case: &Case) -> RowsParams {
    case.params
        .get::<RowsParams>()
        .copied()
        .unwrap_or(RowsParams {
            rows: DEFAULT_ROWS,
            len: DEFAULT_LEN,
        })
}

/// `case` with B x N = `p`, sized by its input.
pub fn with_params(case: &Case, p: RowsParams) -> Case {
    Case {
        size: p.rows * p.len,
        params: FamilyParams::new(p),
        ..case.clone()
    }
}

/// A row-reduction job.
#[derive(Clone, Debug)]
pub struct RowsJob {
    pub op: Op,
    pub rows: usize,
    pub len: usize,
    pub precision: Precision,
    pub accumulator: Precision,
    pub variant: RowsVariant,
    /// B x N row-major, each value representable in `precision`.
    pub x: Vec<f64>,
    pub launch: Launch,
    pub runs: usize,
    pub split: RowSplit,
    /// The atomic ordering of `atomic` on CUDA (None for the ordered variants).
    pub ordering: crate::ops::Ordering,
}

impl RowsJob {
    /// A job on the caller's values.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        op: Op,
        rows: usize,
        len: usize,
        precision: Precision,
        accumulator: Precision,
        variant: RowsVariant,
        x: Vec<f64>,
        runs: usize,
    ) -> Result<Self, DetError> {
        if !matches!(op, Op::RowSum | Op::Mean | Op::LogSoftmax) {
            return Err(DetError::input(format!("{op} is not a row reduction")));
        }
        crate::shared::gemm::check_formats("rows", precision, accumulator).map_err(|_| {
            DetError::input(format!(
                "{op}: the accumulator ({accumulator}) must be at least as wide as the inputs ({precision})"
            ))
        })?;
        if rows == 0 || len == 0 || x.len() != rows * len {
            return Err(DetError::input(format!(
                "{op}: {} values for {rows} rows of {len} (both at least 1)",
                x.len()
            )));
        }
        let split = match variant {
            RowsVariant::SplitByBatch => split_for(rows, len),
            RowsVariant::BatchInvariant | RowsVariant::Atomic => invariant_split(len),
        };
        Ok(Self {
            op,
            rows,
            len,
            precision,
            accumulator,
            variant,
            x,
            launch: Launch {
                workgroup_size: ROW_WORKGROUP,
                workgroups: (rows * split.splits).div_ceil(ROW_WORKGROUP as usize) as u32,
            },
            runs,
            split,
            ordering: crate::ops::Ordering::initial(variant.is_atomic()),
        })
    }

    /// Output elements: one per row, or the whole input for log_softmax.
    pub fn out_len(&self) -> usize {
        if self.op == Op::LogSoftmax {
            self.rows * self.len
        } else {
            self.rows
        }
    }

    /// `inv = fl_acc(1/N)`, the factor of `mean`.
    pub fn inv_len(&self) -> f64 {
        self.accumulator.round(1.0 / self.len as f64)
    }
}

crate::ops::family::atomic_job_spec!(RowsJob);

/// Why a job cannot run anywhere, if it cannot (checked by every backend).
pub fn check_job(job: &RowsJob) -> Result<(), OpError> {
    if job.op == Op::LogSoftmax && job.variant == RowsVariant::Atomic {
        return Err(OpError::Unsupported(
            "log_softmax has no atomic variant: its sum feeds a log every element of the row needs, so the atomic sum would be row_sum's kernel followed by the ordered passes (measure it with row_sum)".into(),
        ));
    }
    if job.op == Op::LogSoftmax && !matches!(job.accumulator, Precision::F32 | Precision::F64) {
        return Err(OpError::Unsupported(format!(
            "log_softmax computes exp and log in f32 (or f64 on the CPU); a {} accumulator is not offered",
            job.accumulator
        )));
    }
    if job.x.len() != job.rows * job.len {
        return Err(OpError::BadInput(format!(
            "{}: the input does not match the shape",
            job.op
        )));
    }
    Ok(())
}

/// Elements' accuracy of exp and log in `acc`, in units of its ulp: WGSL's for f32 (which
/// the CPU's libm meets too), and those of libm for f64.
fn exp_rel(acc: Precision, t: f64) -> f64 {
    let ulp = 2.0 * acc.unit_roundoff();
    (3.0 + 2.0 * t.abs()) * ulp
}

fn log_abs(acc: Precision, l: f64) -> f64 {
    let ulp = 2.0 * acc.unit_roundoff();
    let inside = if acc == Precision::F32 {
        libm::ldexp(1.0, -21)
    } else {
        ulp
    };
    inside + 3.0 * ulp * l.abs()
}

/// Whether a log_softmax element with t = x - max is masked: -inf, or so far below the
/// row's maximum that exp(t) lies below the accumulator's smallest subnormal (an attention
/// mask of -1e30 or the format's lowest value). Its weight in the row's sum is at most an
/// underflow term, and it is judged on its own: its output is t - log(s), exact where t is
/// -inf.
pub fn is_masked(acc: Precision, t: f64) -> bool {
    t == f64::NEG_INFINITY || t < libm::log(acc.min_subnormal()) - 1.0
}

/// The a-priori bound of every log_softmax element of one row (module docs): `x` the row,
/// `m` its maximum, `s` the exact sum of exp(x_j - m) and `steps` the adds of a chain
/// plus the partial adds. None for an element when the analysis does not apply (the sum's
/// relative error could reach 1, or a value could round past the format's range).
///
/// Masked elements ([`is_masked`]) are their own class: each adds at most an underflow
/// term to the sum's error (never 0 * inf), a -inf element must come out -inf (bound 0:
/// its exact value is -inf), and a finite one is judged like any other element, so one
/// mask never leaves the row without a bound.
pub fn lsm_bound(
    x: &[f64],
    m: f64,
    s: f64,
    steps: usize,
    acc: Precision,
    out: Precision,
) -> Vec<Option<f64>> {
    let u = acc.unit_roundoff();
    // Underflow of an exponential: its absolute error may be a smallest normal.
    let eta = acc.min_normal();
    let mut dev = 0.0;
    for &xj in x {
        let t = xj - m;
        if t == f64::NEG_INFINITY {
            // exp(-inf) = 0 exactly; an underflow term covers any implementation.
            dev += eta;
            continue;
        }
        let d = u * t.abs();
        let rel = exp_rel(acc, t.abs() * (1.0 + u));
        let big_e = libm::exp(t);
        let near = big_e * ((libm::exp(d) - 1.0) + libm::exp(d) * rel);
        // Far below the maximum both exp(t) and the computed exponential, of an argument
        // within u|t| of t, lie below exp(-|t|(1 - u)) (1 + rel): a bound that never
        // forms 0 * inf.
        let far = libm::exp(-t.abs() * (1.0 - u)) * (1.0 + rel);
        dev += if near.is_finite() { near.min(far) } else { far } + eta;
    }
    let Some(g) = gamma(steps as u64, u) else {
        return vec![None; x.len()];
    };
    let rho = (dev + g * (s + dev)) / s * (1.0 + 1e-12);
    if rho.is_nan() || rho >= 0.5 {
        return vec![None; x.len()];
    }
    let lambda = -libm::log1p(-rho);
    let ls = libm::log(s);
    let l_err = lambda + log_abs(acc, ls + lambda);
    let us = store_roundoff(out, acc);
    x.iter()
        .map(|&xj| {
            let t = xj - m;
            if t == f64::NEG_INFINITY {
                // -inf - log(s) is -inf exactly: nothing else is correct.
                return Some(0.0);
            }
            // t_j = fl(x_j - m) and fl(t_j - l): both finite (no overflow) when the
            // accumulator holds |t| + |log s| + its error.
            let reach = t.abs() + ls.abs() + l_err;
            if !acc.round(reach).is_finite() {
                return None;
            }
            let exact = (t - ls).abs();
            let inner = u * t.abs() + l_err;
            let total = inner + u * (exact + inner);
            // The f64 reference's own error: a few f64 ulps of its parts.
            let reference = 16.0 * f64::EPSILON * (t.abs() + ls.abs() + 1.0);
            let b = total + us * (exact + total) + store_abs(out, acc, exact - total) + reference;
            // Where the accumulator is wider, its value must also fit the output.
            let stored = us == 0.0 || out.round(exact + total).is_finite();
            (b.is_finite() && stored).then_some(b)
        })
        .collect()
}

/// The bound of one `mean` element: the chain's sum s within es = g·abs + eta(1 + g) of
/// the exact S, then fl(s·inv) with inv = fl_acc(1/N) (the product's relative error u and,
/// where it underflows or is flushed, an absolute term), then the store; against the real
/// mean S/N. None where a value could round past the accumulator's or output's range.
fn mean_bound(job: &RowsJob, g: f64, abs: f64, eta: f64, sum: f64, mean: f64) -> Option<f64> {
    let (acc, out_p, n) = (job.accumulator, job.precision, job.len);
    let u = acc.unit_roundoff();
    if !crate::numerics::bounds::fits(acc, (1.0 + g) * abs + eta * (1.0 + g)) {
        return None;
    }
    let es = g * abs + eta * (1.0 + g);
    let inv = job.inv_len();
    let s_abs = sum.abs().next_up();
    let inv_err = (inv - 1.0 / n as f64).abs() + f64::EPSILON * inv;
    let prod_abs = acc.min_subnormal() + compute_format(out_p, acc).min_normal();
    let inner = es * inv * (1.0 + u) + s_abs * (inv_err + inv * u) + prod_abs;
    let mean_abs = mean.abs().next_up();
    if !crate::numerics::bounds::fits(out_p, mean_abs + inner) {
        return None;
    }
    let us = store_roundoff(out_p, acc);
    let b =
        (inner + us * (mean_abs + inner) + store_abs(out_p, acc, mean_abs - inner)) * (1.0 + 1e-12);
    b.is_finite().then_some(b)
}

/// Builds the job (without the reference) for a case.
pub fn build_job(case: &Case) -> Result<RowsJob, DetError> {
    let variant: RowsVariant = case.variant.parse().map_err(DetError::input)?;
    let p = case_params(case);
    crate::shared::host::check_host_size(p.rows * p.len * 2)?;
    let x = crate::ops::common::batch_rows(case, p.rows, p.len, "the row reduction")?;
    RowsJob::new(
        case.op,
        p.rows,
        p.len,
        case.precision,
        case.accumulator,
        variant,
        x,
        case.runs,
    )
}

/// Builds the job, the reference and the per-element bounds of one case.
pub fn prepare(case: &Case) -> Result<Prepared, DetError> {
    prepare_job(build_job(case)?)
}

/// The real mean S/N of a row whose exact sum is `e`, as `hi + rest`
/// ([`crate::numerics::error`]): q1 = fl(S)/N, then the remainder S - q1·N (exact) divided
/// again, and what is left bounded. A sum beyond f64's range is scaled by 2^-64 first (the
/// mean of finite values is finite).
pub fn mean_split(e: &ExactAcc, n: usize) -> (f64, ExactRest) {
    let nf = n as f64;
    let (s, k) = if e.value().is_finite() {
        (e.clone(), 0)
    } else {
        (e.scaled(-64), 64)
    };
    let q1 = s.value() / nf;
    let mut r = s;
    r.add_product(q1, -nf);
    let q2 = r.value() / nf;
    r.add_product(q2, -nf);
    // |r / N| rounded upward, with r's sign.
    let tail = (r.abs_up() / nf).next_up() * r.signum() as f64;
    // q1 + q2 = hi + lo exactly (TwoSum: |q2| is far below |q1|, or q1 is 0).
    let mut hi = q1 + q2;
    let b = hi - q1;
    let mut lo = (q1 - (hi - b)) + (q2 - b);
    // The real mean is q1 + q2 + r/N, with |r/N| below half an ULP of q2. Only where
    // q1 + q2 is exactly halfway between two doubles can that rest decide the rounding:
    // the tie went to the even neighbour, but the mean lies past the midpoint, on the
    // other neighbour's side, when r has the sign of lo (which points there). Example:
    // N = 8 and S - fl(S) just under half an ULP of fl(S), whose remainder rounds to
    // exactly half.
    if lo != 0.0 && r.signum() as f64 * lo > 0.0 {
        let other = if lo > 0.0 {
            hi.next_up()
        } else {
            hi.next_down()
        };
        if (other - hi) == 2.0 * lo {
            lo -= other - hi;
            hi = other;
        }
    }
    let up = libm::ldexp(1.0, k);
    (
        hi * up,
        ExactRest {
            lo: lo * up,
            tail: tail * up,
        },
    )
}

/// [`prepare`] for a given job: what the edge tests build their inputs with.
pub fn prepare_job(job: RowsJob) -> Result<Prepared, DetError> {
    let (n, acc, out_p) = (job.len, job.accumulator, job.precision);
    let steps = job.split.chunk.min(n) + job.split.splits - 1;
    let g = gamma(steps as u64, acc.unit_roundoff());
    let compute = compute_format(out_p, acc);
    let mut exact = Vec::with_capacity(job.out_len());
    let mut exact_out = Vec::new();
    let mut rest = Vec::new();
    let mut bounds = Vec::with_capacity(job.out_len());
    let mut cond = 0.0f64;
    let mut masked = 0usize;
    let mut all_masked = 0usize;
    for row in job.x.chunks(n) {
        match job.op {
            Op::RowSum | Op::Mean => {
                let mut e = ExactAcc::new();
                let mut abs = 0.0f64;
                let mut flushable = 0.0f64;
                for &v in row {
                    e.add(v);
                    abs += v.abs();
                    if v != 0.0 && v.abs() < compute.min_normal() {
                        flushable += v.abs();
                    }
                }
                let up = 1.0 + (n as f64 + 2.0) * f64::EPSILON;
                let abs = abs * up;
                // Underflow: the adds of a chain are exact with gradual underflow; a device
                // that flushes loses up to a smallest normal per add, plus every subnormal
                // value it reads as zero.
                let eta = (n + job.split.splits) as f64 * compute.min_normal() + flushable * up;
                let sum = e.value();
                if sum != 0.0 {
                    cond = cond.max(abs / sum.abs());
                }
                if job.op == Op::RowSum {
                    let (hi, r) = e.split();
                    exact.push(hi);
                    rest.push(r);
                    exact_out.push(e.value_in(out_p));
                    bounds.push(g.and_then(|g| {
                        chain_store_bound(g, abs, eta, hi.abs().next_up(), out_p, acc)
                    }));
                } else {
                    let (hi, r) = mean_split(&e, n);
                    exact.push(hi);
                    rest.push(r);
                    exact_out.push(crate::numerics::error::round_split(out_p, hi, r));
                    bounds.push(g.and_then(|g| mean_bound(&job, g, abs, eta, sum, hi)));
                }
            }
            _ => {
                let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if m == f64::NEG_INFINITY {
                    // Every logit masked: the softmax is 0/0, so log_softmax is undefined,
                    // and its exact answer is NaN in every element (PyTorch's and JAX's
                    // result, and what the kernels' arithmetic gives: -inf - -inf). Judged
                    // by equality (bound 0): any NaN is right, anything else is an error.
                    exact.extend(std::iter::repeat_n(f64::NAN, n));
                    bounds.extend(std::iter::repeat_n(Some(0.0), n));
                    masked += n;
                    all_masked += 1;
                    continue;
                }
                let mut e = ExactAcc::new();
                for &v in row {
                    e.add(libm::exp(v - m));
                }
                let s = e.value();
                let ls = libm::log(s);
                exact.extend(row.iter().map(|&v| (v - m) - ls));
                masked += row.iter().filter(|&&v| is_masked(acc, v - m)).count();
                bounds.extend(lsm_bound(row, m, s, steps, acc, out_p));
            }
        }
    }
    let bytes = (job.x.len() + job.out_len()) as f64 * out_p.bytes() as f64;
    let unbounded = bounds.iter().filter(|b| b.is_none()).count();
    let overflow = if unbounded > 0 && job.op != Op::LogSoftmax && g.is_some() {
        format!(
            "; overflow possible in {unbounded} rows: a partial sum may reach (1 + gamma) sum |x| past the {acc} maximum {:e} (or the stored value past the {out_p} one) and round to infinity; the error model assumes no overflow",
            acc.max_finite()
        )
    } else {
        String::new()
    };
    let note = format!(
        "{} rows of {}{}{overflow}; {}",
        job.rows,
        n,
        if masked > 0 {
            format!(
                "; {masked} masked elements (exp(x - max) below the {acc} range: -inf or a large negative mask), judged on their own{}",
                if all_masked > 0 {
                    format!("; {all_masked} rows fully masked (every logit -inf): undefined, exact NaN")
                } else {
                    String::new()
                }
            )
        } else {
            String::new()
        },
        if job.split.splits > 1 {
            format!(
                "each row in {} chunks of {}",
                job.split.splits, job.split.chunk
            )
        } else {
            "each row in one chain".to_string()
        }
    );
    Ok(Prepared {
        phases: Vec::new(),
        input_sha256: inputs::checksum(out_p, &job.x),
        dumps: vec![(
            "x".to_string(),
            out_p,
            std::sync::Arc::new(Values::copy_of(out_p, &job.x)),
        )],
        job: Job::Rows(job),
        exact: exact.into(),
        exact_out: exact_out.into(),
        exact_rest: rest.into(),
        bounds: bounds.into(),
        condition_number: (cond > 0.0).then_some(cond),
        bytes_moved: bytes,
        out_precision: out_p,
        scalar: false,
        note,
    })
}

/// Expands cases over the row lengths (default [`DEFAULT_LEN`]) with [`DEFAULT_ROWS`] rows;
/// `--size` does not apply, so repeats that differ only in size are dropped.
pub fn expand_lens(cases: Vec<Case>, lens: &[usize]) -> Result<Vec<Case>, DetError> {
    let default = [DEFAULT_LEN];
    let lens = if lens.is_empty() { &default[..] } else { lens };
    let first_size = cases.first().map(|c| c.size);
    let mut out = Vec::new();
    for c in cases {
        if Some(c.size) != first_size {
            continue;
        }
        for &len in lens {
            out.push(with_params(
                &c,
                RowsParams {
                    rows: DEFAULT_ROWS,
                    len,
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_rows_and_invariant_does_not() {
        assert_eq!(
            split_for(1, 4096),
            RowSplit {
                splits: 16,
                chunk: 256
            }
        );
        assert_eq!(
            split_for(7, 4096),
            RowSplit {
                splits: 8,
                chunk: 512
            }
        );
        assert_eq!(
            split_for(64, 4096),
            RowSplit {
                splits: 1,
                chunk: 4096
            }
        );
        assert_eq!(
            invariant_split(4096),
            RowSplit {
                splits: 16,
                chunk: 256
            }
        );
        assert_eq!(
            invariant_split(100),
            RowSplit {
                splits: 1,
                chunk: 100
            }
        );
        let s = RowSplit::of(1000, 16);
        assert!(s.chunk * (s.splits - 1) < 1000 && s.chunk * s.splits >= 1000);
    }

    /// A row of 8 whose S - fl(S) is just under half an ULP of fl(S): the remainder rounds
    /// to exactly half, q1 + q2 is a tie, and the mean is the neighbour on q1's side
    /// (checked with Python's fractions: float(Fraction sum / 8)).
    #[test]
    fn mean_split_rounds_a_tie_by_the_remainder() {
        let row = [
            -2.3246163903877902e154,
            -4.095569317762743e-309,
            -2.3522019042458287e154,
            1.4349255426898777e154,
            1.002285249058623e-308,
            6.737408058334815e-309,
            0.0,
            -0.710695101833417,
        ];
        let mut e = ExactAcc::new();
        row.iter().for_each(|&v| e.add(v));
        let (hi, rest) = mean_split(&e, row.len());
        assert_eq!(hi, -4.052365939929677e153);
        assert!(rest.lo.abs() <= 0.5 * (hi.next_up() - hi).abs());
    }
}
