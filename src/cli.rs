//! The command line (see ../shared/contract.md). Errors are `anyhow` here; a
//! [`DetError::Input`] anywhere below becomes exit code 2 with one line on stderr.

use crate::backend::{self, BackendKind};
use crate::error::DetError;
use crate::inputs::InputSpec;
use crate::numerics::Precision;
use crate::ops::{Op, Ordering};
use crate::runner::{self, AccChoice, RunConfig};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::str::FromStr;

/// Exit status of a command that ran to the end.
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: a check found a regression.
    Regression,
    /// Exit 130 (the shell's code for SIGINT): interrupted, a partial report was written.
    Interrupted,
}

#[derive(Parser, Debug)]
#[command(
    name = "detbench",
    version,
    about = "How far GPU results drift: run to run, device to device, and from the exact answer; and what determinism costs."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every backend and device, and why any is unavailable.
    Devices {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the experiment matrix, print a table and write the report.
    Run(Box<RunArgs>),
    /// Render a report as HTML and/or Markdown.
    Report(ReportArgs),
    /// Tolerance bands with their justification.
    Tolerance(ToleranceArgs),
    /// Regression check of a current report against a baseline.
    Check(CheckArgs),
    /// One cross-device table from several reports.
    Merge(MergeArgs),
    /// The training workload.
    Train(TrainArgs),
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Ops, comma-separated, or `all`.
    #[arg(long, default_value = "sum,dot")]
    pub op: String,
    /// Backends, comma-separated, or `all` (cpu plus whichever GPUs exist).
    #[arg(long, default_value = "all")]
    pub backend: String,
    /// Precisions: f64, f32, f16, bf16, or `all`. Default: f32,f16,bf16 for generated
    /// inputs; the file's own dtype when every --input is a .npy of one dtype.
    #[arg(long)]
    pub precision: Option<String>,
    /// Accumulators: `default` (f32 for half inputs), `same`, f32, f64, or `all`.
    #[arg(long, default_value = "default")]
    pub accumulator: String,
    /// Variants, or `all`.
    #[arg(long, default_value = "all")]
    pub variant: String,
    /// Problem sizes (elements), comma-separated.
    #[arg(long, default_value = "1000003")]
    pub size: String,
    /// Timed runs per case.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Base seed of the generated inputs.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Inputs: uniform, normal, wide, illcond:C, or a .npy file; comma-separated.
    #[arg(long, default_value = "normal")]
    pub input: String,
    /// Index .npy (int32 or int64) for scatter_add.
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Output bins for scatter_add, comma-separated.
    #[arg(long, default_value = "1024")]
    pub bins: String,
    /// Generated scatter_add index distributions (when --index is not given): uniform, zipf, sorted, single, or `all`; comma-separated.
    #[arg(long, default_value = "uniform")]
    pub index_dist: String,
    /// Convolution shape N,C,H,W,K,R,S,STRIDE,PAD,DILATION; several separated by ';'.
    #[arg(long)]
    pub conv_shape: Option<String>,
    /// Optimizer steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// CUDA atomic orderings for atomic variants: relaxed.gpu, relaxed.cta, acq_rel.gpu, acq_rel.cta, seq_cst.gpu, seq_cst.cta, or `all`.
    #[arg(long, default_value = "all")]
    pub ordering: String,
    /// Threads per workgroup (powers of two, 32..1024), comma-separated.
    #[arg(long, default_value = "256")]
    pub workgroup_size: String,
    /// Write inputs and outputs as .npy into this folder.
    #[arg(long)]
    pub dump: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "detbench-report.json")]
    pub json: PathBuf,
    /// No progress bar or table.
    #[arg(long)]
    pub quiet: bool,
    /// Do not add the `copy` case (at the largest size) that reports use as each device's
    /// bandwidth baseline.
    #[arg(long)]
    pub no_copy_baseline: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run report (and optionally train reports).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write a self-contained HTML report here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write a Markdown report here.
    #[arg(long)]
    pub md: Option<PathBuf>,
    /// Write every figure into this folder as a standalone SVG plus the CSV of its data.
    #[arg(long)]
    pub figures: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ToleranceArgs {
    /// A run report.
    pub input: PathBuf,
    /// Confidence level for the probabilistic and empirical bounds.
    #[arg(long, default_value_t = 0.99)]
    pub confidence: f64,
    /// md, latex or json.
    #[arg(long, default_value = "md")]
    pub format: String,
    /// A training report for the MLPerf-style comparison.
    #[arg(long)]
    pub train: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[arg(long)]
    pub baseline: PathBuf,
    #[arg(long)]
    pub current: PathBuf,
    /// Write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[arg(long)]
    pub md: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    #[arg(long, default_value = "deterministic,nondeterministic")]
    pub mode: String,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Adam learning rate (default 0.05).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, default_value = "detbench-train.json")]
    pub json: PathBuf,
}

