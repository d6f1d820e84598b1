//! CPU execution of every reduction variant.
//!
//! Ordered variants emulate the GPU launch shape of [`super`] exactly, so a backend's
//! bits can be compared with them. Atomic variants really are atomic: several threads
//! add into one shared word with compare-exchange, so their order changes run to run.

use super::{ReduceJob, ReduceVariant};
use crate::backend::{cpu::CpuBackend, RunSet};
use crate::error::OpError;
use crate::numerics::repro::{
    BinFloat, Renorm, ReproParams, ReproState, DEPOSITS_PER_RENORM, MAX_FOLDS,
};
use crate::numerics::values::{Elem, Values};
use crate::numerics::Precision;
use crate::shared::arith::{cas_add, no_float_atomic, Arith};
use crate::shared::fixed::{fixed_message, fixed_quantize, fixed_to_value};
use std::sync::atomic::AtomicU64;

/// Runs the job `job.runs` times on the host, timed.
pub fn run(b: &CpuBackend, job: &ReduceJob) -> Result<RunSet, OpError> {
    let mut store = LaneStore::default();
    b.time_runs(job.runs, || {
        run_with(job, b.threads(), &mut store).map(|(v, m)| (vec![v], m))
    })
}

/// Runs the job once on the CPU and returns the scalar result and a message.
pub fn run_once(job: &ReduceJob, threads: usize) -> Result<(f64, String), OpError> {
    run_with(job, threads, &mut LaneStore::default())
}

/// The lane buffer of the two-pass kernels, kept from one run of a job to the next.
///
/// Why: at 2^26 elements a launch has 2^18 lanes, megabytes of chains; a fresh buffer per
/// run is memory the kernel faults in again each time (kahan's runs took 14 to 19 ms
/// until the allocator happened to reuse memory, and 10 ms after). A device keeps its
/// buffers between runs as well.
#[derive(Default)]
struct LaneStore(Option<Box<dyn std::any::Any + Send>>);

impl LaneStore {
    /// A buffer of `n` lanes set to `init`: the kept one where it holds `A`s.
    fn take<A: Copy + Send + 'static>(&mut self, n: usize, init: A) -> Vec<A> {
        let mut v = self
            .0
            .take()
            .and_then(|b| b.downcast::<Vec<A>>().ok())
            .map(|b| *b)
            .unwrap_or_default();
        v.clear();
        v.resize(n, init);
        v
    }

    fn keep<A: Send + 'static>(&mut self, v: Vec<A>) {
        self.0 = Some(Box::new(v));
    }
}

fn run_with(
    job: &ReduceJob,
    threads: usize,
    store: &mut LaneStore,
) -> Result<(f64, String), OpError> {
    super::check_job(job)?;
    let ar = Arith(job.accumulator);
    Ok(match job.variant {
        ReduceVariant::Atomic => return Err(no_float_atomic()),
        ReduceVariant::AtomicCas => (atomic_cas(job, ar, threads), String::new()),
        ReduceVariant::BlockAtomic => (block_atomic(job, ar, threads), String::new()),
        ReduceVariant::Tree => (tree(job, ar, threads, store), String::new()),
        ReduceVariant::Kahan => (kahan(job, ar, threads, store), String::new()),
        ReduceVariant::FixedPoint => fixed_point(job, threads),
        ReduceVariant::Reproducible => {
            let p = job.repro.expect("checked by check_job");
            (reproducible(job, &p, threads), String::new())
        }
    })
}

/// A native float the ordered kernels can accumulate in: f32 or f64. Adding two of them
/// rounds once, exactly as [`Arith`] does for the same accumulator (an f32 sum computed
/// in f64 and rounded to f32 is the f32 sum: 53 >= 2 * 24 + 2).
trait Native: Elem + std::ops::Add<Output = Self> {}

impl<T: Elem + std::ops::Add<Output = T>> Native for T {}

/// Below this many elements the lanes are not split over threads.
const PARALLEL_FROM: usize = 1 << 16;

