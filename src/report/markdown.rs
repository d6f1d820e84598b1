//! The tables of `detbench report`, shared by the Markdown and HTML renderers, and the
//! Markdown renderer itself.

use super::train::TrainReport;
use super::{Report, ResultRecord};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything given to `detbench report`.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Run reports, with their paths.
    pub runs: Vec<(PathBuf, Report)>,
    /// Training reports, with their paths.
    pub trains: Vec<(PathBuf, TrainReport)>,
}

impl Inputs {
    /// Every result of every run report.
    pub fn results(&self) -> Vec<&ResultRecord> {
        self.runs.iter().flat_map(|(_, r)| &r.results).collect()
    }

    /// "backend:device" of every device with results, in first-seen order.
    pub fn devices(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.results() {
            let d = device_label(r);
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    /// The device's copy bandwidth in GB/s: the best `copy` result on it, else
    /// `env.extra["copy_gbps"]` (a number, or an object keyed by device name or label).
    pub fn copy_gbps(&self, device: &str) -> Option<f64> {
        let measured = self
            .results()
            .into_iter()
            .filter(|r| {
                r.op == super::schema::BASELINE_OP && r.status == "ok" && device_label(r) == device
            })
            .filter_map(|r| r.gbps)
            .reduce(f64::max);
        measured.or_else(|| {
            self.runs.iter().find_map(|(_, rep)| {
                let v = rep.env.extra.get("copy_gbps")?;
                if let Some(x) = v.as_f64() {
                    return Some(x);
                }
                let name = device.split_once(':').map_or(device, |(_, n)| n);
                v.get(device)
                    .or_else(|| v.get(name))
                    .and_then(|x| x.as_f64())
            })
        })
    }
}

/// "backend:device".
pub fn device_label(r: &ResultRecord) -> String {
    format!("{}:{}", r.backend, r.device)
}

/// A plain table: headers and rows of text (not escaped).
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Report text (device names, messages, paths: anything read from a report) made inert
/// for Markdown: raw HTML and link brackets are escaped, so a `<script>` in a device name
/// shows as text, as it does in the HTML and LaTeX outputs; `|` cannot break a table and a
/// newline cannot start a new block.
pub fn md_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '|' => o.push_str("\\|"),
            '[' => o.push_str("\\["),
            ']' => o.push_str("\\]"),
            '\\' => o.push_str("\\\\"),
            '\n' | '\r' => o.push(' '),
            _ => o.push(c),
        }
    }
    o
}

/// Report text as an inline code span: HTML is not interpreted inside one, so only the
/// span's own delimiters and line breaks need care.
pub fn md_code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'").replace(['\n', '\r'], " "))
}

impl Table {
    pub fn to_md(&self) -> String {
        let cell = |s: &str| md_text(s);
        let mut s = format!(
            "| {} |\n|{}|\n",
            self.headers
                .iter()
                .map(|h| cell(h))
                .collect::<Vec<_>>()
                .join(" | "),
            self.headers
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        );
        for r in &self.rows {
            s.push_str(&format!(
                "| {} |\n",
                r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
            ));
        }
        s
    }
}

fn sci(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3e}")).unwrap_or_else(|| "-".into())
}

fn median(v: &mut [f64]) -> Option<f64> {
    crate::shared::stats::median(v)
}

/// The fastest ok nondeterministic result comparable with `r`: the same device, op,
/// precision, accumulator, size and input (so the same contention for a scatter).
pub fn fastest_nondeterministic<'a>(
    all: &[&'a ResultRecord],
    r: &ResultRecord,
) -> Option<&'a ResultRecord> {
    all.iter()
        .copied()
        .filter(|o| {
            o.status == "ok"
                && !o.deterministic_variant
                && o.backend == r.backend
                && o.device == r.device
                && o.op == r.op
                && o.precision == r.precision
                && o.accumulator == r.accumulator
                && o.size == r.size
                && o.input == r.input
                && o.median_ms.is_some()
        })
        .min_by(|a, b| {
            let t = |o: &ResultRecord| o.median_ms.unwrap_or(f64::INFINITY);
            t(a).total_cmp(&t(b))
        })
}

/// Time of each deterministic result relative to the fastest atomic (nondeterministic)
/// result of the same device, op, precision, accumulator, size and input.
pub fn cost_ratio(all: &[&ResultRecord], r: &ResultRecord) -> Option<f64> {
    let t = r.median_ms?;
    let fastest = fastest_nondeterministic(all, r)?.median_ms?;
    (fastest > 0.0).then(|| t / fastest)
}

