//! `detbench tolerance`: test tolerances (rtol/atol) with their justification.
//!
//! For each (op, precision, accumulator, variant) of a run report, three bases are weighed,
//! each as a relative error against the exact result (`|computed - exact| <= rtol |exact|`):
//! - deterministic: the variant's own a-priori bound (`error_bound`, e.g. Higham's
//!   gamma_k times the sum of magnitudes), always valid;
//! - probabilistic: Higham & Mary's lambda sqrt(n) u bound, valid with probability at least
//!   C when rounding errors are independent and mean-zero; it uses k = n - 1 (+1 for the
//!   products of dot), the depth of the worst order, so it holds for every order;
//! - empirical: the largest error observed over m runs. For i.i.d. runs from any continuous
//!   distribution the next run exceeds the maximum of m with probability exactly
//!   1/(m+1), so m >= C/(1-C) runs give coverage >= C (distribution-free, but only for the
//!   inputs and device measured).
//!
//! The recommendation is the smallest basis that is valid at confidence C and not below
//! anything observed. With a training report, final loss and accuracy of the two modes are
//! compared MLPerf-RCP style: trimmed mean and std over replicas, one-sided Welch t-test.

use crate::error::DetError;
use crate::numerics::bounds::{gamma, lambda_for_confidence, probabilistic_gamma};
use crate::numerics::Precision;
use crate::report::train::{load_train_report, TrainReport};
use crate::report::{load_report, Report, ResultRecord};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::BTreeMap;
use std::path::Path;

/// The empirical band of a sample: its maximum, and what that maximum guarantees.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EmpiricalBand {
    /// Largest observation.
    pub value: f64,
    /// Runs observed (m).
    pub runs: u64,
    /// Probability that one more run stays at or below `value`: m / (m + 1).
    pub coverage: f64,
    /// Runs needed for coverage >= C: ceil(C / (1 - C)).
    pub runs_needed: u64,
    /// Whether `runs >= runs_needed`.
    pub sufficient: bool,
}

/// Runs needed so that the maximum of m i.i.d. runs covers the next one with probability C.
pub fn runs_needed(confidence: f64) -> u64 {
    // m / (m + 1) >= C  <=>  m >= C / (1 - C). A tiny epsilon keeps C = 0.99 at 99, not 100.
    (confidence / (1.0 - confidence) - 1e-9).ceil().max(1.0) as u64
}

/// The empirical band of a maximum over `runs` runs.
pub fn empirical_band_of_max(max: f64, runs: u64, confidence: f64) -> EmpiricalBand {
    let need = runs_needed(confidence);
    EmpiricalBand {
        value: max,
        runs,
        coverage: runs as f64 / (runs as f64 + 1.0),
        runs_needed: need,
        sufficient: runs >= need,
    }
}

/// The empirical band of a sample of errors.
pub fn empirical_band(samples: &[f64], confidence: f64) -> EmpiricalBand {
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    empirical_band_of_max(max, samples.len() as u64, confidence)
}

/// One tolerance recommendation.
#[derive(Clone, Debug, Serialize)]
pub struct ToleranceRow {
    /// Operation.
    pub op: String,
    /// Input format.
    pub precision: String,
    /// Accumulator format.
    pub accumulator: String,
    /// Kernel variant.
    pub variant: String,
    /// Input distribution: tolerances relative to |exact| scale with the condition number,
    /// so inputs of different conditioning get separate rows.
    pub input: String,
    /// `ok` results the row is derived from.
    pub results: usize,
    /// Devices they ran on.
    pub devices: Vec<String>,
    /// Largest problem size.
    pub n_max: u64,
    /// Largest condition number (sum of magnitudes / |exact|).
    pub cond_max: Option<f64>,
    /// Whether every result was bitwise reproducible.
    pub bitwise_reproducible: bool,
    /// Textbook gamma_{n_max - 1} in the accumulator's unit roundoff, relative to the sum
    /// of magnitudes (null when n u >= 1).
    pub gamma_n: Option<f64>,
    /// Deterministic basis: max over results of error_bound / |exact| (null when a result
    /// has no finite bound or a zero exact value).
    pub deterministic_rtol: Option<f64>,
    /// Probabilistic basis: max over results of min(prob. gamma x cond, deterministic).
    pub probabilistic_rtol: Option<f64>,
    /// Higham & Mary's lambda at the requested confidence.
    pub lambda: f64,
    /// Empirical basis: largest max_rel_err observed.
    pub empirical_rtol: Option<f64>,
    /// What the empirical maximum guarantees (runs = the fewest runs of any result).
    pub empirical: Option<EmpiricalBand>,
    /// Largest run-to-run spread in ULPs of the output format.
    pub run_to_run_ulp: Option<u64>,
    /// rtol for comparing two runs of this variant on one device: 2 u_out x spread
    /// (one ULP is at most 2u relative); 0 means compare bits.
    pub run_to_run_rtol: Option<f64>,
    /// The recommended rtol against the exact result.
    pub rtol: Option<f64>,
    /// The recommended atol: the largest absolute error bound of the chosen basis among
    /// results whose exact value is 0 (where no rtol helps); 0 otherwise.
    pub atol: f64,
    /// Which basis gave `rtol`, in words.
    pub basis: String,
}