/// The pass-1 chains of lanes `lo..lo + acc.len()` of a launch of `lanes` threads: lane t
/// folds `step` over elements t, t + lanes, t + 2 lanes, ... in that order, from `acc[t]`.
///
/// Why row by row: lane t's chain is the GPU thread's loop, but the lanes are independent,
/// so the host walks the input one row of `lanes` elements at a time and advances every
/// lane by one step. Each row segment is read once, contiguously, and a plain `step` (one
/// f32 addition) vectorises. The order within every chain is the kernel's, so the bits do
/// not depend on how lanes are split over threads.
///
/// Why the clone: on an x86-64 host with AVX2 the same loop runs with 8-wide vectors (the
/// baseline target has 4), chosen at run time. The operations and their order are the
/// same, and Rust never contracts a multiply and an add into an FMA, so the bits are too.
/// The other hot loops here (`rounded_bits_sum`, `binned_folds`) are cloned alike.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn chain_range<A, E, F>(xs: &[E], ys: &[E], lanes: usize, lo: usize, acc: &mut [A], step: &F)
where
    A: Copy,
    E: Elem,
    F: Fn(A, E, E) -> A,
{
    let (n, width) = (xs.len(), acc.len());
    let mut start = lo;
    // Four rows at a time while all are whole: each lane's state is loaded and stored
    // once per four steps, which cuts the traffic that bounds these loops (tree 11 ms a
    // run at 2^26 f32 one row at a time, 7 ms two at a time, 6.7 ms four).
    while start + 3 * lanes + width <= n {
        let seg = |k: usize| {
            let at = start + k * lanes;
            xs[at..at + width].iter().zip(&ys[at..at + width])
        };
        let rows = seg(0).zip(seg(1)).zip(seg(2).zip(seg(3)));
        for (a, (((&x0, &y0), (&x1, &y1)), ((&x2, &y2), (&x3, &y3)))) in acc.iter_mut().zip(rows) {
            *a = step(step(step(step(*a, x0, y0), x1, y1), x2, y2), x3, y3);
        }
        start += 4 * lanes;
    }
    while start < n {
        let end = (start + width).min(n);
        let seg = &mut acc[..end - start];
        for ((a, &x), &y) in seg.iter_mut().zip(&xs[start..end]).zip(&ys[start..end]) {
            *a = step(*a, x, y);
        }
        start += lanes;
    }
}

/// [`chain_range`] of every lane of the launch, the lanes split into contiguous ranges
/// over `threads` threads. `ys` is ignored by a sum's `step` (pass `None`).
fn lane_chains<A, E, F>(
    xs: &[E],
    ys: Option<&[E]>,
    (lanes, threads): (usize, usize),
    store: &mut LaneStore,
    init: A,
    step: F,
) -> Vec<A>
where
    A: Copy + Send + Sync + 'static,
    E: Elem,
    F: Fn(A, E, E) -> A + Sync,
{
    let ys = ys.unwrap_or(xs);
    let mut acc = store.take(lanes, init);
    let parts = if xs.len() < PARALLEL_FROM {
        1
    } else {
        threads.clamp(1, lanes)
    };
    let per = lanes.div_ceil(parts);
    std::thread::scope(|sc| {
        let parts = acc.chunks_mut(per).enumerate();
        let count = parts.len();
        for (k, part) in parts {
            let step = &step;
            // The last part on the calling thread (see `shared::par::map_ranges`).
            if k + 1 == count {
                chain_range(xs, ys, lanes, k * per, part, step);
            } else {
                sc.spawn(move || chain_range(xs, ys, lanes, k * per, part, step));
            }
        }
    });
    acc
}

