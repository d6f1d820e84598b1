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
