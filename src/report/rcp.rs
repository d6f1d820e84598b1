//! Training-level comparison of the deterministic and nondeterministic modes over replicas,
//! in the spirit of MLPerf's reference convergence points: trim the extreme replicas, then
//! a one-sided test and a one-sided prediction band for a new replica.
//!
//! It lives under `report` (the HTML and Markdown renderers use it) so that `report` does
//! not depend on `tolerance`; `tolerance` re-exports it.

use crate::report::train::TrainReport;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Summary of one metric over replicas of one mode.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicaSummary {
    /// Replicas counted (after trimming).
    pub n: usize,
    /// Replicas trimmed away (the best and the worst when there are at least 5).
    pub trimmed: usize,
    /// Trimmed mean.
    pub mean: f64,
    /// Trimmed sample standard deviation (0 with a single replica).
    pub std: f64,
    /// One-sided prediction limit at the requested confidence for the metric of one new
    /// replica of this mode: mean + t s sqrt(1 + 1/n) for a loss (an upper limit), mean -
    /// t s sqrt(1 + 1/n) for an accuracy (a lower limit), with t Student's quantile on n - 1
    /// degrees of freedom (assumes normally distributed replicas); null under 2 replicas.
    #[serde(default)]
    pub band: Option<f64>,
}

/// The MLPerf-RCP-style comparison of one metric between the two modes.
#[derive(Clone, Debug, Serialize)]
pub struct TrainComparison {
    /// `final_loss` or `final_accuracy`.
    pub metric: String,
    /// Backend whose two modes are compared (a training report may hold several).
    #[serde(default)]
    pub backend: String,
    /// Deterministic replicas.
    pub deterministic: ReplicaSummary,
    /// Nondeterministic replicas.
    pub nondeterministic: ReplicaSummary,
    /// The alternative hypothesis tested, in words.
    pub alternative: String,
    /// Welch's t statistic (null when the test does not apply).
    pub t: Option<f64>,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: Option<f64>,
    /// One-sided p-value.
    pub p: Option<f64>,
    /// Conclusion at 1 - confidence, in words.
    pub verdict: String,
    /// Nondeterministic replicas (untrimmed) outside the deterministic mode's one-sided band.
    #[serde(default)]
    pub outside_band: Option<usize>,
}

impl TrainComparison {
    /// "wgpu final_loss", or the metric alone when the backend is not recorded.
    pub fn label(&self) -> String {
        if self.backend.is_empty() {
            self.metric.clone()
        } else {
            format!("{} {}", self.backend, self.metric)
        }
    }
}

/// Mean and sample std, trimming the best and worst replica when there are at least 5.
pub fn trimmed_summary(values: &[f64]) -> (ReplicaSummary, Vec<f64>) {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let trimmed = if v.len() >= 5 {
        v = v[1..v.len() - 1].to_vec();
        2
    } else {
        0
    };
    let s = summary(&v);
    (ReplicaSummary { trimmed, ..s }, v)
}

/// One-sided prediction limit for one new value: mean +- t_{C, n-1} s sqrt(1 + 1/n).
pub fn prediction_limit(s: &ReplicaSummary, confidence: f64, upper: bool) -> Option<f64> {
    if s.n < 2 || !s.mean.is_finite() {
        return None;
    }
    let t = StudentsT::new(0.0, 1.0, (s.n - 1) as f64)
        .ok()?
        .inverse_cdf(confidence);
    let half = t * s.std * (1.0 + 1.0 / s.n as f64).sqrt();
    Some(if upper { s.mean + half } else { s.mean - half })
}

/// One-sided Welch t-test of H1 "mean(b) > mean(a)": (t, df, p). `None` when a sample has
/// fewer than 2 values or both have zero variance.
pub fn welch_greater(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    let sa = summary(a);
    let sb = summary(b);
    if sa.n < 2 || sb.n < 2 {
        return None;
    }
    let va = sa.std * sa.std / sa.n as f64;
    let vb = sb.std * sb.std / sb.n as f64;
    let se2 = va + vb;
    if se2 <= 0.0 {
        return None;
    }
    let t = (sb.mean - sa.mean) / se2.sqrt();
    let df = se2 * se2 / (va * va / (sa.n as f64 - 1.0) + vb * vb / (sb.n as f64 - 1.0));
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some((t, df, dist.sf(t)))
}

