//! Reproducible summation: binned, pre-rounded accumulation with carries, after
//! Demmel & Nguyen ("Fast reproducible floating-point summation", ARITH 2013) and
//! Ahrens, Demmel & Nguyen ("Algorithms for efficient reproducible floating point
//! summation", ACM TOMS 46(3), 2020), the scheme behind ReproBLAS and CUB's
//! `gpu_to_gpu` determinism.
//!
//! This module is the specification that the CUDA and WGSL kernels implement and
//! that the CPU backend runs. The idea in four steps:
//!
//! 1. A first pass finds M = max |x_i| (max is associative, so any order gives the same M).
//!    From the exponent of M alone, fold k gets a bin exponent `a_k`, with
//!    a_1 = exponent(M) + 1 + log2(R) + 3 and a_{k+1} = a_k - W, W = p - log2(R) - 3.
//! 2. Each fold keeps a *primary* P_k in the binade [2^a_k, 2^(a_k+1)), starting at
//!    1.5 * 2^a_k, and an integer *carry* C_k. Depositing r into fold k is
//!    `s = P_k + r; q = s - P_k; P_k = s; r = r - q` — q is r rounded to a multiple of
//!    ulp(P_k) = 2^(a_k-p+1), and both subtractions are exact. What is left of r goes to
//!    the next fold.
//! 3. Every R deposits (and after every merge) a fold is renormalised: the offset
//!    d = P_k - 1.5*2^a_k is rounded to a multiple c of 2^(a_k-2), c in {-1, 0, 1}, moved
//!    into the carry, and subtracted from P_k. That keeps |d| <= 2^(a_k-3), so R more
//!    deposits cannot leave the binade. Two renormalised accumulators merge exactly:
//!    P_k += (P'_k - 1.5*2^a_k), C_k += C'_k.
//! 4. Every operation above is exact, so each fold holds the exact sum of its pre-rounded
//!    deposits, whatever the order, the workgroup size or the device. The value of fold k
//!    is C_k * 2^(a_k-2) + (P_k - 1.5*2^a_k); [`ReproState::finalize`] adds the folds
//!    exactly and rounds once to f64, then to the accumulator format.
//!
//! Ties: `fl(P_k + r)` rounds a remainder that sits exactly halfway between two quanta
//! to the *even* neighbour, and which neighbour is even depends on P_k, i.e. on the order of
//! earlier deposits. As in ReproBLAS, the deposit adds `r` with its last bit set (`r | 1`),
//! which cannot be a tie (|r| is far below 2^p quanta, so its last bit lies below the
//! quantum's half), and then keeps `r - q` of the *original* r, so nothing is lost.
//!
//! What is lost: after the last fold, each element's remainder is below half a quantum
//! of that fold, so the error is at most n * 2^(a_K - p) plus the final rounding.
//! `folds` folds cover about `folds * W` bits below M (39 bits for f32, 3 folds).

use super::exact::ExactAcc;
use super::Precision;

/// Deposits between renormalisations (R in the module docs).
pub const DEPOSITS_PER_RENORM: u32 = 256;
/// log2 of [`DEPOSITS_PER_RENORM`].
pub const LOG2_R: i32 = 8;
/// Number of folds (K).
pub const MAX_FOLDS: usize = 3;

/// Why reproducible binning cannot run for an input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReproError {
    #[error("reproducible summation needs an f32 or f64 accumulator, not {0}: a significand this short leaves no room for bins")]
    Accumulator(Precision),
    #[error("max |x| = {0:e} is too large for {1} binning (the top bin would overflow){hint}", hint = if *.1 == Precision::F64 { "" } else { "; use an f64 accumulator" })]
    TooLarge(f64, Precision),
}

/// Bin layout for one input, fixed by the accumulator format and M alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReproParams {
    /// Accumulator format (f32 or f64).
    pub acc: Precision,
    /// Number of folds in use (1..=MAX_FOLDS).
    pub folds: usize,
    /// Bin exponents a_k; entries past `folds` are unused.
    pub a: [i32; MAX_FOLDS],
}

impl ReproParams {
    /// Significand bits p of the accumulator.
    pub fn p(&self) -> i32 {
        self.acc.mantissa_bits() as i32
    }

    /// Bits per fold.
    pub fn width(acc: Precision) -> i32 {
        acc.mantissa_bits() as i32 - LOG2_R - 3
    }

