//! The exact oracle: sums and dot products computed without any rounding until the
//! single final rounding to f64.
//!
//! Why this is written here rather than taken from a crate: both exact-summation crates
//! tried failed the tests in tests/it/oracle.rs. `xsum` 0.1.6 misrounds
//! [-0.9198811488056671, 1e10, -1e10], and `accurate` 0.4.1's iFastSum trips its own
//! `round3` invariant on ill-conditioned half-precision sums. The oracle is the yardstick
//! for every error figure, so it is a plain fixed-point superaccumulator (the idea of
//! Kulisch's long accumulator) that is easy to check by reading: every f64 is an integer
//! multiple of 2^-1074 and every exact product of two of them a multiple of 2^-2148, so
//! the sum is an integer held in 32-bit limbs (2^-2148 .. 2^2112, the whole range of
//! products of f64 values), and the final rounding is done once, to nearest even, directly
//! to the format asked for ([`ExactAcc::value_in`]), never through f64 first.

/// Weight of the accumulator's lowest bit: 2^-2148 = 2^-1074 * 2^-1074, the quantum of an
/// exact product of two f64 subnormals. Every f64 and every exact product of two f64
/// values (of any narrower format too) is an integer multiple of it.
const LOW_EXP: i32 = -2148;
/// Limbs of 32 bits: products reach 2^2048 (4196 bits above 2^-2148), plus 64 bits of
/// headroom for sums of up to 2^60 terms and the sign.
const LIMBS: usize = 136;
/// Adds between carry propagations; each deposit puts < 2^33 into a limb, so 2^28 adds
/// keep every limb far from i64 overflow.
const ADDS_PER_NORMALIZE: u32 = 1 << 28;

/// What an exact value holds beyond its f64 rounding `hi` (see [`super::error`]). All zero when
/// the exact value is an f64.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExactRest {
    /// (x - hi) correctly rounded to f64.
    pub lo: f64,
    /// A bound on x - hi - lo: that rest lies between 0 and `tail`.
    pub tail: f64,
}

impl ExactRest {
    pub const ZERO: ExactRest = ExactRest { lo: 0.0, tail: 0.0 };

    pub fn is_zero(&self) -> bool {
        self.lo == 0.0 && self.tail == 0.0
    }
}

/// An exact accumulator of f64 terms and exact products of f64 values.
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

/// A finite f64 as (integer significand, bit position of its lowest bit above 2^-1074).
fn split(x: f64) -> (u64, u32) {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as u32;
    let frac = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        (frac, 0)
    } else {
        (frac | (1u64 << 52), biased - 1)
    }
}

impl ExactAcc {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds sign * v * 2^(LOW_EXP + off), v < 2^106.
    fn deposit_int(&mut self, v: u128, off: u32, negative: bool) {
        let (limb, shift) = ((off / 32) as usize, off % 32);
        let sign = if negative { -1i64 } else { 1 };
        let mut k = 0;
        let mut rest = v;
        while rest != 0 {
            // Each 32-bit chunk, shifted by < 32, spans two limbs.
            let chunk = ((rest & 0xffff_ffff) as u64) << shift;
            self.limbs[limb + k] += sign * (chunk & 0xffff_ffff) as i64;
            self.limbs[limb + k + 1] += sign * (chunk >> 32) as i64;
            rest >>= 32;
            k += 1;
        }
        self.adds += 1;
        if self.adds == ADDS_PER_NORMALIZE {
            self.normalize();
        }
    }

