//! The command line (described in docs/interface.md). Errors are `anyhow` here; a
//! [`DetError::Input`] anywhere below becomes exit code 2 with one line on stderr.

use crate::backend::{self, BackendKind};
use crate::error::DetError;
use crate::runner;
pub use crate::shared::list::{dedup, parse_list, parse_sizes, split_list};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub use crate::error::Outcome;

mod run_args;
pub use run_args::{default_precisions, run_config};
mod store_cmd;
pub use store_cmd::{ExportArgs, HistoryArgs, StoreArgs, StoreCommand};
mod train_cmd;
use train_cmd::train;
pub use train_cmd::{TrainArgs, MAX_REPLICAS};

#[derive(Parser, Debug)]
#[command(
    name = "detbench",
    version,
    arg_required_else_help = true,
    about = "How far GPU results drift: run to run, device to device, and from the exact answer; and what determinism costs."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every backend and device, and why any is unavailable.
    #[command(after_help = crate::help::DEVICES)]
    Devices {
        /// Write the list as JSON (`detbench.devices.v1`) to PATH instead of a table;
        /// `--json` alone or `--json -` prints it on stdout.
        #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "-")]
        json: Option<PathBuf>,
    },
    /// Run the experiment matrix, print a table and write the report.
    #[command(after_help = crate::help::run())]
    Run(Box<RunArgs>),
    /// Render a report as Markdown (stdout by default), HTML and/or figure files.
    #[command(after_help = crate::help::REPORT)]
    Report(ReportArgs),
    /// Tolerance bands with their justification.
    #[command(after_help = crate::help::TOLERANCE)]
    Tolerance(ToleranceArgs),
    /// Regression check of a current report against a baseline.
    #[command(after_help = crate::help::CHECK)]
    Check(CheckArgs),
    /// One cross-device table from several reports.
    #[command(after_help = crate::help::MERGE)]
    Merge(MergeArgs),
    /// Train a small network R times per mode (deterministic and atomic kernels) and
    /// measure how far the replicas drift apart.
    #[command(after_help = crate::help::TRAIN)]
    Train(TrainArgs),
    /// Compile the CUDA kernels for one architecture without a GPU (needs only libnvrtc):
    /// specialised sources, PTX, CUBIN and a JSON summary of instructions and resources.
    #[command(after_help = crate::help::KERNELS)]
    Kernels(KernelsArgs),
    /// The results store (a SQLite file or postgres://...): add reports, show what it holds.
    #[command(after_help = crate::help::STORE)]
    Store(StoreArgs),
    /// Ask the results store: nondeterministic, changes, first-change --key KEY, or cost.
    #[command(after_help = crate::help::HISTORY)]
    History(HistoryArgs),
    /// Export a report or the newest stored one for a continuous-benchmark service: bencher
    /// (Bencher Metric Format) or github-action-benchmark (customSmallerIsBetter).
    Export(ExportArgs),
    /// Recover the order in which a kernel combined its inputs, from crafted inputs
    /// (docs/reveal.md): as a tree, an outline, an SVG and an order fingerprint.
    Reveal(crate::reveal::command::RevealArgs),
}

