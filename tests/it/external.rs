//! The external backend end to end: the numpy adapter (the CI vehicle), adapters that
//! misbehave in every way the protocol checks, and `check`/`tolerance` on external rows.
//! The PyTorch adapter test runs only where torch is importable (`cfg(detbench_torch)`,
//! set by build.rs); elsewhere it shows as ignored.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_detbench")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A python with numpy: $DETBENCH_PYTHON, the venv scripts/test.sh makes, or python3.
/// numpy is what CI tests the protocol with, so its absence fails the test.
pub fn python() -> String {
    let home = std::env::var("HOME").unwrap_or_default();
    let cache = std::env::var("XDG_CACHE_HOME").unwrap_or(format!("{home}/.cache"));
    let candidates = [
        std::env::var("DETBENCH_PYTHON").ok(),
        Some(format!("{cache}/detbench/nvrtc-venv/bin/python")),
        Some(format!("{cache}/detbench/py-venv/bin/python")),
        Some("python3".into()),
    ];
    for c in candidates.into_iter().flatten() {
        let ok = Command::new(&c)
            .args(["-c", "import numpy"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return c;
        }
    }
    panic!("no python with numpy: run scripts/test.sh (it installs numpy) or set DETBENCH_PYTHON")
}

fn detbench(args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .env("DETBENCH_PYTHON", python())
        .output()
        .expect("detbench runs")
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).expect("report is JSON")
}

fn rows<'a>(r: &'a Value, variant: &str) -> Vec<&'a Value> {
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["variant"] == variant)
        .collect()
}

#[test]
fn numpy_sum_ordered_is_reproducible_and_within_bound_permuted_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let adapter = root().join("adapters/numpy.toml");
    // f32 values with a wide exponent range: a reordered sum rounds differently almost
    // every time, so 8 permuted runs agreeing would be a failure of the adapter or of the
    // protocol (each run's file read back as its own output), not chance.
    let sum_dot = |to: &Path| {
        detbench(&[
            "run",
            "--external",
            adapter.to_str().unwrap(),
            "--op",
            "sum,dot",
            "--precision",
            "f32",
            "--input",
            "wide",
            "--size",
            "20011",
            "--runs",
            "8",
            "--quiet",
            "--json",
            to.to_str().unwrap(),
        ])
    };
    let out = sum_dot(&json);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&json);
    assert_eq!(
        r["results"].as_array().unwrap().len(),
        4,
        "sum, dot x ordered, permuted"
    );
    for rec in rows(&r, "ordered") {
        assert_eq!(rec["backend"], "external");
        assert_eq!(rec["status"], "ok", "{rec}");
        assert_eq!(rec["distinct_outputs"], 1, "{rec}");
        assert_eq!(rec["deterministic_variant"], true);
        assert_eq!(rec["extra"]["adapter"], "numpy");
        let err = rec["max_abs_err"].as_f64().unwrap();
        let bound = rec["error_bound"].as_f64().unwrap();
        assert!(
            err.is_finite() && bound.is_finite() && err <= bound,
            "{rec}"
        );
        assert_eq!(rec["bound_violations"], 0);
        assert_eq!(rec["times_ms"].as_array().unwrap().len(), 8);
    }
    for rec in rows(&r, "permuted") {
        assert_eq!(rec["status"], "ok", "{rec}");
        assert!(rec["distinct_outputs"].as_u64().unwrap() > 1, "{rec}");
        assert_eq!(rec["deterministic_variant"], false);
    }
    // The adapter's provenance is in the report's device list.
    let dev = &r["env"]["devices"][0];
    assert_eq!(dev["backend"], "external");
    assert!(
        dev["driver"].as_str().unwrap().starts_with("numpy "),
        "{dev}"
    );
    assert_eq!(dev["details"]["protocol"], "detbench.external.v1");

    // check gates external rows like any other: a second run of the same adapter passes
    // (the ordered rows keep their bits), and changed bits in a deterministic mode regress.
    let json2 = dir.path().join("r2.json");
    let again = sum_dot(&json2);
    assert!(again.status.success());
    let check = |current: &Path| {
        Command::new(exe())
            .args(["check", "--baseline", json.to_str().unwrap(), "--current"])
            .arg(current)
            .output()
            .unwrap()
    };
    let ck = check(&json2);
    let ck_out = String::from_utf8_lossy(&ck.stdout);
    assert_eq!(
        ck.status.code(),
        Some(0),
        "{ck_out}{}",
        String::from_utf8_lossy(&ck.stderr)
    );
    assert!(ck_out.contains("0 regressed"), "{ck_out}");
    let mut tampered = r.clone();
    for rec in tampered["results"].as_array_mut().unwrap() {
        if rec["variant"] == "ordered" && rec["op"] == "sum" {
            rec["fingerprint"] = Value::from("0".repeat(64));
        }
    }
    let json3 = dir.path().join("r3.json");
    std::fs::write(&json3, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let ck = check(&json3);
    let ck_out = String::from_utf8_lossy(&ck.stdout);
    assert_eq!(ck.status.code(), Some(1), "{ck_out}");
    assert!(
        ck_out.contains("REGRESSION sum") && ck_out.contains("adapter=numpy"),
        "{ck_out}"
    );
    // tolerance reads them too.
    let tol = Command::new(exe())
        .args(["tolerance", json.to_str().unwrap()])
        .output()
        .unwrap();
    let tol_err = String::from_utf8_lossy(&tol.stderr);
    assert!(tol.status.success(), "tolerance: {tol_err}");
}

