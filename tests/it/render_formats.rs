//! Every command prints through the shared view and renderers (`report::view`,
//! `report::render`): `merge` and `check` in each text format, and the report's figures
//! one panel per op. Through the CLI binary, on small CPU reports.

use crate::common;
use crate::report_check::{is_det_ok, sample};

use common::cli::bin;
use common::report::{check_with, dir, load, run_ok, text, write};

/// `merge` prints through the shared renderers: the same rows as an HTML table or a text
/// table with `--format`, and a folder format is refused on stdout (exit 2, one line).
#[test]
fn merge_prints_in_every_text_format() {
    let run = |format: &str| {
        bin()
            .arg("merge")
            .arg(sample())
            .arg(sample())
            .args(["--format", format])
            .output()
            .unwrap()
    };
    let o = run("html");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let h = String::from_utf8_lossy(&o.stdout);
    assert!(h.starts_with("<!DOCTYPE html>"), "{h}");
    assert!(h.contains("<h1>Cross-device agreement</h1>"), "{h}");
    assert!(
        h.contains("<td>sum</td><td>f32</td><td>f32</td><td>tree</td><td class=\"num\">1000</td><td>normal</td><td class=\"num\">7</td><td>all 2 agree</td>"),
        "{h}"
    );
    let o = run("text");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        t.lines().any(|l| l
            .split_whitespace()
            .take(8)
            .eq(["sum", "f32", "f32", "tree", "1000", "normal", "7", "all"])),
        "{t}"
    );
    let o = run("figures");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("writes a folder"), "{err}");
}

/// `check --format` prints the same verdict through the shared renderers: Markdown and
/// HTML with the regression and its cause, JSON with the verdict as data; the exit code
/// is the check's in every format, and `--format` with `--accept` is a usage error.
#[test]
fn check_prints_its_verdict_in_every_text_format() {
    let mut r = load(sample());
    let victim = r.results.iter_mut().find(|r| is_det_ok(r)).unwrap();
    victim.fingerprint = Some("0".repeat(64));
    let (op, variant) = (victim.op.clone(), victim.variant.clone());
    let cur = write("fp_formats.json", &r);
    let out = |format: &str| {
        let o = check_with(bin(), sample(), &cur, &["--format", format]);
        assert_eq!(o.status.code(), Some(1), "{format}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let md = out("md");
    assert!(md.starts_with("# detbench check: FAIL: "), "{md}");
    assert!(
        md.contains("REGRESSION ") && md.contains("likely cause: "),
        "{md}"
    );
    let html = out("html");
    assert!(html.contains("<h1>detbench check: FAIL: "), "{html}");
    assert!(html.contains("<br>likely cause: "), "{html}");
    let v: serde_json::Value = serde_json::from_str(&out("json")).expect("JSON");
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["regressed"], 1);
    let reg = &v["regressions"][0];
    assert!(
        reg["case"].as_str().unwrap().contains(&op)
            && reg["key"].as_str().unwrap().contains(&variant),
        "{reg}"
    );
    assert_eq!(reg["findings"][0]["kind"], "numeric");
    assert!(reg["findings"][0]["what"]
        .as_str()
        .unwrap()
        .contains("fingerprint"));
    // A copy: were the flags not refused, --accept would replace the baseline.
    let base = dir().join("fp_formats_base.json");
    std::fs::copy(sample(), &base).unwrap();
    let o = check_with(bin(), &base, &cur, &["--format", "md", "--accept"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        std::fs::read(&base).unwrap(),
        std::fs::read(sample()).unwrap()
    );
}

/// Issue 24 item 13: with several ops, every op gets its own spread panel and its own
/// throughput panel on each device, and a panel holds that op's variants only (so
/// `atomic_cas` of sum and of dot never share a column). Checked on the real outputs: the
/// `--figures` files (the CSV names each point's variant) and the HTML's inline SVGs.
#[test]
fn several_ops_get_one_panel_per_op() {
    let rep = dir().join("three_ops.json");
    run_ok(
        bin()
            .args([
                "run",
                "--backend",
                "cpu",
                "--op",
                "sum,dot,scatter_add",
                "--precision",
                "f32",
                "--size",
                "1000",
                "--runs",
                "3",
                "--quiet",
                "--no-copy-baseline",
                "--json",
            ])
            .arg(&rep),
    );
    let results = load(&rep).results;
    let mut ops: Vec<String> = results.iter().map(|r| r.op.clone()).collect();
    ops.sort();
    ops.dedup();
    assert_eq!(ops, ["dot", "scatter_add", "sum"]);
    let figs = dir().join("three_ops_figures");
    let html = dir().join("three_ops.html");
    let o = bin()
        .arg("report")
        .arg(&rep)
        .arg("--figures")
        .arg(&figs)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files: Vec<String> = std::fs::read_dir(&figs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let page = std::fs::read_to_string(&html).unwrap();
    for op in &ops {
        let variants: Vec<&str> = results
            .iter()
            .filter(|r| &r.op == op && r.status == "ok")
            .map(|r| r.variant.as_str())
            .collect();
        for kind in ["spread", "throughput"] {
            let prefix = format!("{kind}-{}-", op.replace('_', "-"));
            // "sum" must not also match a panel of another op that starts with it.
            let panels: Vec<&String> = files
                .iter()
                .filter(|f| f.starts_with(&prefix) && f.ends_with(".csv"))
                .filter(|f| {
                    ops.iter().all(|o| {
                        o == op || !f.starts_with(&format!("{kind}-{}-", o.replace('_', "-")))
                    })
                })
                .collect();
            assert_eq!(panels.len(), 1, "{kind} panels of {op}: {files:?}");
            if kind == "spread" {
                let csv = std::fs::read_to_string(figs.join(panels[0])).unwrap();
                let shown: Vec<&str> = csv
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.rsplit(',').nth(1))
                    .collect();
                assert!(!shown.is_empty(), "{csv}");
                for v in &shown {
                    assert!(variants.contains(v), "{op}'s spread panel shows {v}: {csv}");
                }
            }
        }
        // The HTML draws each op's panels once, each in its own figure.
        for title in [
            format!("Run-to-run spread of {op}, "),
            format!("Throughput of {op}, "),
        ] {
            let figures: Vec<&str> = page
                .split("<figure>")
                .skip(1)
                .filter(|f| f.contains(&title))
                .collect();
            assert_eq!(figures.len(), 1, "{title}");
            for other in ops.iter().filter(|o| *o != op) {
                assert!(
                    !figures[0].contains(&format!(" of {other}, ")),
                    "{title} and {other}"
                );
            }
        }
    }
}
