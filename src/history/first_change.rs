//! `history first-change --key KEY`: the first stored run where one result key's
//! fingerprint or timing changed, walking the key's runs in run order.
//!
//! - Fingerprint: the first run whose fingerprint differs from the run before it.
//! - Timing (as asv judges a step): each run's timed runs against the previous stored
//!   run's, by a two-sided Mann-Whitney U test at `--alpha`; a step counts when the test
//!   rejects and the median moved by more than `--threshold` (relative). Where the run
//!   counts are too small for any p-value at or below alpha, the pair is not judged, and
//!   the answer says so rather than calling it unchanged.

use super::short;
use crate::error::DetError;
use crate::report::view::{Block, Document, Table, Tone};
use crate::shared::stats::{mann_whitney_greater, MannWhitney};
use crate::store::env::EnvChange;
use crate::store::read::Filter;
use crate::store::{Store, StoredRow};
use serde::Serialize;

/// A stored run where something changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Position in the key's stored runs (0 is the first).
    pub run: usize,
    pub report: String,
    pub started_at: String,
    pub previous_report: String,
    pub environment: Vec<EnvChange>,
    pub before: String,
    pub after: String,
    /// Timing steps: the two-sided p-value and the ratio of the medians (after / before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

/// What the timing walk found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timing {
    pub first_change: Option<Step>,
    /// Consecutive pairs that could not be judged (too few timed runs for alpha).
    pub pairs_not_judged: usize,
    pub pairs_judged: usize,
}

/// Two-sided Mann-Whitney p-value of "a and b differ", or None when too few runs.
fn two_sided(a: &[f64], b: &[f64], alpha: f64) -> Option<f64> {
    let half = alpha / 2.0;
    match (
        mann_whitney_greater(a, b, half),
        mann_whitney_greater(b, a, half),
    ) {
        (MannWhitney::P { p: up, .. }, MannWhitney::P { p: down, .. }) => {
            Some((2.0 * up.min(down)).min(1.0))
        }
        _ => None,
    }
}

/// The timing walk over a key's runs.
pub fn timing(runs: &[&StoredRow], threshold: f64, alpha: f64) -> Timing {
    let mut t = Timing {
        first_change: None,
        pairs_not_judged: 0,
        pairs_judged: 0,
    };
    for (i, w) in runs.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        let (Some(ma), Some(mb)) = (a.median_ms, b.median_ms) else {
            t.pairs_not_judged += 1;
            continue;
        };
        let Some(p) = two_sided(&a.times_ms, &b.times_ms, alpha) else {
            t.pairs_not_judged += 1;
            continue;
        };
        t.pairs_judged += 1;
        let ratio = mb / ma;
        if t.first_change.is_none()
            && p <= alpha
            && ma > 0.0
            && (ratio > 1.0 + threshold || ratio < 1.0 / (1.0 + threshold))
        {
            t.first_change = Some(Step {
                run: i + 1,
                report: b.report.clone(),
                started_at: b.started_at.clone(),
                previous_report: a.report.clone(),
                environment: a.env.diff(&b.env),
                before: format!("{ma} ms"),
                after: format!("{mb} ms"),
                p_value: Some(p),
                ratio: Some(ratio),
            });
        }
    }
    t
}

/// The fingerprint walk over a key's runs.
pub fn fingerprint(runs: &[&StoredRow]) -> Option<Step> {
    runs.windows(2).enumerate().find_map(|(i, w)| {
        let (a, b) = (w[0], w[1]);
        (a.fingerprint.is_some() && b.fingerprint.is_some() && a.fingerprint != b.fingerprint).then(
            || Step {
                run: i + 1,
                report: b.report.clone(),
                started_at: b.started_at.clone(),
                previous_report: a.report.clone(),
                environment: a.env.diff(&b.env),
                before: a.fingerprint.clone().unwrap_or_default(),
                after: b.fingerprint.clone().unwrap_or_default(),
                p_value: None,
                ratio: None,
            },
        )
    })
}

