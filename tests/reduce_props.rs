//! Property tests of the reduction family, written once and instantiated for every
//! backend by `backend_tests!` (the cubecl pattern): each backend runs the same
//! assertions against the exact oracle and against the CPU emulation of its order.

mod common;

use detbench::backend::BackendKind;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{Case, Op, Prepared, RunSet};
use detbench::runner::{metrics, prepare, AccChoice};
use proptest::prelude::*;

/// Sizes from 1 to 2^20: small, powers of two, their neighbours, and anything between.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..=300,
        (0u32..=20).prop_map(|e| 1usize << e),
        (8u32..=20, prop::bool::ANY).prop_map(|(e, up)| if up {
            (1usize << e) + 1
        } else {
            (1usize << e) - 1
        }),
        1usize..=(1 << 20),
    ]
}

fn input() -> impl Strategy<Value = InputSpec> {
    prop_oneof![
        Just(InputSpec::Uniform),
        Just(InputSpec::Normal),
        Just(InputSpec::Wide),
        (2.0f64..14.0).prop_map(|e| InputSpec::IllConditioned(10f64.powf(e))),
    ]
}

fn precision() -> impl Strategy<Value = (Precision, AccChoice)> {
    common::precision_pairs()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![Just(Op::Sum), Just(Op::Dot)]
}

#[allow(clippy::too_many_arguments)]
fn case(
    op: Op,
    p: (Precision, AccChoice),
    variant: &str,
    n: usize,
    input: InputSpec,
    seed: u64,
    runs: usize,
    wg: u32,
) -> Case {
    Case {
        op,
        precision: p.0,
        accumulator: p.1.resolve(p.0),
        variant: variant.into(),
        size: n,
        input,
        seed,
        runs,
        workgroup_size: wg,
        params: Default::default(),
    }
}

/// Runs a prepared case; `None` when there is no device or it reports the case unsupported.
fn run(kind: BackendKind, prep: &Prepared) -> Option<RunSet> {
    common::run_or_unsupported(kind, prep)
}

/// Variants that must never be unsupported on a device with f32 (every backend here).
fn must_support(variant: &str, acc: Precision) -> bool {
    matches!(variant, "tree" | "kahan" | "atomic_cas" | "block_atomic")
        || (variant == "reproducible" && matches!(acc, Precision::F32 | Precision::F64))
}

/// Every variant is within its a-priori bound of the exact oracle.
fn within_bound(
    kind: BackendKind,
    op: Op,
    p: (Precision, AccChoice),
    n: usize,
    input: InputSpec,
    seed: u64,
) {
    for variant in detbench::ops::reduce::VARIANTS {
        let c = case(op, p, variant, n, input.clone(), seed, 2, 256);
        let prep = prepare(&c).expect("prepare");
        if prep.bounds[0].is_none() {
            continue; // no finite bound (e.g. the sum of magnitudes overflows a half accumulator)
        }
        let Some(set) = run(kind, &prep) else {
            if kind != BackendKind::Cuda
                && must_support(variant, c.accumulator)
                && prep.note.is_empty()
            {
                panic!("{kind} {variant} {:?} must be supported", p);
            }
            continue;
        };
        let m = metrics(&prep, &set);
        // The bound is conditional on no overflow (a finite output): overflow is only
        // allowed, and then reported as an error, when the magnitudes exceed the format.
        let detbench::ops::Job::Reduce(job) = &prep.job else {
            unreachable!()
        };
        let mag = match &job.y {
            None => detbench::numerics::exact::sum_abs_wide(&job.x),
            Some(y) => detbench::numerics::exact::sum_abs_products_wide(&job.x, y),
        }
        .to_f64_up();
        assert!(
            m.non_finite == 0 || mag > c.accumulator.max_finite(),
            "{kind} {op} {variant} {p:?} n={n}: non-finite output"
        );
        assert_eq!(
            m.bound_violations,
            0,
            "{kind} {op} {variant} {p:?} n={n} {input:?}: error {:e} exceeds bound {:e}",
            m.max_abs_err,
            prep.bounds[0].unwrap()
        );
    }
}

