//! The figures as files: every figure as `SLUG.svg` plus the CSV of its data `SLUG.csv`,
//! and an `index.md` with the captions (`report --figures DIR`).

use super::Renderer;
use crate::report::view::Document;

pub struct Figures;

impl Renderer for Figures {
    fn render(&self, doc: &Document) -> String {
        index(&names(doc), doc)
    }

    fn files(&self, doc: &Document) -> Option<Vec<(String, String)>> {
        let names = names(doc);
        let mut out = Vec::new();
        for (f, slug) in doc.figures().into_iter().zip(&names) {
            out.push((format!("{slug}.svg"), f.svg.clone()));
            out.push((format!("{slug}.csv"), f.csv.clone()));
        }
        out.push(("index.md".into(), index(&names, doc)));
        Some(out)
    }
}

/// Each figure's file stem, made unique with a numeric suffix.
fn names(doc: &Document) -> Vec<String> {
    let mut used: Vec<String> = Vec::new();
    for f in doc.figures() {
        let base = if f.slug.is_empty() {
            "figure".to_string()
        } else {
            f.slug.clone()
        };
        let mut slug = base.clone();
        let mut k = 2;
        while used.contains(&slug) {
            slug = format!("{base}-{k}");
            k += 1;
        }
        used.push(slug);
    }
    used
}

fn index(names: &[String], doc: &Document) -> String {
    let mut s = String::from("# detbench figures\n\n");
    for (f, slug) in doc.figures().into_iter().zip(names) {
        s.push_str(&format!(
            "- `{slug}.svg` (data: `{slug}.csv`): {}\n",
            f.caption
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::view::{Block, Figure};

    #[test]
    fn figures_are_files_with_unique_names() {
        let f = Figure {
            slug: "spread-wgpu-llvmpipe".into(),
            caption: "cap".into(),
            svg: "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".into(),
            csv: "a,b\n".into(),
        };
        let mut doc = Document::new("t");
        doc.push(Block::Figure(f.clone()));
        doc.push(Block::Details {
            summary: "more".into(),
            blocks: vec![Block::Figure(f)],
        });
        let files = Figures.files(&doc).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "spread-wgpu-llvmpipe.svg",
                "spread-wgpu-llvmpipe.csv",
                "spread-wgpu-llvmpipe-2.svg",
                "spread-wgpu-llvmpipe-2.csv",
                "index.md"
            ]
        );
    }
}
