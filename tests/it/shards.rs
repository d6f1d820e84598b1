//! `run --shard K/N`, `run --list-cases` and `merge --json` of shards (issue 29): the shards
//! of a matrix cover it exactly once, a case's shard depends on its case key alone, the
//! merged shards equal an unsharded run, and `merge` names what is missing or duplicated
//! and refuses shards of different builds or matrices.

use crate::common;

use common::cli::{bin, check_bad_input};
use common::report::{keys_and_prints, load, run_ok, text};
use detbench::report::key::CaseKey;
use detbench::report::Report;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A small matrix on the cpu backend with families that add their own key fields: scatter
/// (bins, index labels), matmul on a batch axis (cases compared with each other), two
/// workgroup sizes and two seeds.
const MATRIX: &[&str] = &[
    "--op",
    "sum,dot,scatter_add,matmul,row_sum",
    "--backend",
    "cpu",
    "--precision",
    "f32",
    "--size",
    "600",
    "--bins",
    "16",
    "--mm-shape",
    "8,8,16",
    "--row-len",
    "40",
    "--batch-sizes",
    "2,4",
    "--workgroup-size",
    "64,256",
    "--seed",
    "1..2",
    "--runs",
    "2",
    "--warmup",
    "0",
    "--quiet",
];

/// Smaller still, for the merge findings: sum and dot (seed 7 unless given).
const SMALL: &[&str] = &[
    "--op",
    "sum,dot",
    "--backend",
    "cpu",
    "--precision",
    "f32",
    "--size",
    "500",
    "--runs",
    "2",
    "--warmup",
    "0",
    "--quiet",
];

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// `run --list-cases --json -` with `args` after the matrix: (label, shard) in order.
fn list(matrix: &[&str], extra: &[&str]) -> Vec<(String, u32)> {
    let out = run_ok(
        bin()
            .arg("run")
            .args(matrix)
            .args(["--list-cases", "--json", "-"])
            .args(extra),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cases JSON");
    assert_eq!(doc["schema"], "detbench.cases.v1");
    doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["label"].as_str().expect("label").to_string(),
                c["shard"].as_u64().expect("shard") as u32,
            )
        })
        .collect()
}

fn run_report(dir: &Path, name: &str, matrix: &[&str], extra: &[&str]) -> PathBuf {
    let p = dir.join(name);
    run_ok(
        bin()
            .arg("run")
            .args(matrix)
            .args(extra)
            .arg("--json")
            .arg(&p),
    );
    p
}

fn labels(r: &Report) -> BTreeSet<String> {
    r.results
        .iter()
        .map(|x| CaseKey::of(x).to_string())
        .collect()
}

/// The listed cases are exactly the cases a run's rows carry, and every N cuts them into
/// disjoint shards whose union is the whole list; the cases of one batch axis stay in one
/// shard.
#[test]
fn list_cases_is_the_matrix_and_shards_partition_it() {
    let d = tmp();
    let all = list(MATRIX, &[]);
    let report = load(&run_report(d.path(), "whole.json", MATRIX, &[]));
    let listed: BTreeSet<String> = all.iter().map(|(l, _)| l.clone()).collect();
    assert_eq!(listed.len(), all.len(), "a label is listed twice");
    assert_eq!(listed, labels(&report), "listed cases != the run's cases");
    // The text form: one label a line, the same list.
    let out = run_ok(bin().arg("run").args(MATRIX).arg("--list-cases"));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        lines,
        all.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>()
    );
    for n in [1u32, 2, 3, 5] {
        let mut union = BTreeSet::new();
        let mut total = 0;
        for k in 1..=n {
            let part = list(MATRIX, &["--shard", &format!("{k}/{n}")]);
            assert!(part.iter().all(|(_, s)| *s == k), "{k}/{n}: {part:?}");
            total += part.len();
            union.extend(part.into_iter().map(|(l, _)| l));
        }
        assert_eq!(total, listed.len(), "N={n}: shards overlap");
        assert_eq!(union, listed, "N={n}: shards do not cover the matrix");
    }
    // matmul's batch axis: the 2- and 4-row cases of one shape and launch share a shard.
    let three = list(MATRIX, &["--shard", "1/3"]);
    let all3: Vec<(String, u32)> = (1..=3)
        .flat_map(|k| list(MATRIX, &["--shard", &format!("{k}/3")]))
        .collect();
    let mut by_group: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for (l, s) in &all3 {
        if l.starts_with("matmul") {
            // The label without its M (n=): the group's identity.
            let group: String = l
                .split(' ')
                .filter(|w| !w.starts_with("n=") && !w.starts_with("shape="))
                .collect::<Vec<_>>()
                .join(" ");
            by_group.entry(group).or_default().insert(*s);
        }
    }
    assert!(!by_group.is_empty() && !three.is_empty());
    for (g, shards) in by_group {
        assert_eq!(shards.len(), 1, "{g} is split over shards {shards:?}");
    }
}

