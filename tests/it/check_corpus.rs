//! `detbench check` as a CI gate: a rerun corpus (a baseline and three reruns of one
//! matrix, which must all pass with timing on) and an injected-regression corpus (each
//! case must exit 1, or 2 for unusable input, and say why).
//!
//! The matrix: sum, dot and scatter_add; a deterministic (`reproducible`) and an atomic
//! variant; cpu and wgpu (lavapipe); two workgroup sizes, so every case has two launches.

use crate::common;

use common::report::{check_with, dir, load, run_ok, text, write};
use detbench::report::ResultRecord;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn bin() -> Command {
    let mut c = common::cli::bin();
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

fn run_matrix(name: &str) -> PathBuf {
    let p = dir().join(name);
    run_ok(
        bin()
            .args([
                "run",
                "--op",
                "sum,dot,scatter_add",
                "--variant",
                "reproducible,atomic",
                "--backend",
                "cpu,wgpu",
                "--precision",
                "f32",
                "--size",
                "4096",
                "--bins",
                "256",
                "--workgroup-size",
                "64,256",
                "--runs",
                "10",
                "--quiet",
                "--json",
            ])
            .arg(&p),
    );
    p
}

/// The baseline and three reruns, made once (in order: the baseline first).
fn corpus() -> &'static [PathBuf] {
    static C: OnceLock<Vec<PathBuf>> = OnceLock::new();
    C.get_or_init(|| {
        (0..4)
            .map(|i| run_matrix(&format!("corpus{i}.json")))
            .collect()
    })
}

fn baseline() -> &'static Path {
    &corpus()[0]
}

/// `check` with every note shown (`--verbose`): these tests read the notes.
fn check(base: &Path, cur: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--verbose"];
    args.extend_from_slice(extra);
    check_with(bin(), base, cur, &args)
}

/// Exit 2 with exactly one line on stderr that contains `needle`.
fn assert_bad_input(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(needle), "wanted '{needle}' in: {err}");
}

fn det_ok(r: &ResultRecord) -> bool {
    r.status == "ok" && r.deterministic_variant && r.bitwise_reproducible == Some(true)
}

