//! The convolution family: `conv2d_fwd`, `conv2d_bwd_data` and `conv2d_bwd_weight`, NCHW
//! activations and KCRS weights, with stride, zero padding and dilation.
//!
//! # Library entry points (for the trainer and other callers)
//!
//! - [`ConvShape::new`] checks a shape (`N,C,H,W,K,R,S,STRIDE,PAD,DILATION`);
//! - [`cpu::fwd`], [`cpu::bwd_data`], [`cpu::bwd_weight`] run one op on host slices (values
//!   carried as f64, each exactly representable in the storage format) in a given
//!   [`Order`] and return the output rounded to the storage format;
//! - [`ConvJob::new`] builds a job from the caller's own values; run it on any device with
//!   `backend.run(&Job::Conv(job))` (`RunSet::outputs[i]` is the output of run i, in the
//!   storage format). [`prepare`] adds the exact reference and bounds for the runner.
//!
//! # The three ops as implicit GEMMs
//!
//! Every output element is one dot product. With P, Q the output height and width:
//!
//! | op | output | reduction (length L) | operands (a, b) |
//! | --- | --- | --- | --- |
//! | fwd | y[n,k,p,q] | c, r, s (C R S) | (x, w) |
//! | bwd_data | dx[n,c,h,w] | k, r, s (K R S), taps that hit an output pixel | (dy, w) |
//! | bwd_weight | dw[k,c,r,s] | n, p, q (N P Q) | (dy, x) |
//!
//! Taps that fall in the padding contribute exact zeros; adding a zero product never changes
//! an accumulator that starts at +0, so kernels may include or skip them and give the same
//! bits.
//!
//! # Variants and their fixed orders
//!
//! - `direct` (fwd, bwd_data): one thread per output element, reduction order (c, r, s) for
//!   fwd and (k, r, s) for bwd_data, outermost first.
//! - `tiled` (fwd, bwd_data): implicit GEMM with 16 x 16 output tiles and 16-deep reduction
//!   tiles staged in workgroup/shared memory; the reduction index runs filter tap outermost,
//!   channel innermost, (r, s, c) for fwd and (r, s, k) for bwd_data, as a channels-inner
//!   implicit GEMM does. Different from direct, fixed.
//! - `atomic` and `deterministic` (bwd_weight): the N P Q reduction is split into `chunks`
//!   chunks of `chunk` consecutive (n, p, q) indices; each chunk's partial dot product of
//!   every weight element is a sequential chain. `atomic` adds the partials into the
//!   gradient with float atomics (order: whatever the hardware does); `deterministic` writes
//!   them to a buffer and a second pass adds them in chunk order 0, 1, 2, ...
//! - `tensor_core` (CUDA sm_80+, f16/bf16 inputs, f32 accumulator): implicit GEMM in
//!   128 x 64 tiles on `mma.sync.m16n8k16`, the reduction index in the order of `tiled`
//!   ((r, s, c|k) for fwd and bwd_data) taken 16 at a time by the tensor cores, whose
//!   internal order and rounding are the hardware's: the bound is looser (see
//!   [`tensor_core_bound`]) and the result is reproducible run to run on one GPU, not
//!   emulated on the CPU. bwd_weight uses the chunks of `deterministic` and adds their f32
//!   partials in chunk order.
//!
//! # Arithmetic (identical on every backend, so the CPU emulation gives the GPU's bits)
//!
//! The accumulator is never narrower than the inputs (that is checked). One step is
//! `acc + a*b` with the product and the sum each rounded, never fused: WGSL's `fma` is fused
//! on some drivers and not on others (lavapipe splits it), and a compiler may contract
//! `a*b + c`, so the kernels multiply the rounded product by a uniform 1.0 the compiler
//! cannot see through, which pins the unfused result on every device. (With half inputs the
//! product is exact in f32 and fused or not makes no difference.) In a half accumulator
//! (f16/bf16, inputs of the same format) the step is `round_h(acc + round_h(a*b))` done in
//! f32, which equals correctly rounded
//! half arithmetic (the product of two halves is exact in f32, and 24 >= 2*11 + 2 makes the
//! double rounding of a sum innocuous: Figueroa, SIGNUM 1995). The output is stored in the
//! input format: an f64 accumulator is rounded to f32 first when the output is a half (two
//! roundings, counted in the bound).
//!
//! # Records
//!
//! `Case.size` is ignored; the runner records `size` = the number of output elements
//! ([`ConvShape::out_len`]) and `shape` = the ten integers. `bytes_moved` counts both inputs
//! and the output once.

