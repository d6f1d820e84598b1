//! The batched row reductions (row_sum, mean, log_softmax) on every backend: every element
//! within its a-priori bound of the reference; row_sum and mean equal to the CPU emulation
//! bit for bit and reproducible (log_softmax's exp and log are the device's: reproducible
//! and bounded, not emulated); and the batch axis: `batch_invariant` keeps the shared rows'
//! bits at every batch size, `split_by_batch` (its split follows B) is shown to change them.

use crate::common;
use crate::cuda_emu;

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
            // accumulator (anywhere) or in f64 through WGSL; log_softmax's atomic variant.
            assert!(
                p.0 == Precision::F64
                    || acc == Precision::F64
                    || (op == Op::LogSoftmax && matches!(acc, Precision::F16 | Precision::Bf16))
                    || (op == Op::LogSoftmax && *variant == "atomic"),
                "{kind} {op} {variant} {p:?} refused"
            );
            continue;
        };
        assert!(
            !(op == Op::LogSoftmax && *variant == "atomic"),
            "{kind}: log_softmax atomic ran although it is documented as unsupported"
        );
        let m = metrics(&prep, &set);
        assert_eq!(
            m.bound_violations, 0,
            "{kind} {op} {variant} {p:?} {rows}x{len}: {m:?}"
        );
        assert_eq!(m.non_finite, 0);
        if *variant == "atomic" {
            // Nondeterministic: every run within the arbitrary-order bound (above); in an
            // f32 or f64 accumulator the bounds exist, so that check is not vacuous (a
            // half accumulator's may not for long chunks, as for the ordered variants).
            let acc = p.1.resolve(p.0);
            assert!(
                matches!(acc, Precision::F16 | Precision::Bf16)
                    || prep.bounds.iter().all(|b| b.is_some()),
                "{kind} {op} atomic {acc}: no bound"
            );
            assert!(prep.job.is_atomic(), "{op} atomic is not marked atomic");
            continue;
        }
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
    // 3 ops x 2 ordered variants x 4 sizes, and atomic: row_sum and mean run, log_softmax
    // refused.
    let ordered = report
        .results
        .iter()
        .filter(|r| r.variant != "atomic")
        .count();
    assert_eq!(ordered, 3 * 2 * 4);
    for r in &report.results {
        // Only atomic accumulates in the order the hardware gives.
        assert_eq!(r.deterministic_variant, r.variant != "atomic", "{r:?}");
        if r.variant == "atomic" && r.op == "log_softmax" {
            assert_ne!(r.status.to_string(), "ok", "{r:?}");
            continue;
        }
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
    ($($(#[$attr:meta])* $name:ident => $kind:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig { cases: common::cases(16), failure_persistence: None, ..ProptestConfig::default() })]
                #[test]
                $(#[$attr])*
                fn within_bound_and_emulated(op in op(), p in common::precision_pairs(), rows in 1usize..=9, len in 1usize..=3000, seed in 0u64..1000) {
                    check($kind, op, p, rows, len, seed);
                }
            }

            #[test]
            $(#[$attr])*
            fn batch_invariance_measured() {
                batch_axis($kind);
            }
        }
    )*};
}

backend_tests! {
    cpu => BackendKind::Cpu,
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    wgpu => BackendKind::Wgpu,
}

/// kernels/cuda/rows.cu through the cuda-emu backend (tests/it/cuda_emu; here, with the
/// family's other tests): src/ops/rows/cuda.rs launches, on the host emulator, every module
/// (nine input/accumulator pairs); row_sum and mean equal to the CPU emulation bit for bit,
/// log_softmax within its bound; batch_invariant keeps row 0's bits at every B, and
/// split_by_batch, whose split follows B, is shown to change them.
mod cuda {
    use super::*;
    use detbench::ops::rows::cuda::SOURCE;
    use detbench::ops::rows::RowsJob;

    /// One run on the cuda-emu backend (src/ops/rows/cuda.rs's passes, emulated).
    fn run(j: &RowsJob) -> Vec<f64> {
        cuda_emu::outputs(&Job::Rows(j.clone()))
    }

    fn prep(
        op: Op,
        input: Precision,
        acc: Precision,
        variant: &str,
        rows: usize,
        len: usize,
    ) -> detbench::ops::Prepared {
        let mut c = case(op, (input, AccChoice::Same), variant, rows, len, 3);
        c.accumulator = acc;
        prepare(&c).expect("prepare")
    }

    fn job(p: &detbench::ops::Prepared) -> &RowsJob {
        match &p.job {
            Job::Rows(j) => j,
            _ => unreachable!(),
        }
    }

    fn pair(input: Precision, acc: Precision) {
        // B x N: one chain per row; 8 chunks of 125 (split_by_batch) or 4 of 250.
        for (rows, len) in [(3, 50), (7, 1000)] {
            for op in [Op::RowSum, Op::Mean, Op::LogSoftmax] {
                if op == Op::LogSoftmax && matches!(acc, Precision::F16 | Precision::Bf16) {
                    continue;
                }
                for v in rows::VARIANTS {
                    if *v == "atomic" {
                        if op != Op::LogSoftmax {
                            atomic(op, input, acc, rows, len);
                        }
                        continue;
                    }
                    let p = prep(op, input, acc, v, rows, len);
                    let got = run(job(&p));
                    let what = format!("emulated CUDA {op} {v} {input}/{acc} {rows}x{len}");
                    if op == Op::LogSoftmax {
                        cuda_emu::assert_within_bound(&p, vec![got], &what);
                        continue;
                    }
                    let want = rows::cpu::run_once(job(&p)).expect("cpu");
                    for (e, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(
                            g.to_bits(),
                            w.to_bits(),
                            "{what}: row {e}: {g:e} vs the CPU emulation's {w:e}"
                        );
                    }
                }
            }
        }
    }

    /// `atomic` under every PTX ordering: within the arbitrary-order bound (the bounds
    /// present, so the check is not vacuous); with one chunk per row (0 + the chain, exact)
    /// the CPU emulation's bits.
    fn atomic(op: Op, input: Precision, acc: Precision, rows: usize, len: usize) {
        let p = prep(op, input, acc, "atomic", rows, len);
        assert!(p.bounds.iter().all(|b| b.is_some()));
        let want = rows::cpu::run_once(job(&p)).expect("cpu");
        let outputs: Vec<Vec<f64>> = detbench::ops::Ordering::CUDA
            .iter()
            .map(|&o| {
                let mut j = job(&p).clone();
                j.ordering = o;
                let got = run(&j);
                if j.split.splits == 1 {
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!(g.to_bits(), w.to_bits(), "{op} atomic {input}/{acc} {o:?}");
                    }
                }
                got
            })
            .collect();
        cuda_emu::assert_within_bound(
            &p,
            outputs,
            &format!("emulated CUDA {op} atomic {input}/{acc} {rows}x{len}"),
        );
    }

    cuda_emu::pair_tests!(pair);

    #[test]
    fn every_module_is_covered() {
        assert_eq!(
            detbench::ops::cuda_modules(&detbench::backend::cuda::emu::TARGET, &[])
                .iter()
                .filter(|m| m.spec.path == SOURCE)
                .count(),
            9
        );
    }

    /// Row 0 of row_sum at B = 1, 7 and 64 (N = 4096: split_by_batch takes 16, 8 and 1
    /// chunks; batch_invariant 16 of 256 at every B).
    #[test]
    fn batch_invariant_keeps_row_bits_across_batch_sizes() {
        let row0 = |v: &str| -> Vec<u32> {
            [1, 7, 64]
                .iter()
                .map(|&b| {
                    (run(job(&prep(
                        Op::RowSum,
                        Precision::F32,
                        Precision::F32,
                        v,
                        b,
                        4096,
                    )))[0] as f32)
                        .to_bits()
                })
                .collect()
        };
        let inv = row0("batch_invariant");
        assert!(
            inv.iter().all(|&b| b == inv[0]),
            "batch_invariant row 0 across B: {inv:x?}"
        );
        assert_ne!(rows::split_for(1, 4096), rows::split_for(64, 4096));
        let var = row0("split_by_batch");
        assert!(
            var.iter().any(|&b| b != var[0]),
            "split_by_batch kept row 0's bits across B although its split changed: {var:x?}"
        );
    }
}
