//! `--dump`: a case's input arrays and every run's outputs as `.npy` files.

use crate::error::DetError;
use crate::inputs;
use crate::numerics::Precision;
use crate::ops::{Case, Prepared, RunSet};
use crate::report::ResultRecord;
use std::collections::HashSet;

/// `--dump`: writes a case's input arrays once per (op, format, size, input, seed).
pub(super) fn dump_inputs(
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
pub(super) fn dump_outputs(
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
