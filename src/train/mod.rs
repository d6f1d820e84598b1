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
mod render;

pub use render::{document, summary};

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
/// Peak learning rate when `--lr` is not given.
pub const DEFAULT_LR: f64 = 0.08;
/// Training steps when `--steps` is not given.
pub const DEFAULT_STEPS: usize = 80;
/// Share of the steps spent warming the learning rate up linearly from 0.
pub const WARMUP_FRACTION: f64 = 0.1;
/// The learning rate at the last step, as a fraction of the peak.
pub const FINAL_LR_FACTOR: f64 = 0.1;

/// What `detbench train` was asked to do.
#[derive(Clone, Debug)]
pub struct TrainSpec {
    /// Backends in the order given; `all` is cpu plus whichever GPUs have a device.
    pub backends: Vec<BackendKind>,
    /// Backends named explicitly: each must have a usable device (else exit 2).
    pub required: Vec<BackendKind>,
    pub steps: usize,
    pub replicas: usize,
    pub modes: Vec<Mode>,
    pub seed: u64,
    pub lr: f64,
    pub command: String,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

impl TrainSpec {
    /// Checks the flags; bad input is `DetError::Input` (exit 2). `backend` is a comma
    /// list as in `run` (`cpu`, `wgpu`, `cuda`, `all`).
    pub fn parse(
        backend: &str,
        steps: usize,
        replicas: usize,
        mode: &str,
        seed: u64,
        lr: Option<f64>,
        command: String,
    ) -> Result<Self, DetError> {
        let backends = crate::shared::list::parse_list("backend", backend, &BackendKind::ALL)?;
        let required = crate::shared::list::dedup(
            crate::shared::list::split_list("backend", backend, ',')?
                .into_iter()
                .filter(|p| *p != "all")
                .filter_map(|p| p.parse().ok())
                .collect(),
        );
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
            backends,
            required,
            steps,
            replicas,
            modes,
            seed,
            lr,
            command,
            progress: true,
        })
    }

    /// The same spec without a progress bar (`--quiet`, tests).
    pub fn quiet(mut self) -> Self {
        self.progress = false;
        self
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

/// The learning-rate factor of step `t` (from 1) of `steps`: a linear warm-up over the first
/// [`WARMUP_FRACTION`] of the steps, then a cosine decay to [`FINAL_LR_FACTOR`]. Warm-up
/// keeps Adam's first, poorly estimated second moments from throwing the weights far; the
/// decay lets the last steps settle instead of bouncing around the minimum at full rate.
/// Computed in f64 with `libm` and rounded once, so it is the same bits everywhere.
pub fn lr_factor(t: usize, steps: usize) -> f64 {
    let warm = ((steps as f64 * WARMUP_FRACTION).ceil() as usize).max(1);
    if t <= warm {
        return t as f64 / warm as f64;
    }
    let rest = (steps - warm).max(1) as f64;
    let progress = ((t - warm) as f64 / rest).min(1.0);
    FINAL_LR_FACTOR
        + (1.0 - FINAL_LR_FACTOR) * 0.5 * (1.0 + libm::cos(std::f64::consts::PI * progress))
}

fn train_once(
    dev: &Device,
    k: &Kernels,
    spec: &TrainSpec,
    train: &data::Dataset,
    eval: &data::Dataset,
    on_step: &dyn Fn(),
) -> Result<Run, DetError> {
    let mut p = model::init_params(spec.seed);
    let v = model::optimizer_variant();
    let hyper = Hyper {
        lr: spec.lr as f32,
        ..Hyper::defaults(v.rule)
    };
    let mut scalars = step_scalars(v.rule, &hyper, spec.steps, spec.seed);
    for (t, s) in scalars.iter_mut().enumerate() {
        s.neg_step = (s.neg_step as f64 * lr_factor(t + 1, spec.steps)) as f32;
    }
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
        on_step();
    }
    (run.accuracy, run.eval_loss) = model::evaluate(k, &p, eval, EVAL_IMAGES)?;
    Ok(run)
}

/// Across-replica statistics of one mode.
fn mode_report(mode: Mode, backend: BackendKind, device: &str, runs: &[Run]) -> TrainMode {
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
    let mut m = TrainMode {
        mode: mode.name().into(),
        backend: backend.name().into(),
        device: device.into(),
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
        spread: None,
    };
    m.spread = Some(m.compute_spread());
    m
}

