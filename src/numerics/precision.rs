//! Floating-point formats detbench measures, and exact conversions between them.
//!
//! Every value on the host is carried as an `f64`: f64 holds every f32, f16 and bf16
//! value exactly, so "round to the format, keep as f64" loses nothing and lets the
//! oracle, the metrics and the CPU emulations share one representation.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A floating-point storage or accumulation format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F64,
    F32,
    F16,
    Bf16,
}

impl Precision {
    pub const ALL: [Precision; 4] = [
        Precision::F64,
        Precision::F32,
        Precision::F16,
        Precision::Bf16,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// Bytes per element in device memory.
    pub fn bytes(self) -> usize {
        match self {
            Precision::F64 => 8,
            Precision::F32 => 4,
            Precision::F16 | Precision::Bf16 => 2,
        }
    }

    /// Significand precision p in bits, the implicit bit included.
    pub fn mantissa_bits(self) -> u32 {
        match self {
            Precision::F64 => 53,
            Precision::F32 => 24,
            Precision::F16 => 11,
            Precision::Bf16 => 8,
        }
    }

    /// Unit roundoff u = 2^-p for round-to-nearest.
    pub fn unit_roundoff(self) -> f64 {
        libm::ldexp(1.0, -(self.mantissa_bits() as i32))
    }

    /// Largest finite value.
    pub fn max_finite(self) -> f64 {
        match self {
            Precision::F64 => f64::MAX,
            Precision::F32 => f32::MAX as f64,
            Precision::F16 => half::f16::MAX.to_f64(),
            Precision::Bf16 => half::bf16::MAX.to_f64(),
        }
    }

    /// Smallest positive normal value.
    pub fn min_normal(self) -> f64 {
        match self {
            Precision::F64 => f64::MIN_POSITIVE,
            Precision::F32 => f32::MIN_POSITIVE as f64,
            Precision::F16 => half::f16::MIN_POSITIVE.to_f64(),
            Precision::Bf16 => half::bf16::MIN_POSITIVE.to_f64(),
        }
    }

    /// Exponent of the smallest positive normal value (2^emin).
    pub fn emin(self) -> i32 {
        match self {
            Precision::F64 => -1022,
            Precision::F32 | Precision::Bf16 => -126,
            Precision::F16 => -14,
        }
    }

    /// Smallest positive subnormal value, 2^(emin - p + 1).
    pub fn min_subnormal(self) -> f64 {
        libm::ldexp(1.0, self.emin() - self.mantissa_bits() as i32 + 1)
    }

    /// Round an f64 to this format (round to nearest, ties to even), returned as f64.
    ///
    /// f16 and bf16 are rounded here rather than by the `half` crate, whose f64
    /// conversions depend on the host (with F16C it goes through f32, without it it
    /// truncates first): inputs and CPU emulations must be the same on every platform.
    #[inline]
    pub fn round(self, x: f64) -> f64 {
        match self {
            Precision::F64 => x,
            Precision::F32 => x as f32 as f64,
            Precision::F16 => round_to_format(x, 11, -14, self.max_finite()),
            Precision::Bf16 => round_to_format(x, 8, -126, self.max_finite()),
        }
    }

    /// The raw bits of `x` (already representable) in this format, widened to u64.
    pub fn bits(self, x: f64) -> u64 {
        match self {
            Precision::F64 => x.to_bits(),
            Precision::F32 => (x as f32).to_bits() as u64,
            Precision::F16 => half::f16::from_f64(x).to_bits() as u64,
            Precision::Bf16 => half::bf16::from_f64(x).to_bits() as u64,
        }
    }

    /// Little-endian device bytes of the values, each rounded to this format.
    pub fn encode(self, values: &[f64]) -> Vec<u8> {
        let mut out = Vec::with_capacity(values.len() * self.bytes());
        for &v in values {
            match self {
                Precision::F64 => out.extend_from_slice(&v.to_le_bytes()),
                Precision::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
                Precision::F16 => out.extend_from_slice(&half::f16::from_f64(v).to_le_bytes()),
                Precision::Bf16 => out.extend_from_slice(&half::bf16::from_f64(v).to_le_bytes()),
            }
        }
        out
    }

    /// Inverse of [`Precision::encode`].
    pub fn decode(self, bytes: &[u8]) -> Vec<f64> {
        match self {
            Precision::F64 => bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")))
                .collect(),
            Precision::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4-byte chunk")) as f64)
                .collect(),
            Precision::F16 => bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
                .collect(),
            Precision::Bf16 => bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
                .collect(),
        }
    }
}

/// Correct round-to-nearest-even of `x` to a binary format with a `p`-bit significand,
/// minimum normal exponent `emin` (gradual underflow below it) and largest finite `max`.
/// Scaling by the quantum is exact (a power of two), and `round_ties_even` on an f64 is
/// exact, so the only rounding is the one asked for.
fn round_to_format(x: f64, p: i32, emin: i32, max: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let e = libm::ilogb(x).max(emin);
    let quantum = libm::ldexp(1.0, e - (p - 1));
    let r = (x / quantum).round_ties_even() * quantum;
    if r.abs() > max {
        f64::INFINITY.copysign(x)
    } else {
        r
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f64" | "fp64" | "double" => Ok(Precision::F64),
            "f32" | "fp32" | "float" => Ok(Precision::F32),
            "f16" | "fp16" | "half" => Ok(Precision::F16),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            other => Err(format!(
                "unknown precision '{other}' (expected f64, f32, f16 or bf16)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_roundtrip() {
        let vals = [0.0, -1.5, 3.25, 1e-3, 65504.0];
        for p in Precision::ALL {
            let rounded: Vec<f64> = vals.iter().map(|&v| p.round(v)).collect();
            assert_eq!(p.decode(&p.encode(&rounded)), rounded, "{p}");
        }
    }

    #[test]
    fn rounding_matches_half_for_exact_f32_paths() {
        // Where the half crate's conversion is exact (f32 sources), both must agree.
        let mut s = 0x9e3779b97f4a7c15u64;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = f32::from_bits((s >> 32) as u32);
            if !x.is_finite() {
                continue;
            }
            let a = Precision::F16.round(x as f64);
            let b = half::f16::from_f32(x).to_f64();
            assert!(
                a == b || (a.is_nan() && b.is_nan()),
                "f16 {x:e}: {a:e} vs {b:e}"
            );
            let a = Precision::Bf16.round(x as f64);
            let b = half::bf16::from_f32(x).to_f64();
            assert!(
                a == b || (a.is_nan() && b.is_nan()),
                "bf16 {x:e}: {a:e} vs {b:e}"
            );
        }
        // A tie with a sticky bit far below f32 precision: 1 + 2^-8 + 2^-40 rounds up in bf16.
        let x = 1.0 + libm::ldexp(1.0, -8) + libm::ldexp(1.0, -40);
        assert_eq!(Precision::Bf16.round(x), 1.0 + libm::ldexp(1.0, -7));
        assert_eq!(Precision::F16.round(70000.0), f64::INFINITY);
        assert_eq!(Precision::F16.round(libm::ldexp(1.0, -25)), 0.0); // tie to even (zero)
        assert_eq!(
            Precision::F16.round(libm::ldexp(1.5, -25)),
            libm::ldexp(1.0, -24)
        );
    }

    #[test]
    fn unit_roundoff_matches_epsilon() {
        assert_eq!(Precision::F32.unit_roundoff(), f32::EPSILON as f64 / 2.0);
        assert_eq!(Precision::F64.unit_roundoff(), f64::EPSILON / 2.0);
    }
}
