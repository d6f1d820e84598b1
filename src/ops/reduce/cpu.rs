//! CPU execution of every reduction variant.
//!
//! Ordered variants emulate the GPU launch shape of [`super`] exactly, so a backend's
//! bits can be compared with them. Atomic variants really are atomic: several threads
//! add into one shared word with compare-exchange, so their order changes run to run.

use super::{ReduceJob, ReduceVariant};
use crate::backend::{cpu::CpuBackend, RunSet};
use crate::error::OpError;
use crate::numerics::repro::{ReproParams, ReproState};
use crate::shared::arith::{cas_add, no_float_atomic, Arith};
use crate::shared::fixed::{fixed_message, fixed_quantize, fixed_to_value};
use std::sync::atomic::AtomicU64;

/// Runs the job `job.runs` times on the host, timed.
pub fn run(b: &CpuBackend, job: &ReduceJob) -> Result<RunSet, OpError> {
    b.time_runs(job.runs, || {
        run_once(job, b.threads()).map(|(v, m)| (vec![v], m))
    })
}

/// Runs the job once on the CPU and returns the scalar result and a message.
pub fn run_once(job: &ReduceJob, threads: usize) -> Result<(f64, String), OpError> {
    super::check_job(job)?;
    let ar = Arith(job.accumulator);
    Ok(match job.variant {
        ReduceVariant::Atomic => return Err(no_float_atomic()),
        ReduceVariant::AtomicCas => (atomic_cas(job, ar, threads), String::new()),
        ReduceVariant::BlockAtomic => (block_atomic(job, ar, threads), String::new()),
        ReduceVariant::Tree => (tree(job, ar), String::new()),
        ReduceVariant::Kahan => (kahan(job, ar), String::new()),
        ReduceVariant::FixedPoint => {
            let mut total: i64 = 0;
            let mut lost = 0u64;
            for v in job.terms_iter() {
                let (q, l) = fixed_quantize(v, job.fixed_scale);
                total = total.wrapping_add(q);
                lost += l as u64;
            }
            (
                fixed_to_value(total, job.fixed_scale, job.accumulator),
                fixed_message(lost, job.n(), job.fixed_scale),
            )
        }
        ReduceVariant::Reproducible => {
            let p = job.repro.expect("checked by check_job");
            (reproducible(job, &p), String::new())
        }
    })
}

/// The value thread `t` of pass 1 accumulates, in order.
fn thread_chain(job: &ReduceJob, ar: Arith, t: u64) -> f64 {
    let stride = job.total_threads() as usize;
    let mut acc = 0.0;
    let mut i = t as usize;
    while i < job.n() {
        acc = match &job.y {
            None => ar.add(acc, job.x[i]),
            Some(y) => ar.dot_step(acc, job.x[i], y[i]),
        };
        i += stride;
    }
    acc
}

/// The pairwise workgroup tree: stride wg/2 down to 1, a[l] += a[l + s] for l < s.
pub fn workgroup_tree<T: Copy>(vals: &mut [T], combine: impl Fn(T, T) -> T) -> T {
    let mut s = vals.len() / 2;
    while s >= 1 {
        for l in 0..s {
            vals[l] = combine(vals[l], vals[l + s]);
        }
        s /= 2;
    }
    vals[0]
}

/// Pass 1 partial of workgroup g for a plain (tree-shaped) accumulation.
fn group_partial(job: &ReduceJob, ar: Arith, g: u32) -> f64 {
    let wg = job.launch.workgroup_size as u64;
    let mut vals: Vec<f64> = (0..wg)
        .map(|l| thread_chain(job, ar, g as u64 * wg + l))
        .collect();
    workgroup_tree(&mut vals, |a, b| ar.add(a, b))
}

