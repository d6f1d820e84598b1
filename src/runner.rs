//! The experiment runner: expands the matrix, runs every case on every backend,
//! turns outputs into metrics and assembles the report.

use crate::backend::{Backend, BackendKind, DeviceInfo};
use crate::error::{DetError, OpError};
use crate::inputs::{self, InputSpec};
use crate::numerics::ulp::{ulp_distance, ulp_error};
use crate::numerics::Precision;
use crate::ops::{
    self, BaselineSpec, Case, Family, FamilyOptions, Job, Op, Ordering, Prepared, RunSet,
};
use crate::report::{Env, Report, ResultRecord, Status, SCHEMA};
pub use crate::shared::host::{check_host_size, check_runs_memory};
pub use crate::shared::stats::median;
use crate::shared::stats::median_u64;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use crate::interrupt::interrupted;
/// Set by the Ctrl-C handler; the runner stops between runs and marks the report partial.
pub use crate::interrupt::INTERRUPTED;

/// Which accumulator a case uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccChoice {
    /// f32 for half inputs, the input format otherwise.
    Default,
    /// The input format.
    Same,
    /// A fixed format.
    Fixed(Precision),
}

impl AccChoice {
    pub fn parse(s: &str) -> Result<Self, DetError> {
        match s.trim() {
            "default" => Ok(AccChoice::Default),
            "same" => Ok(AccChoice::Same),
            other => other.parse().map(AccChoice::Fixed).map_err(|e: String| {
                DetError::input(format!("--accumulator: {e} (or same, default)"))
            }),
        }
    }

    pub fn resolve(self, p: Precision) -> Precision {
        match self {
            AccChoice::Default => match p {
                Precision::F16 | Precision::Bf16 => Precision::F32,
                other => other,
            },
            AccChoice::Same => p,
            AccChoice::Fixed(a) => a,
        }
    }
}

/// Everything `detbench run` was asked to do.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub ops: Vec<Op>,
    pub backends: Vec<BackendKind>,
    pub precisions: Vec<Precision>,
    pub accumulators: Vec<AccChoice>,
    /// Variant names; empty means all of each op's.
    pub variants: Vec<String>,
    /// CUDA atomic orderings to run atomic variants with.
    pub orderings: Vec<Ordering>,
    pub sizes: Vec<usize>,
    pub runs: usize,
    /// Untimed runs before the timed ones, per case and backend (`--warmup`).
    pub warmup: usize,
    /// The first of `seeds` (the report's `env.seed`).
    pub seed: u64,
    /// Every seed to draw inputs with (`--seed 1..20`): each is its own record, so
    /// tolerance bands can cover the input class, not one draw.
    pub seeds: Vec<u64>,
    pub inputs: Vec<InputSpec>,
    pub workgroup_sizes: Vec<u32>,
    /// The families' own flags, parsed (`ops::FamilyArgs`): each family reads its own
    /// when it expands its cases.
    pub family: FamilyOptions,
    /// The batch axis (`--batch-sizes`): each case with a batch axis runs at every one of
    /// these batch sizes, and the records say whether the shared rows kept their bits.
    pub batch_sizes: Vec<usize>,
    pub dump: Option<PathBuf>,
    pub command: String,
    pub progress: bool,
    /// Add a `copy` case at the run's largest size (see [`copy_baseline`]) unless copy
    /// was asked for; off with `--no-copy-baseline`.
    pub copy_baseline: bool,
    /// Backends the user named explicitly (not via `all`): a missing device is then an
    /// error (exit 2), not a skipped backend.
    pub required_backends: Vec<BackendKind>,
    /// The adapter of `--backend external` (`--external`): its modes are the variants.
    pub external: Option<std::sync::Arc<crate::backend::external::Adapter>>,
}

/// Metrics of one run set against its prepared reference.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub distinct_outputs: u64,
    pub max_ulp_run_to_run: u64,
    pub median_ulp_run_to_run: f64,
    pub max_abs_err: f64,
    pub max_rel_err: f64,
    pub max_ulp_err: u64,
    pub bound_violations: u64,
    pub elements_differing: u64,
    pub fingerprint: String,
    pub non_finite: u64,
}

/// SHA-256 of one output's bits in its format.
pub fn fingerprint(p: Precision, values: &[f64]) -> String {
    hex::encode(Sha256::digest(p.encode(values)))
}

