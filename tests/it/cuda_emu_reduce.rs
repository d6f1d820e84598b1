//! kernels/cuda/reduce.cu run on the host emulation of CUDA (tests/it/cuda_emu): every module
//! the backend builds for sm_90 (all nine input/accumulator pairs), sum and dot, launched
//! exactly as src/ops/reduce/cuda.rs launches them. tree, kahan, fixed_point and
//! reproducible must give the CPU emulation's bits; atomic, atomic_cas and block_atomic,
//! under each of the six PTX orderings, must stay within the a-priori bound.

use crate::common;
use crate::cuda_emu;

use cuda_emu::{i32_arg, Module};
use detbench::backend::BackendKind;
use detbench::inputs::InputSpec;
use detbench::numerics::repro::MAX_FOLDS;
use detbench::numerics::Precision;
use detbench::ops::reduce::ReduceJob;
use detbench::ops::{Case, Job, Op, Prepared, RunSet};

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

/// Value format of partials: f64 for an f64 accumulator, else f32 (cuda.rs's value_format).
fn value_format(acc: Precision) -> Precision {
    if acc == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    }
}

/// A job's operands on the emulated device, its entry-point suffix, op and launch shape.
struct Operands<'m> {
    suffix: String,
    op: &'static str,
    n: u64,
    groups: u32,
    wg: u32,
    x: cuda_emu::Buf<'m>,
    y: Option<cuda_emu::Buf<'m>>,
}

impl Operands<'_> {
    /// y, or x for a sum (sum kernels take a y pointer too and never read it).
    fn y(&self) -> &cuda_emu::Buf<'_> {
        self.y.as_ref().unwrap_or(&self.x)
    }
}

fn operands<'m>(m: &'m Module, j: &ReduceJob) -> Operands<'m> {
    Operands {
        suffix: format!("{}_{}", j.precision.name(), j.accumulator.name()),
        op: if j.y.is_some() { "dot" } else { "sum" },
        n: j.n() as u64,
        groups: j.launch.workgroups,
        wg: j.launch.workgroup_size,
        x: m.upload(&j.precision.encode(&j.x)),
        y: j.y.as_ref().map(|y| m.upload(&j.precision.encode(y))),
    }
}

/// One run of `variant` (with `ord` for the atomic ones), launched as cuda.rs launches it.
fn run(m: &Module, j: &ReduceJob, variant: &str, ord: &str) -> f64 {
    let o = operands(m, j);
    let (suffix, op, n, groups, wg) = (&o.suffix, o.op, o.n, o.groups, o.wg);
    let (x, y) = (&o.x, o.y());
    let acc = j.accumulator;
    let vf = value_format(acc);
    let e = |name: String| format!("{name}_{suffix}");
    match variant {
        "tree" | "kahan" => {
            let words = if variant == "tree" { 1 } else { 2 };
            let partials = m.alloc(groups as usize * words * vf.bytes());
            let out = m.alloc(vf.bytes());
            let shared = wg as usize * words * vf.bytes();
            m.launch(
                &e(format!("{op}_{variant}_pass1")),
                (groups, 1, 1),
                wg,
                shared,
                &[x.addr(), y.addr(), n, partials.addr()],
            );
            m.launch(
                &e(format!("{variant}_pass2")),
                (1, 1, 1),
                wg,
                shared,
                &[partials.addr(), groups as u64, out.addr()],
            );
            vf.decode(&out.read())[0]
        }
        "atomic" | "atomic_cas" | "block_atomic" => {
            let shared = if variant == "block_atomic" {
                wg as usize * vf.bytes()
            } else {
                0
            };
            let word = m.alloc(acc.bytes());
            m.launch(
                &e(format!("{op}_{variant}_{ord}")),
                (groups, 1, 1),
                wg,
                shared,
                &[x.addr(), y.addr(), n, word.addr()],
            );
            acc.decode(&word.read())[0]
        }
        "fixed_point" => {
            let total = m.alloc(8);
            let lost = m.alloc(8);
            m.launch(
                &e(format!("{op}_fixed_point")),
                (groups, 1, 1),
                wg,
                0,
                &[
                    x.addr(),
                    y.addr(),
                    n,
                    i32_arg(j.fixed_scale),
                    total.addr(),
                    lost.addr(),
                ],
            );
            let t = i64::from_le_bytes(total.read()[..8].try_into().unwrap());
            detbench::shared::fixed::fixed_to_value(t, j.fixed_scale, acc)
        }
        "reproducible" => repro_run(m, j).value,
        other => panic!("unknown variant {other}"),
    }
}