#[derive(Args, Debug, Clone)]
pub struct KernelsArgs {
    /// Architecture to compile for: sm_90, 90 or 9.0.
    #[arg(long)]
    pub arch: String,
    /// Only the modules of these ops (comma-separated); all when absent.
    #[arg(long)]
    pub op: Option<String>,
    /// Only the modules of these input precisions (comma-separated); all when absent.
    #[arg(long)]
    pub precision: Option<String>,
    /// Folder to write into (created if missing, and only once everything compiled).
    #[arg(long)]
    pub out: PathBuf,
    /// Write into --out even when it holds files detbench did not write.
    #[arg(long)]
    pub force: bool,
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
    /// Problem sizes (elements), comma-separated [default: 1000003]. Ops sized by their
    /// own flag (matmul: --mm-shape, conv: --conv-shape, row ops: --row-len) do not take it.
    #[arg(long)]
    pub size: Option<String>,
    /// Timed runs per case.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Untimed warm-up runs before the timed ones (not in times_ms, not judged).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Seeds of the generated inputs: one, a comma list, or an inclusive range `1..20`
    /// (each seed is its own record).
    #[arg(long, default_value = "7")]
    pub seed: String,
    /// Inputs: uniform, normal, wide, illcond:C, or a .npy file; comma-separated.
    #[arg(long, default_value = "normal")]
    pub input: String,
    /// The families' own flags (--bins, --index, --index-dist, --conv-shape, --steps,
    /// --mm-shape, --row-len...), each declared in its family's folder.
    #[command(flatten)]
    pub family: crate::ops::FamilyArgs,
    /// Batch sizes, comma-separated: each case of an op with a batch axis (matmul: M;
    /// row reductions: rows) runs at each, with the same first rows, and every record says
    /// whether those rows kept their bits (batch_invariant, max_ulp_across_batches).
    #[arg(long)]
    pub batch_sizes: Option<String>,
    /// Atomic orderings for atomic variants, among the run's backends' own (cuda, cuda-emu: relaxed.gpu, relaxed.cta, acq_rel.gpu, acq_rel.cta, seq_cst.gpu, seq_cst.cta; cpu, wgpu: relaxed; external: none), or `all`.
    #[arg(long, default_value = "all")]
    pub ordering: String,
    /// Threads per workgroup (powers of two, 32..1024), comma-separated.
    #[arg(long, default_value = "256")]
    pub workgroup_size: String,
    /// Write inputs and outputs as .npy into this folder (one file per result key).
    #[arg(long)]
    pub dump: Option<PathBuf>,
    /// Write into --dump even when it holds files detbench did not write.
    #[arg(long)]
    pub force: bool,
    /// Where to write the JSON report (`-` for stdout; the table then goes to stderr)
    /// [default: detbench-report.json]. With --list-cases: write the case list as JSON
    /// (`detbench.cases.v1`) here instead of text on stdout.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// No progress bar or table.
    #[arg(long)]
    pub quiet: bool,
    /// Run only shard K of N (`2/3`): a stable part of the matrix. A case's shard depends
    /// on its case key alone, so N machines given 1/N..N/N run every case once, and
    /// `detbench merge --json` joins their reports.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Print the matrix's cases (with --shard, that shard's) one per line, without running
    /// them; with --json, write them as `detbench.cases.v1`.
    #[arg(long)]
    pub list_cases: bool,
    /// Per case, on stderr: the time to draw its input with its exact value and bound, and
    /// per backend the kernels' time and the time around them (upload, warm-up, read-back).
    #[arg(long)]
    pub verbose: bool,
    /// Do not add the `copy` case (at the largest size) that reports use as each device's
    /// bandwidth baseline.
    #[arg(long)]
    pub no_copy_baseline: bool,
    /// Also add the report to this results store (a SQLite file path or postgres://...)
    /// when the run ends, in one transaction (docs/interface.md, "The results store").
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The external backend's adapter: a .toml adapter file or a command (docs/external.md).
    /// Implies `--backend external` when --backend is not given.
    #[arg(long)]
    pub external: Option<String>,
    /// Time limit of one call of the external program, in seconds (overrides the adapter
    /// file's `timeout_s`; default 600).
    #[arg(long)]
    pub external_timeout: Option<f64>,
    /// Record each deterministic sum/dot row's accumulation-order fingerprint
    /// (`extra.order`, revealed at n = min(size, 256); docs/reveal.md).
    #[arg(long)]
    pub reveal: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run report (and optionally train reports).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write a self-contained HTML report here (`-` for stdout).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write a Markdown report here (`-` for stdout; the default when no output is named).
    #[arg(long)]
    pub md: Option<PathBuf>,
    /// Write every figure into this folder as a standalone SVG plus the CSV of its data.
    #[arg(long)]
    pub figures: Option<PathBuf>,
    /// Write into --figures even when it holds files detbench did not write.
    #[arg(long)]
    pub force: bool,
    /// Write the summary data (`detbench.summary.v1`) as JSON here (`-` for stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Print the report on stdout in this format (a renderer's name; a wrong one lists them).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct ToleranceArgs {
    /// A run report.
    pub input: PathBuf,
    /// Confidence level for the probabilistic and empirical bounds (0.9: the empirical basis
    /// then needs 22 seeds per configuration, the README's recipe).
    #[arg(long, default_value_t = 0.9)]
    pub confidence: f64,
    /// md, text, html, latex or json: the format printed on stdout when none of --md,
    /// --html, --latex and --json is given.
    #[arg(long, default_value = "md")]
    pub format: String,
    /// Write the bands as Markdown to PATH (`-`: stdout).
    #[arg(long, value_name = "PATH")]
    pub md: Option<PathBuf>,
    /// Write the bands as a self-contained HTML page to PATH (`-`: stdout).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write the bands as LaTeX (booktabs) to PATH (`-`: stdout).
    #[arg(long, value_name = "PATH")]
    pub latex: Option<PathBuf>,
    /// Write the bands as JSON (`detbench.tolerance.v1`) to PATH (`-`: stdout).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// A training report for the MLPerf-style comparison.
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Form of the paste-ready assertions: normwise (tau * sum|x|) or elementwise (rtol/atol).
    #[arg(long, default_value = "normwise")]
    pub form: String,
    /// A held-out run report (other seeds): report the coverage each band reaches on it.
    #[arg(long)]
    pub validate: Option<PathBuf>,
    /// Write the BibTeX of the works the LaTeX cites to this file.
    #[arg(long)]
    pub bib: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Baseline report(s): repeat the flag or give a comma list. With two or more (reruns
    /// of one matrix) each row's between-report timing noise is measured; the first is the
    /// baseline of the numeric verdicts and the one `--accept` replaces (alone).
    #[arg(
        long,
        required_unless_present = "baseline_from",
        conflicts_with = "baseline_from",
        value_delimiter = ',',
        num_args = 1
    )]
    pub baseline: Vec<PathBuf>,
    /// Take the baseline from a results store (a SQLite file path or postgres://...): the
    /// newest complete stored report with rows of --device, reduced to that device's rows.
    #[arg(long, value_name = "URL", requires = "device")]
    pub baseline_from: Option<String>,
    /// With --baseline-from: the device (its stored identity, as `store info` lists it, or
    /// a unique part of it).
    #[arg(long, value_name = "ID", requires = "baseline_from")]
    pub device: Option<String>,
    /// The report to judge (a `detbench run` of the same matrix as the baseline).
    #[arg(long)]
    pub current: PathBuf,
    /// Write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Print the verdict on stdout in this format: text (default), md, html, json or latex.
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "text",
        conflicts_with = "accept"
    )]
    pub format: String,
    #[command(flatten)]
    pub options: crate::check::CheckOptions,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Run reports, typically one per device, of the same matrix.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write the Markdown table here instead of stdout (`-` for stdout).
    #[arg(long)]
    pub md: Option<PathBuf>,
    /// Print the table on stdout in this format: md, text, html, json or latex (with
    /// neither this nor --md: md).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Write the reports joined into one `detbench.report.v1` report here (`-` for
    /// stdout; the table is then printed only to --md). Missing or duplicated cases are
    /// named on stderr and exit 1; a duplicated one leaves the report unwritten.
    #[arg(long, value_name = "OUT")]
    pub json: Option<PathBuf>,
    /// Merge reports made by different detbench commits or kernel sources (refused
    /// otherwise); the joined report then records every commit.
    #[arg(long)]
    pub allow_mixed_builds: bool,
}

