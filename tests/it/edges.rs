//! Edge-of-range property tests of the reduction family (issue 11): overflowing and
//! underflowing products, subnormals, top-of-range values, half-quantum ties, zero padding
//! and permutations, on the CPU and on wgpu. Each case checks that the oracle is the
//! correctly rounded exact value, that no `ok` record has an error above its bound or a
//! non-finite exact value or bound, and that ordered wgpu variants equal the CPU emulation
//! bit for bit.

use crate::common;

use detbench::backend::BackendKind;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::reduce::prepare_values;
use detbench::ops::{Case, Op, Prepared, RunSet};
use detbench::report::ResultRecord;
use detbench::runner::finish_record;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, Zero};
use proptest::prelude::*;

fn case(op: Op, p: Precision, acc: Precision, variant: &str, n: usize) -> Case {
    Case {
        op,
        precision: p,
        accumulator: acc,
        variant: variant.into(),
        size: n,
        input: InputSpec::Normal,
        seed: 1,
        runs: 2,
        workgroup_size: 64,
        params: Default::default(),
    }
}

fn record(prep: &Prepared, set: &RunSet) -> ResultRecord {
    finish_record(ResultRecord::default(), prep, set)
}

/// The exact rational value of a finite double.
fn rational(x: f64) -> BigRational {
    if x == 0.0 {
        return BigRational::zero();
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (mant, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    let m = BigRational::from_integer(BigInt::from(mant) * if x < 0.0 { -1 } else { 1 });
    let two = BigRational::from_integer(BigInt::from(2));
    if e >= 0 {
        m * num_traits::pow(two, e as usize)
    } else {
        m / num_traits::pow(two, (-e) as usize)
    }
}

/// Round-to-nearest-even of s to a format, on big rationals only (as in tests/it/oracle.rs).
fn reference_round(s: &BigRational, p: Precision) -> f64 {
    if s.is_zero() {
        return 0.0;
    }
    let a = s.abs();
    let two = BigRational::from_integer(BigInt::from(2));
    let pow = |k: i64| {
        if k >= 0 {
            num_traits::pow(two.clone(), k as usize)
        } else {
            BigRational::from_integer(BigInt::from(1)) / num_traits::pow(two.clone(), (-k) as usize)
        }
    };
    let mut e = a.numer().bits() as i64 - a.denom().bits() as i64;
    while pow(e) > a {
        e -= 1;
    }
    while pow(e + 1) <= a {
        e += 1;
    }
    let q = e.max(p.emin() as i64) - (p.mantissa_bits() as i64 - 1);
    let scaled = &a / pow(q);
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
    let mag = if mag > p.max_finite() {
        f64::INFINITY
    } else {
        mag
    };
    if s.is_negative() {
        -mag
    } else {
        mag
    }
}

/// A value of format `p` from one of the edge classes: ordinary, top of the range (and
/// near its square root, where products overflow), subnormal, just above the smallest
/// normal, a half-quantum tie (1 + 2^-p), or zero.
fn edge_value(p: Precision) -> impl Strategy<Value = f64> {
    let (emin, bits) = (p.emin(), p.mantissa_bits() as i32);
    let emax = libm::ilogb(p.max_finite());
    (0u8..7, -1.0f64..1.0, any::<bool>()).prop_map(move |(class, m, neg)| {
        let v = match class {
            0 => m,
            1 => p.max_finite() * m.abs().max(0.5),
            2 => libm::ldexp(1.0 + m.abs(), emax / 2 + 1),
            3 => libm::ldexp(m, emin - 1), // subnormal (or rounded to zero)
            4 => libm::ldexp(1.0 + m.abs(), emin),
            5 => 1.0 + libm::ldexp(1.0, -bits) * if m > 0.0 { 1.0 } else { 3.0 },
            _ => 0.0,
        };
        let v = p.round(v);
        if neg {
            -v
        } else {
            v
        }
    })
}

fn formats() -> impl Strategy<Value = Precision> {
    prop_oneof![
        Just(Precision::F32),
        Just(Precision::F64),
        Just(Precision::F16),
        Just(Precision::Bf16)
    ]
}

/// Operands of one case: x, y (for dot) and the format.
fn operands() -> impl Strategy<Value = (Precision, Op, Vec<f64>, Vec<f64>)> {
    (formats(), any::<bool>(), 1usize..24).prop_flat_map(|(p, dot, n)| {
        (
            Just(p),
            Just(if dot { Op::Dot } else { Op::Sum }),
            prop::collection::vec(edge_value(p), n),
            prop::collection::vec(edge_value(p), n),
        )
    })
}

/// The accumulators run for a format: its own, and f64.
fn accumulators(p: Precision) -> Vec<Precision> {
    if p == Precision::F64 {
        vec![p]
    } else {
        vec![p, Precision::F64]
    }
}

/// Runs a prepared case; `None` for no device or a reasoned refusal (unsupported, or a
/// failure with a message: e.g. a fixed-point term that overflows).
fn try_run(kind: BackendKind, prep: &Prepared) -> Option<RunSet> {
    let b = common::backend(kind)?;
    match b.run(&prep.job) {
        Ok(set) => Some(set),
        Err(e) => {
            assert!(
                !e.to_string().is_empty(),
                "{kind}: a refusal needs a reason"
            );
            None
        }
    }
}

/// The case on the CPU and on wgpu, with each run's record (a backend that has no device or
/// refuses the case with a reason is left out).
fn run_both(prep: &Prepared) -> Vec<(BackendKind, RunSet, ResultRecord)> {
    [BackendKind::Cpu, BackendKind::Wgpu]
        .into_iter()
        .filter_map(|kind| {
            let set = try_run(kind, prep)?;
            let r = record(prep, &set);
            Some((kind, set, r))
        })
        .collect()
}

/// Whether the wgpu device's probe (`DeviceInfo::subnormals`) says it keeps subnormals in
/// the compute format of (input, accumulator): f64 when either is f64, else f32. Under
/// `CI` (lavapipe, which keeps them) an undetermined or flushing mode is a failure, so the
/// bitwise comparisons cannot be skipped silently there.
fn wgpu_preserves_subnormals(p: Precision, acc: Precision) -> bool {
    let Some(b) = common::backend(BackendKind::Wgpu) else {
        return false;
    };
    let format = if p == Precision::F64 || acc == Precision::F64 {
        "f64"
    } else {
        "f32"
    };
    let keeps = b.info().preserves_subnormals(format);
    if !keeps {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI's lavapipe should preserve {format} subnormals; the probe says {:?}",
            b.info().subnormals
        );
        eprintln!(
            "wgpu {format} subnormals: {:?}; comparing with the bound only",
            b.info().subnormals.get(format)
        );
    }
    keeps
}

fn check_case(p: Precision, op: Op, x: &[f64], y: &[f64]) {
    let y = (op == Op::Dot).then(|| y.to_vec());
    // The exact value, independently, on big rationals.
    let s = match &y {
        None => x.iter().fold(BigRational::zero(), |a, &v| a + rational(v)),
        Some(y) => x.iter().zip(y).fold(BigRational::zero(), |a, (&u, &v)| {
            a + rational(u) * rational(v)
        }),
    };
    for acc in accumulators(p) {
        for variant in detbench::ops::reduce::VARIANTS {
            let c = case(op, p, acc, variant, x.len());
            let prep = prepare_values(&c, x.to_vec(), y.clone()).expect("prepare");
            let label = format!("{op} {p}->{acc} {variant} x={x:?} y={y:?}");
            // The oracle: correctly rounded to f64, and once (not twice) to the output.
            assert_eq!(
                prep.exact[0].to_bits(),
                reference_round(&s, Precision::F64).to_bits(),
                "{label}: exact"
            );
            assert_eq!(
                prep.exact_out[0].to_bits(),
                reference_round(&s, acc).to_bits(),
                "{label}: exact in {acc}"
            );
            if let Some(b) = prep.bounds[0] {
                assert!(b.is_finite() && b >= 0.0, "{label}: bound {b}");
            }
            let mut ordered = Vec::new();
            for (kind, set, r) in run_both(&prep) {
                if r.status == "ok" {
                    let (e, b) = (prep.exact[0], prep.bounds[0].unwrap_or(f64::NAN));
                    assert!(
                        e.is_finite() && b.is_finite(),
                        "{label} {kind}: ok with exact {e} bound {b}"
                    );
                    let slack = (e.next_up() - e) / 2.0; // exact is itself rounded to f64
                    assert!(
                        r.max_abs_err.unwrap() <= b + slack,
                        "{label} {kind}: ok above its bound"
                    );
                }
                // Every finite output is within its bound (whatever the status says).
                if set.outputs.iter().all(|o| o[0].is_finite()) && prep.bounds[0].is_some() {
                    assert!(
                        !r.message.contains("exceeded the a-priori error bound"),
                        "{label} {kind}: {:?} vs exact {:e}, bound {:?}",
                        set.outputs[0],
                        prep.exact[0],
                        prep.bounds[0]
                    );
                }
                if ["tree", "kahan", "fixed_point", "reproducible"].contains(variant) {
                    ordered.push((kind, set.outputs[0][0]));
                }
            }
            if let [(_, a), (_, b)] = ordered[..] {
                // The CPU emulation keeps subnormals: bit equality is the claim only for a
                // device whose probe says it does too (lavapipe: preserved). A flushing
                // device is held to the bound above, which has flush-to-zero terms.
                if wgpu_preserves_subnormals(p, acc) {
                    assert!(
                        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                        "{label}: wgpu {b:e} differs from the CPU emulation {a:e}"
                    );
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::cases(48), ..ProptestConfig::default() })]

    /// Every class at once: the oracle, the bound of every `ok`, wgpu == CPU emulation.
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    #[test]
    fn edges_are_judged_right_on_every_backend((p, op, x, y) in operands()) {
        check_case(p, op, &x, &y);
    }

    /// Permuting the terms or padding them with zeros changes no exact value, and leaves the
    /// bits of reproducible alone; fixed_point's bits are kept under permutation (its scale
    /// depends on the multiset and on n, so padding may change them: documented).
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    #[test]
    fn permutation_and_padding((p, op, x, y) in operands(), rot in 0usize..24, pad in 1usize..9) {
        let n = x.len();
        let rot = rot % n;
        let perm = |v: &[f64]| -> Vec<f64> { v[rot..].iter().chain(&v[..rot]).copied().collect() };
        let padded = |v: &[f64]| -> Vec<f64> { v.iter().copied().chain(std::iter::repeat_n(0.0, pad)).collect() };
        let yy = (op == Op::Dot).then(|| y.clone());
        for variant in ["fixed_point", "reproducible"] {
            let c = case(op, p, Precision::F64.max(p), variant, n);
            let base = prepare_values(&c, x.clone(), yy.clone()).unwrap();
            let moved = prepare_values(&c, perm(&x), yy.as_deref().map(perm)).unwrap();
            let c2 = case(op, p, Precision::F64.max(p), variant, n + pad);
            let grown = prepare_values(&c2, padded(&x), yy.as_deref().map(padded)).unwrap();
            prop_assert_eq!(base.exact[0].to_bits(), moved.exact[0].to_bits());
            prop_assert_eq!(base.exact[0].to_bits(), grown.exact[0].to_bits());
            for kind in [BackendKind::Cpu, BackendKind::Wgpu] {
                let (Some(a), Some(b)) = (try_run(kind, &base), try_run(kind, &moved)) else { continue };
                prop_assert_eq!(a.outputs[0][0].to_bits(), b.outputs[0][0].to_bits(), "{} {} permuted", kind, variant);
                if variant == "reproducible" {
                    if let Some(g) = try_run(kind, &grown) {
                        prop_assert_eq!(a.outputs[0][0].to_bits(), g.outputs[0][0].to_bits(), "{} padded", kind);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The fused multiply-add near the subnormal range. WGSL has no guaranteed fused f32/f64
// fma on lavapipe, so reduce.wgsl emulates it (Veltkamp split + round to odd); the CPU
// emulation uses the hardware's correctly rounded fma. Here one thread of a `tree` dot
// computes fma(a, b, c) with c = x[0] * 1 and a * b the product of the last element
// (workgroup size 32, 1024 workgroups: thread 0 owns elements 0 and 32768); every other
// product is 0 and adds exactly. `kahan` takes the product's error the same way.

/// Operands whose product lies near the format's subnormal range (or has a subnormal
/// operand), and an addend on or near the subnormal grid (ties included).
fn fma_edge(p: Precision) -> impl Strategy<Value = (f64, f64, f64)> {
    let (emin, bits) = (p.emin(), p.mantissa_bits() as i32);
    let sub = p.min_subnormal();
    let frac = 1u64 << (bits - 1);
    (
        0u64..frac,
        0u64..frac,
        (emin - bits - 6)..(emin + 6),
        -40i32..40,
        0u8..4,
        -16i64..16,
        any::<(bool, bool)>(),
    )
        .prop_map(move |(ma, mb, e_prod, split, cclass, k, (na, nb))| {
            // Full-width significands (their product needs up to 2p bits).
            let sa = 1.0 + ma as f64 / frac as f64;
            let sb = 1.0 + mb as f64 / frac as f64;
            let ea = e_prod / 2 + split;
            let a = p.round(libm::ldexp(sa, ea));
            let b = p.round(libm::ldexp(sb, e_prod - ea));
            let c = match cclass {
                0 => k as f64 * sub,
                1 => -p.round(a * b) + k as f64 * sub,
                2 => p.round(libm::ldexp(1.0 + k as f64 / 64.0, emin + (k as i32 % 8))),
                _ => 0.0,
            };
            let c = p.round(c);
            (if na { -a } else { a }, if nb { -b } else { b }, c)
        })
}

fn fma_case(p: Precision, variant: &str, a: f64, b: f64, c: f64) -> (Prepared, String) {
    let n = 32 * 1024 + 1;
    let mut x = vec![0.0; n];
    let mut y = vec![0.0; n];
    (x[0], y[0]) = (c, 1.0);
    (x[n - 1], y[n - 1]) = (a, b);
    let mut cs = case(Op::Dot, p, p, variant, n);
    cs.workgroup_size = 32;
    let prep = prepare_values(&cs, x, Some(y)).expect("prepare");
    (prep, format!("{p} {variant}: fma({a:e}, {b:e}, {c:e})"))
}

fn fma_matches(p: Precision, a: f64, b: f64, c: f64) -> Result<(), TestCaseError> {
    for variant in ["tree", "kahan"] {
        let (prep, label) = fma_case(p, variant, a, b, c);
        let Some(cpu) = try_run(BackendKind::Cpu, &prep) else {
            continue;
        };
        if variant == "tree" {
            // The CPU emulation is the correctly rounded fma.
            let want = match p {
                Precision::F32 => (a as f32).mul_add(b as f32, c as f32) as f64,
                _ => a.mul_add(b, c),
            };
            // (The tree then adds +0 partials, so a -0 comes out +0: compared as values.)
            let got = cpu.outputs[0][0];
            prop_assert!(
                got.to_bits() == want.to_bits() || (got == 0.0 && want == 0.0),
                "{} on the CPU: {:e}, fused {:e}",
                label,
                got,
                want
            );
        }
        let Some(gpu) = try_run(BackendKind::Wgpu, &prep) else {
            continue;
        };
        let (u, v) = (cpu.outputs[0][0], gpu.outputs[0][0]);
        if !wgpu_preserves_subnormals(p, p) {
            continue;
        }
        prop_assert!(
            u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan()),
            "{}: wgpu {:e} differs from the CPU emulation {:e}",
            label,
            v,
            u
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::cases(32), ..ProptestConfig::default() })]

    /// f32: wgpu's emulated fma equals the CPU's fused one, bit for bit, near subnormals.
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    #[test]
    fn fma_near_subnormal_products_f32((a, b, c) in fma_edge(Precision::F32)) {
        fma_matches(Precision::F32, a, b, c)?;
    }

    /// f64 likewise (where the adapter has SHADER_F64).
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    #[test]
    fn fma_near_subnormal_products_f64((a, b, c) in fma_edge(Precision::F64)) {
        fma_matches(Precision::F64, a, b, c)?;
    }
}

/// f64 fma near the top of the range: an overflowing product brought back by c, sums that
/// overflow, and a tiny c against a product at the overflow threshold.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn fma64_near_overflow() {
    let max = f64::MAX;
    let p2 = |e: i32| libm::ldexp(1.0, e);
    for (a, b, c) in [
        (max, 2.0, -max),
        (max, 1.5, -max),
        (p2(1023), p2(1), -max),
        (max, 1.0, max),
        (max, -1.0, -max),
        (p2(600), p2(500), -max),
        (p2(512) + p2(460), p2(512) - p2(460), -p2(-1074)),
        (
            (p2(27) + 1.0) * p2(485),
            (p2(27) - 1.0) * p2(485),
            -p2(-1074),
        ),
        (
            (p2(27) + 1.0) * p2(485),
            (p2(27) - 1.0) * p2(485),
            p2(-1074),
        ),
        (p2(1000), p2(30), p2(1023)),
        (-p2(1000), p2(24), max),
    ] {
        fma_matches(Precision::F64, a, b, c).unwrap();
    }
}

/// The subnormal probe: the CPU and lavapipe keep subnormals in f32 and f64, and the
/// classification names every combination (a flushing device would read "flushed").
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn subnormal_probe_reports_the_device_mode() {
    use detbench::backend::{subnormal_mode, subnormal_mode_of};
    assert_eq!(subnormal_mode_of(true, true), subnormal_mode::PRESERVED);
    assert_eq!(subnormal_mode_of(false, false), subnormal_mode::FLUSHED);
    assert_eq!(
        subnormal_mode_of(true, false),
        subnormal_mode::FLUSHES_RESULTS
    );
    assert_eq!(
        subnormal_mode_of(false, true),
        subnormal_mode::FLUSHES_OPERANDS
    );
    let cpu = common::backend(BackendKind::Cpu).expect("cpu");
    for f in ["f32", "f64"] {
        assert!(
            cpu.info().preserves_subnormals(f),
            "cpu {f}: {:?}",
            cpu.info().subnormals
        );
    }
    if let Some(g) = common::backend(BackendKind::Wgpu) {
        let s = &g.info().subnormals;
        assert!(s.contains_key("f32"), "wgpu: no f32 probe result: {s:?}");
        for (f, mode) in s {
            assert!(
                !mode.starts_with(subnormal_mode::UNKNOWN),
                "wgpu {f}: the probe failed: {mode}"
            );
        }
        if g.info().name.contains("llvmpipe") {
            // Mesa's lavapipe keeps subnormals (measured on this 2-core VM: f32 and f64).
            assert!(g.info().preserves_subnormals("f32"), "{s:?}");
        }
    }
}

/// A scatter case over explicit f32 values, all in bin 0 (`--index-dist single`).
fn scatter_single(variant: &str, values: &[f64]) -> Prepared {
    use detbench::ops::scatter::{IndexSource, ScatterParams};
    use detbench::ops::FamilyParams;
    let dir = std::env::temp_dir().join(format!("detbench-edges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{variant}-{}.npy", values.len()));
    detbench::inputs::write_npy(&path, Precision::F32, values, &[values.len() as u64]).unwrap();
    let c = Case {
        op: Op::ScatterAdd,
        precision: Precision::F32,
        accumulator: Precision::F32,
        variant: variant.into(),
        size: values.len(),
        input: InputSpec::File(path.display().to_string()),
        seed: 1,
        runs: 1,
        workgroup_size: 64,
        params: FamilyParams::new(ScatterParams {
            bins: 1,
            index: IndexSource::Dist("single".into()),
        }),
    };
    detbench::runner::prepare(&c).expect("prepare")
}

/// Scatter bounds carry the flush-to-zero terms: a bin of subnormal values is exact with
/// gradual underflow, but a flushing device returns 0, so the bound must cover the sum.
#[test]
fn scatter_bounds_cover_flushed_subnormals() {
    let tiny = [1e-40f32 as f64, 3e-41f32 as f64];
    for variant in [
        "atomic_cas",
        "sort_segmented",
        "fixed_point",
        "reproducible",
    ] {
        let prep = scatter_single(variant, &tiny);
        let b = prep.bounds[0].expect("a finite bound");
        assert!(
            b >= tiny[0] + tiny[1],
            "{variant}: bound {b:e} does not cover flushing {:e}",
            tiny[0] + tiny[1]
        );
    }
}

/// Reproducible scatter says what its one global layout drops: values wholly below the
/// precision floor, counted against the floor the layout reports.
#[test]
fn reproducible_scatter_names_what_it_drops() {
    let values = [1e30f32 as f64, 1e-30f32 as f64, -2e-30f32 as f64, 0.0];
    let prep = scatter_single("reproducible", &values);
    let detbench::ops::Job::Scatter(job) = &prep.job else {
        unreachable!()
    };
    let floor = job.repro.expect("layout").floor();
    let below = values
        .iter()
        .filter(|v| **v != 0.0 && v.abs() < floor)
        .count();
    assert_eq!(below, 2, "floor {floor:e}");
    assert!(
        prep.note
            .contains("dropped: 2 of 4 values lie wholly below the floor"),
        "{}",
        prep.note
    );
    // And the row is judged against a bound that includes them.
    let set = try_run(BackendKind::Cpu, &prep).expect("cpu runs reproducible");
    assert_eq!(record(&prep, &set).bound_violations, 0);
}

// ---------------------------------------------------------------------------------------
// The emulated f32 fma of common.wgsl, directly: one dispatch computes it for a batch of
// adversarial (a, b, c) triples, with and without the f64 path (FMA32_F64), and the
// integer path and the round-to-odd product that half accumulators use, each checked
// against the exact rational value (and the CPU emulation's hardware fma against it too).

/// The wgpu device as a `WgpuBackend` (the shared test device is behind the `Backend`
/// trait), opened once; `None` without an adapter.
fn wgpu_device() -> Option<&'static detbench::backend::wgpu::WgpuBackend> {
    static DEV: std::sync::OnceLock<Option<detbench::backend::wgpu::WgpuBackend>> =
        std::sync::OnceLock::new();
    DEV.get_or_init(|| {
        // Through the shared lookup first, so CI's "no adapter is a failure" rule applies.
        common::backend(BackendKind::Wgpu)?;
        detbench::backend::wgpu::discover().0.into_iter().next()
    })
    .as_ref()
}

/// The test kernel: per triple, fma32, fma32_int to nearest, mul_odd32 and fma32_int to odd.
const FMA_PROBE: &str = "
struct Params {
    n: u32,
    zero: u32,
}
@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> abc: array<u32>;
@group(0) @binding(2) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(64)
fn probe(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.x;
    if (i >= prm.n) {
        return;
    }
    let a = bitcast<f32>(abc[3u * i]);
    let b = bitcast<f32>(abc[3u * i + 1u]);
    let c = bitcast<f32>(abc[3u * i + 2u]);
    o[4u * i] = bitcast<u32>(fma32(a, b, c));
    o[4u * i + 1u] = bitcast<u32>(fma32_int(a, b, c, false));
    o[4u * i + 2u] = bitcast<u32>(mul_odd32(a, b));
    o[4u * i + 3u] = bitcast<u32>(fma32_int(a, b, c, true));
}
";

/// The four results of every triple on the device, or `None` (with the reason printed).
fn run_fma_probe(
    b: &detbench::backend::wgpu::WgpuBackend,
    through_f64: bool,
    triples: &[(f32, f32, f32)],
) -> Option<Vec<[f32; 4]>> {
    use detbench::backend::wgpu::Pass;
    use detbench::ops::wgsl::specialise_with_prelude;
    use wgpu::Features as F;
    let mut flags = vec!["OPAQUE", "TWO_SUM32", "FMA32"];
    if through_f64 {
        if !b.has(F::SHADER_F64 | F::SHADER_INT64) {
            eprintln!("no SHADER_F64 + SHADER_INT64: fma32 through f64 not checked");
            return None;
        }
        flags.extend(["FMA32_F64", "EFT64"]);
    }
    let src = specialise_with_prelude("alias C = f32;\n", "fma probe", FMA_PROBE, &flags)
        .expect("the probe specialises");
    let pipeline = b.pipeline(&src, "probe").expect("the probe compiles");
    let words: Vec<u8> = triples
        .iter()
        .flat_map(|&(a, b, c)| [a, b, c])
        .flat_map(|v| v.to_bits().to_le_bytes())
        .collect();
    let n = triples.len() as u32;
    let input = b.storage_from_bytes("triples", &words).unwrap();
    let out = b.storage_zeroed("results", 16 * n as u64).unwrap();
    let prm = b.uniform("params", &[n, 0u32, 0, 0]).unwrap();
    let bg = b
        .bind_group(&pipeline, &[(0, &prm), (1, &input), (2, &out)])
        .unwrap();
    let ex = b
        .execute(
            &[],
            &[Pass::new(&pipeline, &bg, [n.div_ceil(64), 1, 1])],
            &[&out],
        )
        .unwrap();
    let got: Vec<f32> = ex.outputs[0]
        .chunks_exact(4)
        .map(|c| f32::from_bits(u32::from_le_bytes(c.try_into().unwrap())))
        .collect();
    Some(
        got.chunks_exact(4)
            .take(triples.len())
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect(),
    )
}

/// x rounded to odd in f32: x itself if it is an f32, else whichever neighbour has an odd
/// significand (the largest finite value above the range).
fn reference_odd32(s: &BigRational) -> f32 {
    let r = reference_round(s, Precision::F32) as f32;
    if r.is_infinite() {
        return f32::MAX.copysign(r);
    }
    let exact = rational(r as f64);
    if &exact == s {
        return r;
    }
    // t: the neighbour towards zero.
    let t = if exact.abs() > s.abs() {
        f32::from_bits(r.to_bits() - 1)
    } else {
        r
    };
    let t = if t == 0.0 && s.is_negative() { -0.0 } else { t };
    f32::from_bits(t.to_bits() | 1)
}

/// a * b + c correctly rounded to f32, from the exact value (signed zeros as IEEE 754 says
/// for an exact zero sum; non-finite operands as the fused operation).
fn reference_fma32(a: f32, b: f32, c: f32) -> f32 {
    if !(a.is_finite() && b.is_finite() && c.is_finite()) {
        return a.mul_add(b, c);
    }
    let s = rational(a as f64) * rational(b as f64) + rational(c as f64);
    if s.is_zero() {
        // Both terms zero: -0 only if both are -0; otherwise an exact cancellation: +0.
        let zero_prod_neg =
            (a == 0.0 || b == 0.0) && (a.is_sign_negative() != b.is_sign_negative());
        return if zero_prod_neg && c.is_sign_negative() {
            -0.0
        } else {
            0.0
        };
    }
    let r = reference_round(&s, Precision::F32) as f32;
    if r == 0.0 && s.is_negative() {
        -0.0
    } else {
        r
    }
}

fn same32(x: f32, y: f32) -> bool {
    x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
}

/// An f32 with a random significand and the given exponent (subnormal or zero below the
/// range, infinite above it).
fn f32_at(m: u32, e: i32, neg: bool) -> f32 {
    let v = libm::ldexp(1.0 + (m & 0x7fffff) as f64 / 8388608.0, e);
    let v = v as f32;
    if neg {
        -v
    } else {
        v
    }
}

/// Adversarial triples: products from far below the subnormal range to past overflow,
/// subnormal operands, addends that cancel the product, halfway cases (the product half
/// an ulp of c, or just off it), subnormal results, zeros and non-finite values.
fn fma_triple() -> impl Strategy<Value = (f32, f32, f32)> {
    (
        any::<[u32; 3]>(),
        -300i32..260,
        -40i32..40,
        0u8..9,
        -3i32..4,
        any::<[bool; 3]>(),
    )
        .prop_map(|(m, e_prod, split, class, k, neg)| {
            let ea = (e_prod / 2 + split).clamp(-149, 127);
            let a = f32_at(m[0], ea, neg[0]);
            let b = f32_at(m[1], e_prod - ea, neg[1]);
            let ab = a as f64 * b as f64;
            let c = match class {
                // Anywhere in the range.
                0 => f32_at(m[2], (m[2] % 300) as i32 - 160, neg[2]),
                // Cancelling the product, to within a few ulps.
                1 => {
                    let r = -(ab as f32);
                    if r.is_finite() && r != 0.0 {
                        f32::from_bits((r.to_bits() as i64 + k as i64).max(0) as u32)
                    } else {
                        r
                    }
                }
                // Subnormal (or the smallest normals).
                2 => f32::from_bits(m[2] % 0x0100_0000) * if neg[2] { -1.0 } else { 1.0 },
                // c with the product at half its ulp, exactly or just off (ties).
                3 | 4 if ab != 0.0 && ab.is_finite() => {
                    let ulp_exp = libm::ilogb(ab) + 1 - (m[2] % 3) as i32;
                    let c = f32_at(m[2], ulp_exp + 23, neg[2]);
                    if class == 3 {
                        c
                    } else {
                        f32::from_bits((c.to_bits() as i64 + k as i64).max(0) as u32)
                    }
                }
                3..=5 => 0.0,
                6 => -0.0,
                7 => [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MAX][(m[2] % 4) as usize],
                _ => f32::MIN_POSITIVE * (k as f32),
            };
            // Now and then an exact power-of-two product (a tie is then exactly possible).
            let (a, b) = if m[0] % 5 == 0 {
                (
                    f32_at(0, ea, neg[0]),
                    f32_at(m[1] & !0xffff, e_prod - ea, neg[1]),
                )
            } else {
                (a, b)
            };
            (a, b, c)
        })
}

fn check_fma_batch(triples: &[(f32, f32, f32)]) -> Result<(), TestCaseError> {
    for &(a, b, c) in triples {
        // The CPU emulation's fma (`Arith::fma` for f32) is the hardware's: the oracle agrees.
        let want = reference_fma32(a, b, c);
        let cpu = a.mul_add(b, c);
        prop_assert!(
            same32(cpu, want),
            "cpu fma({a:e}, {b:e}, {c:e}) = {cpu:e}, exact rounds to {want:e}"
        );
    }
    use detbench::backend::Backend as _;
    let Some(dev) = wgpu_device() else {
        return Ok(());
    };
    if !dev.info().preserves_subnormals("f32") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI's lavapipe keeps f32 subnormals"
        );
        eprintln!("wgpu flushes f32 subnormals: the emulated fma is not compared here");
        return Ok(());
    }
    for through_f64 in [false, true] {
        let Some(got) = run_fma_probe(dev, through_f64, triples) else {
            continue;
        };
        for (&(a, b, c), r) in triples.iter().zip(&got) {
            let label = format!(
                "fma({a:e}, {b:e}, {c:e}) [{:08x} {:08x} {:08x}] through_f64={through_f64}",
                a.to_bits(),
                b.to_bits(),
                c.to_bits()
            );
            let want = reference_fma32(a, b, c);
            prop_assert!(
                same32(r[0], want),
                "{}: fma32 {:e}, exact rounds to {:e}",
                label,
                r[0],
                want
            );
            prop_assert!(
                same32(r[1], want),
                "{}: fma32_int {:e}, exact rounds to {:e}",
                label,
                r[1],
                want
            );
            if !(a.is_finite() && b.is_finite() && c.is_finite()) {
                continue;
            }
            let ab = rational(a as f64) * rational(b as f64);
            if !ab.is_zero() {
                let odd = reference_odd32(&ab);
                prop_assert!(
                    same32(r[2], odd),
                    "{}: mul_odd32 {:e}, odd rounding {:e}",
                    label,
                    r[2],
                    odd
                );
                // Rounded once more to a half format: the correctly rounded product.
                for h in [Precision::Bf16, Precision::F16] {
                    let once = reference_round(&ab, h);
                    let twice = h.round(r[2] as f64);
                    prop_assert!(
                        once.to_bits() == twice.to_bits()
                            || (once == 0.0
                                && twice == 0.0
                                && once.is_sign_negative() == twice.is_sign_negative()),
                        "{}: {} product {:e}, exact rounds to {:e}",
                        label,
                        h,
                        twice,
                        once
                    );
                }
            }
            let s = &ab + rational(c as f64);
            if !s.is_zero() {
                let odd = reference_odd32(&s);
                prop_assert!(
                    same32(r[3], odd),
                    "{}: fma32_int to odd {:e}, odd rounding {:e}",
                    label,
                    r[3],
                    odd
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::cases(16), ..ProptestConfig::default() })]

    /// fma32 (with and without f64), its integer path and the odd-rounded product equal
    /// the rounding of the exact rational value, on 256 adversarial triples per case.
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    #[test]
    fn wgsl_fma32_is_correctly_rounded(triples in prop::collection::vec(fma_triple(), 256)) {
        check_fma_batch(&triples)?;
    }
}

/// Hand-picked triples the random classes may miss: products entirely below f32's range
/// against a subnormal c at a tie, overflowing products brought back by c, and the
/// smallest and largest operands.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn wgsl_fma32_hand_picked_edges() {
    let sub = f32::from_bits(1); // 2^-149
    let t = |a: f32, b: f32, c: f32| (a, b, c);
    let p2 = |e: i32| libm::ldexp(1.0, e) as f32;
    let triples = vec![
        // 2^-150 * (1 + 2^-20) + 2^-149: just above the tie, rounds up to 2^-148.
        t(p2(-75) * (1.0 + p2(-20)), p2(-75), sub),
        t(p2(-75), p2(-75), sub), // exact tie: 1.5 * 2^-149 rounds to even 2^-148
        t(p2(-75), -p2(-75), sub), // 0.5 * 2^-149: rounds to even, 2^-149
        t(p2(-100), p2(-100), -sub), // far below: -2^-149 stays, sign kept
        t(p2(-100), -p2(-100), sub), // sub - tiny: rounds to sub
        t(p2(-100), -p2(-100), 0.0), // the product alone: -0
        t(sub, sub, 0.0),         // 2^-298: +0
        t(sub, -sub, p2(-126)),
        t(f32::MAX, 2.0, -f32::MAX), // overflowing product, finite result
        t(f32::MAX, 1.5, -f32::MAX),
        t(p2(127), p2(1), -f32::MAX), // 2^128 - MAX = 2^104
        t(f32::MAX, f32::MAX, f32::NEG_INFINITY),
        t(f32::MAX, -f32::MAX, f32::MAX),
        t(3.0 * p2(-80), p2(-60), -p2(-139)),
        t(1.0 + p2(-23), 1.0 - p2(-24), -1.0),
        t(p2(64), p2(63), p2(-149)),
        t(p2(-126), p2(-23), -p2(-149)), // cancels exactly: +0
    ];
    check_fma_batch(&triples).unwrap();
}

// ---------------------------------------------------------------------------------------
// The three statements of issue 11 across the families that claim them: matmul, conv
// (fwd), row_sum and mean, scatter_add. Edge values reach each family through an input
// file (its first operand; a second operand is drawn normal from the seed), and the exact
// value of every output element is computed here on big rationals from the job's operands.

/// `values` as an .npy input of format `p`.
fn npy_input(tag: &str, p: Precision, values: &[f64]) -> InputSpec {
    let dir = std::env::temp_dir().join(format!("detbench-edges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}-{p}-{}.npy", values.len()));
    detbench::inputs::write_npy(&path, p, values, &[values.len() as u64]).unwrap();
    InputSpec::File(path.display().to_string())
}

/// The case of `op` over the edge `values` (length >= 4), with a small shape that uses them.
fn family_case(op: Op, p: Precision, acc: Precision, variant: &str, values: &[f64]) -> Case {
    use detbench::ops::conv::ConvParams;
    use detbench::ops::matmul::{MatmulParams, MmShape};
    use detbench::ops::rows::RowsParams;
    use detbench::ops::scatter::{IndexSource, ScatterParams};
    use detbench::ops::FamilyParams;
    let half = values.len() / 2;
    let (vals, params): (&[f64], FamilyParams) = match op {
        Op::Matmul => (
            &values[..2 * half],
            FamilyParams::new(MatmulParams {
                shape: MmShape::new(&[2, 3, half]).unwrap(),
            }),
        ),
        Op::Conv2dFwd => (
            values,
            // x: 1 x 1 x 1 x L, w: 2 x 1 x 1 x 3, padding 1: every output a 2- or 3-term dot.
            FamilyParams::new(ConvParams {
                shape: vec![1, 1, 1, values.len(), 2, 1, 3, 1, 1, 1],
            }),
        ),
        Op::RowSum | Op::Mean => (
            &values[..2 * half],
            FamilyParams::new(RowsParams { rows: 2, len: half }),
        ),
        _ => (
            values,
            FamilyParams::new(ScatterParams {
                bins: 3,
                index: IndexSource::Dist("uniform".into()),
            }),
        ),
    };
    Case {
        op,
        precision: p,
        accumulator: acc,
        variant: variant.into(),
        size: vals.len(),
        input: npy_input(op.name(), p, vals),
        seed: 3,
        runs: 2,
        workgroup_size: 64,
        params,
    }
}

/// The exact value of every output element of a prepared family case.
fn exact_elements(prep: &Prepared) -> Vec<BigRational> {
    use detbench::ops::Job;
    let r = |v: f64| rational(v);
    match &prep.job {
        Job::Matmul(j) => {
            let (m, n, k) = (j.shape.m, j.shape.n, j.shape.k);
            (0..m * n)
                .map(|e| {
                    (0..k).fold(BigRational::zero(), |s, t| {
                        s + r(j.a[(e / n) * k + t]) * r(j.b[t * n + e % n])
                    })
                })
                .collect()
        }
        Job::Conv(j) => (0..j.shape.out_len(j.op))
            .map(|e| {
                let mut s = BigRational::zero();
                detbench::ops::conv::cpu::for_each_term(
                    j.op,
                    &j.shape,
                    &j.a,
                    &j.b,
                    e,
                    detbench::ops::conv::Order::Direct,
                    |x, y| s += r(x) * r(y),
                );
                s
            })
            .collect(),
        Job::Rows(j) => (0..j.rows)
            .map(|i| {
                let s = j.x[i * j.len..(i + 1) * j.len]
                    .iter()
                    .fold(BigRational::zero(), |s, &v| s + r(v));
                if j.op == Op::Mean {
                    s / BigRational::from_integer(BigInt::from(j.len))
                } else {
                    s
                }
            })
            .collect(),
        Job::Scatter(j) => {
            let mut bins = vec![BigRational::zero(); j.bins];
            for (&v, &i) in j.x.iter().zip(&j.idx) {
                bins[i as usize] += r(v);
            }
            bins
        }
        _ => unreachable!("not a family of this test"),
    }
}

/// `mean`'s documented reference (src/ops/rows/mod.rs): the exact sum rounded to f64, then
/// divided by N in f64 (two roundings, which its bound counts); from the sum scaled by
/// 2^-64 where the sum itself is beyond f64's range. `s` is the exact mean.
fn mean_reference(s: &BigRational, n: usize) -> f64 {
    let n_r = BigRational::from_integer(BigInt::from(n));
    let sum = reference_round(&(s * &n_r), Precision::F64);
    if sum.is_finite() {
        return sum / n as f64;
    }
    let scale = BigRational::from_integer(BigInt::from(1u128 << 64));
    let scaled = reference_round(&(s * &n_r / scale), Precision::F64);
    scaled / n as f64 * libm::ldexp(1.0, 64)
}

/// The three statements for one family case on the CPU and wgpu.
fn check_family(op: Op, p: Precision, values: &[f64]) {
    for acc in accumulators(p) {
        for variant in op.variants() {
            let c = family_case(op, p, acc, variant, values);
            let label = format!("{op} {p}->{acc} {variant} values={values:?}");
            let prep = match detbench::runner::prepare(&c) {
                Ok(prep) => prep,
                // A refusal with a reason (e.g. a shape the family rejects) is no verdict.
                Err(e) => {
                    assert!(
                        !e.to_string().is_empty(),
                        "{label}: refused without a reason"
                    );
                    continue;
                }
            };
            // 1. Every exact value is the correctly rounded exact value, and the value in
            // the output format is rounded once from it.
            let exact = exact_elements(&prep);
            assert_eq!(exact.len(), prep.exact.len(), "{label}: elements");
            for (i, s) in exact.iter().enumerate() {
                let want = if op == Op::Mean {
                    mean_reference(s, values.len() / 2)
                } else {
                    reference_round(s, Precision::F64)
                };
                assert!(
                    prep.exact[i].to_bits() == want.to_bits()
                        || (prep.exact[i] == 0.0 && want == 0.0),
                    "{label}: exact[{i}] {:e}, the rational rounds to {want:e}",
                    prep.exact[i]
                );
                if let Some(&o) = prep.exact_out.get(i) {
                    let want = reference_round(s, prep.out_precision);
                    assert!(
                        o.to_bits() == want.to_bits() || (o == 0.0 && want == 0.0),
                        "{label}: exact_out[{i}] {o:e}, the rational rounds to {want:e} in {}",
                        prep.out_precision
                    );
                }
            }
            let mut ordered = Vec::new();
            for (kind, set, r) in run_both(&prep) {
                // 2. No `ok` without finite exact values and bounds, none above its bound.
                if r.status == "ok" {
                    for (i, &e) in prep.exact.iter().enumerate() {
                        let b = prep.bounds[i.min(prep.bounds.len() - 1)];
                        assert!(
                            e.is_finite() && b.is_some_and(f64::is_finite),
                            "{label} {kind}: ok with exact[{i}] {e} bound {b:?}"
                        );
                    }
                    assert_eq!(r.bound_violations, 0, "{label} {kind}: ok with violations");
                    for out in &set.outputs {
                        for (i, (&o, &e)) in out.iter().zip(&prep.exact).enumerate() {
                            let b = prep.bounds[i.min(prep.bounds.len() - 1)].unwrap();
                            let slack = (e.next_up() - e) / 2.0;
                            assert!(
                                (o - e).abs() <= b + slack,
                                "{label} {kind}: ok, but element {i} = {o:e} is {:e} from {e:e} (bound {b:e})",
                                (o - e).abs()
                            );
                        }
                    }
                }
                if !prep.job.spec().is_atomic() {
                    ordered.push((kind, set.outputs[0].clone()));
                }
            }
            // 3. Ordered wgpu variants equal the CPU emulation, edges included.
            if let [(_, a), (_, b)] = &ordered[..] {
                if wgpu_preserves_subnormals(p, acc) {
                    for (i, (x, y)) in a.iter().zip(b).enumerate() {
                        assert!(
                            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                            "{label}: element {i}: wgpu {y:e}, CPU emulation {x:e}"
                        );
                    }
                }
            }
        }
    }
}

fn families() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Matmul),
        Just(Op::Conv2dFwd),
        Just(Op::RowSum),
        Just(Op::Mean),
        Just(Op::ScatterAdd),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::cases(24), ..ProptestConfig::default() })]

    /// Issue 11's three statements on edge inputs across the families: exact values are
    /// the correctly rounded rational values; no `ok` above its bound or without a finite
    /// exact value and bound; ordered wgpu variants equal the CPU emulation bit for bit.
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    #[test]
    fn edges_across_families(
        op in families(),
        (p, values) in formats().prop_flat_map(|p| (Just(p), prop::collection::vec(edge_value(p), 4..20))),
    ) {
        check_family(op, p, &values);
    }
}