/// Runs `$body` with `$xs` and `$ys` (an `Option`) bound to the job's operands as slices
/// of their host type; operands held in two formats (never built so) are read as f64.
macro_rules! with_operands {
    ($job:expr, $xs:ident, $ys:ident => $body:expr) => {
        match ($job.x.as_ref(), $job.y.as_deref()) {
            (Values::F32(x), None) => {
                let ($xs, $ys): (&[f32], Option<&[f32]>) = (&x[..], None);
                $body
            }
            (Values::F32(x), Some(Values::F32(y))) => {
                let ($xs, $ys): (&[f32], Option<&[f32]>) = (&x[..], Some(&y[..]));
                $body
            }
            (Values::F64(x), None) => {
                let ($xs, $ys): (&[f64], Option<&[f64]>) = (&x[..], None);
                $body
            }
            (x, y) => {
                let (x, y) = (x.to_f64(), y.map(|y| y.to_f64()));
                let ($xs, $ys): (&[f64], Option<&[f64]>) = (&x[..], y.as_deref());
                $body
            }
        }
    };
}

/// Pass 2 of the two-pass kernels: each workgroup's lanes (read by `to` into the type
/// pass 2 combines in) by [`workgroup_tree`], then lane l of the single pass-2 workgroup
/// folds partials l, l + wg, ... and the tree combines those.
///
/// Why `to` and not a converted copy: the chains of a large launch are megabytes (2^18
/// lanes at 2^26 elements), and a fresh f64 copy of them per run is memory to fault in and
/// write for nothing.
fn two_pass<A: Copy, T: Copy>(
    chains: &[A],
    wg: usize,
    zero: T,
    to: impl Fn(A) -> T,
    combine: impl Fn(T, T) -> T,
) -> T {
    let mut group = Vec::with_capacity(wg);
    let partials: Vec<T> = chains
        .chunks(wg)
        .map(|g| {
            group.clear();
            group.extend(g.iter().map(|&a| to(a)));
            workgroup_tree(&mut group, &combine)
        })
        .collect();
    let mut vals: Vec<T> = (0..wg)
        .map(|l| {
            partials
                .iter()
                .skip(l)
                .step_by(wg)
                .fold(zero, |a, &p| combine(a, p))
        })
        .collect();
    workgroup_tree(&mut vals, &combine)
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

/// The step of the plain accumulation: sum adds; dot fuses the multiply-add for f32/f64
/// and rounds the product, then adds, for halves ([`Arith::dot_step`]).
fn plain_step<E: Elem>(job: &ReduceJob) -> impl Fn(f64, E, E) -> f64 + Sync + '_ {
    let ar = Arith(job.accumulator);
    move |a, x, y| match job.y {
        None => ar.add(a, x.get()),
        Some(_) => ar.dot_step(a, x.get(), y.get()),
    }
}

