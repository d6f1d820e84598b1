//! The headline: the answer a lab wants from a run, per device, before any table.
//!
//! Which variants gave different bits on different runs (and by how much), the worst error
//! against the exact answer relative to its a-priori bound, and what determinism costs
//! (the deterministic variant's median time over the fastest nondeterministic variant's).
//! The same [`Headline`] is printed after `detbench run` and put at the top of the HTML and
//! Markdown reports, so the three never disagree.

use super::markdown::{cost_ratio, device_label, kernel_groups};
use super::ResultRecord;
use std::collections::BTreeMap;

/// A variant that gave more than one output bit pattern over its runs in some case.
#[derive(Clone, Debug, PartialEq)]
pub struct Nondeterministic {
    pub op: String,
    pub precision: String,
    pub accumulator: String,
    pub variant: String,
    /// True when the variant promises identical bits: this is then a defect, not a finding.
    pub promised_deterministic: bool,
    /// Cases where the runs disagreed, and cases that ran ok.
    pub cases_differing: usize,
    pub cases_ok: usize,
    /// Most distinct outputs in one case, and that case's run count.
    pub max_distinct: u64,
    pub runs: u64,
    /// Worst ULP distance between runs, over cases and elements.
    pub worst_ulp: u64,
}

/// The worst error against the exact answer, relative to the a-priori bound.
#[derive(Clone, Debug, PartialEq)]
pub struct WorstError {
    /// max |error| / bound (0 when the result is exact).
    pub ratio: f64,
    pub max_abs_err: f64,
    pub bound: f64,
    /// Which case: op, precision, accumulator, variant, size, input.
    pub case: String,
    /// Cases with a finite bound that were compared.
    pub cases: usize,
}

/// What determinism costs for one op and precision.
#[derive(Clone, Debug, PartialEq)]
pub struct Cost {
    pub op: String,
    pub precision: String,
    pub variant: String,
    /// The largest size measured; the ratio is the median over inputs and accumulators
    /// at that size.
    pub size: u64,
    pub ratio: f64,
    /// The largest ratio at that size, and the input it was measured on (for scatter_add
    /// the index distribution: how the cost moves with contention).
    pub worst: f64,
    pub worst_input: String,
}

/// Cases that could not run for one reason, collapsed into one line.
#[derive(Clone, Debug, PartialEq)]
pub struct NotRun {
    pub status: crate::report::Status,
    pub message: String,
    pub count: usize,
    /// Distinct "op variant precision" labels, in first-seen order.
    pub what: Vec<String>,
}

/// The headline of one device.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceHeadline {
    /// "backend:device".
    pub device: String,
    pub cases: usize,
    pub cases_ok: usize,
    /// Variants with differing runs, promised-deterministic ones first.
    pub nondeterministic: Vec<Nondeterministic>,
    /// Variants whose every ok case reproduced its bits, as "op variant" labels.
    pub reproducible: Vec<String>,
    pub worst_error: Option<WorstError>,
    /// ok cases whose error exceeded the bound (must be none).
    pub bound_violations: usize,
    pub costs: Vec<Cost>,
    pub not_run: Vec<NotRun>,
}

/// Builds one headline per device, in first-seen order. The `copy` baseline is left out:
/// it measures bandwidth, not a kernel's determinism.
pub fn build(results: &[&ResultRecord]) -> Vec<DeviceHeadline> {
    let mut devices: Vec<String> = Vec::new();
    for r in results {
        let d = device_label(r);
        if !devices.contains(&d) {
            devices.push(d);
        }
    }
    devices
        .into_iter()
        .map(|d| {
            let recs: Vec<&ResultRecord> = results
                .iter()
                .copied()
                .filter(|r| device_label(r) == d && r.op != super::schema::BASELINE_OP)
                .collect();
            device_headline(d, &recs)
        })
        .collect()
}

