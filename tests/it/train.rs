//! The training workload: deterministic replicas end bitwise identical and the loss falls
//! (on the CPU and on wgpu, which CI runs on lavapipe); the report is written atomically and
//! reads back; bad input exits 2 with one line.

use crate::common;

use detbench::backend::BackendKind;
use detbench::train::{self, TrainSpec};
use std::process::Command;

fn spec(kind: BackendKind, steps: usize, replicas: usize, mode: &str) -> TrainSpec {
    TrainSpec::parse(kind.name(), steps, replicas, mode, 7, None, "test".into())
        .expect("valid spec")
        .quiet()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Deterministic replicas are bitwise identical at every step, and the loss falls.
fn deterministic_replicas_identical_and_learning(kind: BackendKind) {
    let report = train::run(&spec(kind, 30, 2, "deterministic")).expect("training runs");
    let m = &report.modes[0];
    assert_eq!(m.mode, "deterministic");
    assert_eq!(m.first_divergence_step, None, "{kind}: replicas diverged");
    assert_eq!(
        m.replicas[0].weights_fingerprint,
        m.replicas[1].weights_fingerprint
    );
    assert_eq!(m.replicas[0].loss, m.replicas[1].loss);
    assert!(m
        .steps
        .iter()
        .all(|s| s.max_weight_ulp == 0 && s.weight_divergence == 0.0));
    let loss = &m.replicas[0].loss;
    eprintln!(
        "{kind} loss: {loss:?}, eval accuracy {}",
        m.replicas[0].final_accuracy
    );
    let (head, tail) = (mean(&loss[..5]), mean(&loss[loss.len() - 5..]));
    assert!(
        tail < head - 0.1,
        "{kind}: loss did not fall ({head} -> {tail})"
    );
    assert!(
        m.replicas[0].final_accuracy > 0.2,
        "{kind}: accuracy {}",
        m.replicas[0].final_accuracy
    );
}

#[test]
fn cpu_deterministic_training() {
    deterministic_replicas_identical_and_learning(BackendKind::Cpu);
}

#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn wgpu_deterministic_training() {
    deterministic_replicas_identical_and_learning(BackendKind::Wgpu);
}

/// Same seed, same data: the data checksum is fixed and recorded.
#[test]
fn dataset_checksum_is_stable() {
    let a = train::data::generate(64, 7, 0);
    assert_eq!(a.sha256(), train::data::generate(64, 7, 0).sha256());
}

fn detbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_detbench"))
        .args(args)
        .output()
        .expect("runs")
}

