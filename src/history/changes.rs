//! `history changes`: result keys whose fingerprint changed from one stored run to the next,
//! each with the report that changed it and the environment difference (per device, from
//! the store's environment columns). Only variants that promise identical bits are
//! compared: an atomic variant's fingerprint may differ on every run, and `history
//! nondeterministic` counts those. A deterministic variant whose fingerprint changed while
//! nothing in its environment did is a nondeterminism bug, and is flagged as one.

use super::short;
use crate::error::DetError;
use crate::report::view::{Block, Document, Table, Tone};
use crate::store::env::EnvChange;
use crate::store::read::Filter;
use crate::store::{Store, StoredRow};
use serde::Serialize;
use std::collections::BTreeMap;

/// One stored run of a key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRef {
    pub report: String,
    pub started_at: String,
    pub fingerprint: String,
}

/// A fingerprint that changed between two consecutive stored runs of one key.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    pub key: String,
    pub device: String,
    pub case: String,
    pub before: RunRef,
    pub after: RunRef,
    /// The environment columns that differ (empty: nothing changed but the bits).
    pub environment: Vec<EnvChange>,
    /// True when the environment did not change: a deterministic kernel gave other bits
    /// for the same input in the same environment.
    pub nondeterminism_bug: bool,
}

fn run_ref(r: &StoredRow) -> RunRef {
    RunRef {
        report: r.report.clone(),
        started_at: r.started_at.clone(),
        fingerprint: r.fingerprint.clone().unwrap_or_default(),
    }
}

/// Every fingerprint change of the deterministic rows in `rows` (in run order).
pub fn changes(rows: &[StoredRow]) -> (Vec<Change>, usize) {
    let mut by_key: BTreeMap<&str, Vec<&StoredRow>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.deterministic_variant && r.status == "ok" && r.fingerprint.is_some())
    {
        by_key.entry(&r.key).or_default().push(r);
    }
    let keys = by_key.len();
    let mut out = Vec::new();
    for runs in by_key.values() {
        for w in runs.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.fingerprint != b.fingerprint {
                let environment = a.env.diff(&b.env);
                out.push(Change {
                    key: b.key.clone(),
                    device: b.device.clone(),
                    case: b.case.clone(),
                    before: run_ref(a),
                    after: run_ref(b),
                    nondeterminism_bug: environment.is_empty(),
                    environment,
                });
            }
        }
    }
    (out, keys)
}

pub fn build(store: &mut Store, device: Option<&str>) -> Result<Document, DetError> {
    let rows = store.rows(&Filter {
        device: device.map(String::from),
        key: None,
    })?;
    let reports: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.report.as_str()).collect();
    let (found, keys) = changes(&rows);
    let mut doc = Document::new(format!("History: fingerprint changes ({})", store.url()));
    let bugs = found.iter().filter(|c| c.nondeterminism_bug).count();
    let changed_keys: std::collections::BTreeSet<&str> =
        found.iter().map(|c| c.key.as_str()).collect();
    let answer = if found.is_empty() {
        format!(
            "no fingerprint changed: {keys} result keys of deterministic variants over {} stored reports",
            reports.len()
        )
    } else {
        format!(
            "{} of {keys} result keys of deterministic variants changed their fingerprint ({} changes over {} stored reports){}",
            changed_keys.len(),
            found.len(),
            reports.len(),
            if bugs > 0 {
                format!("; {bugs} with no environment change")
            } else {
                String::new()
            }
        )
    };
    doc.push(Block::lead("Answer", answer));
    if bugs > 0 {
        doc.push(Block::toned(
            Tone::Alarm,
            Some("Nondeterminism bug"),
            format!(
                "{bugs} fingerprint change(s) of deterministic variants came with no change of driver, toolkit, Mesa, LLVM, detbench commit, kernels, compile options or OS: the same kernel gave other bits"
            ),
        ));
    }
    // Grouped by the report that changed them and what changed in its environment.
    let mut groups: BTreeMap<(String, String, String), Vec<&Change>> = BTreeMap::new();
    for c in &found {
        let env = crate::store::env::describe(&c.environment);
        groups
            .entry((c.after.started_at.clone(), c.after.report.clone(), env))
            .or_default()
            .push(c);
    }
    for ((started, report, env), cs) in &groups {
        doc.push(Block::heading(
            2,
            format!("report {} (started {started}): {env}", short(report)),
        ));
        let mut t = Table::new(&["result key", "before (report: fingerprint)", "after"]);
        for c in cs {
            t.rows.push(vec![
                c.key.clone(),
                format!(
                    "{}: {}",
                    short(&c.before.report),
                    short(&c.before.fingerprint)
                ),
                short(&c.after.fingerprint).to_string(),
            ]);
        }
        doc.push(Block::Table(t));
    }
    doc.data = Some(serde_json::json!({
        "device": device,
        "reports": reports.len(),
        "keys_compared": keys,
        "changes": found,
    }));
    Ok(doc)
}