/// Computes every metric of the contract from the outputs of all runs.
pub fn metrics(prep: &Prepared, set: &RunSet) -> Metrics {
    let p = prep.out_precision;
    let mut m = Metrics::default();
    let first = &set.outputs[0];
    // A later run with the first run's bits (the usual case for deterministic variants)
    // repeats the first run's fingerprint, distances (0) and errors: comparing bits first
    // skips its hash and per-element work, seconds per run for outputs of 2^28 elements.
    let same: Vec<bool> = set
        .outputs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            i > 0
                && o.len() == first.len()
                && o.iter().zip(first).all(|(a, b)| a.to_bits() == b.to_bits())
        })
        .collect();
    let first_print = fingerprint(p, first);
    let prints: Vec<String> = set
        .outputs
        .iter()
        .zip(&same)
        .enumerate()
        .map(|(i, (o, &s))| {
            if i == 0 || s {
                first_print.clone()
            } else {
                fingerprint(p, o)
            }
        })
        .collect();
    m.distinct_outputs = prints.iter().collect::<HashSet<_>>().len() as u64;
    m.fingerprint = first_print;
    let mut per_run = Vec::new();
    let mut differing = vec![false; first.len()];
    for (out, &s) in set.outputs[1..].iter().zip(&same[1..]) {
        if s {
            per_run.push(0);
            continue;
        }
        let mut worst = 0u64;
        for (e, (&a, &b)) in out.iter().zip(first).enumerate() {
            let d = ulp_distance(p, a, b);
            if a.to_bits() != b.to_bits() {
                differing[e] = true;
            }
            worst = worst.max(d);
        }
        per_run.push(worst);
    }
    m.elements_differing = differing.iter().filter(|&&d| d).count() as u64;
    m.max_ulp_run_to_run = per_run.iter().copied().max().unwrap_or(0);
    m.median_ulp_run_to_run = median_u64(&per_run);
    let mut violating = vec![false; first.len()];
    let mut first_non_finite = 0;
    for (i, out) in set.outputs.iter().enumerate() {
        if same[i] {
            m.non_finite += first_non_finite;
            continue;
        }
        for (e, &c) in out.iter().enumerate() {
            let exact = prep.exact[e];
            if !c.is_finite() {
                m.non_finite += 1;
                continue;
            }
            // NaN (an undefined exact value) must survive the maxima: `f64::max` drops it.
            let abs = (c - exact).abs();
            m.max_abs_err = nan_max(m.max_abs_err, abs);
            if exact != 0.0 {
                m.max_rel_err = nan_max(m.max_rel_err, abs / exact.abs());
            }
            // Against the exact value rounded once to the output format.
            let ulp = match prep.exact_out.get(e) {
                Some(&x) => ulp_distance(p, c, x),
                None => ulp_error(p, c, exact),
            };
            m.max_ulp_err = m.max_ulp_err.max(ulp);
            let bound = if prep.bounds.len() == 1 {
                prep.bounds[0]
            } else {
                prep.bounds[e]
            };
            // A NaN error or bound is a violation: `abs > b` alone is false for NaN. `exact`
            // is the true value rounded to f64, so |c - exact| can exceed the true error by
            // half an f64 ulp of it: that much slack, and no more, is allowed.
            if let Some(b) = bound {
                let slack = (exact.next_up() - exact) / 2.0;
                if abs > b + slack || abs.is_nan() || b.is_nan() {
                    violating[e] = true;
                }
            }
        }
        if i == 0 {
            first_non_finite = m.non_finite;
        }
    }
    m.bound_violations = violating.iter().filter(|&&v| v).count() as u64;
    m
}

/// max that keeps NaN: a NaN anywhere makes the maximum NaN.
pub fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Why a prepared case cannot be judged `ok` whatever its outputs: an exact value that is
/// not finite (overflow of the output format, or a NaN/infinite input), or an element
/// without a finite a-priori bound. `(status, reason)`; None when it can be judged.
pub fn unjudgeable(prep: &Prepared) -> Option<(Status, String)> {
    let p = prep.out_precision;
    let outs: &[f64] = if prep.exact_out.is_empty() {
        &prep.exact
    } else {
        &prep.exact_out
    };
    for (i, (&e, &o)) in prep.exact.iter().zip(outs).enumerate() {
        let o = if prep.exact_out.is_empty() {
            p.round(o)
        } else {
            o
        };
        let at = if prep.exact.len() > 1 {
            format!(" at element {i}")
        } else {
            String::new()
        };
        if e.is_nan() || o.is_nan() {
            return Some((
                Status::Error,
                format!("exact value undefined{at}: the input holds NaN or infinity"),
            ));
        }
        if e.is_infinite() || o.is_infinite() {
            return Some((
                Status::Error,
                format!(
                    "overflow: the exact result{at} is outside the {p} range (|exact| {} max {:e})",
                    if e.is_infinite() {
                        "past f64's"
                    } else {
                        "rounds past"
                    },
                    p.max_finite()
                ),
            ));
        }
    }
    if let Some(i) = prep
        .bounds
        .iter()
        .position(|b| !b.is_some_and(f64::is_finite))
    {
        let at = if prep.bounds.len() > 1 {
            format!(" for element {i}")
        } else {
            String::new()
        };
        return Some((
            Status::Unsupported,
            format!("no finite a-priori error bound{at}, so the error cannot be judged (it is measured, not checked)"),
        ));
    }
    None
}