fn device_headline(device: String, recs: &[&ResultRecord]) -> DeviceHeadline {
    let ok: Vec<&ResultRecord> = recs.iter().copied().filter(|r| r.status == "ok").collect();

    // Run-to-run behaviour per (op, precision, accumulator, variant).
    let groups = kernel_groups(ok.iter().copied());
    let mut nondeterministic = Vec::new();
    let mut reproducible: Vec<String> = Vec::new();
    let mut differing_variants: Vec<(String, String)> = Vec::new();
    for ((op, precision, accumulator, variant), g) in &groups {
        let differing: Vec<&&ResultRecord> = g
            .iter()
            .filter(|r| r.distinct_outputs.is_some_and(|d| d > 1))
            .collect();
        if differing.is_empty() {
            continue;
        }
        let worst = differing
            .iter()
            .max_by_key(|r| (r.distinct_outputs.unwrap_or(0), r.runs))
            .expect("non-empty");
        differing_variants.push((op.clone(), variant.clone()));
        nondeterministic.push(Nondeterministic {
            op: op.clone(),
            precision: precision.clone(),
            accumulator: accumulator.clone(),
            variant: variant.clone(),
            promised_deterministic: g.iter().any(|r| r.deterministic_variant),
            cases_differing: differing.len(),
            cases_ok: g.len(),
            max_distinct: worst.distinct_outputs.unwrap_or(0),
            runs: worst.runs,
            worst_ulp: differing
                .iter()
                .filter_map(|r| r.max_ulp_run_to_run)
                .max()
                .unwrap_or(0),
        });
    }
    nondeterministic.sort_by_key(|n| !n.promised_deterministic);
    for ((op, _, _, variant), g) in &groups {
        let label = format!("{op} {variant}");
        let all_same = g.iter().all(|r| r.bitwise_reproducible == Some(true));
        if all_same
            && !differing_variants.contains(&(op.clone(), variant.clone()))
            && !reproducible.contains(&label)
        {
            reproducible.push(label);
        }
    }

    // Error against exact, relative to the bound.
    let mut worst_error: Option<WorstError> = None;
    let mut cases = 0;
    for r in &ok {
        let (Some(err), Some(bound)) = (r.max_abs_err, r.error_bound) else {
            continue;
        };
        if !err.is_finite() || !bound.is_finite() {
            continue;
        }
        cases += 1;
        let ratio = if err == 0.0 {
            0.0
        } else if bound > 0.0 {
            err / bound
        } else {
            f64::INFINITY
        };
        if worst_error.as_ref().is_none_or(|w| ratio > w.ratio) {
            worst_error = Some(WorstError {
                ratio,
                max_abs_err: err,
                bound,
                case: format!(
                    "{} {} acc {} {} n={} {}",
                    r.op, r.precision, r.accumulator, r.variant, r.size, r.input
                ),
                cases: 0,
            });
        }
    }
    if let Some(w) = &mut worst_error {
        w.cases = cases;
    }
    let bound_violations = ok.iter().filter(|r| r.bound_violations > 0).count();

    // What determinism costs, at the largest size of each op and precision.
    type Cells = BTreeMap<u64, Vec<(f64, String)>>;
    let mut cost_cells: BTreeMap<(String, String, String), Cells> = BTreeMap::new();
    for r in ok.iter().filter(|r| r.deterministic_variant) {
        if let Some(c) = cost_ratio(&ok, r) {
            cost_cells
                .entry((r.op.clone(), r.precision.clone(), r.variant.clone()))
                .or_default()
                .entry(r.size)
                .or_default()
                .push((c, r.input.clone()));
        }
    }
    let mut costs = Vec::new();
    for ((op, precision, variant), by_size) in cost_cells {
        let Some((size, v)) = by_size.into_iter().next_back() else {
            continue;
        };
        let ratios: Vec<f64> = v.iter().map(|(c, _)| *c).collect();
        let worst = v.iter().max_by(|a, b| a.0.total_cmp(&b.0));
        if let (Some(ratio), Some((worst, worst_input))) =
            (crate::shared::stats::median(&ratios), worst)
        {
            costs.push(Cost {
                op,
                precision,
                variant,
                size,
                ratio,
                worst: *worst,
                worst_input: worst_input.clone(),
            });
        }
    }

    // Everything that did not run, one line per reason.
    let mut not_run: Vec<NotRun> = Vec::new();
    for r in recs.iter().filter(|r| r.status != "ok") {
        let what = format!("{} {} {}", r.op, r.variant, r.precision);
        match not_run
            .iter_mut()
            .find(|n| n.status == r.status && n.message == r.message)
        {
            Some(n) => {
                n.count += 1;
                if !n.what.contains(&what) {
                    n.what.push(what);
                }
            }
            None => not_run.push(NotRun {
                status: r.status,
                message: r.message.clone(),
                count: 1,
                what: vec![what],
            }),
        }
    }

    DeviceHeadline {
        device,
        cases: recs.len(),
        cases_ok: ok.len(),
        nondeterministic,
        reproducible,
        worst_error,
        bound_violations,
        costs,
        not_run,
    }
}

