//! LaTeX for a paper: sections, booktabs tables (numbers in scientific notation set as
//! math), lists and verbatim code. Figures are referenced by file name (`--figures`).

use super::Renderer;
use crate::report::view::{Block, Document, Table};

pub struct Latex;

impl Renderer for Latex {
    fn render(&self, doc: &Document) -> String {
        let mut s = String::new();
        if !doc.title.is_empty() {
            s.push_str(&format!("% {}\n", doc.title.replace('\n', " ")));
        }
        blocks(&doc.blocks, &mut s);
        s
    }
}

fn blocks(bs: &[Block], s: &mut String) {
    for b in bs {
        match b {
            Block::Heading { level, text } => {
                let cmd = match level {
                    0 | 1 => "section",
                    2 => "subsection",
                    _ => "paragraph",
                };
                s.push_str(&format!("\\{cmd}*{{{}}}\n\n", escape(text)));
            }
            Block::Para { lead, text, .. } => {
                if let Some(l) = lead {
                    s.push_str(&format!("\\textbf{{{}:}} ", escape(l)));
                }
                s.push_str(&format!("{}\n\n", escape(text)));
            }
            Block::Table(t) => s.push_str(&table(t)),
            Block::List(items) => {
                s.push_str("\\begin{itemize}\n");
                for i in items {
                    let lines: Vec<String> = i.lines().map(escape).collect();
                    s.push_str(&format!("  \\item {}\n", lines.join("\\newline ")));
                }
                s.push_str("\\end{itemize}\n\n");
            }
            Block::Fields(f) => {
                s.push_str("\\begin{description}\n");
                for (k, v) in f {
                    s.push_str(&format!(
                        "  \\item[{}] \\texttt{{{}}}\n",
                        escape(k),
                        escape(v)
                    ));
                }
                s.push_str("\\end{description}\n\n");
            }
            Block::Figure(f) => {
                s.push_str(&format!(
                    "% figure {}.svg: {}\n\n",
                    f.slug,
                    f.caption.replace('\n', " ")
                ));
            }
            Block::Code { text, .. } => {
                s.push_str(&format!(
                    "\\begin{{verbatim}}\n{}\n\\end{{verbatim}}\n\n",
                    text.trim_end()
                ));
            }
            Block::Details {
                summary,
                blocks: inner,
            } => {
                s.push_str(&format!("\\paragraph*{{{}}}\n\n", escape(summary)));
                blocks(inner, s);
            }
        }
    }
}

/// Text made safe for LaTeX: every special character escaped.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                o.push('\\');
                o.push(c);
            }
            '~' => o.push_str("\\textasciitilde{}"),
            '^' => o.push_str("\\textasciicircum{}"),
            '<' => o.push_str("\\textless{}"),
            '>' => o.push_str("\\textgreater{}"),
            '\n' | '\r' => o.push(' '),
            _ => o.push(c),
        }
    }
    o
}

/// A cell: a number in scientific notation ("1.23e-8") as math, anything else escaped.
fn cell(c: &str) -> String {
    if let Some((m, e)) = c.split_once('e') {
        if m.parse::<f64>().is_ok() && e.parse::<i32>().is_ok() {
            let e: i32 = e.parse().unwrap_or(0);
            return if e == 0 {
                format!("${m}$")
            } else {
                format!("${m}\\times10^{{{e}}}$")
            };
        }
    }
    escape(c)
}

/// A booktabs table; numeric columns right-aligned.
pub fn table(t: &Table) -> String {
    let cols: String = (0..t.headers.len())
        .map(|c| if t.numeric_column(c) { 'r' } else { 'l' })
        .collect();
    let mut s = format!("\\begin{{tabular}}{{{cols}}}\n\\toprule\n");
    let hs: Vec<String> = t.headers.iter().map(|h| escape(h)).collect();
    s.push_str(&format!("{} \\\\\n\\midrule\n", hs.join(" & ")));
    for r in &t.rows {
        let cs: Vec<String> = r.iter().map(|c| cell(c)).collect();
        s.push_str(&format!("{} \\\\\n", cs.join(" & ")));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_math_and_text_is_escaped() {
        let mut t = Table::new(&["op", "tau"]);
        t.rows.push(vec!["sum_f32 & 50%".into(), "1.58e-5".into()]);
        let s = table(&t);
        assert!(s.contains("sum\\_f32 \\& 50\\% & $1.58\\times10^{-5}$ \\\\"), "{s}");
        assert!(s.contains("{lr}"), "{s}");
    }
}
