//! The exact oracle against a big-rational reference and against Python's math.fsum.

use detbench::numerics::exact::{exact_dot, exact_sum};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, Zero};
use proptest::prelude::*;

/// The exact rational value of a finite double.
fn rational(x: f64) -> BigRational {
    if x == 0.0 {
        return BigRational::zero();
    }
    let bits = x.to_bits();
    let sign = if bits >> 63 == 1 { -1 } else { 1 };
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (mant, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    let m = BigRational::from_integer(BigInt::from(sign) * BigInt::from(mant));
    let two = BigRational::from_integer(BigInt::from(2));
    if e >= 0 {
        m * num_traits::pow(two, e as usize)
    } else {
        m / num_traits::pow(two, (-e) as usize)
    }
}

/// Asserts r is a correct rounding of s: no neighbour of r is closer, and a tie goes to even.
fn assert_correctly_rounded(s: &BigRational, r: f64) {
    let d0 = (s - rational(r)).abs();
    for nb in [r.next_up(), r.next_down()] {
        if !nb.is_finite() {
            continue;
        }
        let d = (s - rational(nb)).abs();
        assert!(d0 <= d, "{r:e} is not the nearest double: {nb:e} is closer");
        if d0 == d {
            assert_eq!(r.to_bits() & 1, 0, "tie must round to even");
        }
    }
}

fn wide() -> impl Strategy<Value = f64> {
    (-1.0f64..1.0, -300i32..300).prop_map(|(m, e)| libm::ldexp(m, e))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn exact_sum_is_the_correctly_rounded_rational_sum(xs in prop::collection::vec(wide(), 1..60)) {
        let s = xs.iter().fold(BigRational::zero(), |acc, &x| acc + rational(x));
        assert_correctly_rounded(&s, exact_sum(&xs));
    }

    #[test]
    fn exact_sum_survives_cancellation(xs in prop::collection::vec(-1.0f64..1.0, 1..40), big in 1e10f64..1e300) {
        let mut v = xs.clone();
        v.push(big);
        v.push(-big);
        let s = xs.iter().fold(BigRational::zero(), |acc, &x| acc + rational(x));
        assert_correctly_rounded(&s, exact_sum(&v));
    }

    #[test]
    fn exact_dot_is_the_correctly_rounded_rational_dot(pairs in prop::collection::vec((-1.0f64..1.0, -1.0f64..1.0), 1..40), e in -100i32..100) {
        let xs: Vec<f64> = pairs.iter().map(|p| libm::ldexp(p.0, e)).collect();
        let ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let s = xs.iter().zip(&ys).fold(BigRational::zero(), |acc, (&x, &y)| acc + rational(x) * rational(y));
        assert_correctly_rounded(&s, exact_dot(&xs, &ys));
    }
}

/// The oracle agrees with Python's math.fsum (also correctly rounded) on the same values.
#[test]
fn agrees_with_python_fsum() {
    use detbench::inputs::{generate, InputSpec};
    use detbench::numerics::Precision;
    let mut lists = Vec::new();
    for (i, spec) in [
        InputSpec::Normal,
        InputSpec::Wide,
        InputSpec::IllConditioned(1e14),
    ]
    .iter()
    .enumerate()
    {
        lists.push(generate(spec, Precision::F64, 5000, 11 + i as u64, 0).unwrap());
    }
    let script = "import math, sys\nfor line in sys.stdin:\n    xs = [float.fromhex(t) for t in line.split()]\n    print(math.fsum(xs).hex())\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test (.ci/run installs it)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for xs in &lists {
            let line: Vec<String> = xs.iter().map(|x| hexfloat(*x)).collect();
            writeln!(stdin, "{}", line.join(" ")).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for (xs, line) in lists.iter().zip(text.lines()) {
        let ours = exact_sum(xs);
        assert_eq!(hexfloat(ours), line.trim(), "oracle and math.fsum disagree");
    }
}

/// Python's float.hex() format, so both sides print the same string.
fn hexfloat(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0x0.0p+0".into()
        } else {
            "0x0.0p+0".into()
        };
    }
    let bits = x.to_bits();
    let sign = if bits >> 63 == 1 { "-" } else { "" };
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (lead, e) = if exp == 0 {
        (0, -1022)
    } else {
        (1, exp - 1023)
    };
    let mut hex = format!("{frac:013x}");
    while hex.len() > 1 && hex.ends_with('0') {
        hex.pop();
    }
    format!("{sign}0x{lead}.{hex}p{e:+}")
}

/// floor(log2 |s|) for s != 0.
fn ilog2(s: &BigRational) -> i64 {
    let a = s.abs();
    let mut e = a.numer().bits() as i64 - a.denom().bits() as i64;
    let two = BigRational::from_integer(BigInt::from(2));
    let pow = |k: i64| {
        if k >= 0 {
            num_traits::pow(two.clone(), k as usize)
        } else {
            BigRational::from_integer(BigInt::from(1)) / num_traits::pow(two.clone(), (-k) as usize)
        }
    };
    while pow(e) > a {
        e -= 1;
    }
    while pow(e + 1) <= a {
        e += 1;
    }
    e
}