/// The plain accumulation: pass-1 chains, then [`two_pass`] in f64 (each combine rounding
/// to the accumulator). A sum in f32 or f64 runs its chains in the accumulator's native
/// type: one vectorised addition a step.
fn tree(job: &ReduceJob, ar: Arith, threads: usize, store: &mut LaneStore) -> f64 {
    let shape = (job.total_threads() as usize, threads);
    let wg = job.launch.workgroup_size as usize;
    let add = |a, b| ar.add(a, b);
    with_operands!(job, xs, ys => match (job.accumulator, ys) {
        (Precision::F32, None) => {
            let step = |a: f32, x: _, _| a + <f32 as Elem>::of(Elem::get(x));
            let chains = lane_chains(xs, None, shape, store, 0.0f32, step);
            let r = two_pass(&chains, wg, 0.0, |a| a as f64, add);
            store.keep(chains);
            r
        }
        (Precision::F64, None) => {
            let step = |a: f64, x: _, _| a + Elem::get(x);
            let chains = lane_chains(xs, None, shape, store, 0.0, step);
            let r = two_pass(&chains, wg, 0.0, |a| a, add);
            store.keep(chains);
            r
        }
        (_, ys) => {
            let chains = lane_chains(xs, ys, shape, store, 0.0, plain_step(job));
            let r = two_pass(&chains, wg, 0.0, |a| a, add);
            store.keep(chains);
            r
        }
    })
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

/// [`kahan_add`] of a sum term (no product error) in f32, the operations in the same
/// order, each rounding once as [`Arith`] for f32 does. `kahan_add` adds the term's
/// product error, 0, to e first; that changes only e = -0 into +0, and c + e is the same
/// for both, because c starts at +0 and a sum of two floats is -0 only when both are -0
/// (round to nearest), so c is never -0.
#[inline]
fn kahan_add_f32((s, c): (f32, f32), v: f32) -> (f32, f32) {
    let t = s + v;
    let z = t - s;
    let e = (s - (t - z)) + (v - z);
    (t, c + e)
}

fn kahan(job: &ReduceJob, ar: Arith, threads: usize, store: &mut LaneStore) -> f64 {
    let shape = (job.total_threads() as usize, threads);
    let wg = job.launch.workgroup_size as usize;
    let merge = |a, b| kahan_merge(ar, a, b);
    let (s, c) = with_operands!(job, xs, ys => match (job.accumulator, ys) {
        (Precision::F32, None) => {
            let step = |a, x: f32, _| kahan_add_f32(a, x);
            let chains = lane_chains(xs, None, shape, store, (0.0f32, 0.0f32), |a, x, y| {
                step(a, x.get() as f32, y)
            });
            let r = two_pass(&chains, wg, (0.0, 0.0), |(s, c)| (s as f64, c as f64), merge);
            store.keep(chains);
            r
        }
        (_, ys) => {
            let chains = lane_chains(xs, ys, shape, store, (0.0, 0.0), |acc, x, y| match job.y {
                None => kahan_add(ar, acc, x.get(), 0.0),
                Some(_) => {
                    let (x, y) = (x.get(), y.get());
                    let p = ar.mul(x, y);
                    kahan_add(ar, acc, p, ar.product_error(x, y, p))
                }
            });
            let r = two_pass(&chains, wg, (0.0, 0.0), |p| p, merge);
            store.keep(chains);
            r
        }
    });
    ar.add(s, c)
}

/// The fixed-point sum: integer addition is associative, so the parts are summed on
/// `threads` threads and added.
fn fixed_point(job: &ReduceJob, threads: usize) -> (f64, String) {
    let k = job.fixed_scale;
    let quantize = Quantizer::new(k);
    let max_abs = job.max_abs_term();
    let parts = crate::shared::par::map_ranges(job.n(), threads, |r| {
        match (job.x.as_ref(), job.y.is_none()) {
            (Values::F32(xs), true) => quantize.sum(&xs[r], max_abs, SMALLEST_F32),
            (Values::F64(xs), true) => quantize.sum(&xs[r], max_abs, SMALLEST_F64),
            _ => quantize.fold_terms(r.map(|i| job.term(i))),
        }
    });
    let (total, lost) = parts
        .into_iter()
        .fold((0i64, 0u64), |(t, l), (a, b)| (t.wrapping_add(a), l + b));
    (
        fixed_to_value(total, k, job.accumulator),
        fixed_message(lost, job.n(), k),
    )
}

/// The smallest positive f32 (2^-149) and f64 (2^-1074).
const SMALLEST_F32: f64 = 1.401_298_464_324_817e-45;
const SMALLEST_F64: f64 = 4.9e-324;

/// 1.5 * 2^52: adding it to an f64 below 2^51 in magnitude rounds to an integer.
const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// [`fixed_quantize`] with the scale 2^k held as an f64 where it is one.
struct Quantizer {
    k: i32,
    scale: Option<f64>,
}

impl Quantizer {
    fn new(k: i32) -> Self {
        let scale = (-1022..=1023).contains(&k).then(|| libm::ldexp(1.0, k));
        Quantizer { k, scale }
    }

    /// The same (q, lost) as `fixed_quantize(v, k)`. Where v * 2^k is a normal number (or
    /// v is 0) the product is exact, so it is ldexp's result; it is rounded to the
    /// nearest integer, ties to even, by adding and subtracting 1.5 * 2^52 below 2^51
    /// (exact IEEE operations, no library call on the common path). Other
    /// terms (subnormal or overflowing products, no f64 scale) go to `fixed_quantize`.
    #[inline]
    fn term(&self, v: f64) -> (i64, bool) {
        if let Some(sc) = self.scale {
            let s = v * sc;
            if s.is_finite() && (s.abs() >= f64::MIN_POSITIVE || v == 0.0) {
                let q = if s.abs() < 2_251_799_813_685_248.0 {
                    (s + ROUNDER) - ROUNDER
                } else {
                    // 2^51 <= |s|: halves remain below 2^52, integers from there up.
                    s.round_ties_even()
                };
                return (q as i64, q != s);
            }
        }
        fixed_quantize(v, self.k)
    }

    /// The wrapping total and the count of lossy terms, one [`Quantizer::term`] at a time.
    fn fold_terms(&self, terms: impl Iterator<Item = f64>) -> (i64, u64) {
        terms.fold((0, 0), |(t, l), v| {
            let (q, lost) = self.term(v);
            (t.wrapping_add(q), l + lost as u64)
        })
    }

    /// The wrapping total and the count of lossy terms of `xs`, whose largest magnitude is
    /// `max_abs` and smallest nonzero one at least `smallest`.
    ///
    /// Why a second path: where every scaled term is a normal number (or zero) below 2^51
    /// in magnitude, which the two extremes decide for the whole slice, t = s + 1.5 * 2^52
    /// lies in [2^52, 2^53), where the spacing is 1. So t holds s rounded to nearest even
    /// in its low bits, and bits(t) - bits(1.5 * 2^52) is that integer: [`Quantizer::term`]'s
    /// result with no branch and no float-to-integer conversion, which vectorises. The
    /// fixed-point scale keeps n * max|x| * 2^k below 2^61, so inputs of 2^10 terms or more
    /// take it; smaller ones do not need the speed.
    fn sum<E: Elem>(&self, xs: &[E], max_abs: f64, smallest: f64) -> (i64, u64) {
        let fast = self.scale.filter(|&sc| {
            max_abs * sc < 2_251_799_813_685_248.0 && smallest * sc >= f64::MIN_POSITIVE
        });
        let Some(sc) = fast else {
            return self.fold_terms(xs.iter().map(|v| v.get()));
        };
        rounded_bits_sum(xs, sc)
    }
}

/// [`Quantizer::sum`]'s branch-free loop at the f64 scale `sc`.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn rounded_bits_sum<E: Elem>(xs: &[E], sc: f64) -> (i64, u64) {
    // Sum of bits(t), and bits(1.5 * 2^52) taken off once per term at the end
    // (wrapping arithmetic: the total is the same).
    let (mut total, mut lost) = (0i64, 0u64);
    for &v in xs {
        let s = v.get() * sc;
        let t = s + ROUNDER;
        total = total.wrapping_add(t.to_bits() as i64);
        lost += ((t - ROUNDER) != s) as u64;
    }
    let base = (ROUNDER.to_bits() as i64).wrapping_mul(xs.len() as i64);
    (total.wrapping_sub(base), lost)
}

