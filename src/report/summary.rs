//! The summary of a run, as data: per device, which variants were reproducible (and which
//! merely agreed by chance), the largest errors, the row closest to its bound, and what
//! determinism costs, every comparison paired by the one result key (`report::key`).
//!
//! Built once; `run` prints it, `report` renders it in every format, and `report --json`
//! gives it as it is (`detbench.summary.v1`, docs/interface.md).

use super::inputs::{device_label, devices};
use super::key::{CaseKey, DeviceId};
use super::schema::{Env, ResultRecord, BASELINE_OP};
use serde::Serialize;
use std::collections::BTreeMap;

/// Schema tag of the summary.
pub const SUMMARY_SCHEMA: &str = "detbench.summary.v1";

/// The summary of every device in some reports.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// `detbench.summary.v1`.
    pub schema: String,
    /// One entry per device, in first-seen order.
    pub devices: Vec<DeviceSummary>,
}

/// A variant whose runs gave more than one output bit pattern in some case.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Nondeterministic {
    pub op: String,
    pub precision: String,
    pub accumulator: String,
    pub variant: String,
    /// True when the variant promises identical bits: this is then a defect, not a finding.
    pub promised_deterministic: bool,
    /// Cases where the runs disagreed, and cases that ran ok.
    pub cases_differing: usize,
    pub cases_ok: usize,
    /// Most distinct outputs in one case, and that case's run count.
    pub max_distinct: u64,
    pub runs: u64,
    /// Worst ULP distance between runs, over cases and elements.
    pub worst_ulp: u64,
}

/// A variant that is nondeterministic by design (atomics, privatized copies) whose runs
/// happened to agree in every case: an observation, never a guarantee.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AgreedByChance {
    /// "op variant".
    pub variant: String,
    /// Cases that ran ok (all agreed).
    pub cases: usize,
    /// The fewest runs in any of those cases ("agreed in N of N runs").
    pub runs: u64,
}

/// The largest errors against the exact answer in one class of variants.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct WorstError {
    /// "deterministic" (variants that promise identical bits) or "nondeterministic".
    pub class: String,
    /// Cases of this class with a measured error.
    pub cases: usize,
    /// The largest error in units in the last place, and its case.
    pub max_ulp_err: Option<u64>,
    pub ulp_case: String,
    /// The largest relative error, and its case.
    pub max_rel_err: Option<f64>,
    pub rel_case: String,
}

/// The case whose error used the largest fraction of its a-priori bound.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ClosestToBound {
    /// max |error| / bound (0 for an exact result; above 1 means the bound was exceeded).
    pub ratio: f64,
    pub max_abs_err: f64,
    pub bound: f64,
    pub case: String,
    /// Cases with a finite error and bound.
    pub cases: usize,
}

/// One deterministic row and the fastest nondeterministic row with the same result key
/// apart from the variant and the atomic ordering.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CostPair {
    /// The deterministic row's key (`ResultKey::case_label`, without the device).
    pub case: String,
    pub op: String,
    pub precision: String,
    pub accumulator: String,
    pub variant: String,
    pub size: u64,
    pub bins: Option<u64>,
    /// The shape as JSON text, empty when none.
    pub shape: String,
    pub batch_size: Option<u64>,
    pub workgroup_size: u32,
    pub input: String,
    pub median_ms: f64,
    /// The baseline: the row of the same key an external adapter declares its framework's
    /// plain path, else the fastest ok nondeterministic variant of the same key (None when
    /// none ran).
    pub baseline_variant: Option<String>,
    pub baseline_ordering: Option<String>,
    pub baseline_median_ms: Option<f64>,
    /// median_ms / baseline_median_ms.
    pub ratio: Option<f64>,
    /// The ratio's spread from both rows' runs: lower quartile over the baseline's upper
    /// quartile, and upper quartile over the baseline's lower quartile.
    pub ratio_low: Option<f64>,
    pub ratio_high: Option<f64>,
    /// "cost" (slower, beyond the spread), "speed-up" (faster, beyond the spread) or
    /// "within spread".
    pub verdict: String,
}

