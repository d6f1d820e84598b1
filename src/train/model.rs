//! The network and its passes, every reduction on detbench's own kernels:
//!
//! ```text
//! x (N,1,16,16) -> conv 3x3 (8) -> leaky ReLU -> conv 3x3 (8) -> leaky ReLU -> global average pool
//!   -> linear (8 -> 10) -> softmax cross-entropy
//! ```
//!
//! | step | kernel on the chosen backend |
//! | --- | --- |
//! | conv fwd (both layers) | `conv2d_fwd` `direct` |
//! | pooling (sum of 256 pixels per (n, c)) | `scatter_add` into N*C bins |
//! | linear fwd (a 1x1 convolution of the pooled features) | `conv2d_fwd` `direct` |
//! | loss (sum of N cross-entropies) | `sum` |
//! | linear dW, conv dW | `conv2d_bwd_weight` |
//! | linear db | `scatter_add` into 10 bins |
//! | linear dx, conv dx | `conv2d_bwd_data` `direct` |
//! | update | the optimizer kernels (`adam`, `fma` order, f32) |
//!
//! Deterministic mode uses `conv2d_bwd_weight` `deterministic`, `scatter_add`
//! `sort_segmented` and `sum` `tree`; nondeterministic mode their atomic variants
//! (`atomic`, falling back to `atomic_cas` where the device has no float atomic add).
//! What is left to the host is elementwise and exact or fixed: the leaky ReLU (slope 2^-4) and its mask, the
//! multiplication by 2^-8 (pool) and 2^-5 (batch mean), the bias add, and the softmax of
//! 10 logits per sample with the pure-Rust `libm` (the same bits on every platform).

use super::data::{Dataset, CLASSES, SIDE};
use crate::backend::{Backend, BackendKind};
use crate::error::{DetError, OpError};
use crate::inputs::Stream;
use crate::numerics::Precision;
use crate::ops::conv::{ConvJob, ConvShape, ConvVariant};
use crate::ops::optim::{self, OptimVariant, StepScalars, Storage};
use crate::ops::reduce::{ReduceJob, ReduceVariant};
use crate::ops::scatter::{ScatterJob, ScatterVariant};
use crate::ops::{Job, Op, Ordering};

/// Channels of both convolutions.
pub const CH: usize = 8;
/// Pixels per image.
const PIX: usize = SIDE * SIDE;

/// Offsets of the tensors in the flat parameter vector.
pub const W1: usize = 0;
pub const W2: usize = W1 + CH * 9;
pub const WL: usize = W2 + CH * CH * 9;
pub const BL: usize = WL + CLASSES * CH;
/// Parameters in all.
pub const PARAMS: usize = BL + CLASSES;

/// Deterministic or atomic kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Deterministic,
    Nondeterministic,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Deterministic => "deterministic",
            Mode::Nondeterministic => "nondeterministic",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DetError> {
        match s.trim() {
            "deterministic" => Ok(Mode::Deterministic),
            "nondeterministic" => Ok(Mode::Nondeterministic),
            other => Err(DetError::input(format!(
                "--mode: unknown mode '{other}' (expected deterministic or nondeterministic)"
            ))),
        }
    }
}

/// The device the training runs on: any backend's first usable device.
pub struct Device(Box<dyn Backend>);

impl Device {
    /// The first usable device of `kind`, or why there is none.
    pub fn open(kind: BackendKind) -> Result<Self, DetError> {
        let found = crate::backend::discover(&[kind]);
        if let Some(b) = found.backends.into_iter().next() {
            return Ok(Device(b));
        }
        let why: Vec<String> = found
            .infos
            .iter()
            .map(|i| format!("{}: {}", i.name, i.reason))
            .collect();
        Err(DetError::input(if why.is_empty() {
            format!("backend {kind} has no device of its own to train on (train runs detbench's own kernels)")
        } else {
            format!("backend {kind} has no usable device ({})", why.join("; "))
        }))
    }