/// Most timed runs per case. Every run's output is kept for the run-to-run comparison, so
/// memory grows with the runs; 100 000 runs are enough for an empirical bound at 99.999%
/// confidence (see `tolerance`).
pub const MAX_RUNS: usize = 100_000;
/// Most optimizer steps (`run --steps`) and training steps (`train --steps`).
pub use crate::ops::optim::MAX_STEPS;
/// The command line as the report records it. Arguments are read as `OsString`
/// (`std::env::args` panics on a non-UTF-8 path); a name that is not UTF-8 is recorded
/// lossily here, and used exactly as given everywhere else.
fn command_line() -> String {
    std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Schema tag of `devices --json`.
pub const DEVICES_SCHEMA: &str = "detbench.devices.v1";

fn devices(json: Option<&std::path::Path>) -> Result<Outcome> {
    if let Some(p) = json {
        crate::safety::Plan::new()
            .output("--json", Some(p))
            .check()?;
    }
    let found = backend::discover(&BackendKind::LISTED);
    let mut text = String::new();
    if let Some(p) = json {
        let doc = serde_json::json!({ "schema": DEVICES_SCHEMA, "devices": found.infos });
        let text = serde_json::to_string_pretty(&doc)? + "\n";
        if p.as_os_str() == "-" {
            crate::safety::out(&text)?;
        } else {
            crate::report::write_atomic(p, text.as_bytes())?;
            eprintln!("detbench: wrote {}", p.display());
        }
        return Ok(Outcome::Ok);
    } else {
        for d in &found.infos {
            if d.available {
                text += &format!(
                    "{:<5} {}  [{}; {}]\n",
                    d.backend, d.name, d.device_type, d.driver
                );
                if !d.features.is_empty() {
                    text += &format!("      features: {}\n", d.features.join(", "));
                }
                if !d.subnormals.is_empty() {
                    text += &format!("      subnormals: {}\n", d.subnormals_line());
                }
                for (k, v) in &d.details {
                    text += &format!("      {k}: {v}\n");
                }
            } else {
                text += &format!("{:<5} {}  unavailable: {}\n", d.backend, d.name, d.reason);
            }
        }
    }
    crate::safety::out(&text)?;
    Ok(Outcome::Ok)
}

impl RunArgs {
    /// `--json`, or the default report file.
    pub fn report_path(&self) -> PathBuf {
        self.json
            .clone()
            .unwrap_or_else(|| PathBuf::from("detbench-report.json"))
    }
}

fn run(a: &RunArgs) -> Result<Outcome> {
    let command = command_line();
    if a.list_cases {
        return list_cases(a, command);
    }
    let json = a.report_path();
    // Signals are handled before the first child (an adapter's `info` call) starts.
    crate::interrupt::cooperate();
    let cfg = match run_config(a, command.clone()) {
        Ok(c) => c,
        Err(e) if crate::interrupt::interrupted() => {
            // Stopped while the adapter answered `info`: no case had started. The report
            // is still written, complete and marked partial, as for any Ctrl-C.
            return interrupted_before_cases(a, &command, &e);
        }
        Err(e) => return Err(e.into()),
    };
    // The --dump folder is created by the run's first dump (runner::dumps): a command that
    // fails before it creates nothing.
    // Ctrl-C stops at the next run; what was measured is still written, marked partial.
    let to_stdout = json.as_os_str() == "-";
    let path = json.clone();
    crate::interrupt::set_sink(move |bytes| {
        let done = if to_stdout {
            crate::safety::out(&String::from_utf8_lossy(bytes)).is_ok()
        } else {
            crate::report::write_atomic(&path, bytes).is_ok()
        };
        if done {
            eprintln!(
                "detbench: interrupted: wrote the finished cases to {} (partial)",
                if to_stdout {
                    "stdout".into()
                } else {
                    path.display().to_string()
                }
            );
        }
    });
    // The store is opened (and migrated) before any work: a bad URL exits 2 at once.
    let mut store = a
        .store
        .as_deref()
        .map(crate::store::Store::open)
        .transpose()?;
    let report = runner::run(&cfg)?;
    crate::interrupt::finishing();
    if to_stdout {
        // `--json -`: the report is the only thing on stdout; the table goes to stderr.
        let json = serde_json::to_string_pretty(&report)?;
        crate::safety::out(&(json + "\n"))?;
        if !a.quiet {
            eprint!("{}", runner::table(&report.results));
        }
    } else {
        crate::report::write_report(&json, &report)?;
        if !a.quiet {
            crate::safety::out(&runner::table(&report.results))?;
        }
    }
    let partial = if report.partial {
        " (partial: interrupted)"
    } else {
        ""
    };
    // Backends that `all` asked for but found no usable device of (after the work, so a
    // bad input's error stays the only line on stderr).
    for kind in &cfg.backends {
        let infos: Vec<_> = report
            .env
            .devices
            .iter()
            .filter(|d| d.backend == kind.name())
            .collect();
        if !infos.is_empty() && infos.iter().all(|d| !d.available) {
            let why: Vec<String> = infos
                .iter()
                .map(|d| format!("{}: {}", d.name, d.reason))
                .collect();
            eprintln!(
                "detbench: backend {kind} has no usable device ({}); its results are skipped",
                why.join("; ")
            );
        }
    }
    // A backend built from the flags (an adapter) that could run none of its cases.
    for b in cfg.given.iter().filter(|_| !report.partial) {
        let kind = crate::backend::Backend::kind(b);
        let rows: Vec<_> = report
            .results
            .iter()
            .filter(|r| r.backend == kind.name())
            .collect();
        if !rows.is_empty() && rows.iter().all(|r| r.status == "unsupported") {
            // The report says why each case could not run: it stays.
            crate::safety::keep_outputs();
            return Err(DetError::input(format!(
                "--backend {kind} ran none of its {} cases (report written): {}{}",
                rows.len(),
                rows[0].message,
                crate::backend::Backend::remedy(b)
            ))
            .into());
        }
    }
    // --quiet is quiet: no "wrote" line (a partial run still says so, as exit 130 does).
    if !a.quiet || report.partial {
        eprintln!(
            "detbench: wrote {} results to {}{partial}",
            report.results.len(),
            if to_stdout {
                "stdout".into()
            } else {
                json.display().to_string()
            }
        );
    }
    if let Some(st) = store.as_mut() {
        // One transaction: the store holds the whole report or none of it.
        let added = st.add(&report)?;
        store_cmd::say_added(&added, "the report", &st.url());
    }
    Ok(if report.partial {
        Outcome::Interrupted
    } else {
        Outcome::Ok
    })
}

/// `run --list-cases`: the matrix (or one shard of it) without running it.
fn list_cases(a: &RunArgs, command: String) -> Result<Outcome> {
    let cfg = run_config(a, command)?;
    let list = runner::shard::list(&cfg)?;
    match &a.json {
        Some(p) => {
            let text = serde_json::to_string_pretty(&list)? + "\n";
            if p.as_os_str() == "-" {
                crate::safety::out(&text)?;
            } else {
                crate::report::write_atomic(p, text.as_bytes())?;
                eprintln!(
                    "detbench: wrote {} cases to {}",
                    list.cases.len(),
                    p.display()
                );
            }
        }
        None => {
            let text: String = list.cases.iter().map(|c| c.label.clone() + "\n").collect();
            crate::safety::out(&text)?;
        }
    }
    Ok(Outcome::Ok)
}

/// `run` stopped by a signal before its first case (while the external adapter answered
/// `info`): writes the report with no results, marked partial (the flags were checked, so
/// its path is writable), and exits 130.
fn interrupted_before_cases(a: &RunArgs, command: &str, why: &DetError) -> Result<Outcome> {
    crate::interrupt::finishing();
    let seeds = runner::seeds::parse_seeds(&a.seed)?;
    let mut env = runner::environment(command, seeds[0], Vec::new(), &[]);
    runner::seeds::record_seeds(&mut env, &seeds);
    let report = crate::report::Report {
        schema: crate::report::SCHEMA.into(),
        env,
        results: Vec::new(),
        partial: true,
    };
    let json = a.report_path();
    let to = if json.as_os_str() == "-" {
        crate::safety::out(&(serde_json::to_string_pretty(&report)? + "\n"))?;
        "stdout".to_string()
    } else {
        crate::report::write_report(&json, &report)?;
        json.display().to_string()
    };
    let why = why.to_string();
    eprintln!(
        "detbench: interrupted before any case ran ({}): wrote 0 results to {to} (partial: interrupted)",
        why.lines().next().unwrap_or_default()
    );
    Ok(Outcome::Interrupted)
}

/// Runs the parsed command. A command that fails leaves nothing new behind: the files
/// and folders it created are removed (see [`crate::safety::roll_back`]).
pub fn dispatch(cli: Cli) -> Result<Outcome> {
    let result = dispatch_command(cli);
    if result.is_err() {
        crate::safety::roll_back(false);
    }
    result
}

fn dispatch_command(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Devices { json } => devices(json.as_deref()),
        Command::Run(a) => run(&a),
        Command::Report(a) => {
            let out = crate::report::command::Outputs::new(
                &a.inputs,
                a.html.as_deref(),
                a.md.as_deref(),
                a.json.as_deref(),
                a.format.as_deref(),
                a.figures.as_deref(),
                a.force,
            )?;
            crate::report::command::run(&a.inputs, &out)?;
            Ok(Outcome::Ok)
        }
        Command::Tolerance(a) => {
            let mut plan = crate::safety::Plan::new().input("input", &a.input);
            if let Some(t) = &a.train {
                plan = plan.input("--train", t);
            }
            if let Some(v) = &a.validate {
                plan = plan.input("--validate", v);
            }
            plan.output("--bib", a.bib.as_deref())
                .output("--md", a.md.as_deref())
                .output("--html", a.html.as_deref())
                .output("--latex", a.latex.as_deref())
                .output("--json", a.json.as_deref())
                .check()?;
            let to_stdout = [&a.md, &a.html, &a.latex, &a.json]
                .iter()
                .filter(|p| p.as_deref().is_some_and(|p| p.as_os_str() == "-"))
                .count();
            if to_stdout > 1 {
                return Err(DetError::input(
                    "only one of --md, --html, --latex and --json can be - (stdout)",
                )
                .into());
            }
            crate::tolerance::run(&crate::tolerance::Options {
                input: &a.input,
                confidence: a.confidence,
                format: &a.format,
                outputs: crate::tolerance::Outputs {
                    md: a.md.as_deref(),
                    html: a.html.as_deref(),
                    latex: a.latex.as_deref(),
                    json: a.json.as_deref(),
                },
                form: &a.form,
                train: a.train.as_deref(),
                validate: a.validate.as_deref(),
                bib: a.bib.as_deref(),
            })?;
            Ok(Outcome::Ok)
        }
        Command::Check(a) if a.baseline_from.is_some() => {
            let (url, device) = (
                a.baseline_from.as_deref().unwrap_or_default(),
                a.device.as_deref().unwrap_or_default(),
            );
            if a.options.accept {
                return Err(DetError::input(
                    "--accept cannot replace a baseline in the store (it is append-only): store the new report with `detbench store add`",
                )
                .into());
            }
            crate::safety::Plan::new()
                .input("--current", &a.current)
                .output("--junit", a.junit.as_deref())
                .check()?;
            let format = crate::report::render::stdout_format("check", &a.format)?;
            let (baseline, label) = store_cmd::baseline_from_store(url, device)?;
            eprintln!("detbench: baseline: {label}");
            Ok(crate::check::run_with_baseline(
                baseline,
                &label,
                &a.current,
                a.junit.as_deref(),
                format,
                &a.options,
            )?)
        }
        Command::Check(a) => {
            let plan = crate::safety::Plan::new().input("--current", &a.current);
            // With --accept the baseline is the output (and may not exist yet).
            let plan = if a.options.accept {
                let mut plan = plan;
                for b in &a.baseline {
                    plan = plan.output("--baseline", Some(b));
                }
                plan
            } else {
                let mut plan = plan;
                for b in &a.baseline {
                    plan = plan.input("--baseline", b);
                }
                plan
            };
            plan.output("--junit", a.junit.as_deref()).check()?;
            let format = crate::report::render::stdout_format("check", &a.format)?;
            Ok(crate::check::run(
                &a.baseline,
                &a.current,
                a.junit.as_deref(),
                format,
                &a.options,
            )?)
        }
        Command::Merge(a) => {
            let mut plan = crate::safety::Plan::new();
            for p in &a.inputs {
                plan = plan.input("input", p);
            }
            plan.output("--md", a.md.as_deref())
                .output("--json", a.json.as_deref())
                .check()?;
            let format = a
                .format
                .as_deref()
                .map(|f| crate::report::render::stdout_format("merge", f))
                .transpose()?;
            let json_stdout = a.json.as_deref().is_some_and(|j| j.as_os_str() == "-");
            let md_stdout = a.md.as_deref().is_some_and(|m| m.as_os_str() == "-");
            if json_stdout && (format.is_some() || md_stdout) {
                return Err(DetError::input(
                    "merge: --json - prints the report on stdout: name a file for --json, or drop --format and --md -",
                )
                .into());
            }
            let outcome =
                crate::merge::shards::run(&a.inputs, a.json.as_deref(), a.allow_mixed_builds)?;
            // `--json -`: the report alone on stdout (the table only to --md or --format).
            if a.json.as_deref().is_none_or(|j| j.as_os_str() != "-")
                || a.md.is_some()
                || format.is_some()
            {
                crate::merge::run(&a.inputs, a.md.as_deref(), format)?;
            }
            Ok(outcome)
        }
        Command::Train(a) => train(&a),
        Command::Store(a) => store_cmd::store(&a),
        Command::History(a) => store_cmd::history(&a),
        Command::Export(a) => store_cmd::export(&a),
        Command::Reveal(a) => {
            crate::interrupt::install();
            crate::reveal::command::run(&a)?;
            Ok(Outcome::Ok)
        }
        Command::Kernels(a) => {
            crate::safety::Plan::new()
                .folder("--out", Some(&a.out))
                .force(a.force)
                .check()?;
            let n = crate::inspect::run(&a.arch, a.op.as_deref(), a.precision.as_deref(), &a.out)?;
            eprintln!(
                "detbench: wrote {n} modules and kernels.json to {}",
                a.out.display()
            );
            Ok(Outcome::Ok)
        }
    }
}