/// Formats a ratio such as 0.31 or 2.4e-3 with three significant digits.
pub(crate) fn sig3(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if !x.is_finite() {
        format!("{x}")
    } else if (0.01..1e4).contains(&x.abs()) {
        let d = (2 - x.abs().log10().floor() as i32).max(0) as usize;
        format!("{x:.d$}")
    } else {
        format!("{x:.2e}")
    }
}

/// Lays out rows as text columns: text left-aligned, numbers right-aligned.
pub fn columns(headers: &[&str], rows: &[Vec<String>], indent: &str) -> String {
    let n = headers.len();
    let numeric: Vec<bool> = (0..n)
        .map(|c| {
            rows.iter().all(|r| {
                let t = r[c].trim_end_matches('x');
                t == "-"
                    || t.split(['/', ' '])
                        .filter(|p| !p.is_empty())
                        .all(|p| p.parse::<f64>().is_ok())
            })
        })
        .collect();
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([headers[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    let line = |cells: Vec<&str>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, t)| {
                let w = widths[c];
                if numeric[c] {
                    format!("{t:>w$}")
                } else {
                    format!("{t:<w$}")
                }
            })
            .collect();
        format!("{indent}{}\n", parts.join("  ").trim_end())
    };
    s.push_str(&line(headers.to_vec()));
    for r in rows {
        s.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    s
}

fn nondet_rows(h: &DeviceHeadline) -> Vec<Vec<String>> {
    h.nondeterministic
        .iter()
        .map(|n| {
            vec![
                n.op.clone(),
                n.precision.clone(),
                n.accumulator.clone(),
                if n.promised_deterministic {
                    format!("{} (PROMISED DETERMINISTIC)", n.variant)
                } else {
                    n.variant.clone()
                },
                format!("{}/{}", n.cases_differing, n.cases_ok),
                format!("{}/{}", n.max_distinct, n.runs),
                n.worst_ulp.to_string(),
            ]
        })
        .collect()
}

const NONDET_HEADERS: [&str; 7] = [
    "op",
    "prec",
    "acc",
    "variant",
    "cases differing",
    "distinct outputs",
    "worst ULP spread",
];

fn cost_rows(h: &DeviceHeadline) -> Vec<Vec<String>> {
    h.costs
        .iter()
        .map(|c| {
            vec![
                c.op.clone(),
                c.precision.clone(),
                c.variant.clone(),
                c.size.to_string(),
                format!("{}x", sig3(c.ratio)),
                format!("{}x", sig3(c.worst)),
                c.worst_input.clone(),
            ]
        })
        .collect()
}

const COST_HEADERS: [&str; 7] = [
    "op",
    "prec",
    "deterministic variant",
    "n",
    "time / fastest",
    "worst",
    "worst on input",
];

fn error_line(h: &DeviceHeadline) -> String {
    match &h.worst_error {
        None => "no case has an exact answer and a finite bound".into(),
        Some(w) if w.ratio == 0.0 => {
            format!("every one of {} bounded cases was exact", w.cases)
        }
        Some(w) => format!(
            "{} of the bound ({} cases; worst: {}, |error| {:.3e} <= bound {:.3e}){}",
            sig3(w.ratio),
            w.cases,
            w.case,
            w.max_abs_err,
            w.bound,
            if w.ratio > 1.0 {
                "  EXCEEDS THE BOUND"
            } else {
                ""
            }
        ),
    }
}

fn not_run_line(n: &NotRun) -> String {
    const SHOWN: usize = 4;
    let mut what = n.what[..n.what.len().min(SHOWN)].join(", ");
    if n.what.len() > SHOWN {
        what.push_str(&format!(", and {} more", n.what.len() - SHOWN));
    }
    format!("{} x {}: {} ({what})", n.count, n.status, n.message)
}

/// The plain-text headline printed after `detbench run`.
pub fn text(heads: &[DeviceHeadline]) -> String {
    let mut s = String::new();
    for h in heads {
        s.push_str(&format!(
            "\n== {}: {} of {} cases ran\n",
            h.device, h.cases_ok, h.cases
        ));
        if h.nondeterministic.is_empty() {
            if h.cases_ok > 0 {
                s.push_str("Nondeterministic: none; every case gave the same bits on every run.\n");
            }
        } else {
            s.push_str("Nondeterministic (runs gave different bits):\n");
            s.push_str(&columns(&NONDET_HEADERS, &nondet_rows(h), "  "));
        }
        if !h.reproducible.is_empty() {
            s.push_str(&format!(
                "Bitwise reproducible in every case: {}\n",
                h.reproducible.join(", ")
            ));
        }
        s.push_str(&format!("Worst error vs exact: {}\n", error_line(h)));
        if h.bound_violations > 0 {
            s.push_str(&format!(
                "ERROR BOUND VIOLATED in {} ok cases\n",
                h.bound_violations
            ));
        }
        if !h.costs.is_empty() {
            s.push_str("Cost of determinism (time over the fastest nondeterministic variant's for the same op, precision, accumulator, n and input; median and worst over inputs, largest n):\n");
            s.push_str(&columns(&COST_HEADERS, &cost_rows(h), "  "));
        }
        for n in &h.not_run {
            s.push_str(&format!("Not run: {}\n", not_run_line(n)));
        }
    }
    s
}

/// Report text made inert for Markdown (raw HTML, table pipes, line breaks).
fn md_cell(s: &str) -> String {
    super::markdown::md_text(s)
}

fn md_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n|", headers.join(" | "));
    for _ in headers {
        s.push_str("---|");
    }
    s.push('\n');
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| md_cell(c)).collect();
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s
}