/// Splits a comma list; `all` expands to `all_values`.
pub fn parse_list<T: FromStr<Err = String> + Clone>(
    flag: &str,
    s: &str,
    all_values: &[T],
) -> Result<Vec<T>, DetError> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "all" {
            out.extend_from_slice(all_values);
        } else {
            out.push(
                part.parse()
                    .map_err(|e: String| DetError::input(format!("--{flag}: {e}")))?,
            );
        }
    }
    if out.is_empty() {
        return Err(DetError::input(format!("--{flag} is empty")));
    }
    Ok(out)
}

fn parse_sizes(flag: &str, s: &str) -> Result<Vec<usize>, DetError> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let v: usize = if let Some(e) = p.strip_prefix("2^") {
                e.parse::<u32>()
                    .ok()
                    .and_then(|e| 1usize.checked_shl(e))
                    .ok_or(())
            } else {
                p.replace('_', "").parse().map_err(|_| ())
            }
            .map_err(|_| DetError::input(format!("--{flag}: '{p}' is not a size")))?;
            if v == 0 {
                return Err(DetError::input(format!(
                    "--{flag}: size must be at least 1"
                )));
            }
            Ok(v)
        })
        .collect()
}

/// Parses N,C,H,W,K,R,S,STRIDE,PAD,DILATION (ten non-negative integers; the conv family
/// checks the shape itself).
pub fn parse_conv_shape(s: &str) -> Result<Vec<usize>, DetError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 10 {
        return Err(DetError::input(format!(
            "--conv-shape needs 10 integers N,C,H,W,K,R,S,STRIDE,PAD,DILATION, got {}",
            parts.len()
        )));
    }
    parts
        .iter()
        .map(|p| {
            p.parse::<usize>().map_err(|_| {
                DetError::input(format!("--conv-shape: '{p}' is not a non-negative integer"))
            })
        })
        .collect()
}

/// Precisions when `--precision` is not given: the files' own dtype when every input is a
/// .npy file and they agree, else f32, f16 and bf16.
pub fn default_precisions(inputs: &[InputSpec]) -> Result<Vec<Precision>, DetError> {
    let mut found: Vec<Precision> = Vec::new();
    for i in inputs {
        match i {
            InputSpec::File(p) => {
                let d = crate::inputs::npy_precision(std::path::Path::new(p))?;
                if !found.contains(&d) {
                    found.push(d);
                }
            }
            _ => return Ok(vec![Precision::F32, Precision::F16, Precision::Bf16]),
        }
    }
    if found.len() == 1 {
        Ok(found)
    } else {
        Ok(vec![Precision::F32, Precision::F16, Precision::Bf16])
    }
}