pub mod cpu;
pub mod cuda;
mod family;
pub use family::FAMILY;
mod flags;
pub use flags::{parse_conv_shape, ConvFlags, ConvOptions};
pub mod wgpu;

use super::{Case, CaseParams, FamilyParams, Job, Launch, Op, Ordering, Prepared};
use crate::error::{DetError, OpError};
use crate::inputs;
use crate::numerics::bounds::gamma;
use crate::numerics::exact::{exact_dots_full, Dots};
use crate::numerics::{Precision, Values};

/// Variants of `conv2d_fwd` and `conv2d_bwd_data`, in report order.
pub const DATA_VARIANTS: &[&str] = &[
    ConvVariant::Direct.name(),
    ConvVariant::Tiled.name(),
    ConvVariant::TensorCore.name(),
];
/// Variants of `conv2d_bwd_weight`, in report order.
pub const WEIGHT_VARIANTS: &[&str] = &[
    ConvVariant::Atomic.name(),
    ConvVariant::Deterministic.name(),
    ConvVariant::TensorCore.name(),
];

/// Shape used when a conv op is run without `--conv-shape`.
pub const DEFAULT_SHAPE: [usize; 10] = [2, 8, 16, 16, 8, 3, 3, 1, 1, 1];

/// Edge of the square output tile of the tiled kernels (and the depth of a reduction tile).
pub const TILE: usize = 16;

/// Output tile of the CUDA `tensor_core` kernels: GEMM rows (output pixels, or K for
/// bwd_weight) per block.
pub const TC_TILE_M: usize = 128;
/// GEMM columns per `tensor_core` block.
pub const TC_TILE_N: usize = 64;

/// Most chunks bwd_weight splits its reduction into.
pub const MAX_CHUNKS: usize = 64;

/// Whether `op` belongs to this family.
pub fn is_conv(op: Op) -> bool {
    matches!(op, Op::Conv2dFwd | Op::Conv2dBwdData | Op::Conv2dBwdWeight)
}

/// The variants of a conv op.
pub fn variants(op: Op) -> &'static [&'static str] {
    match op {
        Op::Conv2dBwdWeight => WEIGHT_VARIANTS,
        _ => DATA_VARIANTS,
    }
}

/// A checked convolution shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub r: usize,
    pub s: usize,
    pub stride: usize,
    pub pad: usize,
    pub dil: usize,
    /// Output height.
    pub p: usize,
    /// Output width.
    pub q: usize,
}

impl ConvShape {
    /// Checks `N,C,H,W,K,R,S,STRIDE,PAD,DILATION`.
    pub fn new(v: &[usize]) -> Result<Self, DetError> {
        let [n, c, h, w, k, r, s, stride, pad, dil] = <[usize; 10]>::try_from(v).map_err(|_| {
            DetError::input(format!(
                "conv shape needs 10 integers N,C,H,W,K,R,S,STRIDE,PAD,DILATION, got {}",
                v.len()
            ))
        })?;
        let names = ["N", "C", "H", "W", "K", "R", "S"];
        if let Some(i) = [n, c, h, w, k, r, s].iter().position(|&d| d == 0) {
            return Err(DetError::input(format!(
                "conv shape: dimension {} is zero (every one of N,C,H,W,K,R,S must be at least 1)",
                names[i]
            )));
        }
        if stride == 0 || dil == 0 {
            return Err(DetError::input(format!(
                "conv shape: stride ({stride}) and dilation ({dil}) must be at least 1"
            )));
        }
        let big = |x: usize| x > 1 << 24;
        if [n, c, h, w, k, r, s, stride, pad, dil]
            .iter()
            .any(|&d| big(d))
        {
            return Err(DetError::input(
                "conv shape: a dimension exceeds 2^24".to_string(),
            ));
        }
        // Products below are taken in usize: keep every tensor under 2^48 values first.
        let prod = |d: &[usize]| d.iter().map(|&x| x as u128).product::<u128>();
        for (name, len) in [
            ("N*C*H*W", prod(&[n, c, h, w])),
            ("K*C*R*S", prod(&[k, c, r, s])),
        ] {
            if len > 1 << 48 {
                return Err(DetError::input(format!(
                    "conv shape: {name} = {len} values exceed what detbench can hold"
                )));
            }
        }
        let (er, es) = ((r - 1) * dil + 1, (s - 1) * dil + 1);
        if er > h + 2 * pad || es > w + 2 * pad {
            return Err(DetError::input(format!(
                "conv shape: the dilated filter ({er}x{es}) is larger than the padded input ({}x{})",
                h + 2 * pad,
                w + 2 * pad
            )));
        }
        let p = (h + 2 * pad - er) / stride + 1;
        let q = (w + 2 * pad - es) / stride + 1;
        Ok(Self {
            n,
            c,
            h,
            w,
            k,
            r,
            s,
            stride,
            pad,
            dil,
            p,
            q,
        })
    }

