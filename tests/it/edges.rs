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

pub(crate) fn case(op: Op, p: Precision, acc: Precision, variant: &str, n: usize) -> Case {
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

pub(crate) fn record(prep: &Prepared, set: &RunSet) -> ResultRecord {
    finish_record(ResultRecord::default(), prep, set)
}

/// The exact rational value of a finite double.
pub(crate) fn rational(x: f64) -> BigRational {
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
pub(crate) fn reference_round(s: &BigRational, p: Precision) -> f64 {
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
pub(crate) fn edge_value(p: Precision) -> impl Strategy<Value = f64> {
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

pub(crate) fn formats() -> impl Strategy<Value = Precision> {
    prop_oneof![
        Just(Precision::F32),
        Just(Precision::F64),
        Just(Precision::F16),
        Just(Precision::Bf16)
    ]
}

/// Operands of one case: x, y (for dot) and the format.
pub(crate) fn operands() -> impl Strategy<Value = (Precision, Op, Vec<f64>, Vec<f64>)> {
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
pub(crate) fn accumulators(p: Precision) -> Vec<Precision> {
    if p == Precision::F64 {
        vec![p]
    } else {
        vec![p, Precision::F64]
    }
}

/// Runs a prepared case; `None` for no device or a reasoned refusal (unsupported, or a
/// failure with a message: e.g. a fixed-point term that overflows).
pub(crate) fn try_run(kind: BackendKind, prep: &Prepared) -> Option<RunSet> {
    let b = common::backend(kind);
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
pub(crate) fn run_both(prep: &Prepared) -> Vec<(BackendKind, RunSet, ResultRecord)> {
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
pub(crate) fn wgpu_preserves_subnormals(p: Precision, acc: Precision) -> bool {
    let b = common::backend(BackendKind::Wgpu);
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

pub(crate) fn check_case(p: Precision, op: Op, x: &[f64], y: &[f64]) {
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
pub(crate) fn fma_edge(p: Precision) -> impl Strategy<Value = (f64, f64, f64)> {
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

pub(crate) fn fma_case(p: Precision, variant: &str, a: f64, b: f64, c: f64) -> (Prepared, String) {
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

pub(crate) fn fma_matches(p: Precision, a: f64, b: f64, c: f64) -> Result<(), TestCaseError> {
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
pub(crate) fn fma64_near_overflow() {
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
pub(crate) fn subnormal_probe_reports_the_device_mode() {
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
    let cpu = common::backend(BackendKind::Cpu);
    for f in ["f32", "f64"] {
        assert!(
            cpu.info().preserves_subnormals(f),
            "cpu {f}: {:?}",
            cpu.info().subnormals
        );
    }
    {
        let g = common::backend(BackendKind::Wgpu);
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
pub(crate) fn scatter_single(variant: &str, values: &[f64]) -> Prepared {
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
pub(crate) fn scatter_bounds_cover_flushed_subnormals() {
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
pub(crate) fn reproducible_scatter_names_what_it_drops() {
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

/// Sizes are refused (exit 2, one line) by what each family holds per element, before any
/// input is drawn: a sum of `avail / 32` elements fits (about 20 bytes each in f32), but
/// not its copy baseline (six f64 words each), which the message says how to drop, and not
/// a dot product of that size (two vectors). 2^40 elements fit nowhere.
#[test]
fn sizes_are_refused_by_each_family_s_host_memory_need() {
    let avail = detbench::shared::host::host_memory_available().expect("MemAvailable");
    let size = (avail / 32).to_string();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--backend",
            "cpu",
            "--precision",
            "f32",
            "--runs",
            "1",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--json", json.to_str().unwrap()]);
        let out = common::cli::bin().args(&args).output().unwrap();
        (args.iter().map(|s| s.to_string()).collect::<Vec<_>>(), out)
    };
    let (args, out) = run(&["--op", "sum", "--variant", "tree", "--size", &size]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::cli::check_bad_input(&args, &out, "pass --no-copy-baseline");
    let (args, out) = run(&["--op", "dot", "--variant", "tree", "--size", &size]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::cli::check_bad_input(&args, &out, &format!("size {size} needs about"));
    let big = (1u64 << 40).to_string();
    let (args, out) = run(&["--op", "sum", "--size", &big, "--no-copy-baseline"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::cli::check_bad_input(&args, &out, "of host memory");
    assert!(!json.exists(), "a refused run wrote {}", json.display());
}
