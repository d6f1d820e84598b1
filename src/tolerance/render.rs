//! A tolerance report as a view document (Markdown, text and HTML through the shared
//! renderers), its paper LaTeX (a `table*` with math headers, caption, label and citations:
//! what a paper `\input`s, beyond a format-neutral table), BibTeX and paste-ready assertions.

use super::{Form, ToleranceReport, ToleranceRow};
use crate::ops::SummationModel;
use crate::report::render::{markdown::Markdown, Renderer};
use crate::report::view::{Block, Document, Table};

/// BibTeX of the works the LaTeX cites (`tolerance --bib FILE`).
pub const BIBTEX: &str = r#"@book{higham2002accuracy,
  author    = {Nicholas J. Higham},
  title     = {Accuracy and Stability of Numerical Algorithms},
  edition   = {Second},
  publisher = {Society for Industrial and Applied Mathematics},
  address   = {Philadelphia, PA},
  year      = {2002},
  doi       = {10.1137/1.9780898718027}
}

@article{higham2019probabilistic,
  author  = {Nicholas J. Higham and Theo Mary},
  title   = {A New Approach to Probabilistic Rounding Error Analysis},
  journal = {SIAM Journal on Scientific Computing},
  volume  = {41},
  number  = {5},
  pages   = {A2815--A2835},
  year    = {2019},
  doi     = {10.1137/18M1226312}
}

@article{wilks1941determination,
  author  = {S. S. Wilks},
  title   = {Determination of Sample Sizes for Setting Tolerance Limits},
  journal = {The Annals of Mathematical Statistics},
  volume  = {12},
  number  = {1},
  pages   = {91--96},
  year    = {1941},
  doi     = {10.1214/aoms/1177731788}
}

@inproceedings{mattson2020mlperf,
  author    = {Peter Mattson and others},
  title     = {{MLPerf} Training Benchmark},
  booktitle = {Proceedings of Machine Learning and Systems},
  volume    = {2},
  pages     = {336--349},
  year      = {2020}
}
"#;

/// Three significant digits in scientific notation ("1.23e-8"); "-" for none.
pub fn sci(x: f64) -> String {
    format!("{x:.2e}")
}

fn opt(v: Option<f64>) -> String {
    v.map(sci).unwrap_or_else(|| "-".into())
}

/// x rounded up to three significant digits, as source text that parses to a value >= x
/// (a pasted tolerance must not be tighter than the band).
pub fn code(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x:e}");
    }
    let e = x.abs().log10().floor() as i32;
    let mut mant = (x / 10f64.powi(e - 2)).ceil() as i64;
    loop {
        let (m, ee) = if mant >= 1000 {
            (mant / 10, e + 1)
        } else {
            (mant, e)
        };
        let text = format!("{}.{:02}e{}", m / 100, m % 100, ee);
        if text.parse::<f64>().is_ok_and(|v| v >= x) {
            return text;
        }
        mant += 1;
    }
}

/// A number for LaTeX math: `$1.23\times10^{-8}$`, mantissa always in [1, 10).
pub fn tex_num(v: Option<f64>) -> String {
    match v {
        None => "--".into(),
        Some(0.0) => "$0$".into(),
        Some(x) if !x.is_finite() => "--".into(),
        Some(x) => {
            // Rust's formatter rounds and renormalises (9.999e-9 -> "1.00e-8").
            let s = format!("{x:.2e}");
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            if e == "0" {
                format!("${m}$")
            } else {
                format!("${m}\\times10^{{{e}}}$")
            }
        }
    }
}

/// tau as printed everywhere (tables, LaTeX, assertions): rounded up to three
/// significant digits, so the table shows the very number the pasted assertion uses.
fn tau_text(v: Option<f64>) -> String {
    v.map(code).unwrap_or_else(|| "-".into())
}

/// The one-per-report note on seeds, pulled out of the rows (where it repeated).
const SEEDS_NOTE: &str = "the empirical band has ";

