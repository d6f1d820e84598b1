//! The `copy` baseline: bit-exact and reproducible on the CPU and on wgpu (lavapipe in CI,
//! never skipped there), and `detbench run` records it so `detbench report` shows
//! throughput as a fraction of each device's copy bandwidth.

use crate::common;

use detbench::backend::{Backend, BackendKind};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{Case, Job, Op, Prepared};
use detbench::runner::{fingerprint, metrics, prepare};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

fn case(p: Precision, size: usize, wg: u32, input: InputSpec) -> Case {
    Case {
        op: Op::Copy,
        precision: p,
        accumulator: p,
        variant: "copy".into(),
        size,
        input,
        seed: 11 + size as u64,
        runs: 3,
        workgroup_size: wg,
        params: Default::default(),
    }
}

/// Every run of `prep` on `b` returns the input, bit for bit, and every figure says so.
fn assert_exact_copy(b: &dyn Backend, prep: &Prepared, what: &str) {
    let set = b.run(&prep.job).unwrap_or_else(|e| panic!("{what}: {e}"));
    let p = prep.out_precision;
    assert_eq!(set.outputs.len(), 3, "{what}");
    assert_eq!(set.times_ms.len(), 3, "{what}");
    for out in &set.outputs {
        assert_eq!(out.len(), prep.exact.len(), "{what}");
        for (i, (&o, &x)) in out.iter().zip(prep.exact.iter()).enumerate() {
            assert_eq!(p.bits(o), p.bits(x), "{what}: element {i}: {o:e} != {x:e}");
        }
    }
    let m = metrics(prep, &set);
    assert_eq!(m.distinct_outputs, 1, "{what}");
    assert_eq!(m.max_ulp_run_to_run, 0, "{what}");
    assert_eq!(m.max_ulp_err, 0, "{what}");
    assert_eq!(m.max_abs_err, 0.0, "{what}");
    assert_eq!(m.bound_violations, 0, "{what}");
    assert_eq!(m.fingerprint, fingerprint(p, &prep.exact), "{what}");
}

fn backends() -> Vec<std::sync::Arc<dyn Backend>> {
    [BackendKind::Cpu, BackendKind::Wgpu]
        .into_iter()
        .map(common::backend)
        .collect()
}

#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
fn copy_is_bit_exact_and_reproducible() {
    let bs = backends();
    assert!(!bs.is_empty());
    for b in &bs {
        for p in Precision::ALL {
            // 1 and 3 elements: less than one 16-byte word; 4099: a partial last word;
            // 65536: whole words only.
            for (size, wg) in [(1, 64), (3, 256), (4099, 64), (65536, 256)] {
                let prep = prepare(&case(p, size, wg, InputSpec::Normal)).unwrap();
                assert_eq!(*prep.bounds, vec![Some(0.0)]);
                assert_eq!(prep.bytes_moved, 2.0 * (size * p.bytes()) as f64);
                let what = format!("{} {p} n={size} wg={wg}", b.info().name);
                assert_exact_copy(b.as_ref(), &prep, &what);
            }
        }
    }
}

/// Signed zeros, subnormals, the largest finite values and infinities are bits like any
/// other: a copy must not flush, canonicalise or round them.
#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
fn copy_keeps_special_values() {
    for b in backends() {
        for p in Precision::ALL {
            let mut prep = prepare(&case(p, 1000, 64, InputSpec::Wide)).unwrap();
            let tiny = p.min_normal() * 0.5f64.powi(3);
            let special = [
                -0.0,
                0.0,
                p.round(tiny),
                -p.round(tiny),
                p.max_finite(),
                -p.max_finite(),
            ];
            let Job::Copy(job) = &mut prep.job else {
                unreachable!()
            };
            for (i, v) in special.iter().enumerate() {
                Arc::make_mut(&mut job.x)[i * 97] = *v;
                Arc::make_mut(&mut prep.exact)[i * 97] = *v;
            }
            let what = format!("{} {p} special values", b.info().name);
            assert_exact_copy(b.as_ref(), &prep, &what);
        }
    }
}

