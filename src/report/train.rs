//! The `detbench.train.v1` schema: what the training workload writes. The same model is
//! trained by several replicas from the same seed, once with deterministic kernels and
//! once with nondeterministic (atomic) ones, so any divergence between replicas of one
//! mode comes from the kernels alone.

use super::Env;
use crate::error::DetError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Schema tag of training reports.
pub const TRAIN_SCHEMA: &str = "detbench.train.v1";

/// A whole training report.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrainReport {
    /// Always [`TRAIN_SCHEMA`].
    pub schema: String,
    /// Provenance, as in run reports.
    pub env: Env,
    /// What was trained and how.
    pub config: TrainConfig,
    /// One entry per mode that ran (`deterministic`, `nondeterministic`).
    pub modes: Vec<TrainMode>,
    /// True when the run was interrupted and the report holds only what was measured.
    #[serde(default)]
    pub partial: bool,
}

/// Configuration shared by every replica.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct TrainConfig {
    /// Backend the kernels ran on (cpu, cuda, wgpu).
    pub backend: String,
    /// Device name.
    pub device: String,
    /// Optimizer steps per replica.
    pub steps: u64,
    /// Replicas per mode.
    pub replicas: u64,
    /// Seed of the weights' initialisation and of the data order (the same for every replica).
    pub seed: u64,
    /// Learning rate.
    pub lr: f64,
    /// SHA-256 of the training data set's bytes, so runs on different data are not compared.
    pub dataset_sha256: String,
    /// Model and optimizer description (layers, optimizer name), free text.
    #[serde(default)]
    pub model: String,
}

/// The replicas of one mode and how far they drift apart.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct TrainMode {
    /// `deterministic` or `nondeterministic`.
    pub mode: String,
    /// Backend of this mode's replicas (cpu, cuda, wgpu); empty in reports written before
    /// `train` took a backend list, where `config.backend` is the only one.
    #[serde(default)]
    pub backend: String,
    /// Device of this mode's replicas; empty in older reports (see `config.device`).
    #[serde(default)]
    pub device: String,
    /// Every replica's trajectory.
    pub replicas: Vec<Replica>,
    /// Across-replica statistics, one entry per step, in step order.
    pub steps: Vec<StepStats>,
    /// First step at which any two replicas' weights differ in any bit; null if never.
    pub first_divergence_step: Option<u64>,
    /// Spread of the final metrics across this mode's replicas (absent in older reports).
    #[serde(default)]
    pub spread: Option<ModeSpread>,
}

/// How far one final metric varies across the replicas of one mode: the quantity Pham et
/// al. (ASE 2020, "Problems and Opportunities in Training Deep Learning Software Systems:
/// An Analysis of Variance") report for identical training runs. With deterministic
/// kernels every replica computes the same bits, so all spreads are exactly 0.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Spread {
    /// Replicas measured.
    pub n: u64,
    pub min: f64,
    pub max: f64,
    /// `max - min`: the largest difference between two replicas.
    pub range: f64,
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); 0 with one replica.
    pub stddev: f64,
}

impl Spread {
    /// The spread of `v`; None when `v` is empty or holds a non-finite value.
    pub fn of(v: &[f64]) -> Option<Self> {
        if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let n = v.len();
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = v.iter().sum::<f64>() / n as f64;
        let stddev = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Spread {
            n: n as u64,
            min,
            max,
            range: max - min,
            mean,
            stddev,
        })
    }
}

/// Spreads of the final metrics of one mode.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ModeSpread {
    /// Accuracy on the evaluation set after the last step.
    pub final_accuracy: Option<Spread>,
    /// Training loss of the last step.
    pub final_loss: Option<Spread>,
    /// Loss on the evaluation set after the last step.
    pub final_eval_loss: Option<Spread>,
    /// Distinct final weight fingerprints among the replicas (1: all bitwise identical).
    pub distinct_final_weights: u64,
}

/// One replica's trajectory.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Replica {
    /// Replica index, from 0.
    pub replica: u64,
    /// Training loss after every step.
    pub loss: Vec<f64>,
    /// Accuracy on the evaluation set after the last step, in [0, 1].
    pub final_accuracy: f64,
    /// Final loss on the evaluation set (null when the workload has none).
    #[serde(default)]
    pub final_eval_loss: Option<f64>,
    /// SHA-256 of the final weights' bits.
    pub weights_fingerprint: String,
}

