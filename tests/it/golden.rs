//! Golden fingerprints: behaviour pinned before the architecture refactor (issue 9).
//!
//! A fixed matrix (every family, every variant, cpu and wgpu, small sizes, fixed seeds) is
//! expanded, prepared and run through the library exactly as `detbench run` does. For
//! every case the test records a hash of the exact reference vector and of the a-priori
//! bounds; for every result row it records the identity of the row, its status, its
//! launch, its input hash and, for deterministic variants, the fingerprint of the output
//! bits and the scalar values. `tests/it/golden/fingerprints.json` holds what the code gave
//! when the file was blessed; any difference fails the test.
//!
//! A deliberate change of numbers (a new bound, a different tree) re-blesses the file with
//! `DETBENCH_BLESS=1 cargo test --test golden` and says why in the commit. Rows of atomic
//! variants pin only what does not depend on the order atomics land in.

use crate::common;

use clap::Parser;
use detbench::backend::BackendKind;
use detbench::cli::{run_config, Cli, Command};
use detbench::ops::conv::ConvParams;
use detbench::ops::matmul::MatmulParams;
use detbench::ops::optim::OptimParams;
use detbench::ops::rows::RowsParams;
use detbench::ops::scatter::{IndexSource, ScatterParams};
use detbench::ops::Case;
use detbench::report::ResultRecord;
use detbench::runner::{self, RunConfig};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The pinned matrix: `detbench run` arguments, one group per line.
const MATRIX: &[&str] = &[
    "--op sum,dot --precision f64,f32,f16,bf16 --accumulator default,f64 --size 4099 --workgroup-size 64 --input normal,illcond:1e8",
    "--op scatter_add --precision f32,f16,bf16,f64 --size 3001 --bins 61 --index-dist all --workgroup-size 64",
    "--op conv2d_fwd,conv2d_bwd_data,conv2d_bwd_weight --precision f32,f16,bf16,f64 --conv-shape 2,3,9,7,4,3,3,1,1,1;1,4,11,10,3,3,2,2,1,2 --workgroup-size 64",
    "--op sgd,adam,adamw --precision f32,f16,bf16,f64 --size 1031 --steps 3 --workgroup-size 64",
    "--op copy --precision f32,f16,bf16,f64 --size 1001,4096 --workgroup-size 64",
    "--op matmul --precision f32,f16,bf16,f64 --mm-shape 5,19,70;33,17,300 --workgroup-size 64",
    "--op row_sum,mean --precision f32,f16,bf16,f64 --accumulator default,same --row-len 700 --workgroup-size 64",
];

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden/fingerprints.json")
}

fn config(args: &str) -> RunConfig {
    let mut argv = vec![
        "detbench",
        "run",
        "--backend",
        "cpu,wgpu",
        "--runs",
        "2",
        "--seed",
        "20261201",
        "--quiet",
        "--no-copy-baseline",
    ];
    argv.extend(args.split(' '));
    // The rows' variants as blessed: `atomic` came later, and a new variant would change the
    // pinned file (tests/it/batch_rows.rs holds it to its bound instead).
    if args.starts_with("--op row_sum") {
        argv.extend(["--variant", "split_by_batch,batch_invariant"]);
    }
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{args}: {e}"));
    let Command::Run(a) = cli.command else {
        panic!("not a run command")
    };
    run_config(&a, "golden".into()).unwrap_or_else(|e| panic!("{args}: {e}"))
}

