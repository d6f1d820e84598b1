//! Property tests of the matmul family on every backend: every variant within its
//! a-priori bound of the exact reference; the ordered variants reproducible and equal to the
//! CPU emulation of their order bit for bit; the batch axis (`--batch-sizes`): `tiled` and
//! `batch_invariant` keep every bit of the shared rows at every batch size, and the split-K
//! variants, whose split follows M, are shown to change them; and bad shapes exit 2.
//! `addmm` (C = A·B + C) gets the same properties, plus a bias that cancels the product
//! exactly giving exact zeros under finite bounds.

use crate::common;

use clap::Parser;
use detbench::backend::BackendKind;
use detbench::cli::{run_config, Cli, Command as CliCommand};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::matmul::{self, MatmulParams, MmShape};
use detbench::ops::{Case, FamilyParams, Job, Op};
use detbench::runner::{self, metrics, prepare, AccChoice};
use proptest::prelude::*;
use std::process::Command;

fn case(p: (Precision, AccChoice), variant: &str, shape: &[usize], seed: u64, runs: usize) -> Case {
    Case {
        op: Op::Matmul,
        precision: p.0,
        accumulator: p.1.resolve(p.0),
        variant: variant.into(),
        size: 0,
        input: InputSpec::Normal,
        seed,
        runs,
        workgroup_size: 64,
        params: FamilyParams::new(MatmulParams {
            shape: MmShape::new(shape).expect("shape"),
        }),
    }
}

/// Small shapes with ragged tiles; K long enough for several splits.
fn shape() -> impl Strategy<Value = Vec<usize>> {
    (1usize..=40, 1usize..=40, 1usize..=300).prop_map(|(m, n, k)| vec![m, n, k])
}

/// Every non-tensor-core variant within its bound on every element, on every run; the
/// ordered ones reproducible and equal to the CPU emulation.
fn within_bound_and_emulated(
    kind: BackendKind,
    p: (Precision, AccChoice),
    shape: &[usize],
    seed: u64,
) {
    within_bound_and_emulated_op(kind, Op::Matmul, p, shape, seed)
}

/// [`within_bound_and_emulated`] for `op` (`matmul` or `addmm`).
fn within_bound_and_emulated_op(
    kind: BackendKind,
    op: Op,
    p: (Precision, AccChoice),
    shape: &[usize],
    seed: u64,
) {
    for variant in [
        "tiled",
        "split_k_atomic",
        "split_k_deterministic",
        "batch_invariant",
    ] {
        let mut c = case(p, variant, shape, seed, 2);
        c.op = op;
        let prep = prepare(&c).expect("prepare");
        let Some(set) = common::run_or_unsupported(kind, &prep) else {
            // Only f64 on a device without it may be refused.
            assert!(
                p.0 == Precision::F64 || p.1.resolve(p.0) == Precision::F64,
                "{kind} {variant} {p:?} refused"
            );
            continue;
        };
        let m = metrics(&prep, &set);
        assert_eq!(
            m.bound_violations, 0,
            "{kind} {variant} {p:?} {shape:?}: {m:?}"
        );
        assert_eq!(m.non_finite, 0);
        if variant == "split_k_atomic" {
            continue;
        }
        assert_eq!(m.distinct_outputs, 1, "{kind} {variant} {p:?} {shape:?}");
        let Job::Matmul(j) = &prep.job else {
            unreachable!()
        };
        assert_eq!(j.bias.is_some(), op == Op::Addmm);
        let emu = matmul::cpu::compute_addmm(
            &j.shape,
            &j.a,
            &j.b,
            j.bias.as_deref(),
            j.accumulator,
            j.precision,
            j.split,
            3,
        );
        for (e, (g, c)) in set.outputs[0].iter().zip(&emu).enumerate() {
            assert_eq!(
                g.to_bits(),
                c.to_bits(),
                "{kind} {variant} {p:?} {shape:?}: element {e} is {g:e}, the CPU emulation gives {c:e}"
            );
        }
    }
}

/// `detbench run` with these flags on one backend.
fn run_report(kind: BackendKind, args: &str) -> Option<detbench::report::Report> {
    common::backend(kind);
    let mut argv = vec![
        "detbench",
        "run",
        "--backend",
        kind.name(),
        "--runs",
        "2",
        "--quiet",
        "--no-copy-baseline",
    ];
    argv.extend(args.split(' '));
    let cli = Cli::try_parse_from(&argv).expect("flags");
    let CliCommand::Run(a) = cli.command else {
        panic!("not run")
    };
    let cfg = run_config(&a, "test".into()).expect("config");
    Some(runner::run(&cfg).expect("run"))
}

