//! Bad files, closed pipes and unbounded flags (issue 14): every case exits 2 with one line
//! on stderr, fast, and leaves every input intact; a closed stdout changes nothing but the
//! output. Every test is bounded in time.

use crate::common;

use common::cli::{bin, check_bad_input, npy_f32, wait_within};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Runs detbench, killing it (and failing) after `limit`.
fn run_with_limit(args: &[&str], limit: Duration, unset_xdg: bool) -> Output {
    let mut cmd = bin();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if unset_xdg {
        cmd.env_remove("XDG_RUNTIME_DIR");
    }
    let mut child = cmd.spawn().expect("run detbench");
    if wait_within(&mut child, limit).is_none() {
        panic!("{args:?} did not finish within {limit:?}");
    }
    child.wait_with_output().unwrap()
}

fn detbench(args: &[&str]) -> Output {
    run_with_limit(args, Duration::from_secs(60), false)
}

/// Exit 2, exactly one line on stderr mentioning `needle`, no panic text.
fn assert_bad(args: &[&str], needle: &str) {
    let out = run_with_limit(args, Duration::from_secs(20), false);
    check_bad_input(args, &out, needle);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small valid run report, written by detbench itself.
fn small_report(dir: &Path, name: &str) -> PathBuf {
    let json = dir.join(name);
    common::cli::small_report(&json);
    json
}

fn mkfifo(p: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo failed");
}

#[test]
fn outputs_that_name_inputs_are_refused_and_inputs_survive() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = small_report(d, "a.json");
    let b = small_report(d, "b.json");
    let x = d.join("x.npy");
    npy_f32(&x, &[1.0, 2.0, 3.0]);
    let idx = d.join("idx.npy");
    std::fs::write(&idx, std::fs::read(&x).unwrap()).unwrap();
    let link = d.join("link.json");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let hard = d.join("hard.json");
    std::fs::hard_link(&b, &hard).unwrap();
    let dotted = format!("{}/./a.json", s(d));
    let before: Vec<Vec<u8>> = [&a, &b, &x]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            s(&x),
            "--json",
            s(&x),
        ],
        vec![
            "run",
            "--op",
            "scatter_add",
            "--backend",
            "cpu",
            "--index",
            s(&idx),
            "--json",
            s(&idx),
        ],
        vec!["report", s(&a), "--html", s(&a)],
        vec!["report", s(&a), "--md", s(&link)],
        vec!["report", s(&a), "--md", &dotted],
        vec!["merge", s(&a), s(&b), "--md", s(&a)],
        vec!["merge", s(&a), s(&b), "--md", s(&hard)],
        vec![
            "check",
            "--baseline",
            s(&b),
            "--current",
            s(&a),
            "--junit",
            s(&b),
        ],
    ];
    for args in &cases {
        assert_bad(args, "refusing");
    }
    // Two outputs naming one file.
    let out_md = d.join("out.md");
    assert_bad(
        &[
            "report",
            s(&a),
            "--html",
            s(&out_md),
            "--md",
            &format!("{}/./out.md", s(d)),
        ],
        "refusing",
    );
    let after: Vec<Vec<u8>> = [&a, &b, &x]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(before, after, "an input was modified");
    assert!(std::fs::read(&idx).unwrap() == before[2]);
}

#[test]
fn special_files_are_refused_fast() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = small_report(d, "a.json");
    let fifo = d.join("fifo.npy");
    mkfifo(&fifo);
    let fifo_json = d.join("fifo.json");
    mkfifo(&fifo_json);
    let zero = d.join("zero.npy");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let zero_json = d.join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero_json).unwrap();
    let folder = d.join("folder.npy");
    std::fs::create_dir(&folder).unwrap();
    let rmd = d.join("r.md");
    let start = Instant::now();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "run",
            "--op",
            "scatter_add",
            "--backend",
            "cpu",
            "--index",
            s(&fifo),
        ],
        vec![
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            s(&fifo),
        ],
        vec![
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            s(&zero),
        ],
        vec![
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            s(&folder),
        ],
        vec!["report", s(&fifo_json), "--md", s(&rmd)],
        vec!["report", s(&zero_json), "--md", s(&rmd)],
        vec!["tolerance", s(&fifo_json)],
        vec!["tolerance", s(&a), "--train", s(&zero_json)],
        vec!["merge", s(&a), s(&fifo_json)],
        vec!["check", "--baseline", s(&a), "--current", s(&fifo_json)],
        vec!["check", "--baseline", s(&zero_json), "--current", s(&a)],
    ];
    for args in &cases {
        assert_bad(args, "not a regular file");
    }
    // A sparse regular file far larger than memory is refused, not read.
    let sparse = d.join("sparse.npy");
    let f = std::fs::File::create(&sparse).unwrap();
    f.set_len(1 << 50)
        .unwrap_or_else(|_| f.set_len(1 << 40).unwrap());
    drop(f);
    assert_bad(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            s(&sparse),
        ],
        "free memory",
    );
    // A FIFO as an output would block too.
    assert_bad(&["report", s(&a), "--md", s(&fifo_json)], "FIFO");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
}

