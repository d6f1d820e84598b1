//! The theory behind the bands: Higham's deterministic gamma_k, Higham and Mary's
//! probabilistic bound with lambda solved for the actual n, and the order statistics of
//! empirical maxima.
//!
//! Higham & Mary (SIAM J. Sci. Comput. 41(5), 2019), model: the rounding errors delta_i of
//! the additions (and products) are independent random variables of mean zero with
//! |delta_i| <= u. Then a product of k factors (1 + delta_i) is 1 + theta with
//! |theta| <= gamma~_k(lambda) = exp(lambda sqrt(k) u + k u^2 / (1 - u)) - 1 with probability
//! at least P(lambda) = 1 - 2 exp(-lambda^2 (1 - u)^2 / 2) (their Theorem 2.4). A sum of n
//! terms (or an inner product) needs one such product per term, so the bound
//! |s^ - s| <= gamma~_k(lambda) sum |x_i| holds for all terms at once with probability at
//! least Q(lambda, n) = 1 - n (1 - P(lambda)) (their inner-product theorem): lambda must grow
//! like sqrt(2 ln n) for a fixed confidence.

/// Higham's gamma_k = k u / (1 - k u); `None` when k u >= 1 (no finite bound).
pub fn gamma(k: u64, u: f64) -> Option<f64> {
    crate::numerics::bounds::gamma(k, u)
}

/// Probability that one product of factors (1 + delta) escapes the bound: 1 - P(lambda).
pub fn hm_escape(lambda: f64, u: f64) -> f64 {
    2.0 * (-(lambda * (1.0 - u)).powi(2) / 2.0).exp()
}

/// Q(lambda, n) = 1 - n (1 - P(lambda)): the probability that the bound holds for the whole
/// sum of n terms (it may be negative: then the bound says nothing).
pub fn hm_q(lambda: f64, n: u64, u: f64) -> f64 {
    1.0 - n as f64 * hm_escape(lambda, u)
}

/// The smallest lambda with Q(lambda, n) >= C: lambda = sqrt(2 ln(2 n / (1 - C))) / (1 - u).
pub fn hm_lambda(n: u64, confidence: f64, u: f64) -> f64 {
    let n = n.max(1) as f64;
    (2.0 * (2.0 * n / (1.0 - confidence)).ln()).sqrt() / (1.0 - u)
}

/// gamma~_k(lambda) = exp(lambda sqrt(k) u + k u^2 / (1 - u)) - 1 (valid to all orders).
pub fn hm_gamma(k: u64, u: f64, lambda: f64) -> f64 {
    let k = k as f64;
    (lambda * k.sqrt() * u + k * u * u / (1.0 - u)).exp_m1()
}

/// Samples m for which the maximum of m exchangeable samples is a one-sided tolerance bound
/// with content C at confidence C (Wilks, 1941): the content of the maximum is Beta(m, 1),
/// so P(content >= C) = 1 - C^m >= C, m >= ln(1 - C) / ln C. 22 at C = 0.9, 59 at 0.95
/// (the "59 runs" of 95/95 bounds), 459 at 0.99. The weaker m >= C / (1 - C) only makes the
/// *average* coverage m / (m + 1) reach C: one fitted band then falls short about as often
/// as not.
pub fn runs_needed(confidence: f64) -> u64 {
    // A tiny epsilon keeps exact cases (C = 0.5: m = 1) from rounding up.
    ((1.0 - confidence).ln() / confidence.ln() - 1e-9)
        .ceil()
        .max(1.0) as u64
}

/// The coverage that the maximum of m samples reaches with confidence `level`: the
/// coverage of a maximum is Beta(m, 1), P(coverage >= c) = 1 - c^m, so c = (1 - level)^(1/m).
pub fn coverage_lower(m: u64, level: f64) -> f64 {
    if m == 0 {
        return 0.0;
    }
    (1.0 - level).powf(1.0 / m as f64)
}

/// The empirical band of a sample: its maximum, and what that maximum guarantees.
#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct EmpiricalBand {
    /// Largest observation.
    pub value: f64,
    /// Samples per configuration (the fewest of any configuration): m.
    pub runs: u64,
    /// Probability that one more sample stays at or below `value`: m / (m + 1) (the
    /// average over fitted bands).
    pub coverage: f64,
    /// Coverage reached with confidence C: (1 - C)^(1/m).
    pub coverage_at_confidence: f64,
    /// Samples needed for coverage >= C at confidence C: Wilks' ceil(ln(1 - C) / ln C).
    pub runs_needed: u64,
    /// Whether `runs >= runs_needed`.
    pub sufficient: bool,
}

/// The empirical band of a maximum over `runs` samples.
pub fn empirical_band_of_max(max: f64, runs: u64, confidence: f64) -> EmpiricalBand {
    let need = runs_needed(confidence);
    EmpiricalBand {
        value: max,
        runs,
        coverage: runs as f64 / (runs as f64 + 1.0),
        coverage_at_confidence: coverage_lower(runs, confidence),
        runs_needed: need,
        sufficient: runs >= need,
    }
}

/// The empirical band of a sample of errors.
pub fn empirical_band(samples: &[f64], confidence: f64) -> EmpiricalBand {
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    empirical_band_of_max(max, samples.len() as u64, confidence)
}

/// P(X >= k) for X ~ Binomial(n, p): how likely `k` or more misses are from a band whose
/// true miss rate is p.
pub fn binomial_sf(k: u64, n: u64, p: f64) -> f64 {
    use statrs::distribution::{Binomial, DiscreteCDF};
    if k == 0 {
        return 1.0;
    }
    match Binomial::new(p.clamp(0.0, 1.0), n) {
        Ok(b) => b.sf(k - 1),
        Err(_) => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_solves_q_for_the_actual_n() {
        let u = 2f64.powi(-24);
        for n in [1u64, 100, 100_000, 1 << 28] {
            for c in [0.9, 0.99, 0.999] {
                let l = hm_lambda(n, c, u);
                assert!((hm_q(l, n, u) - c).abs() < 1e-12, "n {n} C {c}");
                assert!(hm_q(l * 0.999, n, u) < c);
            }
        }
        assert!(hm_lambda(100_000, 0.9, u) > hm_lambda(1000, 0.9, u));
    }

    #[test]
    fn runs_needed_matches_order_statistics() {
        assert_eq!(runs_needed(0.5), 1);
        assert_eq!(runs_needed(0.9), 22);
        assert_eq!(runs_needed(0.95), 59);
        assert_eq!(runs_needed(0.99), 459);
        for c in [0.5, 0.8, 0.9, 0.95, 0.99] {
            let m = runs_needed(c) as i32;
            assert!(1.0 - c.powi(m) >= c && 1.0 - c.powi(m - 1) < c, "{c}");
        }
        let b = empirical_band(&[1.0, 3.0, 2.0, 0.5, 1.5, 2.5, 0.1], 0.75);
        assert_eq!(b.value, 3.0);
        assert!(b.sufficient, "{b:?}");
        assert!((b.coverage - 0.875).abs() < 1e-12);
        assert!(b.coverage_at_confidence >= 0.75);
        assert!(!empirical_band(&[1.0, 3.0], 0.75).sufficient);
        // 1 - c^m = level at c = coverage_lower.
        let c = coverage_lower(22, 0.9);
        assert!((1.0 - c.powi(22) - 0.9).abs() < 1e-12);
        assert!((binomial_sf(1, 10, 0.1) - (1.0 - 0.9f64.powi(10))).abs() < 1e-12);
    }
}
