//! `detbench report`: loads run and training reports, builds the one document, and hands it
//! to the renderer of each output asked for.

use super::document;
use super::inputs::Inputs;
use super::render::{emit, emit_each, Format};
use crate::error::DetError;
use std::path::{Path, PathBuf};

/// Where each format goes (`-`: stdout).
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// (format, destination) pairs: `--html`, `--md`, `--json`, `--format` (stdout).
    pub to: Vec<(Format, PathBuf)>,
    /// `--figures DIR`: every figure as SVG plus CSV.
    pub figures: Option<PathBuf>,
}

impl Outputs {
    /// The outputs named on the command line; with none, Markdown to stdout (every command
    /// prints its answer when not told where to write it).
    /// The inputs are checked with the outputs (no output may clobber an input; the
    /// figures folder holds only detbench's files unless `force`).
    pub fn new(
        inputs: &[PathBuf],
        html: Option<&Path>,
        md: Option<&Path>,
        json: Option<&Path>,
        format: Option<&str>,
        figures: Option<&Path>,
        force: bool,
    ) -> Result<Outputs, DetError> {
        let mut plan = crate::safety::Plan::new();
        for p in inputs {
            plan = plan.input("input", p);
        }
        plan.output("--html", html)
            .output("--md", md)
            .output("--json", json)
            .folder("--figures", figures)
            .force(force)
            .check()?;
        let format = format.map(str::parse::<Format>).transpose()?;
        let mut to: Vec<(Format, PathBuf)> = [
            (Format::Html, html),
            (Format::Markdown, md),
            (Format::Json, json),
        ]
        .into_iter()
        .filter_map(|(f, p)| Some((f, p?.to_path_buf())))
        .collect();
        if let Some(f) = format {
            if f == Format::Figures {
                return Err(DetError::input(
                    "report: the figures format writes a folder: use --figures DIR",
                ));
            }
            to.push((f, PathBuf::from("-")));
        }
        if to.is_empty() && figures.is_none() {
            to.push((Format::Markdown, PathBuf::from("-")));
        }
        if to.iter().filter(|(_, p)| p.as_os_str() == "-").count() > 1 {
            return Err(DetError::input(
                "report: only one output can be - (stdout) among --html, --md, --json and --format",
            ));
        }
        Ok(Outputs {
            to,
            figures: figures.map(Path::to_path_buf),
        })
    }
}

/// `detbench report`.
pub fn run(paths: &[PathBuf], out: &Outputs) -> Result<(), DetError> {
    let inputs = Inputs::load(paths)?;
    if let Some(dir) = &out.figures {
        let files = emit(Format::Figures, &document::figures_document(&inputs), dir)?;
        eprintln!(
            "detbench: wrote {} figure files to {}",
            files.len(),
            dir.display()
        );
    }
    if out.to.is_empty() {
        return Ok(());
    }
    emit_each(&document::report(&inputs), &out.to)
}
