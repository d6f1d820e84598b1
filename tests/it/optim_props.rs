//! Properties of the optimizer family (sgd, adam, adamw), written once and instantiated for
//! every backend by `backend_tests!`: reproducible bits, agreement with the f64 reference
//! within the a-priori bound (SGD's and Adam's running error bounds), a perturbation
//! beyond the bound detected, adversarial Adam inputs within their bound (proptest),
//! agreement with the CPU emulation of the same formula order, and stochastic rounding that
//! is a function of the seed and unbiased.

use crate::common;

use detbench::backend::BackendKind;
use detbench::error::OpError;
use detbench::inputs::InputSpec;
use detbench::numerics::ulp::ulp_distance;
use detbench::numerics::Precision;
use detbench::ops::optim::{self, round_bf16_stochastic, sr_hash, sr_key};
use detbench::ops::{Case, FamilyParams, Op, Prepared, RunSet};
use detbench::runner::{metrics, prepare};

const N: usize = 4099; // not a multiple of 4: exercises the vector tail
const STEPS: usize = 6;

fn case(op: Op, p: Precision, variant: &str, seed: u64, runs: usize) -> Case {
    Case {
        op,
        precision: p,
        accumulator: Precision::F32,
        variant: variant.into(),
        size: N,
        input: InputSpec::Normal,
        seed,
        runs,
        workgroup_size: 256,
        params: FamilyParams::new(optim::OptimParams { steps: STEPS }),
    }
}

/// Every (op, precision, variant) a backend is asked to run.
fn matrix() -> Vec<(Op, Precision, &'static str)> {
    let mut v = Vec::new();
    for op in [Op::Sgd, Op::Adam, Op::Adamw] {
        for &variant in op.variants() {
            if variant.ends_with("stochastic_rounding") {
                v.push((op, Precision::Bf16, variant));
            } else {
                v.push((op, Precision::F32, variant));
                v.push((op, Precision::Bf16, variant));
            }
        }
    }
    v
}

/// Runs on a backend; `None` when unsupported there (only wgpu's no_fma may be).
fn run(kind: BackendKind, prep: &Prepared, variant: &str) -> Option<RunSet> {
    let b = common::backend(kind);
    match b.run(&prep.job) {
        Ok(set) => Some(set),
        Err(OpError::Unsupported(why)) => {
            assert!(
                kind == BackendKind::Wgpu && variant.ends_with("no_fma"),
                "{kind} {variant}: unexpectedly unsupported: {why}"
            );
            None
        }
        Err(e) => panic!("{kind} {variant}: {e}"),
    }
}

/// Identical bits over 3 runs; within the a-priori bound, which is finite and not vacuous.
fn reproducible_and_accurate(kind: BackendKind) {
    for (op, p, variant) in matrix() {
        let prep = prepare(&case(op, p, variant, 11, 3)).expect("prepare");
        let Some(set) = run(kind, &prep, variant) else {
            continue;
        };
        let m = metrics(&prep, &set);
        let what = format!("{kind} {op} {p} {variant}");
        assert_eq!(m.distinct_outputs, 1, "{what}: runs differ");
        assert_eq!(m.non_finite, 0, "{what}: non-finite");
        assert_eq!(
            m.bound_violations, 0,
            "{what}: error {:e} exceeds the bound",
            m.max_abs_err
        );
        assert!(
            prep.bounds.iter().all(|b| b.is_some_and(f64::is_finite)),
            "{what}: every element has a finite a-priori bound"
        );
        if op == Op::Sgd {
            continue;
        }
        // Adam's bound is tight enough to mean something: a few hundred roundings over the
        // steps relative to the parameter (f32), or the bf16 rounding(s) on top.
        let ceiling = match (p, variant.ends_with("stochastic_rounding")) {
            (Precision::F32, _) => 400.0 * STEPS as f64 * Precision::F32.unit_roundoff(),
            (_, false) => 2f64.powi(-8) * 1.1,
            // One bf16 ULP of every step's parameter, which may exceed the final one.
            (_, true) => 2.0 * STEPS as f64 * 2f64.powi(-7),
        };
        // Relative to the parameter's larger end: one that crosses zero over the steps
        // ends far smaller than the values its step roundings were taken at.
        let detbench::ops::Job::Optim(job) = &prep.job else {
            panic!("{what}: not an optimizer job")
        };
        let loosest = prep
            .bounds
            .iter()
            .zip(prep.exact.iter())
            .zip(job.init.iter())
            .map(|((b, e), &p0)| b.unwrap() / e.abs().max(f64::from(p0).abs()).max(1e-3))
            .fold(0.0, f64::max);
        assert!(
            loosest <= ceiling,
            "{what}: relative bound {loosest:e} > {ceiling:e}"
        );
    }
}