    /// Adds a finite or non-finite f64: the hot path of every sum. An f64's significand
    /// (53 bits) shifted to its place within a limb spans at most three limbs, so it is
    /// three limb adds with no loop and no branch on the value (zero adds zeros). This is
    /// the arithmetic of [`ExactAcc::deposit_int`] unrolled for v < 2^53; the tests in
    /// tests/it/oracle.rs hold the two to the same results.
    #[inline(always)]
    fn deposit(&mut self, x: f64) {
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as u32;
        if biased == 0x7ff {
            self.non_finite = true;
            return;
        }
        let frac = bits & ((1u64 << 52) - 1);
        // Subnormals (biased 0) sit at the same position as the smallest normals.
        let (mant, pos) = if biased == 0 {
            (frac, 0)
        } else {
            (frac | (1u64 << 52), biased - 1)
        };
        // x = mant * 2^(pos - 1074) = mant * 2^(LOW_EXP + pos + 1074).
        let off = pos + 1074;
        let (limb, shift) = ((off / 32) as usize, off % 32);
        let w = (mant as u128) << shift; // < 2^85: three 32-bit chunks
                                         // Two's complement negation by mask: (v ^ m) - m is -v when m = -1, v when m = 0.
        let m = -((bits >> 63) as i64);
        let chunk = |v: u64| ((v as i64) ^ m) - m;
        let l = &mut self.limbs[limb..limb + 3];
        l[0] += chunk((w as u64) & 0xffff_ffff);
        l[1] += chunk(((w >> 32) as u64) & 0xffff_ffff);
        l[2] += chunk((w >> 64) as u64);
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

    /// Adds x*y exactly, over the whole range: the product of the two integer
    /// significands (< 2^106) is deposited at the sum of the exponents, so nothing
    /// overflows (x*y up to 2^2048) or underflows (down to 2^-2148).
    pub fn add_product(&mut self, x: f64, y: f64) {
        self.terms += 1;
        if !x.is_finite() || !y.is_finite() {
            self.non_finite = true;
            return;
        }
        if x == 0.0 || y == 0.0 {
            return;
        }
        let (mx, px) = split(x);
        let (my, py) = split(y);
        self.deposit_int(
            mx as u128 * my as u128,
            px + py,
            x.is_sign_negative() != y.is_sign_negative(),
        );
    }

    /// Adds every term of another accumulator.
    pub fn merge(&mut self, other: &ExactAcc) {
        let mut o = other.clone();
        o.normalize();
        self.normalize();
        for (a, b) in self.limbs.iter_mut().zip(&o.limbs) {
            *a += *b;
        }
        self.normalize();
        self.terms += other.terms;
        self.non_finite |= other.non_finite;
    }

    /// True when a NaN or infinite term was added (the exact value is undefined).
    pub fn is_non_finite(&self) -> bool {
        self.non_finite
    }

    /// Sign and magnitude limbs (each in [0, 2^32)) of the exact integer.
    fn magnitude(&self) -> (bool, [u64; LIMBS]) {
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
        (negative, mag)
    }

    /// The exact value rounded once, to nearest with ties to even, to a binary format
    /// with a `p`-bit significand and minimum normal exponent `emin` (gradual underflow
    /// below), returned as f64 (every such format here is a subset of f64). A value past
    /// the format's largest finite `max` (after rounding) is ±infinity; a non-finite
    /// term gives NaN.
    pub fn round_to(&self, p: u32, emin: i32, max: f64) -> f64 {
        self.round_mode(p, emin, max, false)
    }

    /// [`ExactAcc::round_to`] with the rounding to nearest (ties to even), or, with
    /// `away`, away from zero (the magnitude rounded upward: never below the exact one).
    fn round_mode(&self, p: u32, emin: i32, max: f64, away: bool) -> f64 {
        if self.non_finite {
            return f64::NAN;
        }
        let (negative, mag) = self.magnitude();
        let sign = if negative { -1.0 } else { 1.0 };
        let Some(top) = (0..LIMBS).rev().find(|&k| mag[k] != 0) else {
            return 0.0;
        };
        let msb = top as i32 * 32 + (63 - mag[top].leading_zeros() as i32);
        let bit = |i: i32| (mag[(i / 32) as usize] >> (i % 32)) & 1;
        // Exponent of the leading bit, and the lowest kept bit's position.
        let e = msb + LOW_EXP;
        let lo = (e.max(emin) - (p as i32 - 1)) - LOW_EXP;
        if lo <= 0 {
            // Unreachable for the formats here (their quantum is >= 2^-1074), kept total.
            let mut m: u64 = 0;
            for i in (0..=msb).rev() {
                m = (m << 1) | bit(i);
            }
            return sign * libm::ldexp(m as f64, LOW_EXP);
        }
        let mut m: u64 = 0;
        for i in (lo..=msb).rev() {
            m = (m << 1) | bit(i);
        }
        let round = bit(lo - 1);
        // The bits below the rounding bit, limb by limb (the whole limbs, then the part
        // of the limb holding bit lo - 2).
        let below = (lo - 1) as usize;
        let sticky = mag[..below / 32].iter().any(|&l| l != 0)
            || (!below.is_multiple_of(32) && mag[below / 32] & ((1u64 << (below % 32)) - 1) != 0);
        if away {
            if round == 1 || sticky {
                m += 1;
            }
        } else if round == 1 && (sticky || m & 1 == 1) {
            m += 1;
        }
        // m <= 2^p: exact in f64; the scaling is exact unless it overflows f64.
        let r = libm::ldexp(m as f64, lo + LOW_EXP);
        if r > max {
            sign * f64::INFINITY
        } else {
            sign * r
        }
    }

    /// The exact value correctly rounded to f64 (ties to even); ±inf past f64::MAX.
    pub fn value(&self) -> f64 {
        self.round_to(53, -1022, f64::MAX)
    }

    /// |exact value| rounded upward to f64 (+inf past f64::MAX; NaN after a non-finite
    /// term): the smallest f64 that is not below the magnitude.
    pub fn abs_up(&self) -> f64 {
        self.round_mode(53, -1022, f64::MAX, true).abs()
    }

    /// -1, 0 or 1: the sign of the exact value (0 after a non-finite term too).
    pub fn signum(&self) -> i32 {
        if self.non_finite {
            return 0;
        }
        let mut n = self.clone();
        n.normalize();
        if n.limbs[LIMBS - 1] < 0 {
            -1
        } else if n.limbs.iter().any(|&l| l != 0) {
            1
        } else {
            0
        }
    }

    /// Subtracts a finite f64 exactly, without counting it as a term.
    fn sub(&mut self, x: f64) {
        self.deposit(-x);
    }

    /// The exact value as `hi + rest` ([`ExactRest`]): `hi` correctly rounded to f64 (what
    /// [`ExactAcc::value`] gives), `rest.lo` the remainder correctly rounded, and
    /// `rest.tail` bounding what is left (same sign, magnitude rounded upward). A value
    /// beyond f64's range, or NaN, has no rest.
    pub fn split(&self) -> (f64, ExactRest) {
        let hi = self.value();
        if !hi.is_finite() {
            return (hi, ExactRest::default());
        }
        let mut r = self.clone();
        r.sub(hi);
        let lo = r.value();
        r.sub(lo);
        let tail = r.abs_up() * r.signum() as f64;
        (hi, ExactRest { lo, tail })
    }

    /// Multiplies the exact value by 2^k exactly (bits below 2^-2148 kept as a sticky bit).
    pub fn scaled(&self, k: i32) -> ExactAcc {
        let mut s = self.clone();
        s.scale_pow2(k);
        s
    }

    /// The exact value rounded once to `p` (ties to even): no detour through f64.
    pub fn value_in(&self, p: super::Precision) -> f64 {
        self.round_to(p.mantissa_bits(), p.emin(), p.max_finite())
    }

    /// The exact value as a [`Wide`] number: never overflows, rounded to 53 bits.
    pub fn wide(&self) -> Wide {
        if self.non_finite {
            return Wide::NAN;
        }
        // Round with an unbounded exponent range: the format's emin and max out of reach.
        let (_, mag) = self.magnitude();
        let Some(top) = (0..LIMBS).rev().find(|&k| mag[k] != 0) else {
            return Wide::ZERO;
        };
        let msb = top as i32 * 32 + (63 - mag[top].leading_zeros() as i32);
        // Scale so the leading bit sits at 2^0 and round that to f64 (always in range).
        let mut s = self.clone();
        let shift = -(msb + LOW_EXP);
        s.scale_pow2(shift);
        let m = s.value();
        Wide { m, e: -shift }
    }

    /// Multiplies the accumulated integer by 2^k (limb moves and a bit shift); bits shifted
    /// below 2^-2148 are kept as a sticky 1 so rounding stays correct.
    fn scale_pow2(&mut self, k: i32) {
        self.normalize();
        let (negative, mag) = self.magnitude();
        let total = LIMBS as i32 * 32;
        let mut out = [0u64; LIMBS];
        let mut sticky = false;
        for i in 0..total {
            let b = (mag[(i / 32) as usize] >> (i % 32)) & 1;
            if b == 0 {
                continue;
            }
            let j = i + k;
            if j < 0 {
                sticky = true;
            } else if j < total - 64 {
                out[(j / 32) as usize] |= 1 << (j % 32);
            }
        }
        if sticky {
            out[0] |= 1;
        }
        let sign = if negative { -1 } else { 1 };
        for (l, o) in self.limbs.iter_mut().zip(out) {
            *l = sign * o as i64;
        }
        self.adds = 0;
    }
}

/// A number m * 2^e with an f64 m and an i32 e: error bounds and sums of magnitudes in a
/// format that cannot overflow or underflow for any input detbench handles.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Wide {
    pub m: f64,
    pub e: i32,
}

