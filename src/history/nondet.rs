//! `history nondeterministic`: per device, the ops and variants whose runs gave differing
//! bits (more than one distinct output within a stored run), with how many stored runs
//! were nondeterministic out of how many were measured. Variants that promise identical
//! bits come first: for them any count above zero is a bug.

use super::short;
use crate::error::DetError;
use crate::report::view::{Block, Document, Table, Tone};
use crate::store::read::Filter;
use crate::store::Store;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One op/variant group on one device.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    pub device: String,
    pub op: String,
    pub variant: String,
    pub precision: String,
    pub ordering: String,
    pub deterministic_variant: bool,
    /// Stored result rows measured (ok) in this group: one per case and stored run.
    pub rows: usize,
    /// Of those, rows whose runs differed.
    pub nondeterministic_rows: usize,
    /// Stored reports with a measured row of this group, and those with a differing one.
    pub reports: usize,
    pub nondeterministic_reports: usize,
    /// The most distinct outputs one row had.
    pub max_distinct_outputs: i64,
    /// The newest report with a differing row.
    pub last_seen: Option<String>,
}

pub fn build(store: &mut Store, device: Option<&str>) -> Result<Document, DetError> {
    let rows = store.rows(&Filter {
        device: device.map(String::from),
        key: None,
    })?;
    type Acc = (Group, BTreeSet<String>, BTreeSet<String>);
    let mut groups: BTreeMap<(String, String, String, String, String), Acc> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.status == "ok") {
        let differed = r.bitwise_reproducible == Some(false) || r.distinct_outputs.unwrap_or(1) > 1;
        let k = (
            r.device.clone(),
            r.op.clone(),
            r.variant.clone(),
            r.precision.clone(),
            r.ordering.clone(),
        );
        let (g, all, bad) = groups.entry(k).or_insert_with(|| {
            (
                Group {
                    device: r.device.clone(),
                    op: r.op.clone(),
                    variant: r.variant.clone(),
                    precision: r.precision.clone(),
                    ordering: r.ordering.clone(),
                    deterministic_variant: r.deterministic_variant,
                    rows: 0,
                    nondeterministic_rows: 0,
                    reports: 0,
                    nondeterministic_reports: 0,
                    max_distinct_outputs: 0,
                    last_seen: None,
                },
                BTreeSet::new(),
                BTreeSet::new(),
            )
        });
        g.rows += 1;
        all.insert(r.report.clone());
        if differed {
            g.nondeterministic_rows += 1;
            bad.insert(r.report.clone());
            g.last_seen = Some(r.report.clone());
        }
        g.max_distinct_outputs = g.max_distinct_outputs.max(r.distinct_outputs.unwrap_or(1));
    }
    let total = groups.len();
    let mut found: Vec<Group> = groups
        .into_values()
        .filter(|(g, ..)| g.nondeterministic_rows > 0)
        .map(|(mut g, all, bad)| {
            g.reports = all.len();
            g.nondeterministic_reports = bad.len();
            g
        })
        .collect();
    // Promised-deterministic groups first (bugs), then by device and op.
    found.sort_by_key(|g| {
        (
            !g.deterministic_variant,
            g.device.clone(),
            g.op.clone(),
            g.variant.clone(),
        )
    });
    let mut doc = Document::new(format!(
        "History: nondeterministic ops and variants ({})",
        store.url()
    ));
    let bugs = found.iter().filter(|g| g.deterministic_variant).count();
    doc.push(Block::lead(
        "Answer",
        if found.is_empty() {
            format!("every measured run of {total} op/variant groups gave one output{}", on(device))
        } else {
            format!(
                "{} of {total} op/variant groups gave differing outputs in at least one stored run{}",
                found.len(),
                on(device)
            )
        },
    ));
    if bugs > 0 {
        doc.push(Block::toned(
            Tone::Alarm,
            Some("Promised deterministic"),
            format!("{bugs} group(s) of variants that promise identical bits differed: a bug"),
        ));
    }
    if !found.is_empty() {
        let mut t = Table::new(&[
            "device",
            "op",
            "variant",
            "precision",
            "ordering",
            "promise",
            "nondet. rows",
            "nondet. reports",
            "max distinct",
            "last seen",
        ]);
        for g in &found {
            t.rows.push(vec![
                g.device.clone(),
                g.op.clone(),
                g.variant.clone(),
                g.precision.clone(),
                g.ordering.clone(),
                if g.deterministic_variant {
                    "deterministic".into()
                } else {
                    "none".into()
                },
                format!("{}/{}", g.nondeterministic_rows, g.rows),
                format!("{}/{}", g.nondeterministic_reports, g.reports),
                g.max_distinct_outputs.to_string(),
                g.last_seen.as_deref().map(short).unwrap_or("-").to_string(),
            ]);
        }
        doc.push(Block::Table(t));
    }
    doc.data = Some(serde_json::json!({
        "device": device,
        "groups_measured": total,
        "nondeterministic": found,
    }));
    Ok(doc)
}

fn on(device: Option<&str>) -> String {
    device.map(|d| format!(" on {d}")).unwrap_or_default()
}
