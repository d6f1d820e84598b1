//! `detbench check`: compares a current report with a baseline, for CI.
//!
//! Rows are matched by the one result key ([`crate::report::key`]): case, launch, ordering
//! and the stable device identity. Before comparing, both reports must be usable; anything
//! else is bad input (exit 2): an empty or partial report, two rows under one key, an `ok`
//! row without its measurements or breaking its bound, reports of other devices on the
//! same backend ("incompatible"), or no key in common ("nothing comparable").
//!
//! Two kinds of finding make a regression (exit 1):
//! - **numeric**: an `ok` row that stopped running ok or vanished; inputs that changed; a
//!   deterministic variant whose bits changed or that stopped being reproducible; an error
//!   (or run-to-run spread) that grew beyond `--error-growth` x the baseline's scale +
//!   `--ulp-slack` ULP. A nondeterministic (atomic) variant is judged by the size of its
//!   wander, never by whether the baseline's few runs happened to agree: its scale is the
//!   larger of its largest error and its run-to-run spread, and its distinct-output rate is
//!   reported, not judged.
//! - **performance**: a slowdown that is significant (one-sided Mann-Whitney U on
//!   `times_ms` at `--alpha`) AND whose median ratio exceeds both 1 + `--max-slowdown` and
//!   the noise measured in the two reports (each sample's upper-to-lower quartile ratio).
//!   `--no-timing` turns these off.
//!
//! The environments (driver, Mesa/LLVM, NVRTC, detbench version and commit, compile options,
//! kernel hashes, device names) are compared first; every changed fingerprint names the
//! differences that concern its backend as the likely cause.

use crate::error::{DetError, Outcome};
use crate::report::key::{self, DeviceId, ResultKey};
use crate::report::{self, Env, Report, ResultRecord};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use statrs::distribution::{ContinuousCDF, Normal};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Default significance level of the timing test.
pub const DEFAULT_ALPHA: f64 = 0.01;
/// Default smallest median slowdown (fraction) that can count as a regression.
pub const DEFAULT_MAX_SLOWDOWN: f64 = 0.25;
/// Default factor by which an error or spread may grow over the baseline's scale.
pub const DEFAULT_ERROR_GROWTH: f64 = 2.0;
/// Default ULPs allowed on top of the growth factor.
pub const DEFAULT_ULP_SLACK: u64 = 2;

/// The thresholds and switches of `check`.
#[derive(clap::Args, Clone, Debug)]
pub struct CheckOptions {
    /// A slowdown fails only when the median time grew by more than this fraction (0.25 = 25%) and beyond the noise of both reports.
    #[arg(long, default_value_t = DEFAULT_MAX_SLOWDOWN)]
    pub max_slowdown: f64,
    /// Significance level of the one-sided Mann-Whitney U test on each row's times.
    #[arg(long, default_value_t = DEFAULT_ALPHA)]
    pub alpha: f64,
    /// ULPs an error or run-to-run spread may exceed growth x baseline by.
    #[arg(long, default_value_t = DEFAULT_ULP_SLACK)]
    pub ulp_slack: u64,
    /// Factor an error or run-to-run spread may grow by over the baseline's scale.
    #[arg(long, default_value_t = DEFAULT_ERROR_GROWTH)]
    pub error_growth: f64,
    /// Do not judge timings (only numeric findings fail).
    #[arg(long)]
    pub no_timing: bool,
    /// Replace the baseline with the current report (atomically) once its changes are understood; exit 0 unless the current report is unusable.
    #[arg(long)]
    pub accept: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            max_slowdown: DEFAULT_MAX_SLOWDOWN,
            alpha: DEFAULT_ALPHA,
            ulp_slack: DEFAULT_ULP_SLACK,
            error_growth: DEFAULT_ERROR_GROWTH,
            no_timing: false,
            accept: false,
        }
    }
}

impl CheckOptions {
    fn validate(&self) -> Result<(), DetError> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(DetError::input(format!(
                "--alpha must be between 0 and 1, got {}",
                self.alpha
            )));
        }
        if !(self.max_slowdown.is_finite() && self.max_slowdown >= 0.0) {
            return Err(DetError::input(format!(
                "--max-slowdown must be a fraction >= 0, got {}",
                self.max_slowdown
            )));
        }
        if !(self.error_growth.is_finite() && self.error_growth >= 1.0) {
            return Err(DetError::input(format!(
                "--error-growth must be at least 1, got {}",
                self.error_growth
            )));
        }
        Ok(())
    }
}

/// Numeric or performance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Numeric,
    Performance,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Performance => "performance",
        }
    }
}

/// One regression: what changed, its likely cause and what to do.
#[derive(Clone, Debug)]
pub struct Finding {
    pub kind: Kind,
    pub what: String,
    pub cause: String,
    pub todo: String,
}

impl Finding {
    /// "what; likely cause: ...; to do: ...".
    pub fn sentence(&self) -> String {
        format!(
            "{}; likely cause: {}; to do: {}",
            self.what, self.cause, self.todo
        )
    }
}

/// What the check found for one result key.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub key: ResultKey,
    pub findings: Vec<Finding>,
    /// Things worth knowing that are not regressions.
    pub notes: Vec<String>,
    /// A slowdown beyond every threshold, with its p-value, before the correction for
    /// the number of such rows.
    pub slowdown: Option<(f64, Finding)>,
}

/// One difference between the two environments.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvChange {
    /// Which results it can concern: None for all, or one backend, or one device.
    pub backend: Option<String>,
    pub device: Option<DeviceId>,
    /// What changed ("wgpu driver", "kernel kernels/wgsl/reduce.wgsl", "rustc").
    pub component: String,
    pub before: String,
    pub after: String,
}

