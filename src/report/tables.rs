//! The tables of `detbench report` and `run`, built once as view tables (every renderer
//! shows the same rows).

use super::headline::{ratio_text, sig3};
use super::inputs::{device_label, Inputs};
use super::summary::{kernel_groups, DeviceSummary};
use super::train::TrainReport;
use super::view::Table;
use super::{Report, ResultRecord};
use std::collections::BTreeMap;

fn sci(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3e}")).unwrap_or_else(|| "-".into())
}

/// A column of the result key that tells rows apart.
type KeyColumn = (&'static str, fn(&ResultRecord) -> String);

/// The key columns (bins, shape, batch, workgroup size) whose values differ between
/// `rows`: without them two rows of different cases would print identically.
pub fn varying_key_columns(rows: &[&ResultRecord]) -> Vec<KeyColumn> {
    let all: [KeyColumn; 4] = [
        ("bins", |r| r.bins.map_or("-".into(), |b| b.to_string())),
        ("shape", |r| {
            r.shape.as_ref().map_or("-".into(), |s| {
                s.as_array().map_or(s.to_string(), |a| {
                    a.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join("x")
                })
            })
        }),
        ("batch", |r| {
            r.batch_size.map_or("-".into(), |b| b.to_string())
        }),
        ("wg", |r| r.launch.workgroup_size.to_string()),
    ];
    all.into_iter()
        .filter(|(_, f)| {
            let mut vals: Vec<String> = rows.iter().map(|r| f(r)).collect();
            vals.sort();
            vals.dedup();
            vals.len() > 1
        })
        .collect()
}

/// Inserts the varying key columns into `t` after column `at`, row by row from `recs`.
fn with_key_columns(mut t: Table, recs: &[&ResultRecord], at: usize) -> Table {
    let cols = varying_key_columns(recs);
    for (i, (h, _)) in cols.iter().enumerate() {
        t.headers.insert(at + i, h.to_string());
    }
    for (row, r) in t.rows.iter_mut().zip(recs) {
        for (i, (_, f)) in cols.iter().enumerate() {
            row.insert(at + i, f(r));
        }
    }
    t
}

/// The cost of determinism case by case: every deterministic row with its baseline (the
/// fastest nondeterministic row of the same key apart from variant and ordering).
pub fn cost_table(h: &DeviceSummary) -> Table {
    let mut t = Table::new(&[
        "case",
        "median ms",
        "fastest nondeterministic",
        "its median ms",
        "time / fastest (spread)",
        "verdict",
    ]);
    let ms = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.4}"));
    let mut pairs: Vec<_> = h.cost_pairs.iter().collect();
    pairs.sort_by(|a, b| a.case.cmp(&b.case));
    for p in pairs {
        t.rows.push(vec![
            p.case.clone(),
            ms(Some(p.median_ms)),
            match (&p.baseline_variant, &p.baseline_ordering) {
                (Some(v), Some(o)) if o != "none" && !o.is_empty() => format!("{v} [{o}]"),
                (Some(v), _) => v.clone(),
                _ => "none ran".into(),
            },
            ms(p.baseline_median_ms),
            p.ratio
                .map_or("-".into(), |r| ratio_text(r, p.ratio_low, p.ratio_high)),
            p.verdict.clone(),
        ]);
    }
    t
}