/// Row notes without the seeds note (said once, above the table).
fn row_notes(r: &ToleranceRow) -> Vec<&str> {
    r.notes
        .iter()
        .map(String::as_str)
        .filter(|n| !n.starts_with(SEEDS_NOTE))
        .collect()
}

/// The seeds line: how many seeds the empirical basis needs at C and how many the fit had.
fn seeds_line(t: &ToleranceReport) -> Option<String> {
    let fewest = t
        .rows
        .iter()
        .filter(|r| r.notes.iter().any(|n| n.starts_with(SEEDS_NOTE)))
        .filter_map(|r| r.empirical.as_ref().map(|e| e.runs))
        .min()?;
    let need = t.runs_needed;
    Some(format!(
        "the empirical basis needs {need} seeds per configuration at C = {} (Wilks); this fit has {fewest} in some rows, so those rows use the other bases: run {} more seeds (e.g. --seed 1..{need}), or choose a lower --confidence",
        t.confidence,
        need.saturating_sub(fewest)
    ))
}

/// The held-out verdict in one line: how many bands met their stated coverage.
pub fn validation_verdict(t: &ToleranceReport) -> Option<String> {
    let v = t.validation.as_ref()?;
    let judged: Vec<_> = v.rows.iter().filter(|r| r.coverage.is_some()).collect();
    let met = judged
        .iter()
        .filter(|r| r.verdict.starts_with("meets"))
        .count();
    let failed: Vec<String> = judged
        .iter()
        .filter(|r| r.verdict.starts_with("fails"))
        .map(|r| format!("{} {}/{} {}", r.op, r.precision, r.accumulator, r.variant))
        .collect();
    let within = judged.len() - met - failed.len();
    let mut s = format!(
        "{met} of {} bands met their stated coverage on the held-out report",
        judged.len()
    );
    if within > 0 {
        s.push_str(&format!("; {within} below it within sampling error"));
    }
    if failed.is_empty() {
        s.push_str("; none failed");
    } else {
        s.push_str(&format!("; FAILED: {}", failed.join(", ")));
    }
    if v.shared_inputs > 0 {
        s.push_str(&format!(
            " ({} held-out results share inputs with the fit: not truly held out)",
            v.shared_inputs
        ));
    }
    Some(s)
}

/// The held-out coverage a row achieved, if validated.
fn achieved(t: &ToleranceReport, r: &ToleranceRow) -> Option<f64> {
    t.validation.as_ref()?.rows.iter().find_map(|v| {
        (v.op == r.op
            && v.precision == r.precision
            && v.accumulator == r.accumulator
            && v.variant == r.variant)
            .then_some(v.coverage)
            .flatten()
    })
}

fn magnitudes(row: &ToleranceRow) -> [&'static str; 3] {
    // (numpy, torch, rust) expressions of the terms' magnitude sum in f64: the family's
    // (dot: sum|x_i y_i|), else sum|x_i|.
    super::summation_model(&row.op).map_or(SummationModel::ABS_SUM_MAGNITUDES, |m| m.magnitudes)
}

/// Ready-to-paste assertions for one row in the chosen form; `desired` is a float64 (or
/// exact) reference. The elementwise approx line doubles both tolerances because
/// `assert_relative_eq!` accepts |a - b| <= epsilon OR <= max_relative max(|a|, |b|), and
/// atol + rtol |b| <= 2 max(atol, rtol |b|): so it passes whenever the band holds.
pub fn assertions(row: &ToleranceRow, form: Form) -> Option<[String; 3]> {
    let (rtol, atol) = (row.rtol?, row.atol?);
    if form == Form::Normwise && row.form == "normwise" {
        let tau = code(row.tau?);
        let [np, th, rs] = magnitudes(row);
        return Some([
            format!("approx::assert_abs_diff_eq!(got, want, epsilon = {tau} * {rs});"),
            format!("numpy.testing.assert_allclose(actual, desired, rtol=0, atol={tau} * {np})"),
            format!("torch.testing.assert_close(actual, expected, rtol=0, atol={tau} * {th})"),
        ]);
    }
    Some([
        format!(
            "approx::assert_relative_eq!(got, want, max_relative = {}, epsilon = {});",
            code(2.0 * rtol),
            code(2.0 * atol)
        ),
        format!(
            "numpy.testing.assert_allclose(actual, desired, rtol={}, atol={})",
            code(rtol),
            code(atol)
        ),
        format!(
            "torch.testing.assert_close(actual, expected, rtol={}, atol={})",
            code(rtol),
            code(atol)
        ),
    ])
}

