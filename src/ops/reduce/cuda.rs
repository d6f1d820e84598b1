//! The reduction family on CUDA (kernels in `kernels/cuda/reduce.cu`).
//!
//! Ordered variants launch the shape fixed in [`super::prepare`] and give the bits of the
//! CPU emulation in [`super::cpu`]; atomic variants run under the job's [`Ordering`](crate::ops::Ordering).
//! Host code stays thin: upload, launch between two events, read back, decode.

use super::{ReduceJob, ReduceVariant};
use crate::backend::cuda::{
    precision_pairs, CudaBackend, CudaBuf, CudaDevice, CudaFn, CudaTarget, LaunchConfig,
    ModuleBuild, ModuleSpec,
};
use crate::error::OpError;
use crate::numerics::repro::{ReproParams, MAX_FOLDS};
use crate::numerics::{Precision, Values};
use crate::ops::common::{
    cuda_native_atomic as native_atomic, cuda_ordered_atomics as ordered_atomics,
    cuda_ordering_suffix as ordering_suffix, cuda_ordering_suffixes as ordering_suffixes,
    cuda_pair_module, pair_suffix,
};
use crate::ops::{Op, RunSet};
use crate::shared::lanes::finalize_lanes;
use std::sync::Arc;

/// Kernel source of this family.
pub const SOURCE: &str = "kernels/cuda/reduce.cu";

/// Largest input `atomic_cas` runs on: every element is a compare-exchange loop on one
/// word, and 2^24 of them did not finish 5 runs in 150 s on an H100.
pub const MAX_CAS_ELEMENTS: usize = 1 << 22;

/// The module for an (input, accumulator) pair on this device.
pub fn module_spec(dev: &CudaDevice, input: Precision, acc: Precision) -> ModuleSpec {
    cuda_pair_module(dev, SOURCE, input, acc)
}

/// Every module this family builds for `target` and the entry points [`run`] looks up in it
/// (the names are [`run`]'s: `{op}_{variant}_..._{in}_{acc}`).
pub fn modules(target: &CudaTarget) -> Vec<ModuleBuild> {
    precision_pairs()
        .into_iter()
        .map(|(input, acc)| {
            let spec = cuda_pair_module(target, SOURCE, input, acc);
            let mut e = Vec::new();
            for op in ["sum", "dot"] {
                for v in ["tree", "kahan"] {
                    e.push(format!("{op}_{v}_pass1"));
                }
                e.push(format!("{op}_fixed_point"));
                if matches!(acc, Precision::F32 | Precision::F64) {
                    e.push(format!("{op}_repro_guess"));
                    e.push(format!("{op}_repro_deposit"));
                }
                for ord in ordering_suffixes() {
                    if ordered_atomics(target) {
                        e.push(format!("{op}_atomic_cas_{ord}"));
                    }
                    if native_atomic(target, acc).is_ok() {
                        e.push(format!("{op}_atomic_{ord}"));
                        e.push(format!("{op}_block_atomic_{ord}"));
                    }
                }
            }
            e.extend(["tree_pass2".to_string(), "kahan_pass2".to_string()]);
            if matches!(acc, Precision::F32 | Precision::F64) {
                e.push("repro_check".into());
            }
            let suffix = pair_suffix(input, acc);
            ModuleBuild {
                spec,
                entries: e.into_iter().map(|n| format!("{n}_{suffix}")).collect(),
            }
        })
        .collect()
}

/// Format of the values the kernels keep in registers and write as partials: f64 for an
/// f64 accumulator, f32 otherwise (an f16 or bf16 value is exact in f32).
fn value_format(acc: Precision) -> Precision {
    if acc == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    }
}

fn cfg(groups: u32, wg: u32, shared: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (groups, 1, 1),
        block_dim: (wg, 1, 1),
        shared_mem_bytes: shared as u32,
    }
}

