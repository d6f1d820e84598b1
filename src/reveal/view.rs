//! A reveal as a [`Document`] for the shared renderers, and a tree as an SVG dendrogram.

use super::{RevealReport, Tree};
use crate::report::view::{Block, Document, Figure, Table, Tone};
use std::fmt::Write;

/// The document `reveal` prints: the verdict, the facts of the probe, and each distinct
/// tree as text, outline and figure.
pub fn document(r: &RevealReport) -> Document {
    let mut doc = Document::new(format!(
        "Accumulation order of {} {} on {}",
        r.op, r.variant, r.device
    ));
    let tone = if r.order_fixed && r.documented.as_ref().is_none_or(|d| d.matches) || r.order_free {
        Tone::Plain
    } else {
        Tone::Alarm
    };
    doc.push(Block::toned(tone, Some("Verdict"), r.verdict.clone()));
    let mut fields = vec![
        ("backend".into(), format!("{} ({})", r.backend, r.device)),
        (
            "format".into(),
            format!("{} inputs, {} accumulator", r.precision, r.accumulator),
        ),
        ("n".into(), r.n.to_string()),
        ("workgroup size".into(), r.workgroup_size.to_string()),
        (
            "crafted inputs".into(),
            format!("+-{:e} at two inputs, {:e} elsewhere", r.big, r.unit),
        ),
        (
            "runs / launches".into(),
            format!("{} / {}", r.runs, r.queries),
        ),
    ];
    if let Some(f) = &r.fusion {
        fields.push(("fused multiply-add".into(), f.clone()));
    }
    doc.push(Block::Fields(fields));
    if let Some(d) = &r.documented {
        let text = match &d.first_difference {
            None => format!(
                "matches the documented order ({}, {})",
                d.source, d.fingerprint
            ),
            Some(x) => format!(
                "differs from the documented order ({}, {}); first differing subtree {}",
                d.source,
                d.fingerprint,
                super::tree::Difference {
                    leaves: x.leaves.clone(),
                    expected: x.expected.clone(),
                    revealed: x.revealed.clone(),
                }
            ),
        };
        doc.push(Block::lead("Documented order", text));
    }
    if let Some(m) = &r.unfit_reason {
        doc.push(Block::toned(
            Tone::Note,
            Some("Runs that fit no tree"),
            format!("{} ({m})", r.unfit_runs),
        ));
    }
    if !r.trees.is_empty() {
        let mut t = Table::new(&["fingerprint", "runs", "depth", "tree"]);
        for s in &r.trees {
            t.rows.push(vec![
                s.fingerprint.clone(),
                s.runs.to_string(),
                s.depth.to_string(),
                super::tree::shorten(&s.text),
            ]);
        }
        doc.push(Block::Table(t));
    }
    for (k, s) in r.trees.iter().enumerate() {
        let Some(tree) = Tree::from_json(&s.tree).map(|t| t.with_fused(&s.fused)) else {
            continue;
        };
        doc.push(Block::Details {
            summary: format!("Tree {} ({}), as an outline", k + 1, s.fingerprint),
            blocks: vec![Block::Code {
                lang: "text".into(),
                text: tree.outline(),
            }],
        });
        doc.push(Block::Figure(Figure {
            slug: format!("reveal-tree-{}", k + 1),
            caption: format!(
                "Tree {} ({}): inputs along the bottom, each addition at the height of its \
                 depth above them",
                k + 1,
                s.fingerprint
            ),
            svg: svg(&tree),
            csv: csv(&tree),
        }));
    }
    doc.data = serde_json::to_value(r).ok();
    doc
}

/// The tree as a dendrogram: leaves in canonical order along the bottom, each node drawn at
/// its height (its depth above the leaves), joined to its children by elbows.
pub fn svg(t: &Tree) -> String {
    let leaves = t.leaves().len().max(1);
    let height = t.depth().max(1);
    let dx = (900.0 / leaves as f64).clamp(2.0, 24.0);
    let dy = (360.0 / height as f64).clamp(3.0, 40.0);
    let (w, h) = (dx * leaves as f64 + 40.0, dy * height as f64 + 60.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif" font-size="10">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let mut next = 0usize;
    let base = h - 30.0;
    // Returns the node's x; draws its lines and leaf labels.
    fn draw(t: &Tree, next: &mut usize, dx: f64, dy: f64, base: f64, s: &mut String) -> (f64, f64) {
        match t {
            Tree::Leaf(i) => {
                let x = 20.0 + dx * (*next as f64 + 0.5);
                *next += 1;
                if dx >= 10.0 {
                    let _ = writeln!(
                        s,
                        r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{i}</text>"#,
                        base + 14.0
                    );
                }
                (x, base)
            }
            Tree::Node(_) | Tree::Fma(..) => {
                let c = t.children();
                let y = base - dy * t.depth() as f64;
                let kids: Vec<(f64, f64)> =
                    c.iter().map(|c| draw(c, next, dx, dy, base, s)).collect();
                let colour = match t {
                    Tree::Fma(..) => "#1f5fbf",
                    _ if c.len() > 2 => "#b5651d",
                    _ => "#333",
                };
                for (cx, cy) in &kids {
                    let _ = writeln!(
                        s,
                        r#"<path d="M{cx:.1},{cy:.1} V{y:.1}" stroke="{colour}" fill="none"/>"#
                    );
                }
                let (lo, hi) = (kids[0].0, kids[kids.len() - 1].0);
                let _ = writeln!(
                    s,
                    r#"<path d="M{lo:.1},{y:.1} H{hi:.1}" stroke="{colour}" fill="none"/>"#
                );
                ((lo + hi) / 2.0, y)
            }
        }
    }
    draw(t, &mut next, dx, dy, base, &mut s);
    let _ = writeln!(
        s,
        r#"<text x="20" y="{:.1}">inputs in canonical order; brown: a group whose order the inputs could not tell apart; blue: a fused multiply-add (its leaf's product not rounded)</text>"#,
        h - 4.0
    );
    s.push_str("</svg>\n");
    s
}

/// The figure's data: one row per node, its depth and the inputs it combines.
fn csv(t: &Tree) -> String {
    let mut out = String::from("depth,children,inputs,kind\n");
    fn walk(t: &Tree, out: &mut String) {
        let kind = match t {
            Tree::Leaf(_) => return,
            Tree::Fma(i, _) => format!("fma of x{i}"),
            Tree::Node(_) => "add".into(),
        };
        let c = t.children();
        let _ = writeln!(
            out,
            "{},{},\"{}\",{kind}",
            t.depth(),
            c.len(),
            super::tree::ranges(&t.leaves())
        );
        c.iter().for_each(|c| walk(c, out));
    }
    walk(t, &mut out);
    out
}
