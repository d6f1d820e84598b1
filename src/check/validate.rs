//! Validation: reports that cannot be compared are bad input (exit 2).

use crate::error::DetError;
use crate::numerics::ulp::ulp_distance;
use crate::numerics::Precision;
use crate::report::key::{self, DeviceId, ResultKey};
use crate::report::{Report, ResultRecord};
use crate::shared::stats::median;
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
    inconsistency(r).map(|p| format!("is ok but contradicts itself: {p}"))
}

/// Why a row's `output_blocks` is not the sketch detbench writes (so `check` cannot locate
/// a difference with it), or None: a layout that does not cover the output, a hash that is
/// not 16 hex digits, a kept element that is not the output format's bits in hex.
fn sketch_problem(r: &ResultRecord) -> Option<String> {
    let sk = r.output_blocks.as_ref()?;
    let bad = |what: String| Some(format!("output_blocks {what}"));
    if sk.block == 0 || sk.elements == 0 || sk.blocks() > crate::report::OutputBlocks::MAX_BLOCKS {
        return bad(format!(
            "cuts {} elements into blocks of {} (at most {} blocks of at least 1)",
            sk.elements,
            sk.block,
            crate::report::OutputBlocks::MAX_BLOCKS
        ));
    }
    if sk.hashes.len() as u64 != sk.blocks() {
        return bad(format!(
            "has {} hashes for {} blocks",
            sk.hashes.len(),
            sk.blocks()
        ));
    }
    let kept: u64 = (0..sk.blocks()).map(|b| sk.span(b).2).sum();
    if sk.heads.len() as u64 != kept {
        return bad(format!(
            "keeps {} elements where its layout keeps {kept}",
            sk.heads.len()
        ));
    }
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_hexdigit());
    if let Some(h) = sk.hashes.iter().find(|h| !hex(h, 16)) {
        return bad(format!("holds the hash '{h}', not 16 hex digits"));
    }
    let p = [&r.output_precision, &r.precision]
        .into_iter()
        .find_map(|s| s.parse::<Precision>().ok())?;
    if let Some(h) = sk.heads.iter().find(|h| !hex(h, 2 * p.bytes())) {
        return bad(format!(
            "keeps '{h}', not the {} hex digits of a {p} value",
            2 * p.bytes()
        ));
    }
    None
}

/// Longest plausible time of one run (ms): 10^8 ms is 28 hours.
pub const MAX_RUN_MS: f64 = 1e8;

/// Why the fields of an `ok` row cannot all be true at once, or None: times that are not
/// times, a median that is not theirs, errors that are not numbers, and a ULP error that the
/// absolute error of a scalar output rules out.
fn inconsistency(r: &ResultRecord) -> Option<String> {
    if let Some(t) = r
        .times_ms
        .iter()
        .find(|t| !(t.is_finite() && **t >= 0.0 && **t <= MAX_RUN_MS))
    {
        return Some(format!(
            "times_ms holds {t:e}, not a time of one run (finite, 0 to {MAX_RUN_MS:e} ms)"
        ));
    }
    if let (Some(m), Some(true_m)) = (r.median_ms, median(&r.times_ms)) {
        if (m - true_m).abs() > 1e-9 * true_m.abs().max(1e-12) {
            return Some(format!(
                "median_ms {m:e} is not the median of times_ms ({true_m:e})"
            ));
        }
    }
    for (name, v) in [
        ("max_abs_err", r.max_abs_err),
        ("max_rel_err", r.max_rel_err),
        ("error_bound", r.error_bound),
    ] {
        if let Some(x) = v.filter(|x| !(x.is_finite() && *x >= 0.0)) {
            return Some(format!("{name} is {x}, not a finite size"));
        }
    }
    if let Some(p) = sketch_problem(r) {
        return Some(p);
    }
    let (Some(a), Some(u)) = (r.max_abs_err, r.max_ulp_err) else {
        return None;
    };
    if a == 0.0 && u > 0 {
        return Some(format!(
            "max_ulp_err {u} with max_abs_err 0 (an output equal to its exact value is 0 ULP from it)"
        ));
    }
    // A scalar output whose runs all agree: its exact value lies within max_abs_err of
    // the output, so its ULP error is at most the ULPs from the output to output +-
    // max_abs_err (one more for the exact value's rounding, one for the reference's).
    let p = [&r.output_precision, &r.precision]
        .into_iter()
        .find_map(|s| s.parse::<Precision>().ok())?;
    let o = r.output_first.filter(|o| o.is_finite())?;
    if r.distinct_outputs != Some(1) {
        return None;
    }
    let reach = ulp_distance(p, o, p.round(o + a)).max(ulp_distance(p, o, p.round(o - a)));
    if reach != u64::MAX && u > reach.saturating_add(2) {
        return Some(format!(
            "max_ulp_err {u} but max_abs_err {a:e} puts the exact value within {reach} ULP of the output {o:e} ({p})"
        ));
    }
    None
}

/// Why a row of the current report contradicts its baseline row, or None: with the same
/// input bytes, the same output bits in every run of both (one distinct output, one
/// fingerprint) and the same detbench build, every error measured from those bits must be
/// the same.
pub(super) fn contradiction(
    base: &ResultRecord,
    cur: &ResultRecord,
    same_build: bool,
) -> Option<String> {
    if !(same_build
        && base.status == "ok"
        && cur.status == "ok"
        && base.distinct_outputs == Some(1)
        && cur.distinct_outputs == Some(1)
        && base.fingerprint.is_some()
        && base.fingerprint == cur.fingerprint
        && base.input_sha256 == cur.input_sha256
        && !base.input_sha256.is_empty())
    {
        return None;
    }
    let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (None, None) => true,
        _ => false,
    };
    let show = |v: Option<f64>| v.map(|x| format!("{x:e}")).unwrap_or_else(|| "null".into());
    if base.max_ulp_err != cur.max_ulp_err {
        return Some(format!(
            "max_ulp_err {} -> {}",
            base.max_ulp_err.unwrap_or(0),
            cur.max_ulp_err.unwrap_or(0)
        ));
    }
    for (name, a, b) in [
        ("max_abs_err", base.max_abs_err, cur.max_abs_err),
        ("max_rel_err", base.max_rel_err, cur.max_rel_err),
        ("output_first", base.output_first, cur.output_first),
        ("exact", base.exact, cur.exact),
    ] {
        if !same(a, b) {
            return Some(format!("{name} {} -> {}", show(a), show(b)));
        }
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