/// What one reproducible run leaves on the device.
struct ReproRun {
    value: f64,
    /// The layout words: status, folds, a_1..a_3, pending.
    layout: Vec<i32>,
    /// The maximum repro_check found.
    max: f64,
}

/// Words of reproducible's layout buffer (cuda.rs's REPRO_LAYOUT_WORDS).
const LAYOUT_WORDS: usize = 6;

/// reproducible launched as cuda.rs launches it (guess, deposit, check, deposit), without
/// the host's layout check: the caller asserts on the layout words.
fn repro_launch(m: &Module, j: &ReduceJob) -> ReproRun {
    let o = operands(m, j);
    let (suffix, op, n, groups, wg) = (&o.suffix, o.op, o.n, o.groups, o.wg);
    let (x, y) = (&o.x, o.y());
    let limbs = if j.accumulator == Precision::F64 {
        3
    } else {
        2
    };
    let nwords = MAX_FOLDS * limbs;
    let block_max = m.alloc(groups as usize * 8);
    let layout = m.alloc(LAYOUT_WORDS * 4);
    let max_out = m.alloc(8);
    let lanes = m.alloc(nwords * 4);
    let tree = wg as usize * 8;
    let deposit = || {
        m.launch(
            &format!("{op}_repro_deposit_{suffix}"),
            (groups, 1, 1),
            wg,
            tree,
            &[
                x.addr(),
                y.addr(),
                n,
                layout.addr(),
                lanes.addr(),
                block_max.addr(),
            ],
        )
    };
    m.launch(
        &format!("{op}_repro_guess_{suffix}"),
        (1, 1, 1),
        wg,
        tree,
        &[x.addr(), y.addr(), n, layout.addr()],
    );
    deposit();
    m.launch(
        &format!("repro_check_{suffix}"),
        (1, 1, 1),
        wg,
        tree,
        &[
            block_max.addr(),
            groups as u64,
            layout.addr(),
            lanes.addr(),
            max_out.addr(),
        ],
    );
    deposit();
    let lay: Vec<i32> = layout.u32s().iter().map(|&v| v as i32).collect();
    let value = if lay[0] == 0 {
        let params = j.repro.expect("reproducible layout");
        detbench::shared::lanes::finalize_lanes(&params, &lanes.u32s()[..nwords], limbs, 1)[0]
    } else {
        f64::NAN
    };
    ReproRun {
        value,
        layout: lay,
        max: f64::from_le_bytes(max_out.read()[..8].try_into().unwrap()),
    }
}

/// [`repro_launch`] and the host's checks: the layout the device settled on is the host's.
fn repro_run(m: &Module, j: &ReduceJob) -> ReproRun {
    let r = repro_launch(m, j);
    let params = j.repro.expect("reproducible layout");
    assert_eq!(r.layout[0], 0, "layout status");
    assert_eq!(r.layout[1] as usize, params.folds, "folds");
    assert_eq!(
        &r.layout[2..2 + params.folds],
        &params.a[..params.folds],
        "fold exponents"
    );
    r
}

fn pairs() -> Vec<(Precision, Precision)> {
    detbench::backend::cuda::precision_pairs()
}

fn cpu(prep: &Prepared) -> f64 {
    common::run_or_unsupported(BackendKind::Cpu, prep)
        .expect("the CPU runs every ordered variant")
        .outputs[0][0]
}