/// Runs a reduction job `job.runs` times on one GPU.
pub fn run(backend: &CudaBackend, job: &ReduceJob) -> Result<RunSet, OpError> {
    super::check_job(job)?;
    let dev = backend.device();
    let n = job.n();
    if job.variant == ReduceVariant::AtomicCas && n > MAX_CAS_ELEMENTS {
        return Err(OpError::Unsupported(format!(
            "atomic_cas is limited to {MAX_CAS_ELEMENTS} elements on CUDA: every element is a compare-exchange loop on one word, and 2^24 of them did not finish 5 runs in 150 s on an H100"
        )));
    }
    if job.variant.is_atomic() {
        let needs = if job.variant == ReduceVariant::AtomicCas {
            if ordered_atomics(dev) {
                Ok(())
            } else {
                native_atomic(dev, Precision::F32)
            }
        } else {
            native_atomic(dev, job.accumulator)
        };
        needs.map_err(OpError::Unsupported)?;
    }
    if job.y.as_ref().is_some_and(|y| y.len() != n) {
        return Err(OpError::BadInput(
            "dot needs x and y of the same length".into(),
        ));
    }
    let module = crate::ops::common::cuda_declared(
        modules(&dev.target()),
        &module_spec(dev, job.precision, job.accumulator),
    )?;
    let suffix = pair_suffix(job.precision, job.accumulator);
    let op = match job.op {
        Op::Dot => "dot",
        _ => "sum",
    };
    // The input is uploaded once for every variant and run of it (the device keeps it).
    let operands: Vec<&Arc<Values>> = std::iter::once(&job.x).chain(&job.y).collect();
    let bufs = dev.uploads().get(&operands, job.precision, |_, v| {
        dev.upload(&v.encode(job.precision)).map(Arc::new)
    })?;
    let x = &bufs[0];
    // Sum kernels take a y pointer too and never read it.
    let y = bufs.get(1).unwrap_or(x);
    let ctx = Ctx {
        dev,
        job,
        x,
        y,
        n: n as u64,
        module,
        suffix,
        op,
    };
    let mut set = RunSet {
        timer: dev.timer().into(),
        ..Default::default()
    };
    match job.variant {
        ReduceVariant::Tree => ctx.two_pass("tree", 1, &mut set)?,
        ReduceVariant::Kahan => ctx.two_pass("kahan", 2, &mut set)?,
        ReduceVariant::Atomic => ctx.atomic("atomic", false, &mut set)?,
        ReduceVariant::AtomicCas => ctx.atomic("atomic_cas", false, &mut set)?,
        ReduceVariant::BlockAtomic => ctx.atomic("block_atomic", true, &mut set)?,
        ReduceVariant::FixedPoint => ctx.fixed_point(&mut set)?,
        ReduceVariant::Reproducible => ctx.reproducible(&mut set)?,
    }
    Ok(set)
}

/// Everything a variant's launches need.
struct Ctx<'a> {
    dev: &'a CudaDevice,
    job: &'a ReduceJob,
    x: &'a CudaBuf,
    y: &'a CudaBuf,
    n: u64,
    module: ModuleBuild,
    suffix: String,
    op: &'static str,
}

