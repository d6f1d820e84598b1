//! The batched row reductions (row_sum, mean, log_softmax) on every backend: every element
//! within its a-priori bound of the reference; row_sum and mean equal to the CPU emulation
//! bit for bit and reproducible (log_softmax's exp and log are the device's: reproducible
//! and bounded, not emulated); and the batch axis: `batch_invariant` keeps the shared rows'
//! bits at every batch size, `split_by_batch` (its split follows B) is shown to change them.

mod common;

use clap::Parser;
use detbench::backend::BackendKind;
use detbench::cli::{run_config, Cli, Command as CliCommand};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::rows::{self, RowsParams};
use detbench::ops::{Case, FamilyParams, Job, Op};
use detbench::runner::{self, metrics, prepare, AccChoice};
use proptest::prelude::*;

fn case(
    op: Op,
    p: (Precision, AccChoice),
    variant: &str,
    rows: usize,
    len: usize,
    seed: u64,
) -> Case {
    Case {
        op,
        precision: p.0,
        accumulator: p.1.resolve(p.0),
        variant: variant.into(),
        size: rows * len,
        input: InputSpec::Normal,
        seed,
        runs: 2,
        workgroup_size: 64,
        params: FamilyParams::new(RowsParams { rows, len }),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![Just(Op::RowSum), Just(Op::Mean), Just(Op::LogSoftmax)]
}

fn check(kind: BackendKind, op: Op, p: (Precision, AccChoice), rows: usize, len: usize, seed: u64) {
    for variant in rows::VARIANTS {
        let prep = prepare(&case(op, p, variant, rows, len, seed)).expect("prepare");
        let Some(set) = common::run_or_unsupported(kind, &prep) else {
            let acc = p.1.resolve(p.0);
            // Documented refusals only: f64 on a device without it; log_softmax in a half
            // accumulator (anywhere) or in f64 through WGSL.
            assert!(
                p.0 == Precision::F64
                    || acc == Precision::F64
                    || (op == Op::LogSoftmax && matches!(acc, Precision::F16 | Precision::Bf16)),
                "{kind} {op} {variant} {p:?} refused"
            );
            continue;
        };
        let m = metrics(&prep, &set);
        assert_eq!(
            m.bound_violations, 0,
            "{kind} {op} {variant} {p:?} {rows}x{len}: {m:?}"
        );
        assert_eq!(m.non_finite, 0);
        assert_eq!(
            m.distinct_outputs, 1,
            "{kind} {op} {variant} not reproducible"
        );
        if op == Op::LogSoftmax {
            continue;
        }
        let Job::Rows(j) = &prep.job else {
            unreachable!()
        };
        let emu = rows::cpu::run_once(j).expect("cpu");
        for (e, (g, c)) in set.outputs[0].iter().zip(&emu).enumerate() {
            assert_eq!(
                g.to_bits(),
                c.to_bits(),
                "{kind} {op} {variant} {p:?} {rows}x{len}: row {e}: {g:e} vs the emulation's {c:e}"
            );
        }
    }
}

fn batch_axis(kind: BackendKind) {
    if common::backend(kind).is_none() {
        return;
    }
    let argv = [
        "detbench",
        "run",
        "--backend",
        kind.name(),
        "--runs",
        "2",
        "--quiet",
        "--no-copy-baseline",
        "--op",
        "row_sum,mean,log_softmax",
        "--precision",
        "f32",
        "--row-len",
        "4096",
        "--batch-sizes",
        "1,3,8,64",
    ];
    let cli = Cli::try_parse_from(argv).expect("flags");
    let CliCommand::Run(a) = cli.command else {
        panic!("not run")
    };
    let report = runner::run(&run_config(&a, "test".into()).expect("config")).expect("run");
    assert_eq!(report.results.len(), 3 * 2 * 4);
    for r in &report.results {
        assert_eq!(r.status.to_string(), "ok", "{r:?}");
        let inv = r.batch_invariant.expect("measured");
        let ulp = r.max_ulp_across_batches.expect("measured");
        assert_eq!(inv, ulp == 0);
        if r.variant == "batch_invariant" {
            assert!(
                inv,
                "{} batch_invariant changed bits across B on {kind}",
                r.op
            );
        }
        // 16, 16, 8 and 1 chunks at B = 1, 3, 8, 64: row 0's sum changes (emulated, so the
        // same on every backend that matches the CPU).
        if r.variant == "split_by_batch" && r.op == "row_sum" {
            assert_ne!(rows::split_for(1, 4096), rows::split_for(64, 4096));
            assert!(
                !inv && ulp > 0,
                "row_sum split_by_batch kept its bits across B on {kind}"
            );
        }
    }
}

macro_rules! backend_tests {
    ($($name:ident => $kind:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig { cases: common::cases(16), failure_persistence: None, ..ProptestConfig::default() })]
                #[test]
                fn within_bound_and_emulated(op in op(), p in common::precision_pairs(), rows in 1usize..=9, len in 1usize..=3000, seed in 0u64..1000) {
                    check($kind, op, p, rows, len, seed);
                }
            }

            #[test]
            fn batch_invariance_measured() {
                batch_axis($kind);
            }
        }
    )*};
}

backend_tests! {
    cpu => BackendKind::Cpu,
    wgpu => BackendKind::Wgpu,
}