/// Summary of one metric over replicas of one mode.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicaSummary {
    /// Replicas counted (after trimming).
    pub n: usize,
    /// Replicas trimmed away (the best and the worst when there are at least 5).
    pub trimmed: usize,
    /// Trimmed mean.
    pub mean: f64,
    /// Trimmed sample standard deviation (0 with a single replica).
    pub std: f64,
}

/// The MLPerf-RCP-style comparison of one metric between the two modes.
#[derive(Clone, Debug, Serialize)]
pub struct TrainComparison {
    /// `final_loss` or `final_accuracy`.
    pub metric: String,
    /// Deterministic replicas.
    pub deterministic: ReplicaSummary,
    /// Nondeterministic replicas.
    pub nondeterministic: ReplicaSummary,
    /// The alternative hypothesis tested, in words.
    pub alternative: String,
    /// Welch's t statistic (null when the test does not apply).
    pub t: Option<f64>,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: Option<f64>,
    /// One-sided p-value.
    pub p: Option<f64>,
    /// Conclusion at 1 - confidence, in words.
    pub verdict: String,
}

/// Everything `detbench tolerance` prints.
#[derive(Clone, Debug, Serialize)]
pub struct ToleranceReport {
    /// Requested confidence C.
    pub confidence: f64,
    /// Higham & Mary's lambda for C.
    pub lambda: f64,
    /// Runs the empirical basis needs for C.
    pub runs_needed: u64,
    /// One row per (op, precision, accumulator, variant).
    pub rows: Vec<ToleranceRow>,
    /// Training comparison, when a training report was given.
    pub train: Vec<TrainComparison>,
}

fn unit_roundoff(name: &str) -> Option<f64> {
    name.parse::<Precision>().ok().map(|p| p.unit_roundoff())
}

