//! Errors against the real exact value.
//!
//! A family's oracle knows each exact value x to far more than 53 bits; it hands it on as
//! `hi` (x correctly rounded to f64, the reported `exact`) plus an
//! [`ExactRest`](super::exact::ExactRest):
//! x = hi + lo + t, with lo the remainder correctly rounded to f64 and t, what is left,
//! between 0 and `tail` (|t| <= |tail|, same sign). [`abs_err_up`] turns a computed value c
//! into |c - x| rounded upward to f64, computed exactly with error-free transformations
//! (Knuth's TwoSum, Shewchuk's expansions), so `error <= bound` compares the real error
//! with the bound, with no half-ulp slack and no second reference.

use super::exact::ExactRest;
use super::Precision;

/// a + b = s + e exactly (Knuth's TwoSum; s = fl(a + b)); `None` when s overflows.
#[inline]
fn two_sum(a: f64, b: f64) -> Option<(f64, f64)> {
    let s = a + b;
    if !s.is_finite() {
        return None;
    }
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    Some((s, e))
}

/// Adds `b` to the nonoverlapping expansion `h` (increasing magnitude, no zeros), keeping
/// it nonoverlapping and free of zeros (Shewchuk's Grow-Expansion with zero elimination).
fn grow(h: &mut Vec<f64>, b: f64) -> Option<()> {
    let mut q = b;
    let mut out = Vec::with_capacity(h.len() + 1);
    for &c in h.iter() {
        let (s, e) = two_sum(q, c)?;
        if e != 0.0 {
            out.push(e);
        }
        q = s;
    }
    if q != 0.0 {
        out.push(q);
    }
    *h = out;
    Some(())
}

/// The sign of an expansion: that of its largest component.
fn sign_of(h: &[f64]) -> f64 {
    h.last().map_or(0.0, |&x| x.signum())
}

/// The exact sum of `terms` (finite) as an expansion; `None` when an intermediate
/// overflows.
fn expansion(terms: &[f64]) -> Option<Vec<f64>> {
    let mut h = Vec::with_capacity(terms.len() + 2);
    for &t in terms {
        if t != 0.0 {
            grow(&mut h, t)?;
        }
    }
    Some(h)
}

/// |sum of terms| rounded upward to f64, exactly (+inf past f64::MAX).
fn abs_sum_up(terms: &[f64]) -> f64 {
    let exact_fallback = || {
        let mut acc = super::exact::ExactAcc::new();
        terms.iter().for_each(|&t| acc.add(t));
        acc.abs_up()
    };
    let Some(h) = expansion(terms) else {
        return exact_fallback();
    };
    let sign = sign_of(&h);
    if sign == 0.0 {
        return 0.0;
    }
    // w = |S| as the expansion -h or h; a, the sum of its components from the top, is
    // within a few ulps of w. Then step to the smallest f64 f with f - w >= 0.
    let w: Vec<f64> = h.iter().map(|&x| x * sign).collect();
    let a = w.iter().rev().fold(0.0, |s, &x| s + x).abs();
    // sign(f - w), exactly.
    let above = |f: f64| -> Option<f64> {
        let mut d: Vec<f64> = w.iter().map(|&x| -x).collect();
        grow(&mut d, f)?;
        Some(sign_of(&d))
    };
    let mut f = a;
    for _ in 0..8 {
        if !f.is_finite() {
            return f64::INFINITY;
        }
        match above(f) {
            None => return exact_fallback(),
            Some(s) if s < 0.0 => f = f.next_up(),
            Some(_) => {
                let down = f.next_down();
                if down < 0.0 {
                    return f;
                }
                match above(down) {
                    None => return exact_fallback(),
                    Some(s) if s >= 0.0 => f = down,
                    Some(_) => return f,
                }
            }
        }
    }
    exact_fallback()
}

/// |c - x| rounded upward to f64, for a computed value `c` and the exact value
/// x = hi + rest (module docs), over every x the rest allows; +inf for a non-finite `c`
/// against a finite exact value, NaN for a NaN on either side.
///
/// ```
/// use detbench::numerics::error::abs_err_up;
/// use detbench::numerics::exact::ExactRest;
/// // x = 2^53 + 1 + 2^-100: hi = 2^53 + 2, lo = -1, tail = 2^-100.
/// let (hi, rest) = (9007199254740994.0, ExactRest { lo: -1.0, tail: 2f64.powi(-100) });
/// // c = 2^53: |c - x| = 1 + 2^-100, rounded upward to 1 + 2^-52.
/// assert_eq!(abs_err_up(9007199254740992.0, hi, rest), 1.0 + f64::EPSILON);
/// // c = 2^53 + 2: |c - x| = 1 - 2^-100, rounded upward to 1.
/// assert_eq!(abs_err_up(9007199254740994.0, hi, rest), 1.0);
/// ```
pub fn abs_err_up(c: f64, hi: f64, rest: ExactRest) -> f64 {
    if c.is_nan() || hi.is_nan() {
        return f64::NAN;
    }
    if !c.is_finite() || !hi.is_finite() {
        // inf - inf of one sign is no error; otherwise infinite (NaN never here).
        return if c == hi { 0.0 } else { f64::INFINITY };
    }
    if rest.is_zero() {
        // |c - hi| = |s + e| with |e| <= half an ulp of s.
        let Some((s, e)) = two_sum(c, -hi) else {
            return f64::INFINITY;
        };
        return if e == 0.0 || e.signum() != s.signum() {
            s.abs()
        } else {
            s.abs().next_up()
        };
    }
    let at = |t: f64| abs_sum_up(&[c, -hi, -rest.lo, -t]);
    // |c - x| is convex in the rest: its largest value is at an end of [0, tail].
    at(0.0).max(at(rest.tail))
}

