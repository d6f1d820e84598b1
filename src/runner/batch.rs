//! The batch axis (`--batch-sizes`): each case with a batch axis runs at every batch size
//! asked for, and the records say whether the rows the sizes share kept their bits.

use super::matrix::{family, RunConfig};
use crate::error::DetError;
use crate::numerics::ulp::ulp_distance;
use crate::numerics::Precision;
use crate::ops::{Case, RunSet};
use crate::report::ResultRecord;
use std::collections::{HashMap, HashSet};

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

/// The cases of the matrix (before the batch axis) with their place on the batch axis
/// (None: not on it).
pub(super) fn batch_axis(
    cfg: &RunConfig,
    cases: Vec<Case>,
) -> Result<(Vec<Case>, Vec<Option<BatchTag>>), DetError> {
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

/// A batch-axis group on one device: the case group, backend, device and ordering.
type GroupKey = (usize, String, String, crate::ops::Ordering);

/// The probe rows of every batch-axis record measured so far (see [`BatchTag`]), by group.
#[derive(Default)]
pub struct BatchOutputs {
    groups: HashMap<GroupKey, Vec<BatchEntry>>,
    /// Groups with records pushed since the last [`BatchOutputs::fill`]: only these are
    /// compared again, so a run of many cases stays linear.
    dirty: HashSet<GroupKey>,
}

/// One batch-axis record's probe rows.
struct BatchEntry {
    /// Index of the record in the report.
    index: usize,
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
        self.dirty.insert(key.clone());
        self.groups.entry(key).or_default().push(BatchEntry {
            index,
            batch: tag.batch,
            format,
            runs,
        });
    }

    /// Sets `batch_size`, `batch_invariant` and `max_ulp_across_batches` of every record
    /// pushed since the last call, and of the records of their groups (the last two once
    /// a group has two batch sizes or more).
    pub fn fill(&mut self, results: &mut [ResultRecord]) {
        for key in std::mem::take(&mut self.dirty) {
            let Some(group) = self.groups.get(&key) else {
                continue;
            };
            for e in group {
                results[e.index].batch_size = Some(e.batch as u64);
            }
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
            for e in group {
                let mut same = true;
                let mut worst = 0u64;
                for g in group {
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
}
