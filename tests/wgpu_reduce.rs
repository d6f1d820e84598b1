//! The reduction family on wgpu (lavapipe in CI): ordered variants are bit-identical run to
//! run and to the CPU emulation of the same launch shape, `reproducible` does not depend on
//! the workgroup size, and every variant stays within its a-priori bound of the exact sum.

use detbench::backend::cpu::CpuBackend;
use detbench::backend::wgpu::{discover, specialise_wgsl, WgpuBackend};
use detbench::backend::Backend;
use detbench::error::OpError;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{Case, Op, Prepared, RunSet};
use detbench::runner::{metrics, prepare};
use std::sync::OnceLock;

/// The lavapipe adapter (or the first usable one), opened once per test binary. `None` after
/// printing why when there is none; with `CI` set that is a failure, never a skip.
fn gpu() -> Option<&'static WgpuBackend> {
    static GPU: OnceLock<Option<WgpuBackend>> = OnceLock::new();
    GPU.get_or_init(|| {
        let (found, unavailable) = discover();
        let reasons: Vec<String> = unavailable
            .iter()
            .map(|i| format!("{}: {}", i.name, i.reason))
            .collect();
        let mut found: Vec<WgpuBackend> = found;
        let pick = found
            .iter()
            .position(|b| b.info().name.contains("llvmpipe"))
            .unwrap_or(0);
        if found.is_empty() {
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the wgpu tests on lavapipe, but no wgpu adapter is usable: {reasons:?}");
            }
            eprintln!(
                "skipping wgpu tests: no usable adapter ({})",
                reasons.join("; ")
            );
            return None;
        }
        Some(found.swap_remove(pick))
    })
    .as_ref()
}

fn case(
    op: Op,
    precision: Precision,
    accumulator: Precision,
    variant: &str,
    size: usize,
    wg: u32,
    runs: usize,
) -> Case {
    Case {
        op,
        precision,
        accumulator,
        variant: variant.into(),
        size,
        bins: None,
        input: InputSpec::Normal,
        index_file: None,
        seed: 7 + size as u64,
        runs,
        workgroup_size: wg,
        shape: None,
        steps: None,
    }
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

fn bits(p: Precision, set: &RunSet) -> Vec<u64> {
    set.outputs.iter().map(|o| p.bits(o[0])).collect()
}

fn label(c: &Case) -> String {
    format!(
        "{} {} acc {} {} n={} wg={}",
        c.op, c.precision, c.accumulator, c.variant, c.size, c.workgroup_size
    )
}

/// Runs one case on both backends. Returns the GPU run set, or None when both say
/// Unsupported for the same job-level reason (e.g. reproducible in f16).
fn run_both(g: &WgpuBackend, cpu: &CpuBackend, c: &Case) -> Option<(Prepared, RunSet, RunSet)> {
    let prep = prepare(c).unwrap_or_else(|e| panic!("{}: prepare: {e}", label(c)));
    let mut cpu_job = prep.job.clone();
    let detbench::ops::Job::Reduce(j) = &mut cpu_job else {
        unreachable!("a reduction case prepares a reduction job")
    };
    j.runs = 1;
    let on_cpu = cpu.run(&cpu_job);
    let on_gpu = g.run(&prep.job);
    match (on_cpu, on_gpu) {
        (Ok(c_set), Ok(g_set)) => Some((prep, c_set, g_set)),
        (Err(OpError::Unsupported(a)), Err(OpError::Unsupported(b))) => {
            assert_eq!(
                a,
                b,
                "{}: both unsupported, for different reasons",
                label(c)
            );
            None
        }
        (a, b) => panic!("{}: cpu {:?} vs wgpu {:?}", label(c), a.err(), b.err()),
    }
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
                // 2^20 (16 elements per thread at wg 64) for f32 and f16 data in f32, and
                // f64 sums; the rest up to 65537 (2 per thread), to stay near a minute on
                // lavapipe with 2 cores.
                let mut sizes = vec![1, 2, 255, 256, 1000, 65537];
                if (acc == Precision::F32 && p != Precision::Bf16)
                    || (p == Precision::F64 && op == Op::Sum)
                {
                    sizes.push(1 << 20);
                }
                for &n in &sizes {
                    for variant in ["tree", "kahan", "fixed_point", "reproducible"] {
                        let mut repro_bits = Vec::new();
                        for wg in [64, 256] {
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
                                "{}: wgpu {} != cpu {} (exact {})",
                                label(&c),
                                g_set.outputs[0][0],
                                c_set.outputs[0][0],
                                prep.exact[0]
                            );
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
                            "{op} {p} acc {acc} n={n}: reproducible depends on the workgroup size: {repro_bits:x?}"
                        );
                    }
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} cases ran");
}

