//! The headline: the answer a lab wants from a run, per device, before any table, as view
//! blocks built from the [`Summary`] data. The same blocks open `detbench run`'s output and
//! the HTML and Markdown reports, so they never disagree.

use super::summary::{DeviceSummary, Summary};
use super::view::{Block, Table, Tone};

/// Formats a ratio such as 0.31 or 2.4e-3 with three significant digits.
pub fn sig3(x: f64) -> String {
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

/// A time ratio with its spread: "1.07x (0.98-1.15)".
pub fn ratio_text(ratio: f64, low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (Some(l), Some(h)) => format!("{}x ({}-{})", sig3(ratio), sig3(l), sig3(h)),
        _ => format!("{}x", sig3(ratio)),
    }
}

fn nondet_table(h: &DeviceSummary) -> Table {
    let mut t = Table::new(&[
        "op",
        "prec",
        "acc",
        "variant",
        "cases differing",
        "distinct outputs",
        "worst ULP spread",
    ]);
    for n in &h.nondeterministic {
        t.rows.push(vec![
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
        ]);
    }
    t
}

fn cost_table(h: &DeviceSummary) -> Table {
    let mut t = Table::new(&[
        "op",
        "prec",
        "deterministic variant",
        "n",
        "pairs",
        "time / fastest (median)",
        "worst",
        "worst case",
    ]);
    for c in &h.costs {
        t.rows.push(vec![
            c.op.clone(),
            c.precision.clone(),
            c.variant.clone(),
            c.size.to_string(),
            c.pairs.to_string(),
            format!("{}x", sig3(c.ratio)),
            format!("{}x", sig3(c.worst)),
            c.worst_case.clone(),
        ]);
    }
    t
}

/// The worst-error lines: per class, the largest ULP and relative errors.
fn error_lines(h: &DeviceSummary) -> Vec<String> {
    h.worst_errors
        .iter()
        .map(|w| {
            let ulp = match w.max_ulp_err {
                Some(u) => format!("{u} ULP ({})", w.ulp_case),
                None => "no ULP error measured".into(),
            };
            let rel = match w.max_rel_err {
                Some(r) => format!("relative {:.3e} ({})", r, w.rel_case),
                None => "no relative error measured".into(),
            };
            format!("{} variants, {} cases: {ulp}; {rel}", w.class, w.cases)
        })
        .collect()
}

/// The closest-to-bound line; a comparison sign that matches the numbers.
pub fn bound_line(h: &DeviceSummary) -> String {
    match &h.closest_to_bound {
        None => "no case has an exact answer and a finite bound".into(),
        Some(w) if w.ratio == 0.0 => {
            format!("every one of {} bounded cases was exact", w.cases)
        }
        Some(w) if w.max_abs_err > w.bound => format!(
            "{} EXCEEDS ITS BOUND: |error| {:.3e} > bound {:.3e} ({:.3} of the bound; {} bounded cases)",
            w.case, w.max_abs_err, w.bound, w.ratio, w.cases
        ),
        Some(w) => format!(
            "{} of the bound ({}: |error| {:.3e} <= bound {:.3e}; {} bounded cases)",
            sig3(w.ratio),
            w.case,
            w.max_abs_err,
            w.bound,
            w.cases
        ),
    }
}

fn not_run_line(n: &super::summary::NotRun) -> String {
    const SHOWN: usize = 4;
    let mut what = n.what[..n.what.len().min(SHOWN)].join(", ");
    if n.what.len() > SHOWN {
        what.push_str(&format!(", and {} more", n.what.len() - SHOWN));
    }
    format!("{} x {}: {} ({what})", n.count, n.status, n.message)
}