/// Mean and sample std without trimming.
fn summary(v: &[f64]) -> ReplicaSummary {
    let n = v.len();
    let mean = if n > 0 {
        v.iter().sum::<f64>() / n as f64
    } else {
        f64::NAN
    };
    let std = if n > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    ReplicaSummary {
        n,
        trimmed: 0,
        mean,
        std,
        band: None,
    }
}

/// Compares final loss and accuracy of the two modes of a training report, per backend.
pub fn train_comparison(t: &TrainReport, confidence: f64) -> Vec<TrainComparison> {
    let mut out = Vec::new();
    for backend in t.backends() {
        let det = t.mode(&backend, "deterministic");
        let nd = t.mode(&backend, "nondeterministic");
        if let (Some(det), Some(nd)) = (det, nd) {
            out.extend(compare_modes(det, nd, &backend, confidence));
        }
    }
    out
}

fn compare_modes(
    det: &crate::report::train::TrainMode,
    nd: &crate::report::train::TrainMode,
    backend: &str,
    confidence: f64,
) -> Vec<TrainComparison> {
    let alpha = 1.0 - confidence;
    let mut out = Vec::new();
    for (metric, a, b, higher_is_worse) in [
        ("final_loss", det.final_losses(), nd.final_losses(), true),
        (
            "final_accuracy",
            det.final_accuracies(),
            nd.final_accuracies(),
            false,
        ),
    ] {
        let (mut sa, ta) = trimmed_summary(&a);
        let (mut sb, tb) = trimmed_summary(&b);
        sa.band = prediction_limit(&sa, confidence, higher_is_worse);
        sb.band = prediction_limit(&sb, confidence, higher_is_worse);
        let outside_band = sa.band.map(|lim| {
            b.iter()
                .filter(|&&x| !x.is_finite() || if higher_is_worse { x > lim } else { x < lim })
                .count()
        });
        // H1: the nondeterministic mode is worse (higher loss, lower accuracy).
        let test = if higher_is_worse {
            welch_greater(&ta, &tb)
        } else {
            welch_greater(&tb, &ta)
        };
        let alternative = if higher_is_worse {
            "nondeterministic mean final loss > deterministic"
        } else {
            "nondeterministic mean final accuracy < deterministic"
        };
        let verdict = match test {
            Some((_, _, p)) if p < alpha => {
                format!("nondeterminism is significantly worse at alpha = {alpha:.3} (p = {p:.3e})")
            }
            Some((_, _, p)) => {
                format!("no significant difference at alpha = {alpha:.3} (p = {p:.3})")
            }
            None if sa.n < 2 || sb.n < 2 => {
                "test not applicable: fewer than 2 replicas in a mode".into()
            }
            None if sa.mean == sb.mean => {
                "identical in every replica of both modes: no difference".into()
            }
            None => "test not applicable: both modes have zero variance but different means".into(),
        };
        out.push(TrainComparison {
            metric: metric.into(),
            backend: backend.into(),
            deterministic: sa,
            nondeterministic: sb,
            alternative: alternative.into(),
            t: test.map(|x| x.0),
            df: test.map(|x| x.1),
            p: test.map(|x| x.2),
            verdict,
            outside_band,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_detects_a_clear_difference() {
        let a = [1.0, 1.1, 0.9, 1.0, 1.05];
        let b = [2.0, 2.1, 1.9, 2.0, 2.05];
        let (t, _, p) = welch_greater(&a, &b).unwrap();
        assert!(t > 10.0 && p < 1e-6, "{t} {p}");
        let (_, _, p) = welch_greater(&b, &a).unwrap();
        assert!(p > 0.99);
    }

    #[test]
    fn prediction_limit_uses_student_quantile() {
        // n = 4, mean 1, s = 1: t_{0.95, 3} = 2.3534 (tables), sqrt(1.25) = 1.1180.
        let s = summary(&[0.0, 1.0, 1.0, 2.0]);
        let s = ReplicaSummary {
            std: 1.0,
            mean: 1.0,
            ..s
        };
        let up = prediction_limit(&s, 0.95, true).unwrap();
        assert!((up - (1.0 + 2.353_363 * 1.118_034)).abs() < 1e-4, "{up}");
        let lo = prediction_limit(&s, 0.95, false).unwrap();
        assert!((lo - (1.0 - 2.353_363 * 1.118_034)).abs() < 1e-4, "{lo}");
    }
}