/// The one stored key `key` names: exactly, else the only key containing it.
fn resolve_key(store: &mut Store, key: &str, device: Option<&str>) -> Result<String, DetError> {
    let rows = store.rows(&Filter {
        device: device.map(String::from),
        key: None,
    })?;
    let keys: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    if keys.contains(key) {
        return Ok(key.to_string());
    }
    let hits: Vec<&&str> = keys.iter().filter(|k| k.contains(key)).collect();
    match hits.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(DetError::input(format!(
            "--key {key}: no stored result key matches (`history changes` and `history nondeterministic` print keys)"
        ))),
        many => Err(DetError::input(format!(
            "--key {key} matches {} stored keys (first: {}): give more of it",
            many.len(),
            many[0]
        ))),
    }
}

pub fn build(
    store: &mut Store,
    key: &str,
    device: Option<&str>,
    threshold: f64,
    alpha: f64,
) -> Result<Document, DetError> {
    let key = resolve_key(store, key, device)?;
    let rows = store.rows(&Filter {
        device: None,
        key: Some(key.clone()),
    })?;
    let runs: Vec<&StoredRow> = rows.iter().filter(|r| r.status == "ok").collect();
    let fp = fingerprint(&runs);
    let tm = timing(&runs, threshold, alpha);
    let mut doc = Document::new(format!(
        "History: first change of one result key ({})",
        store.url()
    ));
    doc.push(Block::Fields(vec![
        ("key".into(), key.clone()),
        (
            "stored runs".into(),
            format!("{} ({} measured ok)", rows.len(), runs.len()),
        ),
        (
            "timing test".into(),
            format!(
                "two-sided Mann-Whitney U, alpha {alpha}, threshold {}%",
                threshold * 100.0
            ),
        ),
    ]));
    let say = |s: &Step, what: &str| {
        let env = crate::store::env::describe(&s.environment);
        format!(
            "run {} of {}, report {} (started {}), after report {}: {what}; {env}",
            s.run + 1,
            runs.len(),
            short(&s.report),
            s.started_at,
            short(&s.previous_report)
        )
    };
    match &fp {
        Some(s) => {
            let what = format!("{} -> {}", short(&s.before), short(&s.after));
            let tone = if s.environment.is_empty() {
                Tone::Alarm
            } else {
                Tone::Plain
            };
            doc.push(Block::toned(
                tone,
                Some("Fingerprint first changed"),
                say(s, &what),
            ));
        }
        None => {
            doc.push(Block::lead(
                "Fingerprint",
                format!("the same in all {} measured runs", runs.len()),
            ));
        }
    }
    match &tm.first_change {
        Some(s) => {
            let what = format!(
                "median {} -> {} ({:.3}x, p = {:.3})",
                s.before,
                s.after,
                s.ratio.unwrap_or(f64::NAN),
                s.p_value.unwrap_or(f64::NAN)
            );
            doc.push(Block::lead("Timing first changed", say(s, &what)));
        }
        None if tm.pairs_judged == 0 && runs.len() > 1 => {
            doc.push(Block::toned(
                Tone::Note,
                Some("Timing"),
                "not judged: too few timed runs per stored run for a p-value at or below alpha",
            ));
        }
        None => {
            doc.push(Block::lead(
                "Timing",
                format!(
                    "no significant step over {} judged pair(s){}",
                    tm.pairs_judged,
                    if tm.pairs_not_judged > 0 {
                        format!(
                            " ({} pair(s) with too few timed runs not judged)",
                            tm.pairs_not_judged
                        )
                    } else {
                        String::new()
                    }
                ),
            ));
        }
    }
    let mut t = Table::new(&["run", "report", "started", "fingerprint", "median ms"]);
    for (i, r) in runs.iter().enumerate() {
        t.rows.push(vec![
            (i + 1).to_string(),
            short(&r.report).to_string(),
            r.started_at.clone(),
            r.fingerprint
                .as_deref()
                .map(short)
                .unwrap_or("-")
                .to_string(),
            r.median_ms
                .map(|m| format!("{m:.4}"))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    doc.push(Block::Table(t));
    doc.data = Some(serde_json::json!({
        "key": key,
        "runs": runs.len(),
        "fingerprint": fp,
        "timing": tm,
        "threshold": threshold,
        "alpha": alpha,
    }));
    Ok(doc)
}