    /// Layout for inputs whose largest magnitude is `max_abs` (already in `acc`).
    pub fn new(acc: Precision, max_abs: f64) -> Result<Self, ReproError> {
        let (emin, emax) = match acc {
            Precision::F32 => (-126, 127),
            Precision::F64 => (-1022, 1023),
            other => return Err(ReproError::Accumulator(other)),
        };
        if !max_abs.is_finite() {
            // An infinite or NaN term: no layout holds it (and ilogb would overflow).
            return Err(ReproError::TooLarge(max_abs, acc));
        }
        let p = acc.mantissa_bits() as i32;
        let w = Self::width(acc);
        // floor(log2(M)) for normal M; anything smaller is treated as the smallest normal.
        let e_m = if max_abs >= acc.min_normal() {
            libm::ilogb(max_abs)
        } else {
            emin
        };
        let a1 = (e_m + 1 + LOG2_R + 3).max(emin + p);
        if a1 + 1 > emax {
            return Err(ReproError::TooLarge(max_abs, acc));
        }
        // Keep only folds whose quantum 2^(a-p+1) is at least 2^(emin+1): below that,
        // flush-to-zero hardware could drop deposits the CPU keeps.
        let folds = (1 + ((a1 - (emin + p)) / w) as usize).min(MAX_FOLDS);
        let mut a = [0; MAX_FOLDS];
        for (k, slot) in a.iter_mut().enumerate().take(folds) {
            *slot = a1 - k as i32 * w;
        }
        Ok(Self { acc, folds, a })
    }

    /// 1.5 * 2^a_k, the primary's starting value.
    pub fn sigma(&self, k: usize) -> f64 {
        1.5 * libm::ldexp(1.0, self.a[k])
    }

    /// 2^(a_k - 2), the value of one carry.
    pub fn carry_unit(&self, k: usize) -> f64 {
        libm::ldexp(1.0, self.a[k] - 2)
    }

    /// Quantum (ulp of the primary) of fold k.
    pub fn quantum(&self, k: usize) -> f64 {
        libm::ldexp(1.0, self.a[k] - self.p() + 1)
    }

    /// A-priori bound on |binned - exact| for n deposits whose exact sum is `exact`:
    /// n half-quanta of the last fold (everything below it is dropped: the precision
    /// floor, [`ReproParams::floor`]), plus the one rounding of the binned value to the
    /// accumulator.
    pub fn bound(&self, n: u64, exact: f64) -> f64 {
        let dropped = n as f64 * self.quantum(self.folds - 1) / 2.0;
        dropped + self.acc.unit_roundoff() * (exact.abs() + dropped)
    }

    /// The precision floor: half the last fold's quantum. Each deposit's part below it
    /// is dropped (the bound counts it), so values far below it contribute nothing.
    pub fn floor(&self) -> f64 {
        self.quantum(self.folds - 1) / 2.0
    }
}

/// A binned accumulator, generic over the accumulator's host type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReproState<F> {
    /// Primaries P_k.
    pub primary: [F; MAX_FOLDS],
    /// Carries C_k.
    pub carry: [i32; MAX_FOLDS],
    /// Deposits since the last renormalisation.
    pub pending: u32,
}

/// Floating-point types the binned accumulator runs in on the host.
pub trait BinFloat: Copy + PartialEq + std::fmt::Debug + Send + Sync {
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn round_even(self) -> Self;
    /// The value with the last bit of its encoding set (`r | 1`), to break ties.
    fn or_lsb(self) -> Self;
}

impl BinFloat for f32 {
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn round_even(self) -> Self {
        self.round_ties_even()
    }
    fn or_lsb(self) -> Self {
        f32::from_bits(self.to_bits() | 1)
    }
}

impl BinFloat for f64 {
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn round_even(self) -> Self {
        self.round_ties_even()
    }
    fn or_lsb(self) -> Self {
        f64::from_bits(self.to_bits() | 1)
    }
}

/// Fold k's renormalisation in the accumulator's type: its primary's starting value,
/// the value of one carry and that value's inverse (a power of two: exact).
#[derive(Debug, Clone, Copy)]
pub struct Renorm<F> {
    sigma: F,
    unit: F,
    inv_unit: F,
}

impl<F: BinFloat> Renorm<F> {
    pub fn new(params: &ReproParams, k: usize) -> Self {
        Renorm {
            sigma: F::from_f64(params.sigma(k)),
            unit: F::from_f64(params.carry_unit(k)),
            inv_unit: F::from_f64(1.0 / params.carry_unit(k)),
        }
    }