#[test]
fn reruns_pass_with_timing_on() {
    let c = corpus();
    let base = load(&c[0]);
    // The matrix holds what the corpus promises.
    for op in ["sum", "dot", "scatter_add"] {
        for backend in ["cpu", "wgpu"] {
            assert!(
                base.results
                    .iter()
                    .any(|r| r.op == op && r.backend == backend && det_ok(r)),
                "no reproducible {op} on {backend}"
            );
        }
        assert!(
            base.results
                .iter()
                .any(|r| r.op == op && r.status == "ok" && !r.deterministic_variant),
            "no atomic {op} that ran"
        );
    }
    for wg in [64, 256] {
        assert!(base.results.iter().any(|r| r.launch.workgroup_size == wg));
    }
    for rerun in &c[1..] {
        // Numbers: no false alarm, ever.
        let o = check(&c[0], rerun, &["--no-timing"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains("0 regressed"), "{}", text(&o));
        // Timing on, default settings: no finding either. The rows are short and timed on
        // the host's scheduler (cpu, lavapipe), where a busy machine adds whole time
        // slices; the timing rule weighs each row against the noise these two reports
        // show (its own spread, the scatter of row shifts and the largest row speedup on
        // its device) and the host floor, and CPU time grown within what other processes'
        // contention causes (--host-contention) is not more work, so a rerun passes
        // however loaded the runner is.
        let o = check(&c[0], rerun, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains("0 regressed"), "{}", text(&o));
        for dev in ["timing on cpu:", "timing on wgpu:"] {
            assert!(
                text(&o).contains(dev) && text(&o).contains("largest row speedup"),
                "{}",
                text(&o)
            );
        }
    }
}

#[test]
fn a_changed_fingerprint_on_one_launch_fails() {
    let mut r = load(baseline());
    let victim = r
        .results
        .iter_mut()
        .find(|x| det_ok(x) && x.launch.workgroup_size == 64 && x.backend == "wgpu")
        .expect("a wg=64 reproducible row");
    victim.fingerprint = Some("f".repeat(64));
    let cur = write("one_launch.json", &r);
    let junit = dir().join("one_launch.xml");
    let o = check(baseline(), &cur, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("other bits") && t.contains("wg=64x"), "{t}");
    assert!(t.contains("1 regressed (1 numeric, 0 performance)"), "{t}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), r.results.len());
    assert_eq!(xml.matches("<failure").count(), 1);
    assert!(
        xml.contains("likely cause") && xml.contains("to do"),
        "{xml}"
    );
}

#[test]
fn duplicate_keys_are_bad_input() {
    let mut r = load(baseline());
    let dup = r.results[3].clone();
    r.results.push(dup);
    let cur = write("dup.json", &r);
    assert_bad_input(&check(baseline(), &cur, &[]), "same key");
    assert_bad_input(&check(&cur, baseline(), &[]), "same key");
}

#[test]
fn empty_or_incomparable_reports_are_bad_input() {
    let mut r = load(baseline());
    r.results.clear();
    let empty = write("empty.json", &r);
    assert_bad_input(&check(&empty, baseline(), &[]), "no results");
    assert_bad_input(&check(&empty, &empty, &[]), "no results");
    let mut r = load(baseline());
    r.results.iter_mut().for_each(|x| x.seed += 1);
    let other = write("other_seed.json", &r);
    assert_bad_input(&check(baseline(), &other, &[]), "nothing comparable");
    // Another device on the same backend.
    let mut r = load(baseline());
    for x in r.results.iter_mut().filter(|x| x.backend == "wgpu") {
        x.device = "Some Other GPU".into();
    }
    let other = write("other_device.json", &r);
    assert_bad_input(&check(baseline(), &other, &[]), "incompatible");
}

#[test]
fn ok_rows_with_null_fields_or_broken_bounds_are_bad_input() {
    type Edit = fn(&mut ResultRecord);
    let cases: [(&str, Edit, &str); 4] = [
        (
            "null_repro.json",
            |x| x.bitwise_reproducible = None,
            "bitwise_reproducible",
        ),
        (
            "null_all.json",
            |x| {
                x.max_abs_err = None;
                x.max_ulp_err = None;
                x.times_ms.clear();
            },
            "max_abs_err",
        ),
        (
            "bound.json",
            |x| {
                x.max_abs_err = Some(1e9);
                x.bound_violations = 5;
            },
            "breaks its bound",
        ),
        ("null_bound.json", |x| x.error_bound = None, "error_bound"),
    ];
    for (name, edit, needle) in cases {
        let mut r = load(baseline());
        let victim = r.results.iter_mut().find(|x| det_ok(x)).unwrap();
        edit(victim);
        let cur = write(name, &r);
        assert_bad_input(&check(baseline(), &cur, &[]), needle);
    }
}

#[test]
fn a_bound_violation_in_the_current_run_fails() {
    // What the runner writes when a result breaks its bound: status error.
    let mut r = load(baseline());
    let victim = r.results.iter_mut().find(|x| det_ok(x)).unwrap();
    victim.status = detbench::report::Status::Error;
    victim.bound_violations = 1;
    victim.message = "1 output elements exceeded the a-priori error bound".into();
    let cur = write("bound_error.json", &r);
    let o = check(baseline(), &cur, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("a-priori error bound"), "{}", text(&o));
}

/// Gives a row `times` and, where the row records the process's CPU time per run (a
/// host-executed row), a CPU time that moves with them: a slower kernel does more work, so
/// its CPU time grows with its wall time (host load would stretch only the wall time).
fn set_times(x: &mut detbench::report::ResultRecord, times: Vec<f64>) {
    if x.cpu_ms_per_run.is_some() {
        x.cpu_ms_per_run = times.iter().copied().reduce(f64::min);
    }
    x.median_ms = detbench::shared::stats::median(&times);
    x.times_ms = times;
}

#[test]
fn a_twofold_slowdown_over_ten_runs_fails_and_no_timing_passes_it() {
    // One row with steady times of 10 ms (what a quiet machine measures), then twice as
    // slow; the other rows keep their measured times. (The row is host-timed: its fastest
    // run must slow by more than --host-floor-ms, 5 ms by default.)
    let mut r = load(baseline());
    let i = r
        .results
        .iter()
        .position(|x| det_ok(x) && x.backend == "cpu" && x.times_ms.len() == 10)
        .unwrap();
    set_times(
        &mut r.results[i],
        (0..10).map(|k| 10.0 + 0.1 * k as f64).collect(),
    );
    let steady = write("steady.json", &r);
    set_times(
        &mut r.results[i],
        (0..10).map(|k| 20.0 + 0.2 * k as f64).collect(),
    );
    let cur = write("slow2x.json", &r);
    let baseline = || steady.as_path();
    let o = check(baseline(), &cur, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("[performance] slower") && t.contains("x2.00"),
        "{t}"
    );
    let o = check(baseline(), &cur, &["--no-timing"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The same wall-clock x2 with the CPU time per run unchanged is a busy machine, not a
    // slower kernel: a note, exit 0. (Only host-executed rows carry a CPU time.)
    assert!(
        r.results[i].cpu_ms_per_run.is_some(),
        "a cpu row records its CPU time"
    );
    r.results[i].cpu_ms_per_run = Some(10.0);
    let loaded = write("slow2x_loaded.json", &r);
    let o = check(baseline(), &loaded, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("CPU time per run moved only x1.00"),
        "{}",
        text(&o)
    );
    set_times(
        &mut r.results[i],
        (0..10).map(|k| 20.0 + 0.2 * k as f64).collect(),
    );
    // A threshold above the slowdown passes it too.
    let o = check(baseline(), &cur, &["--max-slowdown", "1.5"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_bad_input(&check(baseline(), &cur, &["--alpha", "2"]), "--alpha");
    assert_bad_input(
        &check(baseline(), &cur, &["--host-floor-ms=-1"]),
        "--host-floor-ms",
    );
    assert_bad_input(
        &check(baseline(), &cur, &["--host-contention", "0.5"]),
        "--host-contention",
    );
    assert_bad_input(
        &check(baseline(), &cur, &["--host-cpu-floor-ms=-0.1"]),
        "--host-cpu-floor-ms",
    );
    // The same x2 on a 1 ms host-timed row (+1 ms, what one preemption per run adds) is
    // within the host floor when the CPU time per run did not grow: a note, exit 0.
    set_times(
        &mut r.results[i],
        (0..10).map(|k| 1.0 + 0.01 * k as f64).collect(),
    );
    let small = write("steady_small.json", &r);
    set_times(
        &mut r.results[i],
        (0..10).map(|k| 2.0 + 0.02 * k as f64).collect(),
    );
    // The CPU time per run did not grow (a preemption per run adds wall time only).
    r.results[i].cpu_ms_per_run = Some(1.0);
    let small_slow = write("slow2x_small.json", &r);
    let o = check(&small, &small_slow, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("within the host floor"), "{}", text(&o));
    // With the CPU time doubled too, the kernel did twice the work: the floor (for
    // preemption) is waived and it fails (issue 24 item 7).
    r.results[i].cpu_ms_per_run = Some(2.0);
    let small_work = write("slow2x_small_work.json", &r);
    let o = check(&small, &small_work, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn lost_determinism_fails_but_a_lucky_atomic_baseline_does_not() {
    let mut r = load(baseline());
    let victim = r.results.iter_mut().find(|x| det_ok(x)).unwrap();
    victim.bitwise_reproducible = Some(false);
    victim.distinct_outputs = Some(3);
    victim.max_ulp_run_to_run = Some(1);
    let cur = write("lost.json", &r);
    let o = check(baseline(), &cur, &["--no-timing"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("not bitwise reproducible"),
        "{}",
        text(&o)
    );

    // An atomic row whose baseline runs happened to agree, now varying within its scale.
    let mut base = load(baseline());
    let i = base
        .results
        .iter()
        .position(|x| x.status == "ok" && !x.deterministic_variant)
        .unwrap();
    let b = &mut base.results[i];
    b.bitwise_reproducible = Some(true);
    b.distinct_outputs = Some(1);
    b.max_ulp_run_to_run = Some(0);
    b.max_ulp_err = Some(b.max_ulp_err.unwrap().max(4));
    let scale = b.max_ulp_err.unwrap();
    let lucky = write("lucky_base.json", &base);
    let mut cur = base.clone();
    let c = &mut cur.results[i];
    c.bitwise_reproducible = Some(false);
    c.distinct_outputs = Some(5);
    c.max_ulp_run_to_run = Some(scale);
    c.fingerprint = Some("e".repeat(64));
    let varies = write("lucky_cur.json", &cur);
    let o = check(&lucky, &varies, &["--no-timing"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A larger draw of its error, within its bound, is reported, not judged.
    cur.results[i].max_ulp_err = Some(scale * 10 + 10);
    let grown = write("grown.json", &cur);
    let o = check(&lucky, &grown, &["--no-timing"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("of its a-priori bound"), "{}", text(&o));
    // A deterministic variant's error growth does fail.
    let mut cur = load(baseline());
    let d = cur
        .results
        .iter_mut()
        .find(|x| det_ok(x) && x.output_first.is_some() && x.exact.is_some())
        .unwrap();
    // Other bits further from the exact value, with every error measured from them (a
    // report whose errors grew while its bits stayed the same contradicts itself).
    let (o, exact) = (d.output_first.unwrap() as f32, d.exact.unwrap());
    let step = (d.max_ulp_err.unwrap() * 3 + 20) as u32;
    let away = if (o as f64) >= exact {
        o.to_bits() + step
    } else {
        o.to_bits() - step
    };
    let o2 = f32::from_bits(away) as f64;
    d.output_first = Some(o2);
    d.fingerprint = Some("f".repeat(64));
    d.max_ulp_err = Some(detbench::numerics::ulp::ulp_error(
        detbench::numerics::Precision::F32,
        o2,
        exact,
    ));
    d.max_abs_err = Some((o2 - exact).abs());
    d.max_rel_err = Some((o2 - exact).abs() / exact.abs());
    // (The row's a-priori bound is below one ULP of its output here; a kernel with a
    // looser bound could grow this far and stay ok.)
    d.error_bound = Some(d.error_bound.unwrap().max(4.0 * (o2 - exact).abs()));
    let grown = write("grown_det.json", &cur);
    let o = check(baseline(), &grown, &["--no-timing"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("max error grew"), "{}", text(&o));
}

#[test]
fn an_environment_change_is_named_as_the_cause_of_a_changed_fingerprint() {
    let mut r = load(baseline());
    let old_name = r
        .results
        .iter()
        .find(|x| x.backend == "wgpu")
        .unwrap()
        .device
        .clone();
    // A Mesa / LLVM upgrade: new driver string and a device name with another LLVM version.
    let new_name = "llvmpipe (LLVM 99.0.1, 256 bits)".to_string();
    for d in r.env.devices.iter_mut().filter(|d| d.backend == "wgpu") {
        d.driver = "llvmpipe Mesa 99.1.0 (LLVM 99.0.1)".into();
        d.name = new_name.clone();
    }
    for x in r.results.iter_mut().filter(|x| x.backend == "wgpu") {
        x.device = new_name.clone();
    }
    let victim = r
        .results
        .iter_mut()
        .find(|x| det_ok(x) && x.backend == "wgpu")
        .unwrap();
    victim.fingerprint = Some("a".repeat(64));
    let cur = write("env_change.json", &r);
    let o = check(baseline(), &cur, &["--no-timing"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    // The verdict comes first, then the regression, then the environment differences.
    assert!(
        t.starts_with("detbench check: FAIL") && t.contains("\nenvironment differences"),
        "{t}\n(old name {old_name})"
    );
    // Rows still match across the upgrade: one regression, nothing missing.
    assert!(t.contains("1 regressed"), "{t}");
    assert!(!t.contains("missing"), "{t}");
    let reg = t
        .lines()
        .skip_while(|l| !l.starts_with("REGRESSION"))
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        reg.contains("likely cause: the environment changed") && reg.contains("Mesa 99.1.0"),
        "{reg}"
    );
}

#[test]
fn accept_replaces_the_baseline_atomically_and_refuses_bad_input() {
    let base = dir().join("accept_base.json");
    std::fs::copy(baseline(), &base).unwrap();
    let mut r = load(baseline());
    let victim = r.results.iter_mut().find(|x| det_ok(x)).unwrap();
    victim.fingerprint = Some("b".repeat(64));
    let cur = write("accept_cur.json", &r);
    assert_eq!(check(&base, &cur, &[]).status.code(), Some(1));
    // A current report with duplicate keys is refused and the baseline is left alone.
    let mut bad = r.clone();
    bad.results.push(bad.results[0].clone());
    let bad = write("accept_bad.json", &bad);
    let before = std::fs::read(&base).unwrap();
    assert_bad_input(&check(&base, &bad, &["--accept"]), "same key");
    assert_eq!(std::fs::read(&base).unwrap(), before);
    // Accepting the understood change makes it the baseline.
    let o = check(&base, &cur, &["--accept"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read(&base).unwrap(), std::fs::read(&cur).unwrap());
    assert_eq!(check(&base, &cur, &[]).status.code(), Some(0));
    // A first baseline can be created.
    let fresh = dir().join("fresh_base.json");
    let o = check(&fresh, &cur, &["--accept"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(fresh.is_file());
}

#[test]
fn warmup_runs_are_not_timed() {
    for warmup in ["0", "3"] {
        let p = dir().join(format!("warm{warmup}.json"));
        run_ok(
            bin()
                .args([
                    "run",
                    "--op",
                    "sum",
                    "--variant",
                    "tree",
                    "--backend",
                    "cpu,wgpu",
                    "--precision",
                    "f32",
                    "--size",
                    "1000",
                    "--runs",
                    "4",
                    "--warmup",
                    warmup,
                    "--quiet",
                    "--no-copy-baseline",
                    "--json",
                ])
                .arg(&p),
        );
        let r = load(&p);
        assert!(!r.results.is_empty());
        for x in r.results.iter().filter(|x| x.status == "ok") {
            assert_eq!((x.runs, x.times_ms.len()), (4, 4), "{}", x.backend);
            assert_eq!(x.distinct_outputs, Some(1));
        }
    }
}

fn check_multi(bases: &[&Path], cur: &Path, extra: &[&str]) -> Output {
    let mut c = bin();
    c.arg("check");
    for b in bases {
        c.arg("--baseline").arg(b);
    }
    c.arg("--current")
        .arg(cur)
        .args(extra)
        .output()
        .expect("run check")
}

#[test]
fn a_rerun_against_three_baselines_passes_with_timing_on() {
    // Three reruns of the matrix as baselines measure each row's between-report noise;
    // the fourth rerun is judged against them with the default settings, timing on. Its
    // numbers are its own; its times are those of the second baseline, so every row's
    // timing lies inside the measured between-report spread by construction. (Measured
    // reruns on a shared 2-core runner can still raise timing alarms: the README gives the
    // rate; a test must not depend on the machine's load.)
    let c = corpus();
    let mut cur = load(&c[3]);
    let timed = load(&c[1]);
    assert_eq!(cur.results.len(), timed.results.len());
    for (r, t) in cur.results.iter_mut().zip(&timed.results) {
        assert_eq!(
            (&r.op, &r.backend, &r.variant),
            (&t.op, &t.backend, &t.variant)
        );
        r.times_ms = t.times_ms.clone();
        r.median_ms = t.median_ms;
        r.gbps = t.gbps;
    }
    let cur = write("multi_rerun.json", &cur);
    let o = check_multi(&[&c[0], &c[1], &c[2]], &cur, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("0 regressed"), "{}", text(&o));
    // The comma list is the same as the repeated flag.
    let list = format!("{},{},{}", c[0].display(), c[1].display(), c[2].display());
    let o = bin()
        .args(["check", "--baseline", &list, "--current"])
        .arg(&cur)
        .output()
        .expect("run check");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A numeric regression is still judged against the first baseline.
    let mut r = load(&c[3]);
    let victim = r.results.iter_mut().find(|x| det_ok(x)).unwrap();
    victim.fingerprint = Some("c".repeat(64));
    let bad = write("multi_fp.json", &r);
    let o = check_multi(&[&c[0], &c[1], &c[2]], &bad, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("(1 numeric,"), "{}", text(&o));
}

#[test]
fn a_twofold_slowdown_is_caught_with_three_baselines() {
    // One row with steady times in three baselines that differ a little from report to
    // report (x0.97 to x1.03), then twice as slow over 10 runs.
    let mut r = load(baseline());
    let i = r
        .results
        .iter()
        .position(|x| det_ok(x) && x.backend == "cpu" && x.times_ms.len() == 10)
        .unwrap();
    let mut bases = Vec::new();
    for (n, scale) in [10.0, 10.3, 9.7].into_iter().enumerate() {
        set_times(
            &mut r.results[i],
            (0..10).map(|k| scale * (1.0 + 0.01 * k as f64)).collect(),
        );
        bases.push(write(&format!("steady3_{n}.json"), &r));
    }
    set_times(
        &mut r.results[i],
        (0..10).map(|k| 20.0 * (1.0 + 0.01 * k as f64)).collect(),
    );
    let cur = write("slow2x_3.json", &r);
    let refs: Vec<&Path> = bases.iter().map(|p| p.as_path()).collect();
    let o = check_multi(&refs, &cur, &["--verbose"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("[performance] slower") && t.contains("slowest of 3 baseline medians"),
        "{t}"
    );
    // A row whose baselines spread as wide as the slowdown is within their noise.
    set_times(
        &mut r.results[i],
        (0..10).map(|k| 21.0 * (1.0 + 0.01 * k as f64)).collect(),
    );
    let wide = write("steady3_wide.json", &r);
    let o = check_multi(&[&bases[0], &bases[1], &wide], &cur, &["--verbose"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("within the between-report noise"),
        "{}",
        text(&o)
    );
    // With one baseline the slowdown fails and the output says the noise between reports
    // is unmeasured.
    let o = check(&bases[0], &cur, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("unmeasured"), "{}", text(&o));
    // --accept replaces one baseline: several are refused, and none is touched.
    let before = std::fs::read(&bases[0]).unwrap();
    assert_bad_input(
        &check_multi(&[&bases[0], &bases[1]], &cur, &["--accept"]),
        "--accept",
    );
    assert_eq!(std::fs::read(&bases[0]).unwrap(), before);
}