/// CPU fma and no_fma are different kernels (their bits differ for f32), and every backend
/// that runs a variant is close to the CPU emulation: CUDA bit for bit (--fmad decides);
/// wgpu within a tolerance, since a driver may evaluate fma() unfused (lavapipe does) and
/// WGSL's division and sqrt are not correctly rounded.
fn matches_cpu_emulation(kind: BackendKind) {
    let _ = common::backend(kind);
    for (op, p, variant) in matrix() {
        let prep = prepare(&case(op, p, variant, 5, 1)).expect("prepare");
        let cpu = run(BackendKind::Cpu, &prep, variant).expect("cpu runs everything");
        let Some(dev) = run(kind, &prep, variant) else {
            continue;
        };
        let what = format!("{kind} {op} {p} {variant}");
        let (a, b) = (&cpu.outputs[0], &dev.outputs[0]);
        match kind {
            BackendKind::Cuda | BackendKind::CudaEmu => {
                assert_eq!(a, b, "{what}: CUDA differs from the CPU emulation")
            }
            BackendKind::Wgpu => {
                let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let worst = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f64::max);
                // fma vs unfused: a few roundings of size |p| per step; SR: a flipped
                // rounding moves one element by one bf16 ULP.
                let tol = if p == Precision::F32 {
                    8.0 * STEPS as f64 * Precision::F32.unit_roundoff() * scale
                } else {
                    2.0 * STEPS as f64 * Precision::Bf16.unit_roundoff() * scale
                };
                assert!(
                    worst <= tol,
                    "{what}: {worst:e} from the CPU emulation (tolerance {tol:e})"
                );
                if a != b {
                    let nf = variant.replace("fma", "no_fma");
                    if nf != variant && !variant.contains("stochastic") {
                        let c = prepare(&case(op, p, &nf, 5, 1)).expect("prepare");
                        let unfused = run(BackendKind::Cpu, &c, &nf).expect("cpu");
                        eprintln!(
                            "{what}: differs from CPU fma; equals CPU no_fma bitwise: {}",
                            unfused.outputs[0] == *b
                        );
                    }
                }
            }
            // The cpu against itself, and backends with no expectation here.
            _ => {}
        }
    }
    // The two CPU orders are really different computations.
    for op in [Op::Sgd, Op::Adam] {
        let (f, nf) = if op == Op::Sgd {
            ("momentum_fma", "momentum_no_fma")
        } else {
            ("fma", "no_fma")
        };
        let a = run(
            BackendKind::Cpu,
            &prepare(&case(op, Precision::F32, f, 5, 1)).unwrap(),
            f,
        )
        .unwrap();
        let b = run(
            BackendKind::Cpu,
            &prepare(&case(op, Precision::F32, nf, 5, 1)).unwrap(),
            nf,
        )
        .unwrap();
        assert_ne!(
            a.outputs[0], b.outputs[0],
            "{op}: fma and no_fma gave the same bits"
        );
    }
}