/// A grid far smaller than the buffer: the grid-stride loop must still cover every word
/// (the fixed launch of large copies, at a size a test can afford).
#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
fn small_grid_covers_the_whole_buffer() {
    for b in backends() {
        for groups in [1, 3] {
            let mut prep = prepare(&case(Precision::F32, 100_003, 64, InputSpec::Uniform)).unwrap();
            let Job::Copy(job) = &mut prep.job else {
                unreachable!()
            };
            job.launch.workgroups = groups;
            let what = format!("{} with {groups} workgroups", b.info().name);
            assert_exact_copy(b.as_ref(), &prep, &what);
        }
    }
}

fn detbench(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_detbench"))
        .args(args)
        .output()
        .expect("run detbench");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn load(path: &Path) -> detbench::report::Report {
    detbench::report::load_report(path).unwrap()
}

#[test]
fn run_records_the_baseline_and_report_divides_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let (md, html) = (dir.path().join("r.md"), dir.path().join("r.html"));
    let j = json.to_str().unwrap();
    detbench(&[
        "run",
        "--op",
        "sum",
        "--backend",
        "cpu",
        "--variant",
        "tree,kahan",
        "--precision",
        "f16,f32",
        "--size",
        "1000,30011",
        "--runs",
        "3",
        "--quiet",
        "--json",
        j,
    ]);
    let r = load(&json);
    let copies: Vec<_> = r.results.iter().filter(|x| x.op == "copy").collect();
    assert_eq!(copies.len(), 1, "one copy per device");
    let c = copies[0];
    // The largest size of the run, in its widest format.
    assert_eq!((c.size, c.precision.as_str()), (30011, "f32"));
    assert_eq!((c.status.as_str(), c.runs), ("ok", 3));
    assert_eq!(c.bitwise_reproducible, Some(true));
    assert_eq!((c.max_abs_err, c.error_bound), (Some(0.0), Some(0.0)));
    let copy_gbps = c.gbps.expect("copy GB/s");
    assert!(copy_gbps > 0.0);
    assert_eq!(r.results.len(), 2 * 2 * 2 + 1);

    detbench(&[
        "report",
        j,
        "--md",
        md.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let md = std::fs::read_to_string(&md).unwrap();
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(
        md.contains(&format!("Copy bandwidth: {copy_gbps:.2} GB/s.")),
        "{md}"
    );
    assert!(!md.contains("copy baseline is missing"), "{md}");
    // Every sum row of the throughput table has its fraction of the copy's GB/s.
    let sums: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("### Throughput"))
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| sum |"))
        .collect();
    assert_eq!(sums.len(), 8, "{md}");
    for row in sums {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let gbps: f64 = cells[7].parse().unwrap();
        let want = format!("{:.1}%", 100.0 * gbps / copy_gbps);
        // GB/s is printed to 2 decimals: allow the rounding of the printed figure.
        let got: f64 = cells[8].trim_end_matches('%').parse().unwrap();
        assert!(
            (got - 100.0 * gbps / copy_gbps).abs() <= 0.05 + 100.0 * 0.005 / copy_gbps,
            "{row}: want about {want}"
        );
    }
    assert!(html.contains("fraction of copy bandwidth"), "html axis");
    assert!(
        html.contains(&format!(
            "Throughput divided by the device&#39;s copy bandwidth ({copy_gbps:.2} GB/s)."
        )),
        "html caption"
    );
    assert!(!html.contains("copy baseline is missing"));
}

#[test]
fn baseline_is_optional_and_never_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let j = json.to_str().unwrap();
    detbench(&[
        "run",
        "--op",
        "sum",
        "--backend",
        "cpu",
        "--variant",
        "tree",
        "--size",
        "100",
        "--quiet",
        "--no-copy-baseline",
        "--json",
        j,
    ]);
    let r = load(&json);
    assert!(r.results.iter().all(|x| x.op == "sum"));
    let md = dir.path().join("r.md");
    detbench(&["report", j, "--md", md.to_str().unwrap()]);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("The copy baseline is missing"), "{md}");

    // Asking for copy: its own rows are the baseline, no second one is added; a copy has
    // no accumulator but its data's format.
    detbench(&[
        "run",
        "--op",
        "sum,copy",
        "--backend",
        "cpu",
        "--precision",
        "f16",
        "--size",
        "100,200",
        "--variant",
        "all",
        "--quiet",
        "--json",
        j,
    ]);
    let r = load(&json);
    let copies: Vec<_> = r.results.iter().filter(|x| x.op == "copy").collect();
    assert_eq!(copies.len(), 2);
    assert!(copies
        .iter()
        .all(|c| c.accumulator == "f16" && c.status == "ok"));
}
