//! The command line as users' scripts see it: exit codes, one-line errors, the report.

use crate::common;

use common::cli::{bin, check_bad_input, npy_f32};
use std::path::Path;
use std::process::Output;

fn detbench(args: &[&str]) -> Output {
    bin().args(args).output().expect("run detbench")
}

/// Bad input: exit 2, exactly one line on stderr, no panic text.
fn assert_bad_input(args: &[&str], needle: &str) {
    check_bad_input(args, &detbench(args), needle);
}

#[test]
fn bad_flags_exit_2() {
    assert_bad_input(
        &["run", "--op", "sum", "--backend", "cpu", "--op", "nope"],
        "",
    );
    assert_bad_input(
        &["run", "--op", "frobnicate", "--backend", "cpu"],
        "unknown op",
    );
    assert_bad_input(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--variant",
            "magic",
        ],
        "unknown variant",
    );
    assert_bad_input(
        &["run", "--op", "sum", "--backend", "cpu", "--size", "0"],
        "size",
    );
    assert_bad_input(
        &["run", "--op", "sum", "--backend", "cpu", "--size", "ten"],
        "size",
    );
    assert_bad_input(
        &["run", "--op", "sum", "--backend", "tpu"],
        "unknown backend",
    );
    assert_bad_input(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--precision",
            "f8",
        ],
        "precision",
    );
    assert_bad_input(
        &["run", "--op", "sum", "--backend", "cpu", "--runs", "0"],
        "runs",
    );
    assert_bad_input(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--workgroup-size",
            "100",
        ],
        "power of two",
    );
    assert_bad_input(
        &["run", "--op", "sum", "--backend", "cpu", "--size", "2^50"],
        "memory",
    );
    assert_bad_input(&["frobnicate"], "");
}

#[test]
fn bad_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    assert_bad_input(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            &p("missing.npy"),
        ],
        "does not exist",
    );
    std::fs::write(p("garbage.npy"), b"\x93NUMPY this is not a header").unwrap();
    assert_bad_input(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            &p("garbage.npy"),
        ],
        "not a valid .npy",
    );
    npy_f32(&dir.path().join("nan.npy"), &[1.0, f32::NAN, 2.0]);
    assert_bad_input(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            &p("nan.npy"),
        ],
        "NaN",
    );
    npy_f32(&dir.path().join("inf.npy"), &[1.0, f32::INFINITY]);
    assert_bad_input(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            &p("inf.npy"),
        ],
        "inf",
    );
    // An int8 array is not a value type detbench accepts.
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }";
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    bytes.extend_from_slice(&[1, 2, 3]);
    std::fs::write(p("int8.npy"), bytes).unwrap();
    assert_bad_input(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            &p("int8.npy"),
        ],
        "dtype",
    );
    npy_f32(&dir.path().join("empty.npy"), &[]);
    assert_bad_input(
        &[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--input",
            &p("empty.npy"),
        ],
        "empty",
    );
}

