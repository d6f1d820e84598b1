//! ULP distances between values of one format.

use super::Precision;

/// Map a value's bits to a signed integer that is monotone in the value, so the
/// difference of two such integers counts the representable values between them.
/// +0 and -0 both map to 0.
fn ordered(p: Precision, x: f64) -> i128 {
    let bits = p.bits(x) as i128;
    let width = (p.bytes() * 8) as u32;
    let sign = 1i128 << (width - 1);
    let magnitude = bits & (sign - 1);
    if bits & sign != 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// Number of representable values of `p` between `a` and `b` (both already
/// representable in `p`). NaN against anything is `u64::MAX`.
///
/// ```
/// use detbench::numerics::{ulp::ulp_distance, Precision};
/// let next = f32::from_bits(1.0f32.to_bits() + 1) as f64;
/// assert_eq!(ulp_distance(Precision::F32, 1.0, next), 1);
/// assert_eq!(ulp_distance(Precision::F32, 0.0, -0.0), 0);
/// ```
pub fn ulp_distance(p: Precision, a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    let d = (ordered(p, a) - ordered(p, b)).unsigned_abs();
    d.min(u64::MAX as u128) as u64
}

/// Distance in ULPs between a computed value and the exact one: the exact value is
/// first rounded to the computed value's format.
pub fn ulp_error(p: Precision, computed: f64, exact: f64) -> u64 {
    ulp_distance(p, computed, p.round(exact))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_are_one_apart() {
        let x = 1.0f32;
        let next = f32::from_bits(x.to_bits() + 1);
        assert_eq!(ulp_distance(Precision::F32, x as f64, next as f64), 1);
        assert_eq!(ulp_distance(Precision::F32, 0.0, -0.0), 0);
        let tiny = f32::from_bits(1) as f64;
        assert_eq!(ulp_distance(Precision::F32, tiny, -tiny), 2);
    }
}
