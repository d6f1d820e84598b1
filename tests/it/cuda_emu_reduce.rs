//! kernels/cuda/reduce.cu through the cuda-emu backend (tests/it/cuda_emu): src/ops/reduce/cuda.rs
//! launches every module the backend builds for sm_90 (all nine input/accumulator pairs),
//! sum and dot, on the host emulator. tree, kahan, fixed_point and reproducible must give
//! the CPU backend's bits; atomic, atomic_cas and block_atomic, under each of the six PTX
//! orderings, must stay within the a-priori bound.

use crate::cuda_emu;

use detbench::backend::cuda::{CudaBuf, LaunchConfig, ModuleBuild};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::reduce::ReduceJob;
use detbench::ops::{Case, Job, Op, Prepared};

const SOURCE: &str = "kernels/cuda/reduce.cu";

fn case(
    op: Op,
    input: Precision,
    acc: Precision,
    variant: &str,
    n: usize,
    wg: u32,
    spec: InputSpec,
) -> Case {
    Case {
        op,
        precision: input,
        accumulator: acc,
        variant: variant.into(),
        size: n,
        input: spec,
        seed: 11,
        runs: 1,
        workgroup_size: wg,
        params: Default::default(),
    }
}

fn job(prep: &Prepared) -> &ReduceJob {
    match &prep.job {
        Job::Reduce(j) => j,
        _ => unreachable!(),
    }
}

/// Shapes: one element; a ragged last block; more elements than threads (each thread
/// loops), several blocks per pass-2 thread.
const SHAPES: &[(usize, u32)] = &[(1, 64), (3001, 64), (40_000, 32)];

fn ordered_pair(input: Precision, acc: Precision) {
    let mut variants = vec!["tree", "kahan", "fixed_point"];
    if matches!(acc, Precision::F32 | Precision::F64) {
        variants.push("reproducible");
    }
    for op in [Op::Sum, Op::Dot] {
        for &(n, wg) in SHAPES {
            for spec in [InputSpec::Normal, InputSpec::Wide] {
                for v in &variants {
                    let prep =
                        detbench::runner::prepare(&case(op, input, acc, v, n, wg, spec.clone()))
                            .expect("prepare");
                    cuda_emu::assert_matches_cpu(
                        &prep.job,
                        &format!("{op} {v} {input}/{acc} n={n} wg={wg} {spec:?}"),
                    );
                }
            }
        }
    }
}