/// The devices of the spec's backends: an explicitly named backend without a usable
/// device is bad input (exit 2); `all` skips it.
fn open_devices(spec: &TrainSpec) -> Result<Vec<(BackendKind, Device)>, DetError> {
    let mut out = Vec::new();
    for &kind in &spec.backends {
        match Device::open(kind) {
            Ok(d) => out.push((kind, d)),
            Err(e) if spec.required.contains(&kind) => return Err(e),
            Err(_) => {}
        }
    }
    if out.is_empty() {
        return Err(DetError::input("--backend: no backend has a usable device"));
    }
    Ok(out)
}

fn progress_bar(spec: &TrainSpec, devices: usize) -> Option<indicatif::ProgressBar> {
    if !spec.progress {
        return None;
    }
    let total = (devices * spec.modes.len() * spec.replicas * spec.steps) as u64;
    // Drawn only when stderr is a terminal, so logs and pipes stay clean.
    let b = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} steps {msg} [{elapsed_precise}<{eta_precise}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(b)
}

/// Trains every backend, mode and replica and assembles the report.
pub fn run(spec: &TrainSpec) -> Result<TrainReport, DetError> {
    let devices = open_devices(spec)?;
    let train = data::generate(TRAIN_IMAGES, spec.seed, 0);
    let eval = data::generate(EVAL_IMAGES, spec.seed, 1);
    let infos: Vec<_> = devices
        .iter()
        .map(|(_, d)| d.backend().info().clone())
        .collect();
    let bar = progress_bar(spec, devices.len());
    let mut modes = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    let mut partial = false;
    'devices: for (kind, dev) in &devices {
        let device = dev.backend().info().name.clone();
        for &mode in &spec.modes {
            let k = Kernels::new(dev, mode);
            let mut runs = Vec::new();
            for r in 0..spec.replicas {
                if let Some(b) = &bar {
                    b.set_message(format!(
                        "{kind} {} replica {}/{}",
                        mode.name(),
                        r + 1,
                        spec.replicas
                    ));
                }
                let tick = || {
                    if let Some(b) = &bar {
                        b.inc(1);
                    }
                };
                match train_once(dev, &k, spec, &train, &eval, &tick) {
                    Ok(run) => runs.push(run),
                    // Stopped by Ctrl-C (at a step, or inside a kernel's runs): the replica
                    // in progress is dropped, the finished ones of this mode are kept.
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
                break 'devices;
            }
            used.extend(
                k.used
                    .into_inner()
                    .into_iter()
                    .map(|u| format!("{} {}: {u}", kind, mode.name())),
            );
            modes.push(mode_report(mode, *kind, &device, &runs));
            if partial {
                break 'devices;
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut env = crate::runner::environment(&spec.command, spec.seed, infos.clone(), &[]);
    env.kernel_hashes = crate::kernels::hashes();
    let sha = format!("{}+{}", train.sha256(), eval.sha256());
    let join = |f: &dyn Fn(&(BackendKind, Device)) -> String| {
        devices.iter().map(f).collect::<Vec<_>>().join(",")
    };
    Ok(TrainReport {
        schema: TRAIN_SCHEMA.into(),
        env,
        config: TrainConfig {
            backend: join(&|(k, _)| k.name().to_string()),
            device: infos
                .iter()
                .map(|i| i.name.clone())
                .collect::<Vec<_>>()
                .join("; "),
            steps: spec.steps as u64,
            replicas: spec.replicas as u64,
            seed: spec.seed,
            lr: spec.lr,
            dataset_sha256: sha,
            model: format!(
                "conv3x3(1->{ch}) leaky-ReLU(1/16) conv3x3({ch}->{ch}) leaky-ReLU(1/16) global-avg-pool linear({ch}->10) softmax-CE; {} params; Adam (fma order, f32) peak lr {}, linear warm-up over the first {:.0}% of the steps then cosine decay to {}x, betas (0.9, 0.999), eps 1e-8; batch {BATCH} of {TRAIN_IMAGES} synthetic 16x16 shape images, eval on {EVAL_IMAGES}; kernels: {}",
                model::PARAMS,
                spec.lr,
                WARMUP_FRACTION * 100.0,
                FINAL_LR_FACTOR,
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
        .map_err(|e| DetError::encode("cannot serialise report", e))?;
    crate::report::write_atomic(path, &json)
}