/// The headline as Markdown, for the top of the Markdown report.
pub fn markdown(heads: &[DeviceHeadline]) -> String {
    let mut s = String::from("## Headline\n\n");
    for h in heads {
        s.push_str(&format!(
            "### {}\n\n{} of {} cases ran.\n\n",
            md_cell(&h.device),
            h.cases_ok,
            h.cases
        ));
        if h.nondeterministic.is_empty() {
            if h.cases_ok > 0 {
                s.push_str(
                    "**Nondeterministic:** none; every case gave the same bits on every run.\n\n",
                );
            }
        } else {
            s.push_str("**Nondeterministic** (runs gave different bits):\n\n");
            s.push_str(&md_table(&NONDET_HEADERS, &nondet_rows(h)));
            s.push('\n');
        }
        if !h.reproducible.is_empty() {
            s.push_str(&format!(
                "**Bitwise reproducible in every case:** {}\n\n",
                md_cell(&h.reproducible.join(", "))
            ));
        }
        s.push_str(&format!(
            "**Worst error vs exact:** {}\n\n",
            md_cell(&error_line(h))
        ));
        if h.bound_violations > 0 {
            s.push_str(&format!(
                "**Error bound violated** in {} ok cases.\n\n",
                h.bound_violations
            ));
        }
        if !h.costs.is_empty() {
            s.push_str("**Cost of determinism** (time over the fastest nondeterministic variant's for the same op, precision, accumulator, n and input; median and worst over inputs, at the largest n):\n\n");
            s.push_str(&md_table(&COST_HEADERS, &cost_rows(h)));
            s.push('\n');
        }
        for n in &h.not_run {
            s.push_str(&format!("- Not run: {}\n", md_cell(&not_run_line(n))));
        }
        if !h.not_run.is_empty() {
            s.push('\n');
        }
    }
    s
}