fn sha(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hash of an f64 vector's exact bits.
fn sha_f64(v: impl IntoIterator<Item = f64>) -> String {
    let bytes: Vec<u8> = v
        .into_iter()
        .flat_map(|x| x.to_bits().to_le_bytes())
        .collect();
    sha(bytes)
}

/// A float as its exact bits (hex) so that JSON round trips cannot blur it.
fn bits(x: Option<f64>) -> Value {
    x.map(|v| json!(format!("{:016x}", v.to_bits())))
        .unwrap_or(Value::Null)
}

/// A case's family parameters as the case label spelled them when the file was blessed
/// (then they were `Option` fields of `Case`, the index source a string).
#[allow(clippy::type_complexity)]
fn family_fields(
    case: &Case,
) -> (
    Option<usize>,
    Option<String>,
    Option<Vec<usize>>,
    Option<usize>,
) {
    let scatter = case.params.get::<ScatterParams>();
    let idx = scatter.map(|p| match &p.index {
        IndexSource::Dist(d) => format!("dist:{d}"),
        IndexSource::File(f) => f.display().to_string(),
    });
    (
        scatter.map(|p| p.bins),
        idx,
        case.params
            .get::<ConvParams>()
            .map(|p| p.shape.clone())
            .or_else(|| case.params.get::<MatmulParams>().map(|p| p.shape.to_vec()))
            .or_else(|| case.params.get::<RowsParams>().map(|p| vec![p.rows, p.len])),
        case.params.get::<OptimParams>().map(|p| p.steps),
    )
}

/// What is pinned of one prepared case: its exact reference and bounds.
fn case_entries(cfg: &RunConfig) -> Vec<Value> {
    runner::expand(cfg)
        .expect("expand")
        .iter()
        .map(|case| {
            let prep = runner::prepare(case).expect("prepare");
            let (bins, idx, shape, steps) = family_fields(case);
            json!({
                "case": format!(
                    "{} {} {} {} n{} bins{:?} {} idx{:?} s{} wg{} shape{:?} steps{:?}",
                    case.op, case.precision, case.accumulator, case.variant, case.size,
                    bins, case.input.label(), idx, case.seed,
                    case.workgroup_size, shape, steps
                ),
                "exact_len": prep.exact.len(),
                "exact_sha256": sha_f64(prep.exact.iter().copied()),
                "bounds_sha256": sha_f64(prep.bounds.iter().map(|b| b.unwrap_or(f64::NAN))),
                "condition_number": bits(prep.condition_number),
                "input_sha256": prep.input_sha256,
                "out_precision": prep.out_precision.name(),
                "launch": [prep.job.launch().workgroup_size, prep.job.launch().workgroups],
            })
        })
        .collect()
}

/// What is pinned of one result row.
fn row_entry(r: &ResultRecord) -> Value {
    let mut m = Map::new();
    m.insert(
        "key".into(),
        json!(format!(
            "{} {} {} {} {} {} n{} bins{:?} shape{} {} s{} wg{}x{}",
            r.op,
            r.backend,
            r.precision,
            r.accumulator,
            r.variant,
            r.ordering,
            r.size,
            r.bins,
            r.shape.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            r.input,
            r.seed,
            r.launch.workgroup_size,
            r.launch.workgroups
        )),
    );
    m.insert("status".into(), json!(r.status));
    m.insert("input_sha256".into(), json!(r.input_sha256));
    m.insert("output_precision".into(), json!(r.output_precision));
    m.insert(
        "deterministic_variant".into(),
        json!(r.deterministic_variant),
    );
    m.insert("exact".into(), bits(r.exact));
    m.insert("error_bound".into(), bits(r.error_bound));
    if r.deterministic_variant && r.status == "ok" {
        m.insert("fingerprint".into(), json!(r.fingerprint));
        m.insert("output_first".into(), bits(r.output_first));
        m.insert("distinct_outputs".into(), json!(r.distinct_outputs));
        m.insert("max_ulp_err".into(), json!(r.max_ulp_err));
        m.insert("max_abs_err".into(), bits(r.max_abs_err));
        m.insert("bound_violations".into(), json!(r.bound_violations));
        m.insert("extra".into(), json!(r.extra));
    }
    Value::Object(m)
}

fn current() -> Value {
    let groups: Vec<Value> = MATRIX
        .iter()
        .map(|args| {
            let cfg = config(args);
            let report = runner::run(&cfg).expect("run");
            assert!(!report.partial);
            json!({
                "args": args,
                "cases": case_entries(&cfg),
                "results": report.results.iter().map(row_entry).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "groups": groups })
}

/// Lists the differences between two JSON values, path by path.
fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => diff(&format!("{path}.{k}"), v, w, out),
                    None => out.push(format!("{path}.{k}: missing now")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: new"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!(
                    "{path}: {} entries in the golden file, {} now",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                let label = v
                    .get("key")
                    .or_else(|| v.get("case"))
                    .and_then(Value::as_str)
                    .map(|s| format!("[{i}: {s}]"))
                    .unwrap_or_else(|| format!("[{i}]"));
                diff(&format!("{path}{label}"), v, w, out);
            }
        }
        _ if want != got => out.push(format!("{path}: golden {want}, now {got}")),
        _ => {}
    }
}

#[test]
fn golden_fingerprints_are_unchanged() {
    // The matrix runs on wgpu too where the build found a Vulkan driver (always in CI):
    // there a missing adapter fails in `backend`. Elsewhere only the cpu rows are compared,
    // and the test says so.
    let wgpu = cfg!(detbench_wgpu);
    if wgpu {
        common::backend(BackendKind::Wgpu);
    }
    if !wgpu {
        eprintln!("golden: no wgpu adapter was found at build time; comparing the cpu rows only");
    }
    let now = current();
    let path = golden_path();
    if std::env::var_os("DETBENCH_BLESS").is_some() {
        assert!(
            wgpu,
            "bless only where wgpu runs: the golden file covers it"
        );
        let text = serde_json::to_string_pretty(&now).expect("json") + "\n";
        std::fs::write(&path, text).expect("write golden file");
        eprintln!("blessed {}", path.display());
        return;
    }
    let text = std::fs::read_to_string(&path).expect("golden file (bless with DETBENCH_BLESS=1)");
    let want: Value = serde_json::from_str(&text).expect("golden json");
    let mut want = want;
    if !wgpu {
        // Without a wgpu device only the cpu rows can be compared.
        for g in want["groups"].as_array_mut().expect("groups") {
            g["results"].as_array_mut().expect("results").retain(|r| {
                r["key"]
                    .as_str()
                    .is_some_and(|k| k.split(' ').nth(1) == Some("cpu"))
            });
        }
    }
    let mut out = Vec::new();
    diff("", &want, &now, &mut out);
    assert!(
        out.is_empty(),
        "{} differences from the golden fingerprints (first 40):\n{}",
        out.len(),
        out.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}
