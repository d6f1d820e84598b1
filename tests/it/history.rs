//! `history`, `check --baseline-from` and the exports, over stores of real reports (the
//! committed lavapipe report, changed where a test needs a change), on SQLite and on the
//! real PostgreSQL server.

use crate::common::cli::bin;
use crate::common::store::{deterministic_wgpu_row, fresh, series, with_mesa, write_all, Db};
use crate::store_tests;
use detbench::report::Report;
use serde_json::Value;
use std::process::Output;

fn run_ok(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("run detbench");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Stores every report through `detbench store add`.
fn store_all(url: &str, dir: &std::path::Path, reports: &[Report]) {
    let files = write_all(dir, reports);
    let mut args = vec!["store".to_string(), "add".into(), url.into()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&a);
}

fn history_json(args: &[&str]) -> Value {
    let mut a = vec!["history"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--json", "-"]);
    let out = run_ok(&a);
    let v: Value = serde_json::from_slice(&out.stdout).expect("history --json - is JSON");
    assert_eq!(v["schema"], "detbench.history.v1");
    v
}

fn history_text(args: &[&str]) -> String {
    let mut a = vec!["history"];
    a.extend_from_slice(args);
    String::from_utf8(run_ok(&a).stdout).expect("utf-8")
}

fn sha(r: &Report) -> String {
    detbench::store::report_sha256(r).expect("sha")
}

store_tests! {
    /// Ten stored reports; from the seventh on, Mesa is 24.0.1 instead of 22.3.6 and one
    /// deterministic key has other bits. `history changes` names that key, that report and
    /// that environment difference, and nothing else.
    fn history_finds_the_change(db) {
        let f = fresh(db, "history_finds_the_change");
        let mut reports = series(10);
        let (i, key) = deterministic_wgpu_row(&reports[0]);
        for r in reports.iter_mut().skip(6) {
            with_mesa(r, "Mesa 22.3.6", "Mesa 24.0.1");
            r.results[i].fingerprint = Some("ab".repeat(32));
        }
        store_all(&f.url, f.dir.path(), &reports);
        let v = history_json(&["changes", &f.url]);
        let changes = v["changes"].as_array().expect("changes");
        assert_eq!(changes.len(), 1, "{v:#}");
        let c = &changes[0];
        assert_eq!(c["key"], key.to_string());
        assert_eq!(c["after"]["report"], sha(&reports[6]));
        assert_eq!(c["before"]["report"], sha(&reports[5]));
        assert_eq!(c["nondeterminism_bug"], false);
        let env: Vec<(String, String, String)> = c["environment"]
            .as_array()
            .expect("environment")
            .iter()
            .map(|e| (e["column"].as_str().unwrap().into(), e["before"].as_str().unwrap().into(), e["after"].as_str().unwrap().into()))
            .collect();
        assert!(env.contains(&("mesa".into(), "22.3.6".into(), "24.0.1".into())), "{env:?}");
        assert!(env.iter().all(|(col, ..)| col == "mesa" || col == "driver"), "only the Mesa version moved: {env:?}");
        assert_eq!(v["reports"], 10);
        // The plain answer names the same three things.
        let text = history_text(&["changes", &f.url]);
        assert!(text.contains(&key.to_string()), "{text}");
        assert!(text.contains(&sha(&reports[6])[..12]), "{text}");
        assert!(text.contains("mesa 22.3.6 -> 24.0.1"), "{text}");
        assert!(!text.contains("Nondeterminism bug"), "{text}");
    }

    /// One stored run of a deterministic key gave other bits in the same environment: both
    /// of its changes are flagged as a nondeterminism bug.
    fn a_fingerprint_change_without_environment_change_is_flagged(db) {
        let f = fresh(db, "no_env_change");
        let mut reports = series(10);
        let (i, key) = deterministic_wgpu_row(&reports[0]);
        reports[4].results[i].fingerprint = Some("cd".repeat(32));
        store_all(&f.url, f.dir.path(), &reports);
        let v = history_json(&["changes", &f.url]);
        let changes = v["changes"].as_array().expect("changes");
        assert_eq!(changes.len(), 2, "{v:#}");
        for (c, after) in changes.iter().zip([4, 5]) {
            assert_eq!(c["key"], key.to_string());
            assert_eq!(c["after"]["report"], sha(&reports[after]));
            assert_eq!(c["nondeterminism_bug"], true);
            assert_eq!(c["environment"].as_array().map(Vec::len), Some(0));
        }
        let text = history_text(&["changes", &f.url]);
        assert!(text.contains("Nondeterminism bug"), "{text}");
        assert!(text.contains("no environment change"), "{text}");
    }

    /// The first stored run whose times moved: five timed runs per stored run, the last
    /// three stored runs 1.5x slower. Fingerprints never changed.
    fn first_change_finds_the_first_slower_run(db) {
        let f = fresh(db, "first_change");
        let mut reports = series(8);
        let (i, key) = deterministic_wgpu_row(&reports[0]);
        for (n, r) in reports.iter_mut().enumerate() {
            let scale = if n >= 5 { 1.5 } else { 1.0 };
            let times: Vec<f64> = [1.00, 1.01, 0.99, 1.02, 0.98].iter().map(|t| t * scale + n as f64 * 1e-4).collect();
            r.results[i].median_ms = Some(times[0]);
            r.results[i].times_ms = times;
        }
        store_all(&f.url, f.dir.path(), &reports);
        let v = history_json(&["first-change", &f.url, "--key", &key.to_string()]);
        assert_eq!(v["fingerprint"], Value::Null, "{v:#}");
        let t = &v["timing"]["first_change"];
        assert_eq!(t["report"], sha(&reports[5]), "{v:#}");
        assert!(t["p_value"].as_f64().unwrap() <= 0.05);
        assert!((t["ratio"].as_f64().unwrap() - 1.5).abs() < 0.01);
        assert_eq!(v["timing"]["pairs_judged"], 7);
        // A threshold above the step finds none.
        let v = history_json(&["first-change", &f.url, "--key", &key.to_string(), "--threshold", "0.6"]);
        assert_eq!(v["timing"]["first_change"], Value::Null, "{v:#}");
    }

    /// Per device, the groups whose runs differed, counted over the stored runs exactly as
    /// the report's own rows say.
    fn nondeterministic_counts_every_stored_run(db) {
        let f = fresh(db, "nondeterministic");
        let reports = series(3);
        store_all(&f.url, f.dir.path(), &reports);
        let v = history_json(&["nondeterministic", &f.url, "--device", "llvmpipe"]);
        let groups = v["nondeterministic"].as_array().expect("groups");
        let r = &reports[0];
        let differing: Vec<_> = r.results.iter().filter(|x| x.backend == "wgpu" && x.status == "ok" && x.distinct_outputs.unwrap_or(1) > 1).collect();
        assert!(!differing.is_empty());
        for x in &differing {
            let g = groups
                .iter()
                .find(|g| g["op"] == x.op.as_str() && g["variant"] == x.variant.as_str() && g["precision"] == x.precision.as_str() && g["ordering"] == x.ordering.to_string())
                .unwrap_or_else(|| panic!("{} {} {} missing: {v:#}", x.op, x.variant, x.precision));
            assert_eq!(g["nondeterministic_reports"], 3);
            assert_eq!(g["reports"], 3);
            assert!(g["device"].as_str().unwrap().starts_with("wgpu:llvmpipe"), "{g}");
        }
        assert!(groups.iter().all(|g| g["device"].as_str().unwrap().starts_with("wgpu:")), "--device keeps one device");
        let bugs = r.results.iter().filter(|x| x.backend == "wgpu" && x.deterministic_variant && x.distinct_outputs.unwrap_or(1) > 1).count();
        assert_eq!(groups.iter().filter(|g| g["deterministic_variant"] == true).count() > 0, bugs > 0);
    }

    /// The cost of determinism per device and run pairs rows as the report's summary does.
    fn cost_over_time_pairs_rows_as_the_summary_does(db) {
        let f = fresh(db, "cost");
        let reports = series(2);
        store_all(&f.url, f.dir.path(), &reports);
        let v = history_json(&["cost", &f.url]);
        let points = v["costs"].as_array().expect("costs");
        let r = &reports[0];
        let mut expected = 0;
        for backend in ["cpu", "wgpu"] {
            let mine: Vec<_> = r.results.iter().filter(|x| x.backend == backend).map(|x| (x, &r.env)).collect();
            for d in detbench::report::summary::build(&mine).devices {
                for c in d.costs {
                    expected += 2;
                    let hits: Vec<_> = points
                        .iter()
                        .filter(|p| p["device"].as_str().unwrap().starts_with(&format!("{backend}:")) && p["op"] == c.op.as_str() && p["variant"] == c.variant.as_str() && p["precision"] == c.precision.as_str())
                        .collect();
                    assert_eq!(hits.len(), 2, "{backend} {} {}: {v:#}", c.op, c.variant);
                    for h in hits {
                        assert_eq!(h["ratio"].as_f64(), Some(c.ratio));
                        assert_eq!(h["pairs"].as_u64(), Some(c.pairs as u64));
                    }
                }
            }
        }
        assert!(expected > 0, "the lavapipe report has cost pairs");
        assert_eq!(points.len(), expected);
    }
}

/// `detbench check --baseline-from URL --device llvmpipe --current CUR`.
fn check(url: &str, cur: &str) -> Output {
    let args = [
        "check",
        "--baseline-from",
        url,
        "--device",
        "llvmpipe",
        "--current",
        cur,
    ];
    bin().args(args).output().expect("run check")
}

/// `check --baseline-from` takes the newest complete stored report of the device.
#[test]
fn check_takes_its_baseline_from_the_store() {
    let f = fresh(Db::Sqlite, "baseline_from");
    let mut reports = series(3);
    let (i, key) = deterministic_wgpu_row(&reports[0]);
    // The newest run of the device has other bits for one key; a partial one after it is
    // not a baseline.
    reports[1].results[i].fingerprint = Some("ef".repeat(32));
    reports[2].partial = true;
    store_all(&f.url, f.dir.path(), &reports);
    let current = f.path("current.json");
    detbench::report::write_report(&current, &reports[0]).expect("write");
    let cur = current.display().to_string();
    let out = check(&f.url, &cur);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&sha(&reports[1])),
        "names the stored baseline: {text}"
    );
    assert!(
        text.contains(&key.case_label()) || text.contains("fingerprint"),
        "{text}"
    );
    // A newer complete report with the current bits: no regression.
    let mut newer = reports[0].clone();
    newer.env.started_at = "2026-12-01T09:00:00Z".into();
    store_all(&f.url, &f.path(""), std::slice::from_ref(&newer));
    let out = check(&f.url, &cur);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // --accept cannot rewrite the append-only store; an unknown device is named.
    for (args, needle) in [
        (vec!["--accept"], "append-only"),
        (vec![], "no stored device"),
    ] {
        let device = if args.is_empty() {
            "radeon"
        } else {
            "llvmpipe"
        };
        let mut a = vec![
            "check",
            "--baseline-from",
            &f.url,
            "--device",
            device,
            "--current",
            &cur,
        ];
        a.extend(args);
        let out = bin().args(&a).output().expect("run");
        crate::common::cli::check_bad_input(&a, &out, needle);
    }
}