impl Wide {
    pub const ZERO: Wide = Wide { m: 0.0, e: 0 };
    pub const NAN: Wide = Wide { m: f64::NAN, e: 0 };

    pub fn from_f64(x: f64) -> Wide {
        Wide { m: x, e: 0 }.norm()
    }

    /// Keeps m in [1, 2) (or 0 / non-finite) so products and sums stay in range.
    fn norm(self) -> Wide {
        if self.m == 0.0 || !self.m.is_finite() {
            return Wide { m: self.m, e: 0 };
        }
        let k = libm::ilogb(self.m);
        Wide {
            m: libm::ldexp(self.m, -k),
            e: self.e.saturating_add(k),
        }
    }

    /// self * x, rounded upward by one f64 ulp (for upper bounds).
    pub fn mul_up(self, x: f64) -> Wide {
        let w = Wide::from_f64(x);
        Wide {
            m: (self.m * w.m).next_up(),
            e: self.e.saturating_add(w.e),
        }
        .norm()
    }

    /// self + o, rounded upward by one f64 ulp (for upper bounds of nonnegative values).
    pub fn add_up(self, o: Wide) -> Wide {
        if self.m == 0.0 {
            return o;
        }
        if o.m == 0.0 {
            return self;
        }
        let (a, b) = if self.e >= o.e { (self, o) } else { (o, self) };
        let d = (a.e - b.e).min(2000);
        Wide {
            m: (a.m + libm::ldexp(b.m, -d)).next_up(),
            e: a.e,
        }
        .norm()
    }

