//! The Slurm recipe (deploy/slurm/) end to end on a real single-node Slurm cluster
//! (scripts/services.sh starts slurmctld, slurmd and munged; DETBENCH_TEST_SLURM_CONF names
//! its slurm.conf): `submit.sh 3` runs three shards as an array job on the cpu and
//! lavapipe (wgpu) backends, standing in for GPUs, then the dependent merge job; the
//! merged report must equal an unsharded run of the same matrix: the same result keys, and
//! the same fingerprints for deterministic variants.
//!
//! Ignored, with its reason, where the build saw no cluster; CI sets
//! DETBENCH_REQUIRE_SERVICES=1, and then a missing cluster fails it.

use crate::common;

use common::cli::bin;
use common::report::{keys_and_prints, load, run_ok};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn recipe() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm")
}

/// Cancels the jobs when the test ends early, so no job outlives it.
struct Jobs<'a> {
    conf: &'a str,
    ids: Vec<String>,
}

impl Drop for Jobs<'_> {
    fn drop(&mut self) {
        if !self.ids.is_empty() {
            let _ = Command::new("scancel")
                .env("SLURM_CONF", self.conf)
                .args(&self.ids)
                .status();
        }
    }
}

/// True while any of `ids` is still queued or running.
fn queued(conf: &str, ids: &[String]) -> bool {
    let out = Command::new("squeue")
        .env("SLURM_CONF", conf)
        .args(["-h", "-o", "%i %T", "-j", &ids.join(",")])
        .output()
        .expect("squeue");
    // squeue exits non-zero once the jobs have left the queue ("Invalid job id").
    out.status.success() && !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

fn logs(dir: &Path) -> String {
    let mut s = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "out") {
            s += &format!(
                "--- {}\n{}\n",
                p.display(),
                std::fs::read_to_string(&p).unwrap_or_default()
            );
        }
    }
    s
}

#[test]
#[cfg_attr(
    not(detbench_slurm),
    ignore = "needs the test Slurm cluster (scripts/services.sh start; DETBENCH_TEST_SLURM_CONF was unset at build time)"
)]
fn slurm_array_shards_merge_into_the_unsharded_run() {
    let conf = std::env::var("DETBENCH_TEST_SLURM_CONF").unwrap_or_else(|_| {
        panic!("DETBENCH_TEST_SLURM_CONF is unset: DETBENCH_REQUIRE_SERVICES requires the Slurm cluster of scripts/services.sh")
    });
    assert!(Path::new(&conf).is_file(), "{conf}: no slurm.conf");
    // cpu and lavapipe stand in for GPUs; wgpu only where the build found an adapter (CI
    // always does).
    let backends = if cfg!(detbench_wgpu) {
        "cpu,wgpu"
    } else {
        "cpu"
    };
    let matrix = format!(
        "--op sum,dot,scatter_add --backend {backends} --precision f32 --size 3000 --bins 16 --runs 2 --warmup 0"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("shards");
    let submit = Command::new(recipe().join("submit.sh"))
        .arg("3")
        .env("SLURM_CONF", &conf)
        .env("DETBENCH", env!("CARGO_BIN_EXE_detbench"))
        .env("DETBENCH_OUT", &out_dir)
        .env("DETBENCH_ARGS", &matrix)
        // The test cluster has no GPUs, so no GRES to ask for.
        .env("DETBENCH_GRES", "")
        .env_remove("DETBENCH_STORE")
        .current_dir(dir.path())
        .output()
        .expect("run deploy/slurm/submit.sh");
    assert!(
        submit.status.success(),
        "submit.sh failed: {}",
        String::from_utf8_lossy(&submit.stderr)
    );
    let ids: Vec<String> = String::from_utf8_lossy(&submit.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(ids.len(), 2, "submit.sh prints the array and merge job ids");
    let jobs = Jobs {
        conf: &conf,
        ids: ids.clone(),
    };
    // Meanwhile, the unsharded run of the same matrix, here.
    let whole = dir.path().join("whole.json");
    run_ok(
        bin()
            .arg("run")
            .args(matrix.split(' '))
            .args(["--quiet", "--json"])
            .arg(&whole),
    );
    let start = Instant::now();
    while queued(&conf, &ids) {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the Slurm jobs did not finish in 300 s\n{}",
            logs(&out_dir)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(jobs);
    let merged = out_dir.join("merged.json");
    assert!(
        merged.is_file(),
        "the merge job wrote no merged.json\n{}",
        logs(&out_dir)
    );
    for k in 1..=3 {
        assert!(out_dir.join(format!("shard-{k}-of-3.json")).is_file());
    }
    assert!(out_dir.join("merged.md").is_file());
    let m = load(&merged);
    let w = load(&whole);
    assert!(!m.partial, "{}", logs(&out_dir));
    assert_eq!(m.env.merged_from.len(), 3);
    let (mk, mp) = keys_and_prints(&m);
    let (wk, wp) = keys_and_prints(&w);
    assert_eq!(
        mk, wk,
        "the merged shards' result keys != the unsharded run's"
    );
    assert!(wp.len() > 10, "too few deterministic rows to compare");
    assert_eq!(mp, wp, "a deterministic variant's fingerprint differs");
    if cfg!(detbench_wgpu) {
        assert!(m.results.iter().any(|r| r.backend == "wgpu"));
    }
}