/// What determinism costs for one op, precision and deterministic variant: the median
/// and worst of its pairs at the largest size.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Cost {
    pub op: String,
    pub precision: String,
    pub variant: String,
    pub size: u64,
    pub pairs: usize,
    pub ratio: f64,
    /// The pair with the largest ratio, and its case (what tells it apart: input, bins,
    /// shape, workgroup size).
    pub worst: f64,
    pub worst_case: String,
}

/// Cases that could not run for one reason, collapsed into one line.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NotRun {
    pub status: String,
    pub message: String,
    pub count: usize,
    /// Distinct "op variant precision" labels, in first-seen order.
    pub what: Vec<String>,
}

/// The summary of one device.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DeviceSummary {
    /// "backend:device".
    pub device: String,
    pub cases: usize,
    pub cases_ok: usize,
    /// Variants with differing runs, promised-deterministic ones first.
    pub nondeterministic: Vec<Nondeterministic>,
    /// Deterministic variants whose every ok case reproduced its bits, as "op variant".
    pub reproducible: Vec<String>,
    /// Nondeterministic-by-design variants whose runs happened to agree.
    pub agreed_by_chance: Vec<AgreedByChance>,
    /// The largest errors, per class of variant.
    pub worst_errors: Vec<WorstError>,
    pub closest_to_bound: Option<ClosestToBound>,
    /// ok cases whose error exceeded the bound (must be none).
    pub bound_violations: usize,
    /// Every deterministic row with its baseline.
    pub cost_pairs: Vec<CostPair>,
    /// Per op, precision and variant, at the largest size.
    pub costs: Vec<Cost>,
    pub not_run: Vec<NotRun>,
}

/// One kernel: (op, precision, accumulator, variant).
pub type KernelKey = (String, String, String, String);

/// `recs` grouped by kernel, in key order.
pub fn kernel_groups<'a>(
    recs: impl IntoIterator<Item = &'a ResultRecord>,
) -> BTreeMap<KernelKey, Vec<&'a ResultRecord>> {
    let mut groups: BTreeMap<KernelKey, Vec<&ResultRecord>> = BTreeMap::new();
    for r in recs {
        groups
            .entry((
                r.op.clone(),
                r.precision.clone(),
                r.accumulator.clone(),
                r.variant.clone(),
            ))
            .or_default()
            .push(r);
    }
    groups
}

/// What a deterministic row is paired on: its result key without the variant, the atomic
/// ordering and the workgroup count (which a variant's kernel may choose for itself).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct PairKey {
    device: DeviceId,
    case: CaseKey,
    batch: Option<u64>,
}

fn pair_key(r: &ResultRecord, env: &Env) -> PairKey {
    let mut case = CaseKey::of(r);
    case.variant.clear();
    PairKey {
        device: DeviceId::of(r, env),
        case,
        batch: r.batch_size,
    }
}

/// The label of a row's case: what tells it apart from its neighbours.
pub fn case_label(r: &ResultRecord) -> String {
    let mut s = format!(
        "{} {}/{} {} n={}",
        r.op, r.precision, r.accumulator, r.variant, r.size
    );
    if let Some(b) = r.bins {
        s.push_str(&format!(" bins={b}"));
    }
    if let Some(sh) = &r.shape {
        s.push_str(&format!(" shape={sh}"));
    }
    if let Some(b) = r.batch_size {
        s.push_str(&format!(" batch={b}"));
    }
    s.push_str(&format!(" wg={} {}", r.launch.workgroup_size, r.input));
    s
}

