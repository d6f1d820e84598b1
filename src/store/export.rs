//! Exports for continuous-benchmark services, from a report or from the store: Bencher's
//! metric format (BMF JSON, <https://bencher.dev/docs/reference/bencher-metric-format>) and
//! github-action-benchmark's `customSmallerIsBetter` JSON. One [`Exporter`] per format,
//! named by [`ExportType`] (hyperfine's shape): a new format is one impl and one line.

use crate::error::DetError;
use crate::report::key::ResultKey;
use crate::report::schema::Report;
use serde_json::{json, Map, Value};

/// One timed result, as every exporter sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// The result key's text: the benchmark's name (unique within one run).
    pub name: String,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Distinct output bit patterns over the runs, where measured.
    pub distinct_outputs: Option<i64>,
    pub runs: usize,
}

impl Metric {
    /// The timed ok rows of a report, by result key.
    pub fn of_report(report: &Report) -> Result<Vec<Metric>, DetError> {
        let index =
            crate::report::key::index(report).map_err(|e| DetError::input(e.to_string()))?;
        Ok(index
            .iter()
            .filter_map(|(k, r)| {
                (r.status == "ok")
                    .then(|| {
                        Metric::new(
                            k,
                            r.median_ms,
                            &r.times_ms,
                            r.distinct_outputs.map(|d| d as i64),
                        )
                    })
                    .flatten()
            })
            .collect())
    }

    fn new(
        key: &ResultKey,
        median_ms: Option<f64>,
        times: &[f64],
        distinct: Option<i64>,
    ) -> Option<Metric> {
        Metric::from_parts(key.to_string(), median_ms, times, distinct)
    }

    /// A metric from a row's parts; None without a finite median.
    pub fn from_parts(
        name: String,
        median_ms: Option<f64>,
        times: &[f64],
        distinct: Option<i64>,
    ) -> Option<Metric> {
        let median_ms = median_ms.filter(|m| m.is_finite())?;
        let finite: Vec<f64> = times.iter().copied().filter(|t| t.is_finite()).collect();
        let min_ms = finite.iter().copied().fold(median_ms, f64::min);
        let max_ms = finite.iter().copied().fold(median_ms, f64::max);
        Some(Metric {
            name,
            median_ms,
            min_ms,
            max_ms,
            distinct_outputs: distinct,
            runs: finite.len(),
        })
    }
}

/// Writes metrics in one service's format.
pub trait Exporter {
    fn export(&self, metrics: &[Metric]) -> Value;
}

/// Bencher Metric Format: `{benchmark: {measure: {value, lower_value, upper_value}}}`.
/// `latency` is Bencher's built-in measure, in nanoseconds: the median, with the fastest
/// and slowest run as bounds. `distinct-outputs` counts the output bit patterns over the
/// runs (1 is reproducible), so a Bencher threshold can gate determinism too.
pub struct Bencher;

impl Exporter for Bencher {
    fn export(&self, metrics: &[Metric]) -> Value {
        let ns = |ms: f64| ms * 1e6;
        let mut out = Map::new();
        for m in metrics {
            let mut measures = Map::new();
            measures.insert(
                "latency".into(),
                json!({
                    "value": ns(m.median_ms),
                    "lower_value": ns(m.min_ms),
                    "upper_value": ns(m.max_ms),
                }),
            );
            if let Some(d) = m.distinct_outputs {
                measures.insert("distinct-outputs".into(), json!({ "value": d as f64 }));
            }
            out.insert(m.name.clone(), Value::Object(measures));
        }
        Value::Object(out)
    }
}

/// github-action-benchmark, `tool: customSmallerIsBetter`: a list of `{name, unit, value,
/// range, extra}`; the value is the median time in ms, the range half the spread of the
/// runs, the extra line the run count and distinct outputs.
pub struct GithubActionBenchmark;

impl Exporter for GithubActionBenchmark {
    fn export(&self, metrics: &[Metric]) -> Value {
        Value::Array(
            metrics
                .iter()
                .map(|m| {
                    let mut extra = format!("{} runs", m.runs);
                    if let Some(d) = m.distinct_outputs {
                        extra.push_str(&format!(", {d} distinct outputs"));
                    }
                    json!({
                        "name": m.name,
                        "unit": "ms",
                        "value": m.median_ms,
                        "range": format!("± {}", (m.max_ms - m.min_ms) / 2.0),
                        "extra": extra,
                    })
                })
                .collect(),
        )
    }
}

/// Every export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportType {
    Bencher,
    GithubActionBenchmark,
}

impl ExportType {
    pub const ALL: [ExportType; 2] = [ExportType::Bencher, ExportType::GithubActionBenchmark];

    pub fn name(self) -> &'static str {
        match self {
            ExportType::Bencher => "bencher",
            ExportType::GithubActionBenchmark => "github-action-benchmark",
        }
    }

    pub fn exporter(self) -> Box<dyn Exporter> {
        match self {
            ExportType::Bencher => Box::new(Bencher),
            ExportType::GithubActionBenchmark => Box::new(GithubActionBenchmark),
        }
    }
}

impl std::str::FromStr for ExportType {
    type Err = DetError;
    fn from_str(s: &str) -> Result<ExportType, DetError> {
        ExportType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                DetError::input(format!(
                    "unknown export format '{s}' (one of: {})",
                    ExportType::ALL.map(|t| t.name()).join(", ")
                ))
            })
    }
}
