//! `detbench train`: a small convolutional network trained R times from the same seed, once
//! with deterministic kernels and once with atomic ones, to show how far kernel
//! nondeterminism alone moves a training run (report schema `detbench.train.v1`).
//!
//! - [`data`]: the seeded synthetic 10-class data set (checksum in the report);
//! - [`model`]: the network, its forward and backward passes on detbench's kernels, and the
//!   optimizer with its state on the device.
//!
//! Every replica starts from the same weights and sees the same batches in the same order,
//! so in deterministic mode replicas must end bitwise identical; any difference in
//! nondeterministic mode comes from the order atomics landed in.

pub mod data;
pub mod model;

use crate::backend::BackendKind;
use crate::error::DetError;
use crate::inputs::Stream;
use crate::numerics::ulp::ulp_distance;
use crate::numerics::Precision;
use crate::ops::optim::{step_scalars, Hyper};
use crate::report::train::{Replica, StepStats, TrainConfig, TrainMode, TrainReport, TRAIN_SCHEMA};
use model::{Device, Kernels, Mode, Optimizer};
use sha2::{Digest, Sha256};

/// Images in the training set.
pub const TRAIN_IMAGES: usize = 1024;
/// Images in the evaluation set.
pub const EVAL_IMAGES: usize = 256;
/// Images per step.
pub const BATCH: usize = 32;
/// Learning rate when `--lr` is not given.
pub const DEFAULT_LR: f64 = 0.05;

/// What `detbench train` was asked to do.
#[derive(Clone, Debug)]
pub struct TrainSpec {
    pub backend: BackendKind,
    pub steps: usize,
    pub replicas: usize,
    pub modes: Vec<Mode>,
    pub seed: u64,
    pub lr: f64,
    pub command: String,
}

impl TrainSpec {
    /// Checks the flags; bad input is `DetError::Input` (exit 2).
    pub fn parse(
        backend: &str,
        steps: usize,
        replicas: usize,
        mode: &str,
        seed: u64,
        lr: Option<f64>,
        command: String,
    ) -> Result<Self, DetError> {
        let backend: BackendKind = backend
            .parse()
            .map_err(|e: String| DetError::input(format!("--backend: {e}")))?;
        if steps == 0 {
            return Err(DetError::input("--steps must be at least 1"));
        }
        if replicas == 0 {
            return Err(DetError::input("--replicas must be at least 1"));
        }
        let lr = lr.unwrap_or(DEFAULT_LR);
        if !lr.is_finite() || lr <= 0.0 {
            return Err(DetError::input(format!(
                "--lr must be a positive finite number, got {lr}"
            )));
        }
        let mut modes = Vec::new();
        for m in mode.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let m = Mode::parse(m)?;
            if !modes.contains(&m) {
                modes.push(m);
            }
        }
        if modes.is_empty() {
            return Err(DetError::input(
                "--mode is empty (expected deterministic, nondeterministic or both)",
            ));
        }
        Ok(Self {
            backend,
            steps,
            replicas,
            modes,
            seed,
            lr,
            command,
        })
    }
}

/// One replica's trajectory: loss per step and weights after every step.
struct Run {
    loss: Vec<f64>,
    weights: Vec<Vec<f32>>,
    accuracy: f64,
    eval_loss: f64,
}

fn fingerprint(w: &[f32]) -> String {
    let mut h = Sha256::new();
    for v in w {
        h.update(v.to_le_bytes());
    }
    hex::encode(h.finalize())
}

/// The batches of every step: a seeded shuffle of the training set per epoch.
fn schedule(steps: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut s = Stream::new(seed, 0xba7c);
    let mut order: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        if order.len() < BATCH {
            let mut perm: Vec<usize> = (0..TRAIN_IMAGES).collect();
            for i in (1..perm.len()).rev() {
                let j = (s.next_u64() % (i as u64 + 1)) as usize;
                perm.swap(i, j);
            }
            order.extend(perm);
        }
        out.push(order.drain(..BATCH).collect());
    }
    out
}

fn train_once(
    dev: &Device,
    k: &Kernels,
    spec: &TrainSpec,
    train: &data::Dataset,
    eval: &data::Dataset,
) -> Result<Run, DetError> {
    let mut p = model::init_params(spec.seed);
    let v = model::optimizer_variant();
    let hyper = Hyper {
        lr: spec.lr as f32,
        ..Hyper::defaults(v.rule)
    };
    let scalars = step_scalars(v.rule, &hyper, spec.steps, spec.seed);
    let mut opt = Optimizer::new(dev, &p)?;
    let mut run = Run {
        loss: Vec::new(),
        weights: Vec::new(),
        accuracy: 0.0,
        eval_loss: 0.0,
    };
    for (batch, s) in schedule(spec.steps, spec.seed).iter().zip(&scalars) {
        if crate::interrupt::interrupted() {
            return Err(DetError::Backend(crate::interrupt::STOPPED.into()));
        }
        let (loss, grad) = model::loss_and_grad(k, &p, train, batch)?;
        p = opt.step(dev, s, &grad)?;
        run.loss.push(loss as f64);
        run.weights.push(p.clone());
    }
    (run.accuracy, run.eval_loss) = model::evaluate(k, &p, eval, EVAL_IMAGES)?;
    Ok(run)
}