/// The batch axis: 1, 3, 8 and 64 rows of A (and, for addmm, of the bias) sharing their
/// first row.
fn batch_axis(kind: BackendKind, op: &str) {
    let Some(report) = run_report(
        kind,
        &format!("--op {op} --precision f32 --mm-shape 8,48,1024 --batch-sizes 1,3,8,64 --variant tiled,split_k_deterministic,batch_invariant,split_k_atomic"),
    ) else {
        return;
    };
    let rows: Vec<_> = report.results.iter().filter(|r| r.op == op).collect();
    assert_eq!(rows.len(), 16);
    for r in &rows {
        assert_eq!(r.status, "ok", "{r:?}");
        assert!(r.batch_size.is_some());
        let (inv, ulp) = (
            r.batch_invariant.expect("measured"),
            r.max_ulp_across_batches.expect("measured"),
        );
        assert_eq!(inv, ulp == 0, "{}: {inv} {ulp}", r.variant);
        match r.variant.as_str() {
            // One order for every M.
            "tiled" | "batch_invariant" => {
                assert!(inv, "{} not batch invariant on {kind}", r.variant)
            }
            // The split follows M (16 splits at M <= 16, 4 at M = 64, N = 48): row 0
            // gets another order and, with these inputs, other bits.
            "split_k_deterministic" => {
                let s = |m| matmul::split_for(&MmShape { m, n: 48, k: 1024 });
                assert_ne!(s(1), s(64));
                assert!(
                    !inv && ulp > 0,
                    "split_k_deterministic kept its bits across M on {kind}"
                );
            }
            _ => {}
        }
    }
}

/// addmm with a bias that cancels the product exactly (small integers: every product and
/// partial sum exact in every format): every variant gives exact zeros, the exact
/// reference is 0 and every bound is finite and respected.
fn addmm_cancels(kind: BackendKind) {
    for p in [
        (Precision::F32, AccChoice::Same),
        (Precision::F16, AccChoice::Default),
        (Precision::Bf16, AccChoice::Same),
        (Precision::F64, AccChoice::Same),
    ] {
        for variant in [
            "tiled",
            "split_k_atomic",
            "split_k_deterministic",
            "batch_invariant",
        ] {
            let mut c = case(p, variant, &[3, 17, 40], 4, 2);
            c.op = Op::Addmm;
            let mut prep = prepare(&c).expect("prepare");
            let Job::Matmul(j) = &mut prep.job else {
                unreachable!()
            };
            let mut x = 0u32;
            let mut small = || {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                f64::from((x >> 16) % 5) - 2.0
            };
            j.a.iter_mut().for_each(|v| *v = small());
            j.b.iter_mut().for_each(|v| *v = small());
            let s = j.shape;
            let bias: Vec<f64> = (0..s.out_len())
                .map(|e| {
                    let (r, col) = (e / s.n, e % s.n);
                    0.0 - (0..s.k)
                        .map(|kk| j.a[r * s.k + kk] * j.b[kk * s.n + col])
                        .sum::<f64>()
                })
                .collect();
            assert!(bias.iter().any(|&v| v != 0.0));
            j.bias = Some(bias);
            let (exact, exact_out, mag) = matmul::exact_reference(j);
            prep.bounds = matmul::bounds(j, &exact, &mag).into();
            prep.exact = exact.into();
            prep.exact_out = exact_out.into();
            assert!(prep.exact.iter().all(|&e| e == 0.0));
            assert!(prep.bounds.iter().all(|b| b.is_some_and(|b| b.is_finite())));
            let Some(set) = common::run_or_unsupported(kind, &prep) else {
                assert!(p.0 == Precision::F64, "{kind} {variant} {p:?} refused");
                continue;
            };
            for out in &set.outputs {
                assert!(
                    out.iter().all(|&v| v == 0.0),
                    "{kind} addmm {variant} {p:?}: {out:?}"
                );
            }
            let m = metrics(&prep, &set);
            assert_eq!(m.bound_violations, 0, "{kind} {variant} {p:?}: {m:?}");
        }
    }
}