#[test]
fn run_writes_a_contract_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let dump = dir.path().join("dump");
    let out = detbench(&[
        "run",
        "--op",
        "sum,dot",
        "--backend",
        "cpu",
        "--precision",
        "f32,bf16",
        "--size",
        "1000",
        "--runs",
        "3",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
        "--dump",
        dump.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["schema"], "detbench.report.v1");
    for key in [
        "tool_version",
        "git_commit",
        "command",
        "os",
        "cpu",
        "rustc",
        "devices",
        "kernel_hashes",
        "compile_options",
        "seed",
        "started_at",
    ] {
        assert!(report["env"].get(key).is_some(), "env.{key} missing");
    }
    let results = report["results"].as_array().unwrap();
    // Plus the copy baseline `run` adds (at the largest size, in the widest format).
    assert_eq!(results.len(), 2 * 2 * 7 + 1);
    let keys = [
        "op",
        "backend",
        "device",
        "precision",
        "accumulator",
        "variant",
        "ordering",
        "size",
        "bins",
        "shape",
        "launch",
        "input",
        "seed",
        "runs",
        "status",
        "message",
        "distinct_outputs",
        "bitwise_reproducible",
        "max_ulp_run_to_run",
        "median_ulp_run_to_run",
        "exact",
        "max_abs_err",
        "max_rel_err",
        "max_ulp_err",
        "error_bound",
        "condition_number",
        "times_ms",
        "median_ms",
        "gbps",
        "fingerprint",
    ];
    for r in results {
        for k in keys {
            assert!(r.get(k).is_some(), "result field {k} missing");
        }
        match r["status"].as_str().unwrap() {
            "ok" => {
                assert!(r["max_abs_err"].as_f64().unwrap() <= r["error_bound"].as_f64().unwrap());
                assert_eq!(r["times_ms"].as_array().unwrap().len(), 3);
            }
            "unsupported" => assert!(!r["message"].as_str().unwrap().is_empty()),
            other => panic!("unexpected status {other}: {r}"),
        }
        if ["tree", "kahan", "fixed_point", "reproducible"]
            .contains(&r["variant"].as_str().unwrap())
        {
            assert_eq!(r["bitwise_reproducible"], true);
        }
    }
    // --dump wrote the inputs and outputs as .npy.
    let names: Vec<String> = std::fs::read_dir(&dump)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().any(|n| n.ends_with("_x.npy")));
    assert!(names.iter().any(|n| n.ends_with("_out.npy")));
}

#[test]
fn user_npy_input_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    npy_f32(&x, &[1.0, 2.0, 3.5, -0.25]);
    let json = dir.path().join("r.json");
    let out = detbench(&[
        "run",
        "--op",
        "sum",
        "--backend",
        "cpu",
        "--variant",
        "tree",
        "--input",
        x.to_str().unwrap(),
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["results"][0]["exact"], 6.25);
    assert_eq!(report["results"][0]["size"], 4);
}

#[test]
fn devices_json_lists_the_cpu() {
    let out = detbench(&["devices", "--json"]);
    assert!(out.status.success());
    let devices: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(devices["schema"], "detbench.devices.v1");
    let list = devices["devices"].as_array().unwrap();
    assert!(list
        .iter()
        .any(|d| d["backend"] == "cpu" && d["available"] == true));
    for d in list {
        for k in ["backend", "name", "available", "reason"] {
            assert!(d.get(k).is_some(), "{k} missing in {d}");
        }
        if d["available"] == false {
            assert!(!d["reason"].as_str().unwrap().is_empty());
        }
    }
}