impl Ctx<'_> {
    fn groups(&self) -> u32 {
        self.job.launch.workgroups
    }

    fn wg(&self) -> u32 {
        self.job.launch.workgroup_size
    }

    fn entry(&self, name: &str) -> Result<CudaFn, OpError> {
        self.dev
            .function(&self.module, &format!("{name}_{}", self.suffix))
    }

    /// tree (`words` = 1 value per partial) and kahan (2: sum and correction).
    fn two_pass(&self, variant: &str, words: usize, set: &mut RunSet) -> Result<(), OpError> {
        let vf = value_format(self.job.accumulator);
        let pass1 = self.entry(&format!("{}_{variant}_pass1", self.op))?;
        let pass2 = self.entry(&format!("{variant}_pass2"))?;
        let (groups, wg) = (self.groups(), self.wg());
        let mut partials = self.dev.zeros(groups as usize * words * vf.bytes())?;
        let mut out = self.dev.zeros(vf.bytes())?;
        let shared = wg as usize * words * vf.bytes();
        for _ in 0..self.job.runs {
            let ms = self.dev.timed(|s| {
                let mut b = s.launch_builder(&pass1);
                b.arg(self.x).arg(self.y).arg(&self.n).arg(&mut partials);
                // SAFETY: `{op}_{variant}_pass1(const S* x, const S* y, u64 n, V* partials)`:
                // x and y hold n elements of the input format, partials holds `groups *
                // words` values of V; each block writes only its own slot(s), and the
                // dynamic shared memory holds one (pair of) V per thread.
                unsafe { b.launch(cfg(groups, wg, shared)) }?;
                let mut b = s.launch_builder(&pass2);
                b.arg(&partials).arg(&groups).arg(&mut out);
                // SAFETY: `{variant}_pass2(const V* partials, u32 count, V* out)`: count is
                // the number of partials written by pass 1; out holds one V; one block.
                unsafe { b.launch(cfg(1, wg, shared)) }?;
                Ok(())
            })?;
            let v = vf.decode(&self.dev.read(&out)?)[0];
            set.times_ms.push(ms);
            set.outputs.push(vec![v]);
        }
        Ok(())
    }

    /// atomic, atomic_cas and block_atomic: every run adds into one zeroed word of the
    /// accumulator format.
    fn atomic(&self, variant: &str, tree: bool, set: &mut RunSet) -> Result<(), OpError> {
        let acc = self.job.accumulator;
        let f = self.entry(&format!(
            "{}_{variant}_{}",
            self.op,
            ordering_suffix(self.job.ordering)
        ))?;
        let (groups, wg) = (self.groups(), self.wg());
        let shared = if tree {
            wg as usize * value_format(acc).bytes()
        } else {
            0
        };
        let mut word = self.dev.zeros(acc.bytes())?;
        for _ in 0..self.job.runs {
            self.dev.zero(&mut word)?;
            let ms = self.dev.timed(|s| {
                let mut b = s.launch_builder(&f);
                b.arg(self.x).arg(self.y).arg(&self.n).arg(&mut word);
                // SAFETY: `{op}_{variant}_{ordering}(const S* x, const S* y, u64 n, W* w)`:
                // x and y hold n elements; w is one zeroed accumulator word (2, 4 or 8
                // bytes, aligned by the allocator) that every thread updates atomically.
                unsafe { b.launch(cfg(groups, wg, shared)) }?;
                Ok(())
            })?;
            let v = acc.decode(&self.dev.read(&word)?)[0];
            set.times_ms.push(ms);
            set.outputs.push(vec![v]);
        }
        Ok(())
    }

    fn fixed_point(&self, set: &mut RunSet) -> Result<(), OpError> {
        let f = self.entry(&format!("{}_fixed_point", self.op))?;
        let (groups, wg) = (self.groups(), self.wg());
        let k: i32 = self.job.fixed_scale;
        let mut total = self.dev.zeros(8)?;
        let mut lost = self.dev.zeros(8)?;
        for _ in 0..self.job.runs {
            self.dev.zero(&mut total)?;
            self.dev.zero(&mut lost)?;
            let ms = self.dev.timed(|s| {
                let mut b = s.launch_builder(&f);
                b.arg(self.x)
                    .arg(self.y)
                    .arg(&self.n)
                    .arg(&k)
                    .arg(&mut total)
                    .arg(&mut lost);
                // SAFETY: `{op}_fixed_point(const S* x, const S* y, u64 n, int k, u64* total,
                // u64* lost)`: x and y hold n elements; total and lost are one zeroed
                // 8-byte word each, updated only with 64-bit atomics.
                unsafe { b.launch(cfg(groups, wg, 0)) }?;
                Ok(())
            })?;
            let t = i64::from_le_bytes(word8(&self.dev.read(&total)?)?);
            let l = u64::from_le_bytes(word8(&self.dev.read(&lost)?)?);
            set.times_ms.push(ms);
            set.outputs.push(vec![crate::shared::fixed::fixed_to_value(
                t,
                k,
                self.job.accumulator,
            )]);
            set.message = crate::shared::fixed::fixed_message(l, self.job.n(), k);
        }
        Ok(())
    }

    /// reproducible: guess, deposit, check, deposit (reduce.cu says why the bits are those of
    /// two passes whichever way the check goes).
    fn reproducible(&self, set: &mut RunSet) -> Result<(), OpError> {
        let acc = self.job.accumulator;
        let params = self
            .job
            .repro
            .ok_or_else(|| OpError::Failed("reproducible layout missing".into()))?;
        // Little-endian u32 words per fold (DbLimbs<F>::N in common.cuh): 2 hold any f32
        // count of quanta (at most 2^32 * 2^12), 3 any f64 count (2^32 * 2^41).
        let limbs = if acc == Precision::F64 { 3 } else { 2 };
        let nwords = MAX_FOLDS * limbs;
        let guess_k = self.entry(&format!("{}_repro_guess", self.op))?;
        let deposit_k = self.entry(&format!("{}_repro_deposit", self.op))?;
        let check_k = self.entry("repro_check")?;
        let (groups, wg) = (self.groups(), self.wg());
        // Every kernel's dynamic shared memory is its block's max tree: one double per thread.
        let tree = wg as usize * 8;
        let mut block_max = self.dev.zeros(groups as usize * 8)?;
        let mut layout = self.dev.zeros(REPRO_LAYOUT_WORDS * 4)?;
        let mut max_out = self.dev.zeros(8)?;
        let mut lanes = self.dev.zeros(nwords * 4)?;
        let mut second_passes = 0;
        for _ in 0..self.job.runs {
            self.dev.zero(&mut lanes)?;
            let ms = self.dev.timed(|s| {
                let mut b = s.launch_builder(&guess_k);
                b.arg(self.x).arg(self.y).arg(&self.n).arg(&mut layout);
                // SAFETY: `{op}_repro_guess(const S* x, const S* y, u64 n, int* layout)`: x
                // and y hold n elements (the sampled indices are below n); layout holds
                // REPRO_LAYOUT_WORDS ints; one block.
                unsafe { b.launch(cfg(1, wg, tree)) }?;
                self.repro_deposit(s, &deposit_k, &layout, &mut lanes, &mut block_max)?;
                let mut b = s.launch_builder(&check_k);
                b.arg(&block_max)
                    .arg(&groups)
                    .arg(&mut layout)
                    .arg(&mut lanes)
                    .arg(&mut max_out);
                // SAFETY: `repro_check(const double* block_max, u32 count, int* layout, u32*
                // lanes, double* max_out)`: the deposit wrote count doubles; layout holds
                // REPRO_LAYOUT_WORDS ints, lanes 3 * LIMBS words, max_out one double; one
                // block, whose thread 0 alone writes.
                unsafe { b.launch(cfg(1, wg, tree)) }?;
                // Returns at once unless the check found the guessed layout wrong.
                self.repro_deposit(s, &deposit_k, &layout, &mut lanes, &mut block_max)
            })?;
            let lay: Vec<i32> = self
                .dev
                .read(&layout)?
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            check_layout(&lay, &params, &self.dev.read(&max_out)?)?;
            second_passes += usize::from(lay.get(REPRO_PENDING) != Some(&0));
            let words: Vec<u32> = bytemuck::pod_collect_to_vec(&self.dev.read(&lanes)?);
            let v = finalize_lanes(&params, &words[..nwords], limbs, 1)[0];
            set.times_ms.push(ms);
            set.outputs.push(vec![v]);
        }
        set.message = super::reproducible_message(second_passes, self.job.runs);
        Ok(())
    }

    /// One launch of `{op}_repro_deposit` over the whole grid.
    fn repro_deposit(
        &self,
        s: &CudaDevice,
        f: &CudaFn,
        layout: &CudaBuf,
        lanes: &mut CudaBuf,
        block_max: &mut CudaBuf,
    ) -> Result<(), OpError> {
        let (groups, wg) = (self.groups(), self.wg());
        let mut b = s.launch_builder(f);
        b.arg(self.x)
            .arg(self.y)
            .arg(&self.n)
            .arg(layout)
            .arg(lanes)
            .arg(block_max);
        // SAFETY: `{op}_repro_deposit(const S* x, const S* y, u64 n, const int* layout, u32*
        // lanes, double* block_max)`: each block reads only indices below n; layout holds
        // REPRO_LAYOUT_WORDS ints; lanes holds 3 * LIMBS words, updated only with atomics;
        // block_max one double per block, each written by its own block; the dynamic shared
        // memory is one double per thread.
        unsafe { b.launch(cfg(groups, wg, wg as usize * 8)) }?;
        Ok(())
    }
}

