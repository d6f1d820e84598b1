//! The crate's module structure, read from the sources: no import cycle among the top-level
//! modules (unit tests included), and no kernel family that reaches into another.
//!
//! An edge `a -> b` is any `crate::b` path written in a file of module `a` (a `use`, or a
//! path in code). Families are the folders under `src/ops/`; the registry and the plug-in
//! interface (`ops/{mod,family,common}.rs`) are the `ops` node itself, which every family
//! uses and which lists every family, so edges between a family and `ops` are not family
//! edges.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source with line comments removed (doc comments mention paths that are not imports).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `<prefix>name` in `text`, as `name` and the path segment after it (if any).
fn paths<'a>(text: &'a str, prefix: &str) -> Vec<(&'a str, Option<&'a str>)> {
    let ident = |s: &'a str| {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        &s[..end]
    };
    text.match_indices(prefix)
        .filter(|(i, _)| {
            // Not the tail of a longer path (`my_crate::`).
            !text[..*i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let name = ident(rest);
            let next = rest[name.len()..].strip_prefix("::").map(ident);
            (name, next)
        })
        .collect()
}

struct Graph {
    top: BTreeMap<String, BTreeSet<String>>,
    families: BTreeMap<String, BTreeSet<String>>,
}

fn graph() -> Graph {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|p| p.strip_prefix(&root).expect("under src"))
        .map(|r| {
            let first = r.components().next().expect("component");
            let s = first.as_os_str().to_string_lossy();
            s.trim_end_matches(".rs").to_string()
        })
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let families: BTreeSet<String> = fs::read_dir(root.join("ops"))
        .expect("src/ops")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().expect("name").to_string_lossy().to_string())
        .collect();
    let mut g = Graph {
        top: BTreeMap::new(),
        families: BTreeMap::new(),
    };
    for f in &files {
        let rel: Vec<String> = f
            .strip_prefix(&root)
            .expect("under src")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .collect();
        let module = rel[0].trim_end_matches(".rs").to_string();
        if !modules.contains(&module) {
            continue;
        }
        let family = (module == "ops" && rel.len() > 2).then(|| rel[1].clone());
        let text = code(&fs::read_to_string(f).expect("read source"));
        for (name, next) in paths(&text, "crate::") {
            if name != module && modules.contains(name) {
                g.top.entry(module.clone()).or_default().insert(name.into());
            }
            if let (Some(fam), "ops", Some(other)) = (&family, name, next) {
                if families.contains(other) && other != fam {
                    g.families
                        .entry(fam.clone())
                        .or_default()
                        .insert(other.into());
                }
            }
        }
        if let Some(fam) = &family {
            for (other, _) in paths(&text, "super::super::") {
                if families.contains(other) && other != fam {
                    g.families
                        .entry(fam.clone())
                        .or_default()
                        .insert(other.into());
                }
            }
        }
    }
    g
}

/// The report code knows the bandwidth baseline's rows by `report::schema::BASELINE_OP`
/// alone: the one family that offers a baseline case must give it that op name.
#[test]
fn the_baseline_family_names_its_rows_as_reports_expect() {
    use detbench::numerics::Precision;
    use detbench::ops::{BaselineSpec, FAMILIES};
    let spec = BaselineSpec {
        size: 1024,
        precision: Precision::F32,
        seed: 7,
        runs: 3,
    };
    let ops: Vec<&str> = FAMILIES
        .iter()
        .filter_map(|f| f.baseline(spec))
        .map(|c| c.op.name())
        .collect();
    assert_eq!(ops, [detbench::report::schema::BASELINE_OP]);
}

