//! CPU execution of every reduction variant.
//!
//! Ordered variants emulate the GPU launch shape of [`super`] exactly, so a backend's
//! bits can be compared with them. Atomic variants really are atomic: several threads
//! add into one shared word with compare-exchange, so their order changes run to run.

use super::{ReduceJob, ReduceVariant};
use crate::error::OpError;
use crate::numerics::repro::{ReproParams, ReproState};
use crate::numerics::Precision;
use std::sync::atomic::{AtomicU64, Ordering as MemOrder};

/// Arithmetic in an accumulator format, carried in f64 and rounded after every step.
#[derive(Clone, Copy, Debug)]
pub struct Arith(pub Precision);

impl Arith {
    pub fn add(self, a: f64, b: f64) -> f64 {
        self.0.round(a + b)
    }
    pub fn sub(self, a: f64, b: f64) -> f64 {
        self.0.round(a - b)
    }
    pub fn mul(self, a: f64, b: f64) -> f64 {
        match self.0 {
            Precision::F64 => a * b,
            p => p.round(a * b),
        }
    }
    /// fl(a*b + c) with one rounding (f32, f64); two roundings for half formats, whose
    /// kernels never fuse.
    pub fn fma(self, a: f64, b: f64, c: f64) -> f64 {
        match self.0 {
            Precision::F64 => a.mul_add(b, c),
            Precision::F32 => (a as f32).mul_add(b as f32, c as f32) as f64,
            p => self.add(c, p.round(a * b)),
        }
    }
    /// One step of a dot-product chain: fma for f32/f64, round-multiply-round-add for halves.
    pub fn dot_step(self, acc: f64, x: f64, y: f64) -> f64 {
        self.fma(x, y, acc)
    }
    /// TwoSum: (s, e) with s = fl(a + b) and a + b = s + e exactly.
    pub fn two_sum(self, a: f64, b: f64) -> (f64, f64) {
        let s = self.add(a, b);
        let z = self.sub(s, a);
        let e = self.add(self.sub(a, self.sub(s, z)), self.sub(b, z));
        (s, e)
    }
    /// Error of fl(x*y): exact for f32/f64 via fma; for halves, fl(x*y - p) in the format.
    pub fn product_error(self, x: f64, y: f64, p: f64) -> f64 {
        match self.0 {
            Precision::F64 => x.mul_add(y, -p),
            Precision::F32 => (x as f32).mul_add(y as f32, -(p as f32)) as f64,
            h => h.round(x * y - p),
        }
    }
}

/// Value of a fixed-point total: N * 2^-k rounded once, to nearest even, straight to the
/// accumulator format (N can need 63 bits, so N as f64 would already round).
pub fn fixed_to_value(total: i64, k: i32, acc: Precision) -> f64 {
    let mut e = crate::numerics::exact::ExactAcc::new();
    // Both halves are exact in f64: 31 significant bits each (hi is a multiple of 2^32).
    let hi = (total >> 32) << 32;
    let lo = total - hi;
    let (a, b) = (hi as f64, lo as f64);
    // 2^-k as two exact factors (k ranges past f64's exponents); v * half is exact for
    // |v| < 2^64 with 32 significant bits, and the oracle's products keep every bit.
    let half = libm::ldexp(1.0, -(k / 2));
    let rest = libm::ldexp(1.0, -(k - k / 2));
    e.add_product(a * half, rest);
    e.add_product(b * half, rest);
    e.value_in(acc)
}

/// Scaled, rounded fixed-point integer of one term, and whether bits were lost. A
/// non-finite term (refused by `check_job` before any kernel runs) quantizes to 0, lost.
pub fn fixed_quantize(v: f64, k: i32) -> (i64, bool) {
    if !v.is_finite() {
        return (0, true);
    }
    let scaled = libm::ldexp(v, k);
    let q = scaled.round_ties_even();
    (q as i64, q != scaled)
}

/// Message for fixed-point precision loss, shared by every backend.
pub fn fixed_message(lost: u64, n: usize, k: i32) -> String {
    if lost == 0 {
        format!("fixed-point scale 2^{k}: exact, no bits lost")
    } else {
        format!(
            "fixed-point scale 2^{k}: {lost} of {n} terms lost bits below 2^{} (included in error_bound)",
            -k
        )
    }
}

/// Why the `atomic` variants of every family are Unsupported on the CPU.
pub fn no_float_atomic() -> OpError {
    OpError::Unsupported(
        "the CPU has no native floating-point atomic add (x86-64 and AArch64 lack one); atomic_cas is the CPU's atomic variant".into(),
    )
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
            for v in job.terms() {
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
    let terms = job.terms();
    crate::numerics::repro::repro_sum(p, &terms)
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

/// Replaces the value held (as f64 bits) in `cell` with `f(value)` by compare-exchange,
/// the CPU's atomic read-modify-write of a float: every family's atomic_cas uses it.
pub fn cas_update(cell: &AtomicU64, f: impl Fn(f64) -> f64) {
    let mut cur = cell.load(MemOrder::Relaxed);
    loop {
        let new = f(f64::from_bits(cur)).to_bits();
        match cell.compare_exchange_weak(cur, new, MemOrder::Relaxed, MemOrder::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

/// word = round_A(word + v) by compare-exchange; the word holds the value's f64 bits.
pub fn cas_add(cell: &AtomicU64, ar: Arith, v: f64) {
    cas_update(cell, |c| ar.add(c, v));
}

/// Every term added into one shared word by `threads` threads, interleaved.
fn atomic_cas(job: &ReduceJob, ar: Arith, threads: usize) -> f64 {
    let terms = job.terms();
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
