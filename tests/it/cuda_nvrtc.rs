//! Every CUDA module the program can build, compiled by the real NVRTC without a GPU.
//!
//! For sm_80, sm_90 and the newest architecture the loaded NVRTC supports, every module
//! configuration of `detbench::ops::cuda_modules` (each family's input/accumulator pairs, `--fmad` choices
//! and capability flags) is compiled with exactly the backend's source and options. A test
//! fails on any NVRTC error, on any warning in NVRTC's log, and unless the PTX defines exactly
//! the entry points the host code looks up. Each architecture is compiled once per test
//! binary and shared.
//!
//! These tests need libnvrtc: build.rs marks them `ignored` where none is found. CI installs
//! NVIDIA's `nvidia-cuda-nvrtc` wheel, points `DETBENCH_NVRTC_LIB` at it and sets
//! `DETBENCH_REQUIRE_NVRTC=1`, so there they always run.

use detbench::backend::cuda::nvrtc::{self, Compiled};
use detbench::backend::cuda::{module_source, CudaTarget, ModuleBuild};

fn all_modules(target: &CudaTarget) -> Vec<ModuleBuild> {
    detbench::ops::cuda_modules(target, &[])
}
use std::collections::BTreeSet;
use std::sync::OnceLock;

type Built = Vec<(ModuleBuild, Compiled)>;

fn nvrtc_or_fail() -> &'static nvrtc::Nvrtc {
    nvrtc::available().unwrap_or_else(|why| panic!("NVRTC is required here: {why}"))
}

/// Compiles every module for `target`, or fails with the first error.
fn build(target: CudaTarget) -> Built {
    nvrtc_or_fail();
    let started = std::time::Instant::now();
    let built: Built = all_modules(&target)
        .into_iter()
        .map(|m| {
            let src = module_source(&m.spec).expect("embedded source");
            let opts = target.options(&m.spec);
            let c = nvrtc::compile(m.spec.path, &src, &opts)
                .unwrap_or_else(|e| panic!("{}: {e}", target.arch()));
            (m, c)
        })
        .collect();
    eprintln!(
        "NVRTC {}: {} modules for {} in {:.1} s",
        nvrtc_or_fail().version_string(),
        built.len(),
        target.arch(),
        started.elapsed().as_secs_f64()
    );
    built
}

fn sm80() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| build(CudaTarget::new(8, 0)))
}

fn sm90() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| build(CudaTarget::new(9, 0)))
}

fn newest() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let n = nvrtc_or_fail()
            .newest_arch()
            .expect("NVRTC lists architectures");
        build(CudaTarget::from_number(n))
    })
}

/// No warnings, a CUBIN, and exactly the entry points the host code looks up.
fn check_clean(built: &Built) {
    assert!(!built.is_empty());
    let mut problems = Vec::new();
    for (m, c) in built {
        let what = format!("{} {:?} fmad={}", m.spec.path, m.spec.defines, m.spec.fmad);
        if !c.log.is_empty() {
            problems.push(format!("{what}: NVRTC log is not empty:\n{}", c.log));
        }
        if c.cubin.is_empty() {
            problems.push(format!("{what}: no CUBIN"));
        }
        let defined: BTreeSet<String> = nvrtc::ptx_entries(&c.ptx).into_iter().collect();
        let wanted: BTreeSet<String> = m.entries.iter().cloned().collect();
        let missing: Vec<_> = wanted.difference(&defined).collect();
        let unused: Vec<_> = defined.difference(&wanted).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{what}: entry points missing from the PTX: {missing:?}"
            ));
        }
        if !unused.is_empty() {
            problems.push(format!(
                "{what}: kernels the host code never looks up: {unused:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
#[cfg_attr(
    not(detbench_nvrtc),
    ignore = "needs libnvrtc (set DETBENCH_NVRTC_LIB or DETBENCH_REQUIRE_NVRTC=1)"
)]
fn every_module_compiles_clean_for_sm_80() {
    check_clean(sm80());
}

#[test]
#[cfg_attr(
    not(detbench_nvrtc),
    ignore = "needs libnvrtc (set DETBENCH_NVRTC_LIB or DETBENCH_REQUIRE_NVRTC=1)"
)]
fn every_module_compiles_clean_for_sm_90() {
    check_clean(sm90());
}

#[test]
#[cfg_attr(
    not(detbench_nvrtc),
    ignore = "needs libnvrtc (set DETBENCH_NVRTC_LIB or DETBENCH_REQUIRE_NVRTC=1)"
)]
fn every_module_compiles_clean_for_the_newest_arch() {
    check_clean(newest());
}

