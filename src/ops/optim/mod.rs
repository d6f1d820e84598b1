//! The optimizer family: `sgd`, `adam` and `adamw`, run for [`OptimParams::steps`] steps over
//! seeded gradients (one fresh vector per step, drawn on the host with [`crate::inputs`]).
//!
//! # Variants
//!
//! - `sgd`: `momentum_fma`, `momentum_no_fma`, `nesterov_fma`, `nesterov_no_fma`,
//!   `momentum_stochastic_rounding`, `nesterov_stochastic_rounding` (heavy-ball momentum and
//!   Nesterov momentum are separate variants, so the report names them);
//! - `adam`, `adamw`: `fma`, `no_fma`, `stochastic_rounding` (`adamw` decays the weights
//!   apart from the gradient, after Loshchilov & Hutter, "Decoupled Weight Decay
//!   Regularization", ICLR 2019).
//!
//! # Precisions
//!
//! - `--precision f32`: f32 parameters, gradients and state;
//! - `--precision bf16` with `fma`/`no_fma`: bf16 parameters and gradients, an f32 master
//!   copy of the parameters and f32 state; after each step the master is rounded to nearest
//!   into the bf16 parameters (the output);
//! - `--precision bf16` with `stochastic_rounding`: bf16 parameters and gradients with no
//!   master copy; each step widens the parameter to f32 (exact), computes the `fma`-order
//!   update in f32 and rounds the result into bf16 stochastically with [`sr_hash`], a
//!   counter-based hash of (seed, step, index) that every backend computes with the same
//!   32-bit integer operations, so the bits are a function of the seed alone.
//!
//! Other precisions (and `stochastic_rounding` with f32 parameters) are kept as jobs that
//! every backend reports unsupported with the same reason.
//!
//! # The formula, operation by operation
//!
//! Every operation is in f32, rounded to nearest even. `fma(a,b,c)` is one rounding of
//! a*b+c; in `no_fma` the same expression is `rn(rn(a*b) + c)`. Per-step scalars are computed
//! once on the host (f64, then rounded to f32) and passed to every backend, so no backend
//! evaluates `pow`: `step_size = f32(lr / (1 - b1^t))`, `isb = f32(1 / sqrt(1 - b2^t))`,
//! `decay = f32(1 - lr*wd)`. Powers are repeated f64 multiplications (bit-identical everywhere).
//!
//! SGD (buffer starts at 0, so step 1 gives `buf = g` exactly, as PyTorch's clone does):
//! ```text
//! buf = fma(mu, buf, g)
//! d   = fma(mu, buf, g)          (nesterov)   |   d = buf   (momentum)
//! p   = fma(-lr, d, p)
//! ```
//! Adam / AdamW (the moments in lerp form, PyTorch's `exp_avg.lerp_(grad, 1-beta1)`; the
//! second moment is written the same way so each addition has a single product operand and
//! a compiler's contraction choice is unambiguous):
//! ```text
//! p   = p * decay                (adamw only; PyTorch's param.mul_(1 - lr*wd))
//! d1  = g - m
//! m   = fma(omb1, d1, m)         omb1 = f32(1 - b1)
//! d2  = fma(g, g, -v)
//! v   = fma(omb2, d2, v)         omb2 = f32(1 - b2)
//! s   = sqrt(v)                  correctly rounded
//! den = fma(s, isb, eps)
//! q   = m / den                  correctly rounded
//! p   = fma(-step_size, q, p)
//! ```
//! This CPU order is the emulation GPU results are compared with: CUDA compiles the plain
//! expressions with `--fmad=true` (`fma`) or `--fmad=false` (`no_fma`); wgpu cannot choose
//! contraction, so its `fma` kernels fuse every multiply-add explicitly and `no_fma` is
//! unsupported there. WGSL and Vulkan let a driver evaluate `fma()` as a multiply then an
//! add (Mesa's lavapipe does: such results equal the CPU's `no_fma` order bit for bit), so
//! SGD's kernels use common.wgsl's exact fma emulation (`fma32`) instead, and their bits
//! equal the CPU emulation on every device (tests/it/optim_props.rs checks it on lavapipe).
//! Adam's kernels still call `fma()`, and WGSL allows 2.5 ULP for division and an inherited
//! error for `sqrt`: Adam on wgpu is compared with the CPU emulation within a tolerance, and
//! the report's cross-backend figures say how far apart they are.
//!
//! # Reference and bounds
//!
//! The reference is the same update in f64 (same f32 constants, exact sqrt and division to
//! f64 precision), from the same initial parameters and gradients; bf16 outputs are compared
//! with the unrounded f64 trajectory. SGD is linear in the state, so a first-order running
//! error bound is propagated along the reference trajectory (see [`sgd_reference`]). Adam's
//! division `q = m / (sqrt(v) isb + eps)` amplifies an error in `v` by up to
//! `|m| isb / (2 sqrt(v) den^2)`, so no bound of the form `c u |p|` exists; instead a running
//! error bound is propagated operation by operation along the reference trajectory, with
//! the square root and the division bounded exactly rather than linearised (see
//! [`adam_reference`] and docs/optimizer-bounds.md). It is finite whenever the error of the
//! denominator stays below the denominator; an element where it does not has no bound
//! (`None`), and the row is `unsupported` rather than `ok`.