/// SGD on wgpu equals the CPU emulation bit for bit: every multiply-add of optim.wgsl's SGD
/// is common.wgsl's exact fma emulation (`fma32`), so a driver that evaluates WGSL's fma()
/// as a multiply then an add (lavapipe does) cannot change the bits. The inputs are ones on
/// which the fused and the unfused orders differ (checked below), so a kernel that rounds
/// the product separately fails here.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn sgd_on_wgpu_equals_the_cpu_emulation_bitwise() {
    for &variant in Op::Sgd.variants() {
        if variant.ends_with("no_fma") {
            continue;
        }
        let stochastic = variant.ends_with("stochastic_rounding");
        let formats: &[Precision] = if stochastic {
            &[Precision::Bf16]
        } else {
            &[Precision::F32, Precision::Bf16]
        };
        for &p in formats {
            let prep = prepare(&case(Op::Sgd, p, variant, 9, 1)).expect("prepare");
            let cpu = run(BackendKind::Cpu, &prep, variant).expect("cpu");
            let dev = run(BackendKind::Wgpu, &prep, variant).expect("wgpu runs the fma order");
            let (a, b) = (&cpu.outputs[0], &dev.outputs[0]);
            let differing = a
                .iter()
                .zip(b)
                .filter(|(x, y)| x.to_bits() != y.to_bits())
                .count();
            assert_eq!(a.len(), b.len());
            assert_eq!(
                differing, 0,
                "wgpu sgd {p} {variant}: {differing} of {N} elements differ from the CPU emulation"
            );
            if p == Precision::F32 && !stochastic {
                let nf = variant.replace("fma", "no_fma");
                let c = prepare(&case(Op::Sgd, p, &nf, 9, 1)).expect("prepare");
                let unfused = run(BackendKind::Cpu, &c, &nf).expect("cpu");
                assert_ne!(
                    &unfused.outputs[0], a,
                    "sgd {variant}: these inputs do not tell fused from unfused multiply-adds"
                );
            }
        }
    }
}

/// stochastic_rounding: the same seed gives the same bits, another seed other bits.
fn stochastic_rounding_is_a_function_of_the_seed(kind: BackendKind) {
    for op in [Op::Sgd, Op::Adamw] {
        let v = if op == Op::Sgd {
            "momentum_stochastic_rounding"
        } else {
            "stochastic_rounding"
        };
        let p1 = prepare(&case(op, Precision::Bf16, v, 3, 2)).unwrap();
        let a = run(kind, &p1, v).unwrap();
        let b = run(kind, &p1, v).unwrap();
        assert_eq!(
            a.outputs, b.outputs,
            "{kind} {op}: same seed, different bits"
        );
        // Same inputs, another rounding key: only the key of the hash changes.
        let mut p2 = p1.clone();
        if let detbench::ops::Job::Optim(j) = &mut p2.job {
            for s in &mut j.steps {
                s.key = sr_key(4);
            }
        }
        let c = run(kind, &p2, v).unwrap();
        assert_ne!(
            a.outputs[0], c.outputs[0],
            "{kind} {op}: the key does not matter"
        );
    }
}

