//! The reduction family at fixed sizes on every GPU backend. Each test body is written once
//! over a [`Spec`] and instantiated per backend by `gpu_tests!` (the cubecl pattern, as in
//! `reduce_props.rs`): ordered variants are bit-identical run to run and to the CPU emulation
//! of the same launch shape, `reproducible` does not depend on the launch size, and every
//! variant (each atomic one under every ordering the backend runs) stays within its a-priori
//! bound of the exact sum.
//!
//! Tests that only make sense for one backend follow in `wgpu_only` and `cuda_only`.
//! Devices come from `common::backend`: wgpu never skips in CI (lavapipe), CUDA prints why
//! and returns where there is no driver.

use crate::common;

use detbench::backend::cpu::CpuBackend;
use detbench::backend::{Backend, BackendKind};
use detbench::error::OpError;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{Case, Job, Op, Ordering, Prepared, RunSet};
use detbench::runner::{metrics, prepare};

/// What differs between backends, as data; everything else is the shared body.
struct Spec {
    kind: BackendKind,
    /// Base of the input seed (seed = base + size), so each backend keeps the inputs it was
    /// validated on.
    seed: u64,
    /// Launch sizes the ordered variants are compared across (the device's range of
    /// workgroup/block sizes, within the test's time budget).
    launches: &'static [u32],
    /// Whether the ordered test also runs 2^20 elements for (op, input, accumulator).
    /// Narrower on lavapipe, where 2^20 costs seconds per case on 2 cores.
    large_ordered: fn(Op, Precision, Precision) -> bool,
    /// Sizes of the bound test for (input, accumulator).
    bound_sizes: fn(Precision, Precision) -> &'static [usize],
    /// The atomic memory orderings the backend runs atomic variants with.
    orderings: &'static [Ordering],
    /// The timers a run may report.
    timers: &'static [&'static str],
    /// The documented gaps: whether `Unsupported` is expected for (device, variant, acc).
    documented_gap: fn(&dyn Backend, &str, Precision) -> bool,
    /// Text that block_atomic's run message must hold, where the backend writes one.
    block_atomic_message: Option<&'static str>,
}

impl Spec {
    /// A case on normal inputs; `(p, acc)` is the input format and the accumulator.
    fn case(
        &self,
        op: Op,
        (p, acc): (Precision, Precision),
        variant: &str,
        n: usize,
        wg: u32,
        runs: usize,
    ) -> Case {
        Case {
            op,
            precision: p,
            accumulator: acc,
            variant: variant.into(),
            size: n,
            input: InputSpec::Normal,
            seed: self.seed + n as u64,
            runs,
            workgroup_size: wg,
            params: Default::default(),
        }
    }
}

const WGPU: Spec = Spec {
    kind: BackendKind::Wgpu,
    seed: 7,
    launches: &[64, 256],
    // 2^20 (16 elements per thread at wg 64) for f32 and f16 data in f32, and f64 sums; the
    // rest up to 65537 (2 per thread), to stay near a minute on lavapipe with 2 cores.
    large_ordered: |op, p, acc| {
        (acc == Precision::F32 && p != Precision::Bf16) || (p == Precision::F64 && op == Op::Sum)
    },
    bound_sizes: |p, acc| {
        if p == Precision::F32 && acc == Precision::F32 {
            &[1, 1000, 1 << 20]
        } else {
            &[1, 1000, 65537]
        }
    },
    // WGSL atomics are always relaxed at device scope.
    orderings: &[Ordering::Relaxed],
    timers: &["timestamp_query", "host"],
    // No native atomic outside f32, no binning for half accumulators.
    documented_gap: |_, variant, acc| {
        (variant == "atomic" && acc != Precision::F32)
            || (variant == "reproducible" && matches!(acc, Precision::F16 | Precision::Bf16))
    },
    block_atomic_message: Some("per workgroup"),
};

const CUDA: Spec = Spec {
    kind: BackendKind::Cuda,
    seed: 11,
    launches: &[32, 256, 1024],
    large_ordered: |_, _, acc| acc == Precision::F32 || acc == Precision::F64,
    bound_sizes: |_, _| &[1, 1000, 65537],
    orderings: &Ordering::CUDA,
    timers: &["cuda_events"],
    // No binning for half accumulators; native bf16 atomics from sm_90, scoped atomics
    // from sm_70.
    documented_gap: |g, variant, acc| {
        let major = cuda_major(g);
        (variant == "reproducible" && matches!(acc, Precision::F16 | Precision::Bf16))
            || (matches!(variant, "atomic" | "block_atomic") && acc == Precision::Bf16 && major < 9)
            || major < 7
    },
    block_atomic_message: None,
};