pub mod cpu;
pub mod cuda;
mod family;
pub mod state;
pub use family::FAMILY;
mod flags;
mod rounding;
pub use flags::{OptimFlags, MAX_STEPS};
pub mod wgpu;

pub use rounding::{fmix32, round_bf16_stochastic, sr_hash, sr_key};

use super::{Case, CaseParams, Job, Launch, Op, Prepared};
use crate::error::DetError;
use crate::inputs;
use crate::numerics::Precision;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Variants of `sgd`, in report order.
pub const SGD_VARIANTS: &[&str] = &[
    "momentum_fma",
    "momentum_no_fma",
    "nesterov_fma",
    "nesterov_no_fma",
    "momentum_stochastic_rounding",
    "nesterov_stochastic_rounding",
];

/// Variants of `adam` and `adamw`, in report order.
pub const ADAM_VARIANTS: &[&str] = &["fma", "no_fma", "stochastic_rounding"];

/// Steps when `--steps` is not given.
pub const DEFAULT_STEPS: usize = 10;

/// The optimizers' own case parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptimParams {
    /// Optimizer steps per run.
    pub steps: usize,
}

impl CaseParams for OptimParams {}

/// Elements per thread in the GPU kernels (one 16-byte vector of f32).
pub const VEC: usize = 4;

/// The update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// SGD with heavy-ball momentum (`nesterov: false`) or Nesterov momentum.
    Sgd { nesterov: bool },
    /// Adam (no weight decay).
    Adam,
    /// AdamW (decoupled weight decay).
    AdamW,
}

impl Rule {
    /// Entry point stem: `sgd_momentum`, `sgd_nesterov`, `adam`, `adamw`.
    pub fn stem(self) -> &'static str {
        match self {
            Rule::Sgd { nesterov: false } => "sgd_momentum",
            Rule::Sgd { nesterov: true } => "sgd_nesterov",
            Rule::Adam => "adam",
            Rule::AdamW => "adamw",
        }
    }
}

/// How parameters are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Storage {
    /// f32 parameters, gradients and state.
    F32,
    /// bf16 parameters and gradients, f32 master copy and state.
    Bf16Master,
    /// bf16 parameters and gradients, no master copy, stochastic rounding; f32 state.
    Bf16Sr,
}

