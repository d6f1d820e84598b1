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
