//! `detbench merge`: one table across devices. For each case (the result key without its
//! device, ordering and workgroup count: [`CaseKey`]) it says which devices produced the
//! same bits (the same fingerprint) and how many ULPs apart the others are. A report with
//! two rows under one result key is refused (exit 2).
//!
//! Devices are grouped by fingerprint; the ULP distance of a group is measured from the
//! first run's scalar output (`output_first`) to that of the largest group. Multi-element
//! outputs carry no value in the report, so for them only "same bits or not" is known.
//! A variant that is not reproducible on a device is marked, because its first run's bits
//! are one draw among many and agreement is then a coincidence. Rows whose reports carry
//! the accumulation order (`run --reveal`) also group the devices by that order.

pub mod shards;

use crate::error::DetError;
use crate::numerics::ulp::ulp_distance;
use crate::numerics::Precision;
use crate::report::key::{self, CaseKey, DeviceId};
use crate::report::render::{emit_each, Format};
use crate::report::view::{Block, Document, Table};
use crate::report::{load_report, Report, ResultRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The identity of a row: the case, on any device.
pub type RowKey = CaseKey;

/// One device's result in a row.
#[derive(Clone, Debug)]
pub struct Cell {
    /// "backend:device", with the ordering for CUDA orderings and the report number
    /// when one device appears in several reports.
    pub column: String,
    pub record: ResultRecord,
}

/// One row of the merged table.
#[derive(Clone, Debug)]
pub struct Row {
    pub key: RowKey,
    /// Groups of columns with identical output bits, largest first.
    pub groups: Vec<Vec<String>>,
    /// ULP distance of each group's output from the first group's (None: unknown).
    pub ulp_from_first: Vec<Option<u64>>,
    /// Columns that did not run ok, with their status.
    pub not_ok: Vec<(String, crate::report::Status)>,
    /// Columns whose variant was not bitwise reproducible there.
    pub varies: Vec<String>,
    /// True when the devices' input bytes differ (then bits cannot be compared).
    pub inputs_differ: bool,
    /// Columns measured on the batch axis (`run --batch-sizes`): whether the shared rows
    /// kept their bits across batch sizes there, and the largest ULP distance.
    pub batch: Vec<(String, bool, u64)>,
    /// Columns grouped by the accumulation order `run --reveal` recorded (its fingerprint
    /// and the n it was revealed at), largest group first; empty when no row has one.
    pub orders: Vec<((String, u64), Vec<String>)>,
}

/// Groups the results of several reports into rows. Devices are told apart by their
/// stable identity ([`DeviceId`]), so one device under two driver versions is one device
/// seen in two reports.
pub fn merge(reports: &[(PathBuf, Report)]) -> Vec<Row> {
    // Each row's results with their device and report.
    let mut found: BTreeMap<RowKey, Vec<(DeviceId, usize, &ResultRecord)>> = BTreeMap::new();
    for (i, (_, rep)) in reports.iter().enumerate() {
        for r in &rep.results {
            found
                .entry(CaseKey::of(r))
                .or_default()
                .push((DeviceId::of(r, &rep.env), i, r));
        }
    }
    // A device whose results for one case come from several reports gets "#i" there
    // (the shards of one matrix each hold a case once, so they need none).
    let mut rows: BTreeMap<RowKey, Vec<Cell>> = BTreeMap::new();
    for (key, found) in found {
        let mut reports_of: BTreeMap<&DeviceId, BTreeSet<usize>> = BTreeMap::new();
        for (d, i, _) in &found {
            reports_of.entry(d).or_default().insert(*i);
        }
        let cells = found
            .iter()
            .map(|(d, i, r)| {
                let mut column = format!("{}:{}", r.backend, r.device);
                if r.ordering.name().contains('.') {
                    column.push_str(&format!(" [{}]", r.ordering));
                }
                if reports_of[d].len() > 1 {
                    column.push_str(&format!(" #{}", i + 1));
                }
                Cell {
                    column,
                    record: (*r).clone(),
                }
            })
            .collect();
        rows.insert(key, cells);
    }
    rows.into_iter()
        .map(|(key, cells)| {
            let mut by_print: Vec<(String, Vec<&Cell>)> = Vec::new();
            let mut not_ok = Vec::new();
            let mut varies = Vec::new();
            let mut batch = Vec::new();
            for c in &cells {
                if let (Some(inv), Some(ulp)) =
                    (c.record.batch_invariant, c.record.max_ulp_across_batches)
                {
                    batch.push((c.column.clone(), inv, ulp));
                }
                match (&c.record.fingerprint, c.record.status.as_str()) {
                    (Some(fp), "ok") => {
                        if c.record.bitwise_reproducible == Some(false) {
                            varies.push(c.column.clone());
                        }
                        match by_print.iter_mut().find(|(p, _)| p == fp) {
                            Some((_, v)) => v.push(c),
                            None => by_print.push((fp.clone(), vec![c])),
                        }
                    }
                    _ => not_ok.push((c.column.clone(), c.record.status)),
                }
            }
            by_print.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
            let mut orders: Vec<((String, u64), Vec<String>)> = Vec::new();
            for c in &cells {
                if let Some(o) = crate::reveal::record::recorded(&c.record) {
                    match orders.iter_mut().find(|(k, _)| *k == o) {
                        Some((_, v)) => v.push(c.column.clone()),
                        None => orders.push((o, vec![c.column.clone()])),
                    }
                }
            }
            orders.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
            let mut inputs: Vec<&str> = cells
                .iter()
                .map(|c| c.record.input_sha256.as_str())
                .filter(|s| !s.is_empty())
                .collect();
            inputs.sort();
            inputs.dedup();
            let reference = by_print.first().map(|(_, v)| v[0]);
            let ulp_from_first = by_print
                .iter()
                .map(|(_, v)| {
                    let r = reference?;
                    let p: Precision = r.record.output_precision.parse().ok()?;
                    let (a, b) = (r.record.output_first?, v[0].record.output_first?);
                    Some(ulp_distance(p, a, b))
                })
                .collect();
            Row {
                key,
                groups: by_print
                    .into_iter()
                    .map(|(_, v)| v.into_iter().map(|c| c.column.clone()).collect())
                    .collect(),
                ulp_from_first,
                not_ok,
                varies,
                inputs_differ: inputs.len() > 1,
                batch,
                orders,
            }
        })
        .collect()
}

/// The merged table as a document (what every format shows): the reports compared, how to
/// read the groups, and one row per case.
pub fn document(rows: &[Row], sources: &[PathBuf]) -> Document {
    let mut d = Document::new("Cross-device agreement");
    d.push(Block::Fields(
        sources
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("report #{}", i + 1), p.display().to_string()))
            .collect(),
    ));
    d.push(Block::para("Groups list devices with identical output bits; ULP distances are measured from group A (the largest). \"varies\" marks devices where the variant was not reproducible from run to run (its first run was compared); \"batch invariant\" / \"batch variant\" say whether the rows every batch shares kept their bits across --batch-sizes there."));
    // The orders column only where some row recorded one (`run --reveal`).
    let with_orders = rows.iter().any(|r| !r.orders.is_empty());
    if with_orders {
        d.push(Block::para("Orders group the devices by the accumulation order `run --reveal` recorded (its fingerprint, revealed at n inputs): devices whose bits differ under one order differ in arithmetic (rounding, fusion, flush to zero), not in order."));
    }
    let mut head = vec![
        "op",
        "prec",
        "acc",
        "variant",
        "size",
        "input",
        "seed",
        "agreement",
        "groups",
        "not run",
    ];
    if with_orders {
        head.push("orders");
    }
    let mut t = Table::new(&head);
    // Rows that differ only by workgroup size say which is which.
    let mut wgs: Vec<u32> = rows.iter().map(|r| r.key.workgroup_size).collect();
    wgs.sort_unstable();
    wgs.dedup();
    for r in rows {
        let size = if wgs.len() > 1 {
            format!("{} (wg {})", r.key.size, r.key.workgroup_size)
        } else {
            r.key.size.to_string()
        };
        let agreement = match r.groups.len() {
            0 => "no ok results".to_string(),
            1 if r.groups[0].len() > 1 => format!("all {} agree", r.groups[0].len()),
            1 => "one device".to_string(),
            n => format!("{n} groups"),
        };
        let agreement = if r.inputs_differ {
            format!("{agreement} (inputs differ!)")
        } else {
            agreement
        };
        let groups: Vec<String> = r
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let name = (b'A' + (i % 26) as u8) as char;
                let dist = match (i, r.ulp_from_first.get(i).copied().flatten()) {
                    (0, _) => String::new(),
                    (_, Some(d)) => format!(" (+{d} ULP)"),
                    (_, None) => " (differs; no scalar output to measure)".into(),
                };
                let members: Vec<String> = g
                    .iter()
                    .map(|c| {
                        let mut m = if r.varies.contains(c) {
                            format!("{c} (varies)")
                        } else {
                            c.clone()
                        };
                        if let Some((_, inv, ulp)) = r.batch.iter().find(|(b, ..)| b == c) {
                            m.push_str(&if *inv {
                                " (batch invariant)".to_string()
                            } else {
                                format!(" (batch variant: {ulp} ULP)")
                            });
                        }
                        m
                    })
                    .collect();
                format!("{name}: {}{dist}", members.join(", "))
            })
            .collect();
        let not_ok: Vec<String> = r.not_ok.iter().map(|(c, s)| format!("{c}: {s}")).collect();
        let mut cells = vec![
            r.key.op.clone(),
            r.key.precision.clone(),
            r.key.accumulator.clone(),
            r.key.variant.clone(),
            size,
            r.key.input.clone(),
            r.key.seed.to_string(),
            agreement,
            groups.join("; "),
            not_ok.join("; "),
        ];
        if with_orders {
            let orders: Vec<String> = r
                .orders
                .iter()
                .map(|((fp, n), cols)| format!("{fp} (n={n}): {}", cols.join(", ")))
                .collect();
            cells.push(orders.join("; "));
        }
        t.rows.push(cells);
    }
    d.push(Block::Table(t));
    d
}

/// The merged table as Markdown.
pub fn render_md(rows: &[Row], sources: &[PathBuf]) -> String {
    Format::Markdown.renderer().render(&document(rows, sources))
}

/// `detbench merge`: the table to the file named by `--md` and/or in `format` on stdout;
/// with neither, Markdown on stdout (one convention on every command).
pub fn run(
    inputs: &[PathBuf],
    md: Option<&std::path::Path>,
    format: Option<Format>,
) -> Result<(), DetError> {
    let mut reports = Vec::new();
    for p in inputs {
        let rep = load_report(p)?;
        key::index(&rep).map_err(|e| DetError::input(format!("{}: {e}", p.display())))?;
        reports.push((p.clone(), rep));
    }
    let rows = merge(&reports);
    let doc = document(&rows, inputs);
    let mut to: Vec<(Format, PathBuf)> = md
        .map(|p| (Format::Markdown, p.to_path_buf()))
        .into_iter()
        .chain(format.map(|f| (f, PathBuf::from("-"))))
        .collect();
    if to.is_empty() {
        to.push((Format::Markdown, PathBuf::from("-")));
    }
    emit_each(&doc, &to)
}
