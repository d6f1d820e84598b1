//! The format-neutral view: what a command has to say, as plain data.
//!
//! A command (`report`, `run`'s summary, `merge`, `tolerance`, `train`, `check`) builds one
//! [`Document`]: headings, paragraphs, tables, figures and provenance fields, plus the
//! structured data behind them. A renderer (`report::render`) turns it into console text,
//! Markdown, HTML, JSON, ... Nothing here knows about any output format, so a table is
//! built once and every format shows the same rows.

use serde::Serialize;

/// How a paragraph should stand out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    #[default]
    Plain,
    /// A caveat the reader should not miss (shown as a note).
    Note,
    /// A failed promise or violated bound (shown loudly).
    Alarm,
}

/// A plain table: headers and rows of text (unescaped; each renderer escapes for itself).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The column a reader looks for first (tolerance's tau), set in bold where the
    /// format has bold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emphasis: Option<usize>,
}

impl Table {
    /// A table with these headers and no rows.
    pub fn new<S: AsRef<str>>(headers: &[S]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.as_ref().to_string()).collect(),
            rows: Vec::new(),
            emphasis: None,
        }
    }

    /// True when every cell of column `c` is a number, a ratio ("3/5", "1.5x") or "-":
    /// renderers right-align such columns.
    pub fn numeric_column(&self, c: usize) -> bool {
        self.rows.iter().all(|r| {
            let t = r.get(c).map_or("-", |s| s.as_str()).trim_end_matches('x');
            t == "-"
                || t.split(['/', ' '])
                    .filter(|p| !p.is_empty())
                    .all(|p| p.parse::<f64>().is_ok())
        })
    }
}

/// A chart: its SVG, the CSV of its data, a caption, and a file-name stem.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    /// File name without extension, unique within a report (`report --figures`).
    pub slug: String,
    pub caption: String,
    pub svg: String,
    pub csv: String,
}

/// A sequence inside the internally tagged [`Block`], as `{"items": [...]}`: serde can
/// put the `kind` tag into a map, never into a bare sequence.
fn as_items<S: serde::Serializer, T: Serialize>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Items", 1)?;
    st.serialize_field("items", v)?;
    st.end()
}

/// One piece of a document, in reading order.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Block {
    /// A section heading; level 1 is the document's sections, 2 and 3 nest below.
    Heading {
        level: u8,
        text: String,
    },
    /// A paragraph; `lead` (if any) is set in bold before the text.
    Para {
        lead: Option<String>,
        text: String,
        tone: Tone,
    },
    Table(Table),
    /// A bulleted list (in JSON: `{"kind": "list", "items": [...]}`).
    List(#[serde(serialize_with = "as_items")] Vec<String>),
    /// Name/value pairs (provenance); values are shown verbatim (monospace). In JSON:
    /// `{"kind": "fields", "items": [[name, value], ...]}`.
    Fields(#[serde(serialize_with = "as_items")] Vec<(String, String)>),
    Figure(Figure),
    /// Preformatted text (code to paste), with its language for highlighting.
    Code {
        lang: String,
        text: String,
    },
    /// Long material the reader opens on demand (collapsed in HTML, shown in full elsewhere).
    Details {
        summary: String,
        blocks: Vec<Block>,
    },
}

impl Block {
    pub fn heading(level: u8, text: impl Into<String>) -> Block {
        Block::Heading {
            level,
            text: text.into(),
        }
    }
    pub fn para(text: impl Into<String>) -> Block {
        Block::Para {
            lead: None,
            text: text.into(),
            tone: Tone::Plain,
        }
    }
    /// A paragraph with a bold lead ("Worst error: ...").
    pub fn lead(lead: impl Into<String>, text: impl Into<String>) -> Block {
        Block::Para {
            lead: Some(lead.into()),
            text: text.into(),
            tone: Tone::Plain,
        }
    }
    /// A paragraph in the given tone.
    pub fn toned(tone: Tone, lead: Option<&str>, text: impl Into<String>) -> Block {
        Block::Para {
            lead: lead.map(String::from),
            text: text.into(),
            tone,
        }
    }
}

/// What a command has to say: a title, the blocks in reading order, and the data behind
/// them (what `--json` gives), if the command has any.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
    /// The structured data the blocks were built from (serialised by the JSON renderer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl Document {
    pub fn new(title: impl Into<String>) -> Document {
        Document {
            title: title.into(),
            ..Default::default()
        }
    }

    pub fn push(&mut self, b: Block) -> &mut Self {
        self.blocks.push(b);
        self
    }

    /// Every figure in the document, nested ones included, in reading order.
    pub fn figures(&self) -> Vec<&Figure> {
        fn walk<'a>(bs: &'a [Block], out: &mut Vec<&'a Figure>) {
            for b in bs {
                match b {
                    Block::Figure(f) => out.push(f),
                    Block::Details { blocks, .. } => walk(blocks, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.blocks, &mut out);
        out
    }
}