#[test]
fn usage_errors_keep_clap_suggestions_on_one_line() {
    assert_bad_input(
        &["run", "--backedn", "cpu"],
        "a similar argument exists: '--backend'",
    );
    // Bare detbench lists the commands (on stderr, exit 2 as a usage error).
    let out = detbench(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    for cmd in [
        "devices",
        "run",
        "report",
        "tolerance",
        "check",
        "merge",
        "train",
    ] {
        assert!(err.contains(cmd), "{cmd} missing from {err}");
    }
}

#[test]
fn json_dash_writes_the_report_to_stdout() {
    let out = detbench(&[
        "run",
        "--op",
        "sum",
        "--backend",
        "cpu",
        "--variant",
        "tree",
        "--precision",
        "f32",
        "--size",
        "64",
        "--runs",
        "2",
        "--no-copy-baseline",
        "--json",
        "-",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema"], "detbench.report.v1");
    assert_eq!(report["results"].as_array().unwrap().len(), 1);
    // The table went to stderr, and no file named '-' was written.
    assert!(String::from_utf8_lossy(&out.stderr).contains("variant"));
    assert!(!Path::new("-").exists());
}

/// Said once: a family's ops come from its registry line, and every variant it lists has a
/// one-line description of its own (`run --help` prints them), written with the family.
#[test]
fn every_variant_is_described_by_its_family() {
    use detbench::ops::{Op, FAMILIES};
    let mut missing = Vec::new();
    for f in FAMILIES {
        assert!(!f.ops().is_empty(), "family {} declares no op", f.name());
        for &op in f.ops() {
            assert_eq!(op.family().map(|g| g.name()), Some(f.name()));
            for v in f.variants(op) {
                if f.describe(op, v).is_none_or(str::is_empty) {
                    missing.push(format!("{op} {v}"));
                }
            }
            assert_eq!(f.describe(op, "no_such_variant"), None, "{op}");
        }
    }
    assert!(
        missing.is_empty(),
        "variants without a description: {missing:?}"
    );
    // Every op belongs to exactly one family.
    for &op in Op::ALL {
        let owners = FAMILIES.iter().filter(|f| f.ops().contains(&op)).count();
        assert_eq!(owners, 1, "{op} is declared by {owners} families");
    }
    let help = detbench::help::variants();
    assert!(
        help.contains("sort_segmented  sort by index, then ordered segment sums"),
        "{help}"
    );
}

/// Issue 24 item 10: `--size` is never silently ignored. Ops sized by their own flag
/// refuse it when it sizes nothing (exit 2, naming the flag to use), and are named when
/// other ops of the run take it.
#[test]
fn size_is_refused_or_named_where_an_op_ignores_it() {
    for (op, flag) in [
        ("matmul", "--mm-shape"),
        ("conv2d_fwd", "--conv-shape"),
        ("row_sum", "--row-len"),
        ("log_softmax", "--row-len"),
    ] {
        assert_bad_input(
            &["run", "--op", op, "--backend", "cpu", "--size", "64"],
            flag,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = detbench(&[
        "run",
        "--op",
        "sum,matmul",
        "--backend",
        "cpu",
        "--size",
        "64",
        "--mm-shape",
        "3,4,5",
        "--runs",
        "1",
        "--no-copy-baseline",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("--size does not apply to matmul (sized by --mm-shape)"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let sizes: Vec<u64> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["op"] == "sum")
        .map(|r| r["size"].as_u64().unwrap())
        .collect();
    assert!(
        !sizes.is_empty() && sizes.iter().all(|&n| n == 64),
        "{sizes:?}"
    );
    // Without --size, the shape-sized ops run as before, with no note.
    let out = detbench(&[
        "run",
        "--op",
        "matmul",
        "--backend",
        "cpu",
        "--variant",
        "tiled",
        "--mm-shape",
        "3,4,5",
        "--runs",
        "1",
        "--no-copy-baseline",
        "--quiet",
        "--json",
        dir.path().join("r2.json").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `run --verbose` says per case where the time went: one line per case (its input, exact
/// value and bound, and whether the input was shared with the case before), one per
/// backend (timed kernel runs and the time around them). The second variant of one input
/// shares it; without --verbose none of these lines appear.
#[test]
fn verbose_shows_each_cases_input_and_kernel_time() {
    let dir = tempfile::tempdir().unwrap();
    let (loud, quiet) = (dir.path().join("loud.json"), dir.path().join("quiet.json"));
    let args = |verbose: bool| {
        let mut a: Vec<&str> =
            "run --op sum --backend cpu --variant tree,kahan --precision f32 --size 4099 --runs 3 --no-copy-baseline --json"
                .split(' ')
                .collect();
        a.push(if verbose { &loud } else { &quiet }.to_str().unwrap());
        if verbose {
            a.push("--verbose");
        }
        a
    };
    let out = detbench(&args(true));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let cases: Vec<&str> = err.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(cases.len(), 2, "{err}");
    // A new input tells its phases apart; its other variant says it shares it.
    assert!(
        cases[0].starts_with("[1/2] sum tree f32")
            && cases[0].contains(": input ")
            && cases[0].contains("; exact value, bound ingredients and checksum ")
            && cases[0].contains("; preparation in all ")
            && !cases[0].contains("shared"),
        "{err}"
    );
    assert!(
        cases[1].starts_with("[2/2] sum kahan f32")
            && cases[1].contains("input, exact value and bound")
            && cases[1].contains("input shared with the previous case"),
        "{err}"
    );
    let runs: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("3 timed kernel runs"))
        .collect();
    assert_eq!(runs.len(), 2, "{err}");
    assert!(runs.iter().all(|l| l.trim_end().ends_with("ok")), "{err}");
    let quiet = detbench(&args(false));
    assert!(quiet.status.success());
    let err = String::from_utf8_lossy(&quiet.stderr);
    assert!(
        !err.contains("timed kernel run") && !err.contains("exact value and bound"),
        "{err}"
    );
}
