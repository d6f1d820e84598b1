//! `run`'s flags checked and turned into a [`RunConfig`], before any work: a bad value is
//! a one-line input error (exit 2).

use super::{RunArgs, MAX_RUNS};
use crate::backend::BackendKind;
use crate::error::DetError;
use crate::inputs::InputSpec;
use crate::numerics::Precision;
use crate::ops::Op;
use crate::runner::{AccChoice, RunConfig};
use crate::shared::list::{dedup, parse_list, parse_sizes, split_list};

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

/// `--accumulator`: a list of `same`, formats, or `all`.
pub(super) fn parse_accumulators(s: &str) -> Result<Vec<AccChoice>, DetError> {
    let mut accumulators = Vec::new();
    for part in split_list("accumulator", s, ',')? {
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
    Ok(dedup(accumulators))
}

/// `--workgroup-size`: powers of two in 32..=1024.
pub(super) fn parse_workgroup_sizes(s: &str) -> Result<Vec<u32>, DetError> {
    Ok(dedup(
        split_list("workgroup-size", s, ',')?
            .into_iter()
            .map(|p| {
                let w: u32 = p.replace('_', "").parse().map_err(|_| {
                    DetError::input(format!(
                        "--workgroup-size: '{p}' is not a workgroup size (a power of two, 32..1024)"
                    ))
                })?;
                crate::ops::check_workgroup_size(w)
            })
            .collect::<Result<Vec<_>, _>>()?,
    ))
}

/// Every file of a run is checked before any work: inputs (the families' too) are regular
/// files, the outputs' folders exist and are writable, and no output is an input.
pub(super) fn check_run_files(a: &RunArgs, inputs: &[InputSpec]) -> Result<(), DetError> {
    let mut plan = crate::safety::Plan::new();
    for i in inputs {
        if let InputSpec::File(p) = i {
            plan = plan.input("--input", std::path::Path::new(p));
        }
    }
    for (flag, path) in a.family.input_files() {
        plan = plan.input(flag, path);
    }
    plan.output("--json", Some(&a.report_path()))
        .folder("--dump", a.dump.as_deref())
        .force(a.force)
        .check()
}

/// `--op`: the ops asked for, each built in this version.
pub(super) fn parse_ops(a: &RunArgs) -> Result<Vec<Op>, DetError> {
    let ops: Vec<Op> = parse_list("op", &a.op, Op::ALL)?;
    for op in &ops {
        if !op.implemented() {
            return Err(DetError::input(format!(
                "op {op} is not available in this build of detbench"
            )));
        }
    }
    Ok(ops)
}

/// `--backend` and `--external`: the backends to run, and those named explicitly (which
/// must exist; `all` means whichever do).
pub(super) fn parse_backends(
    a: &RunArgs,
) -> Result<(Vec<BackendKind>, Vec<BackendKind>), DetError> {
    let mut backends = parse_list("backend", &a.backend, &BackendKind::ALL)?;
    let mut required_backends = dedup(
        split_list("backend", &a.backend, ',')?
            .into_iter()
            .filter(|p| *p != "all")
            .filter_map(|p| p.parse().ok())
            .collect(),
    );
    if a.external.is_some() && a.backend.trim() == "all" {
        backends = vec![BackendKind::External];
        required_backends = vec![BackendKind::External];
    }
    match (backends.contains(&BackendKind::External), &a.external) {
        (true, None) => {
            return Err(DetError::input(
                "--backend external needs --external ADAPTER (an adapter .toml file or a command)",
            ))
        }
        (false, Some(_)) => {
            return Err(DetError::input(
                "--external is used by --backend external, which this run does not include",
            ))
        }
        (true, Some(_)) if backends.len() > 1 => {
            return Err(DetError::input(
                "--backend external runs alone: run the other backends separately and `detbench merge` the reports",
            ))
        }
        _ => {}
    }
    Ok((backends, required_backends))
}

/// `--variant`: the names asked for; empty means every variant of each op.
pub(super) fn parse_variants(s: &str) -> Result<Vec<String>, DetError> {
    if s.trim() == "all" {
        return Ok(Vec::new());
    }
    Ok(dedup(
        split_list("variant", s, ',')?
            .into_iter()
            .map(String::from)
            .collect(),
    ))
}

/// `--runs`: at least one, at most [`MAX_RUNS`].
pub(super) fn check_runs(runs: usize) -> Result<usize, DetError> {
    if runs == 0 {
        return Err(DetError::input("--runs must be at least 1"));
    }
    if runs > MAX_RUNS {
        return Err(DetError::input(format!(
            "--runs {runs} is more than the limit of {MAX_RUNS}"
        )));
    }
    Ok(runs)
}

/// `--external`: the adapter, loaded (and asked about itself) once every flag is known
/// good, as the backend the run is given; with `--op all`, the ops narrowed to those the
/// adapter offers.
pub(super) fn load_external(
    a: &RunArgs,
    ops: &mut Vec<Op>,
) -> Result<Vec<crate::backend::Given>, DetError> {
    let Some(spec) = &a.external else {
        return Ok(Vec::new());
    };
    let ad = crate::backend::external::Adapter::load(spec, a.external_timeout)?;
    // A backend named explicitly must run something (as a named GPU backend without a
    // device exits 2): an adapter that says it cannot run here stops the run now.
    if let Some(why) = ad.unsupported() {
        return Err(DetError::input(format!(
            "--backend external can run nothing: adapter {}: {}{}",
            ad.name,
            crate::safety::clean_line(&why, 200),
            ad.remedy()
        )));
    }
    if a.op.trim() == "all" {
        ops.retain(|o| {
            ad.modes(o.name()).is_some() && crate::ops::external::reference_variant(*o).is_ok()
        });
    }
    Ok(vec![crate::backend::Given::new(
        crate::backend::external::ExternalBackend::new(ad),
    )])
}

/// Builds the run configuration from the flags. Every flag is checked before any file is
/// read, and every file before the external adapter is asked anything.
pub fn run_config(a: &RunArgs, command: String) -> Result<RunConfig, DetError> {
    let mut ops = parse_ops(a)?;
    let (backends, required_backends) = parse_backends(a)?;
    // Without --precision, the inputs decide (see `default_precisions`), once the files
    // passed the safety checks below.
    let explicit_precisions = match &a.precision {
        Some(p) => Some(parse_list("precision", p, &Precision::ALL)?),
        None => None,
    };
    let accumulators = parse_accumulators(&a.accumulator)?;
    let variants = parse_variants(&a.variant)?;
    let orderings =
        crate::backend::parse_orderings(&a.ordering, &backends).map_err(DetError::input)?;
    let sizes = parse_sizes("size", a.size.as_deref().unwrap_or(DEFAULT_SIZE))?;
    if a.size.is_some() {
        size_applies(&ops)?;
    }
    let runs = check_runs(a.runs)?;
    let seeds = crate::runner::seeds::parse_seeds(&a.seed)?;
    let inputs = dedup(
        split_list("input", &a.input, ',')?
            .into_iter()
            .map(InputSpec::parse)
            .collect::<Result<Vec<_>, _>>()?,
    );
    let workgroup_sizes = parse_workgroup_sizes(&a.workgroup_size)?;
    let batch_sizes = match &a.batch_sizes {
        Some(s) => parse_sizes("batch-sizes", s)?,
        None => Vec::new(),
    };
    let shard = a
        .shard
        .as_deref()
        .map(crate::runner::Shard::parse)
        .transpose()?;
    check_run_files(a, &inputs)?;
    // The families' flags (an index file is read and checked here).
    let family = a.family.options(&ops)?;
    let given = load_external(a, &mut ops)?;
    let precisions = match explicit_precisions {
        Some(p) => p,
        None => default_precisions(&inputs)?,
    };
    Ok(RunConfig {
        ops,
        backends,
        precisions,
        accumulators,
        variants,
        orderings,
        sizes,
        runs,
        warmup: a.warmup,
        seed: seeds[0],
        seeds,
        inputs,
        workgroup_sizes,
        family,
        batch_sizes,
        dump: a.dump.clone(),
        command,
        progress: !a.quiet,
        verbose: a.verbose,
        copy_baseline: !a.no_copy_baseline,
        required_backends,
        given,
        reveal: a.reveal,
        shard,
    })
}

/// `--size` when it is not given.
pub const DEFAULT_SIZE: &str = "1000003";

/// An explicit `--size` must size something: refused (exit 2) when no op of the run takes
/// it, and the ops that ignore it are named on stderr when only some do. Each family says
/// which flag sizes it instead ([`crate::ops::Family::sized_by`]).
fn size_applies(ops: &[Op]) -> Result<(), DetError> {
    let ignoring: Vec<(Op, &'static str)> = ops
        .iter()
        .filter_map(|&op| Some((op, op.family()?.sized_by()?)))
        .collect();
    if ignoring.is_empty() {
        return Ok(());
    }
    let named = ignoring
        .iter()
        .map(|(op, flag)| format!("{op} (sized by {flag})"))
        .collect::<Vec<_>>()
        .join(", ");
    if ignoring.len() == ops.len() {
        return Err(DetError::input(format!(
            "--size does not apply to {named}: use that flag instead"
        )));
    }
    eprintln!("detbench: note: --size does not apply to {named}");
    Ok(())
}