impl Storage {
    /// Entry point suffix: `f32`, `bf16`, `bf16_sr`.
    pub fn suffix(self) -> &'static str {
        match self {
            Storage::F32 => "f32",
            Storage::Bf16Master => "bf16",
            Storage::Bf16Sr => "bf16_sr",
        }
    }

    /// Format of the parameters (the output) and of the gradients.
    pub fn param_precision(self) -> Precision {
        match self {
            Storage::F32 => Precision::F32,
            _ => Precision::Bf16,
        }
    }

    /// 4-byte words of device traffic per parameter per step: reads and writes of the
    /// parameters, gradient, state and master copy.
    pub fn words_per_param(self, rule: Rule) -> f64 {
        let state = match rule {
            Rule::Sgd { .. } => 1.0,
            _ => 2.0,
        };
        match self {
            // p r/w, g r, state r/w.
            Storage::F32 => 2.0 + 1.0 + 2.0 * state,
            // master r/w, bf16 p w, bf16 g r, state r/w.
            Storage::Bf16Master => 2.0 + 0.5 + 0.5 + 2.0 * state,
            // bf16 p r/w, bf16 g r, state r/w.
            Storage::Bf16Sr => 0.5 + 0.5 + 0.5 + 2.0 * state,
        }
    }
}

/// A parsed variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OptimVariant {
    pub rule: Rule,
    /// Multiply-adds fused (`fma`) or rounded twice (`no_fma`).
    pub fma: bool,
    /// Stochastic rounding into bf16 (always with the `fma` order).
    pub stochastic: bool,
}

impl OptimVariant {
    /// Parses a variant name of `op`.
    pub fn parse(op: Op, name: &str) -> Result<Self, String> {
        let (rule, rest) = match op {
            Op::Sgd => {
                if let Some(r) = name.strip_prefix("momentum_") {
                    (Rule::Sgd { nesterov: false }, r)
                } else if let Some(r) = name.strip_prefix("nesterov_") {
                    (Rule::Sgd { nesterov: true }, r)
                } else {
                    return Err(format!(
                        "unknown sgd variant '{name}' (expected {})",
                        SGD_VARIANTS.join(", ")
                    ));
                }
            }
            Op::Adam => (Rule::Adam, name),
            Op::Adamw => (Rule::AdamW, name),
            other => return Err(format!("{other} is not an optimizer")),
        };
        let (fma, stochastic) = match rest {
            "fma" => (true, false),
            "no_fma" => (false, false),
            "stochastic_rounding" => (true, true),
            _ => {
                let all = if op == Op::Sgd {
                    SGD_VARIANTS
                } else {
                    ADAM_VARIANTS
                };
                return Err(format!(
                    "unknown {op} variant '{name}' (expected {})",
                    all.join(", ")
                ));
            }
        };
        Ok(Self {
            rule,
            fma,
            stochastic,
        })
    }

    /// `fma` / `no_fma` part of the name.
    pub fn fma_name(self) -> &'static str {
        if self.fma {
            "fma"
        } else {
            "no_fma"
        }
    }
}

/// Hyperparameters, each an f32 value (kept as f32 so every backend and the f64 reference
/// use the same numbers).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyper {
    pub lr: f32,
    /// SGD momentum.
    pub momentum: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// AdamW decoupled weight decay.
    pub weight_decay: f32,
}

impl Hyper {
    /// PyTorch's defaults for the rule (SGD: lr 0.01, momentum 0.9; Adam: lr 1e-3, betas
    /// (0.9, 0.999), eps 1e-8; AdamW: the same with weight decay 0.01).
    pub fn defaults(rule: Rule) -> Self {
        match rule {
            Rule::Sgd { .. } => Hyper {
                lr: 0.01,
                momentum: 0.9,
                beta1: 0.0,
                beta2: 0.0,
                eps: 0.0,
                weight_decay: 0.0,
            },
            Rule::Adam | Rule::AdamW => Hyper {
                lr: 1e-3,
                momentum: 0.0,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: if rule == Rule::AdamW { 0.01 } else { 0.0 },
            },
        }
    }
}