    pub fn backend(&self) -> &dyn Backend {
        self.0.as_ref()
    }

    /// Runs a job once and returns its output.
    fn run1(&self, job: Job) -> Result<Vec<f64>, OpError> {
        let set = self.backend().run(&job)?;
        set.outputs
            .first()
            .cloned()
            .ok_or_else(|| OpError::Failed("the backend returned no run".into()))
    }
}

fn fail(what: &str, e: OpError) -> DetError {
    DetError::backend(format!("train: {what}: {e}"))
}

/// The kernels of one mode on one device, with the variants actually used.
pub struct Kernels<'a> {
    pub dev: &'a Device,
    pub mode: Mode,
    /// Variants used, for the report (e.g. "scatter_add atomic_cas").
    pub used: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl<'a> Kernels<'a> {
    pub fn new(dev: &'a Device, mode: Mode) -> Self {
        Self {
            dev,
            mode,
            used: Default::default(),
        }
    }

    fn note(&self, s: String) {
        self.used.borrow_mut().insert(s);
    }

    /// One convolution op on the device, f32 in and out.
    pub fn conv(
        &self,
        op: Op,
        shape: [usize; 10],
        a: Vec<f64>,
        b: Vec<f64>,
    ) -> Result<Vec<f64>, DetError> {
        let variant = match (op, self.mode) {
            (Op::Conv2dBwdWeight, Mode::Deterministic) => ConvVariant::Deterministic,
            (Op::Conv2dBwdWeight, Mode::Nondeterministic) => ConvVariant::Atomic,
            _ => ConvVariant::Direct,
        };
        let s = ConvShape::new(&shape)?;
        let job = ConvJob::new(op, s, Precision::F32, Precision::F32, variant, a, b, 256, 1)?;
        self.note(format!("{op} {}", variant.name()));
        self.dev
            .run1(Job::Conv(job))
            .map_err(|e| fail(&format!("{op} {}", variant.name()), e))
    }

    /// `out[idx[i]] += x[i]` on the device.
    pub fn scatter(&self, x: Vec<f64>, idx: Vec<u32>, bins: usize) -> Result<Vec<f64>, DetError> {
        let candidates: &[ScatterVariant] = match self.mode {
            Mode::Deterministic => &[ScatterVariant::SortSegmented],
            Mode::Nondeterministic => &[ScatterVariant::Atomic, ScatterVariant::AtomicCas],
        };
        let n = x.len();
        let mut counts = vec![0usize; bins];
        idx.iter().for_each(|&i| counts[i as usize] += 1);
        let mut last = None;
        for &variant in candidates {
            let job = ScatterJob {
                precision: Precision::F32,
                accumulator: Precision::F32,
                variant,
                ordering: Ordering::initial(variant.is_atomic()),
                x: x.clone(),
                idx: idx.clone(),
                bins,
                launch: crate::ops::reduce::launch_for(n, 256),
                runs: 1,
                chunk: crate::ops::scatter::chunk_for(n),
                fixed_scale: 0,
                repro: None,
                repro_bins: Vec::new(),
                max_count: counts.iter().copied().max().unwrap_or(0),
            };
            match self.dev.run1(Job::Scatter(job)) {
                Ok(out) => {
                    self.note(format!("scatter_add {}", variant.name()));
                    return Ok(out);
                }
                Err(OpError::Unsupported(why)) => last = Some(why),
                Err(e) => return Err(fail(&format!("scatter_add {}", variant.name()), e)),
            }
        }
        Err(DetError::backend(format!(
            "train: scatter_add unsupported on {}: {}",
            self.dev.backend().info().name,
            last.unwrap_or_default()
        )))
    }

    /// Sum of `x` on the device.
    pub fn sum(&self, x: Vec<f64>) -> Result<f64, DetError> {
        let candidates: &[ReduceVariant] = match self.mode {
            Mode::Deterministic => &[ReduceVariant::Tree],
            Mode::Nondeterministic => &[ReduceVariant::Atomic, ReduceVariant::AtomicCas],
        };
        let mut last = None;
        for &variant in candidates {
            let job = ReduceJob {
                op: Op::Sum,
                precision: Precision::F32,
                accumulator: Precision::F32,
                variant,
                ordering: Ordering::initial(variant.is_atomic()),
                x: std::sync::Arc::new(crate::numerics::Values::from_f64(
                    Precision::F32,
                    x.clone(),
                )),
                y: None,
                launch: crate::ops::reduce::launch_for(x.len(), 256),
                runs: 1,
                fixed_scale: 0,
                repro: None,
                max_abs: Default::default(),
            };
            match self.dev.run1(Job::Reduce(job)) {
                Ok(out) => {
                    self.note(format!("sum {}", variant.name()));
                    return Ok(out[0]);
                }
                Err(OpError::Unsupported(why)) => last = Some(why),
                Err(e) => return Err(fail(&format!("sum {}", variant.name()), e)),
            }
        }
        Err(DetError::backend(format!(
            "train: sum unsupported on {}: {}",
            self.dev.backend().info().name,
            last.unwrap_or_default()
        )))
    }
}

