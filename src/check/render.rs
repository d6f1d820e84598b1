//! What `check` prints: text for people and JUnit XML for CI.

use super::result::CheckResult;
use super::verdict::Kind;
use crate::error::DetError;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

/// Readable text of the comparison. The first line is the verdict in one line; then every
/// regression (what changed, where, by how much, the likely cause and what to do); then the
/// environment differences. Notes (observations that are not regressions) and each
/// device's timing drift follow only with `verbose`.
pub fn render_text(res: &CheckResult, verbose: bool) -> String {
    let mut s = String::new();
    let notes = res.verdicts.iter().filter(|v| !v.notes.is_empty()).count();
    let regressed = res.regressions();
    s.push_str(&format!(
        "detbench check: {}: {} result keys, {} regressed ({} numeric, {} performance), {} with notes{}, {} environment differences\n",
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
        s.push_str(&format!("REGRESSION {}\n", v.key));
        for f in &v.findings {
            s.push_str(&format!(
                "  - [{}] {}\n      likely cause: {}\n      to do: {}\n",
                f.kind.name(),
                f.what,
                f.cause,
                f.todo
            ));
        }
    }
    if res.baselines < 2
        && res
            .verdicts
            .iter()
            .any(|v| v.findings.iter().any(|f| f.kind == Kind::Performance))
    {
        s.push_str("timing: one baseline, so the noise between reports (another process, clock and cache state) is unmeasured and a slowdown may be a false alarm; pass 3 or more --baseline reports of the same matrix\n");
    }
    if !res.env_changes.is_empty() {
        s.push_str("environment differences (baseline -> current):\n");
        for c in &res.env_changes {
            s.push_str(&format!("  - {}\n", c.describe()));
        }
    }
    if !verbose {
        return s;
    }
    for (d, g) in &res.drifts {
        s.push_str(&format!(
            "timing on {d}: rows shifted by x{:.2} (median of {} rows), row-to-row scatter x{:.2}, largest row speedup x{:.2}; a row must slow beyond all three, and the shift is divided out only where it is machine load (host-scheduled rows whose CPU time did not grow): elsewhere a device-wide shift is a regression\n",
            g.shift, g.rows, g.scatter, g.speedup
        ));
    }
    for v in res.verdicts.iter().filter(|v| !v.notes.is_empty()) {
        s.push_str(&format!("note {}\n", v.key));
        for n in &v.notes {
            s.push_str(&format!("  - {n}\n"));
        }
    }
    s
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
