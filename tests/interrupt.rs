//! Ctrl-C during `detbench run`: the run stops between cases, writes what it measured as a
//! complete JSON report marked partial, and exits 130.

use std::process::Command;
use std::time::Duration;

#[test]
fn interrupted_run_writes_a_partial_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("partial.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_detbench"))
        .args([
            "run",
            "--op",
            "sum,dot",
            "--backend",
            "cpu",
            "--precision",
            "f64,f32,f16,bf16",
            "--size",
            "2000000",
            "--runs",
            "5",
            "--quiet",
            "--no-copy-baseline",
            "--json",
        ])
        .arg(&json)
        .spawn()
        .unwrap();
    // Long enough for the handler to be installed and a case or two to finish; the whole
    // matrix takes far longer than this.
    std::thread::sleep(Duration::from_millis(2500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
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
