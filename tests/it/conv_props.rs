//! Property tests of the convolution family, written once and instantiated for every
//! backend by `backend_tests!`: every variant within its a-priori bound of the exact
//! reference, the ordered variants bitwise reproducible and equal to the CPU emulation of
//! their order; and the CLI's answer to bad shapes.

use crate::common;

use detbench::backend::BackendKind;
use detbench::error::OpError;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::conv::{self, ConvShape};
use detbench::ops::{Case, FamilyParams, Job, Op, Prepared, RunSet};
use detbench::runner::{metrics, prepare, AccChoice};
use proptest::prelude::*;
use std::process::Command;

/// Small shapes: odd sizes, stride and dilation up to 2 (or 3), padding up to 2, and
/// filters up to as large as the padded input.
fn shape() -> impl Strategy<Value = Vec<usize>> {
    (
        (1usize..=2, 1usize..=4, 1usize..=9, 1usize..=9, 1usize..=4),
        (0usize..=2, 1usize..=3, 1usize..=2),
        (0usize..=4, 0usize..=4),
    )
        .prop_map(|((n, c, h, w, k), (pad, stride, dil), (rp, sp))| {
            // 0 picks the largest filter that fits the padded input.
            let max_r = ((h + 2 * pad - 1) / dil + 1).min(7);
            let max_s = ((w + 2 * pad - 1) / dil + 1).min(7);
            let r = if rp == 0 { max_r } else { rp.min(max_r) };
            let s = if sp == 0 { max_s } else { sp.min(max_s) };
            vec![n, c, h, w, k, r, s, stride, pad, dil]
        })
}

fn precision() -> impl Strategy<Value = (Precision, AccChoice)> {
    common::precision_pairs()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Conv2dFwd),
        Just(Op::Conv2dBwdData),
        Just(Op::Conv2dBwdWeight)
    ]
}

fn case(
    op: Op,
    p: (Precision, AccChoice),
    variant: &str,
    shape: &[usize],
    seed: u64,
    runs: usize,
) -> Case {
    Case {
        op,
        precision: p.0,
        accumulator: p.1.resolve(p.0),
        variant: variant.into(),
        size: 0,
        input: InputSpec::Normal,
        seed,
        runs,
        workgroup_size: 64,
        params: FamilyParams::new(conv::ConvParams {
            shape: shape.to_vec(),
        }),
    }
}

/// Whether a tensor_core refusal is one the variant documents: no tensor cores (CPU,
/// wgpu), inputs other than f16/bf16, an accumulator other than f32, or a GPU before sm_80.
/// On a CUDA sm_80+ GPU with half inputs and an f32 accumulator it must run.
fn tensor_core_may_refuse(kind: BackendKind, job: &Job, why: &str) -> bool {
    let Job::Conv(j) = job else { return false };
    kind != BackendKind::Cuda
        || !matches!(j.precision, Precision::F16 | Precision::Bf16)
        || j.accumulator != Precision::F32
        || why.starts_with(conv::cuda::TENSOR_CORE_ARCH_REASON)
}

/// Runs a prepared case; `None` when the device says it cannot (only tensor_core, within
/// [`tensor_core_may_refuse`], or f64 on a device without it, may).
fn run(kind: BackendKind, prep: &Prepared, variant: &str) -> Option<RunSet> {
    let b = common::backend(kind);
    match b.run(&prep.job) {
        Ok(set) => Some(set),
        Err(OpError::Unsupported(why)) => {
            let allowed = if variant == "tensor_core" {
                tensor_core_may_refuse(kind, &prep.job, &why)
            } else {
                why.contains("SHADER_F64") || kind == BackendKind::Cuda
            };
            assert!(allowed, "{kind} {variant}: unexpectedly unsupported: {why}");
            None
        }
        Err(e) => panic!("{kind} {variant}: {e}"),
    }
}