#[test]
fn numpy_matmul_on_the_batch_axis() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let adapter = root().join("adapters/numpy.toml");
    let out = detbench(&[
        "run",
        "--external",
        adapter.to_str().unwrap(),
        "--op",
        "matmul",
        "--variant",
        "ordered",
        "--mm-shape",
        "16,24,200",
        "--batch-sizes",
        "1,16",
        "--precision",
        "f32",
        "--runs",
        "3",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&json);
    let recs = rows(&r, "ordered");
    assert_eq!(recs.len(), 2, "one row per batch size");
    for rec in recs {
        assert_eq!(rec["status"], "ok", "{rec}");
        assert_eq!(rec["distinct_outputs"], 1, "{rec}");
        assert_eq!(rec["bound_violations"], 0, "{rec}");
        // Whether BLAS is batch invariant is what is measured; it must be measured.
        assert!(rec["batch_invariant"].is_boolean(), "{rec}");
        assert!(rec["max_ulp_across_batches"].is_u64(), "{rec}");
    }
}

#[test]
fn a_bare_command_lists_its_ops_in_its_info_reply() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let script = root().join("adapters/numpy_adapter.py");
    let cmd = format!("{} {}", python(), script.display());
    let out = detbench(&[
        "run",
        "--external",
        &cmd,
        "--op",
        "scatter_add",
        "--precision",
        "f32",
        "--size",
        "3001",
        "--bins",
        "61",
        "--runs",
        "3",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&json);
    let ordered = rows(&r, "ordered");
    assert_eq!(ordered.len(), 1);
    assert_eq!(ordered[0]["status"], "ok", "{}", ordered[0]);
    assert_eq!(ordered[0]["distinct_outputs"], 1);
    assert_eq!(ordered[0]["deterministic_variant"], true);
    assert_eq!(ordered[0]["extra"]["adapter"], "numpy_adapter");
    assert_eq!(rows(&r, "permuted").len(), 1);
}

/// An adapter whose modes misbehave, one way each.
const BAD_ADAPTER: &str = r#"
import json, sys, time
import numpy as np
req = json.load(open(sys.argv[1]))
def respond(**kw):
    kw.setdefault("status", "ok")
    json.dump(kw, open(req["response"], "w"))
if req["op"] == "info":
    respond(framework="bad", version="0", device="nowhere")
    sys.exit(0)
mode = req["variant"]
shape = tuple(req["output"]["shape"])
for i, path in enumerate(req["outputs"]):
    v = 1.0
    if mode == "wrong_dtype":
        np.save(path, np.asarray(v, dtype=np.float16).reshape(shape))
    elif mode == "wrong_shape":
        np.save(path, np.asarray([v, v], dtype=np.float64))
    elif mode == "missing" and i == len(req["outputs"]) - 1:
        pass
    elif mode == "missing":
        np.save(path, np.asarray(v, dtype=np.float64).reshape(shape))
    elif mode == "exit1":
        print("something broke", file=sys.stderr)
        sys.exit(1)
    elif mode == "hang":
        time.sleep(120)
    elif mode == "unsupported":
        respond(status="unsupported", reason="no such device here")
        sys.exit(0)
    elif mode == "good":
        x = np.load(req["inputs"]["x"]["path"])
        np.save(path, np.asarray(np.sum(x, dtype=np.float64), dtype=np.float64).reshape(shape))
respond()
"#;