/// The module of `path` whose defines include every pair in `with`.
fn find<'a>(
    built: &'a Built,
    path: &str,
    fmad: Option<bool>,
    with: &[(&str, &str)],
) -> &'a Compiled {
    built
        .iter()
        .find(|(m, _)| {
            m.spec.path == path
                && fmad.is_none_or(|f| m.spec.fmad == f)
                && with
                    .iter()
                    .all(|(k, v)| m.spec.defines.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("no module {path} with {with:?}"))
}

/// The body of one `.entry` in PTX: from its name to the next `.entry`.
fn entry_body<'a>(ptx: &'a str, name: &str) -> &'a str {
    let start = ptx
        .find(&format!(".entry {name}("))
        .unwrap_or_else(|| panic!("no entry {name}"));
    let rest = &ptx[start + 1..];
    let end = rest.find(".entry ").map_or(rest.len(), |e| e);
    &rest[..end]
}

/// The optimizers' `--fmad=false` module has no fused multiply-add at all, and the
/// `--fmad=true` one has some: the option really decides contraction.
#[test]
#[cfg_attr(
    not(detbench_nvrtc),
    ignore = "needs libnvrtc (set DETBENCH_NVRTC_LIB or DETBENCH_REQUIRE_NVRTC=1)"
)]
fn no_fma_module_has_no_fma() {
    let built = sm90();
    let no = find(built, "kernels/cuda/optim.cu", Some(false), &[]);
    let yes = find(built, "kernels/cuda/optim.cu", Some(true), &[]);
    let s = detbench::inspect::ptx_counts(&no.ptx);
    assert_eq!(s.fma_total(), 0, "fma in the no_fma module: {s:?}");
    let body = entry_body(&no.ptx, "adam_f32");
    assert!(
        !body.contains("fma.rn"),
        "adam_f32 (no_fma) contains fma.rn"
    );
    let body = entry_body(&yes.ptx, "adam_f32");
    assert!(body.contains("fma.rn"), "adam_f32 (fma) was not contracted");
}

/// Each atomic variant emits the PTX ordering its name promises: relaxed_gpu a
/// `.relaxed.gpu` atom, acq_rel_cta an `.acq_rel.cta` one, seq_cst_gpu a `fence.sc.gpu`
/// and an `.acq_rel.gpu` atom; and no float atomic in the module lacks an explicit order.
#[test]
#[cfg_attr(
    not(detbench_nvrtc),
    ignore = "needs libnvrtc (set DETBENCH_NVRTC_LIB or DETBENCH_REQUIRE_NVRTC=1)"
)]
fn atomic_variants_emit_their_ordering() {
    let built = sm90();
    let m = find(
        built,
        "kernels/cuda/reduce.cu",
        None,
        &[("DB_SUFFIX", "f32_f32")],
    );
    let counts = detbench::inspect::ptx_counts(&m.ptx);
    let kernel = |name: &str| {
        counts
            .kernels
            .get(name)
            .unwrap_or_else(|| panic!("no kernel {name}"))
    };
    let only = |name: &str, prefix: &str, fence: Option<&str>| {
        let k = kernel(name);
        let adds: Vec<&String> = k
            .atomics
            .keys()
            .filter(|o| o.ends_with(".add.f32"))
            .collect();
        assert!(!adds.is_empty(), "{name}: no f32 atomic add: {k:?}");
        assert!(
            adds.iter().all(|o| o.starts_with(prefix)),
            "{name}: expected {prefix}*, got {adds:?}"
        );
        let fences: Vec<&String> = k.fences.keys().collect();
        match fence {
            Some(f) => assert_eq!(fences, vec![f], "{name}"),
            None => assert!(fences.is_empty(), "{name}: unexpected fences {fences:?}"),
        }
    };
    only("sum_atomic_relaxed_gpu_f32_f32", "atom.relaxed.gpu.", None);
    only("sum_atomic_relaxed_cta_f32_f32", "atom.relaxed.cta.", None);
    only("sum_atomic_acq_rel_cta_f32_f32", "atom.acq_rel.cta.", None);
    only(
        "sum_block_atomic_acq_rel_gpu_f32_f32",
        "atom.acq_rel.gpu.",
        None,
    );
    only(
        "sum_atomic_seq_cst_gpu_f32_f32",
        "atom.acq_rel.gpu.",
        Some("fence.sc.gpu"),
    );
    only(
        "dot_atomic_seq_cst_cta_f32_f32",
        "atom.acq_rel.cta.",
        Some("fence.sc.cta"),
    );
    for (name, k) in &counts.kernels {
        for op in k.atomics.keys() {
            let parts: Vec<&str> = op.split('.').collect();
            let float = parts
                .iter()
                .any(|p| p.starts_with('f') && p[1..].parse::<u32>().is_ok());
            let ordered = parts
                .iter()
                .any(|p| ["relaxed", "acquire", "release", "acq_rel"].contains(p));
            assert!(
                !float || ordered,
                "{name}: float atomic {op} without an explicit order"
            );
        }
    }
}

