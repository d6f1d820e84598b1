//! What the external backend needs to know about ops: which modes an adapter offers for
//! an op, and which family variant an external case is prepared as. Here, not in
//! `backend::external`, so that backends name no op or family.

use super::Op;
use crate::backend::external::Adapter;
use crate::error::DetError;

/// The variants (adapter modes) of `op` in an external run: all of the adapter's modes,
/// or those of `wanted` (each of which it must offer).
pub fn op_modes(ad: &Adapter, op: Op, wanted: &[String]) -> Result<Vec<String>, DetError> {
    reference_variant(op)?;
    let modes = ad.modes(op.name()).ok_or_else(|| {
        DetError::input(format!(
            "adapter {} does not offer op {op} (it offers {})",
            ad.name,
            ad.ops.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    if wanted.is_empty() {
        return Ok(modes.to_vec());
    }
    for v in wanted {
        if !modes.contains(v) {
            return Err(DetError::input(format!(
                "adapter {} has no mode '{v}' for op {op} (expected {})",
                ad.name,
                modes.join(", ")
            )));
        }
    }
    Ok(wanted.to_vec())
}

/// The family variant an external case of `op` is prepared as (its inputs, exact
/// reference and order-independent bound).
pub fn reference_variant(op: Op) -> Result<&'static str, DetError> {
    op.family()
        .and_then(|f| f.external_variant(op))
        .ok_or_else(|| {
            DetError::input(format!(
                "op {op} cannot be run by an external program in this build of detbench"
            ))
        })
}
