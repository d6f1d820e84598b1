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

/// tests/it/external.rs runs the PyTorch adapter only where torch is importable by
/// $DETBENCH_PYTHON (or python3); elsewhere the test is compiled as ignored.
fn torch_cfg() {
    println!("cargo:rustc-check-cfg=cfg(detbench_torch)");
    println!("cargo:rerun-if-env-changed=DETBENCH_PYTHON");
    let py = std::env::var("DETBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    if run(&py, &["-c", "import torch"]).is_some() {
        println!("cargo:rustc-cfg=detbench_torch");
    }
}

/// Writes `$OUT_DIR/kernel_sources.rs`, which src/kernels.rs includes: every kernel source
/// in kernels/cuda (`*.cu`, the prelude `common.cuh` first) and kernels/wgsl (`*.wgsl`, the
/// prelude `common.wgsl` first), embedded with `include_str!` by repository path, and each
/// WGSL template as a constant `wgsl::<STEM>`. A new family's kernels are embedded (and
/// hashed into reports) by being in those folders: no list to edit.
fn kernel_sources() {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let list = |dir: &str, exts: &[&str], prelude: &str| -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| exts.iter().any(|x| n.ends_with(x)) && n != prelude)
            .collect();
        files.sort();
        files.insert(0, prelude.to_string());
        files.iter().map(|n| format!("{dir}/{n}")).collect()
    };
    let embed =
        |path: &str| format!("include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{path}\"))");
    let table = |name: &str, paths: &[String]| {
        let rows: String = paths
            .iter()
            .map(|p| format!("    (\"{p}\", {}),\n", embed(p)))
            .collect();
        format!("/// Sources by repository path (the prelude first).\npub const {name}: &[(&str, &str)] = &[\n{rows}];\n")
    };
    let cuda = list("kernels/cuda", &[".cu"], "common.cuh");
    let wgsl = list("kernels/wgsl", &[".wgsl"], "common.wgsl");
    let mut out = table("CUDA", &cuda) + &table("WGSL", &wgsl);
    out += "/// Each family's WGSL template by file stem.\npub mod wgsl {\n";
    for p in &wgsl[1..] {
        let stem = p.rsplit('/').next().unwrap_or(p).trim_end_matches(".wgsl");
        out += &format!(
            "    pub const {}: &str = {};\n",
            stem.to_uppercase(),
            embed(p)
        );
    }
    out += "}\n";
    let dest = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("out dir"));
    std::fs::write(dest.join("kernel_sources.rs"), out).expect("write kernel_sources.rs");
}

fn main() {
    cuda_cfgs();
    torch_cfg();
    kernel_sources();
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
    // tests/it/tolerance.rs compiles the LaTeX output with pdflatex. It runs where pdflatex is
    // on PATH and always in CI, where a missing pdflatex must fail the test, not skip it;
    // elsewhere it is reported as ignored.
    println!("cargo:rustc-check-cfg=cfg(detbench_pdflatex)");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rerun-if-env-changed=PATH");
    if std::env::var_os("CI").is_some() || run("pdflatex", &["--version"]).is_some() {
        println!("cargo:rustc-cfg=detbench_pdflatex");
    }
}
