//! Validation: reports that cannot be compared are bad input (exit 2).

use crate::error::DetError;
use crate::report::key::{self, DeviceId, ResultKey};
use crate::report::{Report, ResultRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Why an `ok` row cannot be trusted, or None.
pub(super) fn ok_row_problem(r: &ResultRecord) -> Option<String> {
    if r.status != "ok" {
        return None;
    }
    let mut missing = Vec::new();
    for (name, present) in [
        ("distinct_outputs", r.distinct_outputs.is_some()),
        ("bitwise_reproducible", r.bitwise_reproducible.is_some()),
        ("max_ulp_run_to_run", r.max_ulp_run_to_run.is_some()),
        ("max_abs_err", r.max_abs_err.is_some()),
        ("max_ulp_err", r.max_ulp_err.is_some()),
        ("error_bound", r.error_bound.is_some()),
        ("fingerprint", r.fingerprint.is_some()),
        ("times_ms", !r.times_ms.is_empty()),
    ] {
        if !present {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        return Some(format!(
            "is ok but lacks {} (an ok row needs every measurement and a finite bound)",
            missing.join(", ")
        ));
    }
    if r.runs == 0 || r.times_ms.len() as u64 != r.runs {
        return Some(format!(
            "is ok but has {} times for {} runs",
            r.times_ms.len(),
            r.runs
        ));
    }
    if let (Some(e), Some(b)) = (r.max_abs_err, r.error_bound) {
        if e > b || r.bound_violations > 0 {
            return Some(format!(
                "is ok but breaks its bound (max_abs_err {e:.3e} vs bound {b:.3e}, {} bound violations)",
                r.bound_violations
            ));
        }
    }
    if r.bitwise_reproducible == Some(true) && r.distinct_outputs != Some(1) {
        return Some(format!(
            "says bitwise_reproducible but has {} distinct outputs",
            r.distinct_outputs.unwrap_or(0)
        ));
    }
    None
}

/// Keys of a usable report; bad input otherwise.
pub(super) fn usable<'a>(
    what: &str,
    path: &Path,
    r: &'a Report,
) -> Result<BTreeMap<ResultKey, &'a ResultRecord>, DetError> {
    let name = format!("{what} {}", path.display());
    if r.results.is_empty() {
        return Err(DetError::input(format!(
            "{name} holds no results: nothing to check against"
        )));
    }
    if r.partial {
        return Err(DetError::input(format!(
            "{name} is partial (the run was interrupted): rerun it to the end"
        )));
    }
    let index = key::index(r).map_err(|e| DetError::input(format!("{name}: {e}")))?;
    let mut problems = Vec::new();
    for (k, rec) in &index {
        if let Some(p) = ok_row_problem(rec) {
            problems.push(format!("{k} {p}"));
        }
    }
    if let Some(first) = problems.first() {
        let more = match problems.len() {
            1 => String::new(),
            n => format!(" (and {} more rows)", n - 1),
        };
        return Err(DetError::input(format!("{name}: {first}{more}")));
    }
    Ok(index)
}

/// Drops PCI ids from the keys of devices whose ids one report lacks (reports written
/// before the ids were recorded still match by backend and stable name).
pub(super) fn align_ids<'a>(
    base: BTreeMap<ResultKey, &'a ResultRecord>,
    cur: BTreeMap<ResultKey, &'a ResultRecord>,
) -> (
    BTreeMap<ResultKey, &'a ResultRecord>,
    BTreeMap<ResultKey, &'a ResultRecord>,
) {
    let devices = |m: &BTreeMap<ResultKey, &ResultRecord>| -> BTreeSet<DeviceId> {
        m.keys().map(|k| k.device.clone()).collect()
    };
    let (db, dc) = (devices(&base), devices(&cur));
    let strip: BTreeSet<DeviceId> = db
        .iter()
        .filter(|d| !dc.contains(d))
        .map(DeviceId::without_ids)
        .filter(|bare| dc.iter().any(|c| c.without_ids() == *bare))
        .collect();
    let fix = |m: BTreeMap<ResultKey, &'a ResultRecord>| {
        m.into_iter()
            .map(|(k, r)| {
                if strip.contains(&k.device.without_ids()) {
                    (k.without_ids(), r)
                } else {
                    (k, r)
                }
            })
            .collect()
    };
    (fix(base), fix(cur))
}

/// Refuses reports of other devices and reports with nothing in common.
pub(super) fn compatible(
    base: &BTreeMap<ResultKey, &ResultRecord>,
    cur: &BTreeMap<ResultKey, &ResultRecord>,
) -> Result<(), DetError> {
    let by_backend = |m: &BTreeMap<ResultKey, &ResultRecord>| {
        let mut out: BTreeMap<String, BTreeSet<DeviceId>> = BTreeMap::new();
        for k in m.keys() {
            out.entry(k.device.backend.clone())
                .or_default()
                .insert(k.device.clone());
        }
        out
    };
    let (bb, cb) = (by_backend(base), by_backend(cur));
    for (backend, bdev) in &bb {
        if let Some(cdev) = cb.get(backend) {
            if bdev.is_disjoint(cdev) {
                let list = |s: &BTreeSet<DeviceId>| {
                    s.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(DetError::input(format!(
                    "incompatible: the baseline's {backend} results are from {} and the current ones from {}; compare reports of the same device",
                    list(bdev),
                    list(cdev)
                )));
            }
        }
    }
    if !base.keys().any(|k| cur.contains_key(k)) {
        return Err(DetError::input(
            "nothing comparable: no result of the current report has the key of a baseline result (other ops, sizes, seeds or launches?)",
        ));
    }
    Ok(())
}
