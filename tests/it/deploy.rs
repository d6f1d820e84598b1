//! The fleet recipes in deploy/: the Kubernetes manifests validate against the Kubernetes
//! schema of their API version (PyPI's kubernetes-validate, which ships the schemas: no
//! network), and an invalid manifest fails the same check; the GitHub Actions workflow
//! validates against GitHub's workflow schema (check-jsonschema's vendored copy) and its
//! job graph runs every shard on every runner label before one merge job.
//!
//! Ignored, with its reason, where the build found no validators; CI installs them
//! (scripts/test.sh), so there a missing one fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A validator program: in $DETBENCH_VALIDATORS, beside $DETBENCH_PYTHON, or on PATH.
fn tool(name: &str) -> PathBuf {
    let dirs: Vec<PathBuf> = std::env::var_os("DETBENCH_VALIDATORS")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::env::var_os("DETBENCH_PYTHON")
                .and_then(|p| Path::new(&p).parent().map(Path::to_path_buf)),
        )
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ))
        .collect();
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} not found (pip install kubernetes-validate check-jsonschema; scripts/test.sh does)")
        })
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The Kubernetes version whose schemas the manifests are checked against: the first with
/// `backoffLimitPerIndex` generally available (batch/v1).
const KUBERNETES: &str = "1.33.0";

/// Valid: exit 0 and no warning (kubernetes-validate only warns, exit 0, for a kind it has
/// no schema for, such as a misspelt one).
fn valid(o: &Output) -> bool {
    o.status.success() && !text(o).contains("WARN")
}

fn kubernetes_validate(files: &[PathBuf]) -> Output {
    Command::new(tool("kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", KUBERNETES])
        .args(files)
        .output()
        .expect("run kubernetes-validate")
}

#[test]
#[cfg_attr(
    not(detbench_validators),
    ignore = "needs kubernetes-validate and check-jsonschema (pip; none found at build time)"
)]
fn kubernetes_manifests_validate_against_their_api_versions_schema() {
    let dir = root().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let out = kubernetes_validate(&files);
    assert!(valid(&out), "{}", text(&out));
    // The indexed Job asks for a GPU per pod and takes its shard from the completion index.
    let job = std::fs::read_to_string(dir.join("shards-job.yaml")).expect("read");
    for needle in [
        "completionMode: Indexed",
        "nvidia.com/gpu: 1",
        "JOB_COMPLETION_INDEX",
        "--shard \"$K/$SHARDS\"",
        "store add",
    ] {
        assert!(job.contains(needle), "shards-job.yaml lacks {needle}");
    }
    // The check can fail: a misspelt field, a string count, a field of a later version.
    let tmp = tempfile::tempdir().expect("tempdir");
    for (i, (from, to)) in [
        (
            "      restartPolicy: Never",
            "      restartPolicy: Never\n      restartpolicy: Never",
        ),
        ("  parallelism: 4", "  parallelism: \"4\""),
        ("kind: Job", "kind: Jobb"),
    ]
    .iter()
    .enumerate()
    {
        assert!(job.contains(from));
        let bad = tmp.path().join(format!("bad{i}.yaml"));
        std::fs::write(&bad, job.replacen(from, to, 1)).expect("write");
        let out = kubernetes_validate(&[bad]);
        assert!(!valid(&out), "{to} validated: {}", text(&out));
    }
    // backoffLimitPerIndex is not in an older API's schema: the version is really checked.
    let old = Command::new(tool("kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", "1.27.0"])
        .arg(dir.join("shards-job.yaml"))
        .output()
        .expect("run kubernetes-validate");
    assert!(!valid(&old), "{}", text(&old));
}

#[test]
#[cfg_attr(
    not(detbench_validators),
    ignore = "needs kubernetes-validate and check-jsonschema (pip; none found at build time)"
)]
fn github_workflow_validates_and_merges_every_runner_and_shard() {
    let wf = root().join("deploy/github-actions/detbench.yml");
    let check = |p: &Path| {
        Command::new(tool("check-jsonschema"))
            .args(["--builtin-schema", "vendor.github-workflows"])
            .arg(p)
            .output()
            .expect("run check-jsonschema")
    };
    let out = check(&wf);
    assert!(out.status.success(), "{}", text(&out));
    let src = std::fs::read_to_string(&wf).expect("read");
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("bad.yml");
    std::fs::write(
        &bad,
        src.replacen(
            "    runs-on: ubuntu-latest",
            "    runs_on: ubuntu-latest",
            1,
        ),
    )
    .expect("write");
    assert!(
        !check(&bad).status.success(),
        "a misspelt runs-on validated"
    );
    // The job graph, read by the YAML parser check-jsonschema ships with.
    let python = tool("check-jsonschema").with_file_name("python");
    let out = Command::new(python)
        .args([
            "-c",
            "import json,sys,ruamel.yaml; print(json.dumps(ruamel.yaml.YAML(typ='safe').load(open(sys.argv[1]))))",
        ])
        .arg(&wf)
        .output()
        .expect("parse the workflow");
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let jobs = doc["jobs"].as_object().expect("jobs");
    let run = &jobs["run"];
    let runners = run["strategy"]["matrix"]["runner"]
        .as_array()
        .expect("runner labels");
    assert!(runners.len() >= 2, "a matrix over runner labels");
    assert!(run["runs-on"].to_string().contains("matrix.runner"));
    let shards = run["strategy"]["matrix"]["shard"]
        .as_array()
        .expect("shards");
    let n = shards.len();
    let steps = run["steps"].to_string();
    assert!(
        steps.contains(&format!("--shard ${{{{ matrix.shard }}}}/{n}")),
        "each job runs its shard of {n}: {steps}"
    );
    let want: Vec<u64> = (1..=n as u64).collect();
    let got: Vec<u64> = shards.iter().filter_map(|s| s.as_u64()).collect();
    assert_eq!(got, want, "shards 1..N");
    let merge = &jobs["merge"];
    assert_eq!(merge["needs"], "run", "the merge waits for every run job");
    let msteps = merge["steps"].to_string();
    assert!(msteps.contains("detbench merge --json"), "{msteps}");
    assert!(msteps.contains("download-artifact"), "{msteps}");
    assert_eq!(jobs.len(), 2);
}
