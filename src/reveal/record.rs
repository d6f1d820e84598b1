//! `run --reveal`: each deterministic row's order fingerprint, in its `extra` map.
//!
//! The tree depends on n, so every row is revealed at the same n, [`RUN_REVEAL_N`] (or the
//! row's size where smaller; [`EXTERNAL_REVEAL_N`] through an adapter), recorded beside the
//! fingerprint: two devices' rows of one result key then compare by fingerprint alone.

use super::probe::{Target, OPS};
use crate::backend::Backend;
use crate::ops::{Case, Op};
use crate::report::{ResultRecord, Status};
use serde_json::json;

/// The n `run --reveal` reveals each row at (at most).
pub const RUN_REVEAL_N: usize = 256;
/// The same for an external adapter, which starts a process per launch (about n log n).
pub const EXTERNAL_REVEAL_N: usize = 32;

/// `extra` key of the revealed order: an object (never a string, so it stays out of the
/// result key: rows of one case pair whatever their order) with `fingerprint` (`ord1:...`,
/// or `order-free`) and `n`, or `note` (why a deterministic row has no fingerprint). A
/// tree with fused multiply-adds also has `unfused`: the fingerprint of its grouping alone,
/// so `check` can tell a change of fusion from a change of order.
pub const ORDER_KEY: &str = "order";

/// The fingerprint of the recorded order's grouping alone (`unfused`, else the
/// fingerprint itself), if any.
pub fn recorded_grouping(rec: &ResultRecord) -> Option<String> {
    let o = rec.extra.get(ORDER_KEY)?;
    o.get("unfused")
        .or_else(|| o.get("fingerprint"))?
        .as_str()
        .map(str::to_string)
}

/// The order fingerprint and n recorded in a row, if any.
pub fn recorded(rec: &ResultRecord) -> Option<(String, u64)> {
    let o = rec.extra.get(ORDER_KEY)?;
    Some((
        o.get("fingerprint")?.as_str()?.to_string(),
        o.get("n")?.as_u64()?,
    ))
}

/// The ops whose rows `run --reveal` records an order for: those whose probe is the case's
/// own launch (at up to [`RUN_REVEAL_N`] inputs).
pub const RECORDED: &[Op] = &[Op::Sum, Op::Dot];

/// Adds the order of `rec`'s kernel to its `extra`: an ok row of a deterministic variant of
/// an op `reveal` probes, revealed once on `backend`. `variant` is the family variant the
/// case was prepared as (an external row's `rec.variant` is the adapter's mode). A row
/// whose order cannot be revealed gets a note instead; the run goes on.
pub fn annotate(rec: &mut ResultRecord, case: &Case, variant: &str, backend: &dyn Backend) {
    if rec.status != Status::Ok || !rec.deterministic_variant || !OPS.contains(&case.op) {
        return;
    }
    // `reveal` probes row_sum as one row, matmul as M = N = 1 and scatter_add as one bin,
    // and their splits follow the batch (rows, tiles) or the bins' fill: that order need
    // not be this case's, so none is recorded.
    if !RECORDED.contains(&case.op) {
        let shape = match case.op {
            Op::Matmul => "with M = N = 1",
            Op::Addmm => "with M = N = 1 and the bias as its last input",
            Op::ScatterAdd => "with every value in one bin",
            Op::Conv2dFwd | Op::Conv2dBwdData | Op::Conv2dBwdWeight => {
                "as one output element of a 1 x 1 filter"
            }
            _ => "as one row",
        };
        let note = format!(
            "not recorded: reveal probes {} {shape}, whose split need not be this case's; \
             run `detbench reveal --op {}`",
            case.op, case.op
        );
        rec.extra.insert(ORDER_KEY.into(), json!({ "note": note }));
        return;
    }
    let cap = match backend.kind() {
        crate::backend::BackendKind::External => EXTERNAL_REVEAL_N,
        _ => RUN_REVEAL_N,
    };
    let n = case.size.min(cap);
    let target = Target {
        op: case.op,
        variant: variant.to_string(),
        mode: rec.variant.clone(),
        precision: case.precision,
        accumulator: case.accumulator,
        n,
        workgroup_size: case.workgroup_size,
        // Only deterministic variants get here (checked above).
        unpromised: None,
        elements: 1,
    };
    let order = match super::reveal(&target, backend, 1, None) {
        Ok(r) if r.order_free => json!({"fingerprint": "order-free", "n": n}),
        Ok(r) if r.order_fixed => {
            let t = &r.trees[0];
            let mut o = json!({"fingerprint": t.fingerprint, "n": n});
            if !t.fused.is_empty() {
                let grouping = super::Tree::from_json(&t.tree).map(|g| g.fingerprint());
                o["unfused"] = json!(grouping);
            }
            o
        }
        Ok(r) => json!({ "note": r.verdict }),
        Err(e) => json!({ "note": e.to_string() }),
    };
    rec.extra.insert(ORDER_KEY.into(), order);
}