    /// The value as f64: infinite past f64::MAX, rounded upward below the normal range.
    pub fn to_f64_up(self) -> f64 {
        if self.m == 0.0 || !self.m.is_finite() {
            return self.m;
        }
        let r = libm::ldexp(self.m, self.e.clamp(-3000, 3000));
        if r == 0.0 || r.is_subnormal() {
            r.next_up()
        } else {
            r
        }
    }
}

/// What [`f32_sums`] gives of a slice of f32 values.
pub struct F32Sums {
    /// The exact sum.
    pub sum: ExactAcc,
    /// The exact sum of magnitudes.
    pub abs: ExactAcc,
    /// The exact sum of the subnormal magnitudes (what a flushing device can drop).
    pub sub: ExactAcc,
    /// The largest magnitude (0 for no values).
    pub max_abs: f32,
}

/// The exact sum, the exact sum of magnitudes, the exact sum of the subnormal
/// magnitudes and the largest magnitude of f32 values, by exponent: None where a value
/// is not finite.
///
/// Why this is exact and fast: every finite f32 with biased exponent E is an integer
/// multiple of 2^(max(E,1) - 150) below 2^24 of them, so an f64 that adds only values of
/// one exponent stays exact for 2^29 of them (2^29 * 2^24 = 2^53). Each value is therefore
/// one f64 addition into its exponent's slot (four sets of slots, so that runs of equal
/// exponents do not wait on one another), and the 256 slots go into [`ExactAcc`] at the
/// end of every 2^28 values: the per-term cost of xsum's small accumulator, without its
/// carry handling, which f32 inputs do not need. The maximum rides along in the same pass
/// (one per set of slots), so no kernel needs a scan of its own.
pub fn f32_sums(xs: &[f32]) -> Option<F32Sums> {
    const SETS: usize = 4;
    const FLUSH_EVERY: usize = 1 << 28;
    let (mut sum, mut abs, mut sub) = (ExactAcc::new(), ExactAcc::new(), ExactAcc::new());
    let mut max = [0.0f32; SETS];
    for chunk in xs.chunks(FLUSH_EVERY) {
        let mut s = [[0.0f64; 256]; SETS];
        let mut a = [[0.0f64; 256]; SETS];
        let mut bad = false;
        let mut quads = chunk.chunks_exact(SETS);
        for q in &mut quads {
            for (k, &v) in q.iter().enumerate() {
                let e = ((v.to_bits() >> 23) & 0xff) as usize;
                bad |= e == 0xff;
                s[k][e] += v as f64;
                a[k][e] += v.abs() as f64;
                max[k] = if v.abs() > max[k] { v.abs() } else { max[k] };
            }
        }
        for &v in quads.remainder() {
            let e = ((v.to_bits() >> 23) & 0xff) as usize;
            bad |= e == 0xff;
            s[0][e] += v as f64;
            a[0][e] += v.abs() as f64;
            max[0] = if v.abs() > max[0] { v.abs() } else { max[0] };
        }
        if bad {
            return None;
        }
        for k in 0..SETS {
            for e in 0..256 {
                sum.deposit(s[k][e]);
                abs.deposit(a[k][e]);
            }
            // Exponent 0 holds zeros and subnormals.
            sub.deposit(a[k][0]);
        }
    }
    for acc in [&mut sum, &mut abs] {
        acc.terms = xs.len();
    }
    Some(F32Sums {
        sum,
        abs,
        sub,
        max_abs: max.into_iter().fold(0.0, f32::max),
    })
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
    let mut acc = ExactAcc::new();
    for &x in xs {
        acc.add(x.abs());
    }
    acc.value() * (1.0 + f64::EPSILON)
}