/// tensor_core on f16 and bf16 with an f32 accumulator: on a CUDA GPU (sm_80+) every run
/// gives the same bits and every element is within [`conv::tensor_core_bound`] of the exact
/// reference (the tensor cores' internal order cannot be emulated on the CPU, so there is
/// no emulation to compare with); on the CPU and through wgpu it is Unsupported, never
/// faked. The shapes have ragged 128 x 64 x 32 tiles in every GEMM dimension, several
/// reduction tiles, stride, dilation and padding, and several bwd_weight chunks.
fn tensor_core_reproducible_within_bound(kind: BackendKind) {
    let b = common::backend(kind);
    for shape in [
        [2, 20, 13, 11, 70, 3, 3, 1, 1, 1],
        [1, 5, 9, 7, 3, 3, 2, 2, 2, 2],
        [2, 32, 12, 12, 48, 3, 3, 1, 1, 1],
    ] {
        for op in [Op::Conv2dFwd, Op::Conv2dBwdData, Op::Conv2dBwdWeight] {
            for p in [Precision::F16, Precision::Bf16] {
                let c = case(op, (p, AccChoice::Default), "tensor_core", &shape, 11, 3);
                if kind != BackendKind::Cuda {
                    // No exact reference needed to see the refusal.
                    let job = Job::Conv(conv::build_job(&c).expect("build job"));
                    match b.run(&job) {
                        Err(OpError::Unsupported(_)) => {}
                        other => panic!(
                            "{kind} {op} tensor_core {p}: expected Unsupported, got {:?}",
                            other.map(|s| s.outputs.len())
                        ),
                    }
                    continue;
                }
                let prep = prepare(&c).expect("prepare");
                let set = match b.run(&prep.job) {
                    Ok(set) => set,
                    // Below sm_80 the refusal is the property: the variant is
                    // `unsupported` with its reason, never faked.
                    Err(OpError::Unsupported(why))
                        if !cfg!(detbench_cuda_sm80)
                            && why.starts_with(conv::cuda::TENSOR_CORE_ARCH_REASON) =>
                    {
                        continue;
                    }
                    Err(e) => panic!("{kind} {op} tensor_core {p} {shape:?}: {e}"),
                };
                assert_eq!(set.outputs.len(), 3);
                let first = &set.outputs[0];
                for (i, o) in set.outputs.iter().enumerate() {
                    let same = o.iter().zip(first).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(
                        same,
                        "{kind} {op} tensor_core {p} {shape:?}: run {i} differs from run 0"
                    );
                }
                let m = metrics(&prep, &set);
                assert_eq!(
                    m.non_finite, 0,
                    "{kind} {op} tensor_core {p} {shape:?}: non-finite output"
                );
                assert_eq!(
                    m.bound_violations, 0,
                    "{kind} {op} tensor_core {p} {shape:?}: max error {:e} exceeds the bound",
                    m.max_abs_err
                );
            }
        }
    }
}

/// Every variant is within its per-element bound of the exact reference.
fn within_bound(kind: BackendKind, op: Op, p: (Precision, AccChoice), shape: &[usize], seed: u64) {
    // No data is prepared for a device that is not here.
    for variant in conv::variants(op) {
        let prep = prepare(&case(op, p, variant, shape, seed, 2)).expect("prepare");
        let Some(set) = run(kind, &prep, variant) else {
            continue;
        };
        let m = metrics(&prep, &set);
        assert_eq!(
            m.non_finite, 0,
            "{kind} {op} {variant} {p:?} {shape:?}: non-finite output"
        );
        assert_eq!(
            m.bound_violations, 0,
            "{kind} {op} {variant} {p:?} {shape:?}: max error {:e} exceeds the bound",
            m.max_abs_err
        );
    }
}

/// direct, tiled and deterministic: the same bits on every run, equal to the CPU emulation
/// of the variant's order.
fn reproducible_and_emulated(
    kind: BackendKind,
    op: Op,
    p: (Precision, AccChoice),
    shape: &[usize],
    seed: u64,
) {
    // No data is prepared for a device that is not here.
    for variant in conv::variants(op)
        .iter()
        .filter(|v| ["direct", "tiled", "deterministic"].contains(v))
    {
        let prep = prepare(&case(op, p, variant, shape, seed, 3)).expect("prepare");
        let Some(set) = run(kind, &prep, variant) else {
            continue;
        };
        let first = &set.outputs[0];
        for (i, o) in set.outputs.iter().enumerate() {
            let same = o.iter().zip(first).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{kind} {op} {variant} {p:?} {shape:?}: run {i} differs from run 0"
            );
        }
        let Job::Conv(j) = &prep.job else {
            unreachable!()
        };
        let emu = conv::cpu::compute(
            op,
            &j.shape,
            &j.a,
            &j.b,
            j.accumulator,
            j.precision,
            j.order(),
            2,
        );
        assert_eq!(emu.len(), first.len());
        for (e, (g, c)) in first.iter().zip(&emu).enumerate() {
            assert_eq!(
                g.to_bits(),
                c.to_bits(),
                "{kind} {op} {variant} {p:?} {shape:?}: element {e} is {g:e}, the CPU emulation gives {c:e}"
            );
        }
    }
}

