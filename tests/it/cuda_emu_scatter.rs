//! kernels/cuda/scatter.cu through the cuda-emu backend (tests/it/cuda_emu):
//! src/ops/scatter/cuda.rs launches every module the backend builds for sm_90 (all nine
//! input/accumulator pairs) on the host emulator. sort_segmented (the radix sort, the scans,
//! the segmented passes), fixed_point and reproducible (shared-memory and global lanes) must
//! give the CPU backend's bits in every bin; atomic, atomic_cas and privatized, under each
//! of the six PTX orderings, must stay within the a-priori bound.

use crate::cuda_emu;

use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::scatter::{IndexSource, ScatterParams, RADIX_BITS, RADIX_ITEMS, SORT_WG};
use detbench::ops::{Case, FamilyParams, Job, Op};

const SOURCE: &str = "kernels/cuda/scatter.cu";
#[allow(clippy::too_many_arguments)]
fn case(
    input: Precision,
    acc: Precision,
    variant: &str,
    n: usize,
    bins: usize,
    dist: &str,
    wg: u32,
) -> Case {
    Case {
        op: Op::ScatterAdd,
        precision: input,
        accumulator: acc,
        variant: variant.into(),
        size: n,
        input: InputSpec::Normal,
        seed: 5,
        runs: 1,
        workgroup_size: wg,
        params: FamilyParams::new(ScatterParams {
            bins,
            index: IndexSource::Dist(dist.to_string()),
        }),
    }
}

/// (n, bins, index distribution, workgroup size): one element in one bin; few hot bins
/// (zipf) with several radix tiles (one radix pass); two passes; sorted indices over
/// enough bins for three radix passes and lanes too large for shared memory; four passes
/// at an n that is not a multiple of the tile; one bin with every element (no radix pass).
const SHAPES: &[(usize, usize, &str, u32)] = &[
    (1, 1, "uniform", 64),
    (5000, 7, "zipf", 64),
    (9000, 300, "uniform", 256),
    (20_000, 5000, "sorted", 64),
    (12_345, 40_000, "uniform", 128),
    (3000, 1, "single", 128),
];

/// scatter.cu's sort shape is src/ops/scatter/mod.rs's: the host launches SORT_WG threads
/// per tile of SORT_WG * RADIX_ITEMS elements and sizes the digit counts by RADIX_DIGITS.
#[test]
fn cuda_sort_shape_is_the_hosts() {
    let src = std::fs::read_to_string(SOURCE).expect("scatter.cu");
    for (name, v) in [
        ("DB_SORT_WG", SORT_WG),
        ("DB_RADIX_ITEMS", RADIX_ITEMS),
        ("DB_RADIX_BITS", RADIX_BITS),
    ] {
        let line = format!("#define {name} {v}u\n");
        assert!(src.contains(&line), "scatter.cu lacks `{}`", line.trim());
    }
}

fn ordered_pair(input: Precision, acc: Precision) {
    let mut variants = vec!["sort_segmented", "fixed_point"];
    if matches!(acc, Precision::F32 | Precision::F64) {
        variants.push("reproducible");
    }
    for &(n, bins, dist, wg) in SHAPES {
        for v in &variants {
            let prep = detbench::runner::prepare(&case(input, acc, v, n, bins, dist, wg))
                .expect("prepare");
            cuda_emu::assert_matches_cpu(
                &prep.job,
                &format!("{v} {input}/{acc} n={n} bins={bins} {dist} wg={wg}"),
            );
        }
    }
}

fn atomic_pair(input: Precision, acc: Precision) {
    for &(n, bins, dist) in &[(4000usize, 37usize, "zipf"), (3000, 5000, "uniform")] {
        for v in ["atomic", "atomic_cas", "privatized"] {
            let prep = detbench::runner::prepare(&case(input, acc, v, n, bins, dist, 64))
                .expect("prepare");
            cuda_emu::assert_orderings_within_bound(
                &prep,
                &format!("{v} {input}/{acc} n={n} bins={bins}"),
            );
        }
    }
}

cuda_emu::pair_tests!();

/// The tests above cover every pair the backend builds.
#[test]
fn every_module_is_covered() {
    let built = detbench::ops::cuda_modules(&detbench::backend::cuda::emu::TARGET, &[])
        .into_iter()
        .filter(|m| m.spec.path == SOURCE)
        .count();
    assert_eq!(built, 9);
}

/// fixed_point at the edges of the range: per bin, values whose scaling underflows (2^-200
/// and the smallest subnormal next to 2^1000) count as lost and add 0, as the CPU's
/// src/shared/fixed.rs says; the backend gives the CPU's bins and lost-bits message.
#[test]
fn fixed_point_edges_match_the_cpu() {
    let two = |e: i32| libm::ldexp(1.0, e);
    let xs = vec![
        two(1000),
        two(-200),
        -f64::from_bits(1),
        3.0 * two(990),
        1.5,
        -two(999),
    ];
    let idx: Vec<u32> = vec![0, 0, 1, 2, 0, 1];
    let c = case(
        Precision::F64,
        Precision::F64,
        "fixed_point",
        xs.len(),
        3,
        "uniform",
        32,
    );
    let mut prep = detbench::runner::prepare(&c).expect("prepare");
    // The scale the host would choose for these values (the largest bin count times the
    // largest |x|), so that the job is one the host could have prepared.
    let k = detbench::shared::fixed::fixed_scale(3, 3.0 * two(1000));
    assert!(k < -900, "2^-200 and the subnormal underflow at k = {k}");
    if let Job::Scatter(j) = &mut prep.job {
        j.x = xs;
        j.idx = idx;
        j.fixed_scale = k;
    }
    let emu = cuda_emu::run(&prep.job);
    let cpu =
        crate::common::run_or_unsupported(detbench::backend::BackendKind::Cpu, &prep).expect("cpu");
    cuda_emu::assert_bits(&emu.outputs[0], &cpu.outputs[0], "fixed_point edges");
    assert_eq!(emu.message, cpu.message, "the lost-bits message");
}
