//! Records the git commit and rustc version for report provenance.
#[path = "build/probes.rs"]
mod probes;

use probes::run;

/// Writes `$OUT_DIR/kernel_folders.rs`, which src/kernels.rs includes: for every folder
/// `kernels/<dir>` (one per backend's kernel language; build.rs names none), a table `<DIR>`
/// of its source files, embedded with `include_str!` by repository path with the prelude
/// (`common.*`) first, a module `<dir>` with each other source as a constant named after
/// its file stem, and `FOLDERS`, every table by folder. A family's kernels are embedded
/// (and hashed into reports) by being in such a folder, and a backend's by its folder:
/// no list to edit. Subfolders (a backend's own tools) are not embedded.
fn kernel_sources() {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let sorted = |dir: &std::path::Path, want_dirs: bool| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .filter(|e| e.path().is_dir() == want_dirs)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && !n.ends_with(".md"))
            .collect();
        names.sort();
        names
    };
    let embed =
        |path: &str| format!("include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{path}\"))");
    let ident = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    let mut out = String::new();
    let mut folders = String::new();
    for dir in sorted(&root.join("kernels"), true) {
        let mut files = sorted(&root.join("kernels").join(&dir), false);
        // The prelude first.
        files.sort_by_key(|n| !n.starts_with("common."));
        let path = |n: &str| format!("kernels/{dir}/{n}");
        let table = ident(&dir).to_uppercase();
        let rows: String = files
            .iter()
            .map(|n| format!("    (\"{}\", {}),\n", path(n), embed(&path(n))))
            .collect();
        out += &format!("/// Sources of kernels/{dir} by repository path (the prelude first).\npub const {table}: &[(&str, &str)] = &[\n{rows}];\n");
        out += &format!(
            "/// Each source of kernels/{dir} but the prelude, by file stem.\npub mod {} {{\n",
            ident(&dir)
        );
        for n in files.iter().filter(|n| !n.starts_with("common.")) {
            let stem = n.split('.').next().unwrap_or(n);
            out += &format!(
                "    pub const {}: &str = {};\n",
                ident(stem).to_uppercase(),
                embed(&path(n))
            );
        }
        out += "}\n";
        folders += &format!("    (\"kernels/{dir}\", {table}),\n");
    }
    out += &format!("/// Every kernel folder's table, by folder.\npub const FOLDERS: &[(&str, &[(&str, &str)])] = &[\n{folders}];\n");
    let dest = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("out dir"));
    std::fs::write(dest.join("kernel_folders.rs"), out).expect("write kernel_folders.rs");
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
