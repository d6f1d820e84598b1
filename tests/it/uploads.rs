//! A device keeps the last input it was given: every variant and run of one input is
//! uploaded once (issue 27), and the bits are those of an upload per variant.

use crate::common;

use detbench::backend::{Backend, BackendKind};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{reduce, Case, Job, Op};

fn case(op: Op, variant: &str, seed: u64) -> Case {
    Case {
        op,
        precision: Precision::F32,
        accumulator: Precision::F32,
        variant: variant.into(),
        size: 5000,
        input: InputSpec::Normal,
        seed,
        runs: 2,
        workgroup_size: 64,
        params: Default::default(),
    }
}

/// `base` as another variant: the same operands (the same `Arc`s, as the reduction
/// family shares them between the variants of one input).
fn variant_of(base: &Job, variant: reduce::ReduceVariant) -> Job {
    match base {
        Job::Reduce(j) => Job::Reduce(reduce::ReduceJob {
            variant,
            ..j.clone()
        }),
        _ => unreachable!("a reduction"),
    }
}

#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time)"
)]
fn variants_of_one_input_upload_it_once_on_wgpu() {
    // Through the shared lookup first, so CI's "no adapter is a failure" rule applies; the
    // count is read off a device of this test's own.
    common::backend(BackendKind::Wgpu);
    let dev = detbench::backend::wgpu::discover()
        .0
        .into_iter()
        .next()
        .expect("an adapter");
    let cpu = detbench::backend::cpu::CpuBackend::new();
    for (op, uploads_per_input) in [(Op::Sum, 1), (Op::Dot, 2)] {
        let before = dev.uploads().count();
        let tree = reduce::prepare(&case(op, "tree", 31)).expect("prepare").job;
        let kahan = variant_of(&tree, reduce::ReduceVariant::Kahan);
        for job in [&tree, &kahan, &tree] {
            let got = dev.run(job).expect("runs on wgpu");
            let want = cpu.run(job).expect("runs on cpu");
            assert_eq!(got.outputs, want.outputs, "{op}: the cpu emulation's bits");
        }
        assert_eq!(
            dev.uploads().count() - before,
            uploads_per_input,
            "{op}: one upload per operand for three jobs of two variants"
        );
        // Another input is uploaded, replacing the kept one.
        let other = reduce::prepare(&case(op, "tree", 32)).expect("prepare").job;
        dev.run(&other).expect("runs on wgpu");
        assert_eq!(
            dev.uploads().count() - before,
            2 * uploads_per_input,
            "{op}"
        );
        // Another family's job drops the kept input: the next reduction uploads it again.
        let copy = detbench::runner::prepare(&case(Op::Copy, "copy", 33))
            .expect("prepare")
            .job;
        dev.run(&copy).expect("copy runs on wgpu");
        dev.run(&other).expect("runs on wgpu");
        assert_eq!(
            dev.uploads().count() - before,
            3 * uploads_per_input,
            "{op}: uploaded again after a copy"
        );
    }
}
