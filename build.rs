//! Records the git commit and rustc version for report provenance.
use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether a file whose name starts with `prefix` (e.g. `libcuda.so`) is in a folder the
/// dynamic loader searches.
fn find_lib(prefix: &str) -> bool {
    let mut dirs: Vec<String> = std::env::var("LD_LIBRARY_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(String::from)
        .collect();
    dirs.extend(
        [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/cuda/lib64",
            "/usr/lib/wsl/lib",
        ]
        .map(String::from),
    );
    dirs.iter().any(|d| {
        std::fs::read_dir(d).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    })
}

/// Tests that need a CUDA driver (`cfg(detbench_libcuda)`) or NVRTC (`cfg(detbench_nvrtc)`)
/// are compiled as `#[ignore]`d where the library is missing, so a skip shows as `ignored`,
/// never as `ok`. DETBENCH_REQUIRE_CUDA=1 (scripts/gpu-check.sh) and DETBENCH_REQUIRE_NVRTC=1
/// (.ci/run) turn them on regardless: then a missing device or library fails them.
fn cuda_cfgs() {
    println!("cargo:rustc-check-cfg=cfg(detbench_libcuda)");
    println!("cargo:rustc-check-cfg=cfg(detbench_nvrtc)");
    for v in [
        "DETBENCH_REQUIRE_CUDA",
        "DETBENCH_REQUIRE_NVRTC",
        "DETBENCH_NVRTC_LIB",
        "LD_LIBRARY_PATH",
    ] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let on = |v: &str| std::env::var(v).is_ok_and(|s| s == "1");
    let require_cuda = on("DETBENCH_REQUIRE_CUDA");
    if require_cuda || find_lib("libcuda.so") {
        println!("cargo:rustc-cfg=detbench_libcuda");
    }
    let nvrtc_file =
        std::env::var_os("DETBENCH_NVRTC_LIB").is_some_and(|p| std::path::Path::new(&p).is_file());
    if require_cuda || on("DETBENCH_REQUIRE_NVRTC") || nvrtc_file || find_lib("libnvrtc.so") {
        println!("cargo:rustc-cfg=detbench_nvrtc");
    }
}

/// tests/external.rs runs the PyTorch adapter only where torch is importable by
/// $DETBENCH_PYTHON (or python3); elsewhere the test is compiled as ignored.
fn torch_cfg() {
    println!("cargo:rustc-check-cfg=cfg(detbench_torch)");
    println!("cargo:rerun-if-env-changed=DETBENCH_PYTHON");
    let py = std::env::var("DETBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    if run(&py, &["-c", "import torch"]).is_some() {
        println!("cargo:rustc-cfg=detbench_torch");
    }
}

fn main() {
    cuda_cfgs();
    torch_cfg();
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