#[test]
fn every_variant_is_within_its_bound() {
    let Some(g) = gpu() else { return };
    let all = detbench::ops::reduce::VARIANTS;
    for op in [Op::Sum, Op::Dot] {
        for p in [
            Precision::F32,
            Precision::F16,
            Precision::Bf16,
            Precision::F64,
        ] {
            for acc in accumulators(p) {
                let sizes: &[usize] = if p == Precision::F32 && acc == Precision::F32 {
                    &[1, 1000, 1 << 20]
                } else {
                    &[1, 1000, 65537]
                };
                for &n in sizes {
                    for &variant in all {
                        let c = case(op, p, acc, variant, n, 256, 3);
                        let prep = prepare(&c).expect("prepare");
                        let set = match g.run(&prep.job) {
                            Ok(s) => s,
                            Err(OpError::Unsupported(why)) => {
                                // Only the documented gaps: no native atomic outside f32,
                                // no binning for half accumulators.
                                assert!(
                                    (variant == "atomic" && acc != Precision::F32)
                                        || (variant == "reproducible"
                                            && matches!(acc, Precision::F16 | Precision::Bf16)),
                                    "{}: unexpectedly unsupported: {why}",
                                    label(&c)
                                );
                                continue;
                            }
                            Err(e) => panic!("{}: {e}", label(&c)),
                        };
                        assert_eq!(set.outputs.len(), 3, "{}", label(&c));
                        assert_eq!(set.times_ms.len(), 3, "{}", label(&c));
                        let m = metrics(&prep, &set);
                        assert_eq!(m.non_finite, 0, "{}", label(&c));
                        assert_eq!(
                            m.bound_violations,
                            0,
                            "{}: |{} - {}| > {:?}",
                            label(&c),
                            set.outputs[0][0],
                            prep.exact[0],
                            prep.bounds[0]
                        );
                        if variant == "block_atomic" {
                            assert!(set.message.contains("per workgroup"), "{}", set.message);
                        }
                    }
                }
            }
        }
    }
}

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

#[test]
fn specialisation_keeps_only_enabled_blocks() {
    let t = "a\n//#if X\nb\n//#if !Y\nc\n//#else\nd\n//#endif\n//#else\ne\n//#endif\nf\n";
    assert_eq!(specialise_wgsl("h", t, &["X"]), "h\na\nb\nc\nf\n");
    assert_eq!(specialise_wgsl("h", t, &["X", "Y"]), "h\na\nb\nd\nf\n");
    assert_eq!(specialise_wgsl("h", t, &[]), "h\na\ne\nf\n");
    // f64 text never reaches a device that lacks SHADER_F64.
    if let Some(g) = gpu() {
        let c = case(Op::Sum, Precision::F32, Precision::F32, "tree", 10, 64, 1);
        let prep = prepare(&c).unwrap();
        let detbench::ops::Job::Reduce(j) = &prep.job else {
            unreachable!("a reduction case prepares a reduction job")
        };
        let src = detbench::ops::reduce::wgpu::module_source(g, j);
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
