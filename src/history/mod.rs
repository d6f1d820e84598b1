//! `detbench history KIND URL`: the questions a fleet asks of its results store, each a
//! [`Document`] (plain text by default, `--json` gives its data, `detbench.history.v1`).
//!
//! - `nondeterministic`: op/variant groups whose runs differed, per device, with counts;
//! - `changes`: result keys whose fingerprint changed between consecutive stored runs, with
//!   the report and the environment difference; a change with none is flagged;
//! - `first-change --key KEY`: the first stored run where the key's fingerprint or timing
//!   changed (timing by a two-sided Mann-Whitney test and a size threshold);
//! - `cost`: the cost of determinism per device over time.

pub mod changes;
pub mod cost;
pub mod first_change;
pub mod nondet;

pub use changes::changes as changes_of;

use crate::error::DetError;
use crate::report::render::{self, Format};
use crate::report::view::Document;
use crate::store::Store;
use std::path::Path;

/// Schema tag of `history --json`.
pub const SCHEMA: &str = "detbench.history.v1";

/// What `history` was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Nondeterministic,
    Changes,
    FirstChange,
    Cost,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Nondeterministic,
        Kind::Changes,
        Kind::FirstChange,
        Kind::Cost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Nondeterministic => "nondeterministic",
            Kind::Changes => "changes",
            Kind::FirstChange => "first-change",
            Kind::Cost => "cost",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = DetError;
    fn from_str(s: &str) -> Result<Kind, DetError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                DetError::input(format!(
                    "unknown history kind '{s}' (one of: {})",
                    Kind::ALL.map(|k| k.name()).join(", ")
                ))
            })
    }
}

/// The options every kind shares (each reads the ones it needs).
#[derive(Clone, Debug)]
pub struct Options {
    pub kind: Kind,
    /// Only this device (its stored identity, or a unique part of it).
    pub device: Option<String>,
    /// The result key of `first-change` (its text, or a unique part of it).
    pub key: Option<String>,
    /// `first-change`: the smallest relative change of the median time that counts.
    pub threshold: f64,
    /// `first-change`: the significance level of the timing test.
    pub alpha: f64,
}

/// Checks the options before any store is opened.
pub fn validate(o: &Options) -> Result<(), DetError> {
    if !(o.threshold >= 0.0 && o.threshold.is_finite()) {
        return Err(DetError::input(format!(
            "--threshold {} must be a finite number >= 0",
            o.threshold
        )));
    }
    if !(o.alpha > 0.0 && o.alpha < 1.0) {
        return Err(DetError::input(format!(
            "--alpha {} must be between 0 and 1",
            o.alpha
        )));
    }
    if o.key.is_some() && o.kind != Kind::FirstChange {
        return Err(DetError::input("--key is for `history first-change`"));
    }
    if o.kind == Kind::FirstChange && o.key.is_none() {
        return Err(DetError::input(
            "history first-change needs --key KEY (a result key, as `history changes` prints it)",
        ));
    }
    Ok(())
}

/// Answers the question; the document to print.
pub fn build(store: &mut Store, o: &Options) -> Result<Document, DetError> {
    validate(o)?;
    let device = match &o.device {
        Some(d) => Some(store.resolve_device(d)?),
        None => None,
    };
    let mut doc = match o.kind {
        Kind::Nondeterministic => nondet::build(store, device.as_deref())?,
        Kind::Changes => changes::build(store, device.as_deref())?,
        Kind::FirstChange => {
            let key = o.key.as_deref().unwrap_or_default();
            first_change::build(store, key, device.as_deref(), o.threshold, o.alpha)?
        }
        Kind::Cost => cost::build(store, device.as_deref())?,
    };
    if let Some(serde_json::Value::Object(m)) = doc.data.as_mut() {
        m.insert("schema".into(), SCHEMA.into());
        m.insert("kind".into(), o.kind.name().into());
        m.insert("store".into(), store.url().into());
    }
    Ok(doc)
}

/// Prints the answer: plain text (or `--format`) on stdout, and the data as JSON to
/// `json` (`-`: stdout, instead of the text).
pub fn emit(doc: &Document, json: Option<&Path>, format: Option<Format>) -> Result<(), DetError> {
    let to_stdout_json = json.is_some_and(|p| p.as_os_str() == "-");
    if let Some(p) = json {
        render::emit(Format::Json, doc, p)?;
        if !to_stdout_json {
            eprintln!("detbench: wrote {}", p.display());
        }
    }
    if !to_stdout_json {
        render::emit(format.unwrap_or(Format::Console), doc, Path::new("-"))?;
    }
    Ok(())
}

/// The first 12 digits of a report's SHA-256: enough to name it among thousands.
pub(crate) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
