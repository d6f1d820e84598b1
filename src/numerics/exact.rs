//! The exact oracle: sums and dot products computed without any rounding until the
//! single final rounding to f64.
//!
//! Why this is written here rather than taken from a crate: both exact-summation crates
//! tried failed the tests in tests/oracle.rs. `xsum` 0.1.6 misrounds
//! [-0.9198811488056671, 1e10, -1e10], and `accurate` 0.4.1's iFastSum trips its own
//! `round3` invariant on ill-conditioned half-precision sums. The oracle is the yardstick
//! for every error figure, so it is a plain fixed-point superaccumulator (the idea of
//! Kulisch's long accumulator) that is easy to check by reading: every f64 is an integer
//! multiple of 2^-1074, so the sum is an integer held in 32-bit limbs with 64-bit
//! headroom, and the final rounding to f64 is done once, to nearest even.

/// Limbs of 32 bits: 2^-1074 .. 2^1024 needs 2098 bits, plus room for carries and for
/// sums of up to 2^60 terms.
const LIMBS: usize = 70;
/// Adds between carry propagations; each add puts < 2^32 into a limb, so 2^30 adds keep
/// every limb far from i64 overflow.
const ADDS_PER_NORMALIZE: u32 = 1 << 30;

/// An exact accumulator of f64 terms and exact products.
#[derive(Clone)]
pub struct ExactAcc {
    limbs: [i64; LIMBS],
    adds: u32,
    /// Number of terms added, used to size bounds.
    pub terms: usize,
    /// Set when a non-finite term was added; the value is then NaN.
    non_finite: bool,
}

impl Default for ExactAcc {
    fn default() -> Self {
        Self {
            limbs: [0; LIMBS],
            adds: 0,
            terms: 0,
            non_finite: false,
        }
    }
}

impl ExactAcc {
    pub fn new() -> Self {
        Self::default()
    }

    fn deposit(&mut self, x: f64) {
        if !x.is_finite() {
            self.non_finite = true;
            return;
        }
        if x == 0.0 {
            return;
        }
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as u32;
        let frac = bits & ((1u64 << 52) - 1);
        // x = mant * 2^(pos - 1074) with pos >= 0.
        let (mant, pos) = if biased == 0 {
            (frac, 0u32)
        } else {
            (frac | (1u64 << 52), biased - 1)
        };
        let (limb, off) = ((pos / 32) as usize, pos % 32);
        let v = (mant as u128) << off;
        let sign = if bits >> 63 == 1 { -1i64 } else { 1 };
        for k in 0..3 {
            let chunk = ((v >> (32 * k)) & 0xffff_ffff) as i64;
            self.limbs[limb + k] += sign * chunk;
        }
        self.adds += 1;
        if self.adds == ADDS_PER_NORMALIZE {
            self.normalize();
        }
    }

    /// Propagates carries so every limb but the top is in [0, 2^32).
    fn normalize(&mut self) {
        let mut carry: i64 = 0;
        for k in 0..LIMBS - 1 {
            let t = self.limbs[k] + carry;
            self.limbs[k] = t & 0xffff_ffff;
            carry = t >> 32; // arithmetic shift: floor division
        }
        self.limbs[LIMBS - 1] += carry;
        self.adds = 0;
    }

    pub fn add(&mut self, x: f64) {
        self.deposit(x);
        self.terms += 1;
    }

    /// Adds x*y exactly: the product is split into its rounded value and the rounding
    /// error with one fused multiply-add (exact unless the product underflows).
    pub fn add_product(&mut self, x: f64, y: f64) {
        let p = x * y;
        let e = x.mul_add(y, -p);
        self.deposit(p);
        self.deposit(e);
        self.terms += 1;
    }

    /// The exact value correctly rounded to f64 (ties to even).
    pub fn value(&self) -> f64 {
        if self.non_finite {
            return f64::NAN;
        }
        let mut n = self.clone();
        n.normalize();
        let negative = n.limbs[LIMBS - 1] < 0;
        let mut mag = [0u64; LIMBS];
        if negative {
            // Two's complement negation over all limbs.
            let mut carry = 1u64;
            for (m, &limb) in mag.iter_mut().zip(&n.limbs) {
                let t = ((!(limb as u64)) & 0xffff_ffff) + carry;
                *m = t & 0xffff_ffff;
                carry = t >> 32;
            }
        } else {
            for (m, &limb) in mag.iter_mut().zip(&n.limbs) {
                *m = limb as u64;
            }
        }
        let Some(top) = (0..LIMBS).rev().find(|&k| mag[k] != 0) else {
            return 0.0;
        };
        // Position of the most significant bit.
        let msb = top as u32 * 32 + (63 - mag[top].leading_zeros());
        let bit = |i: u32| (mag[(i / 32) as usize] >> (i % 32)) & 1;
        let sign = if negative { -1.0 } else { 1.0 };
        if msb < 53 {
            // Fewer than 54 significant bits above 2^-1074: exactly representable.
            let int = (mag[0] | (mag[1] << 32)) as f64;
            return sign * libm::ldexp(int, -1074);
        }
        // Keep 53 bits [msb-52, msb], round on bit msb-53 and the sticky bits below it.
        let lo = msb - 52;
        let mut m: u64 = 0;
        for i in (lo..=msb).rev() {
            m = (m << 1) | bit(i);
        }
        let round = bit(lo - 1);
        let sticky = (0..lo - 1).any(|i| bit(i) == 1);
        if round == 1 && (sticky || m & 1 == 1) {
            m += 1;
        }
        sign * libm::ldexp(m as f64, lo as i32 - 1074)
    }
}

/// Exact sum of the values, correctly rounded to f64.
///
/// ```
/// use detbench::numerics::exact::exact_sum;
/// // Naive left-to-right summation loses the 1.0 entirely.
/// assert_eq!([1e100, 1.0, -1e100].iter().sum::<f64>(), 0.0);
/// assert_eq!(exact_sum(&[1e100, 1.0, -1e100]), 1.0);
/// ```
pub fn exact_sum(xs: &[f64]) -> f64 {
    let mut acc = ExactAcc::new();
    for &x in xs {
        acc.add(x);
    }
    acc.value()
}

/// Exact dot product, correctly rounded to f64.
pub fn exact_dot(xs: &[f64], ys: &[f64]) -> f64 {
    let mut acc = ExactAcc::new();
    for (&x, &y) in xs.iter().zip(ys) {
        acc.add_product(x, y);
    }
    acc.value()
}

/// Sum of magnitudes, rounded upward enough to be a safe upper bound for bounds.
pub fn sum_abs(xs: &[f64]) -> f64 {
    exact_sum(&xs.iter().map(|x| x.abs()).collect::<Vec<_>>()) * (1.0 + f64::EPSILON)
}

/// Sum of |x_i y_i|, as an upper bound.
pub fn sum_abs_products(xs: &[f64], ys: &[f64]) -> f64 {
    let mut acc = ExactAcc::new();
    for (&x, &y) in xs.iter().zip(ys) {
        acc.add_product(x.abs(), y.abs());
    }
    acc.value() * (1.0 + f64::EPSILON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellation_is_exact() {
        assert_eq!(exact_sum(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(exact_sum(&[0.1, 0.2, 0.3]), 0.6); // math.fsum agrees; naive left-to-right gives 0.6000000000000001
        let x = 1.0 + f64::EPSILON;
        assert_eq!(
            exact_dot(&[x, -1.0], &[x, 1.0 + 2.0 * f64::EPSILON]),
            f64::EPSILON * f64::EPSILON
        );
    }
}
