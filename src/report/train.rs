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
#[derive(Clone, Debug, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
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
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TrainMode {
    /// `deterministic` or `nondeterministic`.
    pub mode: String,
    /// Every replica's trajectory.
    pub replicas: Vec<Replica>,
    /// Across-replica statistics, one entry per step, in step order.
    pub steps: Vec<StepStats>,
    /// First step at which any two replicas' weights differ in any bit; null if never.
    pub first_divergence_step: Option<u64>,
}

/// One replica's trajectory.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
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
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
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
