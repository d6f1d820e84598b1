//! `check --accept`: the current report becomes the baseline.
//!
//! What is written, and where: the baseline path must name a regular, writable file (or
//! nothing yet). A symbolic link is refused: the link may point into a shared or
//! content-addressed store whose files are never refreshed in place, and replacing the link
//! by a file would leave its target stale without a word; accept into the target itself.
//! A read-only baseline (no write permission bit, e.g. 0444) is refused too: the mode says
//! the file is not to be changed. An accepted baseline keeps the old file's mode.

use super::options::CheckOptions;
use super::render::render_text;
use super::result::check_reports_at;
use super::validate::usable;
use super::verdict::Verdict;
use crate::error::{DetError, Outcome};
use crate::report::{self, key, Report};
use std::path::Path;

/// Refuses a baseline path that `--accept` must not replace (see the module documentation).
fn writable_baseline(baseline: &Path) -> Result<Option<std::fs::Permissions>, DetError> {
    let meta = match std::fs::symlink_metadata(baseline) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(DetError::input(format!(
                "--accept: cannot inspect the baseline {}: {e}",
                baseline.display()
            )))
        }
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(baseline)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(DetError::input(format!(
            "--accept: the baseline {} is a symbolic link (to {target}); it is not written through: accept into the target itself or replace the link",
            baseline.display()
        )));
    }
    if !meta.is_file() {
        return Err(DetError::input(format!(
            "--accept: the baseline {} is not a regular file",
            baseline.display()
        )));
    }
    if meta.permissions().readonly() {
        return Err(DetError::input(format!(
            "--accept: the baseline {} is read-only; make it writable (chmod u+w) to replace it",
            baseline.display()
        )));
    }
    Ok(Some(meta.permissions()))
}

/// The defects that keep the current report from becoming the baseline: findings of the
/// comparison that are defects on their own terms, and, with or without a baseline,
/// deterministic variants that are not reproducible in the current report.
fn defects(cur: &Report, verdicts: &[Verdict]) -> Vec<String> {
    let mut out: Vec<String> = verdicts
        .iter()
        .flat_map(|v| {
            v.findings
                .iter()
                .filter(|f| f.blocks_accept)
                .map(move |f| format!("{}: {}", v.key, f.what))
        })
        .collect();
    // Rows with no verdict that flags them (no baseline, or new in the current report).
    let flagged: std::collections::BTreeSet<_> = verdicts
        .iter()
        .filter(|v| v.findings.iter().any(|f| f.blocks_accept))
        .map(|v| v.key.clone())
        .collect();
    for (k, r) in key::index(cur).unwrap_or_default() {
        if r.status == "ok"
            && r.deterministic_variant
            && r.bitwise_reproducible == Some(false)
            && !flagged.contains(&k)
        {
            out.push(format!(
                "{k}: deterministic variant is not bitwise reproducible: {} distinct outputs over {} runs",
                r.distinct_outputs.unwrap_or(0),
                r.runs
            ));
        }
    }
    out
}

/// `check --accept`: shows what changes, then replaces the baseline with the current
/// report's bytes in one rename. The current report must be usable on its own and free of
/// numeric defects (unless `--force`); the old baseline may be missing or unusable (it is
/// being replaced).
pub(super) fn accept(
    baseline: &Path,
    current: &Path,
    cur: &Report,
    opts: &CheckOptions,
) -> Result<Outcome, DetError> {
    usable("current report", current, cur)?;
    let mode = writable_baseline(baseline)?;
    let bytes = std::fs::read(current)
        .map_err(|e| DetError::input(format!("cannot read {}: {e}", current.display())))?;
    let (shown, verdicts) = match report::load_report(baseline) {
        Ok(base) => match check_reports_at(&[(&base, baseline)], cur, current, opts) {
            Ok(res) => (render_text(&res, opts.verbose), res.verdicts),
            Err(e) => (
                format!("the old baseline is not comparable ({e}); replacing it\n"),
                Vec::new(),
            ),
        },
        Err(e) => (
            format!("no usable baseline ({e}); creating it\n"),
            Vec::new(),
        ),
    };
    let defects = defects(cur, &verdicts);
    if !defects.is_empty() && !opts.force {
        let mut s = format!(
            "detbench check: NOT accepted: the current report has {} numeric defect{} that a baseline must not vouch for; fix them, or pass --force to accept it anyway\n",
            defects.len(),
            if defects.len() == 1 { "" } else { "s" }
        );
        for d in &defects {
            s.push_str(&format!("  - {d}\n"));
        }
        s.push_str(&shown);
        crate::safety::out(&s)?;
        return Ok(Outcome::Regression);
    }
    crate::safety::out(&shown)?;
    if !defects.is_empty() {
        crate::safety::out(&format!(
            "detbench check: --force: accepting {} numeric defect{} into the baseline\n",
            defects.len(),
            if defects.len() == 1 { "" } else { "s" }
        ))?;
    }
    report::write_atomic(baseline, &bytes)?;
    if let Some(perm) = mode {
        // write_atomic gives a new file 0644; the accepted baseline keeps the old mode.
        std::fs::set_permissions(baseline, perm).map_err(|e| {
            DetError::io(
                format!("cannot restore the mode of {}", baseline.display()),
                e,
            )
        })?;
    }
    crate::safety::out(&format!(
        "detbench check: accepted {} as the baseline {} ({} results)\n",
        current.display(),
        baseline.display(),
        cur.results.len()
    ))?;
    Ok(Outcome::Ok)
}