/// The scalars of one step, computed once on the host and given to every backend.
#[derive(Clone, Copy, Debug, PartialEq, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct StepScalars {
    /// SGD: -lr. Adam: -lr / (1 - b1^t).
    pub neg_step: f32,
    /// SGD: momentum. Adam: 1 - b1.
    pub a: f32,
    /// Adam: 1 - b2 (0 for SGD).
    pub b: f32,
    /// Adam: 1 / sqrt(1 - b2^t).
    pub isb: f32,
    /// Adam: eps.
    pub eps: f32,
    /// AdamW: 1 - lr*wd (1 otherwise).
    pub decay: f32,
    /// Step number t, from 1 (the stochastic-rounding counter).
    pub step: u32,
    /// Key of the stochastic-rounding hash (from the seed).
    pub key: u32,
}

/// The per-step scalars of `rule` for steps 1..=k.
pub fn step_scalars(rule: Rule, h: &Hyper, k: usize, seed: u64) -> Vec<StepScalars> {
    let key = sr_key(seed);
    let (b1, b2) = (h.beta1 as f64, h.beta2 as f64);
    let (mut p1, mut p2) = (1.0f64, 1.0f64);
    (1..=k)
        .map(|t| {
            // Repeated multiplication, not powi: bit-identical on every platform.
            p1 *= b1;
            p2 *= b2;
            match rule {
                Rule::Sgd { .. } => StepScalars {
                    neg_step: -h.lr,
                    a: h.momentum,
                    b: 0.0,
                    isb: 0.0,
                    eps: 0.0,
                    decay: 1.0,
                    step: t as u32,
                    key,
                },
                Rule::Adam | Rule::AdamW => StepScalars {
                    neg_step: (-(h.lr as f64) / (1.0 - p1)) as f32,
                    a: (1.0 - b1) as f32,
                    b: (1.0 - b2) as f32,
                    isb: (1.0 / (1.0 - p2).sqrt()) as f32,
                    eps: h.eps,
                    decay: if rule == Rule::AdamW {
                        (1.0 - h.lr as f64 * h.weight_decay as f64) as f32
                    } else {
                        1.0
                    },
                    step: t as u32,
                    key,
                },
            }
        })
        .collect()
}

/// An optimizer job.
#[derive(Clone, Debug)]
pub struct OptimJob {
    pub op: Op,
    pub variant: OptimVariant,
    pub storage: Storage,
    pub hyper: Hyper,
    /// Initial parameters, representable in the storage format.
    pub init: Arc<Vec<f32>>,
    /// One gradient vector per step, representable in the storage format.
    pub grads: Arc<Vec<Vec<f32>>>,
    /// Scalars of every step.
    pub steps: Vec<StepScalars>,
    pub launch: Launch,
    pub runs: usize,
    /// Set when no backend can run this case (the reason).
    pub unsupported: Option<String>,
}

impl OptimJob {
    pub fn n(&self) -> usize {
        self.init.len()
    }

    /// Entry point name: `{stem}_{suffix}`, e.g. `adamw_bf16_sr`.
    pub fn entry(&self) -> String {
        format!("{}_{}", self.variant.rule.stem(), self.storage.suffix())
    }

    /// Device bytes moved by all steps of one run.
    pub fn bytes_moved(&self) -> f64 {
        4.0 * self.storage.words_per_param(self.variant.rule)
            * self.n() as f64
            * self.steps.len() as f64
    }
}

/// Grid of the elementwise kernels: one thread per [`VEC`] elements.
pub fn launch_for(n: usize, workgroup_size: u32) -> Launch {
    let vecs = n.div_ceil(VEC) as u64;
    Launch {
        workgroup_size,
        workgroups: vecs
            .div_ceil(workgroup_size as u64)
            .max(1)
            .min(u32::MAX as u64) as u32,
    }
}

fn sha_f32(p: Precision, values: &[f32]) -> Sha256 {
    let mut h = Sha256::new();
    for &v in values {
        match p {
            Precision::Bf16 => h.update(half::bf16::from_f32(v).to_le_bytes()),
            _ => h.update(v.to_le_bytes()),
        }
    }
    h
}