    /// The ten integers.
    pub fn to_vec(&self) -> Vec<usize> {
        vec![
            self.n,
            self.c,
            self.h,
            self.w,
            self.k,
            self.r,
            self.s,
            self.stride,
            self.pad,
            self.dil,
        ]
    }

    pub fn x_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }
    pub fn w_len(&self) -> usize {
        self.k * self.c * self.r * self.s
    }
    pub fn y_len(&self) -> usize {
        self.n * self.k * self.p * self.q
    }

    /// Elements of the output of `op`.
    pub fn out_len(&self, op: Op) -> usize {
        match op {
            Op::Conv2dBwdData => self.x_len(),
            Op::Conv2dBwdWeight => self.w_len(),
            _ => self.y_len(),
        }
    }

    /// Lengths of the two operands of `op` (see the table in the module docs).
    pub fn operand_lens(&self, op: Op) -> (usize, usize) {
        match op {
            Op::Conv2dBwdData => (self.y_len(), self.w_len()),
            Op::Conv2dBwdWeight => (self.y_len(), self.x_len()),
            _ => (self.x_len(), self.w_len()),
        }
    }

    /// Reduction length L of one output element of `op` (padding taps included).
    pub fn reduction_len(&self, op: Op) -> usize {
        match op {
            Op::Conv2dBwdData => self.k * self.r * self.s,
            Op::Conv2dBwdWeight => self.n * self.p * self.q,
            _ => self.c * self.r * self.s,
        }
    }

    /// 2 N K C R S P Q: the flops of every op of this layer.
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.k * self.c * self.r * self.s) as f64 * (self.p * self.q) as f64
    }

    /// Input row of output row `p` at filter row `r`, if it is not padding.
    #[inline]
    pub fn in_row(&self, p: usize, r: usize) -> Option<usize> {
        (p * self.stride + r * self.dil)
            .checked_sub(self.pad)
            .filter(|&i| i < self.h)
    }

    /// Input column of output column `q` at filter column `s`, if it is not padding.
    #[inline]
    pub fn in_col(&self, q: usize, s: usize) -> Option<usize> {
        (q * self.stride + s * self.dil)
            .checked_sub(self.pad)
            .filter(|&i| i < self.w)
    }

    /// Output row that input row `h` reaches through filter row `r`, if any.
    #[inline]
    pub fn out_row(&self, h: usize, r: usize) -> Option<usize> {
        let t = (h + self.pad).checked_sub(r * self.dil)?;
        (t % self.stride == 0 && t / self.stride < self.p).then_some(t / self.stride)
    }

    /// Output column that input column `w` reaches through filter column `s`, if any.
    #[inline]
    pub fn out_col(&self, w: usize, s: usize) -> Option<usize> {
        let t = (w + self.pad).checked_sub(s * self.dil)?;
        (t % self.stride == 0 && t / self.stride < self.q).then_some(t / self.stride)
    }
}

