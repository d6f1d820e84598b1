//! A self-contained HTML page: no scripts, no fonts or styles from the network; figures are
//! inline SVG; every text taken from a report is escaped.

use super::Renderer;
use crate::report::view::{Block, Document, Table, Tone};

pub use crate::report::plots::escape;

pub struct Html;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:1280px;color:#222;padding:0 16px}\
h1{font-size:26px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}\
table{border-collapse:collapse;font-size:13px;margin:10px 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}td.good{background:#e7f6ea}td.bad{background:#fbe9e7}\
figure{display:inline-block;margin:8px;vertical-align:top;max-width:780px}figure svg{max-width:100%;height:auto}figcaption{font-size:12px;color:#555;max-width:760px}\
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}pre{background:#f6f6f6;padding:8px;overflow-x:auto}\
details{margin:10px 0}summary{cursor:pointer;font-weight:600}.note{color:#7a4b00}.alarm{color:#b00020;font-weight:600}";

impl Renderer for Html {
    fn render(&self, doc: &Document) -> String {
        let mut s = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        s.push_str(&format!("<title>{}</title><style>", escape(&doc.title)));
        s.push_str(STYLE);
        s.push_str("</style></head><body>");
        if !doc.title.is_empty() {
            s.push_str(&format!("<h1>{}</h1>", escape(&doc.title)));
        }
        blocks(&doc.blocks, &mut s);
        s.push_str("</body></html>\n");
        s
    }
}

fn blocks(bs: &[Block], s: &mut String) {
    for b in bs {
        match b {
            Block::Heading { level, text } => {
                let h = (*level as usize + 1).min(6);
                s.push_str(&format!("<h{h}>{}</h{h}>", escape(text)));
            }
            Block::Para { lead, text, tone } => {
                let class = match tone {
                    Tone::Plain => "",
                    Tone::Note => " class=\"note\"",
                    Tone::Alarm => " class=\"alarm\"",
                };
                let lead = lead
                    .as_ref()
                    .map(|l| format!("<b>{}:</b> ", escape(l)))
                    .unwrap_or_default();
                s.push_str(&format!("<p{class}>{lead}{}</p>", escape(text)));
            }
            Block::Table(t) => s.push_str(&table(t)),
            Block::List(items) => {
                s.push_str("<ul>");
                for i in items {
                    let lines: Vec<String> = i.lines().map(escape).collect();
                    s.push_str(&format!("<li>{}</li>", lines.join("<br>")));
                }
                s.push_str("</ul>");
            }
            Block::Fields(f) => {
                s.push_str("<table>");
                for (k, v) in f {
                    s.push_str(&format!(
                        "<tr><th>{}</th><td class=\"mono\">{}</td></tr>",
                        escape(k),
                        escape(v)
                    ));
                }
                s.push_str("</table>");
            }
            Block::Figure(f) => s.push_str(&format!(
                "<figure>{}<figcaption>{}</figcaption></figure>",
                f.svg,
                escape(&f.caption)
            )),
            Block::Code { lang, text } => s.push_str(&format!(
                "<pre><code class=\"language-{}\">{}</code></pre>",
                escape(lang),
                escape(text)
            )),
            Block::Details { summary, blocks: inner } => {
                s.push_str(&format!("<details><summary>{}</summary>", escape(summary)));
                blocks(inner, s);
                s.push_str("</details>");
            }
        }
    }
}

/// A table; numeric columns right-aligned, "yes" cells green and "no (..)"/"partly" red.
pub fn table(t: &Table) -> String {
    let mut s = String::from("<table><thead><tr>");
    // The emphasised column in bold, header and cells.
    let strong = |i: usize, x: String| match t.emphasis {
        Some(e) if e == i => format!("<strong>{x}</strong>"),
        _ => x,
    };
    for (i, h) in t.headers.iter().enumerate() {
        s.push_str(&format!("<th>{}</th>", strong(i, escape(h))));
    }
    s.push_str("</tr></thead><tbody>");
    let numeric: Vec<bool> = (0..t.headers.len()).map(|c| t.numeric_column(c)).collect();
    for r in &t.rows {
        s.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = match c.as_str() {
                x if x.starts_with("yes") => " class=\"good\"",
                x if x.starts_with("no (") || x.starts_with("partly") => " class=\"bad\"",
                _ if numeric.get(i).copied().unwrap_or(false) => " class=\"num\"",
                _ => "",
            };
            s.push_str(&format!("<td{class}>{}</td>", strong(i, escape(c))));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}
