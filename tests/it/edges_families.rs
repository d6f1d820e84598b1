//! Edge-of-range tests across the families (split from edges.rs): top-of-range,
//! subnormal and tie inputs through every family's exact oracle and bound, on the CPU and
//! on wgpu.

use crate::common;

use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{Case, Op, Prepared};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Zero;
use proptest::prelude::*;

use crate::edges::*;

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

/// `mean`'s documented exact value (src/ops/rows/mod.rs, docs/interface.md "What exact
/// means"): the real quotient S/N, correctly rounded, not fl(fl(S)/N) (which differs from
/// it by an ULP for some rows: [-2.3246163903877902e154, ..., -1.670437736900924e154] of
/// nine values is -5.458144987605183e153, fl(fl(S)/9) ...184e153). `s` is the exact mean.
fn mean_reference(s: &BigRational) -> f64 {
    reference_round(s, Precision::F64)
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
                    mean_reference(s)
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
                        for (i, (&o, &e)) in out.iter().zip(prep.exact.iter()).enumerate() {
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

/// The row fuzzing found where fl(fl(S)/N) and the real mean S/N round apart (CI at
/// 2c8f1ba): `mean`'s exact value is the real mean, on both rows.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn mean_is_the_real_quotient_where_double_rounding_differs() {
    let values = [
        -4.01067914137293e-308,
        -8.988465674311579e307,
        1.0,
        1.355340001738532e308,
        4.358104409166277e-309,
        7.326779929211627e-309,
        -4.326251461612902e-308,
        1.0834516839689773e-308,
        -2.3246163903877902e154,
        -4.095569317762743e-309,
        -2.3522019042458287e154,
        1.4349255426898777e154,
        1.002285249058623e-308,
        6.737408058334815e-309,
        0.0,
        -0.710695101833417,
        -1.670437736900924e154,
    ];
    check_family(Op::Mean, Precision::F64, &values);
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