/// bf16 dot products whose products lie around bf16's smallest subnormal (ties at 2^-134
/// included) and below f32's range: the half accumulator's product is rounded once.
fn tiny_bf16_products() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    prop::collection::vec(
        (
            0u32..128,
            0u32..128,
            -270i32..-125,
            -8i32..8,
            any::<(bool, bool)>(),
        ),
        1..12,
    )
    .prop_map(|terms| {
        let p = Precision::Bf16;
        terms
            .iter()
            .map(|&(mx, my, e, split, (nx, ny))| {
                // Every fourth term a power-of-two product: exact ties are then possible.
                let my = if mx % 4 == 0 { 0 } else { my };
                let ex = (e / 2 + split).clamp(-133, 127);
                let x = p.round(libm::ldexp(1.0 + mx as f64 / 128.0, ex));
                let y = p.round(libm::ldexp(1.0 + my as f64 / 128.0, e - ex));
                (if nx { -x } else { x }, if ny { -y } else { y })
            })
            .unzip()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::cases(16), ..ProptestConfig::default() })]

    /// The oracle, the bounds and wgpu == CPU emulation for bf16 dots of tiny products
    /// (the reduction family's half accumulator, every variant).
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    #[test]
    fn bf16_products_below_f32_range((x, y) in tiny_bf16_products()) {
        check_case(Precision::Bf16, Op::Dot, &x, &y);
    }
}
