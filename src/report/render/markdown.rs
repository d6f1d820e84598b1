//! Markdown (GitHub flavour). Every text taken from a report is made inert: raw HTML and
//! link brackets are escaped, a `|` cannot break a table, a newline cannot start a block.

use super::Renderer;
use crate::report::view::{Block, Document, Table};

pub struct Markdown;

impl Renderer for Markdown {
    fn render(&self, doc: &Document) -> String {
        let mut s = String::new();
        if !doc.title.is_empty() {
            s.push_str(&format!("# {}\n\n", text(&doc.title)));
        }
        blocks(&doc.blocks, &mut s);
        s
    }
}

fn blocks(bs: &[Block], s: &mut String) {
    for b in bs {
        match b {
            Block::Heading { level, text: t } => {
                let hashes = "#".repeat((*level as usize + 1).min(6));
                s.push_str(&format!("{hashes} {}\n\n", text(t)));
            }
            Block::Para { lead, text: t, .. } => match lead {
                Some(l) if t.is_empty() => s.push_str(&format!("**{}:**\n\n", text(l))),
                Some(l) => s.push_str(&format!("**{}:** {}\n\n", text(l), prose(t))),
                None => s.push_str(&format!("{}\n\n", prose(t))),
            },
            Block::Table(t) => {
                s.push_str(&table(t));
                s.push('\n');
            }
            Block::List(items) => {
                // An item's further lines are hard line breaks inside the item.
                for i in items {
                    let lines: Vec<String> = i.lines().map(prose).collect();
                    s.push_str(&format!("- {}\n", lines.join("  \n  ")));
                }
                s.push('\n');
            }
            Block::Fields(f) => {
                for (k, v) in f {
                    s.push_str(&format!("- **{}**: {}\n", text(k), code(v)));
                }
                s.push('\n');
            }
            Block::Figure(f) => {
                s.push_str(&format!("*Figure ({}.svg):* {}\n\n", f.slug, text(&f.caption)));
            }
            Block::Code { lang, text: t } => {
                s.push_str(&format!("```{lang}\n{}\n```\n\n", t.trim_end()));
            }
            Block::Details { summary, blocks: inner } => {
                s.push_str(&format!("**{}**\n\n", text(summary)));
                blocks(inner, s);
            }
        }
    }
}

/// Report text (device names, messages, paths: anything read from a report) made inert
/// for Markdown: raw HTML and link brackets are escaped, so a `<script>` in a device name
/// shows as text; `|` cannot break a table and a newline cannot start a new block.
pub fn text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '|' => o.push_str("\\|"),
            '[' => o.push_str("\\["),
            ']' => o.push_str("\\]"),
            '\\' => o.push_str("\\\\"),
            '\n' | '\r' => o.push(' '),
            _ => o.push(c),
        }
    }
    o
}

/// [`text`] for a paragraph or list item, outside any table: a `|` is kept as it is
/// (it can break only a table row), so formulas such as |x| read as written.
pub fn prose(s: &str) -> String {
    text(s).replace("\\|", "|")
}

/// Report text as an inline code span: HTML is not interpreted inside one, so only the
/// span's own delimiters and line breaks need care.
pub fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'").replace(['\n', '\r'], " "))
}

/// A table as a Markdown pipe table, every cell escaped, numeric columns right-aligned.
pub fn table(t: &Table) -> String {
    // Numbers right-aligned, as on the console and in HTML.
    let align: Vec<&str> = (0..t.headers.len())
        .map(|c| if t.numeric_column(c) { "--:" } else { "---" })
        .collect();
    // The emphasised column in bold, header and cells.
    let cells = |r: &[String]| -> String {
        r.iter()
            .enumerate()
            .map(|(i, c)| match t.emphasis {
                Some(e) if e == i && !c.is_empty() => format!("**{}**", text(c)),
                _ => text(c),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let mut s = format!("| {} |\n|{}|\n", cells(&t.headers), align.join("|"));
    for r in &t.rows {
        s.push_str(&format!("| {} |\n", cells(r)));
    }
    s
}
