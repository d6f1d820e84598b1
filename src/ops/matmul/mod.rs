//! The matmul family: `C = A·B` with A of M x K and B of K x N (row-major), f64/f32/f16/bf16
//! inputs and an accumulator at least as wide, and the property LLM inference now asks for:
//! whether row i of C has the same bits whatever M (the batch) is.
//!
//! # Library entry points
//!
//! - [`MmShape::new`] checks a shape `M,N,K`;
//! - [`cpu::compute`] runs one ordered variant on host slices and returns C rounded to the
//!   input format, the bits the GPU kernels give;
//! - [`MatmulJob::new`] builds a job from the caller's values (run it with
//!   `backend.run(&Job::Matmul(job))`); [`prepare`] adds the exact reference and the bounds.
//!
//! # Variants and their fixed orders
//!
//! Every variant computes C in 16 x 16 output tiles; what differs is the reduction over K.
//!
//! - `tiled`: one sequential chain k = 0, 1, ..., K-1 per output element. The tile size
//!   does not change that order, so the variant is batch invariant by construction.
//! - `split_k_deterministic`: K is split into S chunks of `chunk` consecutive k (the last
//!   may be shorter); each chunk's partial is a sequential chain, and a second pass adds the
//!   partials in chunk order 0, 1, ..., S-1 starting from +0.
//! - `split_k_atomic`: the same split, the partials added into zeroed cells with float
//!   atomics (order: whatever the hardware does).
//! - `batch_invariant`: the split of `split_k_deterministic`, but chosen from K alone
//!   ([`invariant_split`]), so row i's order never depends on M.
//! - `tensor_core`: CUDA `mma.sync` for f16/bf16 inputs with an f32 accumulator; no
//!   cooperative matrices exist in WGSL and the CPU has no tensor cores, so it is
//!   Unsupported there, with the reason.
//!
//! # The split-K rule of the non-invariant variants ([`split_for`])
//!
//! Libraries split K when the output tiles alone cannot fill the device (cuBLAS and CUTLASS
//! heuristics, Triton's `SPLIT_K` autotuning): small M means few tiles, so more splits.
//! detbench states its rule: with `tiles = ceil(M/16) * ceil(N/16)`, S is the largest power
//! of two no greater than `min(MAX_SPLIT, TARGET_GROUPS / tiles, K / MIN_CHUNK)` (at least
//! 1), and `chunk = ceil(K / S)` rounded up to a multiple of 16. With N = 64 and K = 1024,
//! M = 1..16 gives S = 16, M = 64 gives S = 4: the same row of A gets a different order.
//!
//! # Arithmetic
//!
//! One step is `acc + a*b` with the product and the sum each rounded, never fused, exactly
//! as the conv family does ([`crate::shared::gemm::GemmArith`], whose module docs say why
//! every backend can be pinned to it); partials are added with the accumulator's rounded
//! add; the output is stored in the input format.
//!
//! # addmm
//!
//! The op `addmm` (same family, same variants) computes `A·B + C` with C an M x N bias in
//! the input format, as PyTorch's `addmm` (beta = alpha = 1). The bias is added exactly once,
//! in the accumulator with one rounded add, after the whole K reduction and before the
//! store: `tiled` adds it to the chain's end, `split_k_deterministic` and `batch_invariant`
//! after the last split partial (`((0 + p0) + ... + p(S-1)) + c`), `split_k_atomic` to the
//! atomically accumulated cell, `tensor_core` to the f32 mma accumulator. So the ordered
//! variants keep the CPU emulation's bits and `batch_invariant` stays batch invariant. Row i
//! of the bias is drawn from its own stream (seed, 2^33 + i), the same whatever M is. The
//! exact reference includes c as one more exact term and the bound's magnitude includes
//! |c| (see [`bounds`]). Records of `addmm` carry op `addmm`, so their keys never collide
//! with `matmul`'s.
//!
//! # Records
//!
//! `size` is M·N (output elements) and `shape` is `[M, N, K]`. Row i of A is drawn from its
//! own stream (seed, 2^32 + i), so it is the same whatever M is: the batch axis
//! (`--batch-sizes`) compares those rows' outputs across batch sizes.

