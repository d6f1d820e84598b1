//! Plain text for a terminal: headings as `==` lines, tables as aligned columns (numbers
//! right-aligned), figures left out (they are in the HTML and `--figures`).

use super::Renderer;
use crate::report::view::{Block, Document, Table, Tone};

pub struct Console;

impl Renderer for Console {
    fn render(&self, doc: &Document) -> String {
        let mut s = String::new();
        if !doc.title.is_empty() {
            s.push_str(&format!("{}\n", doc.title));
        }
        blocks(&doc.blocks, &mut s);
        s
    }
}

fn blocks(bs: &[Block], s: &mut String) {
    for b in bs {
        match b {
            Block::Heading { level, text } => match level {
                0 | 1 => s.push_str(&format!("\n== {text}\n")),
                2 => s.push_str(&format!("\n-- {text}\n")),
                _ => s.push_str(&format!("{text}:\n")),
            },
            Block::Para { lead, text, tone } => {
                let flag = if *tone == Tone::Alarm { "!! " } else { "" };
                match lead {
                    Some(l) if text.is_empty() => s.push_str(&format!("{flag}{l}:\n")),
                    Some(l) => s.push_str(&format!("{flag}{l}: {text}\n")),
                    None => s.push_str(&format!("{flag}{text}\n")),
                }
            }
            Block::Table(t) => s.push_str(&columns(t, "  ")),
            Block::List(items) => {
                // An item's further lines are indented under its text.
                for i in items {
                    s.push_str(&format!("  - {}\n", i.replace('\n', "\n    ")));
                }
            }
            Block::Fields(f) => {
                for (k, v) in f {
                    s.push_str(&format!("  {k}: {v}\n"));
                }
            }
            Block::Figure(_) => {}
            Block::Code { text, .. } => {
                for l in text.lines() {
                    s.push_str(&format!("    {l}\n"));
                }
            }
            Block::Details { summary, blocks: inner } => {
                s.push_str(&format!("\n{summary}:\n"));
                blocks(inner, s);
            }
        }
    }
}

/// Lays out a table as text columns: text left-aligned, numbers right-aligned, each line
/// starting with `indent`.
pub fn columns(t: &Table, indent: &str) -> String {
    let n = t.headers.len();
    let cell = |r: &Vec<String>, c: usize| r.get(c).cloned().unwrap_or_default();
    let numeric: Vec<bool> = (0..n).map(|c| t.numeric_column(c)).collect();
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            t.rows
                .iter()
                .map(|r| cell(r, c).chars().count())
                .chain([t.headers[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, x)| {
                let w = widths[c];
                if numeric[c] {
                    format!("{x:>w$}")
                } else {
                    format!("{x:<w$}")
                }
            })
            .collect();
        format!("{indent}{}\n", parts.join("  ").trim_end())
    };
    let mut s = line(t.headers.clone());
    for r in &t.rows {
        s.push_str(&line((0..n).map(|c| cell(r, c)).collect()));
    }
    s
}