macro_rules! backend_tests {
    ($($(#[$attr:meta])* $name:ident => $kind:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig { cases: common::cases(48), failure_persistence: None, ..ProptestConfig::default() })]
                #[test]
                $(#[$attr])*
                fn every_variant_within_bound(op in op(), p in precision(), shape in shape(), seed in 0u64..1000) {
                    within_bound($kind, op, p, &shape, seed);
                }
                #[test]
                $(#[$attr])*
                fn ordered_variants_reproducible_and_emulated(op in op(), p in precision(), shape in shape(), seed in 0u64..1000) {
                    reproducible_and_emulated($kind, op, p, &shape, seed);
                }
            }

            #[test]
            $(#[$attr])*
            fn tensor_core_reproducible_and_bounded() {
                tensor_core_reproducible_within_bound($kind);
            }

            /// A layer with many chunks (bwd_weight) and long reductions, in f32.
            #[test]
            $(#[$attr])*
            fn larger_layer() {
                let shape = [2, 8, 12, 12, 8, 3, 3, 1, 1, 1];
                for op in [Op::Conv2dFwd, Op::Conv2dBwdData, Op::Conv2dBwdWeight] {
                    let p = (Precision::F32, AccChoice::Same);
                    within_bound($kind, op, p, &shape, 3);
                    reproducible_and_emulated($kind, op, p, &shape, 3);
                }
            }
        }
    )*};
}

backend_tests! {
    cpu => BackendKind::Cpu,
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    wgpu => BackendKind::Wgpu,
    #[cfg_attr(not(detbench_libcuda), ignore = "needs a CUDA device (none found at build time; DETBENCH_REQUIRE_CUDA=1 runs it)")]
    cuda => BackendKind::Cuda,
}

#[test]
fn bwd_weight_splits_into_several_chunks() {
    let s = ConvShape::new(&[2, 8, 12, 12, 8, 3, 3, 1, 1, 1]).unwrap();
    let npq = s.n * s.p * s.q;
    let chunk = conv::chunk_len(npq);
    assert!(npq.div_ceil(chunk) > 1, "{npq} {chunk}");
}

/// Bad shapes: exit 2 with one line.
#[test]
fn bad_shapes_exit_2() {
    for (shape, needle) in [
        ("1,1,4,4,1,7,7,1,1,1", "larger than the padded input"),
        ("1,0,4,4,1,3,3,1,1,1", "zero"),
        ("1,1,4,4,1,3,3,0,1,1", "stride"),
        ("1,1,4,4,1,3,3,1,1,0", "dilation"),
        ("1,1,4,4,1,3,3,1,1", "10 integers"),
        ("1,1,4,4,1,3,3,1,1,x", "not a non-negative integer"),
        ("65536,65536,65536,65536,1,1,1,1,0,1", "exceed"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_detbench"))
            .args([
                "run",
                "--op",
                "conv2d_fwd",
                "--backend",
                "cpu",
                "--quiet",
                "--conv-shape",
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
}

/// A conv run end to end on the CPU: records carry the shape and size = output elements.
#[test]
fn cli_run_records_shape_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = Command::new(env!("CARGO_BIN_EXE_detbench"))
        .args([
            "run",
            "--op",
            "conv2d_bwd_weight",
            "--backend",
            "cpu",
            "--precision",
            "f32",
            "--quiet",
            "--runs",
            "2",
            "--conv-shape",
            "1,2,5,5,3,3,3,1,1,1;2,1,6,5,2,2,3,2,0,1",
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .expect("run detbench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let results = r["results"].as_array().unwrap();
    let sizes: Vec<u64> = results
        .iter()
        .filter(|x| x["variant"] == "deterministic")
        .map(|x| x["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![3 * 2 * 3 * 3, 2 * 2 * 3]);
    // The conv records (not the copy baseline `run` adds, which has no shape).
    assert!(results
        .iter()
        .filter(|x| x["op"] == "conv2d_bwd_weight")
        .all(|x| x["shape"].is_array()));
}
