//! `detbench reveal`: its arguments, the device, and the outputs.

use super::probe::{Target, ELEMENTS, OPS};
use super::RevealReport;
use crate::backend::{self, Backend, BackendKind};
use crate::error::DetError;
use crate::numerics::Precision;
use crate::ops::Op;
use crate::report::render::Format;
use clap::Args;
use std::path::PathBuf;

/// Most reveals of one kernel (`--runs`).
pub const MAX_RUNS: usize = 1000;
/// Why `reveal --op log_softmax` cannot work (one line).
pub const LOG_SOFTMAX_WHY: &str = "--op log_softmax: its reduction sums exp(x - max), and every exp is positive, so no two crafted terms can cancel (the construction needs +M and -M): the order of that sum cannot be read from crafted inputs";

/// Most output elements probed side by side (`--elements`).
pub const MAX_ELEMENTS: usize = 256;
/// Largest n: every reveal makes about n log n launches.
pub const MAX_SIZE: usize = 1 << 16;

#[derive(Args, Debug, Clone)]
pub struct RevealArgs {
    /// The op whose order to reveal: sum, dot, scatter_add (one bin), a conv op (one output
    /// element's reduction), row_sum or mean (one row), matmul (its K reduction, M = N = 1) or addmm (the same plus
    /// the bias as the last input).
    #[arg(long, default_value = "sum")]
    pub op: String,
    /// The variant (for --backend external: the adapter's mode; default its plain mode).
    #[arg(long)]
    pub variant: Option<String>,
    /// One backend: cpu, wgpu, cuda, cuda-emu or external.
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Input format: f64, f32, f16 or bf16.
    #[arg(long, default_value = "f32")]
    pub precision: String,
    /// Accumulator: `default` (f32 for half inputs, else the input's format), f32 or f64...
    #[arg(long, default_value = "default")]
    pub accumulator: String,
    /// Inputs of the reduction (n).
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Threads per workgroup (a power of two, 32..1024).
    #[arg(long, default_value_t = 256)]
    pub workgroup_size: u32,
    /// Output elements to probe side by side, each reducing the same terms: matmul's rows
    /// (M = E), a conv op's channels, scatter_add's bins (interleaved), row_sum's or mean's rows; the
    /// result says whether every element has element 0's order.
    #[arg(long, default_value_t = 1)]
    pub elements: usize,
    /// Reveals to make: each is a full set of launches, and the distinct trees are counted.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Do not compare with the order the cpu backend emulates.
    #[arg(long)]
    pub no_compare: bool,
    /// The external backend's adapter (a .toml file or a command); implies --backend external.
    #[arg(long)]
    pub external: Option<String>,
    /// Time limit of one call of the external program, in seconds.
    #[arg(long)]
    pub external_timeout: Option<f64>,
    /// Write the result as JSON (`detbench.reveal.v1`) to PATH (`-`: stdout, alone).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the first tree as an SVG figure to PATH.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
    /// Format printed on stdout: text (default), md, html, json, latex.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
}

fn parse<T: std::str::FromStr<Err = String>>(flag: &str, s: &str) -> Result<T, DetError> {
    s.parse::<T>()
        .map_err(|e| DetError::input(format!("--{flag}: {e}")))
}

