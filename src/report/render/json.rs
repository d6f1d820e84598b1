//! JSON: the data a document was built from (its `data`), else the document itself.

use super::Renderer;
use crate::report::view::Document;

pub struct Json;

impl Renderer for Json {
    fn render(&self, doc: &Document) -> String {
        let v = match &doc.data {
            Some(d) => serde_json::to_string_pretty(d),
            None => serde_json::to_string_pretty(doc),
        };
        // Plain data (strings, numbers, maps with string keys) and every block kind
        // serialise (the test below renders each one).
        v.unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::view::{Block, Table};

    /// Every block kind a document holds renders as JSON (a list or name/value pairs once
    /// made `merge --format json` print an error object instead).
    #[test]
    fn every_block_kind_renders_as_json() {
        let mut d = Document::new("t");
        d.push(Block::Heading {
            level: 1,
            text: "h".into(),
        });
        d.push(Block::para("p"));
        d.push(Block::List(vec!["a".into(), "b".into()]));
        d.push(Block::Fields(vec![("k".into(), "v".into())]));
        let mut t = Table::new(&["c"]);
        t.rows.push(vec!["1".into()]);
        d.push(Block::Table(t));
        d.push(Block::Code {
            lang: "sh".into(),
            text: "x".into(),
        });
        let out = Json.render(&d);
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert!(v.get("error").is_none(), "{out}");
        let blocks = v["blocks"].as_array().expect("blocks");
        let kinds: Vec<&str> = blocks.iter().filter_map(|b| b["kind"].as_str()).collect();
        assert_eq!(kinds, ["heading", "para", "list", "fields", "table", "code"], "{out}");
        assert_eq!(blocks[2]["items"][1], "b");
        assert_eq!(blocks[3]["items"][0][1], "v");
    }
}
