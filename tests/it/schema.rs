//! The published JSON Schemas (docs/report.schema.json, docs/train.schema.json) are the
//! ones the types generate, and real reports validate against them: a fresh run, a fresh
//! training, and every current report kept in reports/.
//!
//! After a deliberate change to the report types: `DETBENCH_BLESS=1 cargo test --test schema`
//! rewrites the files; commit them with the change.

use crate::common;

use common::cli::bin;
use common::report::run_ok;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed schema equals the generated one (or is rewritten under DETBENCH_BLESS).
fn published(name: &str, generated: serde_json::Value) -> serde_json::Value {
    let path = root().join("docs").join(name);
    if std::env::var_os("DETBENCH_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with DETBENCH_BLESS=1)", path.display()));
    let committed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        committed == generated,
        "{} is stale: the report types changed; regenerate it with DETBENCH_BLESS=1 cargo test --test schema",
        path.display()
    );
    committed
}

fn validate(schema: &serde_json::Value, doc: &serde_json::Value, what: &str) {
    let v = jsonschema::draft202012::new(schema).expect("the schema compiles");
    let errors: Vec<String> = v
        .iter_errors(doc)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what} does not validate: {errors:#?}");
}

fn read(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Current reports kept in the repository, by schema tag.
fn kept(tag: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join("reports")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") && read(&p)["schema"] == tag {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn run_reports_validate_against_the_published_schema() {
    let schema = published(
        "report.schema.json",
        detbench::report::schema::json_schema(),
    );
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    // Every family on the CPU, so records with bins, shapes and extras are covered.
    run_ok(
        bin()
            .args([
                "run",
                "--op",
                "sum,scatter_add,conv2d_bwd_weight,adam",
                "--backend",
                "cpu",
                "--precision",
                "f32",
                "--size",
                "512",
                "--bins",
                "16",
                "--conv-shape",
                "1,2,5,5,2,3,3,1,1,1",
                "--steps",
                "2",
                "--runs",
                "2",
                "--quiet",
                "--json",
            ])
            .arg(&json),
    );
    let fresh = read(&json);
    validate(&schema, &fresh, "a fresh run report");
    // The schema is not vacuous: a record without its key fields, or a wrong tag, fails.
    let mut broken = fresh.clone();
    broken["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("variant");
    assert!(
        !jsonschema::is_valid(&schema, &broken),
        "a record without variant validated"
    );
    let mut wrong_tag = fresh.clone();
    wrong_tag["schema"] = "detbench.train.v1".into();
    assert!(
        !jsonschema::is_valid(&schema, &wrong_tag),
        "a wrong tag validated"
    );
    let mut wrong_type = fresh;
    wrong_type["results"][0]["size"] = "512".into();
    assert!(
        !jsonschema::is_valid(&schema, &wrong_type),
        "a string size validated"
    );
    for p in kept("detbench.report.v1") {
        validate(&schema, &read(&p), &p.display().to_string());
    }
}

#[test]
fn train_reports_validate_against_the_published_schema() {
    let schema = published("train.schema.json", detbench::report::train::json_schema());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("t.json");
    run_ok(
        bin()
            .args([
                "train",
                "--backend",
                "cpu",
                "--steps",
                "2",
                "--replicas",
                "2",
                "--quiet",
                "--json",
            ])
            .arg(&json),
    );
    validate(&schema, &read(&json), "a fresh training report");
    for p in kept("detbench.train.v1") {
        validate(&schema, &read(&p), &p.display().to_string());
    }
}

/// `run --list-cases --json` validates against docs/cases.schema.json, and a shard report
/// and the report `merge --json` joins from shards against the report schema.
#[test]
fn case_lists_and_merged_shards_validate_against_the_published_schemas() {
    let cases = published("cases.schema.json", detbench::runner::shard::json_schema());
    let report = published(
        "report.schema.json",
        detbench::report::schema::json_schema(),
    );
    let dir = tempfile::tempdir().unwrap();
    let m = [
        "--op",
        "sum,dot",
        "--backend",
        "cpu",
        "--precision",
        "f32",
        "--size",
        "300",
        "--runs",
        "2",
        "--quiet",
    ];
    let out =
        run_ok(
            bin()
                .arg("run")
                .args(m)
                .args(["--list-cases", "--json", "-", "--shard", "1/2"]),
        );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    validate(&cases, &list, "a case list");
    let mut wrong = list.clone();
    wrong["cases"][0]["shard"] = "1".into();
    assert!(
        !jsonschema::is_valid(&cases, &wrong),
        "a string shard validated"
    );
    let shards: Vec<PathBuf> = (1..=2)
        .map(|k| {
            let p = dir.path().join(format!("s{k}.json"));
            run_ok(
                bin()
                    .arg("run")
                    .args(m)
                    .args(["--shard", &format!("{k}/2"), "--json"])
                    .arg(&p),
            );
            validate(&report, &read(&p), "a shard report");
            p
        })
        .collect();
    let merged = dir.path().join("merged.json");
    run_ok(bin().args(["merge", "--json"]).arg(&merged).args(&shards));
    validate(&report, &read(&merged), "a merged report");
}

#[test]
fn reveal_output_validates_against_the_published_schema() {
    let schema = published("reveal.schema.json", detbench::reveal::json_schema());
    for variant in ["tree", "reproducible"] {
        let out = run_ok(
            bin()
                .args([
                    "reveal",
                    "--op",
                    "sum",
                    "--size",
                    "16",
                    "--workgroup-size",
                    "32",
                ])
                .args(["--variant", variant, "--json", "-"]),
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["schema"], detbench::reveal::SCHEMA);
        validate(&schema, &doc, &format!("reveal --variant {variant}"));
    }
}