/// A case's shard depends on its key alone: not on the matrix's order nor on its other
/// cases.
#[test]
fn a_cases_shard_does_not_depend_on_the_rest_of_the_matrix() {
    let base = ["--backend", "cpu", "--precision", "f32", "--size", "1000"];
    let with = |ops: &str, precisions: &str| -> BTreeMap<String, u32> {
        let mut m: Vec<&str> = base.to_vec();
        m.extend(["--op", ops]);
        m[3] = precisions;
        list(&m, &["--shard", "1/4"])
            .into_iter()
            .chain(list(&m, &["--shard", "2/4"]))
            .chain(list(&m, &["--shard", "3/4"]))
            .chain(list(&m, &["--shard", "4/4"]))
            .collect()
    };
    let a = with("sum,dot", "f32");
    let b = with("dot,sum,scatter_add", "f16,f32");
    let mut shared = 0;
    for (label, shard) in &a {
        // The copy baseline's size follows the matrix's widest input: it may differ.
        if let Some(other) = b.get(label) {
            assert_eq!(shard, other, "{label} moved from shard {shard} to {other}");
            shared += 1;
        }
    }
    assert!(shared >= a.len() - 1, "{shared} of {}", a.len());
}

#[test]
fn bad_shards_exit_2_with_one_line() {
    for bad in [
        "0/3", "4/3", "3", "a/b", "1/0", "-1/2", "2/3/4", "1/100001", "",
    ] {
        let shard = format!("--shard={bad}");
        let args = ["run", "--backend", "cpu", "--op", "sum", &shard];
        let out = bin().args(args).output().expect("run");
        check_bad_input(&args, &out, "--shard");
    }
}

/// Three shards merged equal the unsharded run (the same result keys; the same fingerprints
/// for deterministic variants), and the merged report says where its rows came from.
#[test]
fn merged_shards_equal_an_unsharded_run() {
    let d = tmp();
    let whole = load(&run_report(d.path(), "whole.json", MATRIX, &[]));
    let shards: Vec<PathBuf> = (1..=3)
        .map(|k| {
            run_report(
                d.path(),
                &format!("s{k}.json"),
                MATRIX,
                &["--shard", &format!("{k}/3")],
            )
        })
        .collect();
    for (k, p) in shards.iter().enumerate() {
        let s = load(p).env.shard.expect("a shard report records its shard");
        assert_eq!((s.index, s.count), (k as u32 + 1, 3));
        assert_eq!(
            s.matrix.iter().cloned().collect::<BTreeSet<_>>(),
            labels(&whole)
        );
    }
    let merged = d.path().join("merged.json");
    let out = bin()
        .arg("merge")
        .arg("--json")
        .arg(&merged)
        .args(&shards)
        .output()
        .expect("merge");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let m = load(&merged);
    assert!(!m.partial);
    detbench::report::key::index(&m).expect("one row per key");
    let (wk, wp) = keys_and_prints(&whole);
    let (mk, mp) = keys_and_prints(&m);
    assert_eq!(mk, wk, "merged keys != unsharded keys");
    assert!(!wp.is_empty());
    assert_eq!(mp, wp, "a deterministic variant's fingerprint changed");
    assert_eq!(m.env.merged_from.len(), 3);
    assert_eq!(m.env.merged_from[1].shard.as_deref(), Some("2/3"));
    // The table prints each device once per case (no "#2" columns for shards).
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(table.lines().any(|l| l.starts_with("| sum")), "{table}");
    assert!(
        !table
            .lines()
            .any(|l| l.starts_with('|') && (l.contains(" #1") || l.contains(" #2"))),
        "{table}"
    );
    // `--json -`: the report alone on stdout.
    let out = bin()
        .args(["merge", "--json", "-"])
        .args(&shards)
        .output()
        .expect("merge");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a report");
    assert_eq!(
        doc["results"].as_array().map(Vec::len),
        Some(m.results.len())
    );
}