fn max_opt(a: Option<f64>, b: f64) -> Option<f64> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// Derives the rows from a run report, one per (op, precision, accumulator, variant, input).
pub fn tolerances(report: &Report, confidence: f64) -> Vec<ToleranceRow> {
    let lambda = lambda_for_confidence(confidence);
    type GroupKey = (String, String, String, String, String);
    let mut groups: BTreeMap<GroupKey, Vec<&ResultRecord>> = BTreeMap::new();
    for r in report.results.iter().filter(|r| r.status == "ok") {
        groups
            .entry((
                r.op.clone(),
                r.precision.clone(),
                r.accumulator.clone(),
                r.variant.clone(),
                r.input.clone(),
            ))
            .or_default()
            .push(r);
    }
    let mut rows = Vec::new();
    for ((op, precision, accumulator, variant, input), recs) in groups {
        let u = unit_roundoff(&accumulator).unwrap_or(f64::NAN);
        let u_out = recs
            .iter()
            .find_map(|r| unit_roundoff(&r.output_precision))
            .or_else(|| unit_roundoff(&precision))
            .unwrap_or(f64::NAN);
        // The stable device identity: one device under two driver versions counts once.
        let mut devices: Vec<String> = recs
            .iter()
            .map(|r| crate::report::key::DeviceId::of(r, &report.env).to_string())
            .collect();
        devices.sort();
        devices.dedup();
        let n_max = recs.iter().map(|r| r.size).max().unwrap_or(0);
        let cond_max = recs
            .iter()
            .filter_map(|r| r.condition_number)
            .reduce(f64::max);
        let bitwise = recs.iter().all(|r| r.bitwise_reproducible == Some(true));
        let extra = u64::from(op == "dot");
        let mut det: Option<f64> = None;
        let mut det_missing = false;
        let mut prob: Option<f64> = None;
        let mut prob_below_observed = false;
        let mut emp: Option<f64> = None;
        let mut atol_det = 0.0f64;
        let mut atol_prob = 0.0f64;
        let mut atol_emp = 0.0f64;
        let mut min_runs = u64::MAX;
        let mut r2r: Option<u64> = None;
        for r in &recs {
            min_runs = min_runs.min(r.runs);
            if let Some(s) = r.max_ulp_run_to_run {
                r2r = Some(r2r.map_or(s, |x| x.max(s)));
            }
            let exact = r.exact.unwrap_or(f64::NAN);
            let zero_exact = r.exact == Some(0.0);
            let observed_rel = r.max_rel_err.unwrap_or(0.0);
            // Relative errors are meaningless where the exact value is 0: those results feed atol.
            if zero_exact {
                atol_emp = atol_emp.max(r.max_abs_err.unwrap_or(0.0));
                if let Some(b) = r.error_bound {
                    atol_det = atol_det.max(b);
                    atol_prob = atol_prob.max(b);
                }
                continue;
            }
            emp = max_opt(emp, observed_rel);
            let det_rel = match (r.error_bound, exact.is_finite()) {
                (Some(b), true) => Some(b / exact.abs()),
                _ => None,
            };
            match det_rel {
                Some(d) => det = max_opt(det, d),
                None => det_missing = true,
            }
            let k = r.size.saturating_sub(1) + extra;
            let p_rel = r
                .condition_number
                .map(|c| probabilistic_gamma(k, u, lambda) * c);
            let p_rel = match (p_rel, det_rel) {
                (Some(p), Some(d)) => Some(p.min(d)),
                (p, d) => p.or(d),
            };
            if let Some(p) = p_rel {
                if p < observed_rel {
                    prob_below_observed = true;
                }
                prob = max_opt(prob, p);
            }
        }
        if det_missing {
            det = None;
        }
        let empirical = emp.map(|e| empirical_band_of_max(e, min_runs, confidence));
        // Candidates valid at confidence C: (rtol, atol, basis).
        let mut cands: Vec<(f64, f64, String)> = Vec::new();
        if let Some(d) = det {
            cands.push((
                d,
                atol_det,
                "deterministic: the variant's a-priori bound (holds always)".into(),
            ));
        }
        if let (Some(p), false) = (prob, prob_below_observed) {
            cands.push((
                p,
                atol_prob,
                format!(
                    "probabilistic: lambda sqrt(n) u x cond with lambda = {lambda:.2} (Higham & Mary; holds with probability >= {confidence})"
                ),
            ));
        }
        if let (Some(e), Some(band)) = (emp, &empirical) {
            // A bitwise-reproducible variant's observed error is one sample per input,
            // not a distribution: it says nothing about the next input, so it never
            // becomes the band against the exact answer (the note below covers run-to-run).
            if !(bitwise && recs.iter().all(|r| r.deterministic_variant)) && band.sufficient {
                cands.push((
                    e,
                    atol_emp,
                    format!(
                        "empirical: max over {} runs covers the next run with probability {:.4} (on these devices and inputs)",
                        band.runs, band.coverage
                    ),
                ));
            }
        }
        let best = cands.into_iter().min_by(|a, b| a.0.total_cmp(&b.0));
        let (rtol, atol, basis) = match best {
            Some((r, a, b)) => (Some(r), a, b),
            None => (
                None,
                0.0,
                "none: no finite bound and too few runs for an empirical band".into(),
            ),
        };
        let basis = if prob_below_observed {
            format!(
                "{basis}; the probabilistic bound was below an observed error, so it was not used"
            )
        } else {
            basis
        };
        let basis = if bitwise && recs.iter().all(|r| r.deterministic_variant) {
            format!("{basis}; run to run it is bitwise identical, so rtol = 0 between runs of the same launch on one device")
        } else {
            basis
        };
        rows.push(ToleranceRow {
            op,
            precision,
            accumulator,
            variant,
            input,
            results: recs.len(),
            devices,
            n_max,
            cond_max,
            bitwise_reproducible: bitwise,
            gamma_n: gamma(n_max.saturating_sub(1) + extra, u),
            deterministic_rtol: det,
            probabilistic_rtol: prob,
            lambda,
            empirical_rtol: emp,
            empirical,
            run_to_run_ulp: r2r,
            run_to_run_rtol: r2r.map(|s| s as f64 * 2.0 * u_out),
            rtol,
            atol,
            basis,
        });
    }
    rows
}

