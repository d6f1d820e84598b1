//! What a person sees: the headline after `run`, the input file's dtype as the default
//! precision, exported figures, the published report schema.

use std::path::Path;
use std::process::{Command, Output};

fn detbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_detbench"))
        .args(args)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .expect("run detbench")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn precisions(json: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let mut p: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["op"] != "copy")
        .map(|r| r["precision"].as_str().unwrap().to_string())
        .collect();
    p.sort();
    p.dedup();
    p
}

#[test]
fn input_file_dtype_is_the_default_precision() {
    let dir = tempfile::tempdir().unwrap();
    // 1e5 overflows f16 (max 65504): measuring this file in f16 would be bad input.
    let values: Vec<f64> = (0..500).map(|i| 1e5 + i as f64).collect();
    for (p, name, want) in [
        (detbench::numerics::Precision::F32, "x32.npy", "f32"),
        (detbench::numerics::Precision::F64, "x64.npy", "f64"),
    ] {
        let npy = dir.path().join(name);
        detbench::inputs::write_npy(&npy, p, &values, &[values.len() as u64]).unwrap();
        assert_eq!(detbench::inputs::npy_precision(&npy).unwrap(), p);
        let json = dir.path().join(format!("{name}.json"));
        ok(&detbench(&[
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--runs",
            "2",
            "--quiet",
            "--input",
            npy.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ]));
        assert_eq!(precisions(&json), vec![want.to_string()], "{name}");
    }
    // An explicit --precision still wins.
    let npy = dir.path().join("x32.npy");
    let json = dir.path().join("explicit.json");
    ok(&detbench(&[
        "run",
        "--op",
        "sum",
        "--backend",
        "cpu",
        "--runs",
        "2",
        "--quiet",
        "--precision",
        "f64",
        "--input",
        npy.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]));
    assert_eq!(precisions(&json), vec!["f64".to_string()]);
    // Generated inputs keep the three-format default.
    assert_eq!(
        detbench::cli::default_precisions(&[detbench::inputs::InputSpec::parse("normal").unwrap()])
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn run_prints_the_headline_with_each_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = ok(&detbench(&[
        "run",
        "--op",
        "sum",
        "--backend",
        "cpu",
        "--precision",
        "f32",
        "--size",
        "4096",
        "--runs",
        "3",
        "--json",
        json.to_str().unwrap(),
    ]));
    assert!(out.contains("== cpu:"), "{out}");
    assert!(out.contains("Worst error vs exact:"), "{out}");
    // The CPU reference emulates every order bit for bit: nothing differs between runs.
    assert!(out.contains("Nondeterministic: none"), "{out}");
    assert!(out.contains("ms min/med/max"), "{out}");
    // The same headline opens the Markdown report.
    let md = dir.path().join("r.md");
    ok(&detbench(&[
        "report",
        json.to_str().unwrap(),
        "--md",
        md.to_str().unwrap(),
    ]));
    let md = std::fs::read_to_string(md).unwrap();
    let head = md.find("## Headline").expect("headline in markdown");
    let first_other = md.find("## cpu").unwrap_or(usize::MAX);
    assert!(head < first_other, "headline must come first");
    assert!(md.contains("**Worst error vs exact:**"));
}
