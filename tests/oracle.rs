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
