//! What the GEMM-shaped families (conv, matmul) share: the accumulator arithmetic of their
//! CPU emulation, the formats they accept, the rounding of the output store and the
//! tensor-core bound.

use crate::error::DetError;
use crate::numerics::bounds::gamma;
use crate::numerics::Precision;

/// Rounds an f32 to a half format (round to nearest even); other formats pass through.
#[inline]
pub fn round_half(p: Precision, v: f32) -> f32 {
    match p {
        Precision::F16 => half::f16::from_f32(v).to_f32(),
        Precision::Bf16 => half::bf16::from_f32(v).to_f32(),
        _ => v,
    }
}

/// The accumulator arithmetic every backend of conv and matmul uses: each product and each
/// sum rounded to the accumulator, never fused.
#[derive(Clone, Copy, Debug)]
pub struct GemmArith {
    /// Accumulation format.
    pub acc: Precision,
    /// Storage format of the output.
    pub out: Precision,
}

impl GemmArith {
    /// acc + a*b with the product and the sum each rounded to the accumulator: never fused
    /// (WGSL's `fma` may or may not fuse, so an unfused step is the one every device can be
    /// made to do exactly).
    #[inline]
    pub fn step(self, acc: f64, a: f64, b: f64) -> f64 {
        match self.acc {
            Precision::F64 => a * b + acc,
            Precision::F32 => ((a as f32) * (b as f32) + acc as f32) as f64,
            h => round_half(h, acc as f32 + round_half(h, a as f32 * b as f32)) as f64,
        }
    }

    /// a + b in the accumulator.
    #[inline]
    pub fn add(self, a: f64, b: f64) -> f64 {
        match self.acc {
            Precision::F64 => a + b,
            Precision::F32 => (a as f32 + b as f32) as f64,
            h => round_half(h, a as f32 + b as f32) as f64,
        }
    }

    /// An accumulator value stored in the output format (f64 -> f32 -> half for f64 -> half).
    #[inline]
    pub fn store(self, v: f64) -> f64 {
        match (self.acc, self.out) {
            (a, o) if a == o => v,
            (_, Precision::F32) => v as f32 as f64,
            (_, h) => round_half(h, v as f32) as f64,
        }
    }
}

/// Rejects accumulators narrower than the inputs, whose rounding the kernels do not model.
/// `what` names the family in the message.
pub fn check_formats(what: &str, precision: Precision, acc: Precision) -> Result<(), DetError> {
    let ok = match acc {
        Precision::F64 => true,
        Precision::F32 => precision != Precision::F64,
        half => half == precision,
    };
    if ok {
        Ok(())
    } else {
        Err(DetError::input(format!(
            "{what}: the accumulator ({acc}) must be at least as wide as the inputs ({precision}); a half accumulator needs inputs of the same format"
        )))
    }
}

/// Unit roundoff of the output store: `u_out` when the accumulator is wider, plus the f32
/// step when an f64 accumulator is stored to a half; 0 when nothing is rounded.
pub fn store_roundoff(precision: Precision, acc: Precision) -> f64 {
    if precision == acc {
        0.0
    } else if acc == Precision::F64 && matches!(precision, Precision::F16 | Precision::Bf16) {
        precision.unit_roundoff()
            + Precision::F32.unit_roundoff() * (1.0 + precision.unit_roundoff())
    } else {
        precision.unit_roundoff()
    }
}

/// The format the kernels compute in: f64 with an f64 accumulator (or inputs), else f32
/// (half accumulators compute in f32 and round after every step). A device that flushes
/// subnormals flushes them in this format.
pub fn compute_format(precision: Precision, acc: Precision) -> Precision {
    if acc == Precision::F64 || precision == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    }
}

/// The absolute part of the output store's rounding for a value of magnitude at least
/// `v_min` (see [`crate::numerics::bounds::underflow_abs`]): a store into the output's
/// subnormal range (or flushed to zero) is not within u_out of the value. 0 when nothing
/// is rounded; with an f64 accumulator stored to a half through f32, both steps.
pub fn store_abs(precision: Precision, acc: Precision, v_min: f64) -> f64 {
    use crate::numerics::bounds::underflow_abs;
    if precision == acc {
        0.0
    } else if acc == Precision::F64 && matches!(precision, Precision::F16 | Precision::Bf16) {
        underflow_abs(precision, v_min) + underflow_abs(Precision::F32, v_min)
    } else {
        underflow_abs(precision, v_min)
    }
}

