//! Input vectors held in the narrowest host format that holds every value exactly.
//!
//! Every format detbench stores (f16, bf16, f32) is a subset of f32, so an input in one of
//! them is kept as `f32`, half the bytes of `f64` and a quarter of them for a 2^30-element
//! input; only f64 inputs are kept as `f64`. Readers take values as `f64` (exact), or match
//! on the variant to run a loop on the native slice (see [`on_values`]).

use super::Precision;
use std::borrow::Cow;
use std::ops::Range;

/// A host element type that holds values of a storage format exactly.
pub trait Elem: Copy + Send + Sync + Default + PartialEq + std::fmt::Debug + 'static {
    /// `v`, which the caller guarantees is representable in `Self`.
    fn of(v: f64) -> Self;
    fn get(self) -> f64;
}

impl Elem for f32 {
    #[inline]
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn get(self) -> f64 {
        self as f64
    }
}

impl Elem for f64 {
    #[inline]
    fn of(v: f64) -> Self {
        v
    }
    #[inline]
    fn get(self) -> f64 {
        self
    }
}

/// One input vector, exact in its storage format.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Runs `$body` with `$s` bound to the native slice of a [`Values`], whichever its type:
/// the way a hot loop is written once and compiled for both element types.
#[macro_export]
macro_rules! on_values {
    ($v:expr, $s:ident => $body:expr) => {
        match $v {
            $crate::numerics::values::Values::F32($s) => $body,
            $crate::numerics::values::Values::F64($s) => $body,
        }
    };
}

impl Values {
    /// Whether values of `p` are held as f32.
    pub fn narrow_for(p: Precision) -> bool {
        p != Precision::F64
    }

    /// A copy of `v` (each value exactly representable in `p`) in `p`'s host format, made
    /// without an f64 copy first.
    pub fn copy_of(p: Precision, v: &[f64]) -> Self {
        if Self::narrow_for(p) {
            Values::F32(v.iter().map(|&x| x as f32).collect())
        } else {
            Values::F64(v.to_vec())
        }
    }

    /// `v` (each value exactly representable in `p`) in `p`'s host format.
    pub fn from_f64(p: Precision, v: Vec<f64>) -> Self {
        if Self::narrow_for(p) {
            Values::F32(v.into_iter().map(|x| x as f32).collect())
        } else {
            Values::F64(v)
        }
    }

    pub fn len(&self) -> usize {
        on_values!(self, s => s.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i`, exactly.
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        match self {
            Values::F32(s) => s[i] as f64,
            Values::F64(s) => s[i],
        }
    }

    /// The values as f64: borrowed when they are held as f64, a copy otherwise.
    pub fn to_f64(&self) -> Cow<'_, [f64]> {
        match self {
            Values::F32(s) => Cow::Owned(s.iter().map(|&v| v as f64).collect()),
            Values::F64(s) => Cow::Borrowed(s),
        }
    }

    /// The little-endian bytes of `range` in storage format `p` (what a device uploads,
    /// a `.npy` holds and the input checksum hashes).
    pub fn encode_range(&self, p: Precision, range: Range<usize>) -> Vec<u8> {
        match (self, p) {
            (Values::F32(s), Precision::F32) => bytemuck::cast_slice::<f32, u8>(&s[range]).to_vec(),
            (Values::F32(s), Precision::Bf16) => s[range]
                .iter()
                .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
                .collect(),
            (Values::F32(s), Precision::F16) => s[range]
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
            (Values::F64(s), p) => p.encode(&s[range]),
            (Values::F32(s), Precision::F64) => s[range]
                .iter()
                .flat_map(|&v| (v as f64).to_le_bytes())
                .collect(),
        }
    }

    /// [`Values::encode_range`] of the whole vector.
    pub fn encode(&self, p: Precision) -> Vec<u8> {
        self.encode_range(p, 0..self.len())
    }
}

impl From<Vec<f64>> for Values {
    fn from(v: Vec<f64>) -> Self {
        Values::F64(v)
    }
}

impl From<Vec<f32>> for Values {
    fn from(v: Vec<f32>) -> Self {
        Values::F32(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_storage_format_round_trips_through_f32_storage() {
        let vals = [1.5, -0.0, 65504.0, 2f64.powi(-24), 3.0e38];
        for p in [
            Precision::F16,
            Precision::Bf16,
            Precision::F32,
            Precision::F64,
        ] {
            let v: Vec<f64> = vals.iter().map(|&x| p.round(x)).collect();
            let held = Values::from_f64(p, v.clone());
            assert_eq!(matches!(held, Values::F32(_)), p != Precision::F64);
            assert_eq!(held.to_f64().as_ref(), &v[..], "{p}");
            assert_eq!(held.encode(p), p.encode(&v), "{p}");
            assert_eq!(held.encode_range(p, 1..4), p.encode(&v[1..4]), "{p}");
        }
    }
}