pub mod cpu;
pub mod cuda;
mod family;
pub use family::FAMILY;
mod flags;
pub use flags::{parse_mm_shape, MatmulFlags, MatmulOptions};
pub mod wgpu;

use super::{Case, CaseParams, FamilyParams, Job, Launch, Ordering, Prepared};
use crate::error::{DetError, OpError};
use crate::inputs;
use crate::numerics::bounds::gamma;
use crate::numerics::exact::{exact_dots_full, Dots};
use crate::numerics::{Precision, Values};
use crate::shared::gemm::{chain_store_bound, check_formats, compute_format, tensor_core_bound};
use std::str::FromStr;

/// Variants, in report order.
pub const VARIANTS: &[&str] = &[
    "tiled",
    "split_k_atomic",
    "split_k_deterministic",
    "batch_invariant",
    "tensor_core",
];

/// Shape used without `--mm-shape`: M, N, K.
pub const DEFAULT_SHAPE: [usize; 3] = [64, 64, 1024];

/// Edge of the square output tile (and the depth of a reduction tile).
pub const TILE: usize = 16;
/// Workgroups the split-K rule tries to keep busy.
pub const TARGET_GROUPS: usize = 64;
/// Most K splits.
pub const MAX_SPLIT: usize = 16;
/// Fewest k per split under the M-dependent rule.
pub const MIN_CHUNK: usize = 64;
/// k per split of `batch_invariant` (before the cap of [`MAX_SPLIT`] splits).
pub const INVARIANT_CHUNK: usize = 256;

/// A checked matmul shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

impl MmShape {
    /// Checks `M,N,K`.
    pub fn new(v: &[usize]) -> Result<Self, DetError> {
        let [m, n, k] = <[usize; 3]>::try_from(v).map_err(|_| {
            DetError::input(format!(
                "matmul shape needs 3 integers M,N,K, got {}",
                v.len()
            ))
        })?;
        if let Some(i) = [m, n, k].iter().position(|&d| d == 0) {
            return Err(DetError::input(format!(
                "matmul shape: dimension {} is zero (M, N and K must be at least 1)",
                ["M", "N", "K"][i]
            )));
        }
        let total =
            (m as u128) * (k as u128) + (k as u128) * (n as u128) + (m as u128) * (n as u128);
        if total > u32::MAX as u128 / 2 {
            return Err(DetError::input(format!(
                "matmul shape {m},{n},{k}: {total} values exceed the 2^31 elements a kernel indexes"
            )));
        }
        Ok(Self { m, n, k })
    }

    pub fn to_vec(&self) -> Vec<usize> {
        vec![self.m, self.n, self.k]
    }

    /// Output elements M·N.
    pub fn out_len(&self) -> usize {
        self.m * self.n
    }

    /// Output tiles of [`TILE`] x [`TILE`].
    pub fn tiles(&self) -> usize {
        self.m.div_ceil(TILE) * self.n.div_ceil(TILE)
    }
}

/// A matmul variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MmVariant {
    Tiled,
    SplitKAtomic,
    SplitKDeterministic,
    BatchInvariant,
    TensorCore,
}

impl MmVariant {
    pub fn name(self) -> &'static str {
        match self {
            MmVariant::Tiled => "tiled",
            MmVariant::SplitKAtomic => "split_k_atomic",
            MmVariant::SplitKDeterministic => "split_k_deterministic",
            MmVariant::BatchInvariant => "batch_invariant",
            MmVariant::TensorCore => "tensor_core",
        }
    }

    pub fn is_atomic(self) -> bool {
        self == MmVariant::SplitKAtomic
    }
}