/// Mean and sample std, trimming the best and worst replica when there are at least 5.
pub fn trimmed_summary(values: &[f64]) -> (ReplicaSummary, Vec<f64>) {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let trimmed = if v.len() >= 5 {
        v = v[1..v.len() - 1].to_vec();
        2
    } else {
        0
    };
    let n = v.len();
    let mean = if n > 0 {
        v.iter().sum::<f64>() / n as f64
    } else {
        f64::NAN
    };
    let std = if n > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    (
        ReplicaSummary {
            n,
            trimmed,
            mean,
            std,
        },
        v,
    )
}

/// One-sided Welch t-test of H1 "mean(b) > mean(a)": (t, df, p). `None` when a sample has
/// fewer than 2 values or both have zero variance.
pub fn welch_greater(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    let sa = summary(a);
    let sb = summary(b);
    if sa.n < 2 || sb.n < 2 {
        return None;
    }
    let va = sa.std * sa.std / sa.n as f64;
    let vb = sb.std * sb.std / sb.n as f64;
    let se2 = va + vb;
    if se2 <= 0.0 {
        return None;
    }
    let t = (sb.mean - sa.mean) / se2.sqrt();
    let df = se2 * se2 / (va * va / (sa.n as f64 - 1.0) + vb * vb / (sb.n as f64 - 1.0));
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some((t, df, dist.sf(t)))
}

/// Mean and sample std without trimming.
fn summary(v: &[f64]) -> ReplicaSummary {
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n.max(1) as f64;
    let std = if n > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    ReplicaSummary {
        n,
        trimmed: 0,
        mean,
        std,
    }
}

/// Compares final loss and accuracy of the two modes of a training report.
pub fn train_comparison(t: &TrainReport, confidence: f64) -> Vec<TrainComparison> {
    let det = t.modes.iter().find(|m| m.mode == "deterministic");
    let nd = t.modes.iter().find(|m| m.mode == "nondeterministic");
    let (Some(det), Some(nd)) = (det, nd) else {
        return Vec::new();
    };
    let alpha = 1.0 - confidence;
    let mut out = Vec::new();
    for (metric, a, b, higher_is_worse) in [
        ("final_loss", det.final_losses(), nd.final_losses(), true),
        (
            "final_accuracy",
            det.final_accuracies(),
            nd.final_accuracies(),
            false,
        ),
    ] {
        let (sa, ta) = trimmed_summary(&a);
        let (sb, tb) = trimmed_summary(&b);
        // H1: the nondeterministic mode is worse (higher loss, lower accuracy).
        let test = if higher_is_worse {
            welch_greater(&ta, &tb)
        } else {
            welch_greater(&tb, &ta)
        };
        let alternative = if higher_is_worse {
            "nondeterministic mean final loss > deterministic"
        } else {
            "nondeterministic mean final accuracy < deterministic"
        };
        let verdict = match test {
            Some((_, _, p)) if p < alpha => {
                format!("nondeterminism is significantly worse at alpha = {alpha:.3} (p = {p:.3e})")
            }
            Some((_, _, p)) => {
                format!("no significant difference at alpha = {alpha:.3} (p = {p:.3})")
            }
            None if sa.n < 2 || sb.n < 2 => {
                "test not applicable: fewer than 2 replicas in a mode".into()
            }
            None if sa.mean == sb.mean => {
                "identical in every replica of both modes: no difference".into()
            }
            None => "test not applicable: both modes have zero variance but different means".into(),
        };
        out.push(TrainComparison {
            metric: metric.into(),
            deterministic: sa,
            nondeterministic: sb,
            alternative: alternative.into(),
            t: test.map(|x| x.0),
            df: test.map(|x| x.1),
            p: test.map(|x| x.2),
            verdict,
        });
    }
    out
}

/// Builds the whole tolerance report.
pub fn build(report: &Report, train: Option<&TrainReport>, confidence: f64) -> ToleranceReport {
    ToleranceReport {
        confidence,
        lambda: lambda_for_confidence(confidence),
        runs_needed: runs_needed(confidence),
        rows: tolerances(report, confidence),
        train: train
            .map(|t| train_comparison(t, confidence))
            .unwrap_or_default(),
    }
}

fn g(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3e}")).unwrap_or_else(|| "-".into())
}

/// A float as source code: shortest round-trip text in scientific notation.
fn code(x: f64) -> String {
    format!("{x:e}")
}