/// The reference rounding of s to a format (p-bit significand, minimum normal exponent
/// emin, largest finite max), to nearest, ties to even, computed on big rationals alone.
fn reference_round(s: &BigRational, p: i64, emin: i64, max: f64) -> f64 {
    if s.is_zero() {
        return 0.0;
    }
    let q = ilog2(s).max(emin) - (p - 1);
    let two = BigRational::from_integer(BigInt::from(2));
    let scaled = if q >= 0 {
        s.abs() / num_traits::pow(two, q as usize)
    } else {
        s.abs() * num_traits::pow(two, (-q) as usize)
    };
    let fl = scaled.floor().to_integer();
    let rem = scaled - BigRational::from_integer(fl.clone());
    let half = BigRational::new(BigInt::from(1), BigInt::from(2));
    let m = if rem > half || (rem == half && &fl % BigInt::from(2) == BigInt::from(1)) {
        fl + 1
    } else {
        fl
    };
    let m: f64 = num_traits::ToPrimitive::to_f64(&m).unwrap();
    let mag = libm::ldexp(m, q as i32);
    let mag = if mag > max { f64::INFINITY } else { mag };
    if s.is_negative() {
        -mag
    } else {
        mag
    }
}

/// Any finite f64: random sign, significand and exponent over the whole range,
/// subnormals and the top binade included, and a few exact powers of two.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        (any::<bool>(), 0u64..(1 << 52), 0u64..2047).prop_map(|(neg, frac, ex)| {
            let v = f64::from_bits((ex << 52) | frac);
            if neg {
                -v
            } else {
                v
            }
        }),
        (-1074i32..1024).prop_map(|e| libm::ldexp(1.0, e)),
        (1u64..64).prop_map(f64::from_bits),
        (-1.0f64..1.0),
    ]
}

