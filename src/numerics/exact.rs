//! The exact oracle: sums and dot products computed without any rounding until the
//! single final rounding to f64 (Radford Neal's superaccumulator, via the `xsum` crate).

use xsum::{Xsum, XsumSmall};

/// An exact accumulator of f64 terms and exact products.
#[derive(Default)]
pub struct ExactAcc {
    acc: XsumSmall,
    /// Number of terms added, used to size bounds.
    pub terms: usize,
}

impl ExactAcc {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, x: f64) {
        self.acc.add(x);
        self.terms += 1;
    }

    /// Adds x*y exactly: the product is split into its rounded value and the rounding
    /// error with one fused multiply-add (exact unless the product underflows).
    pub fn add_product(&mut self, x: f64, y: f64) {
        let p = x * y;
        let e = x.mul_add(y, -p);
        self.acc.add(p);
        if e != 0.0 {
            self.acc.add(e);
        }
        self.terms += 1;
    }

    /// The exact value correctly rounded to f64.
    pub fn value(&mut self) -> f64 {
        self.acc.sum()
    }
}

/// Exact sum of the values, correctly rounded to f64.
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
        assert_eq!(exact_sum(&[0.1, 0.2, 0.3]), 0.6000000000000001);
        let x = 1.0 + f64::EPSILON;
        assert_eq!(
            exact_dot(&[x, -1.0], &[x, 1.0 + 2.0 * f64::EPSILON]),
            f64::EPSILON * f64::EPSILON
        );
    }
}