/// The exact value hi + rest rounded once to `p` (ties to even): `p.round(hi)` except where
/// hi sits on a tie of `p` that the rest decides.
pub fn round_split(p: Precision, hi: f64, rest: ExactRest) -> f64 {
    let r = p.round(hi);
    if rest.is_zero() || !hi.is_finite() || p == Precision::F64 {
        return r;
    }
    // The other candidate on hi's far side of r; hi is a tie when it is their midpoint.
    let other = if r < hi {
        next_in(p, r, true)
    } else if r > hi {
        next_in(p, r, false)
    } else {
        return r;
    };
    if other.is_finite() && (r + other) / 2.0 == hi {
        let dir = if rest.lo != 0.0 { rest.lo } else { rest.tail };
        if (dir > 0.0) == (other > r) {
            return other;
        }
    }
    r
}

/// The neighbour of `x` (representable in `p`) upward or downward, in `p`.
fn next_in(p: Precision, x: f64, up: bool) -> f64 {
    let q = if x == 0.0 {
        p.min_subnormal()
    } else {
        let e = libm::ilogb(x).max(p.emin());
        let q = libm::ldexp(1.0, e - (p.mantissa_bits() as i32 - 1));
        // Stepping down from a power of two crosses into the binade below.
        if (x.abs() == libm::ldexp(1.0, e)) && ((x > 0.0) != up) && e > p.emin() {
            q / 2.0
        } else {
            q
        }
    };
    let n = if up { x + q } else { x - q };
    if n.abs() > p.max_finite() {
        f64::INFINITY.copysign(n)
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::exact::ExactAcc;

    fn split(terms: &[f64]) -> (f64, ExactRest) {
        let mut a = ExactAcc::new();
        terms.iter().for_each(|&t| a.add(t));
        a.split()
    }

    /// RU(|c - x|) by the exact accumulator, for comparison.
    fn reference(c: f64, terms: &[f64]) -> f64 {
        let mut a = ExactAcc::new();
        a.add(c);
        terms.iter().for_each(|&t| a.add(-t));
        a.abs_up()
    }

    #[test]
    fn errors_match_the_exact_accumulator() {
        let cases: &[&[f64]] = &[
            &[9007199254740992.0, 1.0, 2f64.powi(-100)],
            &[1e16, 1.0, 1e-16],
            &[1.0, 1e100, 1.0, -1e100],
            &[0.1, 0.2, 0.3],
            &[1.5, 2f64.powi(-1074)],
            &[2f64.powi(1023), 2f64.powi(970), -2f64.powi(-1070)],
        ];
        let mut s = 0x1234_5678_9abc_def0u64;
        for terms in cases {
            let (hi, rest) = split(terms);
            for c in [
                hi,
                hi.next_up(),
                hi.next_down(),
                0.0,
                -hi,
                hi * 1.5,
                hi + 1.0,
            ] {
                if !c.is_finite() {
                    continue;
                }
                assert_eq!(
                    abs_err_up(c, hi, rest),
                    reference(c, terms),
                    "{terms:?} c={c:e}"
                );
            }
        }
        for _ in 0..2000 {
            let mut t = Vec::new();
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let m = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                t.push(libm::ldexp(m, (s % 160) as i32 - 80));
            }
            let (hi, rest) = split(&t);
            for c in [hi, hi.next_up(), hi as f32 as f64, t[0]] {
                assert_eq!(abs_err_up(c, hi, rest), reference(c, &t), "{t:?} c={c:e}");
            }
        }
    }

    #[test]
    fn rounding_a_split_is_rounding_once() {
        // 1 + 2^-11 is an f16 tie: the rest decides it.
        let tie = 1.0 + 2f64.powi(-11);
        for (rest, want) in [
            (ExactRest::ZERO, 1.0),
            (
                ExactRest {
                    lo: 2f64.powi(-80),
                    tail: 0.0,
                },
                1.0 + 2f64.powi(-10),
            ),
            (
                ExactRest {
                    lo: 0.0,
                    tail: -2f64.powi(-90),
                },
                1.0,
            ),
        ] {
            assert_eq!(round_split(Precision::F16, tie, rest), want, "{rest:?}");
        }
        let (hi, rest) = split(&[1.0, 2f64.powi(-24), 2f64.powi(-90)]);
        assert_eq!(round_split(Precision::F32, hi, rest), 1.0 + 2f64.powi(-23));
    }
}
