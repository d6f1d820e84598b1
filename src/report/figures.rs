//! The figures of `detbench report`: run-to-run spread, error against size and condition,
//! throughput and training curves, as view figures (SVG plus the CSV of their data).
//!
//! One panel per device and op, so variants of different ops never share a column and a
//! legend holds one op's variants only.

use super::inputs::{device_label, Inputs};
use super::plots::{self, Axis, Figure, Series, Style};
use super::schema::BASELINE_OP;
use crate::numerics::bounds::{gamma, lambda_for_confidence, probabilistic_gamma};
use crate::numerics::Precision;
use std::collections::BTreeMap;

/// Stable colour index per name, in first-seen order.
fn colour_map<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for n in names {
        let k = m.len();
        m.entry(n.to_string()).or_insert(k);
    }
    m
}

/// The distinct (op, accumulator) pairs of some results (the copy baseline left out), in
/// first-seen order: one accuracy panel each.
fn op_accumulators(recs: &[&crate::report::ResultRecord]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in recs {
        let k = (r.op.clone(), r.accumulator.clone());
        if r.op != BASELINE_OP && !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// The ops with results on a device, in first-seen order (the copy baseline left out).
fn ops_on(inputs: &Inputs, device: &str) -> Vec<String> {
    let mut ops: Vec<String> = Vec::new();
    for r in inputs.results() {
        if device_label(r) == device && r.op != BASELINE_OP && !ops.contains(&r.op) {
            ops.push(r.op.clone());
        }
    }
    ops
}

/// Run-to-run ULP spread per variant: a strip plot, one per device.
/// Run-to-run ULP spread per variant: a strip plot per device and op.
fn ulp_spread_plots(inputs: &Inputs, device: &str) -> Vec<Figure> {
    ops_on(inputs, device)
        .iter()
        .map(|op| ulp_spread_plot(inputs, device, op))
        .collect()
}

fn ulp_spread_plot(inputs: &Inputs, device: &str, op: &str) -> Figure {
    let recs: Vec<_> = inputs
        .results()
        .into_iter()
        .filter(|r| device_label(r) == device && r.status == "ok" && r.op == op)
        .collect();
    let mut variants: Vec<String> = Vec::new();
    for r in &recs {
        if !variants.contains(&r.variant) {
            variants.push(r.variant.clone());
        }
    }
    // One series per precision and size: sizes are never pooled.
    let mut series: BTreeMap<(String, u64), Vec<(f64, f64)>> = BTreeMap::new();
    for (i, r) in recs.iter().enumerate() {
        let Some(s) = r.max_ulp_run_to_run else {
            continue;
        };
        let x = variants.iter().position(|v| v == &r.variant).unwrap_or(0) as f64
            + plots::jitter(i, 0.5);
        series
            .entry((r.precision.clone(), r.size))
            .or_default()
            .push((x, s as f64));
    }
    let series: Vec<Series> = series
        .into_iter()
        .enumerate()
        .map(|(k, ((p, n), pts))| Series {
            colour: k,
            name: format!("{p}, n = {n}"),
            points: pts,
            style: Style::Points,
        })
        .collect();
    plots::figure(
        &format!("spread {op} {device}"),
        &format!("Run-to-run spread of {op}, {device}"),
        &Axis::categories("variant", variants),
        &Axis::log("max ULP between runs"),
        &series,
        &format!("Each point is one {op} case (input, accumulator); the row labelled 0 holds cases where every run gave the same bits. One colour and marker per input precision and size."),
    )
}

/// Error normalised by the sum of magnitudes against n, with gamma_{n-1} u and the
/// probabilistic bound, one chart per accumulator.
fn error_vs_size_plots(inputs: &Inputs) -> Vec<Figure> {
    let mut out = Vec::new();
    for dev in inputs.devices() {
        out.extend(error_vs_size_device(inputs, &dev));
    }
    out
}

fn error_vs_size_device(inputs: &Inputs, device: &str) -> Vec<Figure> {
    let all: Vec<_> = inputs
        .results()
        .into_iter()
        .filter(|r| device_label(r) == device)
        .collect();
    let colours = colour_map(inputs.results().into_iter().map(|r| r.variant.as_str()));
    let lambda = lambda_for_confidence(0.99);
    let mut out = Vec::new();
    for (op, acc) in op_accumulators(&all) {
        let Ok(p) = acc.parse::<Precision>() else {
            continue;
        };
        let u = p.unit_roundoff();
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let (mut nmin, mut nmax) = (u64::MAX, 0u64);
        for r in all
            .iter()
            .filter(|r| r.op == op && r.accumulator == acc && r.status == "ok")
        {
            let (Some(err), Some(cond), Some(exact)) = (r.max_abs_err, r.condition_number, r.exact)
            else {
                continue;
            };
            let mag = cond * exact.abs();
            if mag <= 0.0 {
                continue;
            }
            nmin = nmin.min(r.size);
            nmax = nmax.max(r.size);
            series
                .entry(r.variant.clone())
                .or_default()
                .push((r.size as f64, err / mag));
        }
        if series.is_empty() {
            continue;
        }
        let mut ss: Vec<Series> = series
            .into_iter()
            .map(|(v, pts)| Series {
                colour: colours[&v],
                name: v,
                points: pts,
                style: Style::Points,
            })
            .collect();
        // With one size the bound lines still span a range around it, so they are drawn.
        let (nlo, nhi) = if nmin == nmax {
            ((nmin / 4).max(2), nmax.saturating_mul(4).max(3))
        } else {
            (nmin.max(2), nmax.max(3))
        };
        let grid: Vec<f64> = (0..=40)
            .map(|i| {
                let (a, b) = ((nlo as f64).ln(), (nhi as f64).ln());
                (a + (b - a) * i as f64 / 40.0).exp()
            })
            .collect();
        ss.push(Series {
            name: "gamma_(n-1) u: worst case, any order".into(),
            points: grid
                .iter()
                .filter_map(|&n| Some((n, gamma(n as u64 - 1, u)?)))
                .collect(),
            style: Style::Line,
            colour: plots::REF_BLACK,
        });
        ss.push(Series {
            name: "lambda sqrt(n) u at C = 0.99 (Higham & Mary)".into(),
            points: grid
                .iter()
                .map(|&n| (n, probabilistic_gamma(n as u64 - 1, u, lambda)))
                .collect(),
            style: Style::ThinLine,
            colour: plots::REF_GREY,
        });
        ss.push(Series {
            name: "u (one rounding)".into(),
            points: grid.iter().map(|&n| (n, u)).collect(),
            style: Style::ThinLine,
            colour: plots::REF_LIGHT,
        });
        out.push(plots::figure(
            &format!("error size {op} {device} {acc}"),
            &format!("Error of {op} against size, {device}, {acc} accumulator"),
            &Axis::log("n (elements)"),
            &Axis::log("max |error| / sum of |terms|"),
            &ss,
            "Errors are divided by the sum of magnitudes so the bounds are the same for every input. Exact results lie on the row labelled 0.",
        ));
    }
    out
}

/// Relative error against the condition number, one chart per accumulator.
fn error_vs_cond_plots(inputs: &Inputs) -> Vec<Figure> {
    let mut out = Vec::new();
    for dev in inputs.devices() {
        out.extend(error_vs_cond_device(inputs, &dev));
    }
    out
}

fn error_vs_cond_device(inputs: &Inputs, device: &str) -> Vec<Figure> {
    let all: Vec<_> = inputs
        .results()
        .into_iter()
        .filter(|r| device_label(r) == device)
        .collect();
    let many_sizes = {
        let mut n: Vec<u64> = all.iter().map(|r| r.size).collect();
        n.sort_unstable();
        n.dedup();
        n.len() > 1
    };
    let mut out = Vec::new();
    for (op, acc) in op_accumulators(&all) {
        let mut names: Vec<String> = Vec::new();
        let Ok(p) = acc.parse::<Precision>() else {
            continue;
        };
        let u = p.unit_roundoff();
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let (mut cmin, mut cmax, mut nmax) = (f64::INFINITY, 0.0f64, 0u64);
        for r in all
            .iter()
            .filter(|r| r.op == op && r.accumulator == acc && r.status == "ok")
        {
            let (Some(rel), Some(cond)) = (r.max_rel_err, r.condition_number) else {
                continue;
            };
            cmin = cmin.min(cond);
            cmax = cmax.max(cond);
            nmax = nmax.max(r.size);
            let name = if many_sizes {
                format!("{}, n = {}", r.variant, r.size)
            } else {
                r.variant.clone()
            };
            if !names.contains(&name) {
                names.push(name.clone());
            }
            series.entry(name).or_default().push((cond, rel));
        }
        if series.is_empty() {
            continue;
        }
        let mut ss: Vec<Series> = series
            .into_iter()
            .map(|(v, pts)| Series {
                colour: names.iter().position(|n| n == &v).unwrap_or(0),
                name: v,
                points: pts,
                style: Style::Points,
            })
            .collect();
        let lo = cmin.max(1.0);
        let hi = cmax.max(lo * 10.0);
        if let Some(g) = gamma(nmax.saturating_sub(1), u) {
            ss.push(Series {
                name: format!("cond x gamma_(n-1) u, n = {nmax}"),
                points: vec![(lo, lo * g), (hi, hi * g)],
                style: Style::Line,
                colour: plots::REF_BLACK,
            });
        }
        ss.push(Series {
            name: "cond x u".into(),
            points: vec![(lo, lo * u), (hi, hi * u)],
            style: Style::ThinLine,
            colour: plots::REF_LIGHT,
        });
        out.push(plots::figure(
            &format!("error cond {op} {device} {acc}"),
            &format!("Error of {op} against condition, {device}, {acc} accumulator"),
            &Axis::log("condition number  sum|x| / |sum x|"),
            &Axis::log("max relative error"),
            &ss,
            "The relative error of a sum grows with its condition number; the lines are the worst-case bound at the largest size and one rounding. Exact results lie on the row labelled 0.",
        ));
    }
    out
}

/// Throughput per variant, as a fraction of copy bandwidth when known: one panel per
/// device and op.
fn throughput_plots(inputs: &Inputs, device: &str) -> Vec<Figure> {
    ops_on(inputs, device)
        .iter()
        .map(|op| throughput_plot(inputs, device, op))
        .collect()
}

fn throughput_plot(inputs: &Inputs, device: &str, op: &str) -> Figure {
    let recs: Vec<_> = inputs
        .results()
        .into_iter()
        .filter(|r| device_label(r) == device && r.op == op && r.status == "ok" && r.gbps.is_some())
        .collect();
    let baseline = inputs.copy_baseline(device);
    let copy = baseline.and_then(|(c, launch_bound)| (!launch_bound).then_some(c));
    let mut variants: Vec<String> = Vec::new();
    for r in &recs {
        if !variants.contains(&r.variant) {
            variants.push(r.variant.clone());
        }
    }
    let mut sizes: Vec<u64> = recs.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut series: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, r) in recs.iter().enumerate() {
        let g = r.gbps.unwrap_or(0.0);
        let y = copy.map_or(g, |c| g / c);
        let x = variants.iter().position(|v| v == &r.variant).unwrap_or(0) as f64
            + plots::jitter(i, 0.5);
        series.entry(r.size).or_default().push((x, y));
    }
    let ss: Vec<Series> = series
        .into_iter()
        .map(|(n, pts)| Series {
            name: format!("n = {n}"),
            colour: sizes.iter().position(|&s| s == n).unwrap_or(0),
            points: pts,
            style: Style::Points,
        })
        .collect();
    let (ydesc, caption) = match baseline {
        Some((c, false)) => (
            "fraction of copy bandwidth".to_string(),
            format!("Throughput divided by the device's copy bandwidth ({c:.2} GB/s). One colour per size."),
        ),
        Some((c, true)) => (
            "GB/s".to_string(),
            format!("The copy baseline ({c:.2} GB/s) is launch-bound: some kernel moved bytes faster than the copy, so a fraction of it would mislead; raw GB/s are shown. Rerun with a larger --size for a bandwidth baseline. One colour per size."),
        ),
        None => (
            "GB/s".to_string(),
            "The copy baseline is missing (no copy result, no env.extra.copy_gbps): raw GB/s are shown. One colour per size.".to_string(),
        ),
    };
    plots::figure(
        &format!("throughput {op} {device}"),
        &format!("Throughput of {op}, {device}"),
        &Axis::categories("variant", variants),
        &Axis::log(&ydesc),
        &ss,
        &caption,
    )
}

fn train_plots(t: &super::train::TrainReport, slug: &str) -> Vec<Figure> {
    let mut loss = Vec::new();
    let mut div = Vec::new();
    for (mi, m) in t.modes.iter().enumerate() {
        for r in &m.replicas {
            loss.push(Series {
                name: format!("{} replica {}", m.label(), r.replica),
                points: r
                    .loss
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| ((i + 1) as f64, l))
                    .collect(),
                style: if r.replica == 0 {
                    Style::Line
                } else {
                    Style::ThinLine
                },
                colour: mi,
            });
        }
        div.push(Series {
            name: format!("{}: weight divergence (L2)", m.label()),
            points: m
                .steps
                .iter()
                .map(|s| (s.step as f64, s.weight_divergence))
                .collect(),
            style: Style::Line,
            colour: mi,
        });
        div.push(Series {
            name: format!("{}: max |loss delta|", m.label()),
            points: m
                .steps
                .iter()
                .map(|s| (s.step as f64, s.max_abs_loss_delta))
                .collect(),
            style: Style::ThinLine,
            colour: t.modes.len() + mi,
        });
    }
    vec![
        plots::figure(
            &format!("train loss {slug}"),
            "Training loss per replica",
            &Axis::linear("step"),
            &Axis::linear("loss"),
            &loss,
            "Replica 0 is drawn thick. Deterministic replicas lie on one curve.",
        ),
        plots::figure(
            &format!("train divergence {slug}"),
            "Divergence between replicas",
            &Axis::linear("step"),
            &Axis::log("divergence"),
            &div,
            "Zero divergence (bitwise identical replicas) lies on the row labelled 0, below the axis break.",
        ),
    ]
}

/// A device's spread and throughput panels (one per op each).
pub fn device(inputs: &Inputs, dev: &str) -> Vec<Figure> {
    let mut out = ulp_spread_plots(inputs, dev);
    out.extend(throughput_plots(inputs, dev));
    out
}

/// The accuracy panels: error against size, then against condition number.
pub fn accuracy(inputs: &Inputs) -> Vec<Figure> {
    let mut out = error_vs_size_plots(inputs);
    out.extend(error_vs_cond_plots(inputs));
    out
}

/// A training report's loss and divergence curves.
pub fn train(t: &super::train::TrainReport, path: &std::path::Path) -> Vec<Figure> {
    train_plots(t, &path.display().to_string())
}

/// Every figure of the report, in the order the report shows them.
pub fn all(inputs: &Inputs) -> Vec<Figure> {
    let mut out = Vec::new();
    for dev in inputs.devices() {
        out.extend(device(inputs, &dev));
    }
    out.extend(accuracy(inputs));
    for (path, t) in &inputs.trains {
        out.extend(train(t, path));
    }
    out
}
