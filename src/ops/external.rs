//! What a backend whose variants are its own (the external adapter's modes, see
//! [`crate::backend::Capabilities::own_variants`]) needs to know about ops: its variants
//! of an op, checked, and which family variant each of its cases is prepared as. Here, not
//! in a backend, so that backends name no op or family; the runner asks through these and
//! names no backend.

use super::Op;
use crate::backend::Backend;
use crate::error::DetError;

/// The variants of `op` on `backend`, whose variants are its own: all it offers, or those
/// of `wanted` (each of which it must offer).
pub fn own_variants(
    backend: &dyn Backend,
    op: Op,
    wanted: &[String],
) -> Result<Vec<String>, DetError> {
    reference_variant(op)?;
    backend.variants(op.name(), wanted).map_err(DetError::input)
}

/// The family variant a case of `op` is prepared as on a backend whose variants are its
/// own (its inputs, exact reference and order-independent bound): the family's
/// [`super::Family::external_variant`].
pub fn reference_variant(op: Op) -> Result<&'static str, DetError> {
    op.family()
        .and_then(|f| f.external_variant(op))
        .ok_or_else(|| {
            DetError::input(format!(
                "op {op} cannot be run by an external program in this build of detbench"
            ))
        })
}
