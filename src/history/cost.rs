//! `history cost`: the cost of determinism per device over time. Each stored report's rows
//! of one device are paired exactly as `report`'s summary pairs them (every deterministic
//! row against the fastest nondeterministic row of the same result key apart from variant
//! and ordering, or an adapter's declared plain path), and each op, precision and
//! deterministic variant gives its median ratio at the largest size, one line per run.

use super::short;
use crate::error::DetError;
use crate::report::key::DeviceId;
use crate::report::schema::{Env, ResultRecord};
use crate::report::summary;
use crate::report::view::{Block, Document, Table};
use crate::store::Store;
use serde::Serialize;
use std::collections::BTreeMap;

/// One kernel's cost in one stored run on one device: the summary's [`summary::Cost`]
/// (op, precision, variant, size, pairs, median and worst ratio) and where it was measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub device: String,
    pub report: String,
    pub started_at: String,
    #[serde(flatten)]
    pub cost: summary::Cost,
}

pub fn build(store: &mut Store, device: Option<&str>) -> Result<Document, DetError> {
    let mut points: Vec<Point> = Vec::new();
    let headers = store.reports()?;
    for h in &headers {
        let report = store.report(&h.sha256)?;
        let mut by_device: BTreeMap<String, Vec<(&ResultRecord, &Env)>> = BTreeMap::new();
        for r in &report.results {
            let id = DeviceId::of(r, &report.env).to_string();
            if device.is_none_or(|d| d == id) {
                by_device.entry(id).or_default().push((r, &report.env));
            }
        }
        for (id, rows) in by_device {
            for d in summary::build(&rows).devices {
                for cost in d.costs {
                    points.push(Point {
                        device: id.clone(),
                        report: h.sha256.clone(),
                        started_at: h.started_at.clone(),
                        cost,
                    });
                }
            }
        }
    }
    // Per device and kernel, in run order (reports are already in run order).
    // sort_by_key is stable: runs stay in order within a kernel.
    points.sort_by_key(|p| {
        (
            p.device.clone(),
            p.cost.op.clone(),
            p.cost.precision.clone(),
            p.cost.variant.clone(),
        )
    });
    let mut doc = Document::new(format!("History: cost of determinism ({})", store.url()));
    let kernels: std::collections::BTreeSet<(&str, &str, &str, &str)> = points
        .iter()
        .map(|p| {
            (
                p.device.as_str(),
                p.cost.op.as_str(),
                p.cost.precision.as_str(),
                p.cost.variant.as_str(),
            )
        })
        .collect();
    doc.push(Block::lead(
        "Answer",
        if points.is_empty() {
            "no deterministic variant has a timed nondeterministic baseline of the same key in the store".to_string()
        } else {
            format!(
                "{} deterministic kernel(s) with a baseline, over {} stored report(s); ratio = deterministic time / fastest nondeterministic time of the same key (median over the pairs, at the largest size)",
                kernels.len(),
                headers.len()
            )
        },
    ));
    let mut current = String::new();
    let mut table = Table::new(&[
        "op",
        "precision",
        "variant",
        "size",
        "started",
        "report",
        "pairs",
        "ratio",
        "worst",
    ]);
    for p in &points {
        if p.device != current {
            if !table.rows.is_empty() {
                let fresh = Table::new(&table.headers);
                doc.push(Block::Table(std::mem::replace(&mut table, fresh)));
            }
            doc.push(Block::heading(2, p.device.clone()));
            current = p.device.clone();
        }
        table.rows.push(vec![
            p.cost.op.clone(),
            p.cost.precision.clone(),
            p.cost.variant.clone(),
            p.cost.size.to_string(),
            p.started_at.clone(),
            short(&p.report).to_string(),
            p.cost.pairs.to_string(),
            format!("{:.2}x", p.cost.ratio),
            format!("{:.2}x", p.cost.worst),
        ]);
    }
    if !table.rows.is_empty() {
        doc.push(Block::Table(table));
    }
    doc.data = Some(serde_json::json!({ "device": device, "costs": points }));
    Ok(doc)
}