    /// The primary with its whole carry units moved out, and how many moved.
    #[inline]
    pub fn apply(&self, primary: F) -> (F, i32) {
        let c = primary.sub(self.sigma).mul(self.inv_unit).round_even();
        (primary.sub(c.mul(self.unit)), c.to_f64() as i32)
    }
}

impl<F: BinFloat> ReproState<F> {
    /// An empty accumulator: every primary at 1.5 * 2^a_k.
    pub fn new(params: &ReproParams) -> Self {
        let mut primary = [F::from_f64(0.0); MAX_FOLDS];
        for (k, slot) in primary.iter_mut().enumerate().take(params.folds) {
            *slot = F::from_f64(params.sigma(k));
        }
        Self {
            primary,
            carry: [0; MAX_FOLDS],
            pending: 0,
        }
    }

    /// Deposit one value (already in the accumulator format), renormalising every R.
    pub fn deposit(&mut self, params: &ReproParams, x: F) {
        let mut r = x;
        for k in 0..params.folds {
            let s = self.primary[k].add(r.or_lsb());
            let q = s.sub(self.primary[k]);
            self.primary[k] = s;
            r = r.sub(q);
        }
        self.pending += 1;
        if self.pending == DEPOSITS_PER_RENORM {
            self.renorm(params);
        }
    }

    /// Move whole quarter-binades of each primary's offset into its carry.
    pub fn renorm(&mut self, params: &ReproParams) {
        for k in 0..params.folds {
            let (primary, carries) = Renorm::new(params, k).apply(self.primary[k]);
            self.primary[k] = primary;
            self.carry[k] += carries;
        }
        self.pending = 0;
    }

    /// Merge another renormalised accumulator into this renormalised one (exact).
    pub fn merge(&mut self, params: &ReproParams, other: &Self) {
        for k in 0..params.folds {
            let sigma = F::from_f64(params.sigma(k));
            let d = other.primary[k].sub(sigma);
            self.primary[k] = self.primary[k].add(d);
            self.carry[k] += other.carry[k];
        }
        self.renorm(params);
    }

    /// The exact binned value, rounded once, directly to the accumulator format.
    pub fn finalize(&self, params: &ReproParams) -> f64 {
        let mut acc = ExactAcc::new();
        for k in 0..params.folds {
            acc.add(self.carry[k] as f64 * params.carry_unit(k));
            acc.add(self.primary[k].to_f64() - params.sigma(k));
        }
        acc.value_in(params.acc)
    }
}

/// Reproducible sum of `values` (each already in the accumulator format) on the host,
/// in index order. Any other order, split or merge tree gives the same bits.
pub fn repro_sum(params: &ReproParams, values: &[f64]) -> f64 {
    match params.acc {
        Precision::F32 => {
            let mut s = ReproState::<f32>::new(params);
            for &v in values {
                s.deposit(params, v as f32);
            }
            s.renorm(params);
            s.finalize(params)
        }
        _ => {
            let mut s = ReproState::<f64>::new(params);
            for &v in values {
                s.deposit(params, v);
            }
            s.renorm(params);
            s.finalize(params)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::exact::exact_sum;

    fn data(n: usize, seed: u64) -> Vec<f64> {
        // A small LCG is enough for a unit test: the property tests use the real generators.
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                ((u - 0.5) * libm::ldexp(1.0, ((s >> 3) % 40) as i32 - 20)) as f32 as f64
            })
            .collect()
    }

    #[test]
    fn order_and_split_do_not_matter() {
        let xs = data(5000, 3);
        let m = xs.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
        let p = ReproParams::new(Precision::F32, m).unwrap();
        let forward = repro_sum(&p, &xs);
        let rev: Vec<f64> = xs.iter().rev().copied().collect();
        assert_eq!(forward.to_bits(), repro_sum(&p, &rev).to_bits());
        // Split into uneven chunks and merge in a different order.
        let mut parts = Vec::new();
        for chunk in xs.chunks(333) {
            let mut s = ReproState::<f32>::new(&p);
            for &v in chunk {
                s.deposit(&p, v as f32);
            }
            s.renorm(&p);
            parts.push(s);
        }
        let mut total = parts.pop().unwrap();
        while let Some(part) = parts.pop() {
            total.merge(&p, &part);
        }
        assert_eq!(forward.to_bits(), total.finalize(&p).to_bits());
        let exact = exact_sum(&xs);
        assert!((forward - exact).abs() <= p.bound(xs.len() as u64, exact));
    }
}
