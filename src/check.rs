//! `detbench check`: compares a current report with a baseline, for CI.
//!
//! Results are matched by (op, backend, device, precision, accumulator, variant, ordering,
//! size, bins, shape, input, seed). A pair regresses when:
//! - it was `ok` and is not any more (error or unsupported: a capability was lost);
//! - it was bitwise reproducible and is not any more;
//! - a deterministic variant gives other bits than before (the fingerprint changed: the
//!   driver, the compiler or the kernel changed the numbers), or its inputs changed;
//! - its largest ULP error or run-to-run ULP spread left the baseline's band,
//!   `2 x baseline + 2` ULPs ([`BAND_FACTOR`], [`BAND_SLACK_ULP`]): nondeterministic variants
//!   draw a new maximum every run, so the band leaves room for sampling, while any change of
//!   a deterministic variant is already caught by its fingerprint;
//! - it got slower beyond noise: a one-sided Mann-Whitney U test on `times_ms` rejects
//!   "current is not slower" at alpha = [`ALPHA`] AND the median slowed by more than
//!   [`MIN_SLOWDOWN`]. The rank test needs no normality (timings are skewed); the median
//!   threshold keeps tiny but significant shifts from failing CI. With too few runs for
//!   the test to ever reach alpha, the finding says so and timing is not judged.
//!
//! Results present on one side only are listed. A vanished result is a regression only when
//! it was a deterministic variant that ran `ok` and bitwise reproducibly in the baseline:
//! losing a reproducible kernel is what a determinism CI exists to catch, while matrices
//! that grow or shrink otherwise are a choice of the person running them.

use crate::cli::Outcome;
use crate::error::DetError;
use crate::report::{self, Report, ResultRecord};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use statrs::distribution::{ContinuousCDF, Normal};
use std::collections::BTreeMap;
use std::path::Path;

/// Significance level of the timing test.
pub const ALPHA: f64 = 0.01;
/// Smallest median slowdown (fraction) that counts as a regression.
pub const MIN_SLOWDOWN: f64 = 0.10;
/// ULP bands are `BAND_FACTOR * baseline + BAND_SLACK_ULP`.
pub const BAND_FACTOR: u64 = 2;
/// See [`BAND_FACTOR`].
pub const BAND_SLACK_ULP: u64 = 2;

/// The identity of a result across reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub op: String,
    pub backend: String,
    pub device: String,
    pub precision: String,
    pub accumulator: String,
    pub variant: String,
    pub ordering: String,
    pub size: u64,
    pub bins: Option<u64>,
    pub shape: String,
    pub input: String,
    pub seed: u64,
}

impl Key {
    pub fn of(r: &ResultRecord) -> Key {
        Key {
            op: r.op.clone(),
            backend: r.backend.clone(),
            device: r.device.clone(),
            precision: r.precision.clone(),
            accumulator: r.accumulator.clone(),
            variant: r.variant.clone(),
            ordering: r.ordering.clone(),
            size: r.size,
            bins: r.bins,
            shape: r.shape.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            input: r.input.clone(),
            seed: r.seed,
        }
    }

    /// A short readable name: "sum f32/f32 tree [none] n=1000 normal seed=7".
    pub fn label(&self) -> String {
        let mut s = format!(
            "{} {}/{} {} [{}] n={}",
            self.op, self.precision, self.accumulator, self.variant, self.ordering, self.size
        );
        if let Some(b) = self.bins {
            s.push_str(&format!(" bins={b}"));
        }
        if !self.shape.is_empty() {
            s.push_str(&format!(" shape={}", self.shape));
        }
        s.push_str(&format!(" {} seed={}", self.input, self.seed));
        s
    }

    /// "backend:device".
    pub fn device_label(&self) -> String {
        format!("{}:{}", self.backend, self.device)
    }
}

/// What the check found for one result.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    pub key: Option<Key>,
    /// Regressions, each a readable sentence.
    pub regressions: Vec<String>,
    /// Things worth knowing that are not regressions.
    pub notes: Vec<String>,
}

/// Result of a Mann-Whitney U test that the second sample is stochastically larger.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MannWhitney {
    /// One-sided p-value, and whether it was computed exactly (no ties, small samples).
    P { p: f64, exact: bool },
    /// No p-value at or below alpha is attainable with these sample sizes.
    TooFewRuns { min_p: f64 },
}

