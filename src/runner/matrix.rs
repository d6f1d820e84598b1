//! The matrix `detbench run` was asked for: its configuration and its expansion into cases
//! (ops x precisions x accumulators x inputs x sizes x workgroup sizes x variants, then
//! seeds), plus the copy baseline the runner adds.

use super::seeds::expand_seeds;
use crate::backend::{Backend, BackendKind, Given};
use crate::error::DetError;
use crate::inputs::{self, InputSpec};
use crate::numerics::Precision;
use crate::ops::{self, BaselineSpec, Case, Family, FamilyOptions, Op, Ordering};
use std::path::PathBuf;

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
    /// Atomic orderings to run atomic variants with (`--ordering`): each backend sweeps
    /// those of them it offers (its capabilities' orderings).
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
    /// `--verbose`: where each case's time goes, on stderr ([`super::progress::Verbose`]).
    pub verbose: bool,
    /// Add a `copy` case at the run's largest size (see [`copy_baseline`]) unless copy
    /// was asked for; off with `--no-copy-baseline`.
    pub copy_baseline: bool,
    /// Backends the user named explicitly (not via `all`): a missing device is then an
    /// error (exit 2), not a skipped backend.
    pub required_backends: Vec<BackendKind>,
    /// Backends built from the flags rather than discovered (one that needs more than a
    /// device, such as `--external`'s adapter): they run beside those of `backends`, and
    /// one whose variants are its own gives the matrix its variants.
    pub given: Vec<Given>,
    /// `--reveal`: each deterministic row of an op `reveal` probes gets its order
    /// fingerprint (`crate::reveal::record`).
    pub reveal: bool,
    /// `--shard K/N`: run only the cases of shard K (None: the whole matrix).
    pub shard: Option<Shard>,
}

/// The family of an op, or a one-line error for an op this build lacks.
pub(super) fn family(op: Op) -> Result<&'static dyn Family, DetError> {
    op.family().ok_or_else(|| {
        DetError::input(format!(
            "op {op} is not available in this build of detbench"
        ))
    })
}

/// The cases of the matrix before the batch axis. `owner`: the run's backend whose
/// variants are its own, if it has one (its variants replace the families').
pub(super) fn expand_matrix(
    cfg: &RunConfig,
    owner: Option<&dyn Backend>,
) -> Result<Vec<Case>, DetError> {
    let mut cases = Vec::new();
    for &op in &cfg.ops {
        let fam = family(op)?;
        for &size in &cfg.sizes {
            for &p in &cfg.precisions {
                let per = fam.host_bytes_per_element(op, p) as u128;
                crate::shared::host::check_host_bytes(size, size as u128 * per)?;
            }
        }
        // A kernel with its own workgroup size runs once, at it, whatever
        // --workgroup-size lists (else one result key would be run once per size).
        let mut seen = std::collections::HashSet::new();
        for mut case in fam.expand(op_cases(cfg, op, fam, owner)?, &cfg.family)? {
            if let Some(wg) = fam.own_workgroup_size(&case) {
                case.workgroup_size = wg;
                if !seen.insert(format!("{case:?}")) {
                    continue;
                }
            }
            cases.push(case);
        }
    }
    Ok(expand_seeds(cases, &cfg.seeds))
}

/// The common part of the matrix for one op, in matrix order; the family adds its own.
fn op_cases(
    cfg: &RunConfig,
    op: Op,
    fam: &dyn Family,
    owner: Option<&dyn Backend>,
) -> Result<Vec<Case>, DetError> {
    let variants = match owner {
        Some(b) => ops::own_variants(b, op, &cfg.variants)?,
        None => op_variants(cfg, op)?,
    };
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
                        let v = inputs::read_npy(std::path::Path::new(path), precision)?;
                        inputs::refuse_undefined(path, &v, op.name(), fam.non_finite_inputs(op))?;
                        vec![v.len()]
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

/// The `copy` case [`run`] adds so that every report carries each device's copy bandwidth,
/// which the report divides throughput by: one case (run on every backend) at the run's
/// largest size in its widest format, so it moves at least as many bytes as any input of
/// the run. None when copy was asked for (its own results are the baseline),
/// `--no-copy-baseline` was given, or the run's variants are a backend's own (`owned`: it
/// measures that backend's ops only). Its runs are capped at
/// [`ops::copy::BASELINE_RUNS`]: every run's copy is read back and checked bit for bit, and
/// at large sizes that host work, not the copy, is what costs time and memory.
/// A baseline the host cannot hold is refused (exit 2) like any other case, naming the
/// flag that drops it.
pub fn copy_baseline(
    cfg: &RunConfig,
    cases: &[Case],
    owned: bool,
) -> Result<Option<Case>, DetError> {
    let asked = |f: &&dyn Family| f.ops().iter().any(|op| cfg.ops.contains(op));
    let (Some(size), Some(precision)) = (
        cases.iter().map(|c| c.size).max(),
        cases.iter().map(|c| c.precision).max_by_key(|p| p.bytes()),
    ) else {
        return Ok(None);
    };
    let spec = BaselineSpec {
        size,
        precision,
        seed: cfg.seed,
        runs: cfg.runs,
    };
    if !cfg.copy_baseline || owned {
        return Ok(None);
    }
    let Some((fam, case)) = ops::FAMILIES
        .iter()
        .find_map(|f| f.baseline(spec).map(|c| (f, c)))
    else {
        return Ok(None);
    };
    // The baseline family's own results are the baseline when it was asked for.
    if asked(fam) {
        return Ok(None);
    }
    let per = fam.host_bytes_per_element(case.op, case.precision) as u128;
    crate::shared::host::check_host_bytes(case.size, case.size as u128 * per).map_err(|e| {
        DetError::input(format!(
            "the copy baseline (the largest input, copied in {}): {e}; pass --no-copy-baseline",
            case.precision
        ))
    })?;
    Ok(Some(case))
}

/// `run --shard K/N`: the K-th of N parts of the case matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K, from 1 to `count`.
    pub index: u32,
    /// N.
    pub count: u32,
}

/// Most shards a matrix is cut into (a Slurm array or a Kubernetes indexed Job is far
/// smaller).
pub const MAX_SHARDS: u32 = 100_000;

impl Shard {
    /// "K/N" with 1 <= K <= N <= [`MAX_SHARDS`].
    pub fn parse(s: &str) -> Result<Shard, DetError> {
        let bad = || {
            DetError::input(format!(
                "--shard: '{s}' is not K/N (shard K of N, 1 <= K <= N <= {MAX_SHARDS}, e.g. 2/3)"
            ))
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count || count > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}
