//! `detbench train`: identical small trainings, to see whether nondeterministic kernels
//! make replicas drift apart.

use crate::error::{DetError, Outcome};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

use crate::ops::optim::MAX_STEPS;

/// Most training replicas per mode.
pub const MAX_REPLICAS: usize = 1_000;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Backends, comma-separated, or `all` (cpu plus whichever GPUs exist); each trains
    /// every mode and replica.
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Optimizer steps per replica (batches of 32 images).
    #[arg(long, default_value_t = crate::train::DEFAULT_STEPS)]
    pub steps: usize,
    /// Replicas per mode: identical trainings from the same seed.
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Kernel modes: deterministic, nondeterministic, or both (comma-separated).
    #[arg(long, default_value = "deterministic,nondeterministic")]
    pub mode: String,
    /// Seed of the initial weights, the data set and the batch order (shared by all replicas).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Peak Adam learning rate (default 0.08), warmed up over the first 10% of the steps
    /// and decayed by a cosine to a tenth of it at the last step.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Where to write the JSON report (`-` for stdout; the summary then goes to stderr).
    #[arg(long, default_value = "detbench-train.json")]
    pub json: PathBuf,
    /// No progress bar, summary or messages: only errors on stderr.
    #[arg(long)]
    pub quiet: bool,
}

pub(super) fn train(a: &TrainArgs) -> Result<Outcome> {
    let command = super::command_line();
    if a.steps > MAX_STEPS {
        return Err(DetError::input(format!(
            "--steps {} is more than the limit of {MAX_STEPS}",
            a.steps
        ))
        .into());
    }
    if a.replicas > MAX_REPLICAS {
        return Err(DetError::input(format!(
            "--replicas {} is more than the limit of {MAX_REPLICAS}",
            a.replicas
        ))
        .into());
    }
    let mut spec = crate::train::TrainSpec::parse(
        &a.backend, a.steps, a.replicas, &a.mode, a.seed, a.lr, command,
    )?;
    if a.quiet {
        spec = spec.quiet();
    }
    crate::safety::Plan::new()
        .output("--json", Some(&a.json))
        .check()?;
    crate::interrupt::cooperate();
    let report = crate::train::run(&spec)?;
    // The report is written below by this thread: the Ctrl-C watchdog stands down.
    crate::interrupt::finishing();
    let to_stdout = a.json.as_os_str() == "-";
    if to_stdout {
        // `--json -`: the report alone on stdout, the summary on stderr.
        crate::safety::out(&(serde_json::to_string_pretty(&report)? + "\n"))?;
        if !a.quiet {
            eprint!("{}", crate::train::summary(&report));
        }
    } else {
        crate::train::write(&a.json, &report)?;
        if !a.quiet {
            crate::safety::out(&crate::train::summary(&report))?;
        }
    }
    if !a.quiet {
        let partial = if report.partial {
            " (partial: interrupted)"
        } else {
            ""
        };
        eprintln!(
            "detbench: wrote training report to {}{partial}",
            if to_stdout {
                "stdout".into()
            } else {
                a.json.display().to_string()
            }
        );
    }
    Ok(if report.partial {
        Outcome::Interrupted
    } else {
        Outcome::Ok
    })
}
