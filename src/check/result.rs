//! The whole comparison: every row of the baselines matched with the current report.

use super::compare::compare_with;
use super::drift::{between_noise, device_drifts, host_scheduled, Drift};
use super::env::{env_changes, EnvChange};
use super::options::CheckOptions;
use super::validate::{align_ids, compatible, contradiction, usable};
use super::verdict::{Finding, Kind, Verdict};
use crate::error::DetError;
use crate::report::key::DeviceId;
use crate::report::Report;
use std::collections::BTreeMap;
use std::path::Path;

/// The whole comparison.
pub struct CheckResult {
    pub env_changes: Vec<EnvChange>,
    pub verdicts: Vec<Verdict>,
    /// Each device's overall timing shift (current / baseline), where measured.
    pub drifts: BTreeMap<DeviceId, Drift>,
    /// Baseline reports compared with (1: between-report noise unmeasured).
    pub baselines: usize,
}

impl CheckResult {
    /// Keys with at least one finding.
    pub fn regressions(&self) -> usize {
        self.verdicts
            .iter()
            .filter(|v| !v.findings.is_empty())
            .count()
    }

    pub(super) fn count(&self, kind: Kind) -> usize {
        self.verdicts
            .iter()
            .filter(|v| v.findings.iter().any(|f| f.kind == kind))
            .count()
    }
}

/// Matches and compares every result of two reports. Bad or incompatible input is an
/// error (exit 2).
pub fn check_reports(
    base: &Report,
    cur: &Report,
    opts: &CheckOptions,
) -> Result<CheckResult, DetError> {
    check_reports_at(
        &[(base, Path::new("baseline"))],
        cur,
        Path::new("current"),
        opts,
    )
}

/// [`check_reports`] against several baseline reports of the same matrix (reruns). The
/// first is the baseline of every numeric verdict and of the existing timing rules; all
/// of them measure each row's between-report timing noise (see [`super::drift::Between`]).
pub fn check_reports_multi(
    bases: &[&Report],
    cur: &Report,
    opts: &CheckOptions,
) -> Result<CheckResult, DetError> {
    let named: Vec<(&Report, &Path)> = bases.iter().map(|b| (*b, Path::new("baseline"))).collect();
    check_reports_at(&named, cur, Path::new("current"), opts)
}

pub(super) fn check_reports_at(
    bases: &[(&Report, &Path)],
    cur: &Report,
    cur_path: &Path,
    opts: &CheckOptions,
) -> Result<CheckResult, DetError> {
    opts.validate()?;
    let Some(&(base, base_path)) = bases.first() else {
        return Err(DetError::input("no --baseline report given"));
    };
    let c = usable("current report", cur_path, cur)?;
    // Every extra baseline must be usable and comparable with the current report; each is
    // aligned with it on its own.
    let mut others = Vec::new();
    for (r, p) in &bases[1..] {
        let o = usable("baseline", p, r)?;
        let (o, c2) = align_ids(o, c.clone());
        compatible(&o, &c2)?;
        others.push(o);
    }
    let b = usable("baseline", base_path, base)?;
    let (b, c) = align_ids(b, c);
    compatible(&b, &c)?;
    let between = if others.is_empty() {
        BTreeMap::new()
    } else {
        let mut all = vec![b.clone()];
        all.extend(others);
        between_noise(&all)
    };
    // Same input bytes and the same bits in every run must give the same errors: a row that
    // says otherwise was edited or corrupted (bad input, never a pass).
    let same_build =
        base.env.tool_version == cur.env.tool_version && base.env.git_commit == cur.env.git_commit;
    for (k, br) in &b {
        if let Some(p) = c.get(k).and_then(|cr| contradiction(br, cr, same_build)) {
            return Err(DetError::input(format!(
                "current report {}: {k} contradicts the baseline: the same inputs and the same output bits (fingerprint {}) in the same detbench build, but {p}; one of the reports was edited or corrupted",
                cur_path.display(),
                br.fingerprint.as_deref().unwrap_or("-")
            )));
        }
    }
    let changes = env_changes(&base.env, &cur.env);
    let drifts = device_drifts(&b, &c);
    let mut verdicts = Vec::new();
    for (k, br) in &b {
        match c.get(k) {
            Some(cr) => {
                let drift = drifts.get(&k.device).copied().unwrap_or_default();
                let host = host_scheduled(br, &base.env) || host_scheduled(cr, &cur.env);
                verdicts.push(compare_with(
                    k,
                    br,
                    cr,
                    &changes,
                    opts,
                    drift,
                    between.get(k).copied(),
                    host,
                ))
            }
            None => {
                let mut v = Verdict {
                    key: k.clone(),
                    findings: Vec::new(),
                    notes: Vec::new(),
                    slowdown: None,
                };
                if br.status == "ok" {
                    v.findings.push(Finding {
                        kind: Kind::Numeric,
                        blocks_accept: false,
                        what: "ran ok in the baseline and is missing from the current report".into(),
                        cause: "the current run's matrix is smaller, or its device or backend was not found".into(),
                        todo: format!(
                            "run the baseline's matrix (`{}`), or `check --accept` the smaller one",
                            base.env.command
                        ),
                    });
                } else {
                    v.notes
                        .push(format!("in the baseline only (it was {} there)", br.status));
                }
                verdicts.push(v);
            }
        }
    }
    for k in c.keys() {
        if !b.contains_key(k) {
            verdicts.push(Verdict {
                key: k.clone(),
                findings: Vec::new(),
                notes: vec!["new in the current report (no baseline to compare with)".into()],
                slowdown: None,
            });
        }
    }
    // Bonferroni over the rows that passed every effect-size threshold: --alpha bounds
    // the chance that any of them is a false alarm.
    let m = verdicts
        .iter()
        .filter(|v| v.slowdown.is_some())
        .count()
        .max(1);
    for v in verdicts.iter_mut() {
        if let Some((p, f)) = v.slowdown.take() {
            let per_row = opts.alpha / m as f64;
            if p < per_row {
                v.findings.push(f);
            } else {
                v.notes.push(format!(
                    "slower beyond the effect thresholds, but p = {p:.2e} is not below alpha / {m} = {per_row:.2e} ({m} rows slowed that much): {}",
                    f.what
                ));
            }
        }
    }
    Ok(CheckResult {
        env_changes: changes,
        verdicts,
        drifts,
        baselines: bases.len(),
    })
}