/// The record of a case, before the backend ran it.
fn base_record(
    case: &Case,
    prep: Option<&Prepared>,
    backend: &DeviceInfo,
    job: Option<&Job>,
) -> ResultRecord {
    ResultRecord {
        op: case.op.name().into(),
        backend: backend.backend.clone(),
        device: backend.name.clone(),
        device_ordinal: backend.details.get("ordinal").and_then(|v| v.as_u64()),
        precision: case.precision.name().into(),
        accumulator: case.accumulator.name().into(),
        variant: case.variant.clone(),
        ordering: job.map(|j| j.ordering()).unwrap_or_default(),
        size: case.size as u64,
        bins: case.params.bins(),
        shape: case.params.shape(),
        launch: job.map(|j| j.launch()).unwrap_or_default(),
        input: case
            .op
            .family()
            .map_or_else(|| case.input.label(), |f| f.input_label(case)),
        extra: case.op.family().map(|f| f.extras(case)).unwrap_or_default(),
        seed: case.seed,
        runs: case.runs as u64,
        exact: prep.filter(|p| p.scalar).map(|p| p.exact[0]),
        // The largest bound, None (not a smaller one) if any element has none.
        error_bound: prep.and_then(|p| {
            p.bounds
                .iter()
                .try_fold(0.0f64, |m, b| b.filter(|b| b.is_finite()).map(|b| m.max(b)))
        }),
        condition_number: prep.and_then(|p| p.condition_number),
        abs_sum: prep.and_then(crate::tolerance::seeds::abs_sum),
        input_sha256: prep.map(|p| p.input_sha256.clone()).unwrap_or_default(),
        output_precision: prep
            .map(|p| p.out_precision.name().to_string())
            .unwrap_or_default(),
        deterministic_variant: job.map(|j| !j.is_atomic()).unwrap_or(false),
        ..Default::default()
    }
}

/// Fills the record from a finished run set.
pub fn finish_record(mut rec: ResultRecord, prep: &Prepared, set: &RunSet) -> ResultRecord {
    let m = metrics(prep, set);
    rec.status = Status::Ok;
    let mut notes = Vec::new();
    if !prep.note.is_empty() {
        notes.push(prep.note.clone());
    }
    if !set.message.is_empty() {
        notes.push(set.message.clone());
    }
    if let Some((status, why)) = unjudgeable(prep) {
        rec.status = status;
        notes.push(why);
    }
    if m.non_finite > 0 {
        rec.status = Status::Error;
        notes.push(format!(
            "{} output values were NaN or infinite (overflow in {})",
            m.non_finite, prep.out_precision
        ));
    }
    if m.bound_violations > 0 {
        rec.status = Status::Error;
        notes.push(format!(
            "{} output elements exceeded the a-priori error bound",
            m.bound_violations
        ));
    }
    rec.message = notes.join("; ");
    rec.distinct_outputs = Some(m.distinct_outputs);
    rec.bitwise_reproducible = Some(m.distinct_outputs == 1);
    rec.max_ulp_run_to_run = Some(m.max_ulp_run_to_run);
    rec.median_ulp_run_to_run = Some(m.median_ulp_run_to_run);
    rec.max_abs_err = Some(m.max_abs_err);
    rec.max_rel_err = Some(m.max_rel_err);
    rec.max_ulp_err = Some(m.max_ulp_err);
    rec.bound_violations = m.bound_violations;
    rec.elements_differing = Some(m.elements_differing);
    rec.times_ms = set.times_ms.clone();
    rec.median_ms = median(&set.times_ms);
    rec.gbps = rec
        .median_ms
        .filter(|&t| t > 0.0)
        .map(|t| prep.bytes_moved / (t * 1e-3) / 1e9);
    rec.fingerprint = Some(m.fingerprint);
    if let Some(f) = rec.op.parse::<Op>().ok().and_then(Op::family) {
        f.finish_extras(&mut rec.extra, m.elements_differing, m.max_ulp_run_to_run);
    }
    rec.output_first = match set.outputs[0].as_slice() {
        [v] if prep.scalar => Some(*v),
        _ => None,
    };
    rec.timer = set.timer.clone();
    rec
}