/// Sum of |x_i| in a format that cannot overflow, rounded upward.
pub fn sum_abs_wide(xs: &[f64]) -> Wide {
    let mut acc = ExactAcc::new();
    for &x in xs {
        acc.add(x.abs());
    }
    acc.wide().mul_up(1.0)
}

/// Sum of |x_i y_i| in a format that cannot overflow, rounded upward.
pub fn sum_abs_products_wide(xs: &[f64], ys: &[f64]) -> Wide {
    let mut acc = ExactAcc::new();
    for (&x, &y) in xs.iter().zip(ys) {
        acc.add_product(x.abs(), y.abs());
    }
    acc.wide().mul_up(1.0)
}

/// Sum of |x_i y_i|, as an upper bound.
pub fn sum_abs_products(xs: &[f64], ys: &[f64]) -> f64 {
    let mut acc = ExactAcc::new();
    for (&x, &y) in xs.iter().zip(ys) {
        acc.add_product(x.abs(), y.abs());
    }
    acc.value() * (1.0 + f64::EPSILON)
}

/// One element of [`exact_dots`]: its terms are added here as products.
pub struct DotTerms {
    acc: ExactAcc,
    abs: f64,
    count: usize,
    /// Operands below this magnitude (nonzero) are flushed by a flush-to-zero device.
    tiny: f64,
    /// Sum of |x y| over the products with such an operand.
    flushable: f64,
}