fn dot_rational(xs: &[f64], ys: &[f64]) -> BigRational {
    xs.iter()
        .zip(ys)
        .fold(BigRational::zero(), |acc, (&x, &y)| {
            acc + rational(x) * rational(y)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Products from 2^-2148 to 2^2046: overflowing and underflowing products, cancelling
    /// tops, subnormal tails. An exact dot past f64::MAX must be infinite, never NaN.
    #[test]
    fn exact_dot_over_the_whole_f64_range(pairs in prop::collection::vec((any_f64(), any_f64()), 1..12), cancel in any::<bool>()) {
        let mut xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let mut ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        if cancel {
            // The largest product cancelled exactly: what is left is the small ones.
            xs.push(-xs[0]);
            ys.push(ys[0]);
        }
        let s = dot_rational(&xs, &ys);
        let got = exact_dot(&xs, &ys);
        let want = reference_round(&s, 53, -1022, f64::MAX);
        prop_assert_eq!(got.to_bits(), want.to_bits(), "exact dot {:e}, reference {:e}", got, want);
    }

    /// One rounding, straight from the exact value to each narrower format.
    #[test]
    fn value_in_rounds_once_to_every_format(pairs in prop::collection::vec((any_f64(), any_f64()), 1..8), scale in -160i32..160) {
        use detbench::numerics::exact::ExactAcc;
        use detbench::numerics::Precision;
        let xs: Vec<f64> = pairs.iter().map(|p| libm::ldexp(p.0.abs().max(1e-300).log2().fract() + 1.0, scale) * p.0.signum()).collect();
        let ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let mut acc = ExactAcc::new();
        for (&x, &y) in xs.iter().zip(&ys) {
            acc.add_product(x, y);
        }
        let s = dot_rational(&xs, &ys);
        for p in Precision::ALL {
            let got = acc.value_in(p);
            let want = reference_round(&s, p.mantissa_bits() as i64, p.emin() as i64, p.max_finite());
            prop_assert_eq!(got.to_bits(), want.to_bits(), "{}: {:e} vs {:e}", p, got, want);
        }
    }
}

/// The cases of issue 11, fixed: top-of-range products and a sum of tiny products.
#[test]
fn range_edges_of_the_dot_oracle() {
    use detbench::numerics::exact::ExactAcc;
    use detbench::numerics::Precision;
    // 2^1023 * 2^1023 - 2^1023 * 2^1023 + 1: the products overflow f64, the dot does not.
    let big = libm::ldexp(1.0, 1023);
    assert_eq!(exact_dot(&[big, big, 1.0], &[big, -big, 1.0]), 1.0);
    // A dot past f64::MAX is infinite (reported as overflow), not NaN.
    assert_eq!(exact_dot(&[big, big], &[big, 1.0]), f64::INFINITY);
    // 1000 products 2^-1074 * 0.75: 750 * 2^-1074 exactly.
    let tiny = f64::from_bits(1);
    let xs = vec![tiny; 1000];
    let ys = vec![-0.75; 1000];
    assert_eq!(exact_dot(&xs, &ys), -750.0 * tiny);
    // Double rounding: 2^58 + 2^34 + 1 in f32 is 2^58 + 2^35, not 2^58.
    let mut acc = ExactAcc::new();
    for v in [libm::ldexp(1.0, 58), libm::ldexp(1.0, 34), 1.0] {
        acc.add(v);
    }
    assert_eq!(
        acc.value_in(Precision::F32),
        libm::ldexp(1.0, 58) + libm::ldexp(1.0, 35)
    );
    let s = dot_rational(
        &[libm::ldexp(1.0, 58), libm::ldexp(1.0, 34), 1.0],
        &[1.0, 1.0, 1.0],
    );
    assert_eq!(
        reference_round(&s, 24, -126, f32::MAX as f64),
        libm::ldexp(1.0, 58) + libm::ldexp(1.0, 35)
    );
}

/// Sums of magnitudes past f64::MAX stay finite in the wide format.
#[test]
fn wide_magnitudes_do_not_overflow() {
    use detbench::numerics::exact::sum_abs_products_wide;
    let big = libm::ldexp(1.0, 1023);
    let w = sum_abs_products_wide(&[big, big], &[big, -big]);
    assert_eq!(w.e, 2047);
    assert!(w.m >= 1.0 && w.m < 1.0 + 1e-15);
    assert!(w.to_f64_up().is_infinite());
    let down = w
        .mul_up(libm::ldexp(1.0, -600))
        .mul_up(libm::ldexp(1.0, -600));
    assert_eq!(down.e, 847);
    assert!(down.to_f64_up() >= libm::ldexp(1.0, 847));
    assert!(down.to_f64_up() <= libm::ldexp(1.0 + 1e-15, 847));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The unrolled f64 path of `ExactAcc::add` (three limb adds) against the general
    /// product path (x * 1, deposited through the loop over 32-bit chunks) and the rational
    /// sum, on values over the whole f64 range (subnormals, the top binade, both signs,
    /// zeros), split into parts that are merged the way the streamed oracle merges its
    /// threads' accumulators: every rounding of both agrees.
    #[test]
    fn fast_add_path_agrees_with_the_product_path(xs in prop::collection::vec(any_f64(), 1..40), cut in 0usize..40) {
        use detbench::numerics::exact::ExactAcc;
        use detbench::numerics::Precision;
        let cut = cut.min(xs.len());
        let (mut a, mut b, mut whole) = (ExactAcc::new(), ExactAcc::new(), ExactAcc::new());
        for &x in &xs[..cut] {
            a.add(x);
        }
        for &x in &xs[cut..] {
            b.add(x);
        }
        a.merge(&b);
        for &x in &xs {
            whole.add_product(x, 1.0);
        }
        prop_assert_eq!(a.split(), whole.split());
        prop_assert_eq!(a.signum(), whole.signum());
        prop_assert_eq!(a.abs_up().to_bits(), whole.abs_up().to_bits());
        for p in [Precision::F64, Precision::F32, Precision::Bf16, Precision::F16] {
            prop_assert_eq!(a.value_in(p).to_bits(), whole.value_in(p).to_bits());
        }
        let s = xs.iter().fold(BigRational::zero(), |acc, &x| acc + rational(x));
        if a.value().is_finite() {
            assert_correctly_rounded(&s, a.value());
        }
    }
}

/// The streamed reduction oracle (the input split over threads, each part accumulated
/// and merged) gives the sequential oracle's exact value on held-out inputs large enough
/// to be split, in every input format: `prepare`'s exact value and its condition number's
/// sum of magnitudes against `exact_sum` and `sum_abs` over the same drawn values.
#[test]
fn streamed_reduction_oracle_equals_the_sequential_one() {
    use detbench::inputs::{generate, InputSpec};
    use detbench::numerics::exact::sum_abs;
    use detbench::numerics::Precision;
    use detbench::ops::reduce::prepare;
    use detbench::ops::{Case, Op};
    let n = (1 << 17) + 4097;
    for (spec, p, seed) in [
        (InputSpec::Wide, Precision::F64, 901u64),
        (InputSpec::Normal, Precision::F32, 902),
        (InputSpec::IllConditioned(3.3e9), Precision::F64, 903),
        (InputSpec::Uniform, Precision::Bf16, 904),
    ] {
        let case = Case {
            op: Op::Sum,
            precision: p,
            accumulator: if p == Precision::Bf16 {
                Precision::F32
            } else {
                p
            },
            variant: "tree".into(),
            size: n,
            input: spec.clone(),
            seed,
            runs: 1,
            workgroup_size: 64,
            params: Default::default(),
        };
        let prepared = prepare(&case).unwrap();
        let x = generate(&spec, p, n, seed, 0).unwrap();
        assert_eq!(
            prepared.exact[0].to_bits(),
            exact_sum(&x).to_bits(),
            "{}",
            spec.label()
        );
        let cond = prepared.condition_number.unwrap();
        let mag = sum_abs(&x) / (1.0 + f64::EPSILON);
        let want = mag / exact_sum(&x).abs();
        assert!(
            (cond / want - 1.0).abs() < 1e-14,
            "{}: {cond:e} vs {want:e}",
            spec.label()
        );
    }
}