/// The headline of every device as view blocks; `level` is the level of each device's
/// heading.
pub fn blocks(s: &Summary, level: u8) -> Vec<Block> {
    let mut out = Vec::new();
    for h in &s.devices {
        out.push(Block::heading(
            level,
            format!("{}: {} of {} cases ran", h.device, h.cases_ok, h.cases),
        ));
        if h.nondeterministic.is_empty() {
            if h.cases_ok > 0 {
                out.push(Block::lead(
                    "Nondeterministic",
                    "none; every case gave the same bits on every run",
                ));
            }
        } else {
            out.push(Block::lead(
                "Nondeterministic",
                "runs gave different bits in these variants",
            ));
            if h.nondeterministic.iter().any(|n| n.promised_deterministic) {
                out.push(Block::toned(
                    Tone::Alarm,
                    Some("Broken promise"),
                    "a variant that promises identical bits gave different bits",
                ));
            }
            out.push(Block::Table(nondet_table(h)));
        }
        if !h.reproducible.is_empty() {
            out.push(Block::lead(
                "Reproducible by design, and held in every case",
                h.reproducible.join(", "),
            ));
        }
        if !h.agreed_by_chance.is_empty() {
            let list: Vec<String> = h
                .agreed_by_chance
                .iter()
                .map(|a| {
                    format!(
                        "{} (agreed in {} of {} runs, {} cases)",
                        a.variant, a.runs, a.runs, a.cases
                    )
                })
                .collect();
            out.push(Block::toned(
                Tone::Note,
                Some("Nondeterministic by design, agreed by chance (agreed in N of N runs: not a guarantee)"),
                list.join(", "),
            ));
        }
        for line in error_lines(h) {
            out.push(Block::lead("Largest error vs exact", line));
        }
        let tone = if h
            .closest_to_bound
            .as_ref()
            .is_some_and(|w| w.max_abs_err > w.bound)
        {
            Tone::Alarm
        } else {
            Tone::Plain
        };
        out.push(Block::toned(
            tone,
            Some("Closest to its bound"),
            bound_line(h),
        ));
        if h.bound_violations > 0 {
            out.push(Block::toned(
                Tone::Alarm,
                Some("ERROR BOUND VIOLATED"),
                format!("in {} ok cases", h.bound_violations),
            ));
        }
        if !h.costs.is_empty() {
            out.push(Block::lead(
                "Cost of determinism",
                "each deterministic row's median time over the fastest nondeterministic row with the same result key apart from the variant (same bins, shape, batch, workgroup size and input); median and worst over those pairs, at the largest n; below 1x is a speed-up",
            ));
            out.push(Block::Table(cost_table(h)));
        }
        for n in &h.not_run {
            out.push(Block::lead("Not run", not_run_line(n)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::{console::Console, Renderer};
    use crate::report::summary::of_report;
    use crate::report::view::Document;
    use crate::report::{Env, ResultRecord};

    fn rec(variant: &str, det: bool, err: f64, bound: f64) -> ResultRecord {
        ResultRecord {
            op: "sum".into(),
            backend: "cpu".into(),
            device: "c".into(),
            precision: "f64".into(),
            accumulator: "f64".into(),
            variant: variant.into(),
            size: 3,
            input: "fsum".into(),
            runs: 3,
            status: crate::report::Status::Ok,
            distinct_outputs: Some(1),
            bitwise_reproducible: Some(true),
            max_abs_err: Some(err),
            error_bound: Some(bound),
            deterministic_variant: det,
            ..Default::default()
        }
    }

    fn text(rows: &[ResultRecord]) -> String {
        let mut d = Document::new("");
        d.blocks = blocks(&of_report(rows, &Env::default()), 1);
        Console.render(&d)
    }

    /// An error above its bound is never printed with "<=".
    #[test]
    fn an_exceeded_bound_reads_as_exceeded() {
        let t = text(&[rec("kahan", true, 2.0, 1.0)]);
        let line = t
            .lines()
            .find(|l| l.contains("Closest to its bound"))
            .expect("bound line");
        assert!(
            line.contains("EXCEEDS ITS BOUND") && line.contains("> bound"),
            "{t}"
        );
        assert!(!line.contains("<="), "{line}");
        assert!(t.contains("ERROR BOUND VIOLATED"), "{t}");
        let ok = text(&[rec("kahan", true, 0.5, 1.0)]);
        assert!(ok.contains("<= bound") && !ok.contains("EXCEEDS"), "{ok}");
    }

    /// An atomic variant whose runs agreed is shown apart, as no guarantee.
    #[test]
    fn atomics_that_agreed_are_not_called_reproducible() {
        let t = text(&[rec("atomic", false, 0.0, 1.0), rec("tree", true, 0.0, 1.0)]);
        let repro = t
            .lines()
            .find(|l| l.starts_with("Reproducible by design"))
            .expect("reproducible line");
        assert!(
            repro.contains("sum tree") && !repro.contains("atomic"),
            "{t}"
        );
        let agreed = t
            .lines()
            .find(|l| l.contains("agreed by chance"))
            .expect("agreed line");
        assert!(
            agreed.contains("sum atomic (agreed in 3 of 3 runs"),
            "{agreed}"
        );
        assert!(agreed.contains("not a guarantee"), "{agreed}");
    }
}