/// Prepares a case for its family.
pub fn prepare(case: &Case) -> Result<Prepared, DetError> {
    family(case.op)?.prepare(case)
}

/// The family of an op, or a one-line error for an op this build lacks.
fn family(op: Op) -> Result<&'static dyn Family, DetError> {
    op.family().ok_or_else(|| {
        DetError::input(format!(
            "op {op} is not available in this build of detbench"
        ))
    })
}

/// The cases of the matrix, in a stable order.
pub fn expand(cfg: &RunConfig) -> Result<Vec<Case>, DetError> {
    Ok(expand_tagged(cfg)?.0)
}

/// Where a case sits on the batch axis (`--batch-sizes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchTag {
    /// Cases of one group differ only in their batch size.
    pub group: usize,
    /// This case's batch size.
    pub batch: usize,
    /// Output elements of one batch row.
    pub row_len: usize,
    /// Rows compared across the group: the smallest batch size asked for.
    pub probe_rows: usize,
}

/// The cases of the matrix with their place on the batch axis (None: not on it).
pub fn expand_tagged(cfg: &RunConfig) -> Result<(Vec<Case>, Vec<Option<BatchTag>>), DetError> {
    let cases = expand_matrix(cfg)?;
    if cfg.batch_sizes.is_empty() {
        let n = cases.len();
        return Ok((cases, vec![None; n]));
    }
    let probe_rows = cfg.batch_sizes.iter().copied().min().unwrap_or(1);
    let mut out = Vec::with_capacity(cases.len() * cfg.batch_sizes.len());
    let mut tags = Vec::with_capacity(out.capacity());
    for (group, case) in cases.into_iter().enumerate() {
        let fam = family(case.op)?;
        for (i, &batch) in cfg.batch_sizes.iter().enumerate() {
            match fam.with_batch(&case, batch)? {
                Some((c, row_len)) => {
                    out.push(c);
                    tags.push(Some(BatchTag {
                        group,
                        batch,
                        row_len,
                        probe_rows,
                    }));
                }
                None => {
                    // No batch axis: the case runs once, as without --batch-sizes.
                    debug_assert_eq!(i, 0);
                    out.push(case);
                    tags.push(None);
                    break;
                }
            }
        }
    }
    if tags.iter().all(Option::is_none) {
        return Err(DetError::input(
            "--batch-sizes: none of the ops asked for has a batch axis (matmul, row_sum, mean, log_softmax, conv2d_fwd, conv2d_bwd_data have one)",
        ));
    }
    Ok((out, tags))
}

/// The cases of the matrix before the batch axis.
fn expand_matrix(cfg: &RunConfig) -> Result<Vec<Case>, DetError> {
    for &size in &cfg.sizes {
        check_host_size(size)?;
    }
    let mut cases = Vec::new();
    for &op in &cfg.ops {
        let fam = family(op)?;
        cases.extend(fam.expand(op_cases(cfg, op, fam)?, &cfg.family)?);
    }
    Ok(crate::tolerance::seeds::expand_seeds(cases, &cfg.seeds))
}