/// Ready-to-paste assertions for one row.
pub fn assertions(row: &ToleranceRow) -> Option<[String; 3]> {
    let rtol = row.rtol?;
    Some([
        format!(
            "approx::assert_relative_eq!(got, want, max_relative = {}, epsilon = {});",
            code(rtol),
            code(row.atol)
        ),
        format!(
            "numpy.testing.assert_allclose(actual, desired, rtol={}, atol={})",
            code(rtol),
            code(row.atol)
        ),
        format!(
            "torch.testing.assert_close(actual, expected, rtol={}, atol={})",
            code(rtol),
            code(row.atol)
        ),
    ])
}

/// Markdown output.
pub fn render_md(t: &ToleranceReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# Tolerances at confidence C = {}\n\n\
         Each rtol bounds |computed - exact| / |exact|. Bases: **deterministic** = the variant's a-priori bound \
         (Higham's gamma_k = k u / (1 - k u) times the condition number for ordinary sums); **probabilistic** = \
         (exp(lambda sqrt(n) u) - 1) x cond with lambda = sqrt(2 ln(2/(1-C))) = {:.3} (Higham & Mary 2019, \
         independent mean-zero rounding errors); **empirical** = the largest observed error: with m runs, the next \
         run exceeds the maximum with probability 1/(m+1), so C needs m >= C/(1-C) = {} runs. \
         The recommendation is the smallest basis valid at C.\n\n",
        t.confidence, t.lambda, t.runs_needed
    ));
    s.push_str("| op | prec | acc | variant | input | n max | cond max | repro | deterministic | probabilistic | empirical (runs) | run-to-run ULP | **rtol** | atol | basis |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in &t.rows {
        let emp = match &r.empirical {
            Some(b) => format!(
                "{} ({}{})",
                g(r.empirical_rtol),
                b.runs,
                if b.sufficient { "" } else { ", too few" }
            ),
            None => "-".into(),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | **{}** | {} | {} |\n",
            r.op,
            r.precision,
            r.accumulator,
            r.variant,
            r.input.replace('|', "/"),
            r.n_max,
            g(r.cond_max),
            if r.bitwise_reproducible { "yes" } else { "no" },
            g(r.deterministic_rtol),
            g(r.probabilistic_rtol),
            emp,
            r.run_to_run_ulp
                .map(|x| x.to_string())
                .unwrap_or_else(|| "-".into()),
            g(r.rtol),
            g(Some(r.atol)),
            r.basis.replace('|', "/")
        ));
    }
    s.push_str("\n## Assertions\n\n");
    for r in &t.rows {
        if let Some(a) = assertions(r) {
            s.push_str(&format!(
                "**{} {}/{} {} on {}**\n\n```\n{}\n{}\n{}\n```\n\n",
                r.op, r.precision, r.accumulator, r.variant, r.input, a[0], a[1], a[2]
            ));
        }
    }
    if !t.train.is_empty() {
        s.push_str("## Training: deterministic vs nondeterministic (MLPerf-RCP style)\n\n");
        s.push_str("| metric | det. mean ± std (n) | nondet. mean ± std (n) | H1 | Welch t | df | p | verdict |\n|---|---|---|---|---|---|---|---|\n");
        for c in &t.train {
            s.push_str(&format!(
                "| {} | {:.6} ± {:.2e} ({}) | {:.6} ± {:.2e} ({}) | {} | {} | {} | {} | {} |\n",
                c.metric,
                c.deterministic.mean,
                c.deterministic.std,
                c.deterministic.n,
                c.nondeterministic.mean,
                c.nondeterministic.std,
                c.nondeterministic.n,
                c.alternative,
                c.t.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into()),
                c.df.map(|x| format!("{x:.1}"))
                    .unwrap_or_else(|| "-".into()),
                g(c.p),
                c.verdict
            ));
        }
    }
    s
}

fn tex_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '_' | '%' | '&' | '#' | '$' | '{' | '}' => {
                o.push('\\');
                o.push(c);
            }
            '\\' => o.push_str("\\textbackslash{}"),
            '~' => o.push_str("\\textasciitilde{}"),
            '^' => o.push_str("\\textasciicircum{}"),
            _ => o.push(c),
        }
    }
    o
}

fn tex_num(v: Option<f64>) -> String {
    match v {
        None => "--".into(),
        Some(0.0) => "$0$".into(),
        Some(x) => {
            let e = x.abs().log10().floor() as i32;
            let m = x / 10f64.powi(e);
            format!("${m:.2}\\times10^{{{e}}}$")
        }
    }
}