/// He-normal initial weights from the seed, zero bias.
pub fn init_params(seed: u64) -> Vec<f32> {
    let mut s = Stream::new(seed, 0x1_417);
    let mut p = vec![0f32; PARAMS];
    let fill = |p: &mut [f32], fan_in: f64, s: &mut Stream| {
        let scale = (2.0 / fan_in).sqrt();
        p.iter_mut().for_each(|v| *v = (s.normal() * scale) as f32);
    };
    fill(&mut p[W1..W2], 9.0, &mut s);
    fill(&mut p[W2..WL], (CH * 9) as f64, &mut s);
    // Glorot-like for the classifier: variance 1/CH.
    fill(&mut p[WL..BL], 2.0 * CH as f64, &mut s);
    p
}

/// Slope of the leaky ReLU for negative inputs: a power of two, so the product is exact
/// (the same bits on every backend and platform). A plain ReLU let some seeds' first large
/// steps push every unit negative, after which no gradient reached the convolutions and
/// the network stayed at chance.
pub const LEAK: f64 = 1.0 / 16.0;

/// Leaky ReLU.
fn leaky(v: f64) -> f64 {
    if v > 0.0 {
        v
    } else {
        v * LEAK
    }
}

/// The gradient `d` through a leaky ReLU whose input was `y`.
fn leaky_grad(y: f64, d: f64) -> f64 {
    if y > 0.0 {
        d
    } else {
        d * LEAK
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn conv_shape(n: usize, c: usize) -> [usize; 10] {
    [n, c, SIDE, SIDE, CH, 3, 3, 1, 1, 1]
}

fn linear_shape(n: usize) -> [usize; 10] {
    [n, CH, 1, 1, CLASSES, 1, 1, 1, 0, 1]
}

/// Activations kept for the backward pass.
pub struct Forward {
    pub y1: Vec<f64>,
    pub a1: Vec<f64>,
    pub y2: Vec<f64>,
    pub pooled: Vec<f64>,
    pub logits: Vec<f32>,
}

/// The forward pass of `n` images.
pub fn forward(k: &Kernels, p: &[f32], x: &[f64], n: usize) -> Result<Forward, DetError> {
    let y1 = k.conv(
        Op::Conv2dFwd,
        conv_shape(n, 1),
        x.to_vec(),
        f64s(&p[W1..W2]),
    )?;
    let a1: Vec<f64> = y1.iter().map(|&v| leaky(v)).collect();
    let y2 = k.conv(
        Op::Conv2dFwd,
        conv_shape(n, CH),
        a1.clone(),
        f64s(&p[W2..WL]),
    )?;
    let a2: Vec<f64> = y2.iter().map(|&v| leaky(v)).collect();
    let idx: Vec<u32> = (0..a2.len()).map(|i| (i / PIX) as u32).collect();
    // Mean of 256 pixels: the device's sum times 2^-8, exact.
    let pooled: Vec<f64> = k
        .scatter(a2, idx, n * CH)?
        .into_iter()
        .map(|v| v / PIX as f64)
        .collect();
    let z = k.conv(
        Op::Conv2dFwd,
        linear_shape(n),
        pooled.clone(),
        f64s(&p[WL..BL]),
    )?;
    let logits = z
        .iter()
        .enumerate()
        .map(|(i, &v)| v as f32 + p[BL + i % CLASSES])
        .collect();
    Ok(Forward {
        y1,
        a1,
        y2,
        pooled,
        logits,
    })
}

/// Softmax probabilities and cross-entropy of one sample's logits, with `libm` in f64 and
/// rounded to f32 (identical on every platform).
pub fn softmax_ce(logits: &[f32], label: usize) -> (Vec<f32>, f32) {
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let mut s = 0.0f64;
    for &l in logits {
        s += libm::exp(l as f64 - m);
    }
    let lse = m + libm::log(s);
    let probs = logits
        .iter()
        .map(|&l| libm::exp(l as f64 - lse) as f32)
        .collect();
    (probs, (lse - logits[label] as f64) as f32)
}

/// Loss and gradient of one batch.
pub fn loss_and_grad(
    k: &Kernels,
    p: &[f32],
    data: &Dataset,
    batch: &[usize],
) -> Result<(f32, Vec<f32>), DetError> {
    let n = batch.len();
    let x: Vec<f64> = batch.iter().flat_map(|&i| f64s(data.image(i))).collect();
    let f = forward(k, p, &x, n)?;
    let mut ce = Vec::with_capacity(n);
    let mut dlogits = vec![0f64; n * CLASSES];
    let inv_n = 1.0 / n as f32;
    for (s, &i) in batch.iter().enumerate() {
        let label = data.labels[i] as usize;
        let (probs, l) = softmax_ce(&f.logits[s * CLASSES..(s + 1) * CLASSES], label);
        ce.push(l as f64);
        for c in 0..CLASSES {
            let t = if c == label { 1.0 } else { 0.0 };
            dlogits[s * CLASSES + c] = ((probs[c] - t) * inv_n) as f64;
        }
    }
    let loss = (k.sum(ce)? as f32) * inv_n;
    let mut grad = vec![0f32; PARAMS];
    // Linear layer.
    let bidx: Vec<u32> = (0..n * CLASSES).map(|i| (i % CLASSES) as u32).collect();
    let db = k.scatter(dlogits.clone(), bidx, CLASSES)?;
    let dwl = k.conv(
        Op::Conv2dBwdWeight,
        linear_shape(n),
        dlogits.clone(),
        f.pooled.clone(),
    )?;
    let dpool = k.conv(
        Op::Conv2dBwdData,
        linear_shape(n),
        dlogits,
        f64s(&p[WL..BL]),
    )?;
    // Pool and ReLU backward: exact elementwise (x 2^-8, mask).
    let dy2: Vec<f64> =
        f.y2.iter()
            .enumerate()
            .map(|(i, &y)| leaky_grad(y, dpool[i / PIX] / PIX as f64))
            .collect();
    let dw2 = k.conv(
        Op::Conv2dBwdWeight,
        conv_shape(n, CH),
        dy2.clone(),
        f.a1.clone(),
    )?;
    let da1 = k.conv(Op::Conv2dBwdData, conv_shape(n, CH), dy2, f64s(&p[W2..WL]))?;
    let dy1: Vec<f64> = da1
        .iter()
        .zip(&f.y1)
        .map(|(&d, &y)| leaky_grad(y, d))
        .collect();
    let dw1 = k.conv(Op::Conv2dBwdWeight, conv_shape(n, 1), dy1, x)?;
    for (dst, src) in [(W1, &dw1), (W2, &dw2), (WL, &dwl), (BL, &db)] {
        for (j, &v) in src.iter().enumerate() {
            grad[dst + j] = v as f32;
        }
    }
    Ok((loss, grad))
}

/// Accuracy and mean loss on a data set, in batches of `batch`.
pub fn evaluate(
    k: &Kernels,
    p: &[f32],
    data: &Dataset,
    batch: usize,
) -> Result<(f64, f64), DetError> {
    let mut correct = 0usize;
    let mut ce = Vec::with_capacity(data.len());
    let mut start = 0;
    while start < data.len() {
        let idx: Vec<usize> = (start..(start + batch).min(data.len())).collect();
        let x: Vec<f64> = idx.iter().flat_map(|&i| f64s(data.image(i))).collect();
        let f = forward(k, p, &x, idx.len())?;
        for (s, &i) in idx.iter().enumerate() {
            let l = &f.logits[s * CLASSES..(s + 1) * CLASSES];
            let label = data.labels[i] as usize;
            // First maximum wins: a fixed tie rule.
            let arg = (0..CLASSES).fold(0, |b, c| if l[c] > l[b] { c } else { b });
            correct += (arg == label) as usize;
            ce.push(softmax_ce(l, label).1 as f64);
        }
        start += batch;
    }
    let n = data.len() as f64;
    Ok((correct as f64 / n, k.sum(ce)? / n))
}

/// The optimizer with its state on the device (Adam, `fma` order, f32), made by the
/// device's backend through the kernel lookup.
pub struct Optimizer(Box<dyn optim::state::TrainState>);

/// The optimizer variant the trainer uses.
pub fn optimizer_variant() -> OptimVariant {
    OptimVariant::parse(Op::Adam, "fma").expect("adam fma exists")
}

impl Optimizer {
    pub fn new(dev: &Device, init: &[f32]) -> Result<Self, DetError> {
        let request = optim::state::StateInit {
            variant: optimizer_variant(),
            storage: Storage::F32,
            init: init.to_vec(),
        };
        let b = dev.backend();
        crate::backend::lookup(&request, b.kernel_api(), b.kind().name())
            .map(Optimizer)
            .map_err(|e| fail("optimizer state", e))
    }

    /// One step; returns the new parameters.
    pub fn step(
        &mut self,
        dev: &Device,
        s: &StepScalars,
        grad: &[f32],
    ) -> Result<Vec<f32>, DetError> {
        self.0
            .step(dev.backend().kernel_api(), s, grad)
            .map_err(|e| fail("adam step", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backward pass is the gradient: central differences in f64-free arithmetic agree
    /// to a few percent on parameters of every tensor.
    #[test]
    fn gradient_matches_finite_differences() {
        let dev = Device::open(BackendKind::ALL[0]).unwrap();
        let k = Kernels::new(&dev, Mode::Deterministic);
        let data = super::super::data::generate(8, 3, 0);
        let batch: Vec<usize> = (0..8).collect();
        let p = init_params(3);
        let (_, g) = loss_and_grad(&k, &p, &data, &batch).unwrap();
        for &j in &[W1 + 4, W2 + 17, WL + 5, BL + 2] {
            let h = 1e-2f32;
            let mut a = p.clone();
            a[j] += h;
            let mut b = p.clone();
            b[j] -= h;
            let la = loss_and_grad(&k, &a, &data, &batch).unwrap().0;
            let lb = loss_and_grad(&k, &b, &data, &batch).unwrap().0;
            let fd = (la - lb) / (2.0 * h);
            assert!(
                (fd - g[j]).abs() <= 0.05 * g[j].abs() + 2e-4,
                "param {j}: fd {fd} vs grad {}",
                g[j]
            );
        }
    }
}