/// Shapes: one element; a ragged last block; more elements than threads (each thread
/// loops), several blocks per pass-2 thread.
const SHAPES: &[(usize, u32)] = &[(1, 64), (3001, 64), (40_000, 32)];

fn ordered_pair(input: Precision, acc: Precision) {
    let build = cuda_emu::module_build(SOURCE, &format!("{}_{}", input.name(), acc.name()));
    let m = cuda_emu::load(&build.spec);
    cuda_emu::assert_entries(&m, &build);
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
                    let got = run(&m, job(&prep), v, "");
                    let want = cpu(&prep);
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{op} {v} {input}/{acc} n={n} wg={wg} {spec:?}: emulated CUDA {got:e}, CPU emulation {want:e}"
                    );
                }
            }
        }
    }
}

fn atomic_pair(input: Precision, acc: Precision) {
    let build = cuda_emu::module_build(SOURCE, &format!("{}_{}", input.name(), acc.name()));
    let m = cuda_emu::load(&build.spec);
    for op in [Op::Sum, Op::Dot] {
        for v in ["atomic", "atomic_cas", "block_atomic"] {
            let prep =
                detbench::runner::prepare(&case(op, input, acc, v, 3001, 64, InputSpec::Normal))
                    .expect("prepare");
            let Some(bound) = prep.bounds[0] else {
                continue;
            };
            let outputs: Vec<Vec<f64>> = detbench::ops::common::cuda_ordering_suffixes()
                .into_iter()
                .map(|ord| vec![run(&m, job(&prep), v, ord)])
                .collect();
            let set = RunSet {
                times_ms: vec![0.0; outputs.len()],
                outputs,
                ..Default::default()
            };
            let met = detbench::runner::metrics(&prep, &set);
            assert_eq!(
                met.non_finite, 0,
                "{op} {v} {input}/{acc}: non-finite output"
            );
            assert_eq!(
                met.bound_violations, 0,
                "{op} {v} {input}/{acc}: error {:e} exceeds the bound {bound:e} ({:?})",
                met.max_abs_err, set.outputs
            );
        }
    }
}

cuda_emu::pair_tests!();

/// The tests above cover every pair the backend builds.
#[test]
fn every_module_is_covered() {
    let mut built: Vec<String> = cuda_emu::module_builds(SOURCE)
        .iter()
        .map(|b| {
            b.spec
                .defines
                .iter()
                .find(|(k, _)| k == "DB_SUFFIX")
                .unwrap()
                .1
                .clone()
        })
        .collect();
    built.sort();
    let mut covered: Vec<String> = pairs()
        .iter()
        .map(|(i, a)| format!("{}_{}", i.name(), a.name()))
        .collect();
    covered.sort();
    assert_eq!(built, covered);
    assert_eq!(covered.len(), 9);
}

/// The expected fixed_point outcome of `terms` at scale k: the wrapping sum of the
/// quantized terms and the count of terms that lost bits (src/shared/fixed.rs).
fn fixed_expect(terms: &[f64], k: i32) -> (i64, u64) {
    terms.iter().fold((0i64, 0u64), |(t, l), &v| {
        let (q, lost) = detbench::shared::fixed::fixed_quantize(v, k);
        (t.wrapping_add(q), l + u64::from(lost))
    })
}