impl FromStr for MmVariant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "tiled" => MmVariant::Tiled,
            "split_k_atomic" => MmVariant::SplitKAtomic,
            "split_k_deterministic" => MmVariant::SplitKDeterministic,
            "batch_invariant" => MmVariant::BatchInvariant,
            "tensor_core" => MmVariant::TensorCore,
            other => {
                return Err(format!(
                    "unknown matmul variant '{other}' (expected {})",
                    VARIANTS.join(", ")
                ))
            }
        })
    }
}

/// A K split: `splits` chunks of `chunk` consecutive k (the last may be shorter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    pub splits: usize,
    pub chunk: usize,
}

impl Split {
    fn of(k: usize, wanted: usize) -> Split {
        let s = wanted.clamp(1, MAX_SPLIT);
        let chunk = k.div_ceil(s).next_multiple_of(TILE);
        // Rounding the chunk up can leave the last splits empty: count only those used.
        Split {
            splits: k.div_ceil(chunk),
            chunk,
        }
    }
}

/// The M-dependent split of `split_k_atomic` and `split_k_deterministic` (module docs).
pub fn split_for(s: &MmShape) -> Split {
    let by_tiles = (TARGET_GROUPS / s.tiles()).max(1);
    let by_k = (s.k / MIN_CHUNK).max(1);
    let cap = by_tiles.min(by_k).min(MAX_SPLIT);
    // Largest power of two <= cap.
    let pow = 1usize << (usize::BITS - 1 - cap.leading_zeros());
    Split::of(s.k, pow)
}

/// The split of `batch_invariant`: from K alone.
pub fn invariant_split(k: usize) -> Split {
    Split::of(k, k.div_ceil(INVARIANT_CHUNK))
}

/// A matmul job: the operands, the launch and the split.
#[derive(Clone, Debug)]
pub struct MatmulJob {
    pub shape: MmShape,
    pub precision: Precision,
    pub accumulator: Precision,
    pub variant: MmVariant,
    pub ordering: Ordering,
    /// A, M x K row-major, each value representable in `precision`.
    pub a: Vec<f64>,
    /// B, K x N row-major.
    pub b: Vec<f64>,
    pub launch: Launch,
    pub runs: usize,
    pub split: Split,
    /// `addmm`'s bias C, M x N row-major in `precision` (None: plain `matmul`).
    pub bias: Option<Vec<f64>>,
}

impl MatmulJob {
    /// A job on the caller's values.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shape: MmShape,
        precision: Precision,
        accumulator: Precision,
        variant: MmVariant,
        a: Vec<f64>,
        b: Vec<f64>,
        runs: usize,
    ) -> Result<Self, DetError> {
        check_formats("matmul", precision, accumulator).map_err(|_| {
            DetError::input(format!(
                "matmul: the accumulator ({accumulator}) must be at least as wide as the inputs ({precision}); a half accumulator needs inputs of the same format"
            ))
        })?;
        if a.len() != shape.m * shape.k || b.len() != shape.k * shape.n {
            return Err(DetError::input(format!(
                "matmul: operands have {} and {} values; shape {},{},{} needs {} and {}",
                a.len(),
                b.len(),
                shape.m,
                shape.n,
                shape.k,
                shape.m * shape.k,
                shape.k * shape.n
            )));
        }
        let split = match variant {
            MmVariant::SplitKAtomic | MmVariant::SplitKDeterministic => split_for(&shape),
            MmVariant::BatchInvariant => invariant_split(shape.k),
            _ => Split {
                splits: 1,
                chunk: shape.k,
            },
        };
        let launch = match variant {
            // Eight warps per 128 x 64 tile (see cuda.rs).
            MmVariant::TensorCore => Launch {
                workgroup_size: 256,
                workgroups: (shape.m.div_ceil(128) * shape.n.div_ceil(64)) as u32,
            },
            _ => Launch {
                workgroup_size: (TILE * TILE) as u32,
                workgroups: (shape.tiles() * split.splits).min(u32::MAX as usize) as u32,
            },
        };
        Ok(Self {
            shape,
            precision,
            accumulator,
            variant,
            ordering: Ordering::initial(variant.is_atomic()),
            a,
            b,
            launch,
            runs,
            split,
            bias: None,
        })
    }

    /// This job with an `addmm` bias (M x N values representable in the input format).
    pub fn with_bias(mut self, c: Vec<f64>) -> Result<Self, DetError> {
        if c.len() != self.shape.out_len() {
            return Err(DetError::input(format!(
                "addmm: the bias has {} values; shape {},{},{} needs {}",
                c.len(),
                self.shape.m,
                self.shape.n,
                self.shape.k,
                self.shape.out_len()
            )));
        }
        self.bias = Some(c);
        Ok(self)
    }

    /// The op's name: `addmm` with a bias, else `matmul`.
    pub fn op_name(&self) -> &'static str {
        if self.bias.is_some() {
            "addmm"
        } else {
            "matmul"
        }
    }
}