/// The q-quantile (linear interpolation) of finite values.
fn quantile(v: &[f64], q: f64) -> Option<f64> {
    let mut t: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if t.is_empty() {
        return None;
    }
    t.sort_by(f64::total_cmp);
    let pos = q * (t.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(t[lo] + (t[hi] - t[lo]) * (pos - lo as f64))
}

/// Pairs every ok deterministic row with the fastest ok nondeterministic row of the same
/// key apart from variant and ordering. `rows` are (record, its report's environment).
pub fn cost_pairs(rows: &[(&ResultRecord, &Env)]) -> Vec<(String, CostPair)> {
    let timed = |r: &ResultRecord| r.status == "ok" && r.median_ms.is_some();
    // An external adapter names its framework's plain path (`extra.plain_path`): that row,
    // not the fastest nondeterministic mode (`permuted` pays for its own permutation), is
    // what a deterministic mode costs against.
    let plain = |r: &ResultRecord| {
        r.extra
            .get("plain_path")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
    };
    let mut plain_rows: BTreeMap<PairKey, &ResultRecord> = BTreeMap::new();
    let mut fastest: BTreeMap<PairKey, &ResultRecord> = BTreeMap::new();
    for (r, env) in rows {
        if timed(r) && plain(r) {
            plain_rows.insert(pair_key(r, env), r);
        }
        if !timed(r) || r.deterministic_variant {
            continue;
        }
        let k = pair_key(r, env);
        let t = r.median_ms.unwrap_or(f64::INFINITY);
        match fastest.get(&k) {
            Some(o) if o.median_ms.unwrap_or(f64::INFINITY) <= t => {}
            _ => {
                fastest.insert(k, r);
            }
        }
    }
    let mut out = Vec::new();
    for (r, env) in rows {
        if !timed(r) || !r.deterministic_variant || r.op == BASELINE_OP || plain(r) {
            continue;
        }
        let t = r.median_ms.unwrap_or(0.0);
        let key = pair_key(r, env);
        let base = plain_rows.get(&key).or_else(|| fastest.get(&key)).copied();
        let bt = base.and_then(|b| b.median_ms);
        let ratio = bt.filter(|&b| b > 0.0).map(|b| t / b);
        let q = |x: &ResultRecord, p: f64| {
            if x.times_ms.is_empty() {
                x.median_ms
            } else {
                quantile(&x.times_ms, p)
            }
        };
        let (low, high) = match base {
            Some(b) => (
                q(r, 0.25)
                    .zip(q(b, 0.75))
                    .filter(|(_, d)| *d > 0.0)
                    .map(|(n, d)| n / d),
                q(r, 0.75)
                    .zip(q(b, 0.25))
                    .filter(|(_, d)| *d > 0.0)
                    .map(|(n, d)| n / d),
            ),
            None => (None, None),
        };
        let verdict = match (ratio, low, high) {
            (None, ..) => "no baseline",
            (Some(_), Some(l), _) if l > 1.0 => "cost",
            (Some(_), _, Some(h)) if h < 1.0 => "speed-up",
            (Some(_), Some(_), Some(_)) => "within spread",
            (Some(x), ..) if x > 1.0 => "cost",
            (Some(x), ..) if x < 1.0 => "speed-up",
            _ => "within spread",
        };
        out.push((
            device_label(r),
            CostPair {
                case: case_label(r),
                op: r.op.clone(),
                precision: r.precision.clone(),
                accumulator: r.accumulator.clone(),
                variant: r.variant.clone(),
                size: r.size,
                bins: r.bins,
                shape: r.shape.as_ref().map(|s| s.to_string()).unwrap_or_default(),
                batch_size: r.batch_size,
                workgroup_size: r.launch.workgroup_size,
                input: r.input.clone(),
                median_ms: t,
                baseline_variant: base.map(|b| b.variant.clone()),
                baseline_ordering: base.map(|b| b.ordering.to_string()),
                baseline_median_ms: bt,
                ratio,
                ratio_low: low,
                ratio_high: high,
                verdict: verdict.into(),
            },
        ));
    }
    out
}

/// Builds the summary of `rows` ((record, its report's environment) pairs). The `copy`
/// baseline is left out: it measures bandwidth, not a kernel's determinism.
pub fn build(rows: &[(&ResultRecord, &Env)]) -> Summary {
    let recs: Vec<&ResultRecord> = rows.iter().map(|(r, _)| *r).collect();
    let mut pairs = cost_pairs(rows);
    Summary {
        schema: SUMMARY_SCHEMA.into(),
        devices: devices(&recs)
            .into_iter()
            .map(|d| {
                let mine: Vec<&ResultRecord> = recs
                    .iter()
                    .copied()
                    .filter(|r| device_label(r) == d && r.op != BASELINE_OP)
                    .collect();
                let (own, rest): (Vec<_>, Vec<_>) = pairs.drain(..).partition(|(pd, _)| *pd == d);
                pairs = rest;
                device_summary(d, &mine, own.into_iter().map(|(_, p)| p).collect())
            })
            .collect(),
    }
}

/// The summary of the results of one report.
pub fn of_report(results: &[ResultRecord], env: &Env) -> Summary {
    let rows: Vec<(&ResultRecord, &Env)> = results.iter().map(|r| (r, env)).collect();
    build(&rows)
}

fn device_summary(device: String, recs: &[&ResultRecord], pairs: Vec<CostPair>) -> DeviceSummary {
    let ok: Vec<&ResultRecord> = recs.iter().copied().filter(|r| r.status == "ok").collect();
    let groups = kernel_groups(ok.iter().copied());

    // Run-to-run behaviour per kernel, in three honest classes.
    let mut nondeterministic = Vec::new();
    let mut reproducible: Vec<String> = Vec::new();
    let mut agreed: Vec<AgreedByChance> = Vec::new();
    let mut differing_variants: Vec<String> = Vec::new();
    for ((op, precision, accumulator, variant), g) in &groups {
        let differing: Vec<&&ResultRecord> = g
            .iter()
            .filter(|r| r.distinct_outputs.is_some_and(|d| d > 1))
            .collect();
        let Some(worst) = differing
            .iter()
            .max_by_key(|r| (r.distinct_outputs.unwrap_or(0), r.runs))
        else {
            continue;
        };
        differing_variants.push(format!("{op} {variant}"));
        nondeterministic.push(Nondeterministic {
            op: op.clone(),
            precision: precision.clone(),
            accumulator: accumulator.clone(),
            variant: variant.clone(),
            promised_deterministic: g.iter().any(|r| r.deterministic_variant),
            cases_differing: differing.len(),
            cases_ok: g.len(),
            max_distinct: worst.distinct_outputs.unwrap_or(0),
            runs: worst.runs,
            worst_ulp: differing
                .iter()
                .filter_map(|r| r.max_ulp_run_to_run)
                .max()
                .unwrap_or(0),
        });
    }
    nondeterministic.sort_by_key(|n| !n.promised_deterministic);
    // By "op variant" across precisions: a variant is listed once, and only when every
    // one of its ok cases, at every precision, gave one bit pattern.
    let mut by_variant: BTreeMap<String, Vec<&ResultRecord>> = BTreeMap::new();
    for ((op, _, _, variant), g) in &groups {
        by_variant
            .entry(format!("{op} {variant}"))
            .or_default()
            .extend(g.iter().copied());
    }
    for (label, g) in by_variant {
        if differing_variants.contains(&label)
            || !g.iter().all(|r| r.bitwise_reproducible == Some(true))
        {
            continue;
        }
        if g.iter().all(|r| r.deterministic_variant) {
            reproducible.push(label);
        } else {
            agreed.push(AgreedByChance {
                variant: label,
                cases: g.len(),
                runs: g.iter().map(|r| r.runs).min().unwrap_or(0),
            });
        }
    }

    // The largest errors, per class; then the case closest to its bound.
    let mut worst_errors = Vec::new();
    for (class, det) in [("deterministic", true), ("nondeterministic", false)] {
        let cls: Vec<&&ResultRecord> = ok
            .iter()
            .filter(|r| r.deterministic_variant == det)
            .filter(|r| r.max_ulp_err.is_some() || r.max_rel_err.is_some_and(f64::is_finite))
            .collect();
        if cls.is_empty() {
            continue;
        }
        let by_ulp = cls.iter().max_by_key(|r| r.max_ulp_err.unwrap_or(0));
        let by_rel = cls
            .iter()
            .filter(|r| r.max_rel_err.is_some_and(f64::is_finite))
            .max_by(|a, b| {
                a.max_rel_err
                    .unwrap_or(0.0)
                    .total_cmp(&b.max_rel_err.unwrap_or(0.0))
            });
        worst_errors.push(WorstError {
            class: class.into(),
            cases: cls.len(),
            max_ulp_err: by_ulp.and_then(|r| r.max_ulp_err),
            ulp_case: by_ulp.map(|r| case_label(r)).unwrap_or_default(),
            max_rel_err: by_rel.and_then(|r| r.max_rel_err),
            rel_case: by_rel.map(|r| case_label(r)).unwrap_or_default(),
        });
    }
    let mut closest: Option<ClosestToBound> = None;
    let mut bounded = 0;
    for r in &ok {
        let (Some(err), Some(bound)) = (r.max_abs_err, r.error_bound) else {
            continue;
        };
        if !err.is_finite() || !bound.is_finite() {
            continue;
        }
        bounded += 1;
        let ratio = if err == 0.0 {
            0.0
        } else if bound > 0.0 {
            err / bound
        } else {
            f64::INFINITY
        };
        if closest.as_ref().is_none_or(|w| ratio > w.ratio) {
            closest = Some(ClosestToBound {
                ratio,
                max_abs_err: err,
                bound,
                case: case_label(r),
                cases: 0,
            });
        }
    }
    if let Some(w) = &mut closest {
        w.cases = bounded;
    }
    let bound_violations = ok
        .iter()
        .filter(|r| {
            r.bound_violations > 0
                || matches!((r.max_abs_err, r.error_bound), (Some(e), Some(b)) if e > b)
        })
        .count();

    // What determinism costs, at the largest size of each op, precision and variant.
    let mut cells: BTreeMap<(String, String, String), BTreeMap<u64, Vec<&CostPair>>> =
        BTreeMap::new();
    for p in pairs.iter().filter(|p| p.ratio.is_some()) {
        cells
            .entry((p.op.clone(), p.precision.clone(), p.variant.clone()))
            .or_default()
            .entry(p.size)
            .or_default()
            .push(p);
    }
    let mut costs = Vec::new();
    for ((op, precision, variant), by_size) in cells {
        let Some((size, v)) = by_size.into_iter().next_back() else {
            continue;
        };
        let ratios: Vec<f64> = v.iter().filter_map(|p| p.ratio).collect();
        let worst = v
            .iter()
            .max_by(|a, b| a.ratio.unwrap_or(0.0).total_cmp(&b.ratio.unwrap_or(0.0)));
        if let (Some(ratio), Some(w)) = (crate::shared::stats::median(&ratios), worst) {
            costs.push(Cost {
                op,
                precision,
                variant,
                size,
                pairs: v.len(),
                ratio,
                worst: w.ratio.unwrap_or(0.0),
                worst_case: w.case.clone(),
            });
        }
    }

    // Everything that did not run, one line per reason.
    let mut not_run: Vec<NotRun> = Vec::new();
    for r in recs.iter().filter(|r| r.status != "ok") {
        let what = format!("{} {} {}", r.op, r.variant, r.precision);
        let status = r.status.to_string();
        match not_run
            .iter_mut()
            .find(|n| n.status == status && n.message == r.message)
        {
            Some(n) => {
                n.count += 1;
                if !n.what.contains(&what) {
                    n.what.push(what);
                }
            }
            None => not_run.push(NotRun {
                status,
                message: r.message.clone(),
                count: 1,
                what: vec![what],
            }),
        }
    }

    DeviceSummary {
        device,
        cases: recs.len(),
        cases_ok: ok.len(),
        nondeterministic,
        reproducible,
        agreed_by_chance: agreed,
        worst_errors,
        closest_to_bound: closest,
        bound_violations,
        cost_pairs: pairs,
        costs,
        not_run,
    }
}

/// The JSON Schema of the summary (docs/summary.schema.json).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Summary)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(op: &str, variant: &str, det: bool, ms: f64) -> ResultRecord {
        ResultRecord {
            op: op.into(),
            backend: "wgpu".into(),
            device: "gpu0".into(),
            precision: "f32".into(),
            accumulator: "f32".into(),
            variant: variant.into(),
            size: 4096,
            input: "normal".into(),
            seed: 7,
            runs: 5,
            status: crate::report::Status::Ok,
            distinct_outputs: Some(1),
            bitwise_reproducible: Some(true),
            max_ulp_run_to_run: Some(0),
            times_ms: vec![ms * 0.98, ms, ms * 1.02, ms, ms],
            median_ms: Some(ms),
            deterministic_variant: det,
            launch: crate::shared::launch::Launch {
                workgroup_size: 256,
                workgroups: 16,
            },
            ..Default::default()
        }
    }

    fn bins(mut r: ResultRecord, b: u64) -> ResultRecord {
        r.bins = Some(b);
        r
    }
    fn shape(mut r: ResultRecord, s: [u64; 3]) -> ResultRecord {
        r.shape = Some(serde_json::json!(s));
        r
    }
    fn wg(mut r: ResultRecord, w: u32, groups: u32) -> ResultRecord {
        r.launch.workgroup_size = w;
        r.launch.workgroups = groups;
        r
    }

    /// Every deterministic row is paired with the nondeterministic row of its own bins,
    /// shape and workgroup size, never with a faster one of another case (the old pairing
    /// matched on op, precision, accumulator, size and input only).
    #[test]
    fn cost_pairs_follow_the_result_key() {
        let rows = vec![
            // scatter_add into 1 bin (contended: atomics slow) and into 1024 bins (fast).
            bins(rec("scatter_add", "atomic_cas", false, 10.0), 1),
            bins(rec("scatter_add", "atomic_cas", false, 1.0), 1024),
            bins(rec("scatter_add", "sort_segmented", true, 10.7), 1),
            bins(rec("scatter_add", "sort_segmented", true, 2.41), 1024),
            // matmul with the same M*N and different K.
            shape(rec("matmul", "split_k", false, 8.0), [64, 64, 4096]),
            shape(rec("matmul", "split_k", false, 1.0), [64, 64, 16]),
            shape(rec("matmul", "tiled", true, 4.0), [64, 64, 4096]),
            shape(rec("matmul", "tiled", true, 1.5), [64, 64, 16]),
            // Two workgroup sizes; the atomic row's workgroup count is its own choice.
            wg(rec("sum", "atomic", false, 2.0), 64, 100),
            wg(rec("sum", "atomic", false, 0.5), 1024, 7),
            wg(rec("sum", "tree", true, 2.2), 64, 64),
            wg(rec("sum", "tree", true, 0.6), 1024, 4),
        ];
        let env = Env::default();
        let s = of_report(&rows, &env);
        let d = &s.devices[0];
        assert_eq!(d.cost_pairs.len(), 6);
        let find = |case: &str| {
            d.cost_pairs
                .iter()
                .find(|p| p.case.contains(case))
                .unwrap_or_else(|| panic!("{case}: {:#?}", d.cost_pairs))
        };
        let close = |p: &CostPair, want: f64| {
            let r = p.ratio.expect("paired");
            assert!((r - want).abs() < 1e-9, "{}: {r} != {want}", p.case);
        };
        close(find("sort_segmented n=4096 bins=1 "), 1.07);
        close(find("sort_segmented n=4096 bins=1024 "), 2.41);
        close(find("tiled n=4096 shape=[64,64,4096]"), 0.5);
        close(find("tiled n=4096 shape=[64,64,16]"), 1.5);
        close(find("tree n=4096 wg=64 "), 1.1);
        close(find("tree n=4096 wg=1024 "), 1.2);
        // A ratio below 1 (beyond the spread) is a speed-up, not a cost.
        assert_eq!(find("shape=[64,64,4096]").verdict, "speed-up");
        assert_eq!(find("bins=1024 ").verdict, "cost");
        for p in &d.cost_pairs {
            let (l, h) = (p.ratio_low.unwrap(), p.ratio_high.unwrap());
            assert!(l <= p.ratio.unwrap() && p.ratio.unwrap() <= h, "{p:#?}");
        }
    }

    /// The kept lavapipe scatter report: every deterministic row's baseline has the same
    /// bins, input and workgroup size (72 of its 108 rows were paired across bin counts).
    #[test]
    fn kept_scatter_report_pairs_within_the_key() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/lavapipe/scatter.json");
        let rep = crate::report::load_report(&path).expect("kept report");
        let s = of_report(&rep.results, &rep.env);
        let mut checked = 0;
        for d in &s.devices {
            for p in d.cost_pairs.iter().filter(|p| p.baseline_variant.is_some()) {
                let base = rep
                    .results
                    .iter()
                    .find(|r| {
                        Some(&r.variant) == p.baseline_variant.as_ref()
                            && !r.deterministic_variant
                            && r.median_ms == p.baseline_median_ms
                            && r.bins == p.bins
                            && r.input == p.input
                            && r.size == p.size
                            && r.precision == p.precision
                            && r.launch.workgroup_size == p.workgroup_size
                    })
                    .unwrap_or_else(|| panic!("baseline of {} is another case", p.case));
                assert_eq!(base.op, p.op);
                checked += 1;
            }
        }
        assert!(checked > 0, "no pairs in the kept report");
    }

    /// Atomic variants whose runs happened to agree are never listed as reproducible.
    #[test]
    fn an_adapters_plain_path_is_the_cost_reference() {
        let env = Env::default();
        let mut permuted = rec("sum", "permuted", false, 9.0);
        permuted
            .extra
            .insert("plain_path".into(), serde_json::json!(false));
        let mut plain = rec("sum", "plain", false, 4.0);
        plain
            .extra
            .insert("plain_path".into(), serde_json::json!(true));
        let mut det = rec("sum", "deterministic", true, 6.0);
        det.extra
            .insert("plain_path".into(), serde_json::json!(false));
        let rows = [(&permuted, &env), (&plain, &env), (&det, &env)];
        let pairs = cost_pairs(&rows);
        assert_eq!(pairs.len(), 1, "{pairs:?}");
        let p = &pairs[0].1;
        assert_eq!(p.baseline_variant.as_deref(), Some("plain"));
        assert_eq!(p.ratio, Some(1.5));
        // Without a declared plain path, the fastest nondeterministic mode is the reference.
        permuted.extra.clear();
        plain.extra.clear();
        det.extra.clear();
        let rows = [(&permuted, &env), (&plain, &env), (&det, &env)];
        assert_eq!(
            cost_pairs(&rows)[0].1.baseline_variant.as_deref(),
            Some("plain")
        );
        plain.median_ms = Some(20.0);
        plain.times_ms = vec![20.0];
        let rows = [(&permuted, &env), (&plain, &env), (&det, &env)];
        assert_eq!(
            cost_pairs(&rows)[0].1.baseline_variant.as_deref(),
            Some("permuted")
        );
    }

    #[test]
    fn agreement_by_chance_is_not_reproducibility() {
        let rows = vec![
            rec("sum", "atomic", false, 1.0),
            rec("sum", "tree", true, 1.2),
            rec("scatter_add", "privatized", false, 1.0),
        ];
        let s = of_report(&rows, &Env::default());
        let d = &s.devices[0];
        assert_eq!(d.reproducible, vec!["sum tree"]);
        let agreed: Vec<&str> = d
            .agreed_by_chance
            .iter()
            .map(|a| a.variant.as_str())
            .collect();
        assert_eq!(agreed, ["scatter_add privatized", "sum atomic"]);
        assert_eq!(d.agreed_by_chance[0].runs, 5);
    }

    /// The worst error is the largest error (ULP and relative) per class, so an atomic sum
    /// 414 ULP off is named even though its loose bound makes it far from the bound; the
    /// row closest to its bound is reported separately.
    #[test]
    fn worst_error_is_the_largest_error_per_class() {
        let mut atomic = rec("sum", "atomic", false, 1.0);
        atomic.max_ulp_err = Some(414);
        atomic.max_rel_err = Some(2.5e-5);
        atomic.max_abs_err = Some(1e-3);
        atomic.error_bound = Some(1.0);
        let mut kahan = rec("dot", "kahan", true, 1.0);
        kahan.max_ulp_err = Some(1);
        kahan.max_rel_err = Some(6e-8);
        kahan.max_abs_err = Some(1e-7);
        kahan.error_bound = Some(1.2e-7);
        let s = of_report(&[atomic, kahan], &Env::default());
        let d = &s.devices[0];
        let nd = d
            .worst_errors
            .iter()
            .find(|w| w.class == "nondeterministic")
            .unwrap();
        assert_eq!(nd.max_ulp_err, Some(414));
        assert!(nd.ulp_case.starts_with("sum f32/f32 atomic"), "{nd:?}");
        let det = d
            .worst_errors
            .iter()
            .find(|w| w.class == "deterministic")
            .unwrap();
        assert_eq!(det.max_ulp_err, Some(1));
        let c = d.closest_to_bound.as_ref().unwrap();
        assert!(c.case.starts_with("dot f32/f32 kahan"), "{c:?}");
    }
}