/// fixed_point at the edges, launched directly (the host refuses non-finite terms before
/// any kernel runs, so only a kernel that meets one anyway, e.g. a dot product overflowing
/// its accumulator, sees them): each term quantizes and counts as lost exactly as
/// `fixed_quantize` says: non-finite terms add 0 and are lost; a term whose scaling
/// underflows to 0 (k < 0) is lost.
#[test]
fn fixed_point_edges_match_fixed_quantize() {
    let two = |e: i32| libm::ldexp(1.0, e);
    // f64 sum near the top of the range: k < -900, so 2^-200 and the smallest subnormal
    // underflow in the scaling.
    let m = cuda_emu::load(&cuda_emu::module_build(SOURCE, "f64_f64").spec);
    let xs = [
        two(1000),
        two(-200),
        -f64::from_bits(1),
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        0.0,
        3.0 * two(990),
        1.5,
    ];
    let k = detbench::shared::fixed::fixed_scale(xs.len(), two(1000) * 3.0);
    assert!(k < -900);
    let x = m.upload(&Precision::F64.encode(&xs));
    let (total, lost) = (m.alloc(8), m.alloc(8));
    m.launch(
        "sum_fixed_point_f64_f64",
        (1, 1, 1),
        64,
        0,
        &[
            x.addr(),
            x.addr(),
            xs.len() as u64,
            i32_arg(k),
            total.addr(),
            lost.addr(),
        ],
    );
    let got = (
        i64::from_le_bytes(total.read()[..8].try_into().unwrap()),
        u64::from_le_bytes(lost.read()[..8].try_into().unwrap()),
    );
    let want = fixed_expect(&xs, k);
    assert_eq!(
        want.1, 6,
        "the reference counts inf, -inf, NaN, the two underflows and 1.5 (rounded away)"
    );
    assert_eq!(got, want, "f64 sum at k = {k}");

    // f32 dot: 2^100 * 2^100 overflows the f32 accumulator to inf (lost, adds 0); 2^-100 *
    // 2^-100 underflows to 0 in f32 before quantization (not lost: the term is 0).
    let m = cuda_emu::load(&cuda_emu::module_build(SOURCE, "f32_f32").spec);
    let xs = [two(100), 3.0, two(-100), -0.75];
    let ys = [two(100), 0.5, two(-100), 1.0];
    let terms: Vec<f64> = xs
        .iter()
        .zip(&ys)
        .map(|(&a, &b)| ((a as f32) * (b as f32)) as f64)
        .collect();
    for k in [20, 0, -3] {
        let x = m.upload(&Precision::F32.encode(&xs));
        let y = m.upload(&Precision::F32.encode(&ys));
        let (total, lost) = (m.alloc(8), m.alloc(8));
        m.launch(
            "dot_fixed_point_f32_f32",
            (2, 1, 1),
            32,
            0,
            &[
                x.addr(),
                y.addr(),
                xs.len() as u64,
                i32_arg(k),
                total.addr(),
                lost.addr(),
            ],
        );
        let got = (
            i64::from_le_bytes(total.read()[..8].try_into().unwrap()),
            u64::from_le_bytes(lost.read()[..8].try_into().unwrap()),
        );
        assert_eq!(got, fixed_expect(&terms, k), "f32 dot at k = {k}");
        assert!(got.1 >= 1, "the overflowed product is lost");
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
/// again only if the guess was wrong) gives the CPU emulation's bits both ways, and leaves
/// pending at 1 exactly when the true maximum lies outside the sample in a higher binade:
/// a large term inside the sample, in the middle of x outside it, and in the deposit's last
/// non-empty block outside it (n = 65535 with 32 threads: 1024 blocks of 64 terms, the last
/// 63 of them, of which the sample's last run covers 32). Sums and dots, f32 and f64
/// accumulators, n not a multiple of the block.
#[test]
fn reproducible_guess_right_reads_once_wrong_reads_twice() {
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
    // (where the large term goes, whether the guess misses it)
    let placements = [
        (None, false),
        (Some(0), false),
        (Some(in_middle), true),
        (Some(in_last), true),
    ];
    for (input, acc) in [
        (Precision::F32, Precision::F32),
        (Precision::F32, Precision::F64),
        (Precision::F64, Precision::F64),
    ] {
        let m = cuda_emu::load(
            &cuda_emu::module_build(SOURCE, &format!("{}_{}", input.name(), acc.name())).spec,
        );
        for op in [Op::Sum, Op::Dot] {
            for &(at, missed) in &placements {
                let (mut x, mut y) = small_operands(n, op == Op::Dot);
                if let Some(i) = at {
                    // |term| = 1000.25 (x 1000.25 * y 1 for dot): a far higher binade.
                    x[i] = 1000.25;
                    if let Some(y) = y.as_mut() {
                        y[i] = 1.0;
                    }
                }
                let c = case(op, input, acc, "reproducible", n, wg, InputSpec::Normal);
                let prep = detbench::ops::reduce::prepare_values(&c, x, y).expect("prepare");
                let r = repro_run(&m, job(&prep));
                let want = cpu(&prep);
                let what = format!("{op} {input}/{acc} large term at {at:?}");
                assert_eq!(
                    r.value.to_bits(),
                    want.to_bits(),
                    "{what}: emulated CUDA {:e}, CPU emulation {want:e}",
                    r.value
                );
                assert_eq!(
                    r.layout[5],
                    i32::from(missed),
                    "{what}: pending (1: x was deposited twice)"
                );
            }
        }
    }
}

/// A deposit block whose threads each hold more than DB_REPRO_RUN (2048) terms moves its sums
/// into the integer words after every run: 2 blocks of 32 threads over 140001 terms (2188
/// per thread), with the guess right and wrong, give the CPU emulation's bits.
#[test]
fn reproducible_runs_longer_than_a_spill_match_the_cpu() {
    let (n, wg) = (140_001usize, 32u32);
    for acc in [Precision::F32, Precision::F64] {
        let m =
            cuda_emu::load(&cuda_emu::module_build(SOURCE, &format!("f32_{}", acc.name())).spec);
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
            let r = repro_run(&m, &j);
            let want = cpu(&prep);
            assert_eq!(
                r.value.to_bits(),
                want.to_bits(),
                "f32/{acc} missed={missed}: emulated CUDA {:e}, CPU emulation {want:e}",
                r.value
            );
            assert_eq!(
                r.layout[5],
                i32::from(missed),
                "f32/{acc} missed={missed}: pending"
            );
        }
    }
}

/// reproducible: a NaN or an infinity among the terms, where the guess's sample does not see
/// it, makes a deposit block's max non-finite (the NaN is kept, as the CPU's nan_max keeps
/// it, not dropped by fmax); the check reports the layout too large (status 1, which the host
/// turns into an error) and leaves pending at 0: nothing is deposited again.
#[test]
fn reproducible_max_keeps_non_finite_terms() {
    let m = cuda_emu::load(&cuda_emu::module_build(SOURCE, "f64_f64").spec);
    let (n, wg) = (40_000usize, 64u32);
    let bad_at = (0..n).find(|&i| !sampled(n, wg as usize, i)).unwrap();
    let xs: Vec<f64> = (0..n).map(|i| i as f64 * 0.25).collect();
    let c = case(
        Op::Sum,
        Precision::F64,
        Precision::F64,
        "reproducible",
        n,
        wg,
        InputSpec::Normal,
    );
    let prep = detbench::ops::reduce::prepare_values(&c, xs, None).expect("prepare");
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut j = job(&prep).clone();
        j.x[bad_at] = bad;
        let r = repro_launch(&m, &j);
        if bad.is_nan() {
            assert!(
                r.max.is_nan(),
                "the NaN term was dropped from the max: {}",
                r.max
            );
        } else {
            assert_eq!(r.max, f64::INFINITY);
        }
        assert_eq!(
            r.layout[0], 1,
            "a non-finite max must be reported too large ({bad})"
        );
        assert_eq!(
            r.layout[5], 0,
            "nothing is deposited again after an overflow ({bad})"
        );
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
#[test]
fn half_roundings_of_f64_match_precision_round() {
    let m = cuda_emu::load(&cuda_emu::module_build(SOURCE, "f16_f16").spec);
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
        let x = m.upload(&Precision::F64.encode(&vs));
        let outs = [m.alloc(2 * n), m.alloc(2 * n)];
        m.launch(
            "db_emu_round_halves",
            (n.div_ceil(64) as u32, 1, 1),
            64,
            0,
            &[x.addr(), n as u64, outs[0].addr(), outs[1].addr()],
        );
        let got = outs[word].read();
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