/// Builds the job, the f64 reference and the bounds of one optimizer case.
pub fn prepare(case: &Case) -> Result<Prepared, DetError> {
    let variant = OptimVariant::parse(case.op, &case.variant).map_err(DetError::input)?;
    let k = case
        .params
        .get::<OptimParams>()
        .map_or(DEFAULT_STEPS, |p| p.steps);
    if k == 0 {
        return Err(DetError::input("--steps must be at least 1"));
    }
    if case.size == 0 {
        return Err(DetError::input("size must be at least 1"));
    }
    let mut unsupported = None;
    let storage = match (case.precision, variant.stochastic) {
        (Precision::F32, false) => Storage::F32,
        (Precision::Bf16, false) => Storage::Bf16Master,
        (Precision::Bf16, true) => Storage::Bf16Sr,
        (Precision::F32, true) => {
            unsupported = Some(
                "stochastic_rounding rounds the f32 update into bf16 parameters: run it with --precision bf16".to_string(),
            );
            Storage::F32
        }
        (p, _) => {
            unsupported = Some(format!(
                "optimizer kernels take f32 parameters, or bf16 parameters with an f32 master copy or stochastic rounding; {p} is not offered"
            ));
            Storage::F32
        }
    };
    let pp = storage.param_precision();
    if case.size as u128 * k as u128 > (1u128 << 32) {
        return Err(DetError::input(format!(
            "size {} x {k} steps of gradients is too many to hold on the host (at most 2^32 values)",
            case.size
        )));
    }
    let init: Vec<f32> = inputs::generate(&case.input, pp, case.size, case.seed, 0)?
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let n = init.len();
    // Gradients: standard normal scaled by 2^-3 (exact), one stream per step.
    let grads: Vec<Vec<f32>> = (0..k)
        .map(|s| {
            let mut st = inputs::Stream::new(case.seed, 1000 + s as u64);
            (0..n)
                .map(|_| pp.round(st.normal() * 0.125) as f32)
                .collect()
        })
        .collect();
    let hyper = Hyper::defaults(variant.rule);
    let steps = step_scalars(variant.rule, &hyper, k, case.seed);
    let job = OptimJob {
        op: case.op,
        variant,
        storage,
        hyper,
        init: Arc::new(init),
        grads: Arc::new(grads),
        steps,
        launch: launch_for(n, case.workgroup_size),
        runs: case.runs,
        unsupported,
    };
    let (exact, bounds) = reference(&job);
    let mut sha = sha_f32(pp, &job.init);
    let init_sha = hex::encode(sha.finalize_reset());
    for g in job.grads.iter() {
        sha.update(sha_f32(pp, g).finalize());
    }
    let grads_sha = hex::encode(sha.finalize());
    let note = format!(
        "{k} steps; {}; params {}, state f32{}",
        hyper_note(&job),
        pp,
        match storage {
            Storage::F32 => "",
            Storage::Bf16Master => ", f32 master copy",
            Storage::Bf16Sr => ", stochastic rounding (no master copy)",
        }
    );
    Ok(Prepared {
        phases: Vec::new(),
        bytes_moved: job.bytes_moved(),
        dumps: vec![(
            "params0".to_string(),
            pp,
            std::sync::Arc::new(
                job.init
                    .iter()
                    .map(|&v| v as f64)
                    .collect::<Vec<f64>>()
                    .into(),
            ),
        )],
        job: Job::Optim(job),
        exact: exact.into(),
        exact_out: Vec::new().into(),
        exact_rest: Vec::new().into(),
        bounds: bounds.into(),
        condition_number: None,
        input_sha256: format!("{init_sha}+{grads_sha}"),
        out_precision: pp,
        scalar: false,
        note,
    })
}

fn hyper_note(job: &OptimJob) -> String {
    let h = &job.hyper;
    match job.variant.rule {
        Rule::Sgd { nesterov } => format!(
            "lr {}, momentum {}{}",
            h.lr,
            h.momentum,
            if nesterov { " (nesterov)" } else { "" }
        ),
        Rule::Adam => format!(
            "lr {}, betas ({}, {}), eps {:e}",
            h.lr, h.beta1, h.beta2, h.eps
        ),
        Rule::AdamW => format!(
            "lr {}, betas ({}, {}), eps {:e}, decoupled weight decay {}",
            h.lr, h.beta1, h.beta2, h.eps, h.weight_decay
        ),
    }
}