macro_rules! backend_tests {
    ($($(#[$attr:meta])* $name:ident => $kind:expr;)*) => {$(
        mod $name {
            use super::*;
            #[test]
            $(#[$attr])*
            fn reproducible_and_within_reference() { reproducible_and_accurate($kind); }
            #[test]
            $(#[$attr])*
            fn close_to_cpu_emulation() { matches_cpu_emulation($kind); }
            #[test]
            $(#[$attr])*
            fn stochastic_rounding_seeded() { stochastic_rounding_is_a_function_of_the_seed($kind); }
        }
    )*};
}

backend_tests! {
    cpu => BackendKind::Cpu;
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    wgpu => BackendKind::Wgpu;
    #[cfg_attr(not(detbench_libcuda), ignore = "needs a CUDA device (none found at build time; DETBENCH_REQUIRE_CUDA=1 runs it)")]
    cuda => BackendKind::Cuda;
}

/// Stochastic rounding is unbiased: for values between two bf16 neighbours, the mean of
/// 2^16 rounded draws (indices 0..2^16 of the hash, fixed seed) is within 5 standard errors
/// of the value, and the draws land only on the two neighbours.
#[test]
fn stochastic_rounding_is_unbiased() {
    let key = sr_key(1234);
    let draws = 1u32 << 16;
    for (k, &x) in [
        1.0f32 + 0.3 * 2f32.powi(-7),
        -3.7e-3,
        0.1,
        12345.678,
        -1.0e-30,
    ]
    .iter()
    .enumerate()
    {
        let lo = half::bf16::from_f32(x);
        let mut sum = 0.0f64;
        for i in 0..draws {
            let r = round_bf16_stochastic(x, sr_hash(key, k as u32 + 1, i));
            let d = ulp_distance(Precision::Bf16, r.to_f64(), x as f64);
            assert!(d <= 1 || ulp_distance(Precision::Bf16, r.to_f64(), lo.to_f64()) <= 1);
            sum += r.to_f64();
        }
        let mean = sum / draws as f64;
        // One bf16 ULP at x bounds the spread of each draw.
        let ulp = (x.abs() as f64) * 2f64.powi(-7);
        let se = 0.5 * ulp / (draws as f64).sqrt();
        assert!(
            (mean - x as f64).abs() <= 5.0 * se,
            "x = {x:e}: mean {mean:e} is {} standard errors away",
            (mean - x as f64).abs() / se
        );
    }
    // Exact bf16 values are never moved.
    for i in 0..1000u32 {
        assert_eq!(round_bf16_stochastic(1.5, sr_hash(key, 1, i)).to_f32(), 1.5);
    }
}

/// The per-step scalars are computed on the host without pow, so they are fixed bits.
#[test]
fn step_scalars_are_fixed() {
    let h = optim::Hyper::defaults(optim::Rule::Adam);
    let s = optim::step_scalars(optim::Rule::Adam, &h, 3, 7);
    assert_eq!(
        s[0].neg_step,
        -(1e-3f32 as f64 / (1.0 - 0.9f32 as f64)) as f32
    );
    assert_eq!(s[2].step, 3);
    assert_eq!(s[0].a, (1.0 - 0.9f32 as f64) as f32);
}

fn detbench(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_detbench"))
        .args(args)
        .output()
        .expect("runs")
}

/// Bad optimizer input exits 2 with one line; a good run writes the cross-backend figures.
#[test]
fn cli_optimizer_runs() {
    for args in [
        &["run", "--op", "adam", "--backend", "cpu", "--steps", "0"][..],
        &["run", "--op", "sgd", "--backend", "cpu", "--variant", "fma"],
        &[
            "run",
            "--op",
            "adamw",
            "--backend",
            "cpu",
            "--variant",
            "nesterov_fma",
        ],
    ] {
        let out = detbench(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let out = detbench(&[
        "run",
        "--op",
        "adamw",
        "--backend",
        "cpu,wgpu",
        "--precision",
        "f32,bf16",
        "--size",
        "1001",
        "--steps",
        "3",
        "--runs",
        "2",
        "--quiet",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = detbench::report::load_report(&path).unwrap();
    let ok: Vec<_> = r.results.iter().filter(|x| x.status == "ok").collect();
    assert!(!ok.is_empty());
    if ok.iter().any(|x| x.backend == "wgpu") {
        // fma runs on both backends (no_fma only on the CPU, so it has no comparison).
        assert!(ok
            .iter()
            .filter(|x| x.variant == "fma")
            .all(|x| x.extra.contains_key("cross_backend_max_ulp")));
    }
}

// ---------------------------------------------------------------------------------------
// Adam / AdamW a-priori bound (ops::optim::adam_reference) over adversarial inputs.

use detbench::ops::optim::{OptimVariant, Storage};
use proptest::prelude::*;

/// A Prepared for explicit parameters and gradients, as `prepare` builds it.
fn adam_prepared(
    op: Op,
    variant: &str,
    storage: Storage,
    init: Vec<f32>,
    grads: Vec<Vec<f32>>,
) -> Prepared {
    let v = OptimVariant::parse(op, variant).unwrap();
    let rule = v.rule;
    let job = optim::new_job(
        op,
        v,
        storage,
        optim::Hyper::defaults(rule),
        init,
        grads,
        9,
        64,
    );
    let (exact, bounds) = optim::reference(&job);
    Prepared {
        phases: Vec::new(),
        job: detbench::ops::Job::Optim(job),
        exact: exact.into(),
        exact_out: Vec::new().into(),
        exact_rest: Vec::new().into(),
        bounds: bounds.into(),
        condition_number: None,
        bytes_moved: 0.0,
        input_sha256: String::new(),
        out_precision: storage.param_precision(),
        scalar: false,
        dumps: Vec::new(),
        note: String::new(),
    }
}

/// An f32 of a chosen magnitude class: zero, subnormal, tiny, ordinary, large.
fn edge_f32() -> impl Strategy<Value = f32> {
    let mag = prop_oneof![
        Just(0.0f64),
        (1u32..(1 << 23)).prop_map(|m| m as f64 * 2f64.powi(-149)),
        (-126i32..-60, 0.5f64..1.0).prop_map(|(e, f)| f * 2f64.powi(e)),
        (-30i32..4, 0.5f64..1.0).prop_map(|(e, f)| f * 2f64.powi(e)),
        (4i32..60, 0.5f64..1.0).prop_map(|(e, f)| f * 2f64.powi(e)),
    ];
    (mag, any::<bool>()).prop_map(|(m, neg)| (if neg { -m } else { m }) as f32)
}

/// (op, variant, storage) of every Adam job the kernels take.
fn adam_kind() -> impl Strategy<Value = (Op, &'static str, Storage)> {
    prop_oneof![
        Just((Op::Adam, "fma", Storage::F32)),
        Just((Op::Adam, "no_fma", Storage::F32)),
        Just((Op::Adamw, "fma", Storage::F32)),
        Just((Op::Adamw, "no_fma", Storage::F32)),
        Just((Op::Adam, "fma", Storage::Bf16Master)),
        Just((Op::Adamw, "no_fma", Storage::Bf16Master)),
        Just((Op::Adam, "stochastic_rounding", Storage::Bf16Sr)),
        Just((Op::Adamw, "stochastic_rounding", Storage::Bf16Sr)),
    ]
}

/// Parameters and per-step gradients (n elements, k steps), in the storage format.
fn adam_inputs(storage: Storage) -> impl Strategy<Value = (Vec<f32>, Vec<Vec<f32>>)> {
    (1usize..40, 1usize..8).prop_flat_map(move |(n, k)| {
        let fit = move |v: Vec<f32>| -> Vec<f32> {
            v.into_iter()
                .map(|x| storage.param_precision().round(x as f64) as f32)
                .collect()
        };
        (
            prop::collection::vec(edge_f32(), n).prop_map(fit),
            prop::collection::vec(prop::collection::vec(edge_f32(), n).prop_map(fit), k),
        )
    })
}

fn adam_within_bound(
    kind: BackendKind,
    op: Op,
    variant: &str,
    storage: Storage,
    init: Vec<f32>,
    grads: Vec<Vec<f32>>,
) {
    let prep = adam_prepared(op, variant, storage, init, grads);
    let Some(set) = common::run_or_unsupported(kind, &prep) else {
        return;
    };
    let what = format!("{kind} {op} {variant} {storage:?}");
    assert!(
        prep.bounds.iter().all(|b| b.is_some_and(f64::is_finite)),
        "{what}: no finite bound: {:?}",
        prep.bounds
    );
    let m = metrics(&prep, &set);
    assert_eq!(m.non_finite, 0, "{what}: non-finite output");
    assert_eq!(
        m.bound_violations, 0,
        "{what}: error {:e} beyond the bound; out {:?} exact {:?} bounds {:?}",
        m.max_abs_err, set.outputs[0], prep.exact, prep.bounds
    );
    // The check can fail: moving one element just past its bound is a violation.
    let j = set.outputs[0].len() / 2;
    let (e, b) = (prep.exact[j], prep.bounds[j].unwrap());
    let mut bad = set.clone();
    let mut c = (e + 1.5 * b) as f32;
    while ((c as f64) - e).abs() <= b {
        c = f32::from_bits(if c >= 0.0 {
            c.to_bits() + 1
        } else {
            c.to_bits() - 1
        });
        if c == 0.0 {
            c = f32::from_bits(1);
        }
    }
    let mut outs = bad.outputs.to_vecs();
    outs[0][j] = c as f64;
    bad.outputs = outs.into();
    assert_eq!(
        metrics(&prep, &bad).bound_violations,
        1,
        "{what}: output {c:e} against exact {e:e} with bound {b:e} was not flagged"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(48)))]

    /// Every adam/adamw result on the CPU is within its bound over edge-magnitude inputs
    /// (zero, subnormal, tiny, ordinary and large parameters and gradients).
    #[test]
    fn adam_cpu_within_bound(((op, variant, storage), (init, grads)) in adam_kind().prop_flat_map(|k| (Just(k), adam_inputs(k.2)))) {
        adam_within_bound(BackendKind::Cpu, op, variant, storage, init, grads);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(16)))]

    /// The same on wgpu (lavapipe): its fma() may be unfused and its sqrt and division are
    /// not correctly rounded, which the bound allows for.
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    #[test]
    fn adam_wgpu_within_bound(((op, variant, storage), (init, grads)) in adam_kind().prop_flat_map(|k| (Just(k), adam_inputs(k.2)))) {
        adam_within_bound(BackendKind::Wgpu, op, variant, storage, init, grads);
    }
}
