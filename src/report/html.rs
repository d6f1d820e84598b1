//! The self-contained HTML report: tables, inline SVG charts, provenance. No scripts, no
//! fonts or styles from the network; every piece of text from a report is escaped.

use super::markdown::{self, device_label, Inputs, Table};
use super::plots::{self, Axis, Figure, Series, Style};
use super::train::{load_any, AnyReport};
use crate::error::DetError;
use crate::numerics::bounds::{gamma, lambda_for_confidence, probabilistic_gamma};
use crate::numerics::Precision;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use super::plots::escape;

fn table_html(t: &Table) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in &t.headers {
        s.push_str(&format!("<th>{}</th>", escape(h)));
    }
    s.push_str("</tr></thead><tbody>");
    for r in &t.rows {
        s.push_str("<tr>");
        for c in r {
            let class = match c.as_str() {
                x if x.starts_with("yes") => " class=\"good\"",
                x if x.starts_with("no (") || x.starts_with("partly") => " class=\"bad\"",
                _ => "",
            };
            s.push_str(&format!("<td{class}>{}</td>", escape(c)));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn figure(f: &Figure) -> String {
    format!(
        "<figure>{}<figcaption>{}</figcaption></figure>",
        f.svg,
        escape(&f.caption)
    )
}

/// Stable colour index per name, in first-seen order.
fn colour_map<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for n in names {
        let k = m.len();
        m.entry(n.to_string()).or_insert(k);
    }
    m
}

/// Run-to-run ULP spread per variant: a strip plot, one per device.
fn ulp_spread_plot(inputs: &Inputs, device: &str) -> Figure {
    let recs: Vec<_> = inputs
        .results()
        .into_iter()
        .filter(|r| {
            device_label(r) == device && r.status == "ok" && r.op != super::schema::BASELINE_OP
        })
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
    Figure::new(
        &format!("spread {device}"),
        &format!("Run-to-run spread, {device}"),
        &Axis::categories("variant", variants),
        &Axis::log("max ULP between runs"),
        &series,
        "Each point is one case (input, accumulator); the row labelled 0 holds cases where every run gave the same bits. One colour per input precision and size.",
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
    let mut accs: Vec<String> = all.iter().map(|r| r.accumulator.clone()).collect();
    accs.sort();
    accs.dedup();
    let colours = colour_map(inputs.results().into_iter().map(|r| r.variant.as_str()));
    let lambda = lambda_for_confidence(0.99);
    let mut out = Vec::new();
    for acc in accs {
        let Ok(p) = acc.parse::<Precision>() else {
            continue;
        };
        let u = p.unit_roundoff();
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let (mut nmin, mut nmax) = (u64::MAX, 0u64);
        for r in all
            .iter()
            .filter(|r| r.accumulator == acc && r.status == "ok")
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
        let grid: Vec<f64> = (0..=40)
            .map(|i| {
                let (a, b) = ((nmin.max(2) as f64).ln(), (nmax.max(3) as f64).ln());
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
        out.push(Figure::new(
            &format!("error size {device} {acc}"),
            &format!("Error against problem size, {device}, {acc} accumulator"),
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
    let mut accs: Vec<String> = all.iter().map(|r| r.accumulator.clone()).collect();
    accs.sort();
    accs.dedup();
    let many_sizes = {
        let mut n: Vec<u64> = all.iter().map(|r| r.size).collect();
        n.sort_unstable();
        n.dedup();
        n.len() > 1
    };
    let mut names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for acc in accs {
        let Ok(p) = acc.parse::<Precision>() else {
            continue;
        };
        let u = p.unit_roundoff();
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let (mut cmin, mut cmax, mut nmax) = (f64::INFINITY, 0.0f64, 0u64);
        for r in all
            .iter()
            .filter(|r| r.accumulator == acc && r.status == "ok")
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
        out.push(Figure::new(
            &format!("error cond {device} {acc}"),
            &format!("Error against condition number, {device}, {acc} accumulator"),
            &Axis::log("condition number  sum|x| / |sum x|"),
            &Axis::log("max relative error"),
            &ss,
            "The relative error of a sum grows with its condition number; the lines are the worst-case bound at the largest size and one rounding. Exact results lie on the row labelled 0.",
        ));
    }
    out
}

/// Throughput per variant, as a fraction of copy bandwidth when known.
/// The copy baseline of a device, and whether it is launch-bound: some kernel on the
/// device moved bytes faster than the copy did, which a bandwidth-bound copy cannot allow
/// (the copy then measures launch overhead, not memory bandwidth).
pub fn copy_baseline(inputs: &Inputs, device: &str) -> Option<(f64, bool)> {
    let c = inputs.copy_gbps(device)?;
    let fastest = inputs
        .results()
        .into_iter()
        .filter(|r| {
            device_label(r) == device && r.status == "ok" && r.op != super::schema::BASELINE_OP
        })
        .filter_map(|r| r.gbps)
        .fold(0.0f64, f64::max);
    Some((c, fastest > c))
}

fn throughput_plot(inputs: &Inputs, device: &str) -> Figure {
    let recs: Vec<_> = inputs
        .results()
        .into_iter()
        .filter(|r| device_label(r) == device && r.status == "ok" && r.gbps.is_some())
        .collect();
    let baseline = copy_baseline(inputs, device);
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
    Figure::new(
        &format!("throughput {device}"),
        &format!("Throughput, {device}"),
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
        Figure::new(
            &format!("train loss {slug}"),
            "Training loss per replica",
            &Axis::linear("step"),
            &Axis::linear("loss"),
            &loss,
            "Replica 0 is drawn thick. Deterministic replicas lie on one curve.",
        ),
        Figure::new(
            &format!("train divergence {slug}"),
            "Divergence between replicas",
            &Axis::linear("step"),
            &Axis::log("divergence"),
            &div,
            "Zero divergence (bitwise identical replicas) lies on the row labelled 0, below the axis break.",
        ),
    ]
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:1280px;color:#222;padding:0 16px}\
h1{font-size:26px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}\
table{border-collapse:collapse;font-size:13px;margin:10px 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}td.good{background:#e7f6ea}td.bad{background:#fbe9e7}\
figure{display:inline-block;margin:8px;vertical-align:top;max-width:780px}figcaption{font-size:12px;color:#555;max-width:760px}\
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}\
details{margin:10px 0}summary{cursor:pointer;font-weight:600}.note{color:#7a4b00}";

/// The HTML report.
pub fn render(inputs: &Inputs) -> String {
    let mut s = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    s.push_str("<title>detbench report</title><style>");
    s.push_str(STYLE);
    s.push_str("</style></head><body><h1>detbench report</h1>");
    let sources: Vec<String> = inputs
        .runs
        .iter()
        .map(|(p, _)| p.display().to_string())
        .chain(inputs.trains.iter().map(|(p, _)| p.display().to_string()))
        .collect();
    s.push_str(&format!("<p>From {}.</p>", escape(&sources.join(", "))));
    s.push_str(&super::headline::html(&super::headline::build(
        &inputs.results(),
    )));
    s.push_str(&super::batch::html(&inputs.results()));
    for dev in inputs.devices() {
        s.push_str(&format!("<h2>{}</h2>", escape(&dev)));
        s.push_str("<h3>Reproducibility and the cost of determinism</h3><p>Time is the median of each deterministic variant divided by that of the fastest atomic variant for the same op, precision, accumulator, size and input (median over inputs).</p>");
        s.push_str(&table_html(&markdown::summary_table(inputs, &dev)));
        s.push_str(&figure(&ulp_spread_plot(inputs, &dev)));
        s.push_str(&figure(&throughput_plot(inputs, &dev)));
        // The case-by-case table can run to hundreds of rows: after the device's summary and
        // its plots, so a reader sees those first.
        let cost = markdown::cost_table(inputs, &dev);
        if !cost.rows.is_empty() {
            s.push_str("<h3>Cost of determinism, case by case</h3><p>Each deterministic result's median time over the fastest nondeterministic variant's for the same op, precision, accumulator, size and input (for scatter_add the input names the index distribution, so the rows show how the cost moves with contention).</p>");
            s.push_str(&table_html(&cost));
        }
        if inputs.copy_gbps(&dev).is_none() {
            s.push_str("<p class=\"note\">The copy baseline is missing for this device: throughput is shown in GB/s, not as a fraction of copy bandwidth.</p>");
        }
    }
    if !inputs.runs.is_empty() {
        s.push_str("<h2>Accuracy</h2>");
        for f in error_vs_size_plots(inputs) {
            s.push_str(&figure(&f));
        }
        for f in error_vs_cond_plots(inputs) {
            s.push_str(&figure(&f));
        }
        s.push_str("<details><summary>All results</summary>");
        s.push_str(&table_html(&markdown::detail_table(inputs)));
        s.push_str("</details>");
        for dev in inputs.devices() {
            let (t, _) = markdown::throughput_table(inputs, &dev);
            s.push_str(&format!(
                "<details><summary>Throughput table, {}</summary>{}</details>",
                escape(&dev),
                table_html(&t)
            ));
        }
    }
    for (path, t) in &inputs.trains {
        s.push_str(&format!(
            "<h2>Training: {}</h2><p>{} on {}, {} steps, {} replicas per mode, seed {}, lr {}; {}</p>",
            escape(&path.display().to_string()),
            escape(&t.config.backend),
            escape(&t.config.device),
            t.config.steps,
            t.config.replicas,
            t.config.seed,
            t.config.lr,
            escape(&t.config.model)
        ));
        s.push_str(&table_html(&markdown::train_table(t)));
        for c in crate::report::rcp::train_comparison(t, 0.99) {
            s.push_str(&format!(
                "<p>{}: deterministic {:.6} ± {:.2e} vs nondeterministic {:.6} ± {:.2e} (trimmed means over replicas); one-sided Welch test of “{}”: {}.</p>",
                escape(&c.label()),
                c.deterministic.mean,
                c.deterministic.std,
                c.nondeterministic.mean,
                c.nondeterministic.std,
                escape(&c.alternative),
                escape(&c.verdict)
            ));
        }
        for f in train_plots(t, &path.display().to_string()) {
            s.push_str(&figure(&f));
        }
    }
    s.push_str("<h2>Provenance</h2>");
    let mut prov: Vec<(String, Vec<(String, String)>)> = inputs
        .runs
        .iter()
        .map(|(p, r)| (p.display().to_string(), markdown::provenance(r)))
        .collect();
    for (p, t) in &inputs.trains {
        let rep = super::Report {
            schema: String::new(),
            env: t.env.clone(),
            results: Vec::new(),
            partial: t.partial,
        };
        let mut v = markdown::provenance(&rep);
        v.push(("dataset sha256".into(), t.config.dataset_sha256.clone()));
        prov.push((p.display().to_string(), v));
    }
    for (p, rows) in prov {
        s.push_str(&format!("<h3>{}</h3><table>", escape(&p)));
        for (k, v) in rows {
            s.push_str(&format!(
                "<tr><th>{}</th><td class=\"mono\">{}</td></tr>",
                escape(&k),
                escape(&v)
            ));
        }
        s.push_str("</table>");
    }
    s.push_str("</body></html>\n");
    s
}

/// Every figure of the report, in the order the HTML shows them.
pub fn figures(inputs: &Inputs) -> Vec<Figure> {
    let mut out = Vec::new();
    for dev in inputs.devices() {
        out.push(ulp_spread_plot(inputs, &dev));
        out.push(throughput_plot(inputs, &dev));
    }
    out.extend(error_vs_size_plots(inputs));
    out.extend(error_vs_cond_plots(inputs));
    for (path, t) in &inputs.trains {
        out.extend(train_plots(t, &path.display().to_string()));
    }
    out
}

/// `detbench report`: loads run and training reports and writes HTML and/or Markdown.
pub fn run(paths: &[PathBuf], html: Option<&Path>, md: Option<&Path>) -> Result<(), DetError> {
    run_with_figures(paths, html, md, None)
}

/// `detbench report`, with `--figures DIR`: every figure as a standalone SVG plus the CSV
/// of its data.
pub fn run_with_figures(
    paths: &[PathBuf],
    html: Option<&Path>,
    md: Option<&Path>,
    figures_dir: Option<&Path>,
) -> Result<(), DetError> {
    let mut inputs = Inputs::default();
    for p in paths {
        match load_any(p)? {
            AnyReport::Run(r) => inputs.runs.push((p.clone(), r)),
            AnyReport::Train(t) => inputs.trains.push((p.clone(), t)),
        }
    }
    // No output named: the Markdown report (headline first) goes to stdout, as every
    // command prints its answer when not told where to write it.
    let md = if html.is_none() && md.is_none() && figures_dir.is_none() {
        Some(Path::new("-"))
    } else {
        md
    };
    if [html, md]
        .iter()
        .flatten()
        .filter(|p| p.as_os_str() == "-")
        .count()
        > 1
    {
        return Err(DetError::input(
            "report: only one of --html and --md can be - (stdout)",
        ));
    }
    if let Some(dir) = figures_dir {
        let files = plots::write_figures(dir, &figures(&inputs))?;
        eprintln!(
            "detbench: wrote {} figure files to {}",
            files.len(),
            dir.display()
        );
    }
    let emit = |p: &Path, text: String| -> Result<(), DetError> {
        if p.as_os_str() == "-" {
            crate::safety::out(&text)
        } else {
            super::write_atomic(p, text.as_bytes())?;
            eprintln!("detbench: wrote {}", p.display());
            Ok(())
        }
    };
    if let Some(p) = html {
        emit(p, render(&inputs))?;
    }
    if let Some(p) = md {
        emit(p, markdown::render(&inputs))?;
    }
    Ok(())
}