impl DotTerms {
    /// Adds the term `x * y` (exactly) and its magnitude.
    #[inline]
    pub fn add(&mut self, x: f64, y: f64) {
        self.acc.add_product(x, y);
        let p = (x * y).abs();
        self.abs += p;
        self.count += 1;
        if (x != 0.0 && x.abs() < self.tiny) || (y != 0.0 && y.abs() < self.tiny) {
            self.flushable += p;
        }
    }
}

/// The per-element references of [`exact_dots_full`].
#[derive(Clone, Debug, Default)]
pub struct Dots {
    /// The exact value correctly rounded to f64.
    pub exact: Vec<f64>,
    /// The exact value rounded once, directly, to the output format.
    pub exact_out: Vec<f64>,
    /// What the exact value holds beyond `exact` ([`ExactRest`]).
    pub rest: Vec<ExactRest>,
    /// The f64 sum of |x y|, rounded up past its own error.
    pub mag: Vec<f64>,
    /// The f64 sum of |x y| over the products with an operand below `tiny`, rounded up.
    pub flushable: Vec<f64>,
}

/// Many dot products at once, as the per-element references of matrix products and
/// convolutions need them: `terms(i, t)` adds element `i`'s products to `t`. Returns, per
/// element, the exact value correctly rounded to f64, the exact value rounded once,
/// directly, to `out` (never exact -> f64 -> `out`), and the f64 sum of |x y| rounded up past
/// its own error. Elements are split across the host's threads (at most 16).
pub fn exact_dots<F>(len: usize, out: super::Precision, terms: F) -> (Vec<f64>, Vec<f64>, Vec<f64>)
where
    F: Fn(usize, &mut DotTerms) + Sync,
{
    let d = exact_dots_full(len, out, 0.0, terms);
    (d.exact, d.exact_out, d.mag)
}

/// [`exact_dots`] with each exact value's rest and the magnitude a flush-to-zero device
/// drops (products with an operand below `tiny`).
pub fn exact_dots_full<F>(len: usize, out: super::Precision, tiny: f64, terms: F) -> Dots
where
    F: Fn(usize, &mut DotTerms) + Sync,
{
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let per = len.div_ceil(threads).max(1);
    let mut d = Dots {
        exact: vec![0.0; len],
        exact_out: vec![0.0; len],
        rest: vec![ExactRest::ZERO; len],
        mag: vec![0.0; len],
        flushable: vec![0.0; len],
    };
    let terms = &terms;
    std::thread::scope(|sc| {
        for (t, ((((ex, eo), rs), mg), fl)) in d
            .exact
            .chunks_mut(per)
            .zip(d.exact_out.chunks_mut(per))
            .zip(d.rest.chunks_mut(per))
            .zip(d.mag.chunks_mut(per))
            .zip(d.flushable.chunks_mut(per))
            .enumerate()
        {
            sc.spawn(move || {
                for i in 0..ex.len() {
                    // A fresh accumulator per element: on the stack, no allocation.
                    let mut dt = DotTerms {
                        acc: ExactAcc::new(),
                        abs: 0.0,
                        count: 0,
                        tiny,
                        flushable: 0.0,
                    };
                    terms(t * per + i, &mut dt);
                    (ex[i], rs[i]) = dt.acc.split();
                    eo[i] = dt.acc.value_in(out);
                    let up = 1.0 + (dt.count as f64 + 2.0) * f64::EPSILON;
                    mg[i] = dt.abs * up;
                    fl[i] = dt.flushable * up;
                }
            });
        }
    });
    d
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