/// The per-device summary: which kernels are bitwise reproducible and what determinism
/// costs (the median of its pairs' ratios at each size).
pub fn summary_table(inputs: &Inputs, h: &DeviceSummary) -> Table {
    let all = inputs.results();
    let groups = kernel_groups(all.iter().copied().filter(|r| device_label(r) == h.device));
    let mut t = Table::new(&[
        "op",
        "prec",
        "acc",
        "variant",
        "kind",
        "ran ok",
        "bitwise reproducible",
        "max run-to-run ULP",
        "max ULP error",
        "time / fastest nondeterministic (median of pairs)",
    ]);
    for ((op, prec, acc, variant), recs) in groups {
        let ok: Vec<&&ResultRecord> = recs.iter().filter(|r| r.status == "ok").collect();
        let repro = ok
            .iter()
            .filter(|r| r.bitwise_reproducible == Some(true))
            .count();
        let not_ok: std::collections::BTreeSet<String> = recs
            .iter()
            .filter(|r| r.status != "ok")
            .map(|r| r.status.to_string())
            .collect();
        let ran = if not_ok.is_empty() {
            format!("{}/{}", ok.len(), recs.len())
        } else {
            let v: Vec<String> = not_ok.into_iter().collect();
            format!("{}/{} ({})", ok.len(), recs.len(), v.join(", "))
        };
        let deterministic = recs.iter().any(|r| r.deterministic_variant);
        let repro_s = if ok.is_empty() {
            "-".into()
        } else if repro == ok.len() && deterministic {
            format!("yes ({repro}/{})", ok.len())
        } else if repro == ok.len() {
            format!("agreed by chance ({repro}/{}; not a guarantee)", ok.len())
        } else if repro == 0 {
            format!("no (0/{})", ok.len())
        } else {
            format!("partly ({repro}/{})", ok.len())
        };
        let max_r2r = ok.iter().filter_map(|r| r.max_ulp_run_to_run).max();
        let max_err = ok.iter().filter_map(|r| r.max_ulp_err).max();
        let mut by_size: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for p in h.cost_pairs.iter().filter(|p| {
            p.op == op && p.precision == prec && p.accumulator == acc && p.variant == variant
        }) {
            if let Some(r) = p.ratio {
                by_size.entry(p.size).or_default().push(r);
            }
        }
        let cost = if !deterministic {
            "(nondeterministic)".to_string()
        } else if by_size.is_empty() {
            "no nondeterministic baseline".to_string()
        } else {
            by_size
                .iter()
                .filter_map(|(n, v)| {
                    crate::shared::stats::median(v).map(|m| format!("n={n}: {}x", sig3(m)))
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        t.rows.push(vec![
            op,
            prec,
            acc,
            variant,
            if deterministic {
                "deterministic".into()
            } else {
                "nondeterministic".into()
            },
            ran,
            repro_s,
            max_r2r.map_or("-".into(), |x| x.to_string()),
            max_err.map_or("-".into(), |x| x.to_string()),
            cost,
        ]);
    }
    t
}

/// Every result, one row each, with the key columns that vary.
pub fn detail_table(results: &[&ResultRecord]) -> Table {
    let mut t = Table::new(&[
        "device",
        "op",
        "prec",
        "acc",
        "variant",
        "ordering",
        "size",
        "input",
        "status",
        "distinct",
        "ULP r2r",
        "ULP err",
        "abs err",
        "bound",
        "cond",
        "median ms",
        "GB/s",
        "message",
    ]);
    for r in results {
        let mut row = vec![device_label(r)];
        row.extend(kernel_cells(r));
        row.push(r.status.to_string());
        row.extend(measured_cells(r));
        row.extend([
            sci(r.condition_number),
            r.median_ms.map_or("-".into(), |x| format!("{x:.4}")),
            r.gbps.map_or("-".into(), |x| format!("{x:.2}")),
            r.message.clone(),
        ]);
        t.rows.push(row);
    }
    with_key_columns(t, results, 7)
}

/// op, prec, acc, variant, ordering, size, input.
fn kernel_cells(r: &ResultRecord) -> Vec<String> {
    vec![
        r.op.clone(),
        r.precision.clone(),
        r.accumulator.clone(),
        r.variant.clone(),
        r.ordering.to_string(),
        r.size.to_string(),
        r.input.clone(),
    ]
}

/// distinct outputs, ULP run to run, ULP error, abs error, bound.
fn measured_cells(r: &ResultRecord) -> Vec<String> {
    vec![
        r.distinct_outputs
            .map_or("-".into(), |d| format!("{d}/{}", r.runs)),
        r.max_ulp_run_to_run.map_or("-".into(), |x| x.to_string()),
        r.max_ulp_err.map_or("-".into(), |x| x.to_string()),
        sci(r.max_abs_err),
        sci(r.error_bound),
    ]
}

fn times_cell(r: &ResultRecord) -> String {
    let mut t: Vec<f64> = r
        .times_ms
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if t.is_empty() {
        return "-".into();
    }
    t.sort_by(f64::total_cmp);
    let med = crate::shared::stats::median(&t).unwrap_or(f64::NAN);
    format!("{:.3}/{:.3}/{:.3}", t[0], med, t[t.len() - 1])
}

/// The console table of `detbench run`: one row per case that ran (times as
/// min/median/max), with the key columns that vary. Cases that did not run are not rows:
/// the headline gives each reason once.
pub fn console_table(results: &[&ResultRecord]) -> Table {
    let ok: Vec<&ResultRecord> = results
        .iter()
        .copied()
        .filter(|r| r.status == "ok")
        .collect();
    let mut t = Table::new(&[
        "op",
        "backend",
        "prec",
        "acc",
        "variant",
        "ordering",
        "size",
        "input",
        "distinct",
        "ulp r2r",
        "ulp err",
        "abs err",
        "bound",
        "ms min/med/max",
        "GB/s",
    ]);
    for r in &ok {
        let mut row = kernel_cells(r);
        row.insert(1, r.backend.clone());
        row.extend(measured_cells(r));
        row.extend([
            times_cell(r),
            r.gbps.map_or("-".into(), |g| format!("{g:.2}")),
        ]);
        t.rows.push(row);
    }
    with_key_columns(t, &ok, 7)
}

/// Throughput of every ok result, as a fraction of copy bandwidth where known.
pub fn throughput_table(inputs: &Inputs, device: &str) -> (Table, Option<f64>) {
    let copy = inputs.copy_gbps(device);
    let recs: Vec<&ResultRecord> = inputs
        .results()
        .into_iter()
        .filter(|r| device_label(r) == device && r.status == "ok" && r.gbps.is_some())
        .collect();
    let mut t = Table::new(&[
        "op", "prec", "acc", "variant", "size", "input", "GB/s", "of copy",
    ]);
    for r in &recs {
        let g = r.gbps.unwrap_or(0.0);
        t.rows.push(vec![
            r.op.clone(),
            r.precision.clone(),
            r.accumulator.clone(),
            r.variant.clone(),
            r.size.to_string(),
            r.input.clone(),
            format!("{g:.2}"),
            copy.map_or("-".into(), |c| format!("{:.1}%", 100.0 * g / c)),
        ]);
    }
    (with_key_columns(t, &recs, 5), copy)
}

/// Provenance of a report's environment as (field, value) pairs.
pub fn provenance(rep: &Report) -> Vec<(String, String)> {
    let e = &rep.env;
    let mut v = vec![
        ("tool version".into(), e.tool_version.clone()),
        ("git commit".into(), e.git_commit.clone()),
        ("command".into(), e.command.clone()),
        ("seed".into(), e.seed.to_string()),
        ("started at".into(), e.started_at.clone()),
        ("os".into(), e.os.clone()),
        ("cpu".into(), e.cpu.clone()),
        ("rustc".into(), e.rustc.clone()),
        ("partial".into(), rep.partial.to_string()),
    ];
    for d in &e.devices {
        let state = if d.available {
            format!("{} [{}; {}]", d.name, d.device_type, d.driver)
        } else {
            format!("{}: unavailable: {}", d.name, d.reason)
        };
        v.push((format!("device ({})", d.backend), state));
    }
    for (k, h) in &e.kernel_hashes {
        v.push((format!("kernel {k}"), format!("sha256 {h}")));
    }
    for (k, o) in &e.compile_options {
        v.push((format!("compile options ({k})"), o.to_string()));
    }
    for (k, o) in &e.extra {
        v.push((format!("extra {k}"), o.to_string()));
    }
    v
}

/// Summary rows of a training report.
pub fn train_table(t: &TrainReport) -> Table {
    let mut tab = Table::new(&[
        "mode",
        "replicas",
        "final loss (min..max)",
        "final loss stddev",
        "final accuracy (min..max)",
        "final accuracy stddev",
        "distinct weight fingerprints",
        "first divergence step",
        "max weight divergence (L2)",
        "max weight ULP",
    ]);
    for m in &t.modes {
        let range = |v: Vec<f64>| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if v.is_empty() {
                "-".into()
            } else {
                format!("{lo:.6} .. {hi:.6}")
            }
        };
        let prints: std::collections::BTreeSet<&str> = m
            .replicas
            .iter()
            .map(|r| r.weights_fingerprint.as_str())
            .collect();
        let spread = m.compute_spread();
        let std = |s: Option<super::train::Spread>| sci(s.map(|s| s.stddev));
        tab.rows.push(vec![
            m.label(),
            m.replicas.len().to_string(),
            range(m.final_losses()),
            std(spread.final_loss),
            range(m.final_accuracies()),
            std(spread.final_accuracy),
            prints.len().to_string(),
            m.first_divergence_step
                .map_or("never".into(), |s| s.to_string()),
            sci(m.steps.iter().map(|s| s.weight_divergence).reduce(f64::max)),
            m.steps
                .iter()
                .map(|s| s.max_weight_ulp)
                .max()
                .map_or("-".into(), |x| x.to_string()),
        ]);
    }
    tab
}

/// The MLPerf-style comparison of a training report's modes, if it has both.
pub fn train_comparison_table(t: &TrainReport) -> Option<Table> {
    let cmp = crate::report::rcp::train_comparison(t, 0.99);
    if cmp.is_empty() {
        return None;
    }
    let mut tab = Table::new(&[
        "metric",
        "deterministic mean ± std",
        "nondeterministic mean ± std",
        "one-sided Welch p",
        "verdict",
    ]);
    for c in cmp {
        tab.rows.push(vec![
            c.label(),
            format!("{:.6} ± {:.2e}", c.deterministic.mean, c.deterministic.std),
            format!(
                "{:.6} ± {:.2e}",
                c.nondeterministic.mean, c.nondeterministic.std
            ),
            sci(c.p),
            c.verdict,
        ]);
    }
    Some(tab)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(bins: Option<u64>, wg: u32) -> ResultRecord {
        ResultRecord {
            op: "scatter_add".into(),
            backend: "cpu".into(),
            device: "c".into(),
            precision: "f32".into(),
            accumulator: "f32".into(),
            variant: "sort_segmented".into(),
            size: 4096,
            bins,
            input: "normal".into(),
            status: crate::report::Status::Ok,
            launch: crate::shared::launch::Launch {
                workgroup_size: wg,
                workgroups: 4,
            },
            ..Default::default()
        }
    }

    /// Rows into 1 and 1024 bins, or with two workgroup sizes, print different rows;
    /// columns that do not vary stay out.
    #[test]
    fn console_table_shows_the_key_columns_that_vary() {
        let rs = [rec(Some(1), 256), rec(Some(1024), 256)];
        let refs: Vec<&ResultRecord> = rs.iter().collect();
        let t = console_table(&refs);
        assert!(t.headers.contains(&"bins".to_string()), "{:?}", t.headers);
        assert!(!t.headers.contains(&"wg".to_string()), "{:?}", t.headers);
        assert_ne!(t.rows[0], t.rows[1]);
        let rs = [rec(None, 64), rec(None, 256)];
        let refs: Vec<&ResultRecord> = rs.iter().collect();
        let t = console_table(&refs);
        assert!(t.headers.contains(&"wg".to_string()), "{:?}", t.headers);
        assert!(!t.headers.contains(&"bins".to_string()), "{:?}", t.headers);
        assert_ne!(t.rows[0], t.rows[1]);
    }
}
