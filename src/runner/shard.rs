//! `run --shard K/N` and `run --list-cases`: the whole matrix with each case's label and
//! shard, and the part one shard runs. A case's shard is fixed by its case label (the
//! result key without the device, ordering and workgroup count) alone, through
//! [`shard_of`]: the same case lands in the same shard on every machine, whatever the
//! matrix's order or its other cases.

use super::batch::BatchTag;
use super::matrix::RunConfig;
use super::records::base_record;
use crate::backend::DeviceInfo;
use crate::ops::Case;
use crate::report::key::{matrix_sha256, shard_of, CaseKey};
use crate::report::schema::ShardInfo;
use std::collections::BTreeMap;

/// The case key of a case before it runs: the device-free part of its rows' result keys
/// (the same fields `records` writes, so `merge` finds each planned case in the rows).
pub fn case_key(cfg: &RunConfig, case: &Case) -> CaseKey {
    let mut rec = base_record(case, None, &DeviceInfo::default(), None);
    rec.launch.workgroup_size = case.workgroup_size;
    // A backend built from the flags (an adapter) labels its rows (part of the key).
    for b in &cfg.given {
        crate::backend::Backend::annotate(b, &mut rec);
    }
    CaseKey::of(&rec)
}

/// One case of the whole matrix, with its label and the shard that runs it.
#[derive(Clone, Debug)]
pub struct Planned {
    pub case: Case,
    /// Its place on the batch axis (None: not on it).
    pub tag: Option<BatchTag>,
    /// The copy baseline the runner adds (not asked for).
    pub baseline: bool,
    /// Its case label ([`CaseKey`]'s text).
    pub label: String,
    /// The shard (1-based) that runs it when the matrix is cut into `--shard`'s N parts;
    /// 1 without `--shard`.
    pub shard: u32,
}

/// The whole matrix (the cases asked for, then the copy baseline), each case with its
/// label and shard. Cases on one batch axis are compared with each other, so they stay
/// together: their shard is that of the smallest label of their group.
pub fn plan(
    cfg: &RunConfig,
    cases: Vec<Case>,
    tags: Vec<Option<BatchTag>>,
    baseline: Option<Case>,
) -> Vec<Planned> {
    let count = cfg.shard.map_or(1, |s| s.count);
    let labels: Vec<String> = cases
        .iter()
        .chain(baseline.iter())
        .map(|c| case_key(cfg, c).to_string())
        .collect();
    let mut group_label: BTreeMap<usize, &str> = BTreeMap::new();
    for (tag, label) in tags.iter().zip(&labels) {
        if let Some(t) = tag {
            let e = group_label.entry(t.group).or_insert(label);
            if label.as_str() < *e {
                *e = label;
            }
        }
    }
    let shard: Vec<u32> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let by = match tags.get(i).copied().flatten() {
                Some(t) => group_label[&t.group],
                None => label.as_str(),
            };
            shard_of(by, count)
        })
        .collect();
    let n = cases.len();
    cases
        .into_iter()
        .chain(baseline)
        .zip(labels)
        .zip(shard)
        .enumerate()
        .map(|(i, ((case, label), shard))| Planned {
            case,
            tag: tags.get(i).copied().flatten(),
            baseline: i >= n,
            label,
            shard,
        })
        .collect()
}

/// What a run (or a shard of it) runs: its cases, their batch tags, how many come before
/// the copy baseline, and the shard's record for the report.
pub struct Selection {
    pub cases: Vec<Case>,
    pub tags: Vec<Option<BatchTag>>,
    pub user_cases: usize,
    pub shard: Option<ShardInfo>,
}

/// The cases of `--shard K/N` (all of them without it), in matrix order.
pub fn select(cfg: &RunConfig, planned: Vec<Planned>) -> Selection {
    let info = cfg.shard.map(|s| {
        let matrix: Vec<String> = planned.iter().map(|p| p.label.clone()).collect();
        ShardInfo {
            index: s.index,
            count: s.count,
            matrix_sha256: matrix_sha256(&matrix),
            matrix,
        }
    });
    let keep = |p: &Planned| cfg.shard.is_none_or(|s| p.shard == s.index);
    let mut sel = Selection {
        cases: Vec::new(),
        tags: Vec::new(),
        user_cases: 0,
        shard: info,
    };
    for p in planned.into_iter().filter(keep) {
        if !p.baseline {
            sel.user_cases += 1;
            sel.tags.push(p.tag);
        }
        sel.cases.push(p.case);
    }
    sel
}

/// Schema tag of `run --list-cases --json`.
pub const CASES_SCHEMA: &str = "detbench.cases.v1";

/// `run --list-cases --json`: the matrix (or one shard of it) without running it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct CaseList {
    /// Always [`CASES_SCHEMA`].
    pub schema: String,
    /// "K/N" when `--shard` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Cases in the whole matrix (all shards).
    pub matrix_cases: usize,
    /// SHA-256 (hex) of the whole matrix's labels, as a shard report's `env.shard` records.
    pub matrix_sha256: String,
    /// The cases listed (the shard's, or all), in matrix order.
    pub cases: Vec<ListedCase>,
}

/// One case of `run --list-cases --json`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ListedCase {
    /// The case label: the result key without the device, ordering and workgroup count.
    pub label: String,
    /// The shard that runs it (1-based) when the matrix is cut into `--shard`'s N parts.
    pub shard: u32,
    pub op: String,
    pub precision: String,
    pub accumulator: String,
    pub variant: String,
    pub size: u64,
    pub input: String,
    pub seed: u64,
    pub workgroup_size: u32,
    /// The copy case the runner adds as each device's bandwidth baseline.
    pub copy_baseline: bool,
}

/// The cases `run` would run with this configuration, without running them.
pub fn list(cfg: &RunConfig) -> Result<CaseList, crate::error::DetError> {
    let (cases, tags) = super::expand_tagged(cfg)?;
    let owned = crate::backend::Discovered::default()
        .with_given(&cfg.given)
        .variant_owner()
        .map_err(crate::error::DetError::input)?
        .is_some();
    let baseline = super::copy_baseline(cfg, &cases, owned)?;
    let planned = plan(cfg, cases, tags, baseline);
    let labels: Vec<String> = planned.iter().map(|p| p.label.clone()).collect();
    Ok(CaseList {
        schema: CASES_SCHEMA.into(),
        shard: cfg.shard.map(|s| s.to_string()),
        matrix_cases: planned.len(),
        matrix_sha256: matrix_sha256(&labels),
        cases: planned
            .into_iter()
            .filter(|p| cfg.shard.is_none_or(|s| p.shard == s.index))
            .map(|p| {
                let k = case_key(cfg, &p.case);
                ListedCase {
                    label: p.label,
                    shard: p.shard,
                    op: k.op,
                    precision: k.precision,
                    accumulator: k.accumulator,
                    variant: k.variant,
                    size: k.size,
                    input: k.input,
                    seed: k.seed,
                    workgroup_size: k.workgroup_size,
                    copy_baseline: p.baseline,
                }
            })
            .collect(),
    })
}

/// The JSON Schema of `run --list-cases --json` (docs/cases.schema.json).
pub fn json_schema() -> serde_json::Value {
    let mut s =
        serde_json::to_value(schemars::schema_for!(CaseList)).expect("a JSON Schema serialises");
    s["title"] = format!("{CASES_SCHEMA} (detbench run --list-cases)").into();
    s["properties"]["schema"]["const"] = CASES_SCHEMA.into();
    s
}