/// The f64 reference after all steps and the per-element bounds.
pub fn reference(job: &OptimJob) -> (Vec<f64>, Vec<Option<f64>>) {
    match job.variant.rule {
        Rule::Sgd { nesterov } => sgd_reference(job, nesterov),
        Rule::Adam | Rule::AdamW => adam_reference(job),
    }
}

/// Relative error of one square root, in units of u = 2^-24, that the bound allows. CPU and
/// CUDA round sqrt correctly (1); WGSL defines `sqrt(x)` as inheriting the accuracy of
/// `1.0 / inverseSqrt(x)` (2 ULP, then a 2.5 ULP division): at most 9u, taken as 10. The
/// bound holds for every backend, so it takes the loosest.
pub const ADAM_SQRT_U: f64 = 10.0;

/// Relative error of one division, in units of u: WGSL allows 2.5 ULP (5u) for divisors in
/// [2^-126, 2^126] (Adam's denominator is at least eps = 1e-8); taken as 6.
pub const ADAM_DIV_U: f64 = 6.0;

/// Adam/AdamW in f64 with the job's f32 constants, and an a-priori bound on the distance of
/// every backend's f32 result from it (docs/optimizer-bounds.md derives it).
///
/// The reference quantities (p, m, v, s, den, q) are the exact trajectory; e_x bounds
/// |computed x - exact x|. With u = 2^-24 (f32) and eta = 2^-125 (twice f32's smallest
/// normal: a result flushed or underflowed, plus one flushed subnormal operand), one
/// multiply-add `a*b + c` of the kernel, fused or rounded twice (WGSL may do either), errs
/// by at most `R(a, b, c) = 2u(1+u)(|a||b| + |c|) + eta` given its computed operands, and
/// each bound uses the computed operands' magnitudes `|x| + e_x`, so no term is dropped:
/// ```text
/// p1  = p decay                  e_p1  = decay e_p + u decay (|p| + e_p) + eta      (adamw)
/// d1  = g - m                    computed d1 - d1 = -(m~ - m) + r1, |r1| <= u(|g-m| + e_m) + eta
/// m'  = m + a d1                 e_m'  = (1-a) e_m + a |r1| + R(a, |d1| + e_d1, |m| + e_m)
/// d2  = g g - v                  computed d2 - d2 = -(v~ - v) + r2, |r2| <= R(g, g, |v| + e_v)
/// v'  = v + b d2                 e_v'  = (1-b) e_v + b |r2| + R(b, |d2| + e_d2, |v| + e_v)
/// s   = sqrt(v')                 e_s   = E + K_sqrt u (s + E) + eta,
///                                        E = min(e_v' / sqrt(v'), sqrt(e_v'))  (|sqrt a - sqrt b|
///                                        is at most both |a-b|/sqrt(b) and sqrt|a-b|)
/// den = s isb + eps              e_den = isb e_s + R(isb, s + e_s, eps)
/// q   = m' / den                 e_q   = F + K_div u (|q| + F) + eta,
///                                        F = (e_m' + |q| e_den) / (den - e_den)   (den > e_den)
/// p'  = p1 - step q              e_p'  = e_p1 + step e_q + R(step, |q| + e_q, |p1| + e_p1)
/// ```
/// (the moments' errors contract by 1-a and 1-b, because d1 and d2 subtract the computed
/// state: `a(d1~ - d1) + (m~ - m) = (1-a)(m~ - m) + a r1`). bf16 outputs add their rounding:
/// stochastic rounding up to one bf16 ULP of the f32 value every step (2^-7 (|p'| + e_p')),
/// the master copy half a ULP once at the end. The reference is itself computed in f64,
/// whose errors follow the same recurrences with 2^-53 in place of u; the final factor
/// 1 + 2^-10 covers them. An element whose denominator error reaches the denominator has no
/// bound (`None`): a perturbation of v as large as the bound allows could then make the
/// step arbitrarily large.
pub fn adam_reference(job: &OptimJob) -> (Vec<f64>, Vec<Option<f64>>) {
    let n = job.n();
    let u = Precision::F32.unit_roundoff();
    let ub = Precision::Bf16.unit_roundoff();
    let eta = 2.0 * Precision::F32.min_normal();
    // One multiply-add, fused or not, on operands of magnitude |a|, |b|, |c|.
    let r = |a: f64, b: f64, c: f64| 2.0 * u * (1.0 + u) * (a.abs() * b.abs() + c.abs()) + eta;
    let mut p: Vec<f64> = job.init.iter().map(|&v| v as f64).collect();
    let mut m = vec![0.0f64; n];
    let mut v = vec![0.0f64; n];
    let (mut ep, mut em, mut ev) = (vec![0.0f64; n], vec![0.0f64; n], vec![0.0f64; n]);
    let mut unbounded = vec![false; n];
    for (s, g) in job.steps.iter().zip(job.grads.iter()) {
        let (a, b, isb, eps, decay) = (
            s.a as f64,
            s.b as f64,
            s.isb as f64,
            s.eps as f64,
            s.decay as f64,
        );
        let step = -(s.neg_step as f64);
        for i in 0..n {
            let gi = g[i] as f64;
            // p1 = p * decay (AdamW only: Adam's decay is 1 and the kernels skip it).
            let p1 = p[i] * decay;
            let ep1 = if job.variant.rule == Rule::AdamW {
                decay * ep[i] + u * decay * (p[i].abs() + ep[i]) + eta
            } else {
                ep[i]
            };
            // d1 = g - m; m' = m + a d1.
            let d1 = gi - m[i];
            let r1 = u * ((gi - m[i]).abs() + em[i]) + eta;
            let ed1 = em[i] + r1;
            let m_new = m[i] + a * d1;
            let em_new = (1.0 - a) * em[i] + a * r1 + r(a, d1.abs() + ed1, m[i].abs() + em[i]);
            // d2 = g g - v; v' = v + b d2.
            let d2 = gi * gi - v[i];
            let r2 = r(gi, gi, v[i].abs() + ev[i]);
            let ed2 = ev[i] + r2;
            let v_new = v[i] + b * d2;
            let ev_new = (1.0 - b) * ev[i] + b * r2 + r(b, d2.abs() + ed2, v[i].abs() + ev[i]);
            // s = sqrt(v'): bounded exactly, not linearised (v' may be tiny).
            let sq = v_new.max(0.0).sqrt();
            let e_sq = if sq > 0.0 {
                (ev_new / sq).min(ev_new.sqrt())
            } else {
                ev_new.sqrt()
            };
            let es = e_sq + ADAM_SQRT_U * u * (sq + e_sq) + eta;
            // den = s isb + eps; q = m' / den.
            let den = sq * isb + eps;
            let eden = isb * es + r(isb, sq + es, eps);
            let q = m_new / den;
            let eq = if den > eden {
                let f = (em_new + q.abs() * eden) / (den - eden);
                f + ADAM_DIV_U * u * (q.abs() + f) + eta
            } else {
                unbounded[i] = true;
                f64::INFINITY
            };
            // p' = p1 - step q.
            let p_new = p1 - step * q;
            let mut ep_new = ep1 + step * eq + r(step, q.abs() + eq, p1.abs() + ep1);
            if job.storage == Storage::Bf16Sr {
                // Up to one bf16 ULP of the f32 value (2^-7 relative; below bf16's normal
                // range its ULP 2^-133 is under eta).
                ep_new += 2.0 * ub * (p_new.abs() + ep_new) + eta;
            }
            p[i] = p_new;
            m[i] = m_new;
            v[i] = v_new;
            ep[i] = ep_new;
            em[i] = em_new;
            ev[i] = ev_new;
        }
    }
    let bounds = p
        .iter()
        .zip(&ep)
        .zip(&unbounded)
        .map(|((&pv, &e), &unb)| {
            let e = if job.storage == Storage::Bf16Master {
                e + ub * (pv.abs() + e) + eta
            } else {
                e
            };
            let e = e * (1.0 + 1.0 / 1024.0);
            (!unb && e.is_finite()).then_some(e)
        })
        .collect();
    (p, bounds)
}