/// tree, kahan, fixed_point and reproducible: identical bits over 5 runs, equal to the
/// CPU emulation of the same launch shape.
fn deterministic_and_emulated(
    kind: BackendKind,
    op: Op,
    p: (Precision, AccChoice),
    n: usize,
    input: InputSpec,
    seed: u64,
) {
    for variant in ["tree", "kahan", "fixed_point", "reproducible"] {
        let c = case(op, p, variant, n, input.clone(), seed, 5, 256);
        let prep = prepare(&c).expect("prepare");
        let Some(set) = run(kind, &prep) else {
            continue;
        };
        let first = &set.outputs[0];
        for (r, out) in set.outputs.iter().enumerate() {
            let same = out
                .iter()
                .zip(first)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{kind} {op} {variant} {p:?} n={n}: run {r} differs: {out:?} vs {first:?}"
            );
        }
        if kind != BackendKind::Cpu {
            let cpu = run(BackendKind::Cpu, &prep).expect("cpu runs every deterministic variant");
            assert_eq!(
                first[0].to_bits(),
                cpu.outputs[0][0].to_bits(),
                "{kind} {op} {variant} {p:?} n={n}: {} differs from the CPU emulation {}",
                first[0],
                cpu.outputs[0][0]
            );
        }
    }
}

/// reproducible: the same bits for every workgroup size, and the same as the CPU.
fn reproducible_across_shapes(
    kind: BackendKind,
    op: Op,
    p: (Precision, AccChoice),
    n: usize,
    input: InputSpec,
    seed: u64,
) {
    let mut seen: Option<u64> = None;
    for wg in [64u32, 256, 1024] {
        let c = case(op, p, "reproducible", n, input.clone(), seed, 1, wg);
        let prep = prepare(&c).expect("prepare");
        let Some(set) = run(kind, &prep) else { return };
        let cpu = run(BackendKind::Cpu, &prep).expect("cpu runs reproducible");
        let bits = set.outputs[0][0].to_bits();
        assert_eq!(
            bits,
            cpu.outputs[0][0].to_bits(),
            "{kind} wg={wg}: differs from cpu"
        );
        if let Some(prev) = seen {
            assert_eq!(
                bits, prev,
                "{kind} {op} {p:?} n={n}: workgroup size {wg} changed the bits"
            );
        }
        seen = Some(bits);
    }
}

macro_rules! backend_tests {
    ($($(#[$attr:meta])* $name:ident => $kind:expr, $cases:expr;)*) => {$(
        mod $name {
            use super::*;
            proptest! {
                #![proptest_config(ProptestConfig { cases: common::cases($cases), ..ProptestConfig::default() })]

                #[test]
                $(#[$attr])*
                fn every_variant_within_its_bound(op in op(), p in precision(), n in size(), input in input(), seed in 0u64..1000) {
                    if common::backend($kind).is_some() { within_bound($kind, op, p, n, input, seed); }
                }

                #[test]
                $(#[$attr])*
                fn ordered_variants_are_reproducible_and_match_cpu(op in op(), p in precision(), n in size(), input in input(), seed in 0u64..1000) {
                    if common::backend($kind).is_some() { deterministic_and_emulated($kind, op, p, n, input, seed); }
                }

                #[test]
                $(#[$attr])*
                fn reproducible_is_independent_of_launch_shape(op in op(), p in precision(), n in size(), input in input(), seed in 0u64..1000) {
                    if common::backend($kind).is_some() { reproducible_across_shapes($kind, op, p, n, input, seed); }
                }
            }
        }
    )*};
}

backend_tests! {
    cpu => BackendKind::Cpu, 64;
    wgpu => BackendKind::Wgpu, 12;
    #[cfg_attr(not(detbench_libcuda), ignore = "needs a CUDA device: no libcuda on this machine (DETBENCH_REQUIRE_CUDA=1 runs it)")]
    cuda => BackendKind::Cuda, 24;
}