crate::ops::family::variant_enum! {
    /// A convolution variant.
    pub enum ConvVariant("conv") {
        /// One thread per output element, (c|k, r, s) order.
        Direct = "direct",
        /// Implicit GEMM in shared-memory tiles, (r, s, c|k) order.
        Tiled = "tiled",
        /// bwd_weight: chunk partials added with float atomics.
        Atomic = "atomic",
        /// bwd_weight: chunk partials reduced in chunk order.
        Deterministic = "deterministic",
        /// mma.sync tensor-core tiles (CUDA, f16/bf16 inputs).
        TensorCore = "tensor_core",
    }
}

impl ConvVariant {
    pub fn is_atomic(self) -> bool {
        self == ConvVariant::Atomic
    }
}

/// The reduction order of a CPU computation (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// (c, r, s) for fwd, (k, r, s) for bwd_data; bwd_weight (n, p, q) in one chain.
    Direct,
    /// (r, s, c) for fwd, (r, s, k) for bwd_data.
    Tiled,
    /// bwd_weight: chunks of `chunk` (n, p, q) indices, partials added in chunk order.
    Chunked { chunk: usize },
}

/// A convolution job.
#[derive(Clone, Debug)]
pub struct ConvJob {
    pub op: Op,
    pub shape: ConvShape,
    /// Storage format of both operands and of the output.
    pub precision: Precision,
    /// Accumulation format (never narrower than `precision`).
    pub accumulator: Precision,
    pub variant: ConvVariant,
    pub ordering: Ordering,
    /// First operand: x (fwd), dy (bwd_data, bwd_weight).
    pub a: Vec<f64>,
    /// Second operand: w (fwd, bwd_data), x (bwd_weight).
    pub b: Vec<f64>,
    pub launch: Launch,
    pub runs: usize,
    /// bwd_weight: (n, p, q) indices per chunk; 0 for the other ops.
    pub chunk: usize,
}

/// Chunk length of the bwd_weight split: at least one reduction tile, at most
/// [`MAX_CHUNKS`] chunks, a multiple of [`TILE`].
pub fn chunk_len(npq: usize) -> usize {
    npq.div_ceil(MAX_CHUNKS).next_multiple_of(TILE).max(TILE)
}

impl ConvJob {
    /// A job on the caller's values. `a` and `b` are the operands of the table in the
    /// module docs, already representable in `precision`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        op: Op,
        shape: ConvShape,
        precision: Precision,
        accumulator: Precision,
        variant: ConvVariant,
        a: Vec<f64>,
        b: Vec<f64>,
        workgroup_size: u32,
        runs: usize,
    ) -> Result<Self, DetError> {
        if !is_conv(op) {
            return Err(DetError::input(format!("{op} is not a convolution")));
        }
        check_formats(precision, accumulator)?;
        if !variants(op).contains(&variant.name()) {
            return Err(DetError::input(format!(
                "variant {} is not a variant of {op} (expected {})",
                variant.name(),
                variants(op).join(", ")
            )));
        }
        let (la, lb) = shape.operand_lens(op);
        if a.len() != la || b.len() != lb {
            return Err(DetError::input(format!(
                "{op}: operands have {} and {} values; the shape needs {la} and {lb}",
                a.len(),
                b.len()
            )));
        }
        let npq = shape.n * shape.p * shape.q;
        let chunk = if op == Op::Conv2dBwdWeight {
            chunk_len(npq)
        } else {
            0
        };
        let out = shape.out_len(op);
        let (m, ncol) = gemm_dims(op, &shape);
        let chunks = if op == Op::Conv2dBwdWeight {
            npq.div_ceil(chunk)
        } else {
            1
        };
        let launch = match variant {
            ConvVariant::Direct => Launch {
                workgroup_size,
                workgroups: out.div_ceil(workgroup_size as usize).min(u32::MAX as usize) as u32,
            },
            // Eight warps per 128 x 64 tile (see cuda.rs).
            ConvVariant::TensorCore => Launch {
                workgroup_size: 256,
                workgroups: (m.div_ceil(TC_TILE_M) * ncol.div_ceil(TC_TILE_N) * chunks)
                    .min(u32::MAX as usize) as u32,
            },
            _ => Launch {
                workgroup_size: (TILE * TILE) as u32,
                workgroups: (m.div_ceil(TILE) * ncol.div_ceil(TILE) * chunks).min(u32::MAX as usize)
                    as u32,
            },
        };
        Ok(Self {
            op,
            shape,
            precision,
            accumulator,
            variant,
            ordering: Ordering::initial(variant.is_atomic()),
            a,
            b,
            launch,
            runs,
            chunk,
        })
    }

    /// Number of bwd_weight chunks (1 for the other ops).
    pub fn chunks(&self) -> usize {
        if self.chunk == 0 {
            1
        } else {
            (self.shape.n * self.shape.p * self.shape.q).div_ceil(self.chunk)
        }
    }

    /// The order a CPU emulation of this job's variant uses.
    pub fn order(&self) -> Order {
        match self.variant {
            ConvVariant::Direct => Order::Direct,
            ConvVariant::Tiled => Order::Tiled,
            _ => Order::Chunked { chunk: self.chunk },
        }
    }
}

