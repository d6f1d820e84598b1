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

/// `--verbose`: where each case's time goes, one stderr line per step, printed above the
/// progress bar (drawn again after it). Silent unless asked for.
pub(super) struct Verbose<'a> {
    pub on: bool,
    pub bar: Option<&'a indicatif::ProgressBar>,
}

impl Verbose<'_> {
    fn say(&self, line: String) {
        match self.bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// The case's input, exact values and bound: drawn, or taken from the previous case
    /// (same input checksum: the reduction shares one input among its variants).
    pub fn prepared(
        &self,
        (index, total): (usize, usize),
        case: &crate::ops::Case,
        prep: &crate::ops::Prepared,
        secs: f64,
        shared: bool,
    ) {
        if !self.on {
            return;
        }
        let sha = prep.input_sha256.get(..12).unwrap_or(&prep.input_sha256);
        let s = if prep.exact.len() == 1 { "" } else { "s" };
        // The family's own phases, where it times them, then the whole preparation.
        let time = if prep.phases.is_empty() {
            format!("input, exact value{s} and bound {secs:.3} s")
        } else {
            let phases: Vec<String> = prep
                .phases
                .iter()
                .map(|(what, t)| format!("{what} {t:.3} s"))
                .collect();
            format!("{}; preparation in all {secs:.3} s", phases.join("; "))
        };
        self.say(format!(
            "[{index}/{total}] {} {} {} acc {} size {} {} seed {}: {time}{} (input sha256 {sha}..)",
            case.op,
            case.variant,
            case.precision,
            case.accumulator,
            case.size,
            case.input.label(),
            case.seed,
            if shared {
                ", input shared with the previous case"
            } else {
                ""
            },
        ));
    }

    /// One backend's share of the case: its jobs' timed kernel runs, and the rest of the
    /// wall time (upload, warm-up runs, read-back, the records).
    pub fn ran(
        &self,
        backend: &str,
        outcome: &[(crate::report::ResultRecord, Option<crate::ops::RunSet>)],
        secs: f64,
    ) {
        if !self.on {
            return;
        }
        let times: Vec<f64> = outcome
            .iter()
            .filter_map(|(_, s)| s.as_ref())
            .flat_map(|s| s.times_ms.iter().copied())
            .collect();
        let kernel = times.iter().sum::<f64>() / 1e3;
        let status: Vec<String> = outcome
            .iter()
            .map(|(r, _)| format!("{:?}", r.status).to_lowercase())
            .collect();
        self.say(format!(
            "    {backend}: {} timed kernel run{} {kernel:.3} s; around them {:.3} s (upload, warm-up, read-back, records); {}",
            times.len(),
            if times.len() == 1 { "" } else { "s" },
            (secs - kernel).max(0.0),
            status.join(", ")
        ));
    }
}
