//! Records the git commit and rustc version for report provenance.
use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = run("git", &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = run("git", &["status", "--porcelain", "--untracked-files=no"])
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    let commit = if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = run(&rustc, &["-V"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DETBENCH_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=DETBENCH_RUSTC={version}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    println!("cargo:rerun-if-changed=kernels");
    // tests/tolerance.rs compiles the LaTeX output with pdflatex. It runs where pdflatex is
    // on PATH and always in CI, where a missing pdflatex must fail the test, not skip it;
    // elsewhere it is reported as ignored.
    println!("cargo:rustc-check-cfg=cfg(detbench_pdflatex)");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rerun-if-env-changed=PATH");
    if std::env::var_os("CI").is_some() || run("pdflatex", &["--version"]).is_some() {
        println!("cargo:rustc-cfg=detbench_pdflatex");
    }
}
