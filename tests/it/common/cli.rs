//! Shared plumbing for the tests that drive the detbench binary: spawning it, waiting for it
//! with a bound, Ctrl-C, and the one-line bad-input contract.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The detbench binary built for this test run.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_detbench"))
}

/// Waits at most `limit` for `child` to exit. On time-out the child is killed and reaped
/// and `None` is returned, so that a hung command fails its test instead of hanging CI.
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd` (stdin closed, output captured), failing the test if it takes longer than
/// `limit`.
pub fn bounded(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start detbench");
    assert!(
        wait_within(&mut child, limit).is_some(),
        "{cmd:?} did not finish within {limit:?}"
    );
    child.wait_with_output().unwrap()
}

/// A small run (one cpu case of 64 elements) that writes its report to `json`.
pub fn small_run(json: &Path) -> Command {
    let mut cmd = bin();
    cmd.args([
        "run",
        "--op",
        "sum",
        "--backend",
        "cpu",
        "--variant",
        "tree",
    ])
    .args([
        "--precision",
        "f32",
        "--size",
        "64",
        "--runs",
        "2",
        "--quiet",
    ])
    .args(["--no-copy-baseline", "--json"])
    .arg(json);
    cmd
}

/// Writes a small valid run report to `json` ([`small_run`]).
pub fn small_report(json: &Path) {
    let out = bounded(small_run(json), Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every process whose pid is a line of the file `pids` (grandchildren an adapter started
/// and recorded) is gone within 3 s; at least `at_least` were recorded.
pub fn assert_processes_gone(pids: &Path, at_least: usize) {
    let text = std::fs::read_to_string(pids).unwrap_or_default();
    let pids: Vec<&str> = text.lines().collect();
    assert!(pids.len() >= at_least, "grandchildren started: {pids:?}");
    let deadline = Instant::now() + Duration::from_secs(3);
    for pid in pids {
        while Path::new(&format!("/proc/{pid}")).exists() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "grandchild {pid} survived: {stat}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Sends SIGINT (what Ctrl-C sends) to `child`; true when `kill` succeeded.
pub fn sigint(child: &Child) -> bool {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success()
}

/// The bad-input contract: exit 2, exactly one line on stderr mentioning `needle`
/// (case-insensitive), no panic text.
pub fn check_bad_input(args: &[&str], out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: expected one line, got {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{args:?}: {err}"
    );
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "{args:?}: '{err}' should mention '{needle}'"
    );
}

/// Writes `values` as a 1-D f32 .npy file.
pub fn npy_f32(path: &Path, values: &[f32]) {
    detbench::inputs::write_npy(
        path,
        detbench::numerics::Precision::F32,
        &values.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        &[values.len() as u64],
    )
    .unwrap();
}
