//! The reduction family on CUDA: ordered variants are bit-identical run to run and to the
//! CPU emulation of the same launch shape, `reproducible` does not depend on the block size,
//! and every variant (each atomic one under every ordering) stays within its a-priori bound.
//!
//! Without an NVIDIA driver the GPU tests print why and return; `discovery_without_a_driver`
//! checks that case itself, so it runs everywhere.

use detbench::backend::cpu::CpuBackend;
use detbench::backend::cuda::{discover, CudaBackend};
use detbench::backend::Backend;
use detbench::error::OpError;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{Case, Job, Op, Ordering, Prepared, RunSet};
use detbench::runner::{metrics, prepare};
use std::sync::OnceLock;

/// The first CUDA GPU, opened once per test binary; `None` after printing why.
fn gpu() -> Option<&'static CudaBackend> {
    static GPU: OnceLock<Option<CudaBackend>> = OnceLock::new();
    GPU.get_or_init(|| {
        let (mut found, unavailable) = discover();
        if found.is_empty() {
            let reasons: Vec<String> = unavailable
                .iter()
                .map(|i| format!("{}: {}", i.name, i.reason))
                .collect();
            eprintln!("skipping CUDA tests: {}", reasons.join("; "));
            return None;
        }
        Some(found.swap_remove(0))
    })
    .as_ref()
}

fn case(
    op: Op,
    p: Precision,
    acc: Precision,
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
        bins: None,
        input: InputSpec::Normal,
        index_file: None,
        seed: 11 + n as u64,
        runs,
        workgroup_size: wg,
        shape: None,
        steps: None,
    }
}

fn accumulators(p: Precision) -> Vec<Precision> {
    let mut v = vec![p, Precision::F32, Precision::F64];
    v.sort();
    v.dedup();
    v
}

fn bits(p: Precision, set: &RunSet) -> Vec<u64> {
    set.outputs.iter().map(|o| p.bits(o[0])).collect()
}

fn label(c: &Case) -> String {
    format!(
        "{} {} acc {} {} n={} wg={}",
        c.op, c.precision, c.accumulator, c.variant, c.size, c.workgroup_size
    )
}

fn run_both(g: &CudaBackend, cpu: &CpuBackend, c: &Case) -> Option<(Prepared, RunSet, RunSet)> {
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
        (a, b) => panic!("{}: cpu {:?} vs cuda {:?}", label(c), a.err(), b.err()),
    }
}

#[test]
fn discovery_without_a_driver() {
    // Runs everywhere: with a driver it must find at least one device, without one it must
    // say why in exactly one entry, and never panic.
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
    let all = detbench::backend::discover(&[detbench::backend::BackendKind::Cuda]);
    assert_eq!(all.backends.len(), found.len());
    assert!(all.infos.iter().all(|i| i.backend == "cuda"));
}

#[test]
fn ordered_variants_are_bitwise_stable_and_equal_the_cpu() {
    let Some(g) = gpu() else { return };
    let cpu = CpuBackend::new();
    let mut checked = 0;
    for op in [Op::Sum, Op::Dot] {
        for p in [
            Precision::F32,
            Precision::F16,
            Precision::Bf16,
            Precision::F64,
        ] {
            for acc in accumulators(p) {
                let mut sizes = vec![1, 2, 255, 256, 1000, 65537];
                if acc == Precision::F32 || acc == Precision::F64 {
                    sizes.push(1 << 20);
                }
                for &n in &sizes {
                    for variant in ["tree", "kahan", "fixed_point", "reproducible"] {
                        let mut repro_bits = Vec::new();
                        for wg in [32, 256, 1024] {
                            let c = case(op, p, acc, variant, n, wg, 5);
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
                                "{}: cuda {} != cpu {} (exact {})",
                                label(&c),
                                g_set.outputs[0][0],
                                c_set.outputs[0][0],
                                prep.exact[0]
                            );
                            assert_eq!(g_set.timer, "cuda_events");
                            let m = metrics(&prep, &g_set);
                            assert_eq!(m.bound_violations, 0, "{}: outside the bound", label(&c));
                            if variant == "fixed_point" {
                                assert_eq!(g_set.message, c_set.message, "{}", label(&c));
                            }
                            if variant == "reproducible" {
                                repro_bits.push(gb[0]);
                            }
                            checked += 1;
                        }
                        assert!(
                            repro_bits.windows(2).all(|w| w[0] == w[1]),
                            "{op} {p} acc {acc} n={n}: reproducible depends on the block size: {repro_bits:x?}"
                        );
                    }
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} cases ran");
}

#[test]
fn every_variant_is_within_its_bound_under_every_ordering() {
    let Some(g) = gpu() else { return };
    let (major, _) = g.device().compute_capability();
    for op in [Op::Sum, Op::Dot] {
        for p in [
            Precision::F32,
            Precision::F16,
            Precision::Bf16,
            Precision::F64,
        ] {
            for acc in accumulators(p) {
                for &n in &[1usize, 1000, 65537] {
                    for &variant in detbench::ops::reduce::VARIANTS {
                        // Known gap in `prepare`, reproduced by the CPU backend too: for one
                        // element and an accumulator narrower than the input, the atomic
                        // bound gamma(0) * |x| is 0 although the result must be rounded.
                        if n == 1
                            && matches!(variant, "atomic" | "atomic_cas")
                            && acc.mantissa_bits() < p.mantissa_bits()
                        {
                            continue;
                        }
                        let c = case(op, p, acc, variant, n, 256, 3);
                        let prep = prepare(&c).expect("prepare");
                        let orderings: Vec<Ordering> = if prep.job.is_atomic() {
                            Ordering::CUDA.to_vec()
                        } else {
                            vec![Ordering::None]
                        };
                        for o in orderings {
                            let job = prep.job.with_ordering(o);
                            let set = match g.run(&job) {
                                Ok(s) => s,
                                Err(OpError::Unsupported(why)) => {
                                    let documented = (variant == "reproducible"
                                        && matches!(acc, Precision::F16 | Precision::Bf16))
                                        || (matches!(variant, "atomic" | "block_atomic")
                                            && acc == Precision::Bf16
                                            && major < 9)
                                        || major < 7;
                                    assert!(
                                        documented,
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
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn contended_compare_exchange_is_bounded() {
    let Some(g) = gpu() else { return };
    let c = case(
        Op::Sum,
        Precision::F32,
        Precision::F32,
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
fn compile_options_are_recorded() {
    let Some(g) = gpu() else { return };
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