#[test]
fn bad_adapters_give_one_clear_line_each_and_a_complete_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.py"), BAD_ADAPTER).unwrap();
    let toml = dir.path().join("bad.toml");
    std::fs::write(
        &toml,
        r#"name = "bad"
protocol = "detbench.external.v1"
command = ["python3", "bad.py"]
timeout_s = 3
deterministic = ["good"]
[ops]
sum = ["good", "wrong_dtype", "wrong_shape", "missing", "exit1", "hang", "unsupported"]
"#,
    )
    .unwrap();
    let json = dir.path().join("r.json");
    let out = detbench(&[
        "run",
        "--external",
        toml.to_str().unwrap(),
        "--op",
        "sum",
        "--precision",
        "f64",
        "--size",
        "1000",
        "--runs",
        "2",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r = report(&json);
    assert_eq!(r["partial"], false);
    let expect = [
        ("good", "ok", ""),
        ("wrong_dtype", "error", "dtype <f2, expected <f8"),
        ("wrong_shape", "error", "shape [2], expected []"),
        ("missing", "error", "out_2.npy is missing"),
        ("exit1", "error", "something broke"),
        ("hang", "error", "did not finish within 3 s"),
        ("unsupported", "unsupported", "no such device here"),
    ];
    for (mode, status, text) in expect {
        let rec = rows(&r, mode);
        assert_eq!(rec.len(), 1, "{mode}");
        let rec = rec[0];
        let msg = rec["message"].as_str().unwrap();
        assert_eq!(rec["status"], status, "{mode}: {msg}");
        if status != "ok" {
            assert!(msg.starts_with("adapter bad: "), "{mode}: {msg}");
            assert!(!msg.contains('\n'), "{mode}: one line: {msg}");
        }
        assert!(msg.contains(text), "{mode}: {msg}");
    }
}

#[test]
fn bad_adapter_files_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("nocmd.toml", "name = \"x\"\n", "missing command"),
        (
            "proto.toml",
            "name = \"x\"\nprotocol = \"v0\"\ncommand = [\"true\"]\n",
            "protocol 'v0'",
        ),
        (
            "fails.toml",
            "name = \"x\"\ncommand = [\"false\"]\n[ops]\nsum = [\"a\"]\n",
            "the program failed",
        ),
    ];
    for (file, text, want) in cases {
        let p = dir.path().join(file);
        std::fs::write(&p, text).unwrap();
        let out = detbench(&[
            "run",
            "--external",
            p.to_str().unwrap(),
            "--op",
            "sum",
            "--quiet",
            "--json",
            dir.path().join("r.json").to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{file}: {stderr}");
        assert!(stderr.contains(want), "{file}: {stderr}");
    }
    // An op the adapter does not offer, and --backend external without an adapter.
    let numpy = root().join("adapters/numpy.toml");
    for args in [
        vec!["run", "--external", numpy.to_str().unwrap(), "--op", "adam"],
        vec!["run", "--backend", "external", "--op", "sum"],
        vec![
            "run",
            "--backend",
            "cpu,external",
            "--external",
            numpy.to_str().unwrap(),
        ],
    ] {
        let out = detbench(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
    assert!(
        !dir.path().join("r.json").exists(),
        "no report for a bad adapter"
    );
}

/// The PyTorch adapter on whatever device torch finds (a GPU where there is one). Runs
/// where build.rs found torch importable; ignored elsewhere.
#[test]
#[cfg_attr(not(detbench_torch), ignore = "torch is not importable here")]
fn torch_adapter_runs_sum_and_index_add() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let adapter = root().join("adapters/torch.toml");
    let py = std::env::var("DETBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(exe())
        .args([
            "run",
            "--external",
            adapter.to_str().unwrap(),
            "--op",
            "sum,scatter_add",
            "--precision",
            "f32",
            "--size",
            "100003",
            "--bins",
            "64",
            "--runs",
            "5",
            "--quiet",
            "--json",
            json.to_str().unwrap(),
        ])
        .env("DETBENCH_PYTHON", py)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&json);
    for rec in r["results"].as_array().unwrap() {
        // Every row is judged: ok, or unsupported with a reason.
        let status = rec["status"].as_str().unwrap();
        assert!(status == "ok" || status == "unsupported", "{rec}");
        if status == "ok" {
            assert_eq!(rec["bound_violations"], 0, "{rec}");
            if rec["variant"] == "deterministic" {
                assert_eq!(rec["distinct_outputs"], 1, "{rec}");
            }
        }
    }
}
