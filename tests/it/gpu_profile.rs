//! Every GPU walk runs here (issue 25): the walks and layouts a GPU takes
//! ([`Profile::gpu`]: coalesced grid-stride loops, one launch thread per kernel thread, the
//! radix sort) run on whatever wgpu adapter CI has (lavapipe, which by default takes the CPU
//! walks), for every wgpu kernel family: reduce, scatter, conv, matmul, rows, optim. Every
//! ordered variant equals the CPU emulation of its order bit for bit in every run (where
//! the CPU emulates wgpu's bits: not log_softmax's exp and log nor the optimizers'
//! multiply-adds, which are checked reproducible and within their bound); every atomic
//! variant is within its a-priori bound on every element. One case forces only
//! reduce's `TREE_VEC` off, keeping the CPU walks.
//!
//! conv, matmul, rows and optim have one walk (the GPU's) on every device, so their
//! default run on the adapter is their GPU profile. Sizes are small (2-core CI), and every
//! thread's loop stays far below lavapipe's 65535 trips.

use crate::common;

use detbench::backend::{Backend, BackendKind};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::conv::ConvParams;
use detbench::ops::matmul::{MatmulParams, MmShape};
use detbench::ops::optim::OptimParams;
use detbench::ops::rows::RowsParams;
use detbench::ops::scatter::{IndexSource, ScatterParams};
use detbench::ops::wgsl::Profile;
use detbench::ops::{Case, FamilyParams, Job, Op, Prepared, RunSet};
use detbench::runner::{metrics, prepare, AccChoice};

/// A variant whose order is the hardware's: checked against its bound, not the CPU's bits.
fn is_atomic(variant: &str) -> bool {
    variant.contains("atomic") || variant == "privatized"
}

fn case(op: Op, p: (Precision, AccChoice), variant: &str, size: usize, wg: u32) -> Case {
    Case {
        op,
        precision: p.0,
        accumulator: p.1.resolve(p.0),
        variant: variant.into(),
        size,
        input: InputSpec::Normal,
        seed: 7,
        runs: 2,
        workgroup_size: wg,
        params: Default::default(),
    }
}

/// The adapter the shared wgpu backend uses, opened for the families' own entry points.
fn adapter() -> Option<detbench::backend::wgpu::WgpuBackend> {
    let shared = common::backend(BackendKind::Wgpu);
    let (found, _) = detbench::backend::wgpu::discover();
    let b = found
        .into_iter()
        .find(|b| b.info().name == shared.info().name)
        .expect("the shared wgpu adapter is found again");
    eprintln!("wgpu adapter: {} ({})", b.info().name, b.info().device_type);
    Some(b)
}

/// The check itself: `what` ran `prep` as `set` (`None`: the device refused it, which only
/// an atomic variant, f64 work, a tensor-core variant or an optimizer's no_fma, which WGSL
/// cannot promise, may be).
fn check(what: &str, prep: &Prepared, variant: &str, set: Option<RunSet>) {
    check_as(what, prep, variant, set, true)
}

/// [`check`]; `emulated`: whether the CPU emulates the variant's bits on wgpu (not for
/// log_softmax's exp and log, or the optimizers' multiply-adds, which a driver may fuse:
/// those are checked reproducible run to run and within their bound instead, as
/// batch_rows.rs and optim_props.rs check them).
fn check_as(what: &str, prep: &Prepared, variant: &str, set: Option<RunSet>, emulated: bool) {
    let Some(set) = set else {
        let f64_work = what.to_lowercase().contains("f64");
        assert!(
            is_atomic(variant)
                || f64_work
                || variant.contains("tensor")
                || variant.contains("no_fma"),
            "{what}: refused"
        );
        return;
    };
    let m = metrics(prep, &set);
    assert_eq!(m.non_finite, 0, "{what}: non-finite outputs");
    if is_atomic(variant) || !emulated {
        assert_eq!(m.bound_violations, 0, "{what}: outside its bound");
        assert!(m.max_abs_err.is_finite(), "{what}");
        if !is_atomic(variant) {
            assert_eq!(m.distinct_outputs, 1, "{what}: not reproducible");
        }
        return;
    }
    let cpu = common::run_or_unsupported(BackendKind::Cpu, prep)
        .unwrap_or_else(|| panic!("{what}: the CPU emulates every ordered variant"));
    let bits = |o: &[f64]| -> Vec<u64> { o.iter().map(|v| v.to_bits()).collect() };
    assert_eq!(set.outputs.len(), 2, "{what}");
    for o in &set.outputs {
        assert_eq!(
            bits(o),
            bits(&cpu.outputs[0]),
            "{what}: differs from the CPU emulation"
        );
    }
}

