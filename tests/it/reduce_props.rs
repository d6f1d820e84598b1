//! Property tests of the reduction family, written once and instantiated for every
//! backend by `backend_tests!` (the cubecl pattern): each backend runs the same
//! assertions against the exact oracle and against the CPU emulation of its order.

use crate::common;

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
            None => detbench::numerics::exact::sum_abs_wide(&job.x.to_f64()),
            Some(y) => {
                detbench::numerics::exact::sum_abs_products_wide(&job.x.to_f64(), &y.to_f64())
            }
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

/// Small values of both signs (below 2^-8 in magnitude) followed by `big` values of both
/// signs up to 2^100: the order in which an online maximum would keep growing late.
fn late_max() -> impl Strategy<Value = Vec<f32>> {
    let small = (-1.0f32..1.0).prop_map(|v| v / 256.0);
    let big = (1.0f32..2.0, prop::bool::ANY, 0i32..=100)
        .prop_map(|(m, neg, e)| if neg { -m } else { m } * 2f32.powi(e));
    let smalls = prop_oneof![
        prop::collection::vec(small.clone(), 0..700),
        prop::collection::vec(small, 32768..40000),
    ];
    (smalls, prop::collection::vec(big, 1..40)).prop_map(|(mut a, b)| {
        a.extend(b);
        a
    })
}

/// `values` written once to a fresh .npy file (the way a user hands detbench exact data).
fn npy_of(values: &[f32]) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "detbench-reduce-props-{}-{k}.npy",
        std::process::id()
    ));
    common::cli::npy_f32(&path, values);
    path.to_string_lossy().into_owned()
}

/// Same bits, where a NaN equals any NaN (the payload is the device's).
fn same_bits(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Maximum growing late, mixed signs, workgroup sizes 32 to 1024 and three orders of the
/// same values (as given, reversed, shuffled): tree, fixed_point and reproducible equal the
/// CPU emulation bitwise in every case (f32 data; sum in f32 and f64, dot in f32), and for
/// sums fixed_point and reproducible give one result for every order and shape.
fn ordered_on_late_max(kind: BackendKind, values: Vec<f32>, seed: u64) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut shuffled = values.clone();
    shuffled.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let mut reversed = values.clone();
    reversed.reverse();
    let files: Vec<String> = [&values, &reversed, &shuffled]
        .iter()
        .map(|v| npy_of(v))
        .collect();
    let n = values.len();
    let pairs = [
        (Op::Sum, AccChoice::Same),
        (Op::Sum, AccChoice::Fixed(Precision::F64)),
        (Op::Dot, AccChoice::Same),
    ];
    for (op, acc) in pairs {
        for variant in ["tree", "fixed_point", "reproducible"] {
            let mut seen: Option<u64> = None;
            for (order, file) in files.iter().enumerate() {
                // Every shape on the given order; the other orders at the default shape.
                let shapes: &[u32] = if order == 0 { &[32, 256, 1024] } else { &[256] };
                for &wg in shapes {
                    let input = InputSpec::File(file.clone());
                    let c = case(op, (Precision::F32, acc), variant, n, input, seed, 2, wg);
                    let prep = prepare(&c).expect("prepare");
                    let Some(set) = run(kind, &prep) else {
                        continue;
                    };
                    let what = format!(
                        "{kind} {op} {variant} acc {} n={n} wg={wg} order {order}",
                        c.accumulator
                    );
                    let got = set.outputs[0][0];
                    assert!(same_bits(got, set.outputs[1][0]), "{what}: runs differ");
                    let cpu = run(BackendKind::Cpu, &prep).expect("cpu runs every ordered variant");
                    assert!(
                        same_bits(got, cpu.outputs[0][0]),
                        "{what}: {got:e} differs from the CPU emulation {:e}",
                        cpu.outputs[0][0]
                    );
                    if op == Op::Sum && variant != "tree" {
                        if let Some(prev) = seen {
                            assert_eq!(
                                got.to_bits(),
                                prev,
                                "{what}: order or shape changed the bits"
                            );
                        }
                        seen = Some(got.to_bits());
                    }
                }
            }
        }
    }
    for f in files {
        let _ = std::fs::remove_file(f);
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
                    within_bound($kind, op, p, n, input, seed);
                }

                #[test]
                $(#[$attr])*
                fn ordered_variants_are_reproducible_and_match_cpu(op in op(), p in precision(), n in size(), input in input(), seed in 0u64..1000) {
                    deterministic_and_emulated($kind, op, p, n, input, seed);
                }

                #[test]
                $(#[$attr])*
                fn reproducible_is_independent_of_launch_shape(op in op(), p in precision(), n in size(), input in input(), seed in 0u64..1000) {
                    reproducible_across_shapes($kind, op, p, n, input, seed);
                }
            }
            proptest! {
                // A third of the cases: each runs 45 jobs (3 variants, 3 formats, 5 shapes
                // and orders) on the device and the CPU.
                #![proptest_config(ProptestConfig { cases: common::cases(($cases / 3).max(1)), ..ProptestConfig::default() })]

                #[test]
                $(#[$attr])*
                fn late_maximum_any_order_and_shape_matches_cpu(values in late_max(), seed in 0u64..1000) {
                    ordered_on_late_max($kind, values, seed);
                }
            }
        }
    )*};
}