/// Across-replica statistics of one mode.
fn mode_report(mode: Mode, runs: &[Run]) -> TrainMode {
    let steps = runs[0].loss.len();
    let mut stats = Vec::with_capacity(steps);
    let mut first = None;
    for t in 0..steps {
        let mut max_loss = 0.0f64;
        let mut div = 0.0f64;
        let mut ulp = 0u64;
        let w0 = &runs[0].weights[t];
        for (i, a) in runs.iter().enumerate() {
            for b in &runs[i + 1..] {
                max_loss = max_loss.max((a.loss[t] - b.loss[t]).abs());
            }
            let mut d2 = 0.0f64;
            for (&x, &y) in a.weights[t].iter().zip(w0) {
                d2 += (x as f64 - y as f64).powi(2);
                ulp = ulp.max(ulp_distance(Precision::F32, x as f64, y as f64));
                if first.is_none() && x.to_bits() != y.to_bits() {
                    first = Some(t as u64 + 1);
                }
            }
            div = div.max(d2.sqrt());
        }
        stats.push(StepStats {
            step: t as u64 + 1,
            max_abs_loss_delta: max_loss,
            weight_divergence: div,
            max_weight_ulp: ulp,
        });
    }
    TrainMode {
        mode: mode.name().into(),
        replicas: runs
            .iter()
            .enumerate()
            .map(|(i, r)| Replica {
                replica: i as u64,
                loss: r.loss.clone(),
                final_accuracy: r.accuracy,
                final_eval_loss: Some(r.eval_loss),
                weights_fingerprint: fingerprint(r.weights.last().expect("at least one step")),
            })
            .collect(),
        steps: stats,
        first_divergence_step: first,
    }
}

/// Trains every mode and replica and assembles the report.
pub fn run(spec: &TrainSpec) -> Result<TrainReport, DetError> {
    let dev = Device::open(spec.backend)?;
    let train = data::generate(TRAIN_IMAGES, spec.seed, 0);
    let eval = data::generate(EVAL_IMAGES, spec.seed, 1);
    let info = dev.backend().info().clone();
    let mut modes = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    let mut partial = false;
    'modes: for &mode in &spec.modes {
        let k = Kernels::new(&dev, mode);
        let mut runs = Vec::new();
        for _ in 0..spec.replicas {
            match train_once(&dev, &k, spec, &train, &eval) {
                Ok(run) => runs.push(run),
                // Stopped by Ctrl-C (at a step, or inside a kernel's runs): the replica in
                // progress is dropped, the finished ones of this mode are kept.
                Err(_) if crate::interrupt::interrupted() => {
                    partial = true;
                    break;
                }
                Err(e) => return Err(e),
            }
            if crate::interrupt::interrupted() {
                partial = true;
                break;
            }
        }
        if runs.is_empty() {
            break 'modes;
        }
        used.extend(
            k.used
                .into_inner()
                .into_iter()
                .map(|u| format!("{}: {u}", mode.name())),
        );
        modes.push(mode_report(mode, &runs));
        if partial {
            break 'modes;
        }
    }
    let mut env = crate::runner::environment(&spec.command, spec.seed, vec![info.clone()], &[]);
    env.kernel_hashes = crate::kernels::hashes();
    let sha = format!("{}+{}", train.sha256(), eval.sha256());
    Ok(TrainReport {
        schema: TRAIN_SCHEMA.into(),
        env,
        config: TrainConfig {
            backend: spec.backend.name().into(),
            device: info.name,
            steps: spec.steps as u64,
            replicas: spec.replicas as u64,
            seed: spec.seed,
            lr: spec.lr,
            dataset_sha256: sha,
            model: format!(
                "conv3x3(1->{ch}) ReLU conv3x3({ch}->{ch}) ReLU global-avg-pool linear({ch}->10) softmax-CE; {} params; Adam (fma order, f32) lr {}, betas (0.9, 0.999), eps 1e-8; batch {BATCH} of {TRAIN_IMAGES} synthetic 16x16 shape images, eval on {EVAL_IMAGES}; kernels: {}",
                model::PARAMS,
                spec.lr,
                used.into_iter().collect::<Vec<_>>().join(", "),
                ch = model::CH
            ),
        },
        modes,
        partial,
    })
}

/// Writes the report atomically as pretty JSON.
pub fn write(path: &std::path::Path, report: &TrainReport) -> Result<(), DetError> {
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| DetError::Io(format!("cannot serialise report: {e}")))?;
    crate::report::write_atomic(path, &json)
}

/// A short summary for the terminal.
pub fn summary(report: &TrainReport) -> String {
    let mut s = String::new();
    for m in &report.modes {
        let prints: std::collections::BTreeSet<_> =
            m.replicas.iter().map(|r| &r.weights_fingerprint).collect();
        let first = m.replicas.first();
        s.push_str(&format!(
            "{:<16} replicas {}  loss {:.4} -> {:.4}  eval acc {:.3}  distinct final weights {}  first divergence {}  final max ulp {}\n",
            m.mode,
            m.replicas.len(),
            first.and_then(|r| r.loss.first()).copied().unwrap_or(f64::NAN),
            first.and_then(|r| r.loss.last()).copied().unwrap_or(f64::NAN),
            first.map(|r| r.final_accuracy).unwrap_or(f64::NAN),
            prints.len(),
            m.first_divergence_step.map(|s| format!("step {s}")).unwrap_or_else(|| "never".into()),
            m.steps.last().map(|s| s.max_weight_ulp).unwrap_or(0),
        ));
    }
    s
}