/// Writes an i32 .npy v1 file by hand with any `shape` text (even one that does not match
/// `values`), for inputs detbench's own writer would never produce.
fn npy_i32_raw(path: &Path, shape: &str, values: &[i32]) {
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    let mut h = format!("{{'descr': '<i4', 'fortran_order': False, 'shape': {shape}, }}");
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    for v in values {
        b.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// Writes a .npy v2 preamble whose header length is `len`, followed by a few bytes.
fn lying_npy(path: &Path, len: u32) {
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n");
    std::fs::write(path, b).unwrap();
}

#[test]
fn npy_header_sizes_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.npy");
    lying_npy(&huge, 0xFFFF_FFF0);
    let e = detbench::inputs::read_npy(&huge, detbench::numerics::Precision::F32)
        .unwrap_err()
        .to_string();
    assert!(e.contains("header declares"), "{e}");
    assert!(detbench::inputs::read_npy_index(&huge).is_err());
    assert_bad(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            s(&huge),
        ],
        "header declares",
    );
    // Under the cap but past the end of the file: refused as well.
    let short = dir.path().join("short.npy");
    lying_npy(&short, 60_000);
    assert!(detbench::inputs::read_npy(&short, detbench::numerics::Precision::F32).is_err());
}

#[test]
fn flags_are_bounded_and_lists_are_strict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = ["run", "--backend", "cpu", "--quiet"];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|x| x.to_string()).collect()
    };
    let bad = |extra: &[&str], needle: &str| {
        let v = with(extra);
        let args: Vec<&str> = v.iter().map(String::as_str).collect();
        assert_bad(&args, needle);
    };
    bad(&["--op", "sum", "--runs", "9223372036854775808"], "runs");
    bad(&["--op", "sum", "--runs", "100001"], "limit");
    bad(
        &["--op", "sum", "--workgroup-size", "4294967360"],
        "workgroup",
    );
    bad(
        &["--op", "sum", "--workgroup-size", "4294967296"],
        "workgroup",
    );
    bad(&["--op", "sum", "--size", ""], "empty");
    bad(&["--op", "sum", "--size", "64,,128"], "empty");
    bad(&["--op", ","], "empty");
    bad(&["--op", "sum", "--precision", "f32,"], "empty");
    bad(&["--op", "conv2d_fwd", "--conv-shape", ""], "empty");
    bad(&["--op", "conv2d_fwd", "--conv-shape", ";;"], "empty");
    bad(
        &["--op", "conv2d_fwd", "--conv-shape", "1,1,4,4,1,3,3,1,1,"],
        "empty",
    );
    bad(&["--op", "sgd", "--steps", "100000000"], "limit");
    assert_bad(
        &[
            "train",
            "--steps",
            "1000000000",
            "--json",
            s(&d.join("t.json")),
        ],
        "limit",
    );
    assert_bad(
        &[
            "train",
            "--replicas",
            "1000000000",
            "--json",
            s(&d.join("t.json")),
        ],
        "limit",
    );
    // --index for an op that does not use it; and a 2-D index array.
    let idx = d.join("idx.npy");
    detbench::inputs::write_npy(&idx, detbench::numerics::Precision::F64, &[0.0, 1.0], &[2])
        .unwrap();
    bad(&["--op", "sum", "--index", s(&idx)], "only used by");
    let two_d = d.join("two_d.npy");
    npy_i32_raw(&two_d, "(2, 2)", &[0, 1, 2, 3]);
    assert_bad(
        &[
            "run",
            "--op",
            "scatter_add",
            "--backend",
            "cpu",
            "--index",
            s(&two_d),
        ],
        "1-D",
    );
}

#[test]
fn duplicate_list_entries_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = detbench(&[
        "run",
        "--op",
        "sum,sum",
        "--backend",
        "cpu,cpu",
        "--variant",
        "tree,tree",
        "--precision",
        "f32,f32",
        "--size",
        "64,64,2^6",
        "--runs",
        "2",
        "--quiet",
        "--no-copy-baseline",
        "--json",
        s(&json),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["results"].as_array().unwrap().len(), 1, "{report}");
}

#[test]
fn outputs_are_validated_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = small_report(d, "a.json");
    let missing = d.join("nodir").join("x.json");
    // A run that would take minutes fails at once.
    let start = Instant::now();
    assert_bad(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--size",
            "2^24",
            "--runs",
            "1000",
            "--json",
            s(&missing),
        ],
        "does not exist",
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    // report with one good and one bad output writes neither.
    let html = d.join("ok.html");
    assert_bad(
        &[
            "report",
            s(&a),
            "--html",
            s(&html),
            "--md",
            s(&d.join("nodir").join("x.md")),
        ],
        "does not exist",
    );
    assert!(
        !html.exists(),
        "the HTML was written although the command failed"
    );
    assert_bad(
        &[
            "check",
            "--baseline",
            s(&a),
            "--current",
            s(&a),
            "--junit",
            s(&missing),
        ],
        "does not exist",
    );
    assert_bad(&["merge", s(&a), "--md", s(&missing)], "does not exist");
    assert_bad(&["train", "--json", s(&missing)], "does not exist");
    // A folder as an output file.
    assert_bad(&["report", s(&a), "--md", s(d)], "folder");
    // An unwritable folder (skipped when running as root, who can write anywhere).
    let ro = d.join("ro");
    std::fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if tempfile::tempfile_in(&ro).is_err() {
        assert_bad(
            &["report", s(&a), "--md", s(&ro.join("x.md"))],
            "cannot write",
        );
    } else {
        eprintln!("running as root: the unwritable-folder case cannot be built here");
    }
}

