//! `--dump` keyed like results (issues 24 and 30): every ok row gets its own output file,
//! named by its result key, and no file is overwritten. The cases are those that used to
//! share one file and lose a row's outputs: two matmul shapes with the same M·N, two conv
//! shapes, two workgroup sizes, two bin counts, and inputs `sub/x.npy` and `sub_x.npy`.

use crate::common;

use common::cli::{bin, npy_f32};
use std::path::Path;

/// Runs `detbench run --backend cpu` with `args` and `--dump DIR`; returns the report's ok
/// rows and the names of the output files written.
fn dump_run(dir: &Path, args: &[&str]) -> (usize, Vec<String>) {
    let dump = dir.join("dump");
    let json = dir.join("r.json");
    let out = bin()
        .args([
            "run",
            "--backend",
            "cpu",
            "--runs",
            "2",
            "--quiet",
            "--no-copy-baseline",
        ])
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--dump")
        .arg(&dump)
        .output()
        .expect("run detbench");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json");
    let ok = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "ok")
        .count();
    let mut outs: Vec<String> = std::fs::read_dir(&dump)
        .expect("dump folder")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8 name")
        })
        .filter(|n| n.ends_with("_out.npy"))
        .collect();
    outs.sort();
    (ok, outs)
}

#[test]
fn every_ok_row_has_its_own_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    npy_f32(&sub.join("x.npy"), &[1.0, 2.0, 3.0, 4.0, 5.0]);
    npy_f32(&dir.path().join("sub_x.npy"), &[5.0, 4.0, 3.0, 2.0, 1.0]);
    let inputs = format!(
        "{},{}",
        sub.join("x.npy").display(),
        dir.path().join("sub_x.npy").display()
    );
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "two matmul shapes with the same M*N",
            vec![
                "--op",
                "matmul",
                "--variant",
                "tiled",
                "--precision",
                "f32",
                "--mm-shape",
                "2,8,4;4,4,8",
            ],
        ),
        (
            "two conv shapes",
            vec![
                "--op",
                "conv2d_fwd",
                "--variant",
                "direct",
                "--precision",
                "f32",
                "--conv-shape",
                "1,2,5,5,2,3,3,1,1,1;1,2,6,4,2,3,3,1,1,1",
            ],
        ),
        (
            "two workgroup sizes",
            vec![
                "--op",
                "sum",
                "--variant",
                "tree",
                "--precision",
                "f32",
                "--size",
                "999",
                "--workgroup-size",
                "64,128",
            ],
        ),
        (
            "two bin counts",
            vec![
                "--op",
                "scatter_add",
                "--variant",
                "sort_segmented",
                "--precision",
                "f32",
                "--size",
                "999",
                "--bins",
                "16,17",
            ],
        ),
        (
            "inputs sub/x.npy and sub_x.npy",
            vec![
                "--op",
                "sum",
                "--variant",
                "tree",
                "--precision",
                "f32",
                "--input",
                &inputs,
            ],
        ),
    ];
    for (what, args) in cases {
        let d = tempfile::tempdir_in(dir.path()).unwrap();
        let (ok, outs) = dump_run(d.path(), &args);
        assert_eq!(ok, 2, "{what}: expected two ok rows");
        assert_eq!(
            outs.len(),
            ok,
            "{what}: {ok} ok rows, output files {outs:?}"
        );
    }
}