/// GEMM rows and columns of the output of `op` (rows: output pixels, or K for bwd_weight).
pub fn gemm_dims(op: Op, s: &ConvShape) -> (usize, usize) {
    match op {
        Op::Conv2dBwdData => (s.n * s.h * s.w, s.c),
        Op::Conv2dBwdWeight => (s.k, s.c * s.r * s.s),
        _ => (s.n * s.p * s.q, s.k),
    }
}

/// Rejects accumulators narrower than the inputs, whose rounding the kernels do not model.
pub fn check_formats(precision: Precision, acc: Precision) -> Result<(), DetError> {
    crate::shared::gemm::check_formats("conv", precision, acc)
}

use crate::shared::gemm::{chain_store_bound, compute_format};
pub use crate::shared::gemm::{store_roundoff, tensor_core_bound};

/// The exact value and sum |a_i b_i| of every output element, on all host threads.
pub fn exact_reference(job: &ConvJob) -> (Vec<f64>, Vec<f64>) {
    let (exact, _, mag) = exact_reference_rounded(job);
    (exact, mag)
}

/// [`exact_reference`] plus each exact value rounded once, directly, to the output format
/// (for ULP errors: never exact -> f64 -> output).
pub fn exact_reference_rounded(job: &ConvJob) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let d = exact_reference_full(job);
    (d.exact, d.exact_out, d.mag)
}

/// [`exact_reference_rounded`] with each exact value's rest and the magnitude a device
/// that flushes subnormal operands (of the compute format) drops.
pub fn exact_reference_full(job: &ConvJob) -> Dots {
    let tiny = compute_format(job.precision, job.accumulator).min_normal();
    exact_dots_full(job.shape.out_len(job.op), job.precision, tiny, |idx, t| {
        cpu::for_each_term(
            job.op,
            &job.shape,
            &job.a,
            &job.b,
            idx,
            Order::Direct,
            |x, y| t.add(x, y),
        );
    })
}

/// The convolutions' own case parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvParams {
    /// N,C,H,W,K,R,S,STRIDE,PAD,DILATION as given (checked by [`ConvShape::new`]).
    pub shape: Vec<usize>,
}

impl CaseParams for ConvParams {
    fn shape(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!(self.shape))
    }
}

/// A conv case on the batch axis (`--batch-sizes`): N is the batch, and image n of the
/// first operand (x, or dy for bwd_data) is drawn from its own stream (as matmul's rows of
/// A), so the first images are the same at every N. Cases off the batch axis keep
/// [`ConvParams`] and the one-stream draw the golden fingerprints pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvBatchParams {
    /// As [`ConvParams::shape`], N set to the batch size.
    pub shape: Vec<usize>,
}

impl CaseParams for ConvBatchParams {
    fn shape(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!(self.shape))
    }
}

/// The batch axis: `case` with N = `batch` and per-image streams, and the outputs of one
/// image (K·P·Q for fwd, C·H·W for bwd_data). bwd_weight has none: dw sums over the images.
pub fn with_batch(case: &Case, batch: usize) -> Result<Option<(Case, usize)>, DetError> {
    if case.op == Op::Conv2dBwdWeight {
        return Ok(None);
    }
    let mut raw = case_raw_shape(case);
    raw[0] = batch;
    let shape = ConvShape::new(&raw)?;
    let out_len = shape.out_len(case.op);
    let c = Case {
        size: out_len,
        params: FamilyParams::new(ConvBatchParams { shape: raw }),
        ..case.clone()
    };
    Ok(Some((c, out_len / batch)))
}