/// The cost of determinism case by case: every ok deterministic result on `device` with
/// its median time, the fastest nondeterministic variant of the same op, precision,
/// accumulator, size and input, and the ratio. One row per input keeps what averages
/// hide: a scatter's cost depends on its index distribution (contention).
pub fn cost_table(inputs: &Inputs, device: &str) -> Table {
    let all = inputs.results();
    let mut rows: Vec<(&ResultRecord, Option<&ResultRecord>)> = all
        .iter()
        .copied()
        .filter(|r| {
            device_label(r) == device
                && r.status == "ok"
                && r.deterministic_variant
                && r.op != super::schema::BASELINE_OP
                && r.median_ms.is_some()
        })
        .map(|r| (r, fastest_nondeterministic(&all, r)))
        .collect();
    rows.sort_by(|(a, _), (b, _)| {
        (
            &a.op,
            &a.precision,
            &a.accumulator,
            a.size,
            &a.input,
            &a.variant,
        )
            .cmp(&(
                &b.op,
                &b.precision,
                &b.accumulator,
                b.size,
                &b.input,
                &b.variant,
            ))
    });
    let ms = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.4}"));
    Table {
        headers: [
            "op",
            "prec",
            "acc",
            "size",
            "input",
            "deterministic variant",
            "median ms",
            "fastest nondeterministic",
            "its median ms",
            "time / fastest",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows
            .into_iter()
            .map(|(r, base)| {
                vec![
                    r.op.clone(),
                    r.precision.clone(),
                    r.accumulator.clone(),
                    r.size.to_string(),
                    r.input.clone(),
                    r.variant.clone(),
                    ms(r.median_ms),
                    base.map_or("none ran".into(), |b| b.variant.clone()),
                    ms(base.and_then(|b| b.median_ms)),
                    cost_ratio(&all, r)
                        .map_or("-".into(), |c| format!("{}x", super::headline::sig3(c))),
                ]
            })
            .collect(),
    }
}

/// One kernel: (op, precision, accumulator, variant).
pub(crate) type KernelKey = (String, String, String, String);

/// `recs` grouped by kernel, in key order (the order of the summary table and headline).
pub(crate) fn kernel_groups<'a>(
    recs: impl IntoIterator<Item = &'a ResultRecord>,
) -> BTreeMap<KernelKey, Vec<&'a ResultRecord>> {
    let mut groups: BTreeMap<KernelKey, Vec<&ResultRecord>> = BTreeMap::new();
    for r in recs {
        groups
            .entry((
                r.op.clone(),
                r.precision.clone(),
                r.accumulator.clone(),
                r.variant.clone(),
            ))
            .or_default()
            .push(r);
    }
    groups
}