fn backends(row: &ToleranceRow) -> String {
    let mut b: Vec<&str> = row
        .devices
        .iter()
        .map(|d| d.split(':').next().unwrap_or(d))
        .collect();
    b.dedup();
    b.join("+")
}

fn all_devices(t: &ToleranceReport) -> Vec<String> {
    let mut d: Vec<String> = t.rows.iter().flat_map(|r| r.devices.clone()).collect();
    d.sort();
    d.dedup();
    d
}

fn basis_cell(r: &ToleranceRow) -> String {
    match r.stated_coverage {
        Some(c) if c >= 1.0 => r.basis.clone(),
        Some(c) => format!("{} ({:.3})", r.basis, c),
        None => r.basis.clone(),
    }
}

/// The tolerance report as a view document (Markdown, text and HTML show it): the
/// validation verdict first, the seeds advice once, how tau is chosen, the bands (tau in
/// bold), the notes, the paste-ready assertions, the held-out validation and training.
pub fn document(t: &ToleranceReport) -> Document {
    let c = t.confidence;
    let mut d = Document::new(format!("Tolerance bands at confidence C = {c}"));
    if let Some(v) = validation_verdict(t) {
        d.push(Block::lead("Validation verdict", format!("{v}.")));
    }
    if let Some(l) = seeds_line(t) {
        d.push(Block::lead("Seeds", format!("{l}.")));
    }
    d.push(Block::lead(
        "Forms",
        "Normwise, scale-free: |computed - exact| <= tau * sum|x_i| (sum|x_i y_i| for dot); it survives ill-conditioning and exact sums of 0. \
         Elementwise (numpy/torch allclose): |computed - exact| <= atol + rtol * |exact| with rtol = tau and atol = tau * max(sum|x_i| - |exact|) over the fitted results. \
         Families without scalar outputs get an absolute band (atol only).",
    ));
    d.push(Block::lead(
        "Bases",
        format!(
            "tau is the smallest basis valid at C, never below an observed error. \
             Deterministic = the variant's own a-priori bound (Higham's gamma_k = k u / (1 - k u) for float additions). \
             Probabilistic = Higham & Mary's gamma~_k(lambda) = exp(lambda sqrt(k) u + k u^2/(1-u)) - 1, k = n - 1 (+1 for dot), with lambda solved from Q(lambda, n) = 1 - 2n exp(-lambda^2 (1-u)^2 / 2) >= C for the actual n; \
             it assumes independent, mean-zero rounding errors and holds for any order of the additions. \
             Empirical = the largest tau observed over m seeds per configuration; it is a one-sided tolerance bound with content C at confidence C (Wilks) once m >= ln(1-C)/ln(C) = {} seeds, and is not used with fewer.",
            t.runs_needed
        ),
    ));
    d.push(Block::para("atol depends on the data's scale: a row merging inputs of different scales takes the largest (per-input values: atol_by_input in the JSON)."));
    if !t.source_command.is_empty() {
        d.push(Block::Fields(vec![(
            "Fitted on".into(),
            t.source_command.clone(),
        )]));
    }
    let mut bands = Table::new(&[
        "op",
        "in/acc",
        "variant",
        "on",
        "n max",
        "m",
        "tau det",
        "tau prob",
        "tau observed",
        "tau",
        "basis (coverage)",
        "atol",
    ]);
    bands.emphasis = Some(9);
    for r in &t.rows {
        bands.rows.push(vec![
            r.op.clone(),
            format!("{}/{}", r.precision, r.accumulator),
            r.variant.clone(),
            backends(r),
            r.n_max.to_string(),
            r.empirical
                .as_ref()
                .map(|e| e.runs)
                .unwrap_or(0)
                .to_string(),
            opt(r.tau_deterministic),
            opt(r.tau_probabilistic),
            opt(r.tau_observed),
            tau_text(r.tau),
            basis_cell(r),
            opt(r.atol),
        ]);
    }
    d.push(Block::Table(bands));
    d.push(Block::para(format!(
        "rtol = tau in the elementwise form. m = seeds per configuration. Devices: {}.",
        all_devices(t).join(", ")
    )));
    let noted: Vec<String> = t
        .rows
        .iter()
        .filter(|r| !row_notes(r).is_empty())
        .map(|r| {
            format!(
                "{} {}/{} {}: {}.",
                r.op,
                r.precision,
                r.accumulator,
                r.variant,
                row_notes(r).join("; ")
            )
        })
        .collect();
    if !noted.is_empty() {
        d.push(Block::heading(1, "Notes"));
        d.push(Block::List(noted));
    }
    d.push(Block::heading(
        1,
        format!(
            "Assertions ({} form)",
            match t.form {
                Form::Normwise => "normwise",
                Form::Elementwise => "elementwise",
            }
        ),
    ));
    for r in &t.rows {
        if let Some(a) = assertions(r, t.form) {
            d.push(Block::heading(
                2,
                format!("{} {}/{} {}", r.op, r.precision, r.accumulator, r.variant),
            ));
            d.push(Block::Code {
                lang: String::new(),
                text: a.join("\n"),
            });
        }
    }
    if let Some(v) = &t.validation {
        d.push(Block::heading(1, "Validation on a held-out report"));
        d.push(Block::Fields(vec![(
            "Held out".into(),
            v.held_out_command.clone(),
        )]));
        d.push(Block::para(format!(
            "{} results, {} sharing inputs with the fit{}, {} without a fitted row.",
            v.results,
            v.shared_inputs,
            if v.shared_inputs > 0 {
                " (not truly held out)"
            } else {
                ""
            },
            v.unmatched
        )));
        let mut vt = Table::new(&[
            "op",
            "in/acc",
            "variant",
            "held out",
            "basis",
            "stated",
            "achieved",
            "elementwise",
            "det",
            "prob",
            "observed",
            "verdict",
        ]);
        let f = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
        for r in &v.rows {
            vt.rows.push(vec![
                r.op.clone(),
                format!("{}/{}", r.precision, r.accumulator),
                r.variant.clone(),
                r.results.to_string(),
                r.basis.clone(),
                f(r.stated_coverage),
                f(r.coverage),
                f((r.results > 0).then(|| r.covered_elementwise as f64 / r.results as f64)),
                f(r.coverage_deterministic),
                f(r.coverage_probabilistic),
                f(r.coverage_empirical),
                r.verdict.clone(),
            ]);
        }
        d.push(Block::Table(vt));
    }
    if !t.train.is_empty() {
        d.push(Block::heading(
            1,
            "Training: deterministic vs nondeterministic (MLPerf-RCP style)",
        ));
        d.push(Block::para("Trimmed (best and worst replica dropped from 5 replicas up) mean ± std; band = one-sided prediction limit at C for one new replica (upper for loss, lower for accuracy); one-sided Welch test."));
        let mut tt = Table::new(&[
            "metric",
            "det. mean ± std (n)",
            "det. band",
            "nondet. mean ± std (n)",
            "nondet. outside det. band",
            "Welch p",
            "verdict",
        ]);
        for c in &t.train {
            tt.rows.push(vec![
                c.label(),
                format!(
                    "{:.6} ± {:.2e} ({})",
                    c.deterministic.mean, c.deterministic.std, c.deterministic.n
                ),
                c.deterministic
                    .band
                    .map(|b| format!("{b:.6}"))
                    .unwrap_or_else(|| "-".into()),
                format!(
                    "{:.6} ± {:.2e} ({})",
                    c.nondeterministic.mean, c.nondeterministic.std, c.nondeterministic.n
                ),
                c.outside_band
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "-".into()),
                opt(c.p),
                c.verdict.to_string(),
            ]);
        }
        d.push(Block::Table(tt));
    }
    d.data = serde_json::to_value(t).ok();
    d
}