/// A closed stdout ends output quietly; the exit status is the command's own.
#[test]
fn closed_stdout_keeps_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = small_report(d, "base.json");
    // The current report is the baseline with one result's bits changed: a regression.
    let mut cur: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&base).unwrap()).unwrap();
    let r = &mut cur["results"][0];
    r["fingerprint"] = "0".repeat(64).into();
    r["distinct_outputs"] = 2.into();
    r["bitwise_reproducible"] = false.into();
    r["max_ulp_run_to_run"] = 3.into();
    let cur_path = d.join("cur.json");
    std::fs::write(&cur_path, serde_json::to_vec(&cur).unwrap()).unwrap();
    let expect_check = detbench(&["check", "--baseline", s(&base), "--current", s(&cur_path)]);
    let check_code = expect_check.status.code();
    assert!(matches!(check_code, Some(0) | Some(1)), "{expect_check:?}");
    let cases: Vec<(Vec<&str>, Option<i32>)> = vec![
        (
            vec!["check", "--baseline", s(&base), "--current", s(&cur_path)],
            check_code,
        ),
        (vec!["devices"], Some(0)),
        (vec!["merge", s(&base), s(&cur_path)], Some(0)),
        (vec!["tolerance", s(&base)], Some(0)),
    ];
    for (args, code) in cases {
        let mut child = bin()
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before detbench writes anything.
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), code, "{args:?}: {err}");
        assert!(
            !err.contains("Broken pipe") && !err.contains("internal error"),
            "{args:?}: {err}"
        );
    }
}

/// An explicitly named backend without a device is an error with its reason; `all`
/// still means "whichever exist".
#[test]
fn named_backend_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let out = detbench(&["devices", "--json"]);
    let devices: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for kind in ["cuda", "wgpu"] {
        let available = devices["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["backend"] == kind && d["available"] == true);
        let json = dir.path().join(format!("{kind}.json"));
        let args = [
            "run",
            "--op",
            "sum",
            "--backend",
            kind,
            "--variant",
            "tree",
            "--precision",
            "f32",
            "--size",
            "64",
            "--runs",
            "1",
            "--quiet",
            "--no-copy-baseline",
            "--json",
            s(&json),
        ];
        if available {
            let out = detbench(&args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            assert_bad(&args, "no usable device");
            assert!(!json.exists());
        }
    }
}

/// With XDG_RUNTIME_DIR unset (CI containers, sudo) stderr carries only detbench's lines.
#[test]
fn stderr_is_ours_without_xdg_runtime_dir() {
    let out = run_with_limit(&["devices"], Duration::from_secs(60), true);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "devices wrote to stderr"
    );
    // A bad input found after the backends started (wgpu included): one line.
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx.npy");
    npy_i32_raw(&idx, "(3,)", &[0, 1, 2]);
    let json = dir.path().join("r.json");
    let args = [
        "run",
        "--op",
        "scatter_add",
        "--size",
        "64",
        "--runs",
        "1",
        "--quiet",
        "--no-copy-baseline",
        "--index",
        s(&idx),
        "--json",
        s(&json),
    ];
    let out = run_with_limit(&args, Duration::from_secs(120), true);
    check_bad_input(&args, &out, "indices");
}

/// Strings from a report (device names, messages, inputs) cannot inject HTML into the
/// Markdown report.
#[test]
fn markdown_report_escapes_raw_html() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = small_report(d, "a.json");
    let mut rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
    let evil = "<script>alert(1)</script>";
    rep["results"][0]["device"] = evil.into();
    rep["results"][0]["message"] = format!("note {evil}").into();
    rep["results"][0]["input"] = "<img src=x onerror=alert(1)>".into();
    // Provenance values are code spans, where HTML is inert; a blank line must not end one.
    rep["env"]["command"] = "x\n\nEND".into();
    let evil_json = d.join("evil.json");
    std::fs::write(&evil_json, serde_json::to_vec(&rep).unwrap()).unwrap();
    let md = d.join("r.md");
    let out = detbench(&["report", s(&evil_json), "--md", s(&md)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        !text.contains("<script"),
        "raw HTML in the Markdown:\n{text}"
    );
    assert!(!text.contains("<img"), "raw HTML in the Markdown:\n{text}");
    assert!(text.contains("&lt;script&gt;"), "{text}");
    // Inside a code span the text stays literal, on one line.
    assert!(!text.contains("x\n\n"), "{text}");
}
