//! `check --accept`: the current report becomes the baseline.

use super::options::CheckOptions;
use super::render::render_text;
use super::result::check_reports_at;
use super::validate::usable;
use crate::error::{DetError, Outcome};
use crate::report::{self, Report};
use std::path::Path;

/// `check --accept`: shows what changes, then replaces the baseline with the current
/// report's bytes in one rename. The current report must be usable on its own; the old
/// baseline may be missing or unusable (it is being replaced).
pub(super) fn accept(
    baseline: &Path,
    current: &Path,
    cur: &Report,
    opts: &CheckOptions,
) -> Result<Outcome, DetError> {
    usable("current report", current, cur)?;
    let bytes = std::fs::read(current)
        .map_err(|e| DetError::input(format!("cannot read {}: {e}", current.display())))?;
    let shown = match report::load_report(baseline) {
        Ok(base) => match check_reports_at(&[(&base, baseline)], cur, current, opts) {
            Ok(res) => render_text(&res),
            Err(e) => format!("the old baseline is not comparable ({e}); replacing it\n"),
        },
        Err(e) => format!("no usable baseline ({e}); creating it\n"),
    };
    crate::safety::out(&shown)?;
    report::write_atomic(baseline, &bytes)?;
    crate::safety::out(&format!(
        "detbench check: accepted {} as the baseline {} ({} results)\n",
        current.display(),
        baseline.display(),
        cur.results.len()
    ))?;
    Ok(Outcome::Ok)
}
