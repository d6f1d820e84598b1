//! The training workload: deterministic replicas end bitwise identical and the loss falls
//! (on the CPU and on wgpu, which CI runs on lavapipe); the report is written atomically and
//! reads back; bad input exits 2 with one line.

mod common;

use detbench::backend::BackendKind;
use detbench::train::{self, TrainSpec};
use std::process::Command;

fn spec(kind: BackendKind, steps: usize, replicas: usize, mode: &str) -> TrainSpec {
    TrainSpec::parse(kind.name(), steps, replicas, mode, 7, None, "test".into())
        .expect("valid spec")
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Deterministic replicas are bitwise identical at every step, and the loss falls.
fn deterministic_replicas_identical_and_learning(kind: BackendKind) {
    if common::backend(kind).is_none() {
        return;
    }
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