/// The batch axis of conv (images in N): fwd and bwd_data draw image n from its own stream,
/// and every output element is one chain whose order does not depend on N, so direct and
/// tiled keep image 0's bits at every N; bwd_weight (dw sums over the images) has none.
fn conv_batch_axis(kind: BackendKind) {
    let Some(report) = run_report(
        kind,
        "--op conv2d_fwd,conv2d_bwd_data --precision f32 --conv-shape 1,3,9,7,5,3,3,1,1,1 --batch-sizes 1,3,8 --variant direct,tiled",
    ) else {
        return;
    };
    assert_eq!(report.results.len(), 2 * 2 * 3);
    for r in &report.results {
        assert_eq!(r.status, "ok", "{r:?}");
        let shape = r.shape.as_ref().expect("shape");
        assert_eq!(shape[0].as_u64(), r.batch_size, "{r:?}");
        assert_eq!(
            r.batch_invariant,
            Some(true),
            "{} {} on {kind}",
            r.op,
            r.variant
        );
        assert_eq!(r.max_ulp_across_batches, Some(0));
    }
    // Per-image streams: image 0 of x is the same at N = 1 and N = 3, the rest new.
    let x = |n: usize| {
        let mut c = case(
            (Precision::F32, AccChoice::Same),
            "direct",
            &[1, 1, 1],
            9,
            1,
        );
        c.op = Op::Conv2dFwd;
        c.params = FamilyParams::new(detbench::ops::conv::ConvParams {
            shape: vec![1, 3, 9, 7, 5, 3, 3, 1, 1, 1],
        });
        let (c, per_image) = detbench::ops::conv::with_batch(&c, n)
            .expect("batch")
            .expect("fwd has a batch axis");
        assert_eq!(per_image, 5 * 9 * 7);
        let Job::Conv(j) = prepare(&c).expect("prepare").job else {
            unreachable!()
        };
        j.a
    };
    let (one, three) = (x(1), x(3));
    assert_eq!(one[..], three[..one.len()]);
    assert_ne!(three[..one.len()], three[one.len()..2 * one.len()]);
    let mut w = case(
        (Precision::F32, AccChoice::Same),
        "deterministic",
        &[1, 1, 1],
        9,
        1,
    );
    w.op = Op::Conv2dBwdWeight;
    assert!(detbench::ops::conv::with_batch(&w, 4)
        .expect("ok")
        .is_none());
}

macro_rules! backend_tests {
    ($($(#[$attr:meta])* $name:ident => $kind:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig { cases: common::cases(16), failure_persistence: None, ..ProptestConfig::default() })]
                #[test]
                $(#[$attr])*
                fn variants_within_bound_and_ordered_ones_emulated(p in common::precision_pairs(), shape in shape(), seed in 0u64..1000) {
                    within_bound_and_emulated($kind, p, &shape, seed);
                }

                #[test]
                $(#[$attr])*
                fn addmm_within_bound_and_ordered_ones_emulated(p in common::precision_pairs(), shape in shape(), seed in 0u64..1000) {
                    within_bound_and_emulated_op($kind, Op::Addmm, p, &shape, seed);
                }
            }

            #[test]
            $(#[$attr])*
            fn addmm_bias_cancelling_the_product_gives_exact_zero() {
                addmm_cancels($kind);
            }

            #[test]
            $(#[$attr])*
            fn batch_invariance_measured() {
                batch_axis($kind, "matmul");
                batch_axis($kind, "addmm");
            }

            #[test]
            $(#[$attr])*
            fn conv_batch_invariance_measured() {
                conv_batch_axis($kind);
            }
        }
    )*};
}

backend_tests! {
    cpu => BackendKind::Cpu,
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    wgpu => BackendKind::Wgpu,
}

/// The M-dependent rule as documented, and the invariant split from K alone.
#[test]
fn split_rule() {
    let s = |m, n, k| matmul::split_for(&MmShape { m, n, k });
    assert_eq!(s(1, 64, 1024).splits, 16);
    assert_eq!(s(64, 64, 1024).splits, 4);
    assert_eq!(s(256, 256, 1024).splits, 1);
    for m in [1, 7, 64, 4096] {
        let j = matmul::MatmulJob::new(
            MmShape::new(&[m, 8, 1000]).unwrap(),
            Precision::F32,
            Precision::F32,
            matmul::MmVariant::BatchInvariant,
            vec![0.0; m * 1000],
            vec![0.0; 8000],
            1,
        )
        .unwrap();
        assert_eq!(j.split, matmul::invariant_split(1000));
    }
}

/// Bad shapes: exit 2 with one line.
#[test]
fn bad_shapes_exit_2() {
    for (shape, needle) in [
        ("0,4,4", "positive integer"),
        ("4,4", "3 integers"),
        ("4,4,x", "positive integer"),
        ("65536,65536,65536", "exceed"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_detbench"))
            .args([
                "run",
                "--op",
                "matmul",
                "--backend",
                "cpu",
                "--quiet",
                "--mm-shape",
                shape,
            ])
            .output()
            .expect("run detbench");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{shape}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{shape}: {err}");
        assert!(
            err.contains(needle),
            "{shape}: '{err}' should mention '{needle}'"
        );
    }
    // A batch axis no op has.
    let out = Command::new(env!("CARGO_BIN_EXE_detbench"))
        .args([
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--quiet",
            "--batch-sizes",
            "1,2",
        ])
        .output()
        .expect("run detbench");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("batch axis"), "{err}");
}