/// The shape a case asks for, as given ([`DEFAULT_SHAPE`] when it carries none).
fn case_raw_shape(case: &Case) -> Vec<usize> {
    if let Some(b) = case.params.get::<ConvBatchParams>() {
        return b.shape.clone();
    }
    case.params
        .get::<ConvParams>()
        .map_or_else(|| DEFAULT_SHAPE.to_vec(), |p| p.shape.clone())
}

/// Builds the job (without the reference) for a case: the bench uses this directly.
pub fn build_job(case: &Case) -> Result<ConvJob, DetError> {
    let variant: ConvVariant = case.variant.parse().map_err(DetError::input)?;
    let raw = case_raw_shape(case);
    let per_image = case.params.get::<ConvBatchParams>().is_some();
    let shape = ConvShape::new(&raw)?;
    check_formats(case.precision, case.accumulator)?;
    let (la, lb) = shape.operand_lens(case.op);
    let total = la as u128 + lb as u128 + shape.out_len(case.op) as u128;
    if total > u32::MAX as u128 {
        return Err(DetError::input(format!(
            "conv shape {raw:?}: {total} values exceed the 2^32 elements a kernel indexes"
        )));
    }
    crate::shared::host::check_host_size(total as usize)?;
    let gen = |n: usize, stream: u64| -> Result<Vec<f64>, DetError> {
        let v = inputs::generate(&case.input, case.precision, n, case.seed, stream)?;
        if v.len() != n {
            return Err(DetError::input(format!(
                "{}: the input file has {} values; conv shape {raw:?} needs {n} for the first operand",
                case.op,
                v.len()
            )));
        }
        Ok(v)
    };
    let a = if per_image {
        crate::ops::common::batch_rows(case, shape.n, la / shape.n, "the first conv operand")?
    } else {
        gen(la, 0)?
    };
    let b = match &case.input {
        // A user's file gives the first operand; the second is drawn normal from the seed.
        inputs::InputSpec::File(_) => {
            inputs::generate(&inputs::InputSpec::Normal, case.precision, lb, case.seed, 1)?
        }
        _ => gen(lb, 1)?,
    };
    ConvJob::new(
        case.op,
        shape,
        case.precision,
        case.accumulator,
        variant,
        a,
        b,
        case.workgroup_size,
        case.runs,
    )
}

/// Builds the job, the exact reference and the per-element bounds for one conv case.
pub fn prepare(case: &Case) -> Result<Prepared, DetError> {
    prepare_job(build_job(case)?)
}

/// [`prepare`] for a given job (`reveal` probes one output element with crafted operands).
pub fn prepare_job(job: ConvJob) -> Result<Prepared, DetError> {
    let Dots {
        exact,
        exact_out,
        rest,
        mag,
        flushable,
    } = exact_reference_full(&job);
    let l = job.shape.reduction_len(job.op);
    let acc = job.accumulator;
    let out_p = job.precision;
    // Underflow (issue 11): each of the l products (or fused multiply-adds) can add half
    // the accumulator's smallest subnormal, fl(x*y) = x*y(1 + d) + e (a whole one here:
    // half of f64's is not representable); a device that flushes subnormal results loses
    // up to the compute format's smallest normal per product and per addition (issue 24),
    // and the products of operands it flushes (`flushable`).
    let eta = l as f64 * acc.min_subnormal()
        + (2 * l + 2 + job.chunks()) as f64 * compute_format(out_p, acc).min_normal();
    let g = if job.variant == ConvVariant::TensorCore {
        tensor_core_bound(l)
    } else {
        gamma(l as u64, acc.unit_roundoff())
    };
    let bounds: Vec<Option<f64>> = exact
        .iter()
        .zip(&mag)
        .zip(&flushable)
        .map(|((&e, &m), &f)| {
            g.and_then(|g| chain_store_bound(g, m, eta + f, e.abs().next_up(), out_p, acc))
        })
        .collect();
    let mut cond = 0.0f64;
    for (&e, &m) in exact.iter().zip(&mag) {
        if e != 0.0 {
            cond = cond.max(m / e.abs());
        }
    }
    let out = job.shape.out_len(job.op);
    let bytes = (job.a.len() + job.b.len() + out) as f64 * out_p.bytes() as f64;
    let (na, nb) = match job.op {
        Op::Conv2dBwdData => ("dy", "w"),
        Op::Conv2dBwdWeight => ("dy", "x"),
        _ => ("x", "w"),
    };
    let sha = format!(
        "{}+{}",
        inputs::checksum(out_p, &job.a),
        inputs::checksum(out_p, &job.b)
    );
    let dumps = vec![
        (
            na.to_string(),
            out_p,
            std::sync::Arc::new(Values::copy_of(out_p, &job.a)),
        ),
        (
            nb.to_string(),
            out_p,
            std::sync::Arc::new(Values::copy_of(out_p, &job.b)),
        ),
    ];
    let note = format!(
        "shape {:?} -> {}x{} output; L = {l}{}",
        job.shape.to_vec(),
        job.shape.p,
        job.shape.q,
        if job.chunk > 0 {
            format!(", {} chunks of {}", job.chunks(), job.chunk)
        } else {
            String::new()
        }
    );
    Ok(Prepared {
        phases: Vec::new(),
        job: Job::Conv(job),
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
    })
}