/// The binned sum: merging renormalised states is exact, so the parts are binned on
/// `threads` threads (each into [`BIN_LANES`] states side by side) and merged, the result
/// independent of the split by construction.
fn reproducible(job: &ReduceJob, p: &ReproParams, threads: usize) -> f64 {
    fn all<F: BinFloat>(job: &ReduceJob, p: &ReproParams, threads: usize) -> f64 {
        let parts = crate::shared::par::map_ranges(job.n(), threads, |r| {
            match (job.x.as_ref(), job.y.is_none()) {
                (Values::F32(xs), true) => binned(p, &xs[r], |&v| F::from_f64(v as f64)),
                (Values::F64(xs), true) => binned(p, &xs[r], |&v| F::from_f64(v)),
                _ => {
                    let terms: Vec<f64> = r.map(|i| job.term(i)).collect();
                    binned(p, &terms, |&v| F::from_f64(v))
                }
            }
        });
        let mut total = ReproState::<F>::new(p);
        for s in &parts {
            total.merge(p, s);
        }
        total.finalize(p)
    }
    match p.acc {
        Precision::F32 => all::<f32>(job, p, threads),
        _ => all::<f64>(job, p, threads),
    }
}

/// Binned states a host thread keeps side by side: 32, so that each fold's primaries are
/// four AVX2 vectors of f32 (eight of f64) with independent dependency chains. At 2^26
/// f32 terms a run took 12 ms with 16 lanes and no clone, 8.3 with 16, 6.7 to 7.5 with 32
/// (and 12 with 64 under AVX-512, whose primaries no longer stayed in registers).
const BIN_LANES: usize = 32;

