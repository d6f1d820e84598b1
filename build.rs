//! Records the git commit and rustc version for report provenance.
#[path = "build/probes.rs"]
mod probes;

use probes::run;

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
    probes::all();
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
}
