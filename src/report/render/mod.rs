//! One renderer per output format, behind one trait.
//!
//! Every command builds a [`Document`] (`report::view`) and hands it to a [`Renderer`]; the
//! [`Format`] enum names them. A new format is one file here plus one line in the
//! [`formats!`] list below (which declares its module, its `Format` variant, its name on
//! the command line and its renderer).

use super::view::Document;
use crate::error::DetError;
use std::path::{Path, PathBuf};

/// Turns a document into one output format.
pub trait Renderer {
    /// The document as one text (for a multi-file format: its index).
    fn render(&self, doc: &Document) -> String;

    /// For a format that writes a folder (figures): every file, as (name, contents).
    /// `None` for a single-text format.
    fn files(&self, _doc: &Document) -> Option<Vec<(String, String)>> {
        None
    }
}

/// Declares the formats: `Variant => module::Type, "name";`, one line each.
macro_rules! formats {
    ($($variant:ident => $module:ident :: $ty:ident, $name:literal;)*) => {
        $(pub mod $module;)*

        /// Every output format (hyperfine's ExportType).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Format {
            $($variant,)*
        }

        impl Format {
            /// Every format, in declaration order.
            pub const ALL: &'static [Format] = &[$(Format::$variant,)*];

            /// The format's name on the command line (`report --format NAME`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Format::$variant => $name,)*
                }
            }

            /// The format's renderer.
            pub fn renderer(self) -> Box<dyn Renderer> {
                match self {
                    $(Format::$variant => Box::new($module::$ty),)*
                }
            }
        }
    };
}

formats! {
    Console => console::Console, "text";
    Markdown => markdown::Markdown, "md";
    Html => html::Html, "html";
    Json => json::Json, "json";
    Latex => latex::Latex, "latex";
    Figures => figures::Figures, "figures";
}

impl std::str::FromStr for Format {
    type Err = DetError;

    fn from_str(s: &str) -> Result<Format, DetError> {
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                DetError::input(format!(
                    "unknown format '{s}' (one of: {})",
                    names.join(", ")
                ))
            })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Renders `doc` and writes it to `dest` (`-`: stdout; a folder for a multi-file format),
/// atomically. Returns the files written (empty for stdout), so the caller can say so.
pub fn emit(format: Format, doc: &Document, dest: &Path) -> Result<Vec<PathBuf>, DetError> {
    let r = format.renderer();
    if let Some(files) = r.files(doc) {
        if dest.as_os_str() == "-" {
            return Err(DetError::input(format!(
                "the {format} format writes a folder, not stdout"
            )));
        }
        // Created by the first file; each file written new and renamed into place (a link
        // in the folder is replaced, never followed), no name twice.
        let mut out = crate::safety::OutDir::new(&format!("--{format}"), dest);
        let mut written = Vec::new();
        for (name, text) in files {
            written.push(out.write(&name, text.as_bytes())?);
        }
        return Ok(written);
    }
    let text = r.render(doc);
    if dest.as_os_str() == "-" {
        crate::safety::out(&text)?;
        Ok(Vec::new())
    } else {
        super::write_atomic(dest, text.as_bytes())?;
        Ok(vec![dest.to_path_buf()])
    }
}

/// Renders `doc` into each (format, destination) pair, as [`emit`] does, and says on stderr
/// which files it wrote. At most one destination may be `-` (stdout): two formats on one
/// stream could not be told apart.
pub fn emit_each(doc: &Document, to: &[(Format, PathBuf)]) -> Result<(), DetError> {
    let stdout: Vec<String> = to
        .iter()
        .filter(|(_, p)| p.as_os_str() == "-")
        .map(|(f, _)| f.to_string())
        .collect();
    if stdout.len() > 1 {
        return Err(DetError::input(format!(
            "only one output can be - (stdout), got {}",
            stdout.join(" and ")
        )));
    }
    for (format, dest) in to {
        for p in emit(*format, doc, dest)? {
            eprintln!("detbench: wrote {}", p.display());
        }
    }
    Ok(())
}

/// A `--format NAME` for a command's stdout: any format that prints one text (the figures
/// format writes a folder and is refused, with the command's name).
pub fn stdout_format(command: &str, name: &str) -> Result<Format, DetError> {
    let f: Format = name.parse()?;
    if f.renderer().files(&Document::default()).is_some() {
        return Err(DetError::input(format!(
            "{command}: the {f} format writes a folder, not stdout"
        )));
    }
    Ok(f)
}