/// The target and the backend of the arguments.
fn setup(a: &RevealArgs) -> Result<(Target, Box<dyn Backend>), DetError> {
    let op: Op = parse("op", &a.op)?;
    if op == Op::LogSoftmax {
        return Err(DetError::input(LOG_SOFTMAX_WHY));
    }
    if !OPS.contains(&op) {
        return Err(DetError::input(format!(
            "--op {op}: reveal probes {} in this build",
            OPS.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
        )));
    }
    let precision: Precision = parse("precision", &a.precision)?;
    let accumulator = match a.accumulator.as_str() {
        "default" => match precision {
            Precision::F16 | Precision::Bf16 => Precision::F32,
            p => p,
        },
        "same" => precision,
        s => parse("accumulator", s)?,
    };
    if a.size < 2 || a.size > MAX_SIZE {
        return Err(DetError::input(format!(
            "--size {} must be between 2 and {MAX_SIZE}",
            a.size
        )));
    }
    if a.runs == 0 || a.runs > MAX_RUNS {
        return Err(DetError::input(format!(
            "--runs {} must be between 1 and {MAX_RUNS}",
            a.runs
        )));
    }
    if a.elements == 0 || a.elements > MAX_ELEMENTS {
        return Err(DetError::input(format!(
            "--elements {} must be between 1 and {MAX_ELEMENTS}",
            a.elements
        )));
    }
    if a.elements > 1 && (!ELEMENTS.contains(&op) || a.external.is_some()) {
        return Err(DetError::input(format!(
            "--elements {}: only {} of detbench's own backends have several outputs to probe",
            a.elements,
            ELEMENTS
                .iter()
                .map(|o| o.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let wg = crate::ops::check_workgroup_size(a.workgroup_size)?;
    let kind: BackendKind = match (&a.external, a.backend.as_str()) {
        (Some(_), "cpu") => BackendKind::External,
        (_, s) => parse("backend", s)?,
    };
    let (variant, mode, unpromised, backend): (String, String, Option<String>, Box<dyn Backend>) =
        if kind == BackendKind::External {
            let spec = a.external.as_deref().ok_or_else(|| {
                DetError::input(
                    "--backend external needs --external ADAPTER (a .toml file or a command)",
                )
            })?;
            let ad = backend::external::Adapter::load(spec, a.external_timeout)?;
            let b = backend::external::ExternalBackend::new(ad.clone());
            let modes = crate::ops::own_variants(&b, op, &[])?;
            let mode = match &a.variant {
                Some(v) if modes.contains(v) => v.clone(),
                Some(v) => {
                    return Err(DetError::input(format!(
                        "adapter {} has no mode '{v}' for op {op} (expected {})",
                        ad.name,
                        modes.join(", ")
                    )))
                }
                None => ad.plain.clone().unwrap_or_else(|| modes[0].clone()),
            };
            let variant = crate::ops::reference_variant(op)?.to_string();
            let unpromised = (!ad.deterministic.contains(&mode)).then(|| {
                format!(
                    "adapter {} does not declare mode '{mode}' deterministic",
                    ad.name
                )
            });
            (variant, mode, unpromised, Box::new(b))
        } else {
            // Default: the reduction's `tree`, else the op's first variant.
            let variant = a.variant.clone().unwrap_or_else(|| {
                let vs = op.variants();
                if vs.contains(&"tree") { "tree" } else { vs[0] }.to_string()
            });
            if !op.variants().contains(&variant.as_str()) {
                return Err(DetError::input(format!(
                    "--variant {variant}: {op} has {}",
                    op.variants().join(", ")
                )));
            }
            let mut found = backend::discover(&[kind]);
            if found.backends.is_empty() {
                let why: Vec<String> = found
                    .infos
                    .iter()
                    .map(|d| format!("{}: {}", d.name, d.reason))
                    .collect();
                return Err(DetError::input(format!(
                    "--backend {kind} has no usable device ({})",
                    why.join("; ")
                )));
            }
            let unpromised = Target::unpromised_internal(op, &variant);
            (
                variant.clone(),
                variant,
                unpromised,
                found.backends.remove(0),
            )
        };
    let target = Target {
        op,
        variant,
        mode,
        precision,
        accumulator,
        n: a.size,
        workgroup_size: wg,
        unpromised,
        elements: a.elements,
    };
    Ok((target, backend))
}

/// Runs `detbench reveal`.
pub fn run(a: &RevealArgs) -> Result<RevealReport, DetError> {
    let format: Format = a.format.parse()?;
    if format == Format::Figures {
        return Err(DetError::input(
            "--format figures writes a folder; use --svg PATH for the tree's figure",
        ));
    }
    crate::safety::Plan::new()
        .output("--json", a.json.as_deref())
        .output("--svg", a.svg.as_deref())
        .check()?;
    let (target, backend) = setup(a)?;
    let cpu = if a.no_compare || matches!(backend.kind(), BackendKind::Cpu | BackendKind::External)
    {
        None
    } else {
        backend::discover(&[BackendKind::Cpu])
            .backends
            .into_iter()
            .next()
    };
    let report = super::reveal(&target, backend.as_ref(), a.runs, cpu.as_deref())?;
    let doc = super::view::document(&report);
    let json_stdout = a.json.as_ref().is_some_and(|p| p.as_os_str() == "-");
    if let Some(p) = &a.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| DetError::input(format!("--json: {e}")))?
            + "\n";
        if json_stdout {
            crate::safety::out(&text)?;
        } else {
            crate::report::write_atomic(p, text.as_bytes())?;
        }
    }
    if let Some(p) = &a.svg {
        let fig = doc
            .figures()
            .first()
            .map(|f| f.svg.clone())
            .ok_or_else(|| {
                DetError::input(format!(
                    "--svg {}: there is no tree to draw ({})",
                    p.display(),
                    report.verdict
                ))
            })?;
        crate::report::write_atomic(p, fig.as_bytes())?;
    }
    if !json_stdout {
        crate::safety::out(&format.renderer().render(&doc))?;
    }
    Ok(report)
}
