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
        // Serialising plain data (strings, numbers, maps with string keys) cannot fail.
        v.unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n"
    }
}