/// The bound of one output element computed by a chain of rounded accumulator steps and
/// then stored: the chain's error is at most `g * mag + abs * (1 + g)` (`mag` the sum of
/// |terms|, `abs` the underflow and flush-to-zero terms), and the store adds u_out times
/// the stored value plus, where that value may be subnormal in the output, an absolute
/// term ([`store_abs`]). `exact_abs` is |exact| rounded upward. None when a partial sum
/// could round past the accumulator's largest value, or the stored value past the
/// output's (the model assumes no overflow).
pub fn chain_store_bound(
    g: f64,
    mag: f64,
    abs: f64,
    exact_abs: f64,
    precision: Precision,
    acc: Precision,
) -> Option<f64> {
    use crate::numerics::bounds::fits;
    let inner = g * mag + abs * (1.0 + g);
    if !fits(acc, (1.0 + g) * mag + abs * (1.0 + g)) || !fits(precision, exact_abs + inner) {
        return None;
    }
    let us = store_roundoff(precision, acc);
    let store = us * (exact_abs + inner) + store_abs(precision, acc, exact_abs - inner);
    let b = (inner + store) * (1.0 + 4.0 * f64::EPSILON);
    b.is_finite().then_some(b)
}

/// Per-element bound of a tensor-core dot product of length L in f32: NVIDIA tensor cores
/// align the products of one mma block to the largest and truncate (Fasi, Higham, Mikaitis &
/// Pranesh, "Numerical behavior of NVIDIA tensor cores", PeerJ CS 2021), so each of the
/// L/16 block additions may lose up to 2 ulp-sized units per term: gamma_{2L} with the
/// truncation unit 2^-23.
///
/// It also covers bwd_weight's split: chunks of length l_j <= `chunk` each within
/// gamma_{2 l_j + 2}(2^-23) of their own sum of magnitudes, then `chunks` <= 64 partials
/// added in f32 (gamma_{chunks}(2^-24), i.e. chunks/2 units of 2^-23). With two or more
/// chunks L >= (chunks - 1) chunk + 1 and chunk >= 16, so 2 chunk + 2 + chunks/2 <= 2L + 2.
pub fn tensor_core_bound(l: usize) -> Option<f64> {
    gamma(2 * l as u64 + 2, libm::ldexp(1.0, -23))
}

/// Start of the reason `tensor_core` gives on a GPU older than sm_80 (tests match on it).
pub const TENSOR_CORE_ARCH_REASON: &str = "tensor_core needs sm_80 or newer";

/// Why the CUDA `tensor_core` kernels (conv, matmul) cannot run a format pair on a device of
/// compute capability `cc`, if they cannot: they multiply f16 or bf16 in
/// `mma.sync.m16n8k16` (sm_80+) and accumulate in f32, the format [`tensor_core_bound`] is
/// written for.
pub fn tensor_core_unsupported_for(
    precision: Precision,
    accumulator: Precision,
    cc: (i32, i32),
) -> Option<String> {
    if !matches!(precision, Precision::F16 | Precision::Bf16) {
        return Some(format!(
            "tensor_core multiplies f16 or bf16 inputs (mma.sync m16n8k16); {} inputs have no tensor-core path here",
            precision
        ));
    }
    if accumulator != Precision::F32 {
        return Some(format!(
            "tensor_core accumulates in f32 (mma.sync .f32 accumulator); the {} accumulator asked for is not what the tensor cores would compute",
            accumulator
        ));
    }
    if cc.0 < 8 {
        return Some(format!(
            "{TENSOR_CORE_ARCH_REASON} (mma.sync.aligned.m16n8k16 with f16/bf16 inputs); this device is sm_{}{}",
            cc.0, cc.1
        ));
    }
    None
}