/// First stream of `addmm`'s bias rows (row i: this + i).
pub const BIAS_STREAM: u64 = 1 << 33;

/// The exact value, the exact value rounded once to the output format, and the f64 sum of
/// |a b| (rounded up past its own error) of every output element, on all host threads.
pub fn exact_reference(job: &MatmulJob) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let d = exact_reference_full(job);
    (d.exact, d.exact_out, d.mag)
}

/// [`exact_reference`] with each exact value's rest and the magnitude a device that flushes
/// subnormal operands (of the compute format) drops.
pub fn exact_reference_full(job: &MatmulJob) -> Dots {
    let s = job.shape;
    let tiny = compute_format(job.precision, job.accumulator).min_normal();
    exact_dots_full(s.out_len(), job.precision, tiny, |idx, t| {
        let (row, col) = (idx / s.n, idx % s.n);
        for kk in 0..s.k {
            t.add(job.a[row * s.k + kk], job.b[kk * s.n + col]);
        }
        // addmm: c·1 is one more exact term, and |c| joins the magnitude.
        if let Some(c) = &job.bias {
            t.add(c[idx], 1.0);
        }
    })
}

pub use crate::ops::common::{batch_rows, ROW_STREAM};

/// The matmul's own case parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatmulParams {
    pub shape: MmShape,
}

impl CaseParams for MatmulParams {
    fn shape(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!(self.shape.to_vec()))
    }
}

/// The shape of a case ([`DEFAULT_SHAPE`] when it carries none).
pub fn case_shape(case: &Case) -> MmShape {
    case.params.get::<MatmulParams>().map_or(
        MmShape {
            m: DEFAULT_SHAPE[0],
            n: DEFAULT_SHAPE[1],
            k: DEFAULT_SHAPE[2],
        },
        |p| p.shape,
    )
}

/// `case` with shape `shape`, sized by its output.
pub fn with_shape(case: &Case, shape: MmShape) -> Case {
    Case {
        size: shape.out_len(),
        params: FamilyParams::new(MatmulParams { shape }),
        ..case.clone()
    }
}

/// Builds the job (without the reference) for a case.
pub fn build_job(case: &Case) -> Result<MatmulJob, DetError> {
    let variant: MmVariant = case.variant.parse().map_err(DetError::input)?;
    let shape = case_shape(case);
    crate::shared::host::check_host_size(shape.m * shape.k + shape.k * shape.n + shape.out_len())?;
    let a = batch_rows(case, shape.m, shape.k, "matmul A")?;
    let b = inputs::generate(
        &match &case.input {
            // A user's file gives A; B is drawn normal from the seed.
            inputs::InputSpec::File(_) => inputs::InputSpec::Normal,
            other => other.clone(),
        },
        case.precision,
        shape.k * shape.n,
        case.seed,
        1,
    )?;
    let job = MatmulJob::new(
        shape,
        case.precision,
        case.accumulator,
        variant,
        a,
        b,
        case.runs,
    )?;
    if case.op != super::Op::Addmm {
        return Ok(job);
    }
    let spec = match &case.input {
        // Like B, a user's file gives only A.
        inputs::InputSpec::File(_) => inputs::InputSpec::Normal,
        other => other.clone(),
    };
    let mut c = Vec::with_capacity(shape.out_len());
    for i in 0..shape.m {
        c.extend(inputs::generate(
            &spec,
            case.precision,
            shape.n,
            case.seed,
            BIAS_STREAM + i as u64,
        )?);
    }
    job.with_bias(c)
}

