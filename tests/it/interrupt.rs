//! Ctrl-C during `detbench run`: the run stops between cases, writes what it measured as a
//! complete JSON report marked partial, and exits 130.

use crate::common;

use common::cli::{bin, sigint, wait_within};
use std::sync::Mutex;
use std::time::Duration;

/// The signal tests time how fast a process exits: run them one at a time, so that they
/// do not starve each other of the CPU (2 cores on CI).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn interrupted_run_writes_a_partial_report() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("partial.json");
    let mut child = bin()
        .args([
            "run",
            "--op",
            "sum,dot",
            "--backend",
            "cpu",
            "--precision",
            "f64,f32,f16,bf16",
            "--size",
            "16777216",
            "--runs",
            "40",
            "--quiet",
            "--no-copy-baseline",
            "--json",
        ])
        .arg(&json)
        .spawn()
        .unwrap();
    // Long enough for the handler to be installed and a case or two to finish; the whole
    // matrix (56 cases of 2^24 elements, 41 runs each) takes far longer than this. It was
    // 2 * 10^6 elements and 5 runs until the host work got fast enough to finish those
    // within the wait.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(sigint(&child));
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["schema"], "detbench.report.v1");
    assert_eq!(report["partial"], true);
    let results = report["results"].as_array().unwrap();
    assert!(
        results.len() < 2 * 4 * 7,
        "the run should have stopped early"
    );
}

/// Sends SIGINT to `child` after `after`, then waits at most `limit` for it to exit.
/// Returns the exit code and how long the exit took after the signal.
fn interrupt_after(
    child: &mut std::process::Child,
    after: Duration,
    limit: Duration,
) -> (Option<i32>, Duration) {
    std::thread::sleep(after);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the command ended before it could be interrupted"
    );
    assert!(sigint(child));
    let sent = std::time::Instant::now();
    match wait_within(child, limit) {
        Some(s) => (s.code(), sent.elapsed()),
        None => panic!("no exit within {limit:?} of SIGINT"),
    }
}

/// Ctrl-C inside a long case (thousands of runs) stops it within about a second: the
/// finished case is in the partial report, the interrupted one is dropped.
#[test]
fn ctrl_c_inside_a_case_stops_within_a_second() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("partial.json");
    let mut child = bin()
        .args([
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--variant",
            "tree",
            "--precision",
            "f64",
            // The first case (16 elements) ends at once; the second would run for minutes.
            "--size",
            "16,2^20",
            "--runs",
            "100000",
            "--quiet",
            "--no-copy-baseline",
            "--json",
        ])
        .arg(&json)
        .spawn()
        .unwrap();
    let (code, took) = interrupt_after(&mut child, Duration::from_secs(4), Duration::from_secs(5));
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_millis(2000), "exit took {took:?}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["partial"], true);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "only the finished case: {results:?}");
    assert_eq!(results[0]["size"], 16);
    assert_eq!(results[0]["times_ms"].as_array().unwrap().len(), 100000);
}

/// Same on wgpu (lavapipe here): the stop is checked before every submission.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn ctrl_c_inside_a_wgpu_case_stops_within_a_second() {
    let _serial = serial();
    let out = bin().args(["devices", "--json"]).output().unwrap();
    let devices: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        devices["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["backend"] == "wgpu" && d["available"] == true),
        "no wgpu adapter, though the build found a Vulkan driver (build/probes.rs)"
    );
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("partial.json");
    let mut child = bin()
        .args([
            "run",
            "--op",
            "sum",
            "--backend",
            "wgpu",
            "--variant",
            "tree",
            "--precision",
            "f32",
            "--size",
            "2^16",
            "--runs",
            "100000",
            "--quiet",
            "--no-copy-baseline",
            "--json",
        ])
        .arg(&json)
        .spawn()
        .unwrap();
    let (code, took) = interrupt_after(&mut child, Duration::from_secs(5), Duration::from_secs(5));
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_millis(2000), "exit took {took:?}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["partial"], true);
}

/// `train` interrupted between steps exits 130 and keeps the replicas it finished.
#[test]
fn interrupted_train_keeps_finished_replicas() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("train.json");
    let mut child = bin()
        .args([
            "train",
            "--backend",
            "cpu",
            "--mode",
            "deterministic",
            "--steps",
            "3",
            "--replicas",
            "1000",
            "--json",
        ])
        .arg(&json)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (code, took) = interrupt_after(&mut child, Duration::from_secs(8), Duration::from_secs(5));
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_millis(2000), "exit took {took:?}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["partial"], true);
    let modes = report["modes"].as_array().unwrap();
    assert_eq!(modes.len(), 1);
    let replicas = modes[0]["replicas"].as_array().unwrap().len();
    assert!((1..1000).contains(&replicas), "{replicas} replicas kept");
}

/// Ctrl-C while host work that does not poll is under way (drawing inputs and the exact
/// reference of 2^25 elements, then slow runs): the watchdog writes the finished case and
/// exits 130 within about a second either way.
#[test]
fn ctrl_c_during_long_host_work_exits_within_a_second() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("partial.json");
    let mut child = bin()
        .args([
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--variant",
            "tree",
            "--precision",
            "f32",
            "--size",
            "16,2^25",
            "--runs",
            "100000",
            "--quiet",
            "--no-copy-baseline",
            "--json",
        ])
        .arg(&json)
        .spawn()
        .unwrap();
    let (code, took) = interrupt_after(&mut child, Duration::from_secs(3), Duration::from_secs(10));
    assert_eq!(code, Some(130));
    // The watchdog's grace (0.7 s) plus writing the checkpoint; the margin is for a
    // loaded 2-core runner (before the watchdog this took 17 s on the dev VM).
    assert!(took < Duration::from_millis(3000), "exit took {took:?}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["partial"], true);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "only the finished case: {results:?}");
    assert_eq!(results[0]["size"], 16);
}

/// A second Ctrl-C exits at once, whatever the command is doing.
#[test]
fn second_ctrl_c_exits_at_once() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("partial.json");
    let mut child = bin()
        .args([
            "train",
            "--backend",
            "cpu",
            "--steps",
            "3",
            "--replicas",
            "1000",
            "--json",
        ])
        .arg(&json)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    for _ in 0..2 {
        sigint(&child);
        std::thread::sleep(Duration::from_millis(20));
    }
    let Some(status) = wait_within(&mut child, Duration::from_secs(2)) else {
        panic!("no exit within 2 s of the second Ctrl-C");
    };
    assert_eq!(status.code(), Some(130));
}