/// The renormalised binned state of `xs` (each read by `get` into the accumulator).
///
/// Why lanes: one state's deposits form a chain (each waits for the primary the last one
/// wrote), so lane j takes terms j, j + L, j + 2L, ... and the L deposits of a row are
/// independent, one vector operation per step of a fold. Every lane is renormalised after
/// each [`DEPOSITS_PER_RENORM`] rows, as `ReproState::deposit` would, and the lanes merge
/// exactly: the bits are those of any other split.
fn binned<F: BinFloat, E>(p: &ReproParams, xs: &[E], get: impl Fn(&E) -> F) -> ReproState<F> {
    match p.folds {
        1 => binned_folds::<F, E, 1>(p, xs, get),
        2 => binned_folds::<F, E, 2>(p, xs, get),
        _ => binned_folds::<F, E, MAX_FOLDS>(p, xs, get),
    }
}

#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn binned_folds<F: BinFloat, E, const K: usize>(
    p: &ReproParams,
    xs: &[E],
    get: impl Fn(&E) -> F,
) -> ReproState<F> {
    const L: usize = BIN_LANES;
    let fresh = ReproState::<F>::new(p);
    let mut primary: [[F; L]; K] = std::array::from_fn(|k| [fresh.primary[k]; L]);
    let mut carry = [[0i32; L]; K];
    // Lane j as a state of its own.
    let lane = |primary: &[[F; L]; K], carry: &[[i32; L]; K], j: usize| {
        let mut s = fresh;
        for (k, (pk, ck)) in primary.iter().zip(carry).enumerate() {
            s.primary[k] = pk[j];
            s.carry[k] = ck[j];
        }
        s
    };
    // Every lane's `ReproState::renorm`, fold by fold, the constants made once.
    let folds: [Renorm<F>; K] = std::array::from_fn(|k| Renorm::new(p, k));
    let renorm = |primary: &mut [[F; L]; K], carry: &mut [[i32; L]; K]| {
        for ((pk, ck), fold) in primary.iter_mut().zip(carry.iter_mut()).zip(&folds) {
            for (pj, cj) in pk.iter_mut().zip(ck.iter_mut()) {
                let (moved, c) = fold.apply(*pj);
                *pj = moved;
                *cj += c;
            }
        }
    };
    let rows = xs.chunks_exact(L);
    let tail = rows.remainder();
    let batch = DEPOSITS_PER_RENORM as usize;
    let mut since = 0;
    for row in rows {
        let mut r: [F; L] = std::array::from_fn(|j| get(&row[j]));
        for pk in primary.iter_mut() {
            for (pj, rj) in pk.iter_mut().zip(r.iter_mut()) {
                let s = pj.add(rj.or_lsb());
                let q = s.sub(*pj);
                *pj = s;
                *rj = rj.sub(q);
            }
        }
        since += 1;
        if since == batch {
            renorm(&mut primary, &mut carry);
            since = 0;
        }
    }
    renorm(&mut primary, &mut carry);
    let mut total = fresh;
    for v in tail {
        total.deposit(p, get(v));
    }
    total.renorm(p);
    for j in 0..L {
        total.merge(p, &lane(&primary, &carry, j));
    }
    total
}

/// Every term added into one shared word by `threads` threads, interleaved.
fn atomic_cas(job: &ReduceJob, ar: Arith, threads: usize) -> f64 {
    let cell = AtomicU64::new(0f64.to_bits());
    std::thread::scope(|s| {
        for t in 0..threads {
            let cell = &cell;
            s.spawn(move || {
                let mut i = t;
                while i < job.n() {
                    cas_add(cell, ar, job.term(i));
                    i += threads;
                }
            });
        }
    });
    f64::from_bits(cell.into_inner())
}