/// The per-device summary: which kernels are bitwise reproducible and what determinism costs.
pub fn summary_table(inputs: &Inputs, device: &str) -> Table {
    let all = inputs.results();
    let groups = kernel_groups(all.iter().copied().filter(|r| device_label(r) == device));
    let mut t = Table {
        headers: [
            "op",
            "prec",
            "acc",
            "variant",
            "kind",
            "ran ok",
            "bitwise reproducible",
            "max run-to-run ULP",
            "max ULP error",
            "time / fastest atomic (median over inputs)",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for ((op, prec, acc, variant), recs) in groups {
        let ok: Vec<&&ResultRecord> = recs.iter().filter(|r| r.status == "ok").collect();
        let repro = ok
            .iter()
            .filter(|r| r.bitwise_reproducible == Some(true))
            .count();
        let not_ok: Vec<String> = recs
            .iter()
            .filter(|r| r.status != "ok")
            .map(|r| r.status.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let ran = if not_ok.is_empty() {
            format!("{}/{}", ok.len(), recs.len())
        } else {
            format!("{}/{} ({})", ok.len(), recs.len(), not_ok.join(", "))
        };
        let repro_s = if ok.is_empty() {
            "-".into()
        } else if repro == ok.len() {
            format!("yes ({repro}/{})", ok.len())
        } else if repro == 0 {
            format!("no (0/{})", ok.len())
        } else {
            format!("partly ({repro}/{})", ok.len())
        };
        let max_r2r = ok.iter().filter_map(|r| r.max_ulp_run_to_run).max();
        let max_err = ok.iter().filter_map(|r| r.max_ulp_err).max();
        let deterministic = recs.iter().any(|r| r.deterministic_variant);
        let mut by_size: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        if deterministic {
            for r in &ok {
                if let Some(c) = cost_ratio(&all, r) {
                    by_size.entry(r.size).or_default().push(c);
                }
            }
        }
        let cost = if !deterministic {
            "(atomic)".to_string()
        } else if by_size.is_empty() {
            "no atomic baseline".to_string()
        } else {
            by_size
                .iter_mut()
                .filter_map(|(n, v)| median(v).map(|m| format!("n={n}: {m:.2}x")))
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
                "atomic".into()
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

/// Every result, one row each.
pub fn detail_table(inputs: &Inputs) -> Table {
    let mut t = Table {
        headers: [
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
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for r in inputs.results() {
        t.rows.push(vec![
            device_label(r),
            r.op.clone(),
            r.precision.clone(),
            r.accumulator.clone(),
            r.variant.clone(),
            r.ordering.to_string(),
            r.size.to_string(),
            r.input.clone(),
            r.status.to_string(),
            r.distinct_outputs
                .map_or("-".into(), |d| format!("{d}/{}", r.runs)),
            r.max_ulp_run_to_run.map_or("-".into(), |x| x.to_string()),
            r.max_ulp_err.map_or("-".into(), |x| x.to_string()),
            sci(r.max_abs_err),
            sci(r.error_bound),
            sci(r.condition_number),
            r.median_ms.map_or("-".into(), |x| format!("{x:.4}")),
            r.gbps.map_or("-".into(), |x| format!("{x:.2}")),
            r.message.clone(),
        ]);
    }
    t
}

/// Throughput of every ok result, as a fraction of copy bandwidth where known.
pub fn throughput_table(inputs: &Inputs, device: &str) -> (Table, Option<f64>) {
    let copy = inputs.copy_gbps(device);
    let mut t = Table {
        headers: [
            "op", "prec", "acc", "variant", "size", "input", "GB/s", "of copy",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for r in inputs
        .results()
        .into_iter()
        .filter(|r| device_label(r) == device && r.status == "ok")
    {
        let Some(g) = r.gbps else { continue };
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
    (t, copy)
}

/// Provenance of a run report as (field, value) pairs.
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
    let mut tab = Table {
        headers: [
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
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
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

/// The Markdown report.
pub fn render(inputs: &Inputs) -> String {
    let mut s = String::from("# detbench report\n\n");
    s.push_str(&super::headline::markdown(&super::headline::build(
        &inputs.results(),
    )));
    s.push_str(&super::batch::markdown(&inputs.results()));
    for dev in inputs.devices() {
        s.push_str(&format!("## {}\n\n### Reproducibility and the cost of determinism\n\nTime is the median of the deterministic variant divided by the fastest atomic variant's for the same op, precision, accumulator, size and input.\n\n", md_text(&dev)));
        s.push_str(&summary_table(inputs, &dev).to_md());
        let cost = cost_table(inputs, &dev);
        if !cost.rows.is_empty() {
            s.push_str("\n### Cost of determinism, case by case\n\nEach deterministic result's median time over the fastest nondeterministic variant's for the same op, precision, accumulator, size and input (for scatter_add the input names the index distribution, so the rows show how the cost moves with contention).\n\n");
            s.push_str(&cost.to_md());
        }
        let (tp, copy) = throughput_table(inputs, &dev);
        s.push_str("\n### Throughput\n\n");
        match copy {
            Some(c) => s.push_str(&format!("Copy bandwidth: {c:.2} GB/s.\n\n")),
            None => s.push_str(
                "The copy baseline is missing (no `copy` result and no `env.extra.copy_gbps`): GB/s are shown as measured.\n\n",
            ),
        }
        s.push_str(&tp.to_md());
        s.push('\n');
    }
    if !inputs.runs.is_empty() {
        s.push_str("## All results\n\n");
        s.push_str(&detail_table(inputs).to_md());
        s.push('\n');
    }
    for (path, t) in &inputs.trains {
        s.push_str(&format!(
            "## Training: {} ({} on {}, {} steps, {} replicas, seed {})\n\n",
            md_text(&path.display().to_string()),
            md_text(&t.config.backend),
            md_text(&t.config.device),
            t.config.steps,
            t.config.replicas,
            t.config.seed
        ));
        s.push_str(&train_table(t).to_md());
        s.push('\n');
        let cmp = crate::report::rcp::train_comparison(t, 0.99);
        if !cmp.is_empty() {
            let mut tab = Table {
                headers: [
                    "metric",
                    "deterministic mean ± std",
                    "nondeterministic mean ± std",
                    "one-sided Welch p",
                    "verdict",
                ]
                .map(String::from)
                .to_vec(),
                rows: Vec::new(),
            };
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
            s.push_str(&tab.to_md());
            s.push('\n');
        }
    }
    s.push_str("## Provenance\n\n");
    for (path, rep) in &inputs.runs {
        s.push_str(&format!("### {}\n\n", md_text(&path.display().to_string())));
        for (k, v) in provenance(rep) {
            s.push_str(&format!("- **{}**: {}\n", md_text(&k), md_code(&v)));
        }
        s.push('\n');
    }
    for (path, t) in &inputs.trains {
        s.push_str(&format!("### {}\n\n", md_text(&path.display().to_string())));
        let rep = Report {
            schema: String::new(),
            env: t.env.clone(),
            results: Vec::new(),
            partial: t.partial,
        };
        for (k, v) in provenance(&rep) {
            s.push_str(&format!("- **{}**: {}\n", md_text(&k), md_code(&v)));
        }
        s.push_str(&format!(
            "- **dataset sha256**: {}\n\n",
            md_code(&t.config.dataset_sha256)
        ));
    }
    s
}