/// LaTeX a paper can `\input`: a table and one sentence with the formula.
pub fn render_latex(t: &ToleranceReport) -> String {
    let mut s = String::new();
    s.push_str("% Generated by detbench tolerance; needs no package beyond LaTeX itself.\n");
    s.push_str("\\begin{table}[t]\n\\centering\n\\begin{tabular}{lllllrrrrl}\n\\hline\n");
    s.push_str("op & prec. & acc. & variant & input & $n$ & det. & prob. & emp. & rtol (basis) \\\\\n\\hline\n");
    for r in &t.rows {
        let basis = r.basis.split(':').next().unwrap_or("");
        s.push_str(&format!(
            "{} & {} & {} & {} & {} & {} & {} & {} & {} & {} ({}) \\\\\n",
            tex_escape(&r.op),
            tex_escape(&r.precision),
            tex_escape(&r.accumulator),
            tex_escape(&r.variant),
            tex_escape(&r.input),
            r.n_max,
            tex_num(r.deterministic_rtol),
            tex_num(r.probabilistic_rtol),
            tex_num(r.empirical_rtol),
            tex_num(r.rtol),
            tex_escape(basis)
        ));
    }
    s.push_str("\\hline\n\\end{tabular}\n");
    s.push_str(&format!(
        "\\caption{{Relative tolerances $|\\hat{{s}}-s|\\le \\mathrm{{rtol}}\\,|s|$ at confidence $C={}$.}}\n\\label{{tab:detbench-tolerances}}\n\\end{{table}}\n\n",
        t.confidence
    ));
    s.push_str(&format!(
        "Each tolerance is the smallest of the deterministic bound $\\gamma_k\\,\\kappa$ with $\\gamma_k = ku/(1-ku)$ (Higham, 2002), \
         the probabilistic bound $(e^{{\\lambda\\sqrt{{n}}\\,u}}-1)\\,\\kappa$ with $\\lambda=\\sqrt{{2\\ln(2/(1-C))}}={:.2}$, which holds with probability at least $C$ (Higham and Mary, 2019), \
         and the largest error observed in $m$ runs, which the next run exceeds with probability $1/(m+1)$ and is therefore used only when $m \\ge C/(1-C) = {}$; \
         here $u$ is the unit roundoff of the accumulator, $n$ the problem size and $\\kappa=\\sum|x_i|/|\\sum x_i|$ the condition number.\n",
        t.lambda, t.runs_needed
    ));
    s
}

/// `detbench tolerance`.
pub fn run(
    input: &Path,
    confidence: f64,
    format: &str,
    train: Option<&Path>,
) -> Result<(), DetError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(DetError::input(format!(
            "--confidence must lie strictly between 0 and 1, got {confidence}"
        )));
    }
    if !matches!(format, "md" | "latex" | "json") {
        return Err(DetError::input(format!(
            "--format must be md, latex or json, got '{format}'"
        )));
    }
    let report = load_report(input)?;
    // Two rows under one result key would be counted twice in a band.
    crate::report::key::index(&report)
        .map_err(|e| DetError::input(format!("{}: {e}", input.display())))?;
    let train = train.map(load_train_report).transpose()?;
    let t = build(&report, train.as_ref(), confidence);
    let out = match format {
        "md" => render_md(&t),
        "latex" => render_latex(&t),
        _ => {
            serde_json::to_string_pretty(&t)
                .map_err(|e| DetError::Io(format!("cannot serialise: {e}")))?
                + "\n"
        }
    };
    crate::safety::out(&out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_needed_matches_order_statistics() {
        assert_eq!(runs_needed(0.5), 1);
        assert_eq!(runs_needed(0.9), 9);
        assert_eq!(runs_needed(0.99), 99);
        let b = empirical_band(&[1.0, 3.0, 2.0], 0.75);
        assert_eq!(b.value, 3.0);
        assert!(b.sufficient);
        assert!((b.coverage - 0.75).abs() < 1e-12);
    }

    #[test]
    fn welch_detects_a_clear_difference() {
        let a = [1.0, 1.1, 0.9, 1.0, 1.05];
        let b = [2.0, 2.1, 1.9, 2.0, 2.05];
        let (t, _, p) = welch_greater(&a, &b).unwrap();
        assert!(t > 10.0 && p < 1e-6, "{t} {p}");
        let (_, _, p) = welch_greater(&b, &a).unwrap();
        assert!(p > 0.99);
    }
}
