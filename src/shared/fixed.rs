//! Fixed-point accumulation: the scale, the quantisation of one term and the value of a
//! total, identical for every family and backend.

use crate::numerics::bounds::ceil_log2;
use crate::numerics::Precision;

/// Scale exponent k for fixed_point: n * max|x| * 2^k stays below 2^61, so no sum of
/// the scaled, rounded values can overflow int64. `max_abs` must be finite (non-finite
/// terms are refused by the families' `check_job`); a non-finite one is treated as the
/// largest f64 rather than overflowing the exponent arithmetic (ilogb(inf) = i32::MAX).
pub fn fixed_scale(n: usize, max_abs: f64) -> i32 {
    let e_m = if max_abs.is_nan() || max_abs.is_infinite() {
        1023
    } else if max_abs > 0.0 {
        libm::ilogb(max_abs)
    } else {
        -1074
    };
    (61 - ceil_log2(n as u64) as i32 - (e_m + 1)).min(1074)
}

/// Value of a fixed-point total: N * 2^-k rounded once, to nearest even, straight to the
/// accumulator format (N can need 63 bits, so N as f64 would already round).
pub fn fixed_to_value(total: i64, k: i32, acc: Precision) -> f64 {
    let mut e = crate::numerics::exact::ExactAcc::new();
    // Both halves are exact in f64: 31 significant bits each (hi is a multiple of 2^32).
    let hi = (total >> 32) << 32;
    let lo = total - hi;
    let (a, b) = (hi as f64, lo as f64);
    // 2^-k as two exact factors (k ranges past f64's exponents); v * half is exact for
    // |v| < 2^64 with 32 significant bits, and the oracle's products keep every bit.
    let half = libm::ldexp(1.0, -(k / 2));
    let rest = libm::ldexp(1.0, -(k - k / 2));
    e.add_product(a * half, rest);
    e.add_product(b * half, rest);
    e.value_in(acc)
}

/// Scaled, rounded fixed-point integer of one term, and whether bits were lost. A
/// non-finite term (refused by `check_job` before any kernel runs) quantizes to 0, lost.
pub fn fixed_quantize(v: f64, k: i32) -> (i64, bool) {
    if !v.is_finite() {
        return (0, true);
    }
    // ldexp is exact unless its result is below f64's normal range; such a result always
    // rounds to q = 0, and when ldexp itself underflows to 0.0 the comparison alone would
    // miss that v's bits were dropped (k < 0 with a tiny v): that case is lost too, as the
    // kernels' bitwise quantizers count it.
    let scaled = libm::ldexp(v, k);
    let q = scaled.round_ties_even();
    (q as i64, q != scaled || (q == 0.0 && v != 0.0))
}

/// Message for fixed-point precision loss, shared by every backend.
pub fn fixed_message(lost: u64, n: usize, k: i32) -> String {
    if lost == 0 {
        format!("fixed-point scale 2^{k}: exact, no bits lost")
    } else {
        format!(
            "fixed-point scale 2^{k}: {lost} of {n} terms lost bits below 2^{} (included in error_bound)",
            -k
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_counts_terms_that_underflow_in_the_scaling() {
        // k = -941 (f64 terms near 2^1000): 2^-200 * 2^-941 underflows to 0.0.
        let k = fixed_scale(2, libm::ldexp(1.0, 1000));
        assert!(k < -900, "k = {k}");
        assert_eq!(fixed_quantize(libm::ldexp(1.0, -200), k), (0, true));
        assert_eq!(fixed_quantize(-f64::from_bits(1), k), (0, true));
        assert_eq!(fixed_quantize(0.0, k), (0, false));
        assert_eq!(
            fixed_quantize(libm::ldexp(1.0, 1000), k),
            (1i64 << 59, false)
        );
        assert_eq!(fixed_quantize(f64::INFINITY, k), (0, true));
    }
}