/// Markdown output ([`document`] through the Markdown renderer).
pub fn md(t: &ToleranceReport) -> String {
    Markdown.render(&document(t))
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
            '<' => o.push_str("\\textless{}"),
            '>' => o.push_str("\\textgreater{}"),
            '|' => o.push_str("\\textbar{}"),
            _ => o.push(c),
        }
    }
    o
}

/// Rows above this go into a `longtable` (a float cannot break across pages).
pub const LONGTABLE_FROM: usize = 40;

/// LaTeX a paper can `\input`: a booktabs `table*` (a `longtable` for long tables) and a
/// paragraph with the formulas and `\cite` keys (BibTeX from `--bib`).
pub fn latex(t: &ToleranceReport) -> String {
    let long = t.rows.len() > LONGTABLE_FROM;
    let mut s = String::new();
    s.push_str(&format!(
        "% Generated by detbench tolerance ({}). Needs \\usepackage{{booktabs}}{}; cites\n% higham2002accuracy, higham2019probabilistic and wilks1941determination (BibTeX: --bib FILE).\n",
        super::SCHEMA,
        if long { " and \\usepackage{longtable}" } else { "" }
    ));
    let validated = t.validation.is_some();
    let cols = if validated {
        "@{}lllrrrrrrlr@{}"
    } else {
        "@{}lllrrrrrrl@{}"
    };
    let head = format!(
        "op & in/acc. & variant & $n_{{\\max}}$ & $m$ & $\\tau_{{\\mathrm{{det}}}}$ & $\\tau_{{\\mathrm{{prob}}}}$ & $\\tau_{{\\mathrm{{obs}}}}$ & $\\tau$ & basis{} \\\\\n",
        if validated { " & held-out cov." } else { "" }
    );
    let caption = format!(
        "Normwise tolerances $|\\hat{{s}}-s| \\le \\tau \\sum_i |x_i|$ ($\\sum_i |x_i y_i|$ for dot) at confidence $C={}$; \
         $\\tau$ is the smallest of the bases valid at $C$, never below an observed error. \
         For \\texttt{{allclose}} use $\\mathrm{{rtol}}=\\tau$ and $\\mathrm{{atol}}=\\tau\\max(\\sum_i|x_i|-|s|)$. \
         $m$: seeds per configuration. Devices: {}.{}",
        t.confidence,
        tex_escape(&all_devices(t).join(", ")),
        validation_verdict(t)
            .map(|v| format!(
                " Held-out validation (coverage achieved on seeds not fitted, column held-out cov.): {}.",
                tex_escape(&v)
            ))
            .unwrap_or_default()
    );
    // The held-out coverage column fits the page width with narrower column gaps.
    let gap = if validated {
        "\\setlength{\\tabcolsep}{3pt}\n"
    } else {
        ""
    };
    if long {
        // Smaller type and column gaps: a longtable has the text width, not the page's.
        s.push_str("\\begingroup\\footnotesize\\setlength{\\tabcolsep}{3pt}\n");
        s.push_str(&format!("\\begin{{longtable}}{{{cols}}}\n\\caption{{{caption}}}\\label{{tab:detbench-tolerances}}\\\\\n\\toprule\n{head}\\midrule\n\\endfirsthead\n\\toprule\n{head}\\midrule\n\\endhead\n\\bottomrule\n\\endlastfoot\n"));
    } else {
        s.push_str(&format!(
            "\\begin{{table*}}[t]\n\\centering\n\\footnotesize\n{gap}\\caption{{{caption}}}\n\\label{{tab:detbench-tolerances}}\n\\begin{{tabular}}{{{cols}}}\n\\toprule\n{head}\\midrule\n"
        ));
    }
    for r in &t.rows {
        // The same rounded-up tau as the Markdown table and the pasted assertions.
        let tau = if r.form == "normwise" {
            tex_num(r.tau.map(|x| code(x).parse().unwrap_or(x)))
        } else {
            format!("atol {}", tex_num(r.atol))
        };
        let cov = if validated {
            format!(
                " & {}",
                achieved(t, r).map_or("--".into(), |c| format!("{c:.3}"))
            )
        } else {
            String::new()
        };
        s.push_str(&format!(
            "{} & {}/{} & {} & {} & {} & {} & {} & {} & {} & {}{cov} \\\\\n",
            tex_escape(&r.op),
            tex_escape(&r.precision),
            tex_escape(&r.accumulator),
            tex_escape(&r.variant),
            r.n_max,
            r.empirical.as_ref().map(|e| e.runs).unwrap_or(0),
            tex_num(r.tau_deterministic),
            tex_num(r.tau_probabilistic),
            tex_num(r.tau_observed),
            tau,
            tex_escape(&r.basis)
        ));
    }
    if long {
        s.push_str("\\end{longtable}\n\\endgroup\n\n");
    } else {
        s.push_str("\\bottomrule\n\\end{tabular}\n\\end{table*}\n\n");
    }
    s.push_str(&format!(
        "The deterministic basis is the variant's own a-priori bound: for float additions in any order \
         $\\gamma_{{k}} = ku/(1-ku)$ with $k=n-1$ ($n$ for dot) and $u$ the unit roundoff of the accumulator~\\cite{{higham2002accuracy}}; \
         compensated, fixed-point and binned variants have their own bounds. \
         The probabilistic basis is $\\tilde\\gamma_k(\\lambda) = \\exp(\\lambda\\sqrt{{k}}\\,u + ku^2/(1-u)) - 1$, which bounds the error of the whole sum \
         with probability at least $Q(\\lambda,n) = 1 - 2n\\exp(-\\lambda^2(1-u)^2/2)$ when the rounding errors are independent and of mean zero~\\cite{{higham2019probabilistic}}; \
         $\\lambda$ is solved from $Q(\\lambda,n) = C$ for the actual $n$, \\emph{{e.g.}} $\\lambda = {:.2}$ at $n = 10^5$, $C = {}$ and $u=2^{{-24}}$. \
         The empirical basis $\\tau_{{\\mathrm{{obs}}}}$ is the largest error observed over $m$ seeds of each configuration, \
         a one-sided tolerance bound with content $C$ at confidence $C$ once $m \\ge \\ln(1-C)/\\ln C = {}$~\\cite{{wilks1941determination}}; it is not used with fewer seeds.\n",
        super::theory::hm_lambda(100_000, t.confidence, 2f64.powi(-24)),
        t.confidence,
        t.runs_needed
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_render_without_overflowing_mantissas() {
        assert_eq!(tex_num(Some(9.9999e-8)), "$1.00\\times10^{-7}$");
        assert_eq!(tex_num(Some(1.0e-7)), "$1.00\\times10^{-7}$");
        assert_eq!(tex_num(Some(2.5)), "$2.50$");
        assert_eq!(tex_num(Some(0.0)), "$0$");
        assert_eq!(code(1.234e-7), "1.24e-7");
        assert_eq!(code(9.999e-8), "1.00e-7");
        assert_eq!(code(1.0e-7), "1.00e-7");
        for x in [1.234e-7, 9.9951e-8, 3.0e-300, 0.1 + 0.2, 123456.0] {
            assert!(code(x).parse::<f64>().unwrap() >= x, "{x}");
        }
    }
}