/// One-sided Mann-Whitney U test of H1 "values in `b` tend to be larger than in `a`".
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
    // U_b counts pairs (a_i, b_j) with b_j > a_i (ties count one half).
    let mut u = 0.0;
    let mut ties = false;
    for &x in a {
        for &y in b {
            if y > x {
                u += 1.0;
            } else if y == x {
                u += 0.5;
                ties = true;
            }
        }
    }
    let mut pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    pooled.sort_by(|x, y| x.total_cmp(y));
    ties |= pooled.windows(2).any(|w| w[0] == w[1]);
    if !ties && n1 <= 30 && n2 <= 30 {
        // P(U >= u) under H0 = #{arrangements with U >= u} / C(n1+n2, n1).
        let counts = u_distribution(n1, n2);
        let total: f64 = counts.iter().sum();
        let u = u as usize;
        let tail: f64 = counts[u.min(counts.len())..].iter().sum();
        return MannWhitney::P {
            p: tail / total,
            exact: true,
        };
    }
    let (f1, f2) = (n1 as f64, n2 as f64);
    let n = f1 + f2;
    let mean = f1 * f2 / 2.0;
    // Tie correction: sum over tie groups of t^3 - t.
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let mut j = i;
        while j + 1 < pooled.len() && pooled[j + 1] == pooled[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
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
    // table[i][j] is the distribution for i elements of a and j of b.
    let mut prev: Vec<Vec<f64>> = vec![vec![0.0; max_u + 1]; n2 + 1];
    for row in prev.iter_mut() {
        row[0] = 1.0; // i = 0: U = 0 always.
    }
    for i in 1..=n1 {
        let mut cur: Vec<Vec<f64>> = vec![vec![0.0; max_u + 1]; n2 + 1];
        cur[0][0] = 1.0;
        for j in 1..=n2 {
            for u in 0..=max_u {
                // Largest is from a: contributes nothing.
                let mut c = prev[j][u];
                // Largest is from b: beats all i elements of a.
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

fn median(v: &[f64]) -> Option<f64> {
    crate::shared::stats::median(v)
}

fn band(base: u64) -> u64 {
    base.saturating_mul(BAND_FACTOR)
        .saturating_add(BAND_SLACK_ULP)
}

/// Compares one matched pair.
pub fn compare(base: &ResultRecord, cur: &ResultRecord) -> Verdict {
    let mut v = Verdict {
        key: Some(Key::of(base)),
        ..Default::default()
    };
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
        v.regressions.push(format!(
            "ran ok in the baseline, now {}: {}",
            cur.status,
            if cur.message.is_empty() {
                "(no message)"
            } else {
                &cur.message
            }
        ));
        return v;
    }
    if !base.input_sha256.is_empty()
        && !cur.input_sha256.is_empty()
        && base.input_sha256 != cur.input_sha256
    {
        v.regressions.push(format!(
            "the same input spec and seed now give other input bytes (sha256 {} -> {}): the generator changed, so results are not comparable",
            short(&base.input_sha256),
            short(&cur.input_sha256)
        ));
    }
    if base.bitwise_reproducible == Some(true) && cur.bitwise_reproducible == Some(false) {
        v.regressions.push(format!(
            "was bitwise reproducible, now gives {} distinct outputs over {} runs (max {} ULP apart)",
            cur.distinct_outputs.unwrap_or(0),
            cur.runs,
            cur.max_ulp_run_to_run.unwrap_or(0)
        ));
    }
    if base.deterministic_variant
        && base.bitwise_reproducible == Some(true)
        && cur.bitwise_reproducible == Some(true)
    {
        if let (Some(a), Some(b)) = (&base.fingerprint, &cur.fingerprint) {
            if a != b {
                let detail = match (base.output_first, cur.output_first) {
                    (Some(x), Some(y)) => format!(" (output {x:e} -> {y:e})"),
                    _ => String::new(),
                };
                v.regressions.push(format!(
                    "deterministic variant now gives other bits: fingerprint {} -> {}{detail}; the driver, compiler or kernel changed the numbers",
                    short(a),
                    short(b)
                ));
            }
        }
    }
    if let (Some(b), Some(c)) = (base.max_ulp_err, cur.max_ulp_err) {
        if c > band(b) {
            v.regressions.push(format!(
                "max error grew to {c} ULP (abs {}), beyond the band {} ULP = {BAND_FACTOR} x baseline {b} + {BAND_SLACK_ULP}",
                sci(cur.max_abs_err),
                band(b)
            ));
        }
    }
    if let (Some(b), Some(c)) = (base.max_ulp_run_to_run, cur.max_ulp_run_to_run) {
        if c > band(b) {
            v.regressions.push(format!(
                "run-to-run spread grew to {c} ULP, beyond the band {} ULP = {BAND_FACTOR} x baseline {b} + {BAND_SLACK_ULP}",
                band(b)
            ));
        }
    }
    if base.timer != cur.timer && !base.timer.is_empty() && !cur.timer.is_empty() {
        v.notes.push(format!(
            "timer changed ({} -> {}): timings compared anyway",
            base.timer, cur.timer
        ));
    }
    if let (Some(mb), Some(mc)) = (median(&base.times_ms), median(&cur.times_ms)) {
        let slowdown = if mb > 0.0 { mc / mb - 1.0 } else { 0.0 };
        match mann_whitney_greater(&base.times_ms, &cur.times_ms, ALPHA) {
            MannWhitney::TooFewRuns { min_p } => v.notes.push(format!(
                "timing not judged: with {} and {} runs the one-sided Mann-Whitney U test cannot reach alpha = {ALPHA} (smallest p = {min_p:.3}); median {mb:.4} -> {mc:.4} ms",
                base.times_ms.len(),
                cur.times_ms.len()
            )),
            MannWhitney::P { p, exact } => {
                if p < ALPHA && slowdown > MIN_SLOWDOWN {
                    v.regressions.push(format!(
                        "slower: median {mb:.4} -> {mc:.4} ms (+{:.0}%); one-sided Mann-Whitney U on {}+{} runs gives p = {p:.2e} ({}) < alpha = {ALPHA}, and the slowdown exceeds {:.0}%",
                        slowdown * 100.0,
                        base.times_ms.len(),
                        cur.times_ms.len(),
                        if exact { "exact" } else { "normal approximation" },
                        MIN_SLOWDOWN * 100.0
                    ));
                }
            }
        }
    }
    v
}

fn short(h: &str) -> String {
    h.chars().take(12).collect()
}

fn sci(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3e}")).unwrap_or_else(|| "-".into())
}

/// The whole comparison.
pub struct CheckResult {
    pub verdicts: Vec<Verdict>,
}

impl CheckResult {
    pub fn regressions(&self) -> usize {
        self.verdicts
            .iter()
            .filter(|v| !v.regressions.is_empty())
            .count()
    }
}

/// Matches and compares every result of two reports.
pub fn check_reports(base: &Report, cur: &Report) -> CheckResult {
    let index = |r: &Report| -> BTreeMap<Key, ResultRecord> {
        r.results.iter().map(|x| (Key::of(x), x.clone())).collect()
    };
    let b = index(base);
    let c = index(cur);
    let mut verdicts = Vec::new();
    for (k, br) in &b {
        match c.get(k) {
            Some(cr) => verdicts.push(compare(br, cr)),
            None => {
                let mut v = Verdict {
                    key: Some(k.clone()),
                    ..Default::default()
                };
                if br.status == "ok"
                    && br.deterministic_variant
                    && br.bitwise_reproducible == Some(true)
                {
                    v.regressions.push(
                        "a deterministic, bitwise reproducible result of the baseline is missing from the current report".into(),
                    );
                } else {
                    v.notes
                        .push("in the baseline only (not a regression: not a reproducible deterministic result)".into());
                }
                verdicts.push(v);
            }
        }
    }
    for k in c.keys() {
        if !b.contains_key(k) {
            verdicts.push(Verdict {
                key: Some(k.clone()),
                notes: vec!["new in the current report (no baseline to compare with)".into()],
                ..Default::default()
            });
        }
    }
    CheckResult { verdicts }
}

/// Readable text of the comparison.
pub fn render_text(res: &CheckResult) -> String {
    let mut s = String::new();
    let mut notes = 0;
    for v in &res.verdicts {
        let Some(k) = &v.key else { continue };
        if !v.regressions.is_empty() {
            s.push_str(&format!(
                "REGRESSION {} on {}\n",
                k.label(),
                k.device_label()
            ));
            for r in &v.regressions {
                s.push_str(&format!("  - {r}\n"));
            }
        }
    }
    for v in &res.verdicts {
        let Some(k) = &v.key else { continue };
        if !v.notes.is_empty() {
            notes += 1;
            s.push_str(&format!("note {} on {}\n", k.label(), k.device_label()));
            for r in &v.notes {
                s.push_str(&format!("  - {r}\n"));
            }
        }
    }
    s.push_str(&format!(
        "detbench check: {} results compared, {} regressed, {} with notes\n",
        res.verdicts.len(),
        res.regressions(),
        notes
    ));
    s
}

/// JUnit XML: one test case per result, failures carry the explanation.
pub fn junit(res: &CheckResult) -> Result<String, DetError> {
    let mut suite = TestSuite::new("detbench check");
    for v in &res.verdicts {
        let Some(k) = &v.key else { continue };
        let status = if v.regressions.is_empty() {
            TestCaseStatus::success()
        } else {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(v.regressions[0].clone());
            st.set_type("regression");
            st.set_description(v.regressions.join("\n"));
            st
        };
        let mut tc = TestCase::new(k.label(), status);
        tc.set_classname(format!("detbench.{}", k.device_label()));
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
pub fn run(baseline: &Path, current: &Path, junit_out: Option<&Path>) -> Result<Outcome, DetError> {
    let base = report::load_report(baseline)?;
    let cur = report::load_report(current)?;
    let res = check_reports(&base, &cur);
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
        match mann_whitney_greater(&a, &b, ALPHA) {
            MannWhitney::P { p, exact } => {
                assert!(exact);
                // All of b above all of a: p = 1 / C(12, 6).
                assert!((p - 1.0 / 924.0).abs() < 1e-12, "{p}");
            }
            other => panic!("{other:?}"),
        }
        match mann_whitney_greater(&b, &a, ALPHA) {
            MannWhitney::P { p, .. } => assert!(p > 0.99),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            mann_whitney_greater(&a[..3], &b[..3], ALPHA),
            MannWhitney::TooFewRuns { .. }
        ));
    }
}