fn tree(job: &ReduceJob, ar: Arith) -> f64 {
    let partials: Vec<f64> = (0..job.launch.workgroups)
        .map(|g| group_partial(job, ar, g))
        .collect();
    let wg = job.launch.workgroup_size as usize;
    let mut vals: Vec<f64> = (0..wg)
        .map(|l| {
            partials
                .iter()
                .skip(l)
                .step_by(wg)
                .fold(0.0, |a, &p| ar.add(a, p))
        })
        .collect();
    workgroup_tree(&mut vals, |a, b| ar.add(a, b))
}

/// Compensated pair (sum, correction).
type Pair = (f64, f64);

fn kahan_add(ar: Arith, (s, c): Pair, v: f64, ve: f64) -> Pair {
    let (t, e) = ar.two_sum(s, v);
    (t, ar.add(c, ar.add(e, ve)))
}

fn kahan_merge(ar: Arith, a: Pair, b: Pair) -> Pair {
    let (t, e) = ar.two_sum(a.0, b.0);
    (t, ar.add(ar.add(a.1, b.1), e))
}

fn kahan(job: &ReduceJob, ar: Arith) -> f64 {
    let stride = job.total_threads() as usize;
    let wg = job.launch.workgroup_size as usize;
    let chain = |t: usize| -> Pair {
        let mut acc = (0.0, 0.0);
        let mut i = t;
        while i < job.n() {
            acc = match &job.y {
                None => kahan_add(ar, acc, job.x[i], 0.0),
                Some(y) => {
                    let p = ar.mul(job.x[i], y[i]);
                    kahan_add(ar, acc, p, ar.product_error(job.x[i], y[i], p))
                }
            };
            i += stride;
        }
        acc
    };
    let partials: Vec<Pair> = (0..job.launch.workgroups as usize)
        .map(|g| {
            let mut vals: Vec<Pair> = (0..wg).map(|l| chain(g * wg + l)).collect();
            workgroup_tree(&mut vals, |a, b| kahan_merge(ar, a, b))
        })
        .collect();
    let mut vals: Vec<Pair> = (0..wg)
        .map(|l| {
            partials
                .iter()
                .skip(l)
                .step_by(wg)
                .fold((0.0, 0.0), |a, &p| kahan_merge(ar, a, p))
        })
        .collect();
    let (s, c) = workgroup_tree(&mut vals, |a, b| kahan_merge(ar, a, b));
    ar.add(s, c)
}

fn reproducible(job: &ReduceJob, p: &ReproParams) -> f64 {
    crate::numerics::repro::repro_sum(p, &job.terms_slice())
}

/// Finalises binned states read back from a device: merges them in the given order and
/// rounds. Shared by the GPU backends so every device goes through the same host code.
pub fn repro_finalize_f32(p: &ReproParams, states: &[ReproState<f32>]) -> f64 {
    let mut total = ReproState::<f32>::new(p);
    for s in states {
        total.merge(p, s);
    }
    total.finalize(p)
}

/// Every term added into one shared word by `threads` threads, interleaved.
fn atomic_cas(job: &ReduceJob, ar: Arith, threads: usize) -> f64 {
    let terms = job.terms_slice();
    let cell = AtomicU64::new(0f64.to_bits());
    std::thread::scope(|s| {
        for t in 0..threads {
            let (terms, cell) = (&terms, &cell);
            s.spawn(move || {
                let mut i = t;
                while i < terms.len() {
                    cas_add(cell, ar, terms[i]);
                    i += threads;
                }
            });
        }
    });
    f64::from_bits(cell.into_inner())
}

/// Workgroup partials computed by `threads` threads, each added atomically when done.
fn block_atomic(job: &ReduceJob, ar: Arith, threads: usize) -> f64 {
    let cell = AtomicU64::new(0f64.to_bits());
    let groups = job.launch.workgroups as usize;
    std::thread::scope(|s| {
        for t in 0..threads {
            let cell = &cell;
            s.spawn(move || {
                let mut g = t;
                while g < groups {
                    cas_add(cell, ar, group_partial(job, ar, g as u32));
                    g += threads;
                }
            });
        }
    });
    f64::from_bits(cell.into_inner())
}