/// Bad input exits 2 with one line on stderr, before any training.
#[test]
fn bad_input_exits_2() {
    for args in [
        &["train", "--steps", "0"][..],
        &["train", "--replicas", "0"],
        &["train", "--lr", "NaN"],
        &["train", "--lr", "-0.1"],
        &["train", "--lr", "inf"],
        &["train", "--mode", "sometimes"],
        &["train", "--backend", "tpu"],
        &["train", "--json", "/no/such/folder/x.json"],
    ] {
        let out = detbench(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A short run in both modes writes a report that reads back as detbench.train.v1.
#[test]
fn report_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let out = detbench(&[
        "train",
        "--backend",
        "cpu",
        "--steps",
        "2",
        "--replicas",
        "2",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = detbench::report::train::load_train_report(&path).expect("reads back");
    assert_eq!(r.modes.len(), 2);
    assert_eq!(r.modes[0].steps.len(), 2);
    assert_eq!(r.config.replicas, 2);
    assert!(!r.config.dataset_sha256.is_empty());
}

/// The default workload learns for every seed from 1 to 10: the mean training loss of the
/// last 10 steps is at least 20% below that of the first 10, at the default steps and
/// learning rate. It is the workload `detbench train` runs on every backend (the same
/// model, data, batches and schedule); the CPU backend keeps the test cheap.
#[test]
fn default_workload_learns_for_seeds_1_to_10() {
    let mut worst = (0u64, 0.0f64);
    for seed in 1..=10u64 {
        let spec = TrainSpec::parse(
            "cpu",
            train::DEFAULT_STEPS,
            1,
            "deterministic",
            seed,
            None,
            "test".into(),
        )
        .unwrap()
        .quiet();
        let r = train::run(&spec).expect("training runs");
        let loss = &r.modes[0].replicas[0].loss;
        assert_eq!(loss.len(), train::DEFAULT_STEPS);
        let (head, tail) = (mean(&loss[..10]), mean(&loss[loss.len() - 10..]));
        let ratio = tail / head;
        eprintln!(
            "seed {seed}: first 10 {head:.4}, last 10 {tail:.4}, ratio {ratio:.3}, eval accuracy {}",
            r.modes[0].replicas[0].final_accuracy
        );
        if ratio > worst.1 {
            worst = (seed, ratio);
        }
        assert!(
            ratio <= 0.8,
            "seed {seed}: mean loss of the last 10 steps {tail} is not 20% below the first 10 ({head})"
        );
    }
    eprintln!("worst seed {} ratio {:.3}", worst.0, worst.1);
}

/// The spread summary (Pham et al.): deterministic replicas have zero spread and one
/// fingerprint; every field is present, consistent with the replicas and in the JSON.
#[test]
fn spread_summary_fields() {
    let r = train::run(&spec(
        BackendKind::Cpu,
        3,
        3,
        "deterministic,nondeterministic",
    ))
    .unwrap();
    assert_eq!(r.modes.len(), 2);
    for m in &r.modes {
        assert_eq!(m.backend, "cpu");
        assert!(!m.device.is_empty());
        let sp = m.spread.clone().expect("spread recorded");
        assert_eq!(sp, m.compute_spread());
        let acc = sp.final_accuracy.expect("accuracy spread");
        let loss = sp.final_loss.expect("loss spread");
        assert!(sp.final_eval_loss.is_some());
        assert_eq!(acc.n, 3);
        let accs = m.final_accuracies();
        assert_eq!(acc.min, accs.iter().copied().fold(f64::INFINITY, f64::min));
        assert_eq!(
            acc.max,
            accs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        );
        assert_eq!(acc.range, acc.max - acc.min);
        assert!(acc.stddev >= 0.0 && loss.stddev >= 0.0);
        assert!(acc.min <= acc.mean && acc.mean <= acc.max);
        if m.mode == "deterministic" {
            assert_eq!(
                (acc.range, acc.stddev, loss.range, loss.stddev),
                (0.0, 0.0, 0.0, 0.0)
            );
            assert_eq!(sp.distinct_final_weights, 1);
        }
    }
    let json = serde_json::to_value(&r).unwrap();
    for k in ["n", "min", "max", "range", "mean", "stddev"] {
        assert!(
            json["modes"][1]["spread"]["final_accuracy"]
                .get(k)
                .is_some(),
            "{k}"
        );
        assert!(
            json["modes"][1]["spread"]["final_loss"].get(k).is_some(),
            "{k}"
        );
    }
    let text = train::summary(&r);
    assert!(text.contains("final accuracy min .. max (sd)"), "{text}");
    assert!(
        text.contains("cpu: across 3 nondeterministic replicas"),
        "{text}"
    );
    assert!(
        text.contains("deterministic replicas: accuracy range 0.0000"),
        "{text}"
    );
}

/// `--quiet` leaves stderr empty (no bar, summary or message); with `--json -` stdout is
/// the report alone.
#[test]
fn quiet_prints_nothing_on_stderr() {
    let out = detbench(&[
        "train",
        "--backend",
        "cpu",
        "--steps",
        "2",
        "--replicas",
        "1",
        "--quiet",
        "--json",
        "-",
    ]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the report");
    assert_eq!(v["schema"], "detbench.train.v1");
    // Without --quiet the summary and the message are there.
    let out = detbench(&[
        "train",
        "--backend",
        "cpu",
        "--steps",
        "2",
        "--replicas",
        "1",
        "--json",
        "-",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("detbench: wrote training report to stdout"),
        "{err}"
    );
    assert!(err.contains("final loss"), "{err}");
}

/// `--backend` takes a list as `run` does: each backend trains every mode; repeats count
/// once; a named backend without a device is bad input; an empty entry is bad input.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn backend_lists() {
    let r = train::run(
        &TrainSpec::parse("cpu,cpu", 2, 2, "deterministic", 7, None, "t".into())
            .unwrap()
            .quiet(),
    )
    .unwrap();
    assert_eq!(r.backends(), vec!["cpu".to_string()]);
    assert_eq!(r.modes.len(), 1);
    assert!(TrainSpec::parse("cpu,,wgpu", 2, 2, "deterministic", 7, None, "t".into()).is_err());
    let all = TrainSpec::parse("all", 2, 2, "deterministic", 7, None, "t".into()).unwrap();
    assert!(all.backends.contains(&BackendKind::Cpu) && all.required.is_empty());
    // A named backend without a device must fail: CUDA, where the build found none.
    if !cfg!(detbench_libcuda) {
        let e = train::run(
            &TrainSpec::parse("cpu,cuda", 2, 1, "deterministic", 7, None, "t".into())
                .unwrap()
                .quiet(),
        );
        assert!(e.is_err(), "a named backend without a device must fail");
    }
    common::backend(BackendKind::Wgpu);
    let r = train::run(
        &TrainSpec::parse(
            "cpu,wgpu",
            2,
            2,
            "deterministic,nondeterministic",
            7,
            None,
            "t".into(),
        )
        .unwrap()
        .quiet(),
    )
    .unwrap();
    assert_eq!(r.backends(), vec!["cpu".to_string(), "wgpu".to_string()]);
    assert_eq!(r.config.backend, "cpu,wgpu");
    let labels: Vec<String> = r.modes.iter().map(|m| m.label()).collect();
    assert_eq!(
        labels,
        [
            "cpu deterministic",
            "cpu nondeterministic",
            "wgpu deterministic",
            "wgpu nondeterministic"
        ]
    );
    // Deterministic kernels give the same bits on every replica of each backend.
    for b in ["cpu", "wgpu"] {
        assert_eq!(
            r.mode(b, "deterministic").unwrap().first_divergence_step,
            None
        );
    }
    // The comparison is made per backend.
    let cmp = detbench::report::rcp::train_comparison(&r, 0.99);
    assert_eq!(cmp.len(), 4);
    assert_eq!(cmp[2].label(), "wgpu final_loss");
}