/// Workgroups per batch of block_atomic's host threads: at least 16, and up to 64 while
/// every thread still gets four batches or more (a wider batch reads longer runs of each
/// row, but the workgroups' atomic adds interleave over fewer batches).
fn group_batch(workgroups: usize, threads: usize) -> usize {
    (workgroups / (4 * threads.max(1))).clamp(16, 64)
}

/// Workgroup partials computed by `threads` threads, each added atomically when done:
/// thread t takes batches t, t + threads, ... of [`group_batch`] workgroups, computes
/// their lanes' chains row by row, and adds each workgroup's tree as it finishes the batch.
fn block_atomic(job: &ReduceJob, ar: Arith, threads: usize) -> f64 {
    let add32 = |a: f32, b: f32| a + b;
    let add64 = |a: f64, b: f64| a + b;
    let plain = |a: f64, b: f64| ar.add(a, b);
    with_operands!(job, xs, ys => match (job.accumulator, ys) {
        (Precision::F32, None) => {
            let step = |a: f32, x: _, _| a + <f32 as Elem>::of(Elem::get(x));
            block_atomic_with(job, ar, threads, xs, xs, step, add32)
        }
        (Precision::F64, None) => {
            let step = |a: f64, x: _, _| a + Elem::get(x);
            block_atomic_with(job, ar, threads, xs, xs, step, add64)
        }
        (_, ys) => {
            block_atomic_with(job, ar, threads, xs, ys.unwrap_or(xs), plain_step(job), plain)
        }
    })
}

