//! What `check` prints: one view document (for people, in every text format) and JUnit XML
//! for CI (an export format of its own: test cases with a status, not a document).

use super::result::CheckResult;
use super::verdict::Kind;
use crate::error::DetError;
use crate::report::render::{console::Console, Renderer};
use crate::report::view::{Block, Document, Tone};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde_json::json;

/// The comparison as a document. Its title is the verdict in one line; then every
/// regression (what changed, where, by how much, the likely cause and what to do); then the
/// environment differences. Notes (observations that are not regressions) and each
/// device's timing drift follow only with `verbose`. Its data (`--format json`) holds all
/// of it, notes included.
pub fn document(res: &CheckResult, verbose: bool) -> Document {
    let notes = res.verdicts.iter().filter(|v| !v.notes.is_empty()).count();
    let regressed = res.regressions();
    let mut d = Document::new(format!(
        "detbench check: {}: {} result keys, {} regressed ({} numeric, {} performance), {} with notes{}, {} environment differences",
        if regressed > 0 { "FAIL" } else { "pass" },
        res.verdicts.len(),
        regressed,
        res.count(Kind::Numeric),
        res.count(Kind::Performance),
        notes,
        if verbose || notes == 0 { "" } else { " (--verbose shows them)" },
        res.env_changes.len()
    ));
    for v in res.verdicts.iter().filter(|v| !v.findings.is_empty()) {
        d.push(Block::toned(
            Tone::Plain,
            None,
            format!("REGRESSION {}", v.key),
        ));
        d.push(Block::List(
            v.findings
                .iter()
                .map(|f| {
                    format!(
                        "[{}] {}\nlikely cause: {}\nto do: {}",
                        f.kind.name(),
                        f.what,
                        f.cause,
                        f.todo
                    )
                })
                .collect(),
        ));
    }
    if res.baselines < 2
        && res
            .verdicts
            .iter()
            .any(|v| v.findings.iter().any(|f| f.kind == Kind::Performance))
    {
        d.push(Block::toned(Tone::Note, Some("timing"), "one baseline, so the noise between reports (another process, clock and cache state) is unmeasured and a slowdown may be a false alarm; pass 3 or more --baseline reports of the same matrix"));
    }
    if !res.env_changes.is_empty() {
        d.push(Block::lead(
            "environment differences (baseline -> current)",
            "",
        ));
        d.push(Block::List(
            res.env_changes.iter().map(|c| c.describe()).collect(),
        ));
    }
    if verbose {
        for (dev, g) in &res.drifts {
            d.push(Block::lead(format!("timing on {dev}"), format!(
                "rows shifted by x{:.2} (median of {} rows), row-to-row scatter x{:.2}, largest row speedup x{:.2}; a row must slow beyond all three, and the shift is divided out only where it is machine load (host-scheduled rows whose CPU time did not grow): elsewhere a device-wide shift is a regression",
                g.shift, g.rows, g.scatter, g.speedup
            )));
        }
        for v in res.verdicts.iter().filter(|v| !v.notes.is_empty()) {
            d.push(Block::para(format!("note {}", v.key)));
            d.push(Block::List(v.notes.clone()));
        }
    }
    d.data = Some(data(res, regressed));
    d
}

/// The verdict as data (`check --format json`).
fn data(res: &CheckResult, regressed: usize) -> serde_json::Value {
    let key = |v: &super::Verdict| {
        json!({
            "key": v.key.to_string(),
            "case": v.key.case_label(),
            "device": v.key.device.to_string(),
        })
    };
    let regressions: Vec<serde_json::Value> = res
        .verdicts
        .iter()
        .filter(|v| !v.findings.is_empty())
        .map(|v| {
            let mut o = key(v);
            o["findings"] = v
                .findings
                .iter()
                .map(|f| {
                    json!({
                        "kind": f.kind.name(),
                        "what": f.what,
                        "likely_cause": f.cause,
                        "to_do": f.todo,
                    })
                })
                .collect();
            o
        })
        .collect();
    let notes: Vec<serde_json::Value> = res
        .verdicts
        .iter()
        .filter(|v| !v.notes.is_empty())
        .map(|v| {
            let mut o = key(v);
            o["notes"] = json!(v.notes);
            o
        })
        .collect();
    let drifts: Vec<serde_json::Value> = res
        .drifts
        .iter()
        .map(|(dev, g)| {
            json!({
                "device": dev.to_string(),
                "shift": g.shift,
                "rows": g.rows,
                "scatter": g.scatter,
                "largest_row_speedup": g.speedup,
            })
        })
        .collect();
    json!({
        "verdict": if regressed > 0 { "fail" } else { "pass" },
        "result_keys": res.verdicts.len(),
        "regressed": regressed,
        "numeric": res.count(Kind::Numeric),
        "performance": res.count(Kind::Performance),
        "baselines": res.baselines,
        "regressions": regressions,
        "environment_differences": res.env_changes.iter().map(|c| c.describe()).collect::<Vec<_>>(),
        "timing_drifts": drifts,
        "notes": notes,
    })
}

/// The comparison as console text ([`document`] through the console renderer).
pub fn render_text(res: &CheckResult, verbose: bool) -> String {
    Console.render(&document(res, verbose))
}

/// JUnit XML: one test case per result key; a failure says what changed, the likely cause
/// and what to do.
pub fn junit(res: &CheckResult) -> Result<String, DetError> {
    let mut suite = TestSuite::new("detbench check");
    for v in &res.verdicts {
        let status = match v.findings.first() {
            None => TestCaseStatus::success(),
            Some(first) => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(first.sentence());
                st.set_type(first.kind.name());
                st.set_description(
                    v.findings
                        .iter()
                        .map(|f| format!("[{}] {}", f.kind.name(), f.sentence()))
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                st
            }
        };
        let mut tc = TestCase::new(v.key.case_label(), status);
        tc.set_classname(format!("detbench.{}", v.key.device));
        if !v.notes.is_empty() {
            tc.set_system_out(v.notes.join("\n"));
        }
        suite.add_test_case(tc);
    }
    let mut rep = quick_junit::Report::new("detbench");
    rep.add_test_suite(suite);
    rep.to_string()
        .map_err(|e| DetError::encode("cannot serialise JUnit XML", e))
}