/// The a-priori bound of every element: a chain of at most `chunk` steps plus S - 1 rounded
/// partial additions, i.e. gamma(min(chunk, K) + S - 1) in the accumulator (the tensor-core
/// bound for `tensor_core`), plus underflow, plus the store to the output format. `addmm`'s
/// bias add is one more rounding in the accumulator after a sum s within g·M_ab of the
/// exact S: |fl(s + c) - (S + c)| <= g·M_ab + u(|S + c| + g·M_ab) <= (g + u(1 + g))·M with
/// M = M_ab + |c| (`mag`, which includes |c|).
pub fn bounds(job: &MatmulJob, exact: &[f64], mag: &[f64]) -> Vec<Option<f64>> {
    bounds_with(job, exact, mag, &[])
}

/// [`bounds`] with the magnitudes a flush-to-zero device drops at the operands
/// (`flushable`, per element; empty: none).
pub fn bounds_with(
    job: &MatmulJob,
    exact: &[f64],
    mag: &[f64],
    flushable: &[f64],
) -> Vec<Option<f64>> {
    let acc = job.accumulator;
    let out_p = job.precision;
    let k = job.shape.k;
    let steps = job.split.chunk.min(k) + job.split.splits - 1;
    let g = if job.variant == MmVariant::TensorCore {
        tensor_core_bound(k)
    } else {
        gamma(steps as u64, acc.unit_roundoff())
    };
    // addmm's final add of the bias (doc above).
    let g = g.map(|g| {
        if job.bias.is_some() {
            g + acc.unit_roundoff() * (1.0 + g)
        } else {
            g
        }
    });
    // Underflow of the products (gradual), and a device that flushes subnormal results:
    // up to the compute format's smallest normal per product and per addition.
    let ops = 2 * (k + 1) + job.split.splits;
    let eta = k as f64 * acc.min_subnormal() + ops as f64 * compute_format(out_p, acc).min_normal();
    exact
        .iter()
        .zip(mag)
        .enumerate()
        .map(|(i, (&e, &m))| {
            let abs = eta + flushable.get(i).copied().unwrap_or(0.0);
            g.and_then(|g| chain_store_bound(g, m, abs, e.abs().next_up(), out_p, acc))
        })
        .collect()
}

/// Builds the job, the exact reference and the per-element bounds of one case.
pub fn prepare(case: &Case) -> Result<Prepared, DetError> {
    Ok(prepare_job(build_job(case)?))
}