/// The major compute capability of a CUDA device, from its "M.m" detail.
fn cuda_major(g: &dyn Backend) -> i32 {
    let cc = g
        .info()
        .details
        .get("compute_capability")
        .and_then(|v| v.as_str());
    cc.and_then(|s| s.split('.').next()?.parse().ok())
        .unwrap_or_else(|| panic!("a CUDA device reports its compute capability: {cc:?}"))
}

/// Accumulators for "same", f32 and f64, without repeats; `prepare` refuses one narrower
/// than the input (f64 data in an f32 sum).
fn accumulators(p: Precision) -> Vec<Precision> {
    let mut v = vec![p, Precision::F32, Precision::F64];
    v.retain(|a| a.mantissa_bits() >= p.mantissa_bits());
    v.sort();
    v.dedup();
    v
}

const INPUTS: [Precision; 4] = [
    Precision::F32,
    Precision::F16,
    Precision::Bf16,
    Precision::F64,
];

fn bits(p: Precision, set: &RunSet) -> Vec<u64> {
    set.outputs.iter().map(|o| p.bits(o[0])).collect()
}

fn label(c: &Case) -> String {
    format!(
        "{} {} acc {} {} n={} wg={}",
        c.op, c.precision, c.accumulator, c.variant, c.size, c.workgroup_size
    )
}

/// Runs one case on the device and once on the CPU. None when both say Unsupported for the
/// same job-level reason (e.g. reproducible in f16); a one-sided refusal fails.
fn run_both(g: &dyn Backend, cpu: &CpuBackend, c: &Case) -> Option<(Prepared, RunSet, RunSet)> {
    let prep = prepare(c).unwrap_or_else(|e| panic!("{}: prepare: {e}", label(c)));
    let mut cpu_job = prep.job.clone();
    let Job::Reduce(j) = &mut cpu_job else {
        unreachable!("a reduction case prepares a reduction job")
    };
    j.runs = 1;
    match (cpu.run(&cpu_job), g.run(&prep.job)) {
        (Ok(a), Ok(b)) => Some((prep, a, b)),
        (Err(OpError::Unsupported(a)), Err(OpError::Unsupported(b))) => {
            assert_eq!(
                a,
                b,
                "{}: both unsupported, for different reasons",
                label(c)
            );
            None
        }
        (a, b) => panic!(
            "{}: cpu {:?} vs {} {:?}",
            label(c),
            a.err(),
            g.kind(),
            b.err()
        ),
    }
}

/// tree, kahan, fixed_point and reproducible at every launch size: identical bits over 5
/// runs, equal to the CPU emulation, within the bound; reproducible also equal across sizes.
fn ordered_variants_are_bitwise_stable_and_equal_the_cpu(spec: &Spec) {
    let g = common::backend(spec.kind);
    let g = g.as_ref();
    let kind = spec.kind;
    let cpu = CpuBackend::new();
    let mut checked = 0;
    for op in [Op::Sum, Op::Dot] {
        for p in INPUTS {
            for acc in accumulators(p) {
                let mut sizes = vec![1, 2, 255, 256, 1000, 65537];
                if (spec.large_ordered)(op, p, acc) {
                    sizes.push(1 << 20);
                }
                for &n in &sizes {
                    for variant in ["tree", "kahan", "fixed_point", "reproducible"] {
                        let mut repro_bits = Vec::new();
                        for &wg in spec.launches {
                            let c = spec.case(op, (p, acc), variant, n, wg, 5);
                            let Some((prep, c_set, g_set)) = run_both(g, &cpu, &c) else {
                                continue;
                            };
                            let gb = bits(acc, &g_set);
                            let cb = bits(acc, &c_set);
                            assert!(
                                gb.iter().all(|&b| b == gb[0]),
                                "{}: runs differ: {gb:x?}",
                                label(&c)
                            );
                            assert_eq!(
                                gb[0],
                                cb[0],
                                "{}: {kind} {} != cpu {} (exact {})",
                                label(&c),
                                g_set.outputs[0][0],
                                c_set.outputs[0][0],
                                prep.exact[0]
                            );
                            assert!(
                                spec.timers.contains(&g_set.timer.as_str()),
                                "{}: timer {:?} is not one of {:?}",
                                label(&c),
                                g_set.timer,
                                spec.timers
                            );
                            let m = metrics(&prep, &g_set);
                            assert_eq!(m.bound_violations, 0, "{}: outside the bound", label(&c));
                            if variant == "fixed_point" {
                                // The scale and the bits lost, as the CPU counts them (a device
                                // may add what it ran, e.g. its grid, after them).
                                assert!(
                                    g_set.message.starts_with(&c_set.message),
                                    "{}: {:?} does not start with the CPU's {:?}",
                                    label(&c),
                                    g_set.message,
                                    c_set.message
                                );
                            }
                            if variant == "reproducible" {
                                repro_bits.push(gb[0]);
                            }
                            checked += 1;
                        }
                        assert!(
                            repro_bits.windows(2).all(|w| w[0] == w[1]),
                            "{kind} {op} {p} acc {acc} n={n}: reproducible depends on the launch size {:?}: {repro_bits:x?}",
                            spec.launches
                        );
                    }
                }
            }
        }
    }
    assert!(checked > 300, "{kind}: only {checked} cases ran");
}