fn edit(src: &Path, dst: &Path, f: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src).expect("read")).expect("json");
    f(&mut v);
    std::fs::write(dst, serde_json::to_vec_pretty(&v).expect("encode")).expect("write");
    dst.to_path_buf()
}

/// Missing and duplicated cases are named and exit 1; a duplicate leaves no report; a
/// second device that ran only some shards is missing the others' cases there, while the
/// first device is complete; builds and matrices that differ are refused (exit 2) unless
/// mixed builds are allowed.
#[test]
fn merge_names_missing_and_duplicated_cases_and_refuses_mixed_builds() {
    let d = tmp();
    let m = SMALL;
    let s: Vec<PathBuf> = (1..=3)
        .map(|k| {
            run_report(
                d.path(),
                &format!("s{k}.json"),
                m,
                &["--shard", &format!("{k}/3")],
            )
        })
        .collect();
    let merge = |files: &[&Path], extra: &[&str], out: &str| {
        bin()
            .arg("merge")
            .args(extra)
            .arg("--json")
            .arg(d.path().join(out))
            .args(files)
            .output()
            .expect("merge")
    };
    // Shard 2 missing: each of its cases named, and the shard.
    let out = merge(&[&s[0], &s[2]], &[], "m1.json");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("shard 2/3: no report"), "{err}");
    let shard2 = load(&s[1]);
    for l in labels(&shard2).iter().take(20) {
        assert!(
            err.contains(&format!("missing: {l} on ")),
            "{l} not named: {err}"
        );
    }
    assert!(load(&d.path().join("m1.json")).partial);
    // A shard given twice: duplicated, named, and no report written.
    let out = merge(&[&s[0], &s[1], &s[2], &s[0]], &[], "m2.json");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("duplicated: "), "{err}");
    assert!(!d.path().join("m2.json").exists());
    // A second device that ran shard 1 only: its other cases are missing, on it alone.
    let other = edit(&s[0], &d.path().join("other.json"), |v| {
        for r in v["results"].as_array_mut().unwrap() {
            r["device"] = "Other CPU 9000".into();
        }
        for dev in v["env"]["devices"].as_array_mut().unwrap() {
            dev["name"] = "Other CPU 9000".into();
        }
    });
    let out = merge(&[&s[0], &s[1], &s[2], &other], &[], "m3.json");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let missing: Vec<&str> = err.lines().filter(|l| l.contains("missing: ")).collect();
    assert!(!missing.is_empty());
    assert!(
        missing.iter().all(|l| l.ends_with("on cpu:Other CPU 9000")),
        "{err}"
    );
    assert_eq!(
        missing.len(),
        labels(&shard2).len() + labels(&load(&s[2])).len()
    );
    // Builds: another commit, other kernel sources.
    let commit = edit(&s[1], &d.path().join("commit.json"), |v| {
        v["env"]["git_commit"] = "0123456789abcdef".into();
    });
    let out = merge(&[&s[0], &commit, &s[2]], &[], "m4.json");
    check_bad_input(&["merge"], &out, "--allow-mixed-builds");
    assert!(!d.path().join("m4.json").exists());
    let out = merge(
        &[&s[0], &commit, &s[2]],
        &["--allow-mixed-builds"],
        "m4.json",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let joined = load(&d.path().join("m4.json"));
    assert!(joined.env.git_commit.contains("0123456789abcdef"));
    let kernels = edit(&s[1], &d.path().join("kernels.json"), |v| {
        let hashes = v["env"]["kernel_hashes"].as_object_mut().unwrap();
        let k = hashes.keys().next().expect("a kernel hash").clone();
        hashes.insert(k, "00".into());
    });
    let out = merge(&[&s[0], &kernels, &s[2]], &[], "m5.json");
    check_bad_input(&["merge"], &out, "kernel sources");
    // Another matrix, and a whole run among shards.
    let mut seeds = SMALL.to_vec();
    seeds.extend(["--seed", "3"]);
    let other_matrix = run_report(d.path(), "o.json", &seeds, &["--shard", "2/3"]);
    let out = merge(&[&s[0], &other_matrix, &s[2]], &[], "m6.json");
    check_bad_input(&["merge"], &out, "different matrices");
    let whole = run_report(d.path(), "whole.json", m, &[]);
    let out = merge(&[&s[0], &whole], &[], "m7.json");
    check_bad_input(&["merge"], &out, "whole run");
}