/// SGD in f64 with a first-order running error bound per element.
///
/// With u the f32 unit roundoff, each `fma(a, b, c)` of the kernel (or its two roundings in
/// `no_fma`) is within `2u (|a b| + |c|)` of the exact a*b + c of its computed inputs, so the
/// errors eb (buffer), ed (direction) and ep (parameter) obey, to first order (the exact
/// trajectory's magnitudes stand in for the computed ones):
/// ```text
/// eb' = mu eb + 2u (mu |b| + |g|)
/// ed  = mu eb' + 2u (mu |b'| + |g|)     (nesterov; else ed = eb')
/// ep' = ep + lr ed + 2u (lr |d| + |p|)
/// ```
/// bf16 outputs add the final rounding: half a bf16 ULP (2^-8 |p|) for the master copy;
/// stochastic rounding adds up to one bf16 ULP (2^-7 |p|) at every step instead, since it
/// rounds the parameter itself. The sum is scaled by 1 + 2^-10 to cover the neglected
/// second-order terms (products of two roundoffs, at most K * 2^-16 relative here).
fn sgd_reference(job: &OptimJob, nesterov: bool) -> (Vec<f64>, Vec<Option<f64>>) {
    let n = job.n();
    let u = Precision::F32.unit_roundoff();
    let ub = Precision::Bf16.unit_roundoff();
    let mut p: Vec<f64> = job.init.iter().map(|&v| v as f64).collect();
    let mut b = vec![0.0f64; n];
    let mut ep = vec![0.0f64; n];
    let mut eb = vec![0.0f64; n];
    for (s, g) in job.steps.iter().zip(job.grads.iter()) {
        let mu = s.a as f64;
        let lr = -(s.neg_step as f64);
        for i in 0..n {
            let gi = g[i] as f64;
            let b_new = mu * b[i] + gi;
            eb[i] = mu * eb[i] + 2.0 * u * (mu * b[i].abs() + gi.abs());
            b[i] = b_new;
            let (d, ed) = if nesterov {
                (
                    mu * b[i] + gi,
                    mu * eb[i] + 2.0 * u * (mu * b[i].abs() + gi.abs()),
                )
            } else {
                (b[i], eb[i])
            };
            let p_new = p[i] - lr * d;
            ep[i] += lr * ed + 2.0 * u * (lr * d.abs() + p[i].abs());
            if job.storage == Storage::Bf16Sr {
                ep[i] += 2.0 * ub * (p_new.abs() + ep[i]);
            }
            p[i] = p_new;
        }
    }
    let bounds = p
        .iter()
        .zip(&ep)
        .map(|(&pv, &e)| {
            let e = if job.storage == Storage::Bf16Master {
                e + ub * (pv.abs() + e)
            } else {
                e
            };
            Some(e * (1.0 + 1.0 / 1024.0))
        })
        .collect();
    (p, bounds)
}

/// A job over explicit parameters and gradients (the benches' and tests' entry).
#[allow(clippy::too_many_arguments)]
pub fn new_job(
    op: Op,
    variant: OptimVariant,
    storage: Storage,
    hyper: Hyper,
    init: Vec<f32>,
    grads: Vec<Vec<f32>>,
    seed: u64,
    workgroup_size: u32,
) -> OptimJob {
    let k = grads.len();
    let n = init.len();
    OptimJob {
        op,
        variant,
        storage,
        hyper,
        init: Arc::new(init),
        grads: Arc::new(grads),
        steps: step_scalars(variant.rule, &hyper, k, seed),
        launch: launch_for(n, workgroup_size),
        runs: 1,
        unsupported: None,
    }
}
