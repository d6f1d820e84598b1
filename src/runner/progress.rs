//! What a run shows while it works: the progress bar over (case, backend) steps.

use super::matrix::RunConfig;

/// The progress bar of `total` (case, backend) steps, when asked for and worth drawing.
pub(super) fn progress_bar(cfg: &RunConfig, total: u64) -> Option<indicatif::ProgressBar> {
    if !cfg.progress || total <= 1 {
        return None;
    }
    let b = indicatif::ProgressBar::new(total);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(b)
}