impl EnvChange {
    fn concerns(&self, d: &DeviceId) -> bool {
        match (&self.device, &self.backend) {
            (Some(dev), _) => dev.without_ids() == d.without_ids(),
            (None, Some(b)) => *b == d.backend,
            (None, None) => true,
        }
    }

    pub fn describe(&self) -> String {
        format!("{}: {} -> {}", self.component, self.before, self.after)
    }
}

/// Result of a Mann-Whitney U test that the second sample is stochastically larger.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MannWhitney {
    /// One-sided p-value, and whether it was computed exactly (no ties, small samples).
    P { p: f64, exact: bool },
    /// No p-value at or below alpha is attainable with these sample sizes.
    TooFewRuns { min_p: f64 },
}

/// One-sided Mann-Whitney U test of H1 "values in `b` tend to be larger than in `a`", in
/// O(n log n): U comes from the ranks of the sorted pooled sample (ties get mid-ranks).
///
/// Without ties and with both samples of at most 30 values, the exact null distribution of U
/// is counted by recursion over the pooled ranks; otherwise the normal approximation with
/// tie correction and continuity correction is used.
pub fn mann_whitney_greater(a: &[f64], b: &[f64], alpha: f64) -> MannWhitney {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return MannWhitney::TooFewRuns { min_p: 1.0 };
    }
    // The smallest attainable one-sided p is 1 / C(n1 + n2, n1).
    let min_p = 1.0 / binomial(n1 + n2, n1);
    if min_p > alpha {
        return MannWhitney::TooFewRuns { min_p };
    }
    let mut pooled: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, false))
        .chain(b.iter().map(|&y| (y, true)))
        .collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Rank sum of b with mid-ranks for ties, and the tie term sum(t^3 - t).
    let mut rank_sum_b = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let mut j = i;
        while j + 1 < pooled.len() && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        // Ranks i+1 ..= j+1 share their mean.
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_b += mid * pooled[i..=j].iter().filter(|p| p.1).count() as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let (f1, f2) = (n1 as f64, n2 as f64);
    // U_b counts pairs (a_i, b_j) with b_j > a_i (ties count one half).
    let u = rank_sum_b - f2 * (f2 + 1.0) / 2.0;
    if tie_term == 0.0 && n1 <= 30 && n2 <= 30 {
        // P(U >= u) under H0 = #{arrangements with U >= u} / C(n1+n2, n1).
        let counts = u_distribution(n1, n2);
        let total: f64 = counts.iter().sum();
        let u = u.round() as usize;
        let tail: f64 = counts[u.min(counts.len())..].iter().sum();
        return MannWhitney::P {
            p: tail / total,
            exact: true,
        };
    }
    let n = f1 + f2;
    let mean = f1 * f2 / 2.0;
    let var = f1 * f2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var <= 0.0 {
        return MannWhitney::P {
            p: 1.0,
            exact: false,
        };
    }
    let z = (u - mean - 0.5) / var.sqrt();
    let normal = Normal::new(0.0, 1.0).expect("standard normal");
    MannWhitney::P {
        p: normal.sf(z),
        exact: false,
    }
}

/// counts[u] = number of rank arrangements of n1 + n2 distinct values giving U = u.
fn u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    // f(i, j) is the distribution of U_b (pairs with b > a) for i values of a and j of b.
    // The largest pooled value is either from a (adds nothing: f(i-1, j)) or from b (beats
    // all i values of a: f(i, j-1) shifted by i).
    let max_u = n1 * n2;
    let mut prev: Vec<Vec<f64>> = vec![vec![0.0; max_u + 1]; n2 + 1];
    for row in prev.iter_mut() {
        row[0] = 1.0; // i = 0: U = 0 always.
    }
    for i in 1..=n1 {
        let mut cur: Vec<Vec<f64>> = vec![vec![0.0; max_u + 1]; n2 + 1];
        cur[0][0] = 1.0;
        for j in 1..=n2 {
            for u in 0..=max_u {
                let mut c = prev[j][u];
                if u >= i {
                    c += cur[j - 1][u - i];
                }
                cur[j][u] = c;
            }
        }
        prev = cur;
    }
    prev[n2].clone()
}

fn binomial(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// The q-quantile (0..=1) of a sample by linear interpolation between order statistics.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(s[lo] + (s[hi] - s[lo]) * (pos - lo as f64))
}

/// A sample's own noise as a ratio: upper quartile / lower quartile (1 when flat).
pub fn noise_ratio(v: &[f64]) -> f64 {
    match (quantile(v, 0.25), quantile(v, 0.75)) {
        (Some(lo), Some(hi)) if lo > 0.0 => hi / lo,
        _ => 1.0,
    }
}

// ---------------------------------------------------------------------------------------
// Validation: reports that cannot be compared are bad input.

