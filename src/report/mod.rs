//! Reports: the JSON schema, reading and atomic writing; the format-neutral view
//! (`view`), the summary data (`summary`), the tables, figures and documents built from
//! them, and one renderer per output format (`render`).
//!
//! Data flows one way: records -> summary / tables / figures -> document (`view`) ->
//! renderer. `command` runs `detbench report`.

pub mod batch;
pub mod command;
pub mod document;
pub mod figures;
pub mod headline;
pub mod inputs;
pub mod key;
pub mod plots;
pub mod rcp;
pub mod render;
pub mod schema;
pub mod summary;
pub mod tables;
pub mod train;
pub mod view;

pub use schema::{Env, OutputBlocks, Report, ResultRecord, Status, SCHEMA};

use crate::error::DetError;
use std::path::Path;

/// Writes `contents` to `path` atomically: a temporary file in the same folder, flushed
/// and synced, then renamed over the target. A reader never sees half a file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), DetError> {
    let io = |e: std::io::Error| DetError::io(format!("cannot write {}", path.display()), e);
    crate::safety::guard_write(path)?;
    if std::fs::metadata(path).is_ok_and(|m| crate::safety::is_char_device(&m)) {
        // /dev/null and the like: written in place, never replaced by a rename.
        return std::fs::write(path, contents).map_err(io);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(DetError::input(format!(
            "cannot write {}: folder {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    // A new file beside the target, renamed over it: registered for removal at a signal
    // exit, and recorded so that a command that fails later removes it again.
    crate::safety::write_new_then_rename(path, contents).map_err(io)
}

/// Writes a report as pretty JSON, atomically.
pub fn write_report(path: &Path, report: &Report) -> Result<(), DetError> {
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| DetError::encode("cannot serialise report", e))?;
    write_atomic(path, &json)
}

/// Reads a run report; a missing, truncated, unreadable or wrong-schema file is bad input.
pub fn load_report(path: &Path) -> Result<Report, DetError> {
    let bytes = crate::safety::read_input(path)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        DetError::input(format!(
            "{} is not valid JSON (truncated or corrupt?): {e}",
            path.display()
        ))
    })?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => {}
        Some(other) => {
            return Err(DetError::input(format!(
                "{} has schema '{other}', expected '{SCHEMA}'",
                path.display()
            )))
        }
        None => {
            return Err(DetError::input(format!(
                "{} has no 'schema' field: not a detbench report",
                path.display()
            )))
        }
    }
    serde_json::from_value(value)
        .map_err(|e| DetError::input(format!("{} does not match {SCHEMA}: {e}", path.display())))
}