/// Every variant, each atomic one under every ordering the backend runs, is within its
/// bound of the exact oracle; only the documented gaps may be unsupported.
fn every_variant_is_within_its_bound_under_every_ordering(spec: &Spec) {
    let g = common::backend(spec.kind);
    let g = g.as_ref();
    for op in [Op::Sum, Op::Dot] {
        for p in INPUTS {
            for acc in accumulators(p) {
                for &n in (spec.bound_sizes)(p, acc) {
                    for &variant in detbench::ops::reduce::VARIANTS {
                        let c = spec.case(op, (p, acc), variant, n, 256, 3);
                        let prep = prepare(&c).expect("prepare");
                        let orderings: &[Ordering] = if prep.job.is_atomic() {
                            spec.orderings
                        } else {
                            &[Ordering::None]
                        };
                        for &o in orderings {
                            let job = prep.job.with_ordering(o);
                            let set = match g.run(&job) {
                                Ok(s) => s,
                                Err(OpError::Unsupported(why)) => {
                                    assert!(
                                        (spec.documented_gap)(g, variant, acc),
                                        "{} {o}: unexpectedly unsupported: {why}",
                                        label(&c)
                                    );
                                    continue;
                                }
                                Err(e) => panic!("{} {o}: {e}", label(&c)),
                            };
                            assert_eq!(set.outputs.len(), 3, "{}", label(&c));
                            assert_eq!(set.times_ms.len(), 3, "{}", label(&c));
                            let m = metrics(&prep, &set);
                            assert_eq!(m.non_finite, 0, "{} {o}", label(&c));
                            assert_eq!(
                                m.bound_violations,
                                0,
                                "{} {o}: |{} - {}| > {:?}",
                                label(&c),
                                set.outputs[0][0],
                                prep.exact[0],
                                prep.bounds[0]
                            );
                            if let (Some(text), "block_atomic") =
                                (spec.block_atomic_message, variant)
                            {
                                assert!(
                                    set.message.contains(text),
                                    "{} {o}: {}",
                                    label(&c),
                                    set.message
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One module per backend, each running every shared body with that backend's [`Spec`].
macro_rules! gpu_tests {
    ($($(#[$attr:meta])* $name:ident => $spec:expr;)*) => {$(
        mod $name {
            use super::*;

            #[test]
            $(#[$attr])*
            fn ordered_variants_are_bitwise_stable_and_equal_the_cpu() {
                super::ordered_variants_are_bitwise_stable_and_equal_the_cpu(&$spec);
            }

            #[test]
            $(#[$attr])*
            fn every_variant_is_within_its_bound_under_every_ordering() {
                super::every_variant_is_within_its_bound_under_every_ordering(&$spec);
            }
        }
    )*};
}

gpu_tests! {
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    wgpu => WGPU;
    #[cfg_attr(not(detbench_libcuda), ignore = "needs a CUDA device (none found at build time; DETBENCH_REQUIRE_CUDA=1 runs it)")]
    cuda => CUDA;
}

// ---------------------------------------------------------------------------------------
// Backend-specific tests: properties of one backend's device or compiler, with no
// counterpart on the other.
// ---------------------------------------------------------------------------------------

/// wgpu only: the device description and limits, and WGSL specialisation.
mod wgpu_only {
    use super::*;
    use detbench::backend::wgpu::{discover, WgpuBackend};
    use std::sync::OnceLock;

    /// The shared wgpu device's adapter, opened as a `WgpuBackend` for the methods the
    /// `Backend` trait does not have. `common::backend` decides whether there is one (and
    /// fails in CI when there is not).
    fn gpu() -> Option<&'static WgpuBackend> {
        static GPU: OnceLock<Option<WgpuBackend>> = OnceLock::new();
        GPU.get_or_init(|| {
            let shared = common::backend(BackendKind::Wgpu);
            let (mut found, _) = discover();
            let pick = found
                .iter()
                .position(|b| b.info().name == shared.info().name)
                .expect("the shared wgpu adapter is found again");
            Some(found.swap_remove(pick))
        })
        .as_ref()
    }

    #[cfg_attr(
        not(detbench_wgpu),
        ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
    )]
    #[test]
    fn device_is_described_and_limits_are_enforced() {
        let Some(g) = gpu() else { return };
        let info = g.info();
        assert!(info.available);
        assert!(!info.name.is_empty() && !info.driver.is_empty());
        assert!(info.details.contains_key("api"));
        assert!(info.limits.contains_key("max_storage_buffer_binding_size"));
        assert!(["timestamp_query", "host"].contains(&g.timer()));
        let max = g.max_storage_bytes();
        match g.check_storage(12345, max + 1) {
            Err(OpError::BadInput(m)) => {
                assert!(
                    m.starts_with("size 12345 exceeds this device's max storage buffer"),
                    "{m}"
                )
            }
            other => panic!("expected BadInput, got {other:?}"),
        }
        // A compile error is an error value, not a panic.
        match g.pipeline("fn broken( {", "main") {
            Err(OpError::Failed(m)) => assert!(m.contains("WGSL"), "{m}"),
            other => panic!("expected Failed, got {:?}", other.err()),
        }
    }

    #[cfg_attr(
        not(detbench_wgpu),
        ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
    )]
    #[test]
    fn specialisation_leaves_no_f64_in_an_f32_module() {
        // The preprocessor's own rules are tests/it/wgsl_preprocessor.rs's.
        // f64 text never reaches a device that lacks SHADER_F64.
        if let Some(g) = gpu() {
            let c = WGPU.case(Op::Sum, (Precision::F32, Precision::F32), "tree", 10, 64, 1);
            let prep = prepare(&c).unwrap();
            let Job::Reduce(j) = &prep.job else {
                unreachable!("a reduction case prepares a reduction job")
            };
            let src = detbench::ops::reduce::wgpu::module_source(
                g,
                j,
                detbench::ops::wgsl::Profile::of(g),
            )
            .unwrap();
            let code_mentions_f64 = src
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .any(|l| l.contains("f64"));
            assert!(!code_mentions_f64, "the f32 tree module has f64 code");
            assert!(
                !src.lines().any(|l| l.trim_start().starts_with("//#")),
                "directives left in the module"
            );
        }
    }
}

/// CUDA only: discovery without a driver, the bounded compare-exchange loop, and the
/// recorded NVRTC options.
mod cuda_only {
    use super::*;
    use detbench::backend::cuda::discover;

    #[test]
    fn discovery_without_a_driver() {
        // Runs everywhere: with a driver it must find at least one device, without one it
        // must say why in exactly one entry, and never panic.
        let (found, unavailable) = discover();
        let has_driver = std::path::Path::new("/proc/driver/nvidia/version").exists();
        if found.is_empty() {
            assert_eq!(unavailable.len(), 1, "{unavailable:?}");
            let info = &unavailable[0];
            assert_eq!(info.backend, "cuda");
            assert!(!info.available);
            assert!(!info.reason.is_empty());
            if !has_driver {
                assert!(
                    info.reason.contains("libcuda") || info.reason.contains("device"),
                    "{}",
                    info.reason
                );
            }
        } else {
            for b in &found {
                assert!(b.info().available);
                assert!(b.info().details.contains_key("compute_capability"));
                assert!(b.info().details.contains_key("sm_count"));
                assert!(b.info().details.contains_key("nvrtc_version"));
            }
        }
        // The registry-level discovery keeps the entry, so `detbench devices` shows it.
        let all = detbench::backend::discover(&[BackendKind::Cuda]);
        assert_eq!(all.backends.len(), found.len());
        assert!(all.infos.iter().all(|i| i.backend == "cuda"));
    }

    #[test]
    #[cfg_attr(
        not(detbench_libcuda),
        ignore = "needs a CUDA device (none found at build time; DETBENCH_REQUIRE_CUDA=1 runs it)"
    )]
    fn contended_compare_exchange_is_bounded() {
        let g = common::backend(BackendKind::Cuda);
        let c = CUDA.case(
            Op::Sum,
            (Precision::F32, Precision::F32),
            "atomic_cas",
            (1 << 22) + 1,
            256,
            1,
        );
        let prep = prepare(&c).expect("prepare");
        match g.run(&prep.job.with_ordering(Ordering::RelaxedGpu)) {
            Err(OpError::Unsupported(why)) => assert!(why.contains("atomic_cas"), "{why}"),
            other => panic!("expected a refusal, got {:?}", other.map(|s| s.outputs)),
        }
    }

    #[test]
    #[cfg_attr(
        not(detbench_libcuda),
        ignore = "needs a CUDA device (none found at build time; DETBENCH_REQUIRE_CUDA=1 runs it)"
    )]
    fn compile_options_are_recorded() {
        let g = common::backend(BackendKind::Cuda);
        let o = g.compile_options();
        let opts = o["options"].as_array().expect("options");
        assert!(opts.iter().any(|v| v
            .as_str()
            .is_some_and(|s| s.starts_with("--gpu-architecture=sm_"))));
        assert!(opts.iter().any(|v| v == "-std=c++17"));
        assert!(opts
            .iter()
            .any(|v| v.as_str().is_some_and(|s| s.starts_with("--fmad="))));
    }
}