/// Why an `ok` row cannot be trusted, or None.
fn ok_row_problem(r: &ResultRecord) -> Option<String> {
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
fn usable<'a>(
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
fn align_ids<'a>(
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
fn compatible(
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

// ---------------------------------------------------------------------------------------
// Environment differences.

/// Runtime readings that change from run to run and are no part of the environment.
fn is_reading(detail: &str) -> bool {
    [
        "temperature",
        "power_w",
        "_mhz",
        "utilization",
        "memory_used",
        "fan",
    ]
    .iter()
    .any(|w| detail.contains(w))
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

fn short(h: &str) -> String {
    h.chars().take(12).collect()
}

/// The backend a kernel source belongs to, by its path.
fn kernel_backend(path: &str) -> Option<String> {
    if path.contains("wgsl") {
        Some("wgpu".into())
    } else if path.contains("cuda") || path.ends_with(".cu") || path.ends_with(".cuh") {
        Some("cuda".into())
    } else {
        None
    }
}

/// Every difference between two environments that can change results.
pub fn env_changes(base: &Env, cur: &Env) -> Vec<EnvChange> {
    let mut out = Vec::new();
    let mut push = |backend: Option<String>,
                    device: Option<DeviceId>,
                    component: String,
                    before: String,
                    after: String| {
        out.push(EnvChange {
            backend,
            device,
            component,
            before,
            after,
        })
    };
    for (name, a, b) in [
        ("detbench version", &base.tool_version, &cur.tool_version),
        ("detbench commit", &base.git_commit, &cur.git_commit),
        ("rustc", &base.rustc, &cur.rustc),
        ("os", &base.os, &cur.os),
        ("host cpu", &base.cpu, &cur.cpu),
    ] {
        if a != b {
            push(None, None, name.into(), format!("'{a}'"), format!("'{b}'"));
        }
    }
    let paths: BTreeSet<&String> = base
        .kernel_hashes
        .keys()
        .chain(cur.kernel_hashes.keys())
        .collect();
    for p in paths {
        let (a, b) = (base.kernel_hashes.get(p), cur.kernel_hashes.get(p));
        if a != b {
            let h = |x: Option<&String>| x.map(|s| short(s)).unwrap_or_else(|| "(none)".into());
            push(
                kernel_backend(p),
                None,
                format!("kernel {p}"),
                format!("sha256 {}", h(a)),
                format!("sha256 {}", h(b)),
            );
        }
    }
    let backends: BTreeSet<&String> = base
        .compile_options
        .keys()
        .chain(cur.compile_options.keys())
        .collect();
    for b in backends {
        let (x, y) = (base.compile_options.get(b), cur.compile_options.get(b));
        if let (Some(x), Some(y)) = (x, y) {
            if x != y {
                // Name the changed options, not the whole object.
                match (x.as_object(), y.as_object()) {
                    (Some(xo), Some(yo)) => {
                        let keys: BTreeSet<&String> = xo.keys().chain(yo.keys()).collect();
                        for k in keys {
                            let (xv, yv) = (xo.get(k), yo.get(k));
                            if xv != yv {
                                let s = |v: Option<&serde_json::Value>| {
                                    v.map(show).unwrap_or_else(|| "(none)".into())
                                };
                                push(
                                    Some(b.clone()),
                                    None,
                                    format!("{b} compile option {k}"),
                                    s(xv),
                                    s(yv),
                                );
                            }
                        }
                    }
                    _ => push(
                        Some(b.clone()),
                        None,
                        format!("{b} compile options"),
                        x.to_string(),
                        y.to_string(),
                    ),
                }
            }
        }
    }
    for (k, a) in &base.extra {
        if let Some(b) = cur.extra.get(k) {
            if a != b {
                push(None, None, format!("env {k}"), show(a), show(b));
            }
        }
    }
    // Devices, matched by their stable identity.
    let ident =
        |d: &crate::backend::DeviceInfo| (d.backend.clone(), key::stable_device_name(&d.name));
    for bd in &base.devices {
        let Some(cd) = cur.devices.iter().find(|c| ident(c) == ident(bd)) else {
            continue;
        };
        let dev = DeviceId {
            backend: bd.backend.clone(),
            vendor_id: None,
            device_id: None,
            name: key::stable_device_name(&bd.name),
        };
        let label = format!("{} {}", dev.backend, dev.name);
        if bd.name != cd.name {
            push(
                None,
                Some(dev.clone()),
                format!("{label} device name"),
                format!("'{}'", bd.name),
                format!("'{}'", cd.name),
            );
        }
        if bd.driver != cd.driver {
            push(
                None,
                Some(dev.clone()),
                format!("{label} driver"),
                format!("'{}'", bd.driver),
                format!("'{}'", cd.driver),
            );
        }
        let keys: BTreeSet<&String> = bd.details.keys().chain(cd.details.keys()).collect();
        for k in keys.into_iter().filter(|k| !is_reading(k)) {
            let (x, y) = (bd.details.get(k), cd.details.get(k));
            if x != y {
                let s =
                    |v: Option<&serde_json::Value>| v.map(show).unwrap_or_else(|| "(none)".into());
                push(None, Some(dev.clone()), format!("{label} {k}"), s(x), s(y));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Comparing one row.

fn sci(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3e}")).unwrap_or_else(|| "-".into())
}

/// The environment changes that concern a device, as one phrase.
fn env_cause(changes: &[EnvChange], d: &DeviceId) -> Option<String> {
    let mine: Vec<String> = changes
        .iter()
        .filter(|c| c.concerns(d))
        .map(EnvChange::describe)
        .collect();
    (!mine.is_empty()).then(|| format!("the environment changed: {}", mine.join("; ")))
}

/// Compares one matched pair.
pub fn compare(
    key: &ResultKey,
    base: &ResultRecord,
    cur: &ResultRecord,
    changes: &[EnvChange],
    opts: &CheckOptions,
    drift: Drift,
) -> Verdict {
    compare_with(key, base, cur, changes, opts, drift, None)
}

/// How one row's median time varies from baseline report to baseline report (two or
/// more baselines): the between-report noise that the runs inside one report do not show.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Between {
    /// The slowest of the baselines' medians (ms).
    pub slowest: f64,
    /// Slowest / fastest baseline median (1 when they agree).
    pub spread: f64,
    /// Baseline reports with a median for this row.
    pub reports: usize,
}

/// [`compare`], with the row's between-report noise when several baselines measured it.
fn compare_with(
    key: &ResultKey,
    base: &ResultRecord,
    cur: &ResultRecord,
    changes: &[EnvChange],
    opts: &CheckOptions,
    drift: Drift,
    between: Option<Between>,
) -> Verdict {
    let mut v = Verdict {
        key: key.clone(),
        findings: Vec::new(),
        notes: Vec::new(),
        slowdown: None,
    };
    let cause = env_cause(changes, &key.device);
    let cause_or = |fallback: &str| cause.clone().unwrap_or_else(|| fallback.to_string());
    let accept = "if the change is intended, run `detbench check --accept` to make the current report the baseline";
    if base.status != "ok" {
        if cur.status == "ok" {
            v.notes
                .push(format!("was {} in the baseline, now runs ok", base.status));
        } else if cur.status != base.status {
            v.notes.push(format!(
                "status {} -> {}: {}",
                base.status, cur.status, cur.message
            ));
        }
        return v;
    }
    if cur.status != "ok" {
        v.findings.push(Finding {
            kind: Kind::Numeric,
            what: format!(
                "ran ok in the baseline, now {}: {}",
                cur.status,
                if cur.message.is_empty() {
                    "(no message)"
                } else {
                    &cur.message
                }
            ),
            cause: cause_or("no environment difference recorded: the kernel or detbench changed"),
            todo: "rerun this case with --dump to inspect its outputs; fix the kernel or the device setup".into(),
        });
        return v;
    }
    if !base.input_sha256.is_empty()
        && !cur.input_sha256.is_empty()
        && base.input_sha256 != cur.input_sha256
    {
        v.findings.push(Finding {
            kind: Kind::Numeric,
            what: format!(
                "the same input spec and seed now give other input bytes (sha256 {} -> {}), so the outputs are not comparable",
                short(&base.input_sha256),
                short(&cur.input_sha256)
            ),
            cause: "the input generator changed (another detbench version?)".into(),
            todo: "make a new baseline with this detbench version and `check --accept` it".into(),
        });
        return v;
    }
    let deterministic = base.deterministic_variant || cur.deterministic_variant;
    if deterministic {
        compare_deterministic(&mut v, base, cur, &cause, accept);
    } else {
        v.notes.push(format!(
            "nondeterministic variant: {}/{} distinct outputs (baseline {}/{}), spread {} ULP (baseline {}), max error {} ULP (baseline {})",
            cur.distinct_outputs.unwrap_or(0),
            cur.runs,
            base.distinct_outputs.unwrap_or(0),
            base.runs,
            cur.max_ulp_run_to_run.unwrap_or(0),
            base.max_ulp_run_to_run.unwrap_or(0),
            cur.max_ulp_err.unwrap_or(0),
            base.max_ulp_err.unwrap_or(0),
        ));
    }
    if deterministic {
        compare_error(&mut v, base, cur, &cause, opts);
    } else if let (Some(e), Some(b)) = (cur.max_abs_err, cur.error_bound) {
        // Judged by its bound (an ok row is within it); its largest error over a few runs
        // is one draw of a maximum, so growth against the baseline's draw is not judged.
        v.notes.push(format!(
            "error {e:.3e} is {:.1}% of its a-priori bound {b:.3e}",
            if b > 0.0 { 100.0 * e / b } else { 0.0 }
        ));
    }
    if base.timer != cur.timer && !base.timer.is_empty() && !cur.timer.is_empty() {
        v.notes.push(format!(
            "timer changed ({} -> {}): timings compared anyway",
            base.timer, cur.timer
        ));
    }
    if !opts.no_timing {
        compare_timing(&mut v, base, cur, &cause, opts, drift, between);
    }
    v
}

fn compare_deterministic(
    v: &mut Verdict,
    base: &ResultRecord,
    cur: &ResultRecord,
    cause: &Option<String>,
    accept: &str,
) {
    if cur.bitwise_reproducible == Some(false) {
        let was = if base.bitwise_reproducible == Some(true) {
            "it was reproducible in the baseline"
        } else {
            "it was not reproducible in the baseline either"
        };
        v.findings.push(Finding {
            kind: Kind::Numeric,
            what: format!(
                "deterministic variant is not bitwise reproducible: {} distinct outputs over {} runs, up to {} ULP apart ({was})",
                cur.distinct_outputs.unwrap_or(0),
                cur.runs,
                cur.max_ulp_run_to_run.unwrap_or(0)
            ),
            cause: cause.clone().unwrap_or_else(|| {
                "no environment difference recorded: a race or an unordered atomic in the kernel".into()
            }),
            todo: "treat as a bug: rerun with --runs 20 --dump to capture differing outputs and bisect the kernel or driver".into(),
        });
        return;
    }
    if base.bitwise_reproducible != Some(true) {
        v.notes.push(
            "deterministic variant was not reproducible in the baseline; its fingerprint is not compared".into(),
        );
        return;
    }
    if let (Some(a), Some(b)) = (&base.fingerprint, &cur.fingerprint) {
        if a != b {
            let detail = match (base.output_first, cur.output_first) {
                (Some(x), Some(y)) => format!(" (output {x:e} -> {y:e})"),
                _ => String::new(),
            };
            v.findings.push(Finding {
                kind: Kind::Numeric,
                what: format!(
                    "deterministic variant now gives other bits: fingerprint {} -> {}{detail}",
                    short(a),
                    short(b)
                ),
                cause: cause.clone().unwrap_or_else(|| {
                    "no environment difference recorded: the kernel's order of operations changed (detbench or kernel source built without a new commit?)".into()
                }),
                todo: format!("check that the new bits are within their bound (they are: the row is ok) and explain the change; {accept}"),
            });
        }
    }
}

/// Error growth of a deterministic variant (whose error is one number, not a draw).
fn compare_error(
    v: &mut Verdict,
    base: &ResultRecord,
    cur: &ResultRecord,
    cause: &Option<String>,
    opts: &CheckOptions,
) {
    let (Some(be), Some(ce)) = (base.max_ulp_err, cur.max_ulp_err) else {
        return;
    };
    let limit = (be as f64 * opts.error_growth).ceil() as u64 + opts.ulp_slack;
    if ce > limit {
        v.findings.push(Finding {
            kind: Kind::Numeric,
            what: format!(
                "max error grew to {ce} ULP (abs {}), beyond {limit} ULP = {} x baseline {be} + {} slack",
                sci(cur.max_abs_err),
                opts.error_growth,
                opts.ulp_slack
            ),
            cause: cause
                .clone()
                .unwrap_or_else(|| "no environment difference recorded: the kernel changed".into()),
            todo: "see whether the accumulation order or precision changed; if the new error is intended, `check --accept`".into(),
        });
    }
}

fn compare_timing(
    v: &mut Verdict,
    base: &ResultRecord,
    cur: &ResultRecord,
    cause: &Option<String>,
    opts: &CheckOptions,
    drift: Drift,
    between: Option<Between>,
) {
    let (Some(mb), Some(mc)) = (quantile(&base.times_ms, 0.5), quantile(&cur.times_ms, 0.5)) else {
        return;
    };
    if mb <= 0.0 {
        return;
    }
    let ratio = mc / mb;
    let noise = noise_ratio(&base.times_ms).max(noise_ratio(&cur.times_ms));
    // The fastest run is the least disturbed by a busy machine (load only adds time).
    let min_ratio = match (quantile(&base.times_ms, 0.0), quantile(&cur.times_ms, 0.0)) {
        (Some(a), Some(b)) if a > 0.0 => b / a,
        _ => ratio,
    };
    // Relative to the whole device's shift (a machine that is busier for the whole run).
    let relative = ratio / drift.shift.max(1.0);
    let noise = noise.max(drift.scatter);
    match mann_whitney_greater(&base.times_ms, &cur.times_ms, opts.alpha) {
        MannWhitney::TooFewRuns { min_p } => v.notes.push(format!(
            "timing not judged: with {} and {} runs the one-sided Mann-Whitney U test cannot reach alpha = {} (smallest p = {min_p:.3}); median {mb:.4} -> {mc:.4} ms",
            base.times_ms.len(),
            cur.times_ms.len(),
            opts.alpha
        )),
        MannWhitney::P { p, exact } => {
            let limit = 1.0 + opts.max_slowdown;
            let threshold = limit.max(noise);
            // Runs inside one report are correlated (one process, one scheduling and
            // clock state), so their spread understates how far a rerun's median moves.
            // With several baselines that movement is measured: the current median must
            // also exceed the slowest baseline median by more than the baselines' spread.
            let beyond_between = match between {
                Some(bw) if bw.reports >= 2 => mc > bw.slowest * bw.spread,
                _ => true,
            };
            let between_text = match between {
                Some(bw) if bw.reports >= 2 => format!(
                    "; it is x{:.2} the slowest of {} baseline medians, beyond their spread x{:.2}",
                    mc / bw.slowest,
                    bw.reports,
                    bw.spread
                ),
                _ => "; between-report noise is unmeasured with one baseline (pass 3 or more --baseline reports)".into(),
            };
            if !beyond_between && p < opts.alpha && ratio > threshold && min_ratio > threshold && relative > limit {
                if let Some(bw) = between {
                    v.notes.push(format!(
                        "median {mb:.4} -> {mc:.4} ms (x{ratio:.2}, p = {p:.2e}) but within the between-report noise: the {} baseline medians span x{:.2} up to {:.4} ms",
                        bw.reports, bw.spread, bw.slowest
                    ));
                }
            } else if p < opts.alpha && ratio > threshold && min_ratio > threshold && relative > limit {
                v.slowdown = Some((p, Finding {
                    kind: Kind::Performance,
                    what: format!(
                        "slower: median {mb:.4} -> {mc:.4} ms (x{ratio:.2}, fastest run x{min_ratio:.2}, x{relative:.2} relative to the device's overall shift x{:.2}); one-sided Mann-Whitney U on {}+{} runs gives p = {p:.2e} ({}) < alpha = {}, and the slowdown exceeds both 1 + max-slowdown = {:.2} and the reports' noise (x{noise:.2}: the larger of each row's quartile ratio and the scatter of row shifts on this device){between_text}",
                        drift.shift,
                        base.times_ms.len(),
                        cur.times_ms.len(),
                        if exact { "exact" } else { "normal approximation" },
                        opts.alpha,
                        1.0 + opts.max_slowdown,
                    ),
                    cause: cause.clone().unwrap_or_else(|| {
                        "no environment difference recorded: the kernel, or a busier machine".into()
                    }),
                    todo: "rerun on an idle machine with more --runs; if it persists, profile the kernel (or pass --no-timing where timings cannot be trusted)".into(),
                }));
            } else if ratio > limit {
                v.notes.push(format!(
                    "median {mb:.4} -> {mc:.4} ms (x{ratio:.2}) but not beyond noise: p = {p:.2e}, noise x{noise:.2}, fastest run x{min_ratio:.2}, device shift x{:.2}", drift.shift
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The whole comparison.

/// The whole comparison.
pub struct CheckResult {
    pub env_changes: Vec<EnvChange>,
    pub verdicts: Vec<Verdict>,
    /// Each device's overall timing shift (current / baseline), where measured.
    pub drifts: BTreeMap<DeviceId, Drift>,
    /// Baseline reports compared with (1: between-report noise unmeasured).
    pub baselines: usize,
}

impl CheckResult {
    /// Keys with at least one finding.
    pub fn regressions(&self) -> usize {
        self.verdicts
            .iter()
            .filter(|v| !v.findings.is_empty())
            .count()
    }

    fn count(&self, kind: Kind) -> usize {
        self.verdicts
            .iter()
            .filter(|v| v.findings.iter().any(|f| f.kind == kind))
            .count()
    }
}

/// Matches and compares every result of two reports. Bad or incompatible input is an
/// error (exit 2).
pub fn check_reports(
    base: &Report,
    cur: &Report,
    opts: &CheckOptions,
) -> Result<CheckResult, DetError> {
    check_reports_at(
        &[(base, Path::new("baseline"))],
        cur,
        Path::new("current"),
        opts,
    )
}

/// [`check_reports`] against several baseline reports of the same matrix (reruns). The
/// first is the baseline of every numeric verdict and of the existing timing rules; all
/// of them measure each row's between-report timing noise (see [`Between`]).
pub fn check_reports_multi(
    bases: &[&Report],
    cur: &Report,
    opts: &CheckOptions,
) -> Result<CheckResult, DetError> {
    let named: Vec<(&Report, &Path)> = bases.iter().map(|b| (*b, Path::new("baseline"))).collect();
    check_reports_at(&named, cur, Path::new("current"), opts)
}

/// Each row's between-report noise over the baselines (rows measured by at least two).
fn between_noise(bases: &[BTreeMap<ResultKey, &ResultRecord>]) -> BTreeMap<ResultKey, Between> {
    let mut medians: BTreeMap<ResultKey, Vec<f64>> = BTreeMap::new();
    for b in bases {
        for (k, r) in b {
            if r.status != "ok" {
                continue;
            }
            if let Some(m) = quantile(&r.times_ms, 0.5).filter(|m| *m > 0.0) {
                medians.entry(k.clone()).or_default().push(m);
            }
        }
    }
    medians
        .into_iter()
        .filter(|(_, m)| m.len() >= 2)
        .map(|(k, m)| {
            let hi = m.iter().copied().fold(f64::MIN, f64::max);
            let lo = m.iter().copied().fold(f64::MAX, f64::min);
            (
                k,
                Between {
                    slowest: hi,
                    spread: hi / lo,
                    reports: m.len(),
                },
            )
        })
        .collect()
}

fn check_reports_at(
    bases: &[(&Report, &Path)],
    cur: &Report,
    cur_path: &Path,
    opts: &CheckOptions,
) -> Result<CheckResult, DetError> {
    opts.validate()?;
    let Some(&(base, base_path)) = bases.first() else {
        return Err(DetError::input("no --baseline report given"));
    };
    let c = usable("current report", cur_path, cur)?;
    // Every extra baseline must be usable and comparable with the current report; each is
    // aligned with it on its own.
    let mut others = Vec::new();
    for (r, p) in &bases[1..] {
        let o = usable("baseline", p, r)?;
        let (o, c2) = align_ids(o, c.clone());
        compatible(&o, &c2)?;
        others.push(o);
    }
    let b = usable("baseline", base_path, base)?;
    let (b, c) = align_ids(b, c);
    compatible(&b, &c)?;
    let between = if others.is_empty() {
        BTreeMap::new()
    } else {
        let mut all = vec![b.clone()];
        all.extend(others);
        between_noise(&all)
    };
    let changes = env_changes(&base.env, &cur.env);
    let drifts = device_drifts(&b, &c);
    let mut verdicts = Vec::new();
    for (k, br) in &b {
        match c.get(k) {
            Some(cr) => {
                let drift = drifts.get(&k.device).copied().unwrap_or_default();
                verdicts.push(compare_with(
                    k,
                    br,
                    cr,
                    &changes,
                    opts,
                    drift,
                    between.get(k).copied(),
                ))
            }
            None => {
                let mut v = Verdict {
                    key: k.clone(),
                    findings: Vec::new(),
                    notes: Vec::new(),
                    slowdown: None,
                };
                if br.status == "ok" {
                    v.findings.push(Finding {
                        kind: Kind::Numeric,
                        what: "ran ok in the baseline and is missing from the current report".into(),
                        cause: "the current run's matrix is smaller, or its device or backend was not found".into(),
                        todo: format!(
                            "run the baseline's matrix (`{}`), or `check --accept` the smaller one",
                            base.env.command
                        ),
                    });
                } else {
                    v.notes
                        .push(format!("in the baseline only (it was {} there)", br.status));
                }
                verdicts.push(v);
            }
        }
    }
    for k in c.keys() {
        if !b.contains_key(k) {
            verdicts.push(Verdict {
                key: k.clone(),
                findings: Vec::new(),
                notes: vec!["new in the current report (no baseline to compare with)".into()],
                slowdown: None,
            });
        }
    }
    // Bonferroni over the rows that passed every effect-size threshold: --alpha bounds
    // the chance that any of them is a false alarm.
    let m = verdicts
        .iter()
        .filter(|v| v.slowdown.is_some())
        .count()
        .max(1);
    for v in verdicts.iter_mut() {
        if let Some((p, f)) = v.slowdown.take() {
            let per_row = opts.alpha / m as f64;
            if p < per_row {
                v.findings.push(f);
            } else {
                v.notes.push(format!(
                    "slower beyond the effect thresholds, but p = {p:.2e} is not below alpha / {m} = {per_row:.2e} ({m} rows slowed that much): {}",
                    f.what
                ));
            }
        }
    }
    Ok(CheckResult {
        env_changes: changes,
        verdicts,
        drifts,
        baselines: bases.len(),
    })
}

/// Fewest timed rows on a device for its overall shift to be measured.
pub const MIN_ROWS_FOR_DRIFT: usize = 5;

/// Robust z-score a row's shift must exceed, against how far the device's rows shift
/// relative to each other between the two reports.
pub const ROW_SHIFT_Z: f64 = 4.0;

/// How the timings of one device moved between the two reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drift {
    /// Median over rows of current / baseline median time: the whole device's shift.
    pub shift: f64,
    /// Ratio a single row's shift (relative to `shift`) must exceed to stand out from the
    /// row-to-row scatter: exp(ROW_SHIFT_Z x 1.4826 x MAD of the log ratios).
    pub scatter: f64,
    /// Rows measured.
    pub rows: usize,
}

impl Default for Drift {
    fn default() -> Self {
        Drift {
            shift: 1.0,
            scatter: 1.0,
            rows: 0,
        }
    }
}

/// Each device's timing drift between the reports. A machine busier during one run
/// shifts every row (`shift`); load bursts shorter than a run shift single rows, and the
/// scatter of row shifts measures how much (the timed runs of one row are back to back, so
/// the row's own spread does not show a burst that covers all of them). A kernel
/// regression must stand out from both. Devices with fewer than [`MIN_ROWS_FOR_DRIFT`]
/// rows get no estimate.
fn device_drifts(
    b: &BTreeMap<ResultKey, &ResultRecord>,
    c: &BTreeMap<ResultKey, &ResultRecord>,
) -> BTreeMap<DeviceId, Drift> {
    let mut ratios: BTreeMap<DeviceId, Vec<f64>> = BTreeMap::new();
    for (k, br) in b {
        let Some(cr) = c.get(k) else { continue };
        if br.status != "ok" || cr.status != "ok" {
            continue;
        }
        if let (Some(mb), Some(mc)) = (quantile(&br.times_ms, 0.5), quantile(&cr.times_ms, 0.5)) {
            if mb > 0.0 && mc > 0.0 {
                ratios
                    .entry(k.device.clone())
                    .or_default()
                    .push((mc / mb).ln());
            }
        }
    }
    ratios
        .into_iter()
        .filter(|(_, r)| r.len() >= MIN_ROWS_FOR_DRIFT)
        .filter_map(|(d, logs)| {
            let m = quantile(&logs, 0.5)?;
            let dev: Vec<f64> = logs.iter().map(|x| (x - m).abs()).collect();
            let mad = quantile(&dev, 0.5)?;
            Some((
                d,
                Drift {
                    shift: m.exp(),
                    scatter: (ROW_SHIFT_Z * 1.4826 * mad).exp(),
                    rows: logs.len(),
                },
            ))
        })
        .collect()
}

/// Readable text of the comparison: environment differences first, then regressions, then
/// notes, then a summary line.
pub fn render_text(res: &CheckResult) -> String {
    let mut s = String::new();
    if !res.env_changes.is_empty() {
        s.push_str("environment differences (baseline -> current):\n");
        for c in &res.env_changes {
            s.push_str(&format!("  - {}\n", c.describe()));
        }
    }
    for v in res.verdicts.iter().filter(|v| !v.findings.is_empty()) {
        s.push_str(&format!("REGRESSION {}\n", v.key));
        for f in &v.findings {
            s.push_str(&format!(
                "  - [{}] {}\n      likely cause: {}\n      to do: {}\n",
                f.kind.name(),
                f.what,
                f.cause,
                f.todo
            ));
        }
    }
    if res.baselines < 2
        && res
            .verdicts
            .iter()
            .any(|v| v.findings.iter().any(|f| f.kind == Kind::Performance))
    {
        s.push_str("timing: one baseline, so the noise between reports (another process, clock and cache state) is unmeasured and a slowdown may be a false alarm; pass 3 or more --baseline reports of the same matrix\n");
    }
    for (d, g) in &res.drifts {
        s.push_str(&format!(
            "timing on {d}: rows shifted by x{:.2} (median of {} rows; a busier or idler machine, or a device-wide change), row-to-row scatter x{:.2}; each row is judged against both\n",
            g.shift, g.rows, g.scatter
        ));
    }
    let mut notes = 0;
    for v in res.verdicts.iter().filter(|v| !v.notes.is_empty()) {
        notes += 1;
        s.push_str(&format!("note {}\n", v.key));
        for n in &v.notes {
            s.push_str(&format!("  - {n}\n"));
        }
    }
    s.push_str(&format!(
        "detbench check: {} result keys, {} regressed ({} numeric, {} performance), {} with notes, {} environment differences\n",
        res.verdicts.len(),
        res.regressions(),
        res.count(Kind::Numeric),
        res.count(Kind::Performance),
        notes,
        res.env_changes.len()
    ));
    s
}

/// JUnit XML: one test case per result key; a failure says what changed, the likely cause
/// and what to do.
pub fn junit(res: &CheckResult) -> Result<String, DetError> {
    let mut suite = TestSuite::new("detbench check");
    for v in &res.verdicts {
        let status = match v.findings.first() {
            None => TestCaseStatus::success(),
            Some(first) => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(first.sentence());
                st.set_type(first.kind.name());
                st.set_description(
                    v.findings
                        .iter()
                        .map(|f| format!("[{}] {}", f.kind.name(), f.sentence()))
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                st
            }
        };
        let mut tc = TestCase::new(v.key.case_label(), status);
        tc.set_classname(format!("detbench.{}", v.key.device));
        if !v.notes.is_empty() {
            tc.set_system_out(v.notes.join("\n"));
        }
        suite.add_test_case(tc);
    }
    let mut rep = quick_junit::Report::new("detbench");
    rep.add_test_suite(suite);
    rep.to_string()
        .map_err(|e| DetError::Io(format!("cannot serialise JUnit XML: {e}")))
}

/// `detbench check`.
pub fn run(
    baselines: &[PathBuf],
    current: &Path,
    junit_out: Option<&Path>,
    opts: &CheckOptions,
) -> Result<Outcome, DetError> {
    opts.validate()?;
    let Some(baseline) = baselines.first() else {
        return Err(DetError::input("no --baseline report given"));
    };
    if opts.accept && baselines.len() > 1 {
        return Err(DetError::input(
            "--accept replaces one baseline: give a single --baseline (make the other baselines by rerunning the matrix)",
        ));
    }
    let cur = report::load_report(current)?;
    if opts.accept {
        return accept(baseline, current, &cur, opts);
    }
    let mut loaded = Vec::new();
    for p in baselines {
        loaded.push(report::load_report(p)?);
    }
    let named: Vec<(&Report, &Path)> = loaded
        .iter()
        .zip(baselines)
        .map(|(r, p)| (r, p.as_path()))
        .collect();
    let res = check_reports_at(&named, &cur, current, opts)?;
    crate::safety::out(&render_text(&res))?;
    if let Some(p) = junit_out {
        report::write_atomic(p, junit(&res)?.as_bytes())?;
    }
    Ok(if res.regressions() > 0 {
        Outcome::Regression
    } else {
        Outcome::Ok
    })
}

/// `check --accept`: shows what changes, then replaces the baseline with the current
/// report's bytes in one rename. The current report must be usable on its own; the old
/// baseline may be missing or unusable (it is being replaced).
fn accept(
    baseline: &Path,
    current: &Path,
    cur: &Report,
    opts: &CheckOptions,
) -> Result<Outcome, DetError> {
    usable("current report", current, cur)?;
    let bytes = std::fs::read(current)
        .map_err(|e| DetError::input(format!("cannot read {}: {e}", current.display())))?;
    let shown = match report::load_report(baseline) {
        Ok(base) => match check_reports_at(&[(&base, baseline)], cur, current, opts) {
            Ok(res) => render_text(&res),
            Err(e) => format!("the old baseline is not comparable ({e}); replacing it\n"),
        },
        Err(e) => format!("no usable baseline ({e}); creating it\n"),
    };
    crate::safety::out(&shown)?;
    report::write_atomic(baseline, &bytes)?;
    crate::safety::out(&format!(
        "detbench check: accepted {} as the baseline {} ({} results)\n",
        current.display(),
        baseline.display(),
        cur.results.len()
    ))?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_u_distribution_sums_to_binomial() {
        let d = u_distribution(4, 5);
        assert_eq!(d.iter().sum::<f64>(), binomial(9, 4));
        // Symmetric around n1 n2 / 2.
        for u in 0..=20 {
            assert_eq!(d[u], d[20 - u]);
        }
    }

    #[test]
    fn mann_whitney_detects_shift_and_not_noise() {
        let a = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02];
        let b: Vec<f64> = a.iter().map(|x| x * 3.0).collect();
        match mann_whitney_greater(&a, &b, DEFAULT_ALPHA) {
            MannWhitney::P { p, exact } => {
                assert!(exact);
                // All of b above all of a: p = 1 / C(12, 6).
                assert!((p - 1.0 / 924.0).abs() < 1e-12, "{p}");
            }
            other => panic!("{other:?}"),
        }
        match mann_whitney_greater(&b, &a, DEFAULT_ALPHA) {
            MannWhitney::P { p, .. } => assert!(p > 0.99),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            mann_whitney_greater(&a[..3], &b[..3], DEFAULT_ALPHA),
            MannWhitney::TooFewRuns { .. }
        ));
    }

    /// The rank-sum U equals the pairwise count (the definition) with and without ties.
    #[test]
    fn rank_u_matches_pairwise_u() {
        let pairwise = |a: &[f64], b: &[f64]| -> f64 {
            let mut u = 0.0;
            for &x in a {
                for &y in b {
                    u += if y > x {
                        1.0
                    } else if y == x {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            u
        };
        let a: Vec<f64> = (0..40).map(|i| ((i * 37) % 11) as f64).collect();
        let b: Vec<f64> = (0..45).map(|i| ((i * 13) % 9) as f64 + 0.5).collect();
        // Normal approximation path: z from the pairwise U must give the same p.
        let u = pairwise(&a, &b);
        let MannWhitney::P { p, exact } = mann_whitney_greater(&a, &b, 0.05) else {
            panic!("too few")
        };
        assert!(!exact);
        // Recompute p from the pairwise U with the same variance formula.
        let mut pooled: Vec<f64> = a.iter().chain(&b).copied().collect();
        pooled.sort_by(|x, y| x.total_cmp(y));
        let mut tie = 0.0;
        let mut i = 0;
        while i < pooled.len() {
            let mut j = i;
            while j + 1 < pooled.len() && pooled[j + 1] == pooled[i] {
                j += 1;
            }
            let t = (j - i + 1) as f64;
            tie += t * t * t - t;
            i = j + 1;
        }
        let (f1, f2) = (a.len() as f64, b.len() as f64);
        let n = f1 + f2;
        let var = f1 * f2 / 12.0 * ((n + 1.0) - tie / (n * (n - 1.0)));
        let z = (u - f1 * f2 / 2.0 - 0.5) / var.sqrt();
        let expect = Normal::new(0.0, 1.0).unwrap().sf(z);
        assert!((p - expect).abs() < 1e-12, "{p} vs {expect}");
    }

    /// 60,000 timings per side (the size that took seconds with the old pairwise count):
    /// a 1% shift is found and equal samples are not.
    #[test]
    fn mann_whitney_on_large_samples() {
        let a: Vec<f64> = (0..60_000).map(|i| 1.0 + (i % 977) as f64 * 1e-3).collect();
        let b: Vec<f64> = a.iter().map(|x| x * 1.01).collect();
        match mann_whitney_greater(&a, &b, 0.01) {
            MannWhitney::P { p, exact: false } => assert!(p < 1e-6, "{p}"),
            other => panic!("{other:?}"),
        }
        match mann_whitney_greater(&a, &a, 0.01) {
            MannWhitney::P { p, exact: false } => assert!(p > 0.4, "{p}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quantiles_and_noise() {
        let v = [4.0, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert_eq!(quantile(&v, 0.25), Some(2.0));
        assert_eq!(noise_ratio(&v), 2.0);
        assert_eq!(noise_ratio(&[]), 1.0);
    }
}