/// Builds the run configuration from the flags.
pub fn run_config(a: &RunArgs, command: String) -> Result<RunConfig, DetError> {
    let ops: Vec<Op> = parse_list("op", &a.op, &Op::ALL)?;
    for op in &ops {
        if !op.implemented() {
            return Err(DetError::input(format!(
                "op {op} is not available in this build of detbench"
            )));
        }
    }
    let backends = parse_list("backend", &a.backend, &BackendKind::ALL)?;
    let inputs = a
        .input
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(InputSpec::parse)
        .collect::<Result<Vec<_>, _>>()?;
    for i in &inputs {
        if let InputSpec::File(p) = i {
            if !std::path::Path::new(p).is_file() {
                return Err(DetError::input(format!("--input: {p} does not exist")));
            }
        }
    }
    let precisions = match &a.precision {
        Some(p) => parse_list("precision", p, &Precision::ALL)?,
        None => default_precisions(&inputs)?,
    };
    let mut accumulators = Vec::new();
    for part in a
        .accumulator
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if part == "all" {
            accumulators.extend([
                AccChoice::Same,
                AccChoice::Fixed(Precision::F32),
                AccChoice::Fixed(Precision::F64),
            ]);
        } else {
            accumulators.push(AccChoice::parse(part)?);
        }
    }
    if accumulators.is_empty() {
        return Err(DetError::input("--accumulator is empty"));
    }
    let variants: Vec<String> = if a.variant.trim() == "all" {
        Vec::new()
    } else {
        a.variant
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let orderings = parse_list("ordering", &a.ordering, &Ordering::CUDA)?;
    let sizes = parse_sizes("size", &a.size)?;
    let bins = parse_sizes("bins", &a.bins)?;
    let index_dists: Vec<String> = if a.index_dist.trim() == "all" {
        crate::ops::scatter::INDEX_DISTS
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        a.index_dist
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    for d in &index_dists {
        crate::ops::scatter::check_index_dist(d)?;
    }
    if a.runs == 0 {
        return Err(DetError::input("--runs must be at least 1"));
    }
    let workgroup_sizes = parse_sizes("workgroup-size", &a.workgroup_size)?
        .into_iter()
        .map(|w| crate::ops::check_workgroup_size(w as u32))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(d) = &a.dump {
        std::fs::create_dir_all(d)
            .map_err(|e| DetError::input(format!("--dump: cannot create {}: {e}", d.display())))?;
    }
    Ok(RunConfig {
        ops,
        backends,
        precisions,
        accumulators,
        variants,
        orderings,
        sizes,
        bins,
        runs: a.runs,
        seed: a.seed,
        inputs,
        index_file: a.index.as_ref().map(|p| p.display().to_string()),
        index_dists,
        workgroup_sizes,
        conv_shapes: match &a.conv_shape {
            // Several shapes are separated by ';'.
            Some(s) => s
                .split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(parse_conv_shape)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        },
        steps: match a.steps {
            Some(0) => return Err(DetError::input("--steps must be at least 1")),
            other => other,
        },
        dump: a.dump.clone(),
        command,
        progress: !a.quiet,
        copy_baseline: !a.no_copy_baseline,
    })
}

fn devices(json: bool) -> Result<Outcome> {
    let found = backend::discover(&BackendKind::ALL);
    if json {
        println!("{}", serde_json::to_string_pretty(&found.infos)?);
    } else {
        for d in &found.infos {
            if d.available {
                println!(
                    "{:<5} {}  [{}; {}]",
                    d.backend, d.name, d.device_type, d.driver
                );
                if !d.features.is_empty() {
                    println!("      features: {}", d.features.join(", "));
                }
                for (k, v) in &d.details {
                    println!("      {k}: {v}");
                }
            } else {
                println!("{:<5} {}  unavailable: {}", d.backend, d.name, d.reason);
            }
        }
    }
    Ok(Outcome::Ok)
}

fn run(a: &RunArgs) -> Result<Outcome> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let cfg = run_config(a, command)?;
    // Ctrl-C stops between cases; what was measured is still written, marked partial.
    let _ =
        ctrlc::set_handler(|| runner::INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst));
    let report = runner::run(&cfg)?;
    crate::report::write_report(&a.json, &report)?;
    if !a.quiet {
        print!("{}", runner::table(&report.results));
    }
    let partial = if report.partial {
        " (partial: interrupted)"
    } else {
        ""
    };
    eprintln!(
        "detbench: wrote {} results to {}{partial}",
        report.results.len(),
        a.json.display()
    );
    Ok(if report.partial {
        Outcome::Interrupted
    } else {
        Outcome::Ok
    })
}

fn train(a: &TrainArgs) -> Result<Outcome> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let spec = crate::train::TrainSpec::parse(
        &a.backend, a.steps, a.replicas, &a.mode, a.seed, a.lr, command,
    )?;
    if let Some(dir) = a.json.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(DetError::input(format!(
                "--json: folder {} does not exist",
                dir.display()
            ))
            .into());
        }
    }
    let _ =
        ctrlc::set_handler(|| runner::INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst));
    let report = crate::train::run(&spec)?;
    crate::train::write(&a.json, &report)?;
    print!("{}", crate::train::summary(&report));
    eprintln!("detbench: wrote training report to {}", a.json.display());
    Ok(Outcome::Ok)
}

/// Runs the parsed command.
pub fn dispatch(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Devices { json } => devices(json),
        Command::Run(a) => run(&a),
        Command::Report(a) => {
            crate::report::html::run_with_figures(
                &a.inputs,
                a.html.as_deref(),
                a.md.as_deref(),
                a.figures.as_deref(),
            )?;
            Ok(Outcome::Ok)
        }
        Command::Tolerance(a) => {
            crate::tolerance::run(&a.input, a.confidence, &a.format, a.train.as_deref())?;
            Ok(Outcome::Ok)
        }
        Command::Check(a) => Ok(crate::check::run(
            &a.baseline,
            &a.current,
            a.junit.as_deref(),
        )?),
        Command::Merge(a) => {
            crate::merge::run(&a.inputs, a.md.as_deref())?;
            Ok(Outcome::Ok)
        }
        Command::Train(a) => train(&a),
    }
}