backend_tests! {
    cpu => BackendKind::Cpu, 64;
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    wgpu => BackendKind::Wgpu, 12;
    #[cfg_attr(not(detbench_libcuda), ignore = "needs a CUDA device (none found at build time; DETBENCH_REQUIRE_CUDA=1 runs it)")]
    cuda => BackendKind::Cuda, 24;
}

/// The one-pass `reproducible` kernel guesses the bin layout from a sample of x and deposits
/// x again only when the guess was wrong. Both paths must give the CPU's bits, and the
/// report must say which one ran. With n = 200003 and 256 threads the sample is 256 blocks
/// of 256 terms, block b starting at b * 783 (the last at n - 256): index 500 is in no
/// block, index n - 1 is in the last one.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn reproducible_sample_guess_right_and_wrong() {
    let kind = BackendKind::Wgpu;
    let n = 200_003;
    let base: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 999.0 - 0.5)
        .collect();
    let with = |at: usize, v: f32| {
        let mut x = base.clone();
        x[at] = v;
        x
    };
    // (values, the pass count the message must name)
    let inputs = [
        (base.clone(), "one pass"),
        (with(500, 3.0e6), "two passes"),
        (with(500, -3.0e6), "two passes"),
        (with(n - 1, 3.0e6), "one pass"),
        (with(0, -3.0e6), "one pass"),
    ];
    for (values, passes) in inputs {
        let file = npy_of(&values);
        for (op, acc) in [
            (Op::Sum, AccChoice::Same),
            (Op::Sum, AccChoice::Fixed(Precision::F64)),
            (Op::Dot, AccChoice::Same),
        ] {
            let input = InputSpec::File(file.clone());
            let c = case(
                op,
                (Precision::F32, acc),
                "reproducible",
                n,
                input,
                1,
                2,
                256,
            );
            let prep = prepare(&c).expect("prepare");
            let what = format!("{op} acc {} expecting {passes}", c.accumulator);
            let set = run(kind, &prep).unwrap_or_else(|| panic!("{what}: unsupported"));
            // A dot's terms are x*y, with a y of its own: only the sums' maxima are placed.
            if op == Op::Sum {
                assert!(
                    set.message.contains(passes),
                    "{what}: message {:?}",
                    set.message
                );
            }
            let cpu = run(BackendKind::Cpu, &prep).expect("cpu");
            for k in 0..2 {
                assert!(
                    same_bits(set.outputs[k][0], cpu.outputs[0][0]),
                    "{what}: run {k} gave {:e}, the CPU emulation {:e}",
                    set.outputs[k][0],
                    cpu.outputs[0][0]
                );
            }
        }
        let _ = std::fs::remove_file(file);
    }
}

/// Inputs long enough that every thread of the launch adds several elements (n > T, the
/// launch's threads), with n cut inside a row: on a CPU device tree's kernel threads each
/// run 16 launch threads' chains as vec4 components (TREE_VEC) and the order-free variants
/// walk long contiguous runs in few workgroups; every shape must still give the CPU
/// emulation's bits, run after run.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn many_rows_per_thread_match_cpu() {
    let kind = BackendKind::Wgpu;
    // (n, workgroup size): T = 1024 wg for these n.
    let shapes = [
        (3 * (1 << 18) + 4099, 256),
        ((1 << 20) + 13, 1024),
        (2 * (1 << 19) + 6, 512),
        ((1 << 18) + 1, 128),
    ];
    for (n, wg) in shapes {
        // Values whose sum depends on the order: magnitudes over 2^-20 .. 2^20, mixed signs.
        let values: Vec<f32> = (0..n)
            .map(|i| {
                let m = ((i * 7919) % 1000) as f32 / 999.0 - 0.5;
                m * 2f32.powi((i % 41) as i32 - 20)
            })
            .collect();
        let file = npy_of(&values);
        for variant in ["tree", "kahan", "fixed_point", "reproducible"] {
            let input = InputSpec::File(file.clone());
            let c = case(
                Op::Sum,
                (Precision::F32, AccChoice::Same),
                variant,
                n,
                input,
                1,
                2,
                wg,
            );
            let prep = prepare(&c).expect("prepare");
            let what = format!("{variant} n={n} wg={wg}");
            let set = run(kind, &prep).unwrap_or_else(|| panic!("{what}: unsupported"));
            let cpu = run(BackendKind::Cpu, &prep).expect("cpu");
            for k in 0..2 {
                assert!(
                    same_bits(set.outputs[k][0], cpu.outputs[0][0]),
                    "{what}: run {k} gave {:e}, the CPU emulation {:e}",
                    set.outputs[k][0],
                    cpu.outputs[0][0]
                );
            }
        }
        let _ = std::fs::remove_file(file);
    }
}