/// The common part of the matrix for one op, in matrix order; the family adds its own.
fn op_cases(cfg: &RunConfig, op: Op, fam: &dyn Family) -> Result<Vec<Case>, DetError> {
    let variants = op_variants(cfg, op)?;
    let mut cases = Vec::new();
    for &precision in &cfg.precisions {
        let accs = fam.accumulators(precision, accumulators(cfg, precision));
        if accs.is_empty() {
            return Err(DetError::input(format!(
                "--accumulator: every accumulator asked for is narrower than the {precision} input (use same, f32 or f64)"
            )));
        }
        for accumulator in accs {
            for input in &cfg.inputs {
                // A user's file fixes the size; --size applies to generated inputs.
                let sizes = match input {
                    InputSpec::File(path) => {
                        vec![inputs::read_npy(std::path::Path::new(path), precision)?.len()]
                    }
                    _ => cfg.sizes.clone(),
                };
                for size in sizes {
                    for &wg in &cfg.workgroup_sizes {
                        for variant in &variants {
                            cases.push(Case {
                                op,
                                precision,
                                accumulator,
                                variant: variant.clone(),
                                size,
                                input: input.clone(),
                                seed: cfg.seed,
                                runs: cfg.runs,
                                workgroup_size: wg,
                                params: Default::default(),
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(cases)
}

/// The variants asked for that the op has (all of them by default).
fn op_variants(cfg: &RunConfig, op: Op) -> Result<Vec<String>, DetError> {
    if let Some(ad) = &cfg.external {
        return crate::ops::external::op_modes(ad, op, &cfg.variants);
    }
    let all = op.variants();
    if cfg.variants.is_empty() {
        return Ok(all.iter().map(|s| s.to_string()).collect());
    }
    for v in &cfg.variants {
        if !all.contains(&v.as_str()) {
            return Err(DetError::input(format!(
                "unknown variant '{v}' for op {op} (expected {})",
                all.join(", ")
            )));
        }
    }
    Ok(cfg.variants.clone())
}

/// The accumulators asked for, for one input format. Accumulators narrower than the input
/// (e.g. f16 for f32 data) are not offered: the issue's choices are "the input's format,
/// f32 or f64", and each kernel's single roundings are then exactly the CPU emulation's.
fn accumulators(cfg: &RunConfig, precision: Precision) -> Vec<Precision> {
    let mut accs: Vec<Precision> = cfg
        .accumulators
        .iter()
        .map(|a| a.resolve(precision))
        .filter(|a| {
            a.mantissa_bits() >= precision.mantissa_bits()
                && !(*a == Precision::F16 && precision == Precision::Bf16)
        })
        .collect();
    accs.dedup();
    accs
}

/// Provenance for a report.
pub fn environment(
    command: &str,
    seed: u64,
    devices: Vec<DeviceInfo>,
    backends: &[Box<dyn Backend>],
) -> Env {
    let mut compile_options = BTreeMap::new();
    for b in backends {
        let opts = b.compile_options();
        if !opts.is_null() {
            compile_options.insert(b.kind().name().to_string(), opts);
        }
    }
    Env {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: env!("DETBENCH_GIT_COMMIT").into(),
        command: command.into(),
        os: os_description(),
        cpu: crate::backend::cpu::cpu_name(),
        rustc: env!("DETBENCH_RUSTC").into(),
        devices,
        kernel_hashes: crate::kernels::hashes(),
        compile_options,
        seed,
        started_at: now_rfc3339(),
        extra: BTreeMap::new(),
    }
}

/// "Debian GNU/Linux 12 (bookworm), Linux 6.1.0" or the bare OS name.
pub fn os_description() -> String {
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| {
                l.trim_start_matches("PRETTY_NAME=")
                    .trim_matches('"')
                    .to_string()
            })
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string());
    match (pretty, kernel) {
        (Some(p), Some(k)) => format!("{p}, {} {k}", std::env::consts::OS),
        (Some(p), None) => p,
        (None, Some(k)) => format!("{} {k}", std::env::consts::OS),
        (None, None) => std::env::consts::OS.into(),
    }
}

/// Current UTC time in RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Keeps the last `timed` runs of a set. [`run`] prepares each job with `--warmup` more
/// runs than the case's; those first runs (cold caches, shader compilation, clocks ramping
/// up) are neither timed nor judged. One place for every backend and family.
pub fn drop_warmup(set: &mut RunSet, timed: usize) {
    let skip = set.outputs.len().saturating_sub(timed);
    set.outputs.drain(..skip);
    let skip = set.times_ms.len().saturating_sub(timed);
    set.times_ms.drain(..skip);
}

/// The CPU time this process (all its threads) has used, in ms; None where the platform
/// has no process CPU clock.
#[cfg(unix)]
fn process_cpu_ms() -> Option<f64> {
    use nix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID).ok()?;
    Some(t.tv_sec() as f64 * 1e3 + t.tv_nsec() as f64 * 1e-6)
}

#[cfg(not(unix))]
fn process_cpu_ms() -> Option<f64> {
    None
}

/// Runs one prepared case on one backend (every ordering for CUDA atomics). The prepared
/// job may run more times than `case.runs`: the extra first runs are warm-up.
pub fn run_case(
    case: &Case,
    prep: &Prepared,
    backend: &dyn Backend,
    orderings: &[Ordering],
) -> Result<Vec<(ResultRecord, Option<RunSet>)>, DetError> {
    let jobs: Vec<Job> = if prep.job.is_atomic() && backend.kind() == BackendKind::Cuda {
        orderings
            .iter()
            .map(|&o| prep.job.with_ordering(o))
            .collect()
    } else if prep.job.is_atomic() {
        vec![prep.job.with_ordering(Ordering::Relaxed)]
    } else {
        vec![prep.job.clone()]
    };
    let mut out = Vec::new();
    for job in jobs {
        let mut rec = base_record(case, Some(prep), backend.info(), Some(&job));
        backend.annotate(&mut rec);
        // Only where the work runs on this process's threads does the process's CPU clock
        // measure it (a GPU, or an external process, works while this process waits).
        let on_host = backend.info().device_type == "cpu";
        let cpu_start = if on_host { process_cpu_ms() } else { None };
        match backend.run_variant(&job, &case.variant) {
            Ok(mut set) if !set.outputs.is_empty() => {
                let cpu_ms_per_run = cpu_start
                    .zip(process_cpu_ms())
                    .map(|(a, b)| (b - a) / set.times_ms.len().max(1) as f64);
                drop_warmup(&mut set, case.runs);
                let mut rec = finish_record(rec, prep, &set);
                rec.cpu_ms_per_run = cpu_ms_per_run;
                out.push((rec, Some(set)));
            }
            Ok(_) => out.push((
                ResultRecord {
                    status: Status::Error,
                    message: "backend returned no runs".into(),
                    ..rec
                },
                None,
            )),
            Err(OpError::Unsupported(m)) => out.push((
                ResultRecord {
                    status: Status::Unsupported,
                    message: m,
                    ..rec
                },
                None,
            )),
            Err(OpError::Failed(m)) => out.push((
                ResultRecord {
                    status: Status::Error,
                    message: m,
                    ..rec
                },
                None,
            )),
            Err(OpError::BadInput(m)) => return Err(DetError::Input(m)),
        }
    }
    Ok(out)
}

/// The `copy` case [`run`] adds so that every report carries each device's copy bandwidth,
/// which the report divides throughput by: one case (run on every backend) at the run's
/// largest size in its widest format, so it moves at least as many bytes as any input of
/// the run. None when copy was asked for (its own results are the baseline) or
/// `--no-copy-baseline` was given. Its runs are capped at
/// [`ops::copy::BASELINE_RUNS`]: every run's copy is read back and checked bit for bit, and
/// at large sizes that host work, not the copy, is what costs time and memory.
pub fn copy_baseline(cfg: &RunConfig, cases: &[Case]) -> Option<Case> {
    let asked = |f: &&dyn Family| f.ops().iter().any(|op| cfg.ops.contains(op));
    let spec = BaselineSpec {
        size: cases.iter().map(|c| c.size).max()?,
        precision: cases
            .iter()
            .map(|c| c.precision)
            .max_by_key(|p| p.bytes())?,
        seed: cfg.seed,
        runs: cfg.runs,
    };
    // An external run measures the adapter's ops only.
    if !cfg.copy_baseline || cfg.external.is_some() {
        return None;
    }
    let (fam, case) = ops::FAMILIES
        .iter()
        .find_map(|f| f.baseline(spec).map(|c| (f, c)))?;
    // The baseline family's own results are the baseline when it was asked for.
    (!asked(fam)).then_some(case)
}

/// Runs the whole matrix. Returns the report (partial if interrupted).
pub fn run(cfg: &RunConfig) -> Result<Report, DetError> {
    let (mut cases, tags) = expand_tagged(cfg)?;
    let mut batched = BatchOutputs::default();
    // Cases from here on are the copy baseline, which the user did not ask for.
    let user_cases = cases.len();
    cases.extend(copy_baseline(cfg, &cases));
    if cases.is_empty() {
        return Err(DetError::input("the matrix is empty: nothing to run"));
    }
    let mut found = crate::backend::discover(&cfg.backends);
    if let Some(ad) = &cfg.external {
        let b = crate::backend::external::ExternalBackend::new((**ad).clone());
        found.infos.push(b.info().clone());
        found.backends.push(Box::new(b));
    }
    check_backends(cfg, &found)?;
    let mut report = Report {
        schema: SCHEMA.into(),
        env: environment(&cfg.command, cfg.seed, found.infos.clone(), &found.backends),
        results: Vec::new(),
        partial: false,
    };
    crate::tolerance::seeds::record_seeds(&mut report.env, &cfg.seeds);
    if found.backends.is_empty() {
        // Nothing can run: skip preparing inputs and references (minutes at 2^28).
        return Ok(report);
    }
    let bar = progress_bar(cfg, (cases.len() * found.backends.len().max(1)) as u64);
    let mut dumped_inputs = HashSet::new();
    checkpoint(&report);
    'cases: for (ci, case) in cases.iter().enumerate() {
        let baseline = ci >= user_cases;
        // The baseline's arrays are not the user's data: never dumped.
        let dump = cfg.dump.as_ref().filter(|_| !baseline);
        if interrupted() {
            report.partial = true;
            break;
        }
        // The job runs warm-up runs first (see [`drop_warmup`]).
        let mut prep = prepare(&Case {
            runs: case.runs + cfg.warmup,
            // An external case (variant = adapter mode) is prepared as the family's
            // order-independent variant.
            variant: match &cfg.external {
                Some(_) => crate::ops::external::reference_variant(case.op)?.into(),
                None => case.variant.clone(),
            },
            ..case.clone()
        })?;
        if cfg.external.is_some() {
            // The note describes detbench's own kernel, not the program's.
            prep.note.clear();
        }
        if interrupted() {
            // The reference may be incomplete: the case is not run.
            report.partial = true;
            break;
        }
        check_runs_memory(case.runs + cfg.warmup, prep.exact.len())?;
        if let Some(dir) = dump {
            dump_inputs(dir, case, &prep, &mut dumped_inputs)?;
        }
        // Families that compare devices: every backend's first output.
        let compare = family(case.op)?.compare_across_backends();
        let mut cross: Vec<(usize, Vec<f64>)> = Vec::new();
        for backend in &found.backends {
            if interrupted() {
                report.partial = true;
                break 'cases;
            }
            if let Some(b) = &bar {
                b.set_message(format!(
                    "{} {} {} {} {}",
                    case.op,
                    backend.kind(),
                    case.precision,
                    case.variant,
                    case.size
                ));
            }
            let outcome = match run_case(case, &prep, backend.as_ref(), &cfg.orderings) {
                // A baseline this device cannot hold is a failed row, not a failed run.
                Err(DetError::Input(m)) if baseline => vec![(
                    ResultRecord {
                        status: Status::Error,
                        message: format!("copy baseline: {m}"),
                        ..base_record(case, Some(&prep), backend.info(), Some(&prep.job))
                    },
                    None,
                )],
                other => other?,
            };
            if interrupted() {
                // Stopped inside the case: its runs are incomplete, so it is dropped.
                report.partial = true;
                break 'cases;
            }
            for (rec, set) in outcome {
                if let (Some(dir), Some(set)) = (dump, &set) {
                    dump_outputs(dir, &rec, set, prep.out_precision)?;
                }
                if let (true, Some(set)) = (compare, &set) {
                    cross.push((report.results.len(), set.outputs[0].clone()));
                }
                if let (Some(Some(tag)), Some(set)) = (tags.get(ci), &set) {
                    batched.push(report.results.len(), &rec, *tag, set, prep.out_precision);
                }
                report.results.push(rec);
            }
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
        cross_backend_ulp(&mut report.results, &cross, prep.out_precision);
        batched.fill(&mut report.results);
        checkpoint(&report);
    }
    batched.fill(&mut report.results);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(report)
}

/// Refuses a run whose explicitly named backend has no usable device. A backend reached
/// through `all` may have none: the report's env.devices says why, and the CLI repeats it
/// once the report is written.
fn check_backends(cfg: &RunConfig, found: &crate::backend::Discovered) -> Result<(), DetError> {
    for kind in cfg
        .backends
        .iter()
        .filter(|k| cfg.required_backends.contains(k))
    {
        if !found.backends.iter().any(|b| b.kind() == *kind) {
            let why: Vec<String> = found
                .infos
                .iter()
                .filter(|i| i.backend == kind.name())
                .map(|i| format!("{}: {}", i.name, i.reason))
                .collect();
            return Err(DetError::input(format!(
                "backend {kind} has no usable device: {}",
                why.join("; ")
            )));
        }
    }
    Ok(())
}

/// The progress bar of `total` (case, backend) steps, when asked for and worth drawing.
fn progress_bar(cfg: &RunConfig, total: u64) -> Option<indicatif::ProgressBar> {
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

/// `--dump`: writes a case's input arrays once per (op, format, size, input, seed).
fn dump_inputs(
    dir: &std::path::Path,
    case: &Case,
    prep: &Prepared,
    dumped: &mut HashSet<String>,
) -> Result<(), DetError> {
    let key = format!(
        "{}_{}_n{}_{}_s{}",
        case.op,
        case.precision,
        case.size,
        slug(&case.input.label()),
        case.seed
    );
    if dumped.insert(key.clone()) {
        for (name, p, values) in &prep.dumps {
            inputs::write_npy(
                &dir.join(format!("{key}_{name}.npy")),
                *p,
                values,
                &[values.len() as u64],
            )?;
        }
    }
    Ok(())
}

/// `--dump`: writes every run's outputs of a result row, one row per run.
fn dump_outputs(
    dir: &std::path::Path,
    rec: &ResultRecord,
    set: &RunSet,
    format: Precision,
) -> Result<(), DetError> {
    let name = format!(
        "{}_{}_{}_{}_{}_{}_{}_n{}_{}_s{}_out.npy",
        rec.op,
        rec.backend,
        slug(&rec.device),
        rec.precision,
        rec.accumulator,
        rec.variant,
        slug(rec.ordering.name()),
        rec.size,
        slug(&rec.input),
        rec.seed
    );
    let flat: Vec<f64> = set.outputs.iter().flatten().copied().collect();
    let shape = [set.outputs.len() as u64, set.outputs[0].len() as u64];
    inputs::write_npy(&dir.join(name), format, &flat, &shape)
}

/// The probe rows of every batch-axis record measured so far (see [`BatchTag`]).
#[derive(Default)]
pub struct BatchOutputs {
    entries: Vec<BatchEntry>,
}

/// One batch-axis record's probe rows.
struct BatchEntry {
    /// Index of the record in the report.
    index: usize,
    /// Its group on one device: the case group, backend, device and ordering.
    key: (usize, String, String, crate::ops::Ordering),
    batch: usize,
    format: Precision,
    /// The probe elements of every timed run.
    runs: Vec<Vec<f64>>,
}

impl BatchOutputs {
    /// Keeps the probe rows of a finished record.
    pub fn push(
        &mut self,
        index: usize,
        rec: &ResultRecord,
        tag: BatchTag,
        set: &RunSet,
        format: Precision,
    ) {
        let probe = tag.probe_rows * tag.row_len;
        let runs = set
            .outputs
            .iter()
            .map(|o| o[..probe.min(o.len())].to_vec())
            .collect();
        let key = (
            tag.group,
            rec.backend.clone(),
            rec.device.clone(),
            rec.ordering,
        );
        self.entries.push(BatchEntry {
            index,
            key,
            batch: tag.batch,
            format,
            runs,
        });
    }

    /// Sets `batch_size`, `batch_invariant` and `max_ulp_across_batches` of every record
    /// pushed so far (the last two once its group has two batch sizes or more).
    pub fn fill(&self, results: &mut [ResultRecord]) {
        for e in &self.entries {
            results[e.index].batch_size = Some(e.batch as u64);
            let group: Vec<&BatchEntry> = self.entries.iter().filter(|g| g.key == e.key).collect();
            if group.len() < 2 {
                continue;
            }
            let Some(reference) = group
                .iter()
                .min_by_key(|g| g.batch)
                .and_then(|g| g.runs.first())
            else {
                continue;
            };
            let mut same = true;
            let mut worst = 0u64;
            for g in &group {
                for run in &g.runs {
                    same &= run.len() == reference.len();
                    for (&x, &y) in run.iter().zip(reference) {
                        same &= x.to_bits() == y.to_bits();
                        worst = worst.max(ulp_distance(e.format, x, y));
                    }
                }
            }
            results[e.index].batch_invariant = Some(same);
            results[e.index].max_ulp_across_batches = Some(worst);
        }
    }
}

/// Hands the finished cases to the Ctrl-C watchdog (see [`crate::interrupt::checkpoint`]).
fn checkpoint(report: &Report) {
    let mut partial = report.clone();
    partial.partial = true;
    crate::interrupt::checkpoint(move || serde_json::to_vec_pretty(&partial).unwrap_or_default());
}

/// Fills `extra["cross_backend_max_ulp"]` (largest ULP distance between this record's
/// first-run output and any other backend's, element by element) and
/// `extra["cross_backend_bitwise_equal"]` in the records of one case, once every backend
/// has run it.
pub fn cross_backend_ulp(
    results: &mut [ResultRecord],
    outputs: &[(usize, Vec<f64>)],
    p: Precision,
) {
    if outputs.len() < 2 {
        return;
    }
    for (i, a) in outputs {
        let mut worst = 0u64;
        let mut with = Vec::new();
        for (j, b) in outputs {
            if i == j {
                continue;
            }
            with.push(results[*j].backend.clone());
            for (&x, &y) in a.iter().zip(b) {
                worst = worst.max(ulp_distance(p, x, y));
            }
        }
        let rec = &mut results[*i];
        rec.extra
            .insert("cross_backend_max_ulp".into(), serde_json::json!(worst));
        rec.extra.insert(
            "cross_backend_bitwise_equal".into(),
            serde_json::json!(worst == 0),
        );
        rec.extra
            .insert("cross_backend_with".into(), serde_json::json!(with));
    }
}

/// A readable table of results followed by the headline (see `report::headline`).
pub fn table(results: &[ResultRecord]) -> String {
    crate::report::document::console_text(results)
}