fn html_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    use super::html::escape;
    let mut s = String::from("<table class=\"headline\"><thead><tr>");
    for h in headers {
        s.push_str(&format!("<th>{}</th>", escape(h)));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let num = c
                .trim_end_matches('x')
                .split('/')
                .all(|p| p.parse::<f64>().is_ok());
            let class = if num { " class=\"num\"" } else { "" };
            s.push_str(&format!("<td{class}>{}</td>", escape(c)));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// The headline as HTML, for the top of the HTML report (all text escaped).
pub fn html(heads: &[DeviceHeadline]) -> String {
    use super::html::escape;
    let mut s = String::from("<section id=\"headline\"><h2>Headline</h2>");
    for h in heads {
        s.push_str(&format!(
            "<h3>{}</h3><p>{} of {} cases ran.</p>",
            escape(&h.device),
            h.cases_ok,
            h.cases
        ));
        if h.nondeterministic.is_empty() {
            if h.cases_ok > 0 {
                s.push_str("<p><b>Nondeterministic:</b> none; every case gave the same bits on every run.</p>");
            }
        } else {
            s.push_str("<p><b>Nondeterministic</b> (runs gave different bits):</p>");
            s.push_str(&html_table(&NONDET_HEADERS, &nondet_rows(h)));
        }
        if !h.reproducible.is_empty() {
            s.push_str(&format!(
                "<p><b>Bitwise reproducible in every case:</b> {}</p>",
                escape(&h.reproducible.join(", "))
            ));
        }
        s.push_str(&format!(
            "<p><b>Worst error vs exact:</b> {}</p>",
            escape(&error_line(h))
        ));
        if h.bound_violations > 0 {
            s.push_str(&format!(
                "<p class=\"note\"><b>Error bound violated</b> in {} ok cases.</p>",
                h.bound_violations
            ));
        }
        if !h.costs.is_empty() {
            s.push_str("<p><b>Cost of determinism</b> (time over the fastest nondeterministic variant's for the same op, precision, accumulator, n and input; median and worst over inputs, at the largest n):</p>");
            s.push_str(&html_table(&COST_HEADERS, &cost_rows(h)));
        }
        if !h.not_run.is_empty() {
            s.push_str("<ul>");
            for n in &h.not_run {
                s.push_str(&format!("<li>Not run: {}</li>", escape(&not_run_line(n))));
            }
            s.push_str("</ul>");
        }
    }
    s.push_str("</section>");
    s
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

/// The console output of `detbench run`: one row per case that ran (numbers
/// right-aligned, times as min/median/max), then the headline. Cases that did not run
/// are not rows: the headline gives each reason once.
pub fn console(results: &[ResultRecord]) -> String {
    let f = |v: Option<f64>| v.map(|x| format!("{x:.3e}")).unwrap_or_else(|| "-".into());
    let headers = [
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
    ];
    let rows: Vec<Vec<String>> = results
        .iter()
        .filter(|r| r.status == "ok")
        .map(|r| {
            vec![
                r.op.clone(),
                r.backend.clone(),
                r.precision.clone(),
                r.accumulator.clone(),
                r.variant.clone(),
                r.ordering.to_string(),
                r.size.to_string(),
                r.input.clone(),
                r.distinct_outputs
                    .map(|d| format!("{d}/{}", r.runs))
                    .unwrap_or_else(|| "-".into()),
                r.max_ulp_run_to_run
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                r.max_ulp_err
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                f(r.max_abs_err),
                f(r.error_bound),
                times_cell(r),
                r.gbps
                    .map(|g| format!("{g:.2}"))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut s = String::new();
    if !rows.is_empty() {
        s.push_str(&columns(&headers, &rows, ""));
        s.push('\n');
    }
    let refs: Vec<&ResultRecord> = results.iter().collect();
    s.push_str(&text(&build(&refs)));
    s.push_str(&super::batch::text(&refs));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(variant: &str, det: bool, distinct: u64, ulp: u64, ms: f64) -> ResultRecord {
        ResultRecord {
            op: "sum".into(),
            backend: "wgpu".into(),
            device: "gpu0".into(),
            precision: "f32".into(),
            accumulator: "f32".into(),
            variant: variant.into(),
            ordering: Default::default(),
            size: 1000,
            input: "normal".into(),
            runs: 5,
            status: crate::report::Status::Ok,
            distinct_outputs: Some(distinct),
            bitwise_reproducible: Some(distinct == 1),
            max_ulp_run_to_run: Some(ulp),
            max_abs_err: Some(1e-6),
            error_bound: Some(4e-6),
            times_ms: vec![ms * 1.2, ms, ms * 0.9, ms, ms * 2.0],
            median_ms: Some(ms),
            deterministic_variant: det,
            ..Default::default()
        }
    }

    fn unsupported(variant: &str) -> ResultRecord {
        ResultRecord {
            status: crate::report::Status::Unsupported,
            message: "f16 storage is not available on this adapter".into(),
            distinct_outputs: None,
            ..rec(variant, false, 1, 0, 1.0)
        }
    }

    #[test]
    fn headline_answers_the_three_questions() {
        let rs = [
            rec("atomic", false, 4, 3, 1.0),
            rec("atomic2", false, 1, 0, 2.0),
            rec("tree", true, 1, 0, 1.5),
            unsupported("atomic"),
            unsupported("tree"),
            unsupported("tree"),
        ];
        let refs: Vec<&ResultRecord> = rs.iter().collect();
        let h = build(&refs);
        assert_eq!(h.len(), 1);
        let h = &h[0];
        assert_eq!(h.nondeterministic.len(), 1);
        assert_eq!(h.nondeterministic[0].variant, "atomic");
        assert_eq!(h.nondeterministic[0].max_distinct, 4);
        assert_eq!(h.nondeterministic[0].worst_ulp, 3);
        assert!(!h.nondeterministic[0].promised_deterministic);
        assert_eq!(h.reproducible, vec!["sum atomic2", "sum tree"]);
        let w = h.worst_error.as_ref().unwrap();
        assert!((w.ratio - 0.25).abs() < 1e-12);
        // tree's median 1.5 over the fastest nondeterministic median 1.0.
        assert_eq!(h.costs.len(), 1);
        assert!((h.costs[0].ratio - 1.5).abs() < 1e-12);
        // Three unsupported cases, one reason: one line.
        assert_eq!(h.not_run.len(), 1);
        assert_eq!(h.not_run[0].count, 3);
        let t = text(std::slice::from_ref(h));
        assert_eq!(t.matches("f16 storage is not available").count(), 1, "{t}");
        assert!(t.contains("1.50x"), "{t}");
        let md = markdown(std::slice::from_ref(h));
        assert!(
            md.contains("| sum | f32 | f32 | atomic | 1/1 | 4/5 | 3 |"),
            "{md}"
        );
    }

    #[test]
    fn cost_keeps_the_worst_input() {
        // Two inputs (say two index distributions): tree costs 1.5x on one, 4x on the other.
        let on = |mut r: ResultRecord, input: &str| {
            r.input = input.into();
            r
        };
        let rs = [
            on(rec("atomic", false, 2, 1, 1.0), "normal+index:uniform"),
            on(rec("tree", true, 1, 0, 1.5), "normal+index:uniform"),
            on(rec("atomic", false, 2, 1, 0.5), "normal+index:single"),
            on(rec("tree", true, 1, 0, 2.0), "normal+index:single"),
        ];
        let refs: Vec<&ResultRecord> = rs.iter().collect();
        let h = &build(&refs)[0];
        assert_eq!(h.costs.len(), 1);
        let c = &h.costs[0];
        assert!((c.ratio - 2.75).abs() < 1e-12, "{c:?}");
        assert!((c.worst - 4.0).abs() < 1e-12, "{c:?}");
        assert_eq!(c.worst_input, "normal+index:single");
        let t = text(std::slice::from_ref(h));
        assert!(t.contains("4.00x  normal+index:single"), "{t}");
        let md = markdown(std::slice::from_ref(h));
        assert!(
            md.contains("| sum | f32 | tree | 1000 | 2.75x | 4.00x | normal+index:single |"),
            "{md}"
        );
    }

    #[test]
    fn broken_promise_is_loud_and_first() {
        let rs = [
            rec("atomic", false, 2, 1, 1.0),
            rec("tree", true, 2, 1, 1.0),
        ];
        let refs: Vec<&ResultRecord> = rs.iter().collect();
        let h = &build(&refs)[0];
        assert!(h.nondeterministic[0].promised_deterministic);
        assert!(text(std::slice::from_ref(h)).contains("PROMISED DETERMINISTIC"));
        assert!(h.reproducible.is_empty());
    }

    #[test]
    fn numbers_are_right_aligned_and_times_show_spread() {
        let rs = [
            rec("atomic", false, 4, 3, 1.0),
            rec("tree", true, 1, 0, 12.5),
        ];
        let out = console(&rs);
        let lines: Vec<&str> = out.lines().collect();
        // Header and rows end at the same column for a right-aligned last column.
        let ends: Vec<usize> = lines[..3].iter().map(|l| l.len()).collect();
        assert!(ends.iter().all(|&e| e == ends[0]), "{out}");
        assert!(out.contains("0.900/1.000/2.000"), "{out}");
        assert!(out.contains("11.250/12.500/25.000"), "{out}");
    }

    #[test]
    fn exact_results_and_violations_are_reported() {
        let mut a = rec("tree", true, 1, 0, 1.0);
        a.max_abs_err = Some(0.0);
        let refs = [&a];
        let h = &build(&refs)[0];
        assert!(error_line(h).contains("exact"), "{}", error_line(h));
        let mut b = rec("tree", true, 1, 0, 1.0);
        b.max_abs_err = Some(8e-6);
        b.bound_violations = 1;
        let refs = [&b];
        let h = &build(&refs)[0];
        assert_eq!(h.bound_violations, 1);
        assert!(text(std::slice::from_ref(h)).contains("EXCEEDS THE BOUND"));
    }
}
