//! Shared fixtures for the tests that make reports with the binary and feed them back to
//! it (`check`, `tolerance`, `merge`): one temporary folder per test binary, reports read
//! and written through the library, `check` invoked the same way everywhere.

use detbench::report::Report;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A temporary folder that lives as long as the test binary, shared by its tests.
pub fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

/// Runs `cmd` and fails the test, showing its stderr, unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run detbench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn load(p: &Path) -> Report {
    detbench::report::load_report(p).expect("load")
}

/// Writes `r` as `name` in [`dir`].
pub fn write(name: &str, r: &Report) -> PathBuf {
    let p = dir().join(name);
    detbench::report::write_report(&p, r).expect("write");
    p
}

/// `detbench check --baseline BASE --current CUR EXTRA...` through `cmd` (the binary, with
/// whatever environment the caller set).
pub fn check_with(mut cmd: Command, base: &Path, cur: &Path, extra: &[&str]) -> Output {
    cmd.arg("check")
        .arg("--baseline")
        .arg(base)
        .arg("--current")
        .arg(cur)
        .args(extra)
        .output()
        .expect("run check")
}

/// stdout then stderr, for failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What a merge of shards must reproduce of an unsharded run: every row's result key, and
/// the fingerprint of each row of a deterministic variant.
#[allow(clippy::type_complexity)]
pub fn keys_and_prints(
    r: &Report,
) -> (
    std::collections::BTreeSet<detbench::report::key::ResultKey>,
    std::collections::BTreeMap<detbench::report::key::ResultKey, Option<String>>,
) {
    use detbench::report::key::ResultKey;
    let keys = r.results.iter().map(|x| ResultKey::of(x, &r.env)).collect();
    let prints = r
        .results
        .iter()
        .filter(|x| x.deterministic_variant)
        .map(|x| (ResultKey::of(x, &r.env), x.fingerprint.clone()))
        .collect();
    (keys, prints)
}
