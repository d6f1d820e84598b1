//! Edge-of-range tests of the WGSL f32 fused multiply-add emulation (split from
//! edges.rs): the single-rounding fma32 of `common.wgsl` run by a probe kernel on wgpu,
//! against exact rationals, on hand-picked and generated adversarial triples.

use crate::common;

use detbench::backend::BackendKind;
use detbench::numerics::Precision;
use num_rational::BigRational;
use num_traits::{Signed, Zero};
use proptest::prelude::*;

use crate::edges::*;

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
        common::backend(BackendKind::Wgpu);
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