/// Words of reproducible's layout buffer: status, folds, a_1..a_3 (db_repro_layout) and
/// pending (1 after the last kernel: the check found the guessed layout wrong and x was
/// deposited again).
const REPRO_LAYOUT_WORDS: usize = 6;
/// Index of the pending word.
const REPRO_PENDING: usize = 5;

fn word8(bytes: &[u8]) -> Result<[u8; 8], OpError> {
    bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| OpError::Failed("short readback".into()))
}

/// The device derives the bin layout from its own max; it must be the host's.
fn check_layout(lay: &[i32], params: &ReproParams, max_bytes: &[u8]) -> Result<(), OpError> {
    let max = f64::from_le_bytes(word8(max_bytes)?);
    if lay.first() != Some(&0) {
        return Err(OpError::Failed(format!(
            "max |x| = {max:e} is too large for {} binning (the top bin would overflow); use an f64 accumulator",
            params.acc
        )));
    }
    let folds = lay
        .get(1)
        .map_or(0, |&f| f.clamp(0, MAX_FOLDS as i32) as usize);
    if lay.len() < 2 + MAX_FOLDS {
        return Err(OpError::Failed("short bin layout readback".into()));
    }
    if folds != params.folds || lay[2..2 + folds] != params.a[..folds] {
        return Err(OpError::Failed(format!(
            "the device's bin layout ({folds} folds at 2^{:?}, from max {max:e}) differs from the host's ({} folds at 2^{:?})",
            &lay[2..2 + folds.min(MAX_FOLDS)],
            params.folds,
            &params.a[..params.folds]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::repro::repro_sum;

    /// The quanta counts one term adds to each fold, as the kernel's db_slices computes
    /// them in the accumulator's own format (the primary at 1.5 * 2^a_k).
    fn slices(p: &ReproParams, v: f64) -> [i128; MAX_FOLDS] {
        let mut m = [0i128; MAX_FOLDS];
        if p.acc == Precision::F32 {
            let mut r = v as f32;
            for (k, slot) in m.iter_mut().enumerate().take(p.folds) {
                let sig = p.sigma(k) as f32;
                let q = (sig + f32::from_bits(r.to_bits() | 1)) - sig;
                *slot = (q as f64 / p.quantum(k)) as i128;
                r -= q;
            }
        } else {
            let mut r = v;
            for (k, slot) in m.iter_mut().enumerate().take(p.folds) {
                let sig = p.sigma(k);
                let q = (sig + f64::from_bits(r.to_bits() | 1)) - sig;
                *slot = (q / p.quantum(k)) as i128;
                r -= q;
            }
        }
        m
    }

    /// The host half of the reproducible variant: per-fold quanta counts, as the kernel
    /// leaves them in its two's-complement words, finalise to the CPU's bits for both
    /// accumulator formats.
    #[test]
    fn lane_words_finalize_to_cpu_bits() {
        for acc in [Precision::F32, Precision::F64] {
            let xs: Vec<f64> = (0..5000)
                .map(|i| acc.round(((i * 7919 % 1013) as f64 - 506.0) * 1.37e-3))
                .collect();
            let m = xs.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
            let p = ReproParams::new(acc, m).unwrap();
            let limbs = if acc == Precision::F64 { 3 } else { 2 };
            let mut counts = [0i128; MAX_FOLDS];
            for &v in &xs {
                for (c, s) in counts.iter_mut().zip(slices(&p, v)) {
                    *c += s;
                }
            }
            let words: Vec<u32> = counts
                .iter()
                .flat_map(|&c| (0..limbs).map(move |l| (c >> (32 * l)) as u32))
                .collect();
            assert_eq!(
                finalize_lanes(&p, &words, limbs, 1)[0].to_bits(),
                repro_sum(&p, &xs).to_bits(),
                "{acc}"
            );
        }
    }

    #[test]
    fn layout_mismatch_is_an_error() {
        let p = ReproParams::new(Precision::F32, 3.0).unwrap();
        let mut lay = vec![0, p.folds as i32];
        lay.extend(p.a.iter());
        assert!(check_layout(&lay, &p, &3.0f64.to_le_bytes()).is_ok());
        lay[2] += 1;
        assert!(check_layout(&lay, &p, &3.0f64.to_le_bytes()).is_err());
        lay[0] = 1;
        assert!(check_layout(&lay, &p, &3.0f64.to_le_bytes()).is_err());
    }
}