/// [`prepare`] for a given job (the caller's operands): what the edge tests use.
pub fn prepare_job(job: MatmulJob) -> Prepared {
    let Dots {
        exact,
        exact_out,
        rest,
        mag,
        flushable,
    } = exact_reference_full(&job);
    let bounds = bounds_with(&job, &exact, &mag, &flushable);
    let mut cond = 0.0f64;
    for (&e, &m) in exact.iter().zip(&mag) {
        if e != 0.0 {
            cond = cond.max(m / e.abs());
        }
    }
    let out_p = job.precision;
    let c_len = job.bias.as_ref().map_or(0, Vec::len);
    let bytes =
        (job.a.len() + job.b.len() + c_len + job.shape.out_len()) as f64 * out_p.bytes() as f64;
    let mut sha = format!(
        "{}+{}",
        inputs::checksum(out_p, &job.a),
        inputs::checksum(out_p, &job.b)
    );
    if let Some(c) = &job.bias {
        sha = format!("{sha}+{}", inputs::checksum(out_p, c));
    }
    let mut dumps = vec![
        (
            "a".to_string(),
            out_p,
            std::sync::Arc::new(Values::copy_of(out_p, &job.a)),
        ),
        (
            "b".to_string(),
            out_p,
            std::sync::Arc::new(Values::copy_of(out_p, &job.b)),
        ),
    ];
    if let Some(c) = &job.bias {
        dumps.push((
            "c".to_string(),
            out_p,
            std::sync::Arc::new(Values::copy_of(out_p, c)),
        ));
    }
    let s = job.shape;
    let note = format!(
        "{}, M={} N={} K={}; {}",
        if job.bias.is_some() {
            "C = A·B + C (bias added after the K reduction)"
        } else {
            "C = A·B"
        },
        s.m,
        s.n,
        s.k,
        if job.split.splits > 1 {
            format!(
                "K split in {} chunks of {}",
                job.split.splits, job.split.chunk
            )
        } else {
            "K in one chain".to_string()
        }
    );
    Prepared {
        job: Job::Matmul(job),
        phases: Vec::new(),
        exact: exact.into(),
        exact_out: exact_out.into(),
        exact_rest: rest.into(),
        bounds: bounds.into(),
        condition_number: (cond > 0.0).then_some(cond),
        bytes_moved: bytes,
        input_sha256: sha,
        out_precision: out_p,
        scalar: false,
        dumps,
        note,
    }
}

/// Expands matmul cases over the requested shapes (default [`DEFAULT_SHAPE`]); `--size` does
/// not apply, so repeats that differ only in size are dropped, and each case's size becomes
/// M·N.
pub fn expand_shapes(cases: Vec<Case>, shapes: &[Vec<usize>]) -> Result<Vec<Case>, DetError> {
    let default = vec![DEFAULT_SHAPE.to_vec()];
    let shapes = if shapes.is_empty() { &default } else { shapes };
    let first_size = cases.first().map(|c| c.size);
    let mut out = Vec::with_capacity(cases.len());
    for c in cases {
        if Some(c.size) != first_size {
            continue;
        }
        for s in shapes {
            out.push(with_shape(&c, MmShape::new(s)?));
        }
    }
    Ok(out)
}

/// Device-independent checks a backend makes before it runs a job.
pub fn check_job(job: &MatmulJob) -> Result<(), OpError> {
    check_formats("matmul", job.precision, job.accumulator).map_err(OpError::from)?;
    let s = job.shape;
    if job.a.len() != s.m * s.k
        || job.b.len() != s.k * s.n
        || job.bias.as_ref().is_some_and(|c| c.len() != s.out_len())
    {
        return Err(OpError::BadInput(
            "matmul: operands do not match the shape".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_depends_on_m_and_invariant_does_not() {
        let s = |m| split_for(&MmShape { m, n: 64, k: 1024 });
        assert_eq!(
            s(1),
            Split {
                splits: 16,
                chunk: 64
            }
        );
        assert_eq!(s(7), s(1));
        assert_eq!(
            s(64),
            Split {
                splits: 4,
                chunk: 256
            }
        );
        assert_eq!(s(512).splits, 1);
        assert_eq!(
            invariant_split(1024),
            Split {
                splits: 4,
                chunk: 256
            }
        );
        // Short K: never a chunk below one tile, never an empty split.
        let t = split_for(&MmShape { m: 1, n: 1, k: 20 });
        assert_eq!(
            t,
            Split {
                splits: 1,
                chunk: 32
            }
        );
        let t = Split::of(100, 16);
        assert!(t.chunk * (t.splits - 1) < 100 && t.chunk * t.splits >= 100);
    }
}
