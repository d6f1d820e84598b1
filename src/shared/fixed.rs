//! Fixed-point accumulation: the scale, the quantisation of one term and the value of a
//! total, identical for every family and backend.

use crate::numerics::bounds::ceil_log2;
use crate::numerics::Precision;

/// Scale exponent k for fixed_point: n * max|x| * 2^k stays below 2^61, so no sum of
/// the scaled, rounded values can overflow int64.
pub fn fixed_scale(n: usize, max_abs: f64) -> i32 {
    let e_m = if max_abs > 0.0 {
        libm::ilogb(max_abs)
    } else {
        -1074
    };
    (61 - ceil_log2(n as u64) as i32 - (e_m + 1)).min(1074)
}

/// Value of a fixed-point total: N * 2^-k, rounded to f64 and then to the accumulator.
pub fn fixed_to_value(total: i64, k: i32, acc: Precision) -> f64 {
    acc.round(libm::ldexp(total as f64, -k))
}

/// Scaled, rounded fixed-point integer of one term, and whether bits were lost.
pub fn fixed_quantize(v: f64, k: i32) -> (i64, bool) {
    let scaled = libm::ldexp(v, k);
    let q = scaled.round_ties_even();
    (q as i64, q != scaled)
}

/// Message for fixed-point precision loss, shared by every backend.
pub fn fixed_message(lost: u64, n: usize, k: i32) -> String {
    if lost == 0 {
        format!("fixed-point scale 2^{k}: exact, no bits lost")
    } else {
        format!("fixed-point scale 2^{k}: {lost} of {n} terms lost bits below 2^-{k} (included in error_bound)")
    }
}