/// NVRTC's own list decides what it can target: sm_80 and sm_90 are in it, and a device it
/// cannot target is refused with a reason rather than failing every compile.
#[test]
#[cfg_attr(
    not(detbench_nvrtc),
    ignore = "needs libnvrtc (set DETBENCH_NVRTC_LIB or DETBENCH_REQUIRE_NVRTC=1)"
)]
fn supported_architectures_come_from_nvrtc() {
    let n = nvrtc_or_fail();
    assert!(n.supports((8, 0)) && n.supports((9, 0)), "{:?}", n.archs);
    let oldest = *n.archs.first().expect("archs");
    let below = CudaTarget::from_number(oldest - 5);
    assert!(!n.supports(below.cc()));
    let m = &all_modules(&below)[0];
    let err = nvrtc::compile(
        m.spec.path,
        &module_source(&m.spec).unwrap(),
        &below.options(&m.spec),
    )
    .expect_err("NVRTC compiled for an architecture it does not list");
    assert!(
        err.contains("INVALID_OPTION") || err.contains("gpu-architecture"),
        "{err}"
    );
}

/// Without a driver but with NVRTC, the backend says both.
#[test]
#[cfg_attr(
    not(detbench_nvrtc),
    ignore = "needs libnvrtc (set DETBENCH_NVRTC_LIB or DETBENCH_REQUIRE_NVRTC=1)"
)]
fn no_driver_reports_nvrtc_version() {
    let n = nvrtc_or_fail();
    if std::path::Path::new("/proc/driver/nvidia/version").exists() {
        return;
    }
    let (found, infos) = detbench::backend::cuda::discover();
    if found.is_empty() && infos.len() == 1 && infos[0].reason.contains("libcuda") {
        let r = &infos[0].reason;
        assert!(r.starts_with("driver unavailable"), "{r}");
        assert!(
            r.contains(&format!("NVRTC {} available", n.version_string())),
            "{r}"
        );
    }
}

/// `detbench kernels` end to end, as a user runs it: the no-FMA Adam kernel's PTX has no
/// `fma.rn` and its summary counts none, the FMA one has some; the f32 reduce module's
/// seq_cst_gpu atomic is a `fence.sc.gpu` then an `.acq_rel.gpu` atom; ptxas's registers are
/// recorded; an architecture NVRTC cannot target exits 2 with one line.
#[test]
#[cfg_attr(
    not(detbench_nvrtc),
    ignore = "needs libnvrtc (set DETBENCH_NVRTC_LIB or DETBENCH_REQUIRE_NVRTC=1)"
)]
fn kernels_command_shows_fma_and_orderings() {
    let n = nvrtc_or_fail();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("k");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_detbench"))
            .args(args)
            .output()
            .expect("run detbench")
    };
    let o = run(&[
        "kernels",
        "--arch",
        "sm_90",
        "--op",
        "adam,sum",
        "--precision",
        "f32",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("kernels.json")).expect("kernels.json"))
            .expect("json");
    assert_eq!(summary["schema"], "detbench.kernels.v1");
    assert_eq!(summary["arch"], "sm_90");
    assert_eq!(summary["compiler"], format!("NVRTC {}", n.version_string()));
    let modules = summary["modules"].as_array().expect("modules");
    // adam: the two optim modules; sum with f32 inputs: the f32 and f64 accumulators.
    assert_eq!(modules.len(), 4, "{modules:?}");
    let module = |name: &str| {
        modules
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no module {name}"))
    };
    let no_fma = module("optim_fmad_false");
    let ptx = std::fs::read_to_string(out.join(no_fma["ptx_file"].as_str().unwrap())).unwrap();
    assert!(
        !ptx.contains("fma.rn"),
        "the no-FMA optimizer module contains fma.rn"
    );
    assert!(no_fma["kernels"]["adam_f32"]["fma"]
        .as_object()
        .unwrap()
        .is_empty());
    let fma = module("optim_fmad_true");
    assert!(
        fma["kernels"]["adam_f32"]["fma"]["fma.rn.f32"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    let reduce = module("reduce_f32_f32_fmad_false");
    let sc = &reduce["kernels"]["sum_atomic_seq_cst_gpu_f32_f32"];
    assert_eq!(sc["fences"]["fence.sc.gpu"], 1, "{sc}");
    let atoms: Vec<&String> = sc["atomics"].as_object().unwrap().keys().collect();
    assert!(
        atoms.iter().all(|a| a.starts_with("atom.acq_rel.gpu.")),
        "{atoms:?}"
    );
    assert!(sc["registers"].as_u64().is_some_and(|r| r > 0), "{sc}");
    assert!(reduce["warnings"].as_array().unwrap().is_empty());
    assert_eq!(reduce["source_sha256"].as_str().unwrap().len(), 64);
    for f in ["source_file", "cubin_file"] {
        let p = out.join(reduce[f].as_str().unwrap());
        assert!(
            std::fs::metadata(&p).is_ok_and(|m| m.len() > 0),
            "{}",
            p.display()
        );
    }
    let o = run(&["kernels", "--arch", "sm_70", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot compile for sm_70"), "{err}");
}
