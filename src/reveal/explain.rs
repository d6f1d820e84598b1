//! `check`'s explanation of a changed deterministic fingerprint: from the order
//! fingerprints `run --reveal` recorded on both sides, and, with `check --explain`, from
//! reveals made now of the current report's rows whose device is at hand.

use super::record::{annotate, recorded, recorded_grouping};
use crate::backend::{discover, BackendKind};
use crate::inputs::InputSpec;
use crate::ops::{Case, FamilyParams};
use crate::report::{Report, ResultRecord};

/// What changed between two rows of one result key whose output bits differ, when both
/// carry an order fingerprint revealed at the same n: "the accumulation order changed
/// (A -> B)" or "same order, different arithmetic". None when either has none.
pub fn explain(base: &ResultRecord, cur: &ResultRecord) -> Option<String> {
    let ((a, na), (b, nb)) = (recorded(base)?, recorded(cur)?);
    if na != nb {
        return Some(format!(
            "the orders were revealed at different n ({na} and {nb}) and cannot be compared"
        ));
    }
    let same_grouping = recorded_grouping(base) == recorded_grouping(cur);
    Some(if a != b && same_grouping {
        // The trees differ only in which products a step fused: the order of the
        // additions is the same.
        format!(
            "same order of additions (revealed at n = {na}), different arithmetic: the fused \
             multiply-adds changed ({a} -> {b})"
        )
    } else if a != b {
        format!("the accumulation order changed ({a} -> {b}, revealed at n = {na})")
    } else {
        format!(
            "same order ({a}, revealed at n = {na}), different arithmetic (rounding, fusion or flush to zero)"
        )
    })
}

/// `check --explain`: reveals the order of every row of `cur` that has none recorded, is
/// an ok deterministic row of an op `reveal` probes, and ran on a device of this machine
/// (same backend and device name; never an external adapter). Returns how many rows it
/// revealed.
pub fn reveal_at_hand(cur: &mut Report) -> usize {
    let kinds: Vec<BackendKind> = [BackendKind::Cpu, BackendKind::Wgpu, BackendKind::Cuda]
        .into_iter()
        .filter(|k| cur.results.iter().any(|r| r.backend == k.name()))
        .collect();
    if kinds.is_empty() {
        return 0;
    }
    let found = discover(&kinds);
    let mut revealed = 0;
    for rec in &mut cur.results {
        if recorded(rec).is_some() || !rec.deterministic_variant {
            continue;
        }
        let Some(backend) = found
            .backends
            .iter()
            .find(|b| b.kind().name() == rec.backend && b.info().name == rec.device)
        else {
            continue;
        };
        let (Ok(op), Ok(precision), Ok(accumulator)) = (
            rec.op.parse(),
            rec.precision.parse(),
            rec.accumulator.parse(),
        ) else {
            continue;
        };
        let case = Case {
            op,
            precision,
            accumulator,
            variant: rec.variant.clone(),
            size: rec.size as usize,
            input: InputSpec::Uniform,
            seed: 0,
            runs: 1,
            workgroup_size: rec.launch.workgroup_size,
            params: FamilyParams::default(),
        };
        let variant = rec.variant.clone();
        annotate(rec, &case, &variant, backend.as_ref());
        revealed += usize::from(recorded(rec).is_some());
    }
    revealed
}
