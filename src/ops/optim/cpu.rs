//! The optimizer family on the CPU: the emulation GPU results are compared with, in the
//! exact operation order documented in [`super`]. Elementwise, so the work is split over
//! threads without changing any bit.

use super::{round_bf16_stochastic, sr_hash, OptimJob, Rule, StepScalars, Storage};
use crate::backend::{cpu::CpuBackend, RunSet};
use crate::error::OpError;

/// `a*b + c` fused (one rounding) or with two roundings.
#[inline(always)]
fn ma(fma: bool, a: f32, b: f32, c: f32) -> f32 {
    if fma {
        a.mul_add(b, c)
    } else {
        // Rust never contracts this into an fma: two roundings.
        a * b + c
    }
}

/// The optimizer state of one parameter vector, as the kernels hold it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimState {
    /// Parameters (values representable in the storage format).
    pub params: Vec<f32>,
    /// f32 master copy (Bf16Master only; empty otherwise).
    pub master: Vec<f32>,
    /// Momentum buffer (SGD) or first moment (Adam).
    pub m: Vec<f32>,
    /// Second moment (Adam; empty for SGD).
    pub v: Vec<f32>,
}

impl OptimState {
    /// Fresh state: zero moments, master = params.
    pub fn new(rule: Rule, storage: Storage, init: &[f32]) -> Self {
        let n = init.len();
        Self {
            params: init.to_vec(),
            master: if storage == Storage::Bf16Master {
                init.to_vec()
            } else {
                Vec::new()
            },
            m: vec![0.0; n],
            v: if matches!(rule, Rule::Sgd { .. }) {
                Vec::new()
            } else {
                vec![0.0; n]
            },
        }
    }
}

/// One step of one element. `w` is the f32 working value (master copy, or the parameter
/// widened); returns the new working value.
#[inline(always)]
pub fn update(
    rule: Rule,
    fma: bool,
    s: &StepScalars,
    w: f32,
    m: &mut f32,
    v: &mut f32,
    g: f32,
) -> f32 {
    match rule {
        Rule::Sgd { nesterov } => {
            *m = ma(fma, s.a, *m, g);
            let d = if nesterov { ma(fma, s.a, *m, g) } else { *m };
            ma(fma, s.neg_step, d, w)
        }
        Rule::Adam | Rule::AdamW => {
            let w = if rule == Rule::AdamW { w * s.decay } else { w };
            let d1 = g - *m;
            *m = ma(fma, s.a, d1, *m);
            let d2 = ma(fma, g, g, -*v);
            *v = ma(fma, s.b, d2, *v);
            let den = ma(fma, v.sqrt(), s.isb, s.eps);
            let q = *m / den;
            ma(fma, s.neg_step, q, w)
        }
    }
}

/// Applies one step to elements `[base, base + len)` held in the slices (all the same
/// length; `master` and `v` may be empty when unused).
#[allow(clippy::too_many_arguments)]
pub fn step_slice(
    rule: Rule,
    fma: bool,
    storage: Storage,
    s: &StepScalars,
    base: usize,
    params: &mut [f32],
    master: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    grad: &[f32],
) {
    let mut dummy = 0.0f32;
    for i in 0..params.len() {
        let vi = if v.is_empty() { &mut dummy } else { &mut v[i] };
        let w = match storage {
            Storage::Bf16Master => master[i],
            _ => params[i],
        };
        let w = update(rule, fma, s, w, &mut m[i], vi, grad[i]);
        match storage {
            Storage::F32 => params[i] = w,
            Storage::Bf16Master => {
                master[i] = w;
                params[i] = half::bf16::from_f32(w).to_f32();
            }
            Storage::Bf16Sr => {
                let bits = sr_hash(s.key, s.step, (base + i) as u32);
                params[i] = round_bf16_stochastic(w, bits).to_f32();
            }
        }
    }
}

/// One step over the whole state, split over `threads` threads.
pub fn step(
    rule: Rule,
    fma: bool,
    storage: Storage,
    s: &StepScalars,
    st: &mut OptimState,
    grad: &[f32],
    threads: usize,
) {
    let n = st.params.len();
    let chunk = n.div_ceil(threads.max(1)).max(1 << 14);
    std::thread::scope(|scope| {
        let mut p = st.params.as_mut_slice();
        let mut ma_ = st.master.as_mut_slice();
        let mut m = st.m.as_mut_slice();
        let mut v = st.v.as_mut_slice();
        let mut g = grad;
        let mut base = 0;
        while !p.is_empty() {
            let len = chunk.min(p.len());
            let (p0, p1) = p.split_at_mut(len);
            let (m0, m1) = m.split_at_mut(len);
            let (a0, a1) = ma_.split_at_mut(len.min(ma_.len()));
            let (v0, v1) = v.split_at_mut(len.min(v.len()));
            let (g0, g1) = g.split_at(len);
            let b = base;
            scope.spawn(move || step_slice(rule, fma, storage, s, b, p0, a0, m0, v0, g0));
            (p, m, ma_, v, g) = (p1, m1, a1, v1, g1);
            base += len;
        }
    });
}

/// Runs the job `job.runs` times on the host, timed.
pub fn run(b: &CpuBackend, job: &OptimJob) -> Result<RunSet, OpError> {
    b.time_runs(job.runs, || {
        run_once(job, b.threads()).map(|v| (v, String::new()))
    })
}

/// Runs the job once: every step from the initial parameters; returns the final parameters.
pub fn run_once(job: &OptimJob, threads: usize) -> Result<Vec<f64>, OpError> {
    if let Some(why) = &job.unsupported {
        return Err(OpError::Unsupported(why.clone()));
    }
    let mut st = OptimState::new(job.variant.rule, job.storage, &job.init);
    for (s, g) in job.steps.iter().zip(job.grads.iter()) {
        step(
            job.variant.rule,
            job.variant.fma,
            job.storage,
            s,
            &mut st,
            g,
            threads,
        );
    }
    Ok(st.params.iter().map(|&v| v as f64).collect())
}