/// [`block_atomic`] with the lanes accumulated by `step` and the workgroup tree combined
/// by `combine`, both in the native type `A` (each rounding as [`Arith`] would).
fn block_atomic_with<A, E, S, C>(
    job: &ReduceJob,
    ar: Arith,
    threads: usize,
    xs: &[E],
    ys: &[E],
    step: S,
    combine: C,
) -> f64
where
    A: Native,
    E: Elem,
    S: Fn(A, E, E) -> A + Sync,
    C: Fn(A, A) -> A + Sync,
{
    let cell = AtomicU64::new(0f64.to_bits());
    let wg = job.launch.workgroup_size as usize;
    let lanes = job.total_threads() as usize;
    let per = group_batch(job.launch.workgroups as usize, threads);
    let batches = (job.launch.workgroups as usize).div_ceil(per);
    let threads = threads.clamp(1, batches);
    let (cell_ref, step, combine) = (&cell, &step, &combine);
    let work = move |t: usize| {
        let mut acc = vec![A::default(); per * wg];
        let mut b = t;
        while b < batches {
            let lo = b * per * wg;
            let hi = ((b + 1) * per * wg).min(lanes);
            let acc = &mut acc[..hi - lo];
            acc.fill(A::default());
            chain_range(xs, ys, lanes, lo, acc, step);
            for g in acc.chunks_mut(wg) {
                cas_add(cell_ref, ar, Elem::get(workgroup_tree(g, combine)));
            }
            b += threads;
        }
    };
    // The last thread's batches on the calling thread, which runs alongside the others
    // (see `shared::par::map_ranges`).
    std::thread::scope(|s| {
        for t in 0..threads - 1 {
            s.spawn(move || work(t));
        }
        work(threads - 1);
    });
    f64::from_bits(cell.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::repro::repro_sum;

    /// Values of every sign and of magnitudes over ~2^40 below `top`, from a fixed
    /// xorshift stream, with some exact zeros of both signs.
    fn spread(n: usize, top: f32) -> Vec<f32> {
        let mut w = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|i| {
                w ^= w << 13;
                w ^= w >> 7;
                w ^= w << 17;
                let m = (w >> 40) as f32 / (1u64 << 24) as f32;
                let v = top * m * (2f32).powi(-((w % 40) as i32));
                match i % 97 {
                    0 => 0.0,
                    1 => -0.0,
                    _ if w & 1 == 1 => -v,
                    _ => v,
                }
            })
            .collect()
    }

    /// The lanes of [`binned`] give one sequential state's bits, on lengths around the row
    /// width and the renormalisation period, for both accumulators and one to three folds.
    #[test]
    fn lane_binning_is_one_state_in_index_order() {
        let rows = BIN_LANES * DEPOSITS_PER_RENORM as usize;
        // Largest magnitudes giving three, two and one folds in f32.
        for top in [1.0f32, 2.5e-29, 1e-36] {
            for n in [
                0,
                1,
                15,
                16,
                17,
                rows - 1,
                rows,
                rows + 1,
                3 * rows + 7,
                100_003,
            ] {
                let xs = spread(n, top);
                let wide: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
                let max = xs.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
                for acc in [Precision::F32, Precision::F64] {
                    let p = ReproParams::new(acc, max).expect("a layout");
                    let want = repro_sum(&p, &wide);
                    let got = match acc {
                        Precision::F32 => binned(&p, &xs, |&v| v).finalize(&p),
                        _ => binned(&p, &xs, |&v| v as f64).finalize(&p),
                    };
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "n = {n}, top = {top:e}, {acc}, {} folds",
                        p.folds
                    );
                }
            }
        }
    }

    /// [`Quantizer::sum`]'s branch-free path gives the total and loss count of its terms
    /// quantized one by one: ties both ways, zeros of both signs, scales on both sides of
    /// the fast path's limits, f32 and f64 slices.
    #[test]
    fn the_quantizer_sums_as_it_quantizes_term_by_term() {
        let mut xs = spread(5000, 3.0);
        for k in [-60, -3, 0, 20, 40, 52, 149, 1000] {
            // Halfway cases at this scale, where f32 holds them.
            let tie = libm::ldexpf(1.0, -k.clamp(-100, 100));
            xs.extend([2.5 * tie, -2.5 * tie, 1.5 * tie, -0.5 * tie]);
            let q = Quantizer::new(k);
            let max = xs.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
            let by_term = |vs: &mut dyn Iterator<Item = f64>| {
                vs.fold((0i64, 0u64), |(t, l), v| {
                    let (a, b) = q.term(v);
                    (t.wrapping_add(a), l + b as u64)
                })
            };
            let want = by_term(&mut xs.iter().map(|&v| v as f64));
            assert_eq!(q.sum(&xs, max, SMALLEST_F32), want, "f32, k = {k}");
            let wide: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
            assert_eq!(q.sum(&wide, max, SMALLEST_F64), want, "f64, k = {k}");
        }
        // f64 terms take the fast path from k = 52 (their smallest scaled value is normal).
        let small: Vec<f64> = spread(5000, 1e-10).iter().map(|&v| v as f64).collect();
        let max = small.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for k in [52, 60, 80] {
            let q = Quantizer::new(k);
            let want = small.iter().fold((0i64, 0u64), |(t, l), &v| {
                let (a, b) = q.term(v);
                (t.wrapping_add(a), l + b as u64)
            });
            assert_eq!(q.sum(&small, max, SMALLEST_F64), want, "f64, k = {k}");
        }
    }

    /// The quantizer's fast path gives `fixed_quantize`'s integer and loss flag on every
    /// kind of term: ties both ways, negative halves, large, tiny (subnormal after
    /// scaling), zero of both signs, and scales past f64's exponent range.
    #[test]
    fn the_fast_quantizer_is_fixed_quantize() {
        let vals = [
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            -0.5,
            -1.5,
            -2.5,
            0.3,
            -0.3,
            1e-300,
            -3e-310,
            1e15,
            -4.5e15,
            2f64.powi(51) + 0.5,
            2f64.powi(52) - 0.5,
            7.0e-46,
            3.3e38,
        ];
        for k in [-1100, -60, -3, 0, 1, 20, 52, 149, 1000, 1060] {
            let q = Quantizer::new(k);
            for &v in &vals {
                assert_eq!(q.term(v), fixed_quantize(v, k), "v = {v:e}, k = {k}");
            }
        }
    }
}
