//! The WGSL preprocessor (`detbench::ops::wgsl`): blocks kept by flags, and every mistake that
//! would silently drop kernel code (a flag no file declares, on either side; an unbalanced
//! block; an unknown directive) is an error naming the file and line.

use detbench::error::OpError;
use detbench::ops::wgsl::{specialise, specialise_family, Part};

fn err(parts: &[Part], flags: &[&str]) -> String {
    match specialise("h", parts, flags) {
        Err(OpError::Failed(m)) => m,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn keeps_only_enabled_blocks() {
    let t =
        "//#flags X Y\na\n//#if X\nb\n//#if !Y\nc\n//#else\nd\n//#endif\n//#else\ne\n//#endif\nf\n";
    let parts = [("t.wgsl", t)];
    assert_eq!(specialise("h", &parts, &["X"]).unwrap(), "h\na\nb\nc\nf\n");
    assert_eq!(
        specialise("h", &parts, &["X", "Y"]).unwrap(),
        "h\na\nb\nd\nf\n"
    );
    assert_eq!(specialise("h", &parts, &[]).unwrap(), "h\na\ne\nf\n");
}

#[test]
fn a_flag_declared_in_one_file_serves_the_others() {
    let parts = [
        ("p.wgsl", "//#flags P\n"),
        ("t.wgsl", "//#if P\nx\n//#endif\n"),
    ];
    assert_eq!(specialise("h", &parts, &["P"]).unwrap(), "h\nx\n");
}

#[test]
fn an_undeclared_flag_in_a_file_is_an_error_naming_file_and_line() {
    let parts = [
        ("a.wgsl", "//#flags V_TREE\n//#if V_TREE\n//#endif\n"),
        ("b.wgsl", "x\ny\n//#if V_TRE\nz\n//#endif\n"),
    ];
    let m = err(&parts, &["V_TREE"]);
    assert!(m.starts_with("b.wgsl:3: "), "{m}");
    assert!(m.contains("V_TRE "), "{m}");
    // The same with the flag negated.
    let parts = [("c.wgsl", "//#flags A\n//#if !B\n//#endif\n")];
    assert!(err(&parts, &[]).starts_with("c.wgsl:2: "));
}

#[test]
fn an_undeclared_flag_from_the_host_is_an_error_naming_it() {
    let parts = [("a.wgsl", "//#flags V_TREE\n//#if V_TREE\nx\n//#endif\n")];
    let m = err(&parts, &["V_TRE"]);
    assert!(m.contains("V_TRE ") && m.contains("a.wgsl"), "{m}");
    // A real family: a misspelt flag is refused, not ignored.
    match specialise_family("alias C = f32;\n", &["reduce"], &["V_TREEE"]) {
        Err(OpError::Failed(m)) => assert!(m.contains("V_TREEE"), "{m}"),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn unbalanced_blocks_are_errors_naming_file_and_line() {
    let d = "//#flags A\n";
    // An //#if left open at the end of its file (even if the next file closes it).
    let parts = [
        ("a.wgsl", "//#flags A\nx\n//#if A\ny\n"),
        ("b.wgsl", "//#endif\n"),
    ];
    assert!(err(&parts, &["A"]).starts_with("a.wgsl:3: "));
    let cases: [(&str, &str); 4] = [
        ("x\n//#endif\n", "t.wgsl:3: "),
        ("x\n//#else\n", "t.wgsl:3: "),
        ("//#if A\n//#else\n//#else\n//#endif\n", "t.wgsl:4: "),
        ("//#if A\n//#if !A\n//#endif\n", "t.wgsl:2: "),
    ];
    for (body, at) in cases {
        let text = format!("{d}{body}");
        let m = err(&[("t.wgsl", &text)], &[]);
        assert!(m.starts_with(at), "{body:?}: {m}");
    }
}

#[test]
fn an_unknown_directive_is_an_error() {
    for body in ["//#endfi\n", "//#ifdef A\n", "//#if A B\n", "//#if\n"] {
        let text = format!("//#flags A\n{body}");
        let m = err(&[("t.wgsl", &text)], &["A"]);
        assert!(m.starts_with("t.wgsl:2: "), "{body:?}: {m}");
    }
}

/// Every embedded template is balanced and declares what it tests: specialised with no flag
/// and with every flag it declares, each family's files give a module without directives.
#[test]
fn every_embedded_template_is_well_formed() {
    let families: [&[&str]; 6] = [
        &["reduce", "reduce_tree", "reduce_fixed", "reduce_repro"],
        &[
            "scatter",
            "scatter_sort",
            "scatter_sort64",
            "scatter_radix",
            "scatter_repro",
        ],
        &["conv"],
        &["matmul"],
        &["rows", "copy"],
        &["optim"],
    ];
    let mut covered = vec!["kernels/wgsl/common.wgsl".to_string()];
    for stems in families {
        let mut all: Vec<&str> = Vec::new();
        for s in stems {
            let (path, text) = detbench::ops::wgsl::template(s).unwrap();
            covered.push(path.to_string());
            for l in text.lines().chain(detbench::kernels::WGSL_PRELUDE.lines()) {
                if let Some(rest) = l.trim().strip_prefix("//#flags") {
                    all.extend(rest.split_whitespace());
                }
            }
        }
        for flags in [&[][..], &all[..]] {
            let src = specialise_family("", stems, flags).unwrap();
            assert!(!src.lines().any(|l| l.trim_start().starts_with("//#")));
        }
    }
    // No template is left out of this test.
    for (path, _) in detbench::kernels::WGSL {
        assert!(covered.iter().any(|c| c == path), "{path} is not checked");
    }
}