/// Expands conv cases over the requested shapes (default [`DEFAULT_SHAPE`]); `--size` does
/// not apply to conv, so repeats that differ only in size are dropped, and each case's size
/// becomes its number of output elements.
pub fn expand_shapes(cases: Vec<Case>, shapes: &[Vec<usize>]) -> Result<Vec<Case>, DetError> {
    let default = vec![DEFAULT_SHAPE.to_vec()];
    let shapes = if shapes.is_empty() { &default } else { shapes };
    let first_size = cases.iter().find(|c| is_conv(c.op)).map(|c| c.size);
    let mut out = Vec::with_capacity(cases.len());
    for c in cases {
        if !is_conv(c.op) {
            out.push(c);
            continue;
        }
        if Some(c.size) != first_size {
            continue;
        }
        for s in shapes {
            let shape = ConvShape::new(s)?;
            out.push(Case {
                size: shape.out_len(c.op),
                params: FamilyParams::new(ConvParams { shape: s.clone() }),
                ..c.clone()
            });
        }
    }
    Ok(out)
}

/// Device-independent checks a backend makes before it runs a job.
pub fn check_job(job: &ConvJob) -> Result<(), OpError> {
    check_formats(job.precision, job.accumulator).map_err(OpError::from)?;
    let (la, lb) = job.shape.operand_lens(job.op);
    if job.a.len() != la || job.b.len() != lb {
        return Err(OpError::BadInput(format!(
            "{}: operands do not match the shape",
            job.op
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        let s = ConvShape::new(&[1, 2, 5, 7, 3, 3, 3, 2, 1, 1]).unwrap();
        assert_eq!((s.p, s.q), (3, 4));
        assert!(ConvShape::new(&[1, 2, 5, 7, 3, 3, 3, 0, 1, 1]).is_err());
        assert!(ConvShape::new(&[1, 0, 5, 7, 3, 3, 3, 1, 1, 1]).is_err());
        assert!(ConvShape::new(&[1, 1, 2, 2, 1, 5, 5, 1, 1, 1]).is_err());
        // A filter exactly as large as the padded input gives a 1x1 output.
        let s = ConvShape::new(&[1, 1, 2, 2, 1, 4, 4, 1, 1, 1]).unwrap();
        assert_eq!((s.p, s.q), (1, 1));
        let s = ConvShape::new(&[1, 1, 5, 5, 1, 3, 3, 1, 0, 2]).unwrap();
        assert_eq!((s.p, s.q), (1, 1));
    }

    #[test]
    fn out_row_inverts_in_row() {
        let s = ConvShape::new(&[1, 1, 9, 8, 1, 3, 2, 2, 2, 2]).unwrap();
        for p in 0..s.p {
            for r in 0..s.r {
                if let Some(h) = s.in_row(p, r) {
                    assert_eq!(s.out_row(h, r), Some(p));
                }
            }
        }
    }
}