/// A family's own run, with the refusals a device may make passed on as `None`.
fn ran(what: &str, r: Result<RunSet, detbench::error::OpError>) -> Option<RunSet> {
    match r {
        Ok(s) => Some(s),
        Err(detbench::error::OpError::Unsupported(why)) => {
            eprintln!("{what}: unsupported here: {why}");
            None
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn reduce_gpu_walks_and_tree_vec_off() {
    let Some(b) = adapter() else { return };
    let profiles = [
        ("gpu", Profile::gpu()),
        (
            "TREE_VEC off",
            Profile {
                tree_vec: false,
                ..Profile::of(&b)
            },
        ),
    ];
    let formats = [
        (Op::Sum, (Precision::F32, AccChoice::Same), 100_003, 256),
        (Op::Sum, (Precision::F16, AccChoice::Default), 7_001, 64),
        (Op::Dot, (Precision::F32, AccChoice::Same), 20_001, 256),
        (Op::Sum, (Precision::F64, AccChoice::Same), 3_001, 128),
    ];
    for (op, p, n, wg) in formats {
        for &variant in op.variants() {
            let prep = prepare(&case(op, p, variant, n, wg)).expect("prepare");
            let Job::Reduce(job) = &prep.job else {
                unreachable!()
            };
            for (name, prof) in profiles {
                let what = format!("{op} {variant} {p:?} n={n} ({name})");
                let r = detbench::ops::reduce::wgpu::run_with(&b, job, prof);
                let r = ran(&what, r);
                if let Some(s) = &r {
                    eprintln!("{what}: {}", s.message);
                }
                check(&what, &prep, variant, r);
            }
        }
    }
}

#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn scatter_gpu_walks() {
    let Some(b) = adapter() else { return };
    let formats = [
        ((Precision::F32, AccChoice::Same), 50_001, 1024, "uniform"),
        ((Precision::F16, AccChoice::Default), 20_000, 17, "zipf"),
        (
            (Precision::F32, AccChoice::Fixed(Precision::F64)),
            9_000,
            1,
            "uniform",
        ),
    ];
    for (p, n, bins, dist) in formats {
        for &variant in Op::ScatterAdd.variants() {
            let mut c = case(Op::ScatterAdd, p, variant, n, 256);
            c.params = FamilyParams::new(ScatterParams {
                bins,
                index: IndexSource::Dist(dist.to_string()),
            });
            let prep = prepare(&c).expect("prepare");
            let Job::Scatter(job) = &prep.job else {
                unreachable!()
            };
            let what = format!("scatter_add {variant} {p:?} n={n} bins={bins} {dist} (gpu)");
            let r = ran(
                &what,
                detbench::ops::scatter::wgpu::run_with(&b, job, Profile::gpu()),
            );
            // The GPU's sort, whatever the device would choose.
            if let (Some(s), "sort_segmented") = (&r, variant) {
                assert!(
                    s.message.contains("stable radix sort") || bins == 1,
                    "{what}: {}",
                    s.message
                );
            }
            check(&what, &prep, variant, r);
        }
    }
}

/// conv, matmul, rows and optim: one walk on every device, the GPU's.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn conv_matmul_rows_optim_gpu_walks() {
    let pairs = [
        (Precision::F32, AccChoice::Same),
        (Precision::F16, AccChoice::Default),
    ];
    let mut cases: Vec<(Case, &str)> = Vec::new();
    for p in pairs {
        for op in [Op::Conv2dFwd, Op::Conv2dBwdData, Op::Conv2dBwdWeight] {
            for &variant in op.variants() {
                let mut c = case(op, p, variant, 0, 64);
                c.params = FamilyParams::new(ConvParams {
                    shape: vec![2, 3, 9, 10, 4, 3, 3, 1, 1, 1],
                });
                cases.push((c, variant));
            }
        }
        for op in [Op::Matmul, Op::Addmm] {
            for &variant in op.variants() {
                let mut c = case(op, p, variant, 0, 64);
                c.params = FamilyParams::new(MatmulParams {
                    shape: MmShape::new(&[17, 9, 130]).expect("shape"),
                });
                cases.push((c, variant));
            }
        }
        for op in [Op::RowSum, Op::Mean, Op::LogSoftmax] {
            for &variant in op.variants() {
                let mut c = case(op, p, variant, 5 * 700, 64);
                c.params = FamilyParams::new(RowsParams { rows: 5, len: 700 });
                cases.push((c, variant));
            }
        }
    }
    for op in [Op::Sgd, Op::Adam, Op::Adamw] {
        for &variant in op.variants() {
            let p = if variant.ends_with("stochastic_rounding") {
                Precision::Bf16
            } else {
                Precision::F32
            };
            let mut c = case(
                op,
                (p, AccChoice::Fixed(Precision::F32)),
                variant,
                4099,
                256,
            );
            c.params = FamilyParams::new(OptimParams { steps: 3 });
            cases.push((c, variant));
        }
    }
    for (c, variant) in cases {
        let what = format!("{} {variant} {} acc {}", c.op, c.precision, c.accumulator);
        let prep = prepare(&c).expect("prepare");
        let set = common::run_or_unsupported(BackendKind::Wgpu, &prep);
        let emulated = !matches!(c.op, Op::LogSoftmax | Op::Sgd | Op::Adam | Op::Adamw);
        check_as(&what, &prep, variant, set, emulated);
    }
}