/// Bencher's metric format and github-action-benchmark's customSmallerIsBetter JSON, from a
/// report file and from the store, checked against their documented shapes.
#[test]
fn exports_have_the_documented_shapes() {
    let f = fresh(Db::Sqlite, "exports");
    let reports = series(2);
    store_all(&f.url, f.dir.path(), &reports);
    let report_file = f.path("r1.json");
    // BMF's JSON Schema as bencher.dev/docs/reference/bencher-metric-format publishes it.
    let bmf = serde_json::json!({
        "$schema": "http://json-schema.org/draft-07/schema",
        "type": "object",
        "patternProperties": { ".+": {
            "type": "object",
            "patternProperties": { ".+": {
                "type": "object",
                "properties": {
                    "value": {"type": "number"},
                    "lower_value": {"type": "number"},
                    "upper_value": {"type": "number"}
                },
                "required": ["value"]
            }}
        }}
    });
    // github-action-benchmark's custom tools: a list of {name, unit, value} with optional
    // range and extra strings (its README, "Examples": customSmallerIsBetter).
    let gab = serde_json::json!({
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "unit": {"type": "string"},
                "value": {"type": "number"},
                "range": {"type": "string"},
                "extra": {"type": "string"}
            },
            "required": ["name", "unit", "value"],
            "additionalProperties": false
        }
    });
    let timed = reports[1]
        .results
        .iter()
        .filter(|r| r.status == "ok" && r.median_ms.is_some())
        .count();
    for source in [report_file.display().to_string(), f.url.clone()] {
        for (format, schema) in [("bencher", &bmf), ("github-action-benchmark", &gab)] {
            let out = run_ok(&["export", format, &source]);
            let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
            let validator = jsonschema::validator_for(schema).expect("schema");
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{format} from {source}: {errors:?}");
            let n = v
                .as_object()
                .map(|o| o.len())
                .or(v.as_array().map(Vec::len));
            assert_eq!(
                n,
                Some(timed),
                "{format} from {source}: one entry per timed row"
            );
            if format == "bencher" {
                let (name, m) = v.as_object().unwrap().iter().next().unwrap();
                assert!(name.contains(" on "), "named by the result key: {name}");
                let lat = &m["latency"];
                assert!(lat["lower_value"].as_f64() <= lat["value"].as_f64());
                assert!(lat["value"].as_f64() <= lat["upper_value"].as_f64());
            } else {
                assert!(v[0]["unit"] == "ms" && v[0]["range"].as_str().unwrap().starts_with("± "));
            }
        }
    }
}