fn atomic_pair(input: Precision, acc: Precision) {
    for op in [Op::Sum, Op::Dot] {
        for v in ["atomic", "atomic_cas", "block_atomic"] {
            let prep =
                detbench::runner::prepare(&case(op, input, acc, v, 3001, 64, InputSpec::Normal))
                    .expect("prepare");
            cuda_emu::assert_orderings_within_bound(&prep, &format!("{op} {v} {input}/{acc}"));
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
    assert_eq!(built, detbench::backend::cuda::precision_pairs().len());
    assert_eq!(built, 9);
}

/// fixed_point at the edges of the range: an f32 dot with a product near the top of f32
/// (2^60 * 2^60) beside one that underflows to 0 in f32 (2^-100 * 2^-100), and an f64 sum
/// near the top of the range whose scale underflows tiny terms (lost); the backend's result
/// (total and lost bits) is the CPU emulation's. (Terms that are not finite are refused
/// by the host before any kernel runs, on every backend.)
#[test]
fn fixed_point_edges_match_the_cpu() {
    let two = |e: i32| libm::ldexp(1.0, e);
    let cases = [
        (
            Op::Dot,
            Precision::F32,
            vec![two(60), 3.0, two(-100), -0.75],
            Some(vec![two(60), 0.5, two(-100), 1.0]),
        ),
        (
            Op::Sum,
            Precision::F64,
            vec![
                two(1000),
                two(-200),
                -f64::from_bits(1),
                0.0,
                3.0 * two(990),
                1.5,
            ],
            None,
        ),
    ];
    for (op, p, x, y) in cases {
        for wg in [32, 64] {
            let c = case(op, p, p, "fixed_point", x.len(), wg, InputSpec::Normal);
            let prep =
                detbench::ops::reduce::prepare_values(&c, x.clone(), y.clone()).expect("prepare");
            let emu = cuda_emu::run(&prep.job);
            let want =
                crate::common::run_or_unsupported(detbench::backend::BackendKind::Cpu, &prep)
                    .expect("cpu");
            cuda_emu::assert_bits(
                &emu.outputs[0],
                &want.outputs[0],
                &format!("{op} {p} wg={wg}"),
            );
            assert_eq!(emu.message, want.message, "{op} {p}: the lost-bits message");
        }
    }
}

/// Whether repro_guess reads term i (reduce.cu): DB_REPRO_SAMPLE = 256 runs of wg consecutive
/// terms, run b at b * ((n - wg) / 255) and the last at n - wg; all of x when n <= 256 wg.
fn sampled(n: usize, wg: usize, i: usize) -> bool {
    const SAMPLE: usize = 256;
    if n <= SAMPLE * wg {
        return true;
    }
    let stride = (n - wg) / (SAMPLE - 1);
    (0..SAMPLE).any(|b| {
        let start = if b == SAMPLE - 1 { n - wg } else { b * stride };
        (start..start + wg).contains(&i)
    })
}

/// The range of x block w of the deposit owns (reduce.cu): per = ceil(n / groups) rounded up
/// to a multiple of wg.
fn deposit_span(n: usize, groups: usize, wg: usize, w: usize) -> std::ops::Range<usize> {
    let per = n.div_ceil(groups).div_ceil(wg) * wg;
    let start = (w * per).min(n);
    start..(start + per).min(n)
}

/// Small operands whose largest term (|x| or |x*y| below 0.5) lies in the binade [1/4, 1/2)
/// many times over, so that any sample of a few hundred terms finds the true layout; the
/// values are exact in f32.
fn small_operands(n: usize, dot: bool) -> (Vec<f64>, Option<Vec<f64>>) {
    let x = (0..n)
        .map(|i| ((i * 7919 % 1013) as f64 - 506.0) / 1024.0)
        .collect();
    let y = dot.then(|| {
        (0..n)
            .map(|i| ((i * 104_729 % 997) as f64 - 498.0) / 512.0)
            .collect()
    });
    (x, y)
}

/// The one-pass reproducible scheme (guess the layout from a sample, deposit, check, deposit
/// again only if the guess was wrong) gives the CPU's bits both ways: a large term inside
/// the sample, in the middle of x outside it, and in the deposit's last block, for sum and
/// dot and the three pairs with a binned accumulator.
#[test]
fn reproducible_guess_right_or_wrong_matches_the_cpu() {
    let (n, wg) = (65_535usize, 32u32);
    let w = wg as usize;
    let groups = detbench::ops::reduce::launch_for(n, wg).workgroups as usize;
    assert_eq!(groups, 1024);
    let last = (0..groups)
        .rev()
        .map(|b| deposit_span(n, groups, w, b))
        .find(|r| !r.is_empty())
        .unwrap();
    let in_last = last
        .clone()
        .find(|&i| !sampled(n, w, i))
        .expect("an unsampled index in the last block");
    let in_middle = (n / 2..n).find(|&i| !sampled(n, w, i)).unwrap();
    assert!(sampled(n, w, 0) && sampled(n, w, n - 1));
    for (input, acc) in [
        (Precision::F32, Precision::F32),
        (Precision::F32, Precision::F64),
        (Precision::F64, Precision::F64),
    ] {
        for op in [Op::Sum, Op::Dot] {
            for at in [None, Some(0), Some(in_middle), Some(in_last)] {
                let (mut x, mut y) = small_operands(n, op == Op::Dot);
                if let Some(i) = at {
                    x[i] = 1000.25;
                    if let Some(y) = y.as_mut() {
                        y[i] = 1.0;
                    }
                }
                let c = case(op, input, acc, "reproducible", n, wg, InputSpec::Normal);
                let prep = detbench::ops::reduce::prepare_values(&c, x, y).expect("prepare");
                cuda_emu::assert_matches_cpu(
                    &prep.job,
                    &format!("{op} {input}/{acc} large term at {at:?}"),
                );
            }
        }
    }
}

/// Runs longer than a spill (two blocks of 70,000 terms, more than 2048 per thread before
/// the binned state must carry) give the CPU's bits, with and without a missed large term.
#[test]
fn reproducible_runs_longer_than_a_spill_match_the_cpu() {
    let (n, wg) = (140_001usize, 32u32);
    for acc in [Precision::F32, Precision::F64] {
        for missed in [false, true] {
            let (mut x, _) = small_operands(n, false);
            let i = (n / 3..n).find(|&i| !sampled(n, wg as usize, i)).unwrap();
            if missed {
                x[i] = -1000.25;
            }
            let c = case(
                Op::Sum,
                Precision::F32,
                acc,
                "reproducible",
                n,
                wg,
                InputSpec::Normal,
            );
            let prep = detbench::ops::reduce::prepare_values(&c, x, None).expect("prepare");
            let mut j = job(&prep).clone();
            j.launch.workgroups = 2;
            assert!(deposit_span(n, 2, wg as usize, 0).len() / wg as usize > 2048);
            cuda_emu::assert_matches_cpu(&Job::Reduce(j), &format!("f32/{acc} missed={missed}"));
        }
    }
}

/// f64 values just off a half-format tie: t + s, t - s with t a midpoint between two
/// neighbouring values of the format (ties in the subnormal range and at the overflow
/// threshold included) and s far below f32's precision, so that t +- s rounded to f32 first
/// is exactly t (a tie, then broken to even) while t +- s itself is not a tie; plus the
/// ties themselves and both signs.
fn near_half_ties(p: Precision) -> Vec<f64> {
    let two = |e: i32| libm::ldexp(1.0, e);
    let (bits, emin) = (p.mantissa_bits() as i32, p.emin());
    let mut ties = Vec::new();
    // Midpoints (2m+1) * 2^(e - bits) between neighbours of quantum 2^(e - bits + 1), for
    // binades e from the subnormal range to the top, with odd and even lower neighbours.
    for e in emin - 3..=emin + 6 {
        for m in [0u64, 1, 2, 3, 5, 100, 127] {
            ties.push((2 * m + 1) as f64 * two(e.max(emin) - bits));
        }
    }
    for e in [-1, 0, 1, 7, 15] {
        for m in [0u64, 1, 2, 3, (1 << (bits - 1)) - 1, (1 << bits) - 1] {
            ties.push((2 * m + 1) as f64 * two(e - bits));
        }
    }
    // Halfway between the largest finite value and the next power of two: the overflow tie.
    ties.push(p.max_finite() + two(p.max_finite().log2().floor() as i32 - bits));
    let mut out = Vec::new();
    for t in ties {
        // f32's quantum at t, so s = q * 2^-j is below half of it.
        let q = two(libm::ilogb(t).max(-126) - 23);
        for j in [2, 3, 10, 29] {
            let s = q * two(-j);
            for v in [t, t + s, t - s] {
                out.extend([v, -v]);
            }
        }
    }
    out
}

/// common.cuh's f64 -> f16 and f64 -> bf16 roundings (the half accumulators' round_A, and
/// thus every half kernel's arithmetic) give `Precision::round`'s bits on f64 values whose
/// deciding bits lie below f32's precision: one correct rounding, not f64 -> f32 -> half.
/// The inputs are checked to be ones a double rounding gets wrong, so the test fails for a
/// helper that rounds to f32 first (as common.cuh's f16 rounding did) or truncates the f64
/// (as its bf16 rounding did).
///
/// The helpers are reached through the emulator's probe `db_emu_round_halves` (in every
/// emulated module), declared here beside reduce's entry points and launched on the
/// cuda-emu device.
#[test]
fn half_roundings_of_f64_match_precision_round() {
    let mut module: ModuleBuild =
        detbench::ops::cuda_modules(&detbench::backend::cuda::emu::TARGET, &[])
            .into_iter()
            .find(|m| m.spec.path == SOURCE)
            .expect("a reduce module");
    module.entries = vec!["db_emu_round_halves".into()];
    let dev = cuda_emu::backend().device();
    let f = dev
        .function(&module, "db_emu_round_halves")
        .expect("the probe");
    for (p, word) in [(Precision::F16, 0usize), (Precision::Bf16, 1)] {
        let vs = near_half_ties(p);
        let twice = vs
            .iter()
            .filter(|&&v| p.round(v as f32 as f64) != p.round(v))
            .count();
        assert!(
            twice >= vs.len() / 10,
            "{p}: only {twice} of {} inputs round differently through f32",
            vs.len()
        );
        let n = vs.len();
        let x = dev.upload(&Precision::F64.encode(&vs)).unwrap();
        let outs: [CudaBuf; 2] = [dev.zeros(2 * n).unwrap(), dev.zeros(2 * n).unwrap()];
        let n64 = n as u64;
        let mut b = dev.launch_builder(&f);
        b.arg(&x).arg(&n64).arg(&outs[0]).arg(&outs[1]);
        let cfg = LaunchConfig {
            grid_dim: (n.div_ceil(64) as u32, 1, 1),
            block_dim: (64, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: db_emu_round_halves(const double* v, u64 n, u16* f16, u16* bf16): x holds
        // n f64 values and each output n halves; threads past n do nothing.
        unsafe { b.launch(cfg) }.expect("launch");
        let got = dev.read(&outs[word]).unwrap();
        let mut wrong = Vec::new();
        for (i, &v) in vs.iter().enumerate() {
            let g = u16::from_le_bytes([got[2 * i], got[2 * i + 1]]) as u64;
            let want = p.bits(p.round(v));
            if g != want {
                wrong.push(format!(
                    "{v:e} ({:#x}): {g:#06x} want {want:#06x}",
                    v.to_bits()
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{p}: {} of {n} differ from Precision::round, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(6)]
        );
    }
}

/// A kernel that writes past the end of a buffer (the probe, given 1000 values and output
/// buffers of 2 bytes) fails its launch with the kernel, block and thread named, and the
/// process (this test binary) lives on: the buffer's end touches an inaccessible page, and
/// the emulator turns the fault into the launch's error.
#[test]
fn an_access_past_a_buffer_fails_the_launch() {
    let mut module: ModuleBuild =
        detbench::ops::cuda_modules(&detbench::backend::cuda::emu::TARGET, &[])
            .into_iter()
            .find(|m| m.spec.path == SOURCE)
            .expect("a reduce module");
    module.entries = vec!["db_emu_round_halves".into()];
    let dev = cuda_emu::backend().device();
    let f = dev
        .function(&module, "db_emu_round_halves")
        .expect("the probe");
    let n = 1000usize;
    let x = dev.upload(&Precision::F64.encode(&vec![1.5; n])).unwrap();
    let small = [dev.zeros(2).unwrap(), dev.zeros(2).unwrap()];
    let n64 = n as u64;
    let mut b = dev.launch_builder(&f);
    b.arg(&x).arg(&n64).arg(&small[0]).arg(&small[1]);
    let cfg = LaunchConfig {
        grid_dim: (n.div_ceil(64) as u32, 1, 1),
        block_dim: (64, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: the outputs hold one half each and the kernel writes n, on purpose: on the
    // emulator every write up to the buffer's 256-byte-rounded end lands in padding of that
    // buffer's own mapping, which nothing else uses, and the next one faults on the guard
    // page, which ends the launch (no real device runs this).
    let err = unsafe { b.launch(cfg) }.expect_err("a write past the buffer must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("db_emu_round_halves") && msg.contains("segmentation fault"),
        "{msg}"
    );
    // The device still works after the fault.
    let ok = dev.zeros(2 * n).unwrap();
    let mut b = dev.launch_builder(&f);
    b.arg(&x).arg(&n64).arg(&ok).arg(&ok);
    // SAFETY: both outputs hold n halves now.
    unsafe { b.launch(cfg) }.expect("a launch in bounds after a fault");
}
