//! What `detbench train` prints: the replicas' spread per backend and mode, as a view
//! document rendered like every other command's output.

use crate::report::render::{console::Console, Renderer};
use crate::report::train::{Spread, TrainMode, TrainReport};
use crate::report::view::{Block, Document, Table};

/// `min .. max (stddev s)` of a spread, or `-`.
fn spread_text(s: &Option<Spread>, digits: usize) -> String {
    match s {
        Some(s) => format!(
            "{:.d$} .. {:.d$} (sd {:.1e})",
            s.min,
            s.max,
            s.stddev,
            d = digits
        ),
        None => "-".into(),
    }
}

/// The summary as a document: one row per backend and mode, then, per backend, how far kernel
/// nondeterminism alone moved the final accuracy and loss compared with deterministic
/// replicas (the spread Pham et al., ASE 2020, measure across identical training runs).
pub fn document(report: &TrainReport) -> Document {
    let mut t = Table::new(&[
        "backend",
        "mode",
        "replicas",
        "final loss min .. max (sd)",
        "final accuracy min .. max (sd)",
        "distinct weights",
        "first divergence",
        "final max ulp",
    ]);
    for m in &report.modes {
        let sp = m.spread.clone().unwrap_or_else(|| m.compute_spread());
        t.rows.push(vec![
            if m.backend.is_empty() {
                report.config.backend.clone()
            } else {
                m.backend.clone()
            },
            m.mode.clone(),
            m.replicas.len().to_string(),
            spread_text(&sp.final_loss, 4),
            spread_text(&sp.final_accuracy, 4),
            sp.distinct_final_weights.to_string(),
            m.first_divergence_step
                .map(|s| format!("step {s}"))
                .unwrap_or_else(|| "never".into()),
            m.steps
                .last()
                .map(|s| s.max_weight_ulp)
                .unwrap_or(0)
                .to_string(),
        ]);
    }
    let mut d = Document::new("");
    d.push(Block::Table(t));
    for b in report.backends() {
        let det = report.mode(&b, "deterministic");
        let nd = report.mode(&b, "nondeterministic");
        if let Some(line) = variance_line(&b, det, nd) {
            d.push(Block::para(line));
        }
    }
    d
}

/// [`document`] as console text (what `detbench train` prints).
pub fn summary(report: &TrainReport) -> String {
    Console.render(&document(report))
}

/// One sentence per backend: the spread of final accuracy and loss across the
/// nondeterministic replicas against the deterministic ones.
fn variance_line(backend: &str, det: Option<&TrainMode>, nd: Option<&TrainMode>) -> Option<String> {
    let nd = nd?;
    let sp = nd.spread.clone().unwrap_or_else(|| nd.compute_spread());
    let (acc, loss) = (sp.final_accuracy?, sp.final_loss?);
    if acc.n < 2 {
        return None;
    }
    let det_text = match det {
        Some(d) => {
            let ds = d.spread.clone().unwrap_or_else(|| d.compute_spread());
            match (ds.final_accuracy, ds.final_loss) {
                (Some(a), Some(l)) if a.n >= 2 => format!(
                    "; deterministic replicas: accuracy range {:.4}, loss range {:.3e}{}",
                    a.range,
                    l.range,
                    if ds.distinct_final_weights == 1 {
                        " (bitwise identical)"
                    } else {
                        ""
                    }
                ),
                _ => String::new(),
            }
        }
        None => String::new(),
    };
    Some(format!(
        "{backend}: across {} nondeterministic replicas, kernel nondeterminism alone moved final accuracy by up to {:.4} (sd {:.2e}) and final loss by up to {:.3e} (sd {:.2e}){det_text}",
        acc.n, acc.range, acc.stddev, loss.range, loss.stddev
    ))
}
