//! A-priori forward error bounds (Higham, "Accuracy and Stability of Numerical
//! Algorithms", 2nd ed., ch. 3 and 4; Higham & Mary, SIAM J. Sci. Comput. 41(5), 2019).

use super::Precision;

/// Higham's gamma_k = k u / (1 - k u); `None` when k u >= 1 (no finite bound).
pub fn gamma(k: u64, u: f64) -> Option<f64> {
    let ku = k as f64 * u;
    if ku >= 1.0 {
        None
    } else {
        Some(ku / (1.0 - ku))
    }
}

/// The absolute part of one rounding to `p` of a value whose magnitude is at least
/// `v_min`, in the model fl(v) = v(1 + d) + e: 0 when v stays in the normal range (then
/// |fl(v) - v| <= u|v|); else the smallest normal, which covers both gradual underflow
/// (|e| <= half the smallest subnormal) and a device that flushes a subnormal result to
/// zero (|e| = |v| < the smallest normal).
pub fn underflow_abs(p: Precision, v_min: f64) -> f64 {
    if v_min >= p.min_normal() {
        0.0
    } else {
        p.min_normal()
    }
}

/// Whether a chain of roundings whose every partial result is at most `reach` in
/// magnitude (an upper bound, e.g. (1 + gamma) sum |terms|) stays below `p`'s overflow:
/// the rounding model assumes it does, and a value that rounds past the largest finite
/// one is infinite, which no bound covers.
pub fn fits(p: Precision, reach: f64) -> bool {
    reach < p.max_finite()
}

/// Higham and Mary's probabilistic constant: with probability at least
/// 1 - 2 exp(-lambda^2 (1-u)^2 / 2), the error of a length-n summation tree of height k is
/// below lambda sqrt(k) u (1 + O(u)) times the sum of magnitudes.
pub fn lambda_for_confidence(confidence: f64) -> f64 {
    // Solve 1 - 2 exp(-l^2/2) = c  =>  l = sqrt(2 ln(2 / (1 - c))).
    let c = confidence.clamp(0.0, 1.0 - 1e-16);
    (2.0 * (2.0 / (1.0 - c)).ln()).sqrt()
}

/// Probabilistic relative-to-sum-of-magnitudes bound gamma~_k(lambda).
pub fn probabilistic_gamma(k: u64, u: f64, lambda: f64) -> f64 {
    let x = lambda * (k as f64).sqrt() * u;
    // exp(x) - 1 keeps the bound valid beyond first order (Higham & Mary, Thm 3.1).
    x.exp_m1()
}

/// Bits needed to count to n: ceil(log2(n)), 0 for n <= 1.
pub fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_small_and_none() {
        assert!((gamma(10, 1e-8).unwrap() - 1e-7).abs() < 1e-13);
        assert!(gamma(1 << 30, 2f64.powi(-24)).is_none());
        assert_eq!(ceil_log2(1), 0);
        assert_eq!(ceil_log2(2), 1);
        assert_eq!(ceil_log2(3), 2);
        assert_eq!(ceil_log2(1024), 10);
    }
}