/// A cycle of `g`, if it has one.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        u: &str,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(u.into(), 1);
        stack.push(u.into());
        for v in g.get(u).into_iter().flatten() {
            match state.get(v.as_str()) {
                Some(1) => {
                    let i = stack.iter().position(|s| s == v).expect("on the stack");
                    let mut c = stack[i..].to_vec();
                    c.push(v.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(g, v, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(u.into(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for u in g.keys() {
        if !state.contains_key(u.as_str()) {
            if let Some(c) = visit(g, u, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let g = graph();
    // The scan must see the edges it is about, or the test could not fail.
    assert!(g.top.get("runner").is_some_and(|s| s.contains("ops")));
    assert!(g.top.get("ops").is_some_and(|s| s.contains("backend")));
    if let Some(c) = find_cycle(&g.top) {
        panic!("import cycle among top-level modules: {}", c.join(" -> "));
    }
}

#[test]
fn backends_do_not_know_the_families() {
    let g = graph();
    let backend = g.top.get("backend").cloned().unwrap_or_default();
    assert!(
        !backend.contains("ops"),
        "src/backend imports crate::ops: backends provide devices, families provide kernels"
    );
}

#[test]
fn families_do_not_import_each_other() {
    let g = graph();
    let edges: Vec<String> = g
        .families
        .iter()
        .flat_map(|(a, bs)| bs.iter().map(move |b| format!("{a} -> {b}")))
        .collect();
    assert!(
        edges.is_empty(),
        "kernel families import each other (move the shared code to src/shared): {}",
        edges.join(", ")
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    assert_eq!(find_cycle(&g), None);
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

/// The import edges among the files of one folder whose module path is `module` (e.g.
/// `report` for src/report/): `files` maps each file's module name (its stem; `mod` for
/// mod.rs) to its code. File `a` imports sibling `b` when it names `super::b`,
/// `crate::<module>::b`, or an item that mod.rs re-exports from `b` (`pub use b::X` makes
/// `super::X` an edge to `b`). mod.rs itself is the folder's interface, which every file may
/// use and which lists every file, so edges to and from it are not counted.
fn folder_edges(
    module: &str,
    files: &BTreeMap<String, String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let siblings: BTreeSet<&str> = files
        .keys()
        .map(String::as_str)
        .filter(|n| *n != "mod")
        .collect();
    // Items mod.rs re-exports from a sibling: `pub use b::X;` and `pub use b::{X, Y};`.
    let mut reexport: BTreeMap<String, String> = BTreeMap::new();
    if let Some(m) = files.get("mod") {
        for stmt in m.split(';') {
            let s = stmt.trim();
            let Some(rest) = s
                .strip_prefix("pub use ")
                .or_else(|| s.strip_prefix("pub(crate) use "))
            else {
                continue;
            };
            let rest = rest.trim_start_matches("self::");
            let Some((from, items)) = rest.split_once("::") else {
                continue;
            };
            if !siblings.contains(from) {
                continue;
            }
            for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
                let name = item.split(" as ").last().unwrap_or("").trim();
                if !name.is_empty() && name != "*" {
                    reexport.insert(name.to_string(), from.to_string());
                }
            }
        }
    }
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let prefix = format!("crate::{module}::");
    for (name, text) in files {
        if name == "mod" {
            continue;
        }
        let mut named: Vec<&str> = paths(text, "super::").into_iter().map(|(n, _)| n).collect();
        named.extend(paths(text, &prefix).into_iter().map(|(n, _)| n));
        // `use super::{a::X, b}`: the names inside the braces.
        for (i, _) in text.match_indices("super::{") {
            let rest = &text[i + "super::{".len()..];
            let inner = &rest[..rest.find('}').unwrap_or(rest.len())];
            named.extend(
                inner
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or("")),
            );
        }
        for n in named {
            let target = if siblings.contains(n) {
                Some(n.to_string())
            } else {
                reexport.get(n).cloned()
            };
            if let Some(t) = target {
                if &t != name {
                    g.entry(name.clone()).or_default().insert(t);
                }
            }
        }
    }
    g
}

/// Every folder under src/ with its module path and the code of its .rs files.
fn folders() -> Vec<(String, BTreeMap<String, String>)> {
    let root = src();
    let mut dirs = vec![root.clone()];
    let mut out = Vec::new();
    while let Some(d) = dirs.pop() {
        let mut files = BTreeMap::new();
        for e in fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let stem = p.file_stem().expect("stem").to_string_lossy().to_string();
                files.insert(stem, code(&fs::read_to_string(&p).expect("read source")));
            }
        }
        if d == root {
            continue; // the top level is top_level_modules_have_no_import_cycle's
        }
        let module = d
            .strip_prefix(&root)
            .expect("under src")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .collect::<Vec<_>>()
            .join("::");
        out.push((module, files));
    }
    out
}

#[test]
fn files_of_one_folder_have_no_import_cycle() {
    let all = folders();
    // The scan must see edges, or the test could not fail: ops/reduce's backend files use
    // the family's mod.rs, and some folder has a file-to-file edge.
    assert!(all.iter().any(|(m, _)| m == "ops::reduce"));
    assert!(
        all.iter().any(|(m, f)| !folder_edges(m, f).is_empty()),
        "no file-to-file edge found in any folder: the scan is blind"
    );
    let cycles: Vec<String> = all
        .iter()
        .filter_map(|(m, f)| {
            find_cycle(&folder_edges(m, f))
                .map(|c| format!("src/{}/: {}", m.replace("::", "/"), c.join(" -> ")))
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between files of one folder:\n{}",
        cycles.join("\n")
    );
}

/// The report/ folder as it stood at f99225a, reduced to its imports: markdown used
/// headline's rows, headline used markdown's `device_label`, html used both and batch
/// used markdown, which called html's figure code. The folder check must find the circle.
#[test]
fn the_folder_check_finds_the_old_report_circle() {
    let files: BTreeMap<String, String> = [
        (
            "mod",
            "pub mod batch; pub mod headline; pub mod html; pub mod markdown;",
        ),
        (
            "markdown",
            "use super::headline::Headline; pub fn device_label() {}",
        ),
        ("headline", "use super::markdown::{device_label, md_text};"),
        ("html", "use super::{headline, markdown::cost_ratio};"),
        ("batch", "use crate::report::markdown::md_text;"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let g = folder_edges("report", &files);
    assert_eq!(
        g.get("html"),
        Some(&BTreeSet::from([
            "headline".to_string(),
            "markdown".to_string()
        ]))
    );
    assert_eq!(
        g.get("batch"),
        Some(&BTreeSet::from(["markdown".to_string()]))
    );
    assert!(find_cycle(&g).is_some(), "{g:?}");
    // Through a re-export of mod.rs, too.
    let files: BTreeMap<String, String> = [
        ("mod", "pub mod a; pub mod b; pub use a::Thing;"),
        ("a", "use super::b::other;"),
        ("b", "use super::Thing;"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert!(find_cycle(&folder_edges("x", &files)).is_some());
}

/// Source files a reader can hold in their head: at most 800 lines each, for the Rust
/// sources (src, tests, benches, build scripts) and the kernels (CUDA, WGSL, the emulator).
#[test]
fn no_source_file_is_over_800_lines() {
    const LIMIT: usize = 800;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exts = ["rs", "cu", "cuh", "wgsl", "cpp", "h"];
    let mut files = vec![root.join("build.rs")];
    let mut dirs: Vec<PathBuf> = ["src", "tests", "benches", "kernels", "build"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    while let Some(d) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| exts.iter().any(|e| x == *e)) {
                files.push(p);
            }
        }
    }
    assert!(
        files.len() > 50,
        "the scan found only {} files",
        files.len()
    );
    let mut long: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let n = fs::read_to_string(p).ok()?.lines().count();
            (n > LIMIT).then(|| {
                format!(
                    "{} ({n} lines)",
                    p.strip_prefix(&root).unwrap_or(p).display()
                )
            })
        })
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "files over {LIMIT} lines: {}",
        long.join(", ")
    );
}

/// The files that must work for any backend: the runner, train, check and build.rs (the
/// test-environment probes in build/probes.rs are not part of the crate's build).
fn backend_neutral_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("build.rs")];
    for name in ["runner", "train", "check"] {
        let file = src().join(format!("{name}.rs"));
        if file.is_file() {
            files.push(file);
        }
        let dir = src().join(name);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
    }
    // Unit tests hold report fixtures, whose rows name a backend as data.
    files.retain(|f| !f.ends_with("tests.rs"));
    files
}

/// Every mention of a backend in `code` (comments removed): `BackendKind::<Variant>`, a path
/// through `backend::<module>` or `ops::<module>` (what ops keep for one backend), a
/// `<Variant>Backend` type, or a string literal with the backend's name as a word.
/// `backends` is (name, module, variant) per backend.
fn backend_mentions(code: &str, backends: &[(String, String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, module, variant) in backends {
        for (what, hit) in [
            ("BackendKind::", variant.as_str()),
            ("backend::", module.as_str()),
            ("ops::", module.as_str()),
        ] {
            if paths(code, what).iter().any(|(n, _)| *n == hit) {
                found.push(format!("{what}{hit}"));
            }
        }
        let ty = format!("{variant}Backend");
        if paths(code, &ty).iter().any(|(n, _)| n.is_empty()) {
            found.push(ty);
        }
        // String literals, split into words at anything but letters, digits, `_` and `-`.
        let literal_word = code.split('"').skip(1).step_by(2).any(|lit| {
            lit.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .any(|w| w == name)
        });
        if literal_word {
            found.push(format!("\"{name}\""));
        }
    }
    found
}

/// Every registered backend as (name, module, variant), from the registry itself.
fn registered_backends() -> Vec<(String, String, String)> {
    detbench::backend::BackendKind::EVERY
        .iter()
        .map(|k| {
            (
                k.name().to_string(),
                k.name().replace('-', "_"),
                format!("{k:?}"),
            )
        })
        .collect()
}

/// Issue 25: the runner, train, check and build.rs name no backend, so a new backend is
/// its own files plus its registry line. What they need of a backend they ask of its
/// declared capabilities and of the `Backend` trait: a backend whose variants are its own
/// (the external adapter's modes) declares it (`Capabilities::own_variants`) and answers
/// `Backend::variants`, and one built from the flags reaches the runner as a `Given`
/// backend. No exception is left.
#[test]
fn runner_train_check_and_build_name_no_backend() {
    let backends = registered_backends();
    assert!(backends.len() >= 4, "the registry lists only {backends:?}");
    let files = backend_neutral_files();
    assert!(files.len() > 10, "the scan found only {files:?}");
    let mut bad = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read source");
        for m in backend_mentions(&code(&text), &backends) {
            bad.push(format!("{}: {m}", file.display()));
        }
    }
    assert!(bad.is_empty(), "backend-specific code: {}", bad.join("; "));
}

/// The scan finds each kind of mention it looks for, and not a name inside a longer word.
#[test]
fn the_backend_scan_finds_backend_branches() {
    let backends = registered_backends();
    for (text, want) in [
        ("if b.kind() == BackendKind::Cuda {", "BackendKind::Cuda"),
        ("let x = crate::backend::wgpu::discover();", "backend::wgpu"),
        (
            "crate::ops::external::reference_variant(op)",
            "ops::external",
        ),
        ("fn f(b: &CpuBackend) {}", "CpuBackend"),
        ("if device_type == \"cpu\" {", "\"cpu\""),
        ("list(\"kernels/cuda\")", "\"cuda\""),
        ("match s { \"cuda-emu\" => 1 }", "\"cuda-emu\""),
    ] {
        let got = backend_mentions(text, &backends);
        assert!(got.iter().any(|m| m == want), "{text}: found {got:?}");
    }
    for text in [
        "let cpu_ms = rec.cpu_ms_per_run;",
        "let s = \"cpu_ms_per_run\";",
        "backend.capabilities().orderings",
    ] {
        let got = backend_mentions(text, &backends);
        assert!(got.is_empty(), "{text}: found {got:?}");
    }
}