/// Across-replica drift after one step.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StepStats {
    /// Step number, from 1.
    pub step: u64,
    /// Largest |loss_i - loss_j| over replica pairs.
    pub max_abs_loss_delta: f64,
    /// Largest L2 norm of the weight difference between any replica and replica 0.
    pub weight_divergence: f64,
    /// Largest ULP distance between corresponding weights of any replica and replica 0.
    pub max_weight_ulp: u64,
}

impl TrainMode {
    /// The spreads of this mode's final metrics, from its replicas.
    pub fn compute_spread(&self) -> ModeSpread {
        let eval: Vec<f64> = self
            .replicas
            .iter()
            .filter_map(|r| r.final_eval_loss)
            .collect();
        let prints: std::collections::BTreeSet<&str> = self
            .replicas
            .iter()
            .map(|r| r.weights_fingerprint.as_str())
            .collect();
        ModeSpread {
            final_accuracy: Spread::of(&self.final_accuracies()),
            final_loss: Spread::of(&self.final_losses()),
            final_eval_loss: if eval.len() == self.replicas.len() {
                Spread::of(&eval)
            } else {
                None
            },
            distinct_final_weights: prints.len() as u64,
        }
    }

    /// "wgpu nondeterministic", or the mode alone in reports without a per-mode backend.
    pub fn label(&self) -> String {
        if self.backend.is_empty() {
            self.mode.clone()
        } else {
            format!("{} {}", self.backend, self.mode)
        }
    }

    /// Final training loss of every replica (replicas that ran no step are left out).
    pub fn final_losses(&self) -> Vec<f64> {
        self.replicas
            .iter()
            .filter_map(|r| r.loss.last().copied())
            .collect()
    }

    /// Final accuracy of every replica.
    pub fn final_accuracies(&self) -> Vec<f64> {
        self.replicas.iter().map(|r| r.final_accuracy).collect()
    }
}

impl TrainReport {
    /// The backends of the report's modes, in order of first appearance (the one of
    /// `config.backend` for reports whose modes carry none).
    pub fn backends(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in &self.modes {
            let b = if m.backend.is_empty() {
                self.config.backend.clone()
            } else {
                m.backend.clone()
            };
            if !out.contains(&b) {
                out.push(b);
            }
        }
        out
    }

    /// The mode named `mode` on `backend` (a mode without a backend is `config.backend`'s).
    pub fn mode(&self, backend: &str, mode: &str) -> Option<&TrainMode> {
        self.modes.iter().find(|m| {
            m.mode == mode
                && (m.backend == backend
                    || (m.backend.is_empty() && self.config.backend == backend))
        })
    }
}

/// Reads a training report; a missing, truncated, unreadable or wrong-schema file is bad input.
pub fn load_train_report(path: &Path) -> Result<TrainReport, DetError> {
    let value = read_json(path)?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(TRAIN_SCHEMA) => {}
        Some(other) => {
            return Err(DetError::input(format!(
                "{} has schema '{other}', expected '{TRAIN_SCHEMA}'",
                path.display()
            )))
        }
        None => {
            return Err(DetError::input(format!(
                "{} has no 'schema' field: not a detbench training report",
                path.display()
            )))
        }
    }
    serde_json::from_value(value).map_err(|e| {
        DetError::input(format!(
            "{} does not match {TRAIN_SCHEMA}: {e}",
            path.display()
        ))
    })
}

/// A report of either kind, as `detbench report` accepts them.
#[derive(Clone, Debug)]
pub enum AnyReport {
    /// A `detbench.report.v1` run report.
    Run(super::Report),
    /// A `detbench.train.v1` training report.
    Train(TrainReport),
}

/// Reads a run or a training report, chosen by its `schema` field.
pub fn load_any(path: &Path) -> Result<AnyReport, DetError> {
    let value = read_json(path)?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(TRAIN_SCHEMA) => load_train_report(path).map(AnyReport::Train),
        _ => super::load_report(path).map(AnyReport::Run),
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value, DetError> {
    let bytes = crate::safety::read_input(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        DetError::input(format!(
            "{} is not valid JSON (truncated or corrupt?): {e}",
            path.display()
        ))
    })
}

/// The JSON Schema of [`TRAIN_SCHEMA`] reports, published as docs/train.schema.json.
pub fn json_schema() -> serde_json::Value {
    let mut s =
        serde_json::to_value(schemars::schema_for!(TrainReport)).expect("a JSON Schema serialises");
    s["title"] = format!("{TRAIN_SCHEMA} (detbench training report)").into();
    s["properties"]["schema"]["const"] = TRAIN_SCHEMA.into();
    s
}
