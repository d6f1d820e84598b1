//! `--dump`: a case's input arrays and every run's outputs as `.npy` files, each named by
//! what it is. An output file carries a hash of its row's result key (device, op, formats,
//! variant, ordering, size, bins, shape, launch, input, seed, family labels, batch), so two
//! rows never share a file; an input file carries a hash of the input's own bytes, so one
//! input shared by several rows is written once and two inputs never collide. Every file
//! is written new through [`OutDir`]: never through a link, never over another of this
//! run's files.

use crate::error::DetError;
use crate::inputs::npy_bytes;
use crate::numerics::Precision;
use crate::ops::{Case, Prepared, RunSet};
use crate::report::key::ResultKey;
use crate::report::{Env, ResultRecord};
use crate::safety::{file_slug, OutDir};
use sha2::{Digest, Sha256};

/// 12 hex digits of the SHA-256 of `s`.
fn short_hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))[..12].to_string()
}

/// The file an output row is dumped to: readable fields, then the key's hash.
pub fn output_name(env: &Env, rec: &ResultRecord) -> String {
    let key = ResultKey::of(rec, env);
    format!(
        "{}_{}_{}_{}-{}_{}_out.npy",
        rec.op,
        rec.backend,
        file_slug(&rec.variant),
        rec.precision,
        rec.accumulator,
        short_hash(&format!("{key} batch={:?}", rec.batch_size))
    )
}

/// `--dump`: writes a case's input arrays, once per distinct input.
pub(super) fn dump_inputs(out: &mut OutDir, case: &Case, prep: &Prepared) -> Result<(), DetError> {
    let stem = format!(
        "{}_{}_{}_in-{}",
        case.op,
        case.precision,
        file_slug(&case.input.label()),
        short_hash(&prep.input_sha256)
    );
    for (name, p, values) in prep.dumps.iter() {
        let file = format!("{stem}_{}.npy", file_slug(name));
        if out.contains(&file) {
            continue; // the same bytes, written for an earlier row
        }
        let bytes = npy_bytes(*p, &values.to_f64(), &[values.len() as u64])
            .map_err(|e| DetError::io(format!("--dump: cannot encode {file}"), e))?;
        out.write(&file, &bytes)?;
    }
    Ok(())
}

/// `--dump`: writes every run's outputs of a result row, one row per run.
pub(super) fn dump_outputs(
    out: &mut OutDir,
    env: &Env,
    rec: &ResultRecord,
    set: &RunSet,
    format: Precision,
) -> Result<(), DetError> {
    let name = output_name(env, rec);
    let flat: Vec<f64> = set.outputs.iter().flatten().copied().collect();
    let shape = [set.outputs.len() as u64, set.outputs[0].len() as u64];
    let bytes = npy_bytes(format, &flat, &shape)
        .map_err(|e| DetError::io(format!("--dump: cannot encode {name}"), e))?;
    out.write(&name, &bytes)?;
    Ok(())
}
