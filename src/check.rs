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
//!   `times_ms` at `--alpha`, Bonferroni over the rows that pass the other tests) AND
//!   large: its Hodges-Lehmann lower confidence bound (relative to the device's overall
//!   shift) and its fastest-run ratio exceed both 1 + `--max-slowdown` and the noise the
//!   two reports show (each row's quartile ratio, the scatter of row shifts on the device,
//!   and the device's largest row speedup: with nothing changed, baseline and current are
//!   exchangeable, so a row slows by chance as far as another sped up). Rows timed on the
//!   host's scheduler must also have slowed by more than `--host-floor-ms` in their
//!   fastest run (a preempted run waits whole time slices). With several baselines, the
//!   current median must exceed the slowest baseline median times their spread.
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
/// Default absolute slowdown (ms) of the fastest run below which a host-scheduled row is
/// not judged: a preempted run waits whole scheduler time slices (4 ms at 250 Hz, measured
/// here as runs of 0.1 ms that took 3.9 to 4.0 ms on a loaded machine).
pub const DEFAULT_HOST_FLOOR_MS: f64 = 5.0;
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
    /// Rows timed on the host's scheduler (timer "host", or a device of type cpu such as lavapipe) fail only when their fastest run also slowed by more than this many ms: a preempted run waits whole scheduler time slices.
    #[arg(long, default_value_t = DEFAULT_HOST_FLOOR_MS)]
    pub host_floor_ms: f64,
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
            host_floor_ms: DEFAULT_HOST_FLOOR_MS,
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
        if !(self.host_floor_ms.is_finite() && self.host_floor_ms >= 0.0) {
            return Err(DetError::input(format!(
                "--host-floor-ms must be a number of milliseconds >= 0, got {}",
                self.host_floor_ms
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
            // Devices are matched by backend and stable name (twins share a change).
            (Some(dev), _) => dev.backend == d.backend && dev.name == d.name,
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

/// One-sided lower confidence bound, at level 1 - `alpha`, of the factor by which the
/// times `b` exceed the times `a`: the Mann-Whitney test inverted for a shift of the log
/// times (the Hodges-Lehmann interval). The bound is the k-th smallest of the n1 x n2
/// pairwise differences log b_j - log a_i, where k is the largest count with
/// P(U < k) <= alpha under "no shift" (exact for samples of at most 30 values, the normal
/// approximation beyond). A few outliers on either side move it little, unlike a ratio of
/// medians or of means. O((n1 + n2) log(n1 + n2)): the k-th difference is found by
/// bisection on its value, counting the differences below a value in one merge-like pass.
/// None when a sample is empty or not positive, or when no bound is attainable (too few
/// runs for `alpha`).
pub fn shift_lower_bound(a: &[f64], b: &[f64], alpha: f64) -> Option<f64> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 || a.iter().chain(b).any(|x| !(*x > 0.0 && x.is_finite())) {
        return None;
    }
    let total = n1 as f64 * n2 as f64;
    let k = if n1 <= 30 && n2 <= 30 {
        let counts = u_distribution(n1, n2);
        let all: f64 = counts.iter().sum();
        let mut below = 0.0;
        let mut k = 0usize;
        while k < counts.len() && (below + counts[k]) / all <= alpha {
            below += counts[k];
            k += 1;
        }
        k
    } else {
        let z = Normal::new(0.0, 1.0)
            .expect("standard normal")
            .inverse_cdf(1.0 - alpha);
        let lo = total / 2.0 - z * (total * (n1 + n2 + 1) as f64 / 12.0).sqrt();
        if lo < 1.0 {
            0
        } else {
            lo.floor() as usize
        }
    };
    if k == 0 {
        return None;
    }
    let mut la: Vec<f64> = a.iter().map(|x| x.ln()).collect();
    let mut lb: Vec<f64> = b.iter().map(|x| x.ln()).collect();
    la.sort_by(f64::total_cmp);
    lb.sort_by(f64::total_cmp);
    // Pairs with lb_j - la_i <= t, for every j at once: the a's below lb_j - t form a
    // prefix that grows with j.
    let count_le = |t: f64| -> usize {
        let mut i = n1; // la[i..] >= lb_j - t
        let mut c = 0usize;
        for &y in lb.iter().rev() {
            while i > 0 && la[i - 1] >= y - t {
                i -= 1;
            }
            c += n1 - i;
        }
        c
    };
    // P(fewer than k differences lie below the true shift) <= alpha, so the k-th smallest
    // difference is the bound: the least t with count_le(t) >= k.
    let (mut lo, mut hi) = (lb[0] - la[n1 - 1], lb[n2 - 1] - la[0]);
    if count_le(lo) >= k {
        return Some(lo.exp());
    }
    for _ in 0..200 {
        let mid = lo + (hi - lo) / 2.0;
        if mid <= lo || mid >= hi {
            break;
        }
        if count_le(mid) >= k {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi.exp())
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
            slot: None,
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
    let host = base.timer == "host" || cur.timer == "host";
    compare_with(key, base, cur, changes, opts, drift, None, host)
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

/// [`compare`], with the row's between-report noise when several baselines measured it,
/// and whether its times were taken on the host's scheduler (see [`host_scheduled`]).
#[allow(clippy::too_many_arguments)]
fn compare_with(
    key: &ResultKey,
    base: &ResultRecord,
    cur: &ResultRecord,
    changes: &[EnvChange],
    opts: &CheckOptions,
    drift: Drift,
    between: Option<Between>,
    host: bool,
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
    compare_batch(&mut v, base, cur, &cause);
    if base.timer != cur.timer && !base.timer.is_empty() && !cur.timer.is_empty() {
        v.notes.push(format!(
            "timer changed ({} -> {}): timings compared anyway",
            base.timer, cur.timer
        ));
    }
    if !opts.no_timing {
        compare_timing(&mut v, base, cur, &cause, opts, drift, between, host);
    }
    v
}

/// The batch axis (`run --batch-sizes`): a kernel that kept the shared rows' bits across
/// batch sizes in the baseline and no longer does is a numeric regression.
fn compare_batch(v: &mut Verdict, base: &ResultRecord, cur: &ResultRecord, cause: &Option<String>) {
    match (base.batch_invariant, cur.batch_invariant) {
        (Some(true), Some(false)) => v.findings.push(Finding {
            kind: Kind::Numeric,
            what: format!(
                "no longer batch invariant: the rows every batch shares now differ by up to {} ULP across batch sizes (invariant in the baseline)",
                cur.max_ulp_across_batches.unwrap_or(0)
            ),
            cause: cause.clone().unwrap_or_else(|| {
                "no environment difference recorded: the kernel's tiling or split now follows the batch size".into()
            }),
            todo: "rerun with the same --batch-sizes and compare the variant's split (the record's message) with the baseline's".into(),
        }),
        (Some(false), Some(false)) => v.notes.push(format!(
            "batch variant in both reports: up to {} ULP across batch sizes (baseline {})",
            cur.max_ulp_across_batches.unwrap_or(0),
            base.max_ulp_across_batches.unwrap_or(0)
        )),
        (Some(false), Some(true)) => v
            .notes
            .push("now batch invariant (it was not in the baseline)".into()),
        _ => {}
    }
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

/// The performance verdict of one row (see the module documentation for the rule).
#[allow(clippy::too_many_arguments)]
fn compare_timing(
    v: &mut Verdict,
    base: &ResultRecord,
    cur: &ResultRecord,
    cause: &Option<String>,
    opts: &CheckOptions,
    drift: Drift,
    between: Option<Between>,
    host: bool,
) {
    let (Some(mb), Some(mc)) = (quantile(&base.times_ms, 0.5), quantile(&cur.times_ms, 0.5)) else {
        return;
    };
    if mb <= 0.0 {
        return;
    }
    let ratio = mc / mb;
    let limit = 1.0 + opts.max_slowdown;
    // The noise a slowdown must stand out from, as a ratio: each report's own spread
    // (quartile ratio), how far single rows of this device move relative to each other
    // (MAD scatter), and the largest speedup of a row on this device. Under "nothing
    // changed" baseline and current are exchangeable, so a row slows by chance as far as
    // another row sped up by chance; one report cannot see the load bursts that cover all
    // of a row's back-to-back runs, but the other rows show how large they were.
    let own = noise_ratio(&base.times_ms).max(noise_ratio(&cur.times_ms));
    let noise = own.max(drift.scatter).max(drift.speedup);
    let threshold = limit.max(noise);
    // Relative to the whole device's shift (a machine that is busier for the whole run).
    let shift = drift.shift.max(1.0);
    // The fastest run is the least disturbed by a busy machine (load only adds time).
    let (fb, fc) = (
        quantile(&base.times_ms, 0.0).unwrap_or(mb),
        quantile(&cur.times_ms, 0.0).unwrap_or(mc),
    );
    let min_ratio = if fb > 0.0 { fc / fb } else { ratio };
    let added_ms = fc - fb;
    let floor = if host { opts.host_floor_ms } else { 0.0 };
    let p = match mann_whitney_greater(&base.times_ms, &cur.times_ms, opts.alpha) {
        MannWhitney::TooFewRuns { min_p } => {
            v.notes.push(format!(
                "timing not judged: with {} and {} runs the one-sided Mann-Whitney U test cannot reach alpha = {} (smallest p = {min_p:.3}); median {mb:.4} -> {mc:.4} ms",
                base.times_ms.len(),
                cur.times_ms.len(),
                opts.alpha
            ));
            return;
        }
        MannWhitney::P { p, exact } => (p, exact),
    };
    let (p, exact) = p;
    // The slowdown with confidence 1 - alpha (Hodges-Lehmann lower bound of the ratio).
    let lower = shift_lower_bound(&base.times_ms, &cur.times_ms, opts.alpha).unwrap_or(0.0);
    let beyond_effect =
        p < opts.alpha && lower / shift > threshold && min_ratio > threshold && added_ms > floor;
    // Runs inside one report are correlated (one process, one scheduling and clock
    // state), so their spread understates how far a rerun's median moves. With several
    // baselines that movement is measured: the current median must also exceed the
    // slowest baseline median by more than the baselines' spread.
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
    let floor_text = if host {
        format!(
            ", and its fastest run is {added_ms:.3} ms slower, beyond the host floor of {floor} ms"
        )
    } else {
        String::new()
    };
    // A row whose work runs on this process's threads also carries the process's CPU time
    // per run. Other processes' load stretches wall time but not CPU time, while a kernel
    // that does more work costs more of both; so a wall-clock slowdown whose CPU time stayed
    // within 1 + max-slowdown is the machine's load, not the kernel.
    let cpu_ratio = match (host, base.cpu_ms_per_run, cur.cpu_ms_per_run) {
        (true, Some(b), Some(c)) if b > 0.0 && c.is_finite() => Some(c / b),
        _ => None,
    };
    if let (true, Some(cr)) = (beyond_effect, cpu_ratio) {
        if cr <= limit {
            v.notes.push(format!(
                "median {mb:.4} -> {mc:.4} ms (x{ratio:.2}, p = {p:.2e}) but the process's CPU time per run moved only x{cr:.2} ({:.4} -> {:.4} ms), within 1 + max-slowdown = {limit:.2}: the row waited for a busy CPU; its kernel did not do more work",
                base.cpu_ms_per_run.unwrap_or(0.0),
                cur.cpu_ms_per_run.unwrap_or(0.0),
            ));
            return;
        }
    }
    if beyond_effect && !beyond_between {
        if let Some(bw) = between {
            v.notes.push(format!(
                "median {mb:.4} -> {mc:.4} ms (x{ratio:.2}, p = {p:.2e}) but within the between-report noise: the {} baseline medians span x{:.2} up to {:.4} ms",
                bw.reports, bw.spread, bw.slowest
            ));
        }
    } else if beyond_effect {
        v.slowdown = Some((p, Finding {
            kind: Kind::Performance,
            what: format!(
                "slower: median {mb:.4} -> {mc:.4} ms (x{ratio:.2}); with confidence 1 - alpha it is at least x{lower:.2} (Hodges-Lehmann bound), x{:.2} relative to the device's overall shift x{:.2}, and its fastest run is x{min_ratio:.2}; one-sided Mann-Whitney U on {}+{} runs gives p = {p:.2e} ({}) < alpha = {}; these exceed both 1 + max-slowdown = {limit:.2} and the noise x{noise:.2} (the largest of each report's quartile ratio x{own:.2}, the scatter of row shifts on this device x{:.2} and its largest row speedup x{:.2}){floor_text}{between_text}",
                lower / shift,
                drift.shift,
                base.times_ms.len(),
                cur.times_ms.len(),
                if exact { "exact" } else { "normal approximation" },
                opts.alpha,
                drift.scatter,
                drift.speedup,
            ),
            cause: cause.clone().unwrap_or_else(|| {
                "no environment difference recorded: the kernel, or a busier machine".into()
            }),
            todo: "rerun on an idle machine with more --runs; if it persists, profile the kernel (or pass --no-timing where timings cannot be trusted)".into(),
        }));
    } else if ratio > limit {
        let why = if p >= opts.alpha {
            format!("not significant (p = {p:.2e})")
        } else if lower / shift <= threshold || min_ratio <= threshold {
            format!(
                "not beyond the noise x{threshold:.2}: bound x{lower:.2} relative to the device's shift x{:.2}, fastest run x{min_ratio:.2} (quartile ratio x{own:.2}, row-shift scatter x{:.2}, largest row speedup x{:.2})",
                drift.shift, drift.scatter, drift.speedup
            )
        } else {
            format!(
                "its fastest run is only {added_ms:.3} ms slower, within the host floor of {floor} ms (a preempted run waits whole scheduler time slices; see --host-floor-ms)"
            )
        };
        v.notes.push(format!(
            "median {mb:.4} -> {mc:.4} ms (x{ratio:.2}) but {why}"
        ));
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
                let host = host_scheduled(br, &base.env) || host_scheduled(cr, &cur.env);
                verdicts.push(compare_with(
                    k,
                    br,
                    cr,
                    &changes,
                    opts,
                    drift,
                    between.get(k).copied(),
                    host,
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

/// True when a row's times were taken on the host's scheduler: by the host's clock, or by
/// a device that is the CPU itself (lavapipe's timestamps come from the CPU's clock and its
/// shaders run on host threads), so a preempted run waits whole scheduler time slices.
fn host_scheduled(r: &ResultRecord, env: &Env) -> bool {
    r.timer == "host"
        || env
            .devices
            .iter()
            .any(|d| d.backend == r.backend && d.name == r.device && d.device_type == "cpu")
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
    /// The largest speedup of one row relative to `shift` (1 when none sped up): with
    /// nothing changed, baseline and current are exchangeable, so a row can slow by chance
    /// as far as another one sped up by chance.
    pub speedup: f64,
    /// Rows measured.
    pub rows: usize,
}

impl Default for Drift {
    fn default() -> Self {
        Drift {
            shift: 1.0,
            scatter: 1.0,
            speedup: 1.0,
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
            let fastest = logs.iter().copied().fold(m, f64::min);
            Some((
                d,
                Drift {
                    shift: m.exp(),
                    scatter: (ROW_SHIFT_Z * 1.4826 * mad).exp(),
                    speedup: (m - fastest).exp(),
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
            "timing on {d}: rows shifted by x{:.2} (median of {} rows; a busier or idler machine, or a device-wide change), row-to-row scatter x{:.2}, largest row speedup x{:.2}; a row must slow beyond all three\n",
            g.shift, g.rows, g.scatter, g.speedup
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

    /// The Hodges-Lehmann bound agrees with the k-th pairwise difference counted the slow
    /// way, on samples with ties and outliers.
    #[test]
    fn shift_bound_matches_brute_force() {
        let brute = |a: &[f64], b: &[f64], alpha: f64| -> f64 {
            let mut d: Vec<f64> = a
                .iter()
                .flat_map(|x| b.iter().map(move |y| y.ln() - x.ln()))
                .collect();
            d.sort_by(f64::total_cmp);
            let counts = u_distribution(a.len(), b.len());
            let all: f64 = counts.iter().sum();
            let (mut below, mut k) = (0.0, 0);
            while (below + counts[k]) / all <= alpha {
                below += counts[k];
                k += 1;
            }
            d[k - 1].exp()
        };
        let mut x = 12345u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        for trial in 0..50 {
            let n1 = 5 + trial % 9;
            let n2 = 6 + trial % 7;
            let a: Vec<f64> = (0..n1)
                .map(|_| 1.0 + (next() * 8.0).floor() / 8.0)
                .collect();
            let mut b: Vec<f64> = (0..n2).map(|_| 1.3 + next()).collect();
            b[0] = 40.0; // one preempted run
            let got = shift_lower_bound(&a, &b, 0.05).unwrap();
            let want = brute(&a, &b, 0.05);
            assert!((got / want - 1.0).abs() < 1e-9, "{got} vs {want}");
        }
        // Too few runs for alpha: no bound.
        assert_eq!(shift_lower_bound(&[1.0, 2.0], &[3.0, 4.0], 0.01), None);
    }

    #[test]
    fn shift_bound_on_clean_shift_outliers_and_large_samples() {
        let a: Vec<f64> = (0..10).map(|k| 10.0 * (1.0 + 0.01 * k as f64)).collect();
        let b: Vec<f64> = a.iter().map(|t| t * 2.0).collect();
        let lo = shift_lower_bound(&a, &b, 0.01).unwrap();
        assert!(lo > 1.8 && lo <= 2.0, "{lo}");
        // Two preempted runs (x4) in an unchanged row barely move the bound.
        let mut c = a.clone();
        c[3] *= 4.0;
        c[7] *= 4.0;
        let lo = shift_lower_bound(&a, &c, 0.01).unwrap();
        assert!(lo < 1.05, "{lo}");
        // 60,000 runs a side in well under a second.
        let big: Vec<f64> = (0..60_000).map(|i| 1.0 + (i % 977) as f64 * 1e-3).collect();
        let slow: Vec<f64> = big.iter().map(|x| x * 1.5).collect();
        let t = std::time::Instant::now();
        let lo = shift_lower_bound(&big, &slow, 0.01).unwrap();
        assert!(lo > 1.45 && lo <= 1.5, "{lo}");
        assert!(t.elapsed().as_secs_f64() < 5.0);
    }

    /// A usable report of `times.len()` deterministic host-timed cpu rows.
    fn timed_report(times: &[Vec<f64>]) -> Report {
        let mut env = Env::default();
        env.devices.push(crate::backend::DeviceInfo {
            backend: "cpu".into(),
            name: "Test CPU".into(),
            available: true,
            device_type: "cpu".into(),
            ..Default::default()
        });
        let results = times
            .iter()
            .enumerate()
            .map(|(i, t)| ResultRecord {
                op: "sum".into(),
                backend: "cpu".into(),
                device: "Test CPU".into(),
                precision: "f32".into(),
                accumulator: "f32".into(),
                variant: "tree".into(),
                ordering: crate::shared::ordering::Ordering::None,
                size: 1000 + i as u64,
                input: "normal".into(),
                seed: 7,
                runs: t.len() as u64,
                status: crate::report::schema::Status::Ok,
                distinct_outputs: Some(1),
                bitwise_reproducible: Some(true),
                max_ulp_run_to_run: Some(0),
                max_abs_err: Some(1e-6),
                max_ulp_err: Some(1),
                error_bound: Some(1e-3),
                fingerprint: Some("a".repeat(64)),
                times_ms: t.clone(),
                timer: "host".into(),
                deterministic_variant: true,
                ..Default::default()
            })
            .collect();
        Report {
            schema: crate::report::SCHEMA.into(),
            env,
            results,
            partial: false,
        }
    }

    /// Ten runs around `ms` with a little spread (what a quiet machine measures).
    fn steady(ms: f64, wobble: u64) -> Vec<f64> {
        (0..10)
            .map(|k| ms * (1.0 + 0.01 * ((k * 7 + wobble) % 10) as f64))
            .collect()
    }

    /// Twelve rows of 10 to 21 ms, then `f` applied to the current copy.
    fn judge(f: impl Fn(&mut Vec<Vec<f64>>), opts: &CheckOptions) -> CheckResult {
        let base: Vec<Vec<f64>> = (0..12).map(|i| steady(10.0 + i as f64, i)).collect();
        let mut cur: Vec<Vec<f64>> = (0..12).map(|i| steady(10.0 + i as f64, i + 3)).collect();
        f(&mut cur);
        check_reports(&timed_report(&base), &timed_report(&cur), opts).expect("usable")
    }

    fn slow_rows(res: &CheckResult) -> usize {
        res.count(Kind::Performance)
    }

    fn notes_of(res: &CheckResult, row: usize) -> String {
        res.verdicts
            .iter()
            .find(|v| v.key.case.size == 1000 + row as u64)
            .map(|v| v.notes.join(" | "))
            .unwrap_or_default()
    }

    #[test]
    fn rule_fails_a_twofold_slowdown_and_passes_reruns() {
        let o = CheckOptions::default();
        // A rerun (other wobble) passes.
        assert_eq!(slow_rows(&judge(|_| {}, &o)), 0);
        // x2 over 10 runs on one row fails, naming the bound.
        let res = judge(|c| c[4].iter_mut().for_each(|t| *t *= 2.0), &o);
        assert_eq!(slow_rows(&res), 1);
        let f = &res
            .verdicts
            .iter()
            .find(|v| !v.findings.is_empty())
            .unwrap()
            .findings[0];
        assert!(
            f.what.contains("Hodges-Lehmann") && f.what.contains("x2.0"),
            "{}",
            f.what
        );
        // x1.1 is within --max-slowdown.
        let res = judge(|c| c[4].iter_mut().for_each(|t| *t *= 1.1), &o);
        assert_eq!(slow_rows(&res), 0);
        // x1.6 fails, and passes with --max-slowdown 0.7.
        assert_eq!(
            slow_rows(&judge(|c| c[4].iter_mut().for_each(|t| *t *= 1.6), &o)),
            1
        );
        let loose = CheckOptions {
            max_slowdown: 0.7,
            ..CheckOptions::default()
        };
        assert_eq!(
            slow_rows(&judge(|c| c[4].iter_mut().for_each(|t| *t *= 1.6), &loose)),
            0
        );
    }

    #[test]
    fn rule_ignores_outliers_and_device_wide_shifts() {
        let o = CheckOptions::default();
        // Three preempted runs (x5) in one row: the median and the bound barely move.
        let res = judge(
            |c| {
                for k in [1, 5, 8] {
                    c[2][k] *= 5.0;
                }
            },
            &o,
        );
        assert_eq!(slow_rows(&res), 0);
        // A busier machine: every row x2.
        let res = judge(|c| c.iter_mut().flatten().for_each(|t| *t *= 2.0), &o);
        assert_eq!(slow_rows(&res), 0);
    }

    /// A row that slowed x2.5 while another sped up x3 is within the noise this pair of
    /// reports shows (by symmetry the slowdown can be chance too); without the speedup it
    /// fails.
    #[test]
    fn rule_weighs_a_slowdown_against_the_largest_speedup() {
        let o = CheckOptions::default();
        let res = judge(
            |c| {
                c[6].iter_mut().for_each(|t| *t *= 2.5);
                c[9].iter_mut().for_each(|t| *t /= 3.0);
            },
            &o,
        );
        assert_eq!(slow_rows(&res), 0);
        assert!(
            notes_of(&res, 6).contains("largest row speedup x3"),
            "{}",
            notes_of(&res, 6)
        );
        let res = judge(|c| c[6].iter_mut().for_each(|t| *t *= 2.5), &o);
        assert_eq!(slow_rows(&res), 1);
    }

    /// A host-timed row of 1 ms that takes 4 ms (one scheduler time slice per run) is
    /// below the host floor; with the floor off it fails; a real 10 ms slowdown fails.
    #[test]
    fn rule_applies_the_host_floor_to_host_scheduled_rows() {
        let base: Vec<Vec<f64>> = (0..12).map(|i| steady(1.0 + 0.1 * i as f64, i)).collect();
        let mut cur = base.clone();
        cur[3] = steady(4.0, 2);
        let (b, c) = (timed_report(&base), timed_report(&cur));
        let res = check_reports(&b, &c, &CheckOptions::default()).unwrap();
        assert_eq!(slow_rows(&res), 0);
        assert!(
            notes_of(&res, 3).contains("host floor"),
            "{}",
            notes_of(&res, 3)
        );
        let off = CheckOptions {
            host_floor_ms: 0.0,
            ..CheckOptions::default()
        };
        assert_eq!(slow_rows(&check_reports(&b, &c, &off).unwrap()), 1);
        cur[3] = steady(11.3, 2);
        let res = check_reports(&b, &timed_report(&cur), &CheckOptions::default()).unwrap();
        assert_eq!(slow_rows(&res), 1);
        // A device timer (not the host's scheduler) has no floor.
        let mut b2 = b.clone();
        let mut c2 = c.clone();
        for r in [&mut b2, &mut c2] {
            r.env.devices[0].device_type = "discrete_gpu".into();
            r.results
                .iter_mut()
                .for_each(|x| x.timer = "cuda_events".into());
        }
        assert_eq!(
            slow_rows(&check_reports(&b2, &c2, &CheckOptions::default()).unwrap()),
            1
        );
    }

    /// A host-executed row whose wall time doubled but whose CPU time per run did not move
    /// waited for a busy machine: it passes with a note. The same wall-time slowdown with
    /// the CPU time doubled too (the kernel does more work) fails, as does any slowdown of a
    /// row without CPU times (a GPU's or an older report's) or on a device timer.
    #[test]
    fn rule_tells_host_load_from_more_work_by_cpu_time() {
        let base: Vec<Vec<f64>> = (0..12).map(|i| steady(10.0 + i as f64, i)).collect();
        let mut cur: Vec<Vec<f64>> = (0..12).map(|i| steady(10.0 + i as f64, i + 3)).collect();
        cur[5].iter_mut().for_each(|t| *t *= 2.0);
        let with_cpu = |times: &[Vec<f64>], row5_cpu: f64| {
            let mut r = timed_report(times);
            for (i, x) in r.results.iter_mut().enumerate() {
                x.cpu_ms_per_run = Some(if i == 5 { row5_cpu } else { 10.0 + i as f64 });
            }
            r
        };
        let o = CheckOptions::default();
        let b = with_cpu(&base, 15.0);
        let res = check_reports(&b, &with_cpu(&cur, 15.6), &o).unwrap();
        assert_eq!(slow_rows(&res), 0);
        assert!(
            notes_of(&res, 5).contains("CPU time per run moved only x1.04"),
            "{}",
            notes_of(&res, 5)
        );
        let res = check_reports(&b, &with_cpu(&cur, 30.0), &o).unwrap();
        assert_eq!(slow_rows(&res), 1);
        let mut no_cpu = with_cpu(&cur, 15.0);
        no_cpu.results[5].cpu_ms_per_run = None;
        assert_eq!(slow_rows(&check_reports(&b, &no_cpu, &o).unwrap()), 1);
        let (mut b2, mut c2) = (b.clone(), with_cpu(&cur, 15.0));
        for r in [&mut b2, &mut c2] {
            r.env.devices[0].device_type = "discrete_gpu".into();
            r.results
                .iter_mut()
                .for_each(|x| x.timer = "cuda_events".into());
        }
        assert_eq!(slow_rows(&check_reports(&b2, &c2, &o).unwrap()), 1);
    }
}
