//! The reduction family on wgpu: `kernels/wgsl/reduce*.wgsl` (the shared part, then one file
//! per kind of kernel), specialised per job.
//!
//! The template is specialised by [`module_source`]: a header fixes `C` (the compute type),
//! `A` (the binned-state type), `XW` (the storage word of x and y), `WG` and the binning
//! constants, and `//#if` flags keep only the code the job needs (see the template's top
//! comment), so f64, i64 and float-atomic code is compiled only where it is used.
//!
//! `reproducible` reads x once in the common case: it guesses the bin layout from a sample of
//! x (pass `repro_guess`, the same steps as `ReproParams::new`), deposits x with it while
//! taking the true maximum, and deposits x again only if the true maximum's layout differs
//! (`repro_check`; see the template's comment). The host checks the final layout against
//! the job's, reads back the exact per-fold integer lanes and finalises them with the shared
//! code ([`finalize_lanes`]), and says whether x was read once or twice.

use super::{ReduceJob, ReduceVariant};
use crate::backend::wgpu::{Pass, WgpuBackend};
use crate::error::OpError;
use crate::numerics::repro::{ReproParams, DEPOSITS_PER_RENORM, LOG2_R, MAX_FOLDS};
use crate::numerics::{Precision, Values};
use crate::ops::wgsl::{specialise_family, Profile};
use crate::ops::RunSet;
use crate::shared::fixed::{fixed_message, fixed_to_value};
use crate::shared::lanes::finalize_lanes;
use std::sync::Arc;
use wgpu::Features as F;

/// The template, embedded once in [`crate::kernels::wgsl`] and hashed from there; modules are
/// [`crate::kernels::WGSL_PRELUDE`] and this, specialised together.
pub const TEMPLATE: &str = crate::kernels::wgsl::REDUCE;
/// The template files of a module, after the prelude (`kernels/wgsl/<stem>.wgsl`): the
/// bindings, loading, arithmetic and workgroup tree, then one file per kind of kernel.
const PARTS: &[&str] = &["reduce", "reduce_tree", "reduce_fixed", "reduce_repro"];

/// Compare-exchange attempts per element before a CAS loop gives up (and the run fails).
pub const MAX_TRIES: u32 = 1 << 16;

const _: () = assert!(MAX_FOLDS == 3, "reduce.wgsl keeps exactly 3 folds");

/// The uniform every reduction entry point reads.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    threads: u32,
    groups: u32,
    fixed_k: i32,
    /// 0, opaque to the shader compiler (see `opaque` in reduce.wgsl).
    zero: u32,
    _pad: [u32; 3],
}

/// Whether the job computes in f64 on the device.
fn uses_f64(job: &ReduceJob) -> bool {
    crate::ops::common::wgpu_uses_f64(job.precision, job.accumulator)
}

fn wgsl_type(p: Precision) -> &'static str {
    if p == Precision::F64 {
        "f64"
    } else {
        "f32"
    }
}

/// How block_atomic adds its workgroup partials on this device.
fn block_native(b: &WgpuBackend, job: &ReduceJob) -> bool {
    job.accumulator == Precision::F32 && b.has(F::SHADER_FLOAT32_ATOMIC)
}

/// Quads (four terms) a thread of an order-free variant takes at least before its grid
/// grows: a workgroup's fixed cost (zeroing and merging its lanes, its barriers) is then
/// paid for at least 16 WG quads on a GPU. A CPU device pays far more per workgroup
/// (lavapipe switches every lane group of the workgroup at each barrier and runs each
/// workgroup atomic lane by lane), so there a thread takes 512 quads: on lavapipe (2 cores)
/// fixed_point and reproducible at 2^24 terms took about half the time they took with 16,
/// for the same bits.
const MIN_QUADS_GPU: u64 = 16;
const MIN_QUADS_CPU: u64 = 512;

/// Workgroups of pass 1. The order-free variants (fixed_point, reproducible) choose their
/// own, at most the launch's: their bits do not depend on it, and a small input spread over
/// the whole launch would pay each workgroup's fixed cost for a few terms. On a CPU device
/// the grid keeps at least two workgroups per core of this machine (lavapipe's thread
/// count) where the input gives each thread 16 quads. Every other variant's order is the
/// launch shape's.
fn grid(job: &ReduceJob, p: Profile) -> u32 {
    let wg = job.launch.workgroup_size as u64;
    match job.variant {
        ReduceVariant::FixedPoint | ReduceVariant::Reproducible => {
            let quads = job.n() as u64 / 4;
            let mut groups = quads.div_ceil(wg * MIN_QUADS_GPU);
            if p.cpu_walks {
                let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as u64;
                groups = quads
                    .div_ceil(wg * MIN_QUADS_CPU)
                    .max(groups.min(2 * cores));
            }
            groups.clamp(1, job.launch.workgroups.max(1) as u64) as u32
        }
        _ => job.launch.workgroups,
    }
}

/// What an order-free variant's message says of its grid.
fn grid_note(job: &ReduceJob, p: Profile) -> String {
    format!(
        "{} workgroups of {} threads (any grid gives these bits)",
        grid(job, p),
        job.launch.workgroup_size
    )
}

/// Whether the kernel reads x (and y) also as `array<vec4<f32>>`: f32 input, the order-free
/// variants or a TREE_VEC pass 1, and at least one whole vec4 (a binding holds at least one
/// element).
fn uses_vec4(job: &ReduceJob, p: Profile) -> bool {
    job.precision == Precision::F32
        && job.n() >= 4
        && (matches!(
            job.variant,
            ReduceVariant::FixedPoint | ReduceVariant::Reproducible
        ) || tree_vec(job, p))
}

/// Whether the pass 1 of tree, block_atomic and kahan runs 16 launch threads' chains in
/// one kernel thread, each as one component of vec4 chains (TREE_VEC in reduce.wgsl): on a
/// CPU device, for an f32 sum in f32, with at least 16 TREE_K (256) threads per workgroup
/// (a power of two, so a multiple of 16) so that the kernel's WG / 16 threads still cover
/// the tree's barrier-free levels. Same
/// adds, same order, same bits; on a GPU it would leave most of the machine idle (a
/// sixteenth of the threads), so GPUs keep one launch thread per kernel thread.
fn tree_vec(job: &ReduceJob, p: Profile) -> bool {
    p.tree_vec
        && matches!(
            job.variant,
            ReduceVariant::Tree | ReduceVariant::BlockAtomic | ReduceVariant::Kahan
        )
        && job.y.is_none()
        && job.precision == Precision::F32
        && job.accumulator == Precision::F32
        && job.launch.workgroup_size >= 256
        && job.n() >= 4
}

/// The specialised WGSL of one job: header + the template's enabled blocks.
pub fn module_source(b: &WgpuBackend, job: &ReduceJob, p: Profile) -> Result<String, OpError> {
    let c = if uses_f64(job) { "f64" } else { "f32" };
    let a = wgsl_type(job.accumulator);
    let xw = match job.precision {
        Precision::F64 => "f64",
        Precision::F32 => "f32",
        Precision::F16 | Precision::Bf16 => "u32",
    };
    let acc = job.accumulator;
    let (emin, emax) = if acc == Precision::F64 {
        (-1022, 1023)
    } else {
        (-126, 127)
    };
    let header = format!(
        "// specialised by detbench: {} {} in {}, {}\n\
         alias C = {c};\nalias A = {a};\nalias XW = {xw};\n\
         const WG: u32 = {}u;\nconst MAX_TRIES: u32 = {MAX_TRIES}u;\n\
         const R_RENORM: u32 = {DEPOSITS_PER_RENORM}u;\nconst R_LOG2: i32 = {LOG2_R};\n\
         const R_EMIN: i32 = {emin};\nconst R_EMAX: i32 = {emax};\n\
         const R_P: i32 = {};\nconst R_W: i32 = {};\nconst R_MIN_NORMAL = {:e};\n\
         const FOLDS: i32 = {};\n",
        job.op,
        job.precision,
        acc,
        job.variant.name(),
        job.launch.workgroup_size,
        acc.mantissa_bits(),
        if matches!(acc, Precision::F32 | Precision::F64) {
            ReproParams::width(acc)
        } else {
            1
        },
        acc.min_normal(),
        // reproducible's fold count, fixed on the host (the device's layout must agree).
        job.repro.map_or(3, |p| p.folds),
    );
    let mut flags = crate::ops::common::wgpu_pair_flags(job.precision, acc);
    // common.wgsl's opaque, TwoSum, accumulator add and exact f32 product / fma.
    flags.extend(["OPAQUE", "TWO_SUM32", "ACC_ADD", "FMA32"]);
    if job.y.is_some() {
        flags.push("DOT");
        if acc == Precision::F64 {
            // common.wgsl's two_prod64 and fma64.
            flags.extend(["EFT64", "FMA64"]);
        } else if acc == Precision::F32 && b.has(F::SHADER_F64 | F::SHADER_INT64) {
            // fma32 through f64: correctly rounded down to the subnormals (common.wgsl).
            flags.push("FMA32_F64");
            flags.push("EFT64");
        }
    }
    flags.push(match job.variant {
        ReduceVariant::Tree => "V_TREE",
        ReduceVariant::Kahan => "V_KAHAN",
        ReduceVariant::Atomic => "V_ATOMIC",
        ReduceVariant::AtomicCas => "V_CAS",
        ReduceVariant::BlockAtomic => "V_BLOCK",
        ReduceVariant::FixedPoint => "V_FIXED",
        ReduceVariant::Reproducible => "V_REPRO",
    });
    match job.variant {
        // common.wgsl's TwoSum in the accumulator's arithmetic (kahan's pairs).
        ReduceVariant::Kahan => flags.push("TWO_SUM_ACC"),
        // common.wgsl's or1, pow2, sigma_of and to_limbs (binned deposits).
        ReduceVariant::Reproducible => flags.push("REPRO_BITS"),
        _ => {}
    }
    // The order-free variants load f32 input as vec4<f32> (bindings 6 and 7, see quad()).
    if uses_vec4(job, p) {
        flags.push("VEC4");
    }
    if tree_vec(job, p) {
        flags.push("TREE_VEC");
    }
    // fixed_point's f32 quantization in f32 arithmetic: exact only where subnormals stay.
    if job.variant == ReduceVariant::FixedPoint && !uses_f64(job) && b.keeps_f32_subnormals() {
        flags.push("FIXED_F32");
    }
    // On a CPU device each lane group reads its quads as one stream (see thread_quads).
    if p.cpu_walks {
        flags.push("SEQ_QUADS");
    }
    // The workgroup tree of tree_in_workgroup: of adds, or of maxima (reproducible).
    if matches!(
        job.variant,
        ReduceVariant::Tree | ReduceVariant::BlockAtomic
    ) {
        flags.extend(["WG_TREE", "ADD_TREE"]);
    } else if job.variant == ReduceVariant::Reproducible {
        flags.push("WG_TREE");
    }
    let cas = match job.variant {
        ReduceVariant::AtomicCas => true,
        ReduceVariant::BlockAtomic => !block_native(b, job),
        _ => false,
    };
    if cas {
        flags.push("CAS_CELL");
        if acc == Precision::F64 {
            flags.push("CAS64");
        }
    } else if job.variant == ReduceVariant::BlockAtomic {
        flags.push("NATIVE_ATOMIC");
    }
    specialise_family(&(header + &fixed_f32_consts(job)), PARTS, &flags)
}

/// The header constants of fixed_point's f32 quantizer (fx_quad in reduce.wgsl), from the
/// job's scale k and size n: every term has |v| 2^k <= 2^(61 - ceil(log2 n)) (fixed_scale).
fn fixed_f32_consts(job: &ReduceJob) -> String {
    let k = job.fixed_scale;
    let top = 61 - crate::numerics::bounds::ceil_log2(job.n().max(1) as u64) as i32;
    format!(
        "const FX_SCALE2: bool = {};\nconst FX_DOWN: bool = {};\nconst FX_PARTS3: bool = {};\n",
        !(-126..=127).contains(&k),
        k < 0,
        top > 42
    )
}

/// Bytes of workgroup memory one workgroup of the job's kernels uses.
fn workgroup_bytes(job: &ReduceJob) -> u64 {
    let c = if uses_f64(job) { 8 } else { 4 };
    let wg = job.launch.workgroup_size as u64;
    match job.variant {
        ReduceVariant::Kahan => wg * 2 * c,
        // The max tree, 9 u32 lanes for the deposit and the pending flag.
        ReduceVariant::Reproducible => wg * c + 40,
        // The workgroup's integer lanes: a u64 total and a u32 lost count.
        ReduceVariant::FixedPoint => 12,
        ReduceVariant::Atomic | ReduceVariant::AtomicCas => 0,
        _ => wg * c,
    }
}

/// Every feature and limit check, before anything is compiled.
fn check_device(b: &WgpuBackend, job: &ReduceJob) -> Result<(), OpError> {
    let acc = job.accumulator;
    if uses_f64(job) {
        b.require(F::SHADER_F64, "f64 arithmetic")?;
    }
    if acc == Precision::F64 && job.y.is_some() {
        // The fused multiply-add is emulated (see fma64 in reduce.wgsl) with u64 bit tricks.
        b.require(F::SHADER_INT64, "f64 dot (fma emulated on u64 bits)")?;
    }
    match job.variant {
        ReduceVariant::Atomic => {
            if acc != Precision::F32 {
                return Err(OpError::Unsupported(format!(
                    "atomic: WGSL's only native float atomic add is on atomic<f32> (SHADER_FLOAT32_ATOMIC); the accumulator is {acc} (atomic_cas works for every format)"
                )));
            }
            b.require(F::SHADER_FLOAT32_ATOMIC, "atomic (native atomicAdd on f32)")?;
        }
        ReduceVariant::AtomicCas | ReduceVariant::BlockAtomic => {
            let native = job.variant == ReduceVariant::BlockAtomic && block_native(b, job);
            if acc == Precision::F64 && !native {
                b.require(
                    F::SHADER_INT64 | F::SHADER_INT64_ATOMIC_ALL_OPS | F::SHADER_F64,
                    "compare-exchange on f64 bits (u64 words)",
                )?;
            }
        }
        ReduceVariant::FixedPoint => {
            b.require(
                F::SHADER_INT64 | F::SHADER_INT64_ATOMIC_ALL_OPS,
                "fixed_point (int64 atomics)",
            )?;
        }
        ReduceVariant::Reproducible if uses_f64(job) => {
            b.require(F::SHADER_INT64, "reproducible in f64 (u64 bit patterns)")?;
        }
        _ => {}
    }
    let wg = job.launch.workgroup_size;
    let lim = b.limits();
    if wg > lim.max_compute_invocations_per_workgroup || wg > lim.max_compute_workgroup_size_x {
        return Err(OpError::Unsupported(format!(
            "workgroup size {wg} exceeds this device's limit ({} invocations, {} in x)",
            lim.max_compute_invocations_per_workgroup, lim.max_compute_workgroup_size_x
        )));
    }
    let shared = workgroup_bytes(job);
    if shared > lim.max_compute_workgroup_storage_size as u64 {
        return Err(OpError::Unsupported(format!(
            "{} with workgroup size {wg} needs {shared} bytes of workgroup memory; this device has {}",
            job.variant.name(),
            lim.max_compute_workgroup_storage_size
        )));
    }
    if job.launch.workgroups > lim.max_compute_workgroups_per_dimension {
        return Err(OpError::Unsupported(format!(
            "{} workgroups exceed this device's limit of {}",
            job.launch.workgroups, lim.max_compute_workgroups_per_dimension
        )));
    }
    Ok(())
}

/// Reads the scalar at the start of `bytes` in format `c` (f32 or f64).
fn scalar(c: &str, bytes: &[u8]) -> f64 {
    if c == "f64" {
        f64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
    } else {
        f32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as f64
    }
}

fn words_u32(bytes: &[u8]) -> Vec<u32> {
    bytemuck::pod_collect_to_vec(bytes)
}

/// Runs a reduction job `job.runs` times on a wgpu device.
pub fn run(b: &WgpuBackend, job: &ReduceJob) -> Result<RunSet, OpError> {
    run_with(b, job, Profile::of(b))
}

/// [`run`] with the walks of `p` (the tests run a GPU's walks on a CPU adapter): the same
/// bits whatever the profile.
pub fn run_with(b: &WgpuBackend, job: &ReduceJob, prof: Profile) -> Result<RunSet, OpError> {
    run_patched(b, job, prof, &|s| s.to_string())
}

/// [`run_with`] on a patched copy of the specialised WGSL (`patch` maps it to the source
/// compiled): how tests/it/reveal.rs checks that `reveal` catches a kernel whose additions
/// were reassociated. Never used by a run.
pub fn run_patched(
    b: &WgpuBackend,
    job: &ReduceJob,
    prof: Profile,
    patch: &dyn Fn(&str) -> String,
) -> Result<RunSet, OpError> {
    super::check_job(job)?;
    check_device(b, job)?;
    let n = job.n();
    let in_bytes = (n * job.precision.bytes()) as u64;
    b.check_storage(n, in_bytes)?;
    let src = patch(&module_source(b, job, prof)?);
    let c = if uses_f64(job) { "f64" } else { "f32" };
    let cb: u64 = if c == "f64" { 8 } else { 4 };
    let groups = grid(job, prof);
    let params = Params {
        n: n as u32,
        threads: job.total_threads() as u32,
        groups,
        fixed_k: job.fixed_scale,
        zero: 0,
        _pad: [0; 3],
    };
    let prm = b.uniform("params", &params)?;
    // The input is uploaded once for every variant and run of it (the backend keeps it).
    let operands: Vec<&Arc<Values>> = std::iter::once(&job.x).chain(&job.y).collect();
    let mut bufs = b
        .uploads()
        .get(&operands, job.precision, |i, v| {
            b.storage_from_bytes(["x", "y"][i], &v.encode(job.precision))
        })?
        .into_iter();
    let x = bufs.next().expect("x is an operand");
    let y = bufs.next();
    // Bindings 0..2 of every entry point that reads the input.
    let inputs = |extra: &[(u32, &wgpu::Buffer)]| -> Vec<(u32, wgpu::Buffer)> {
        let mut v = vec![(0, prm.clone()), (1, x.clone())];
        if let Some(y) = &y {
            v.push((2, y.clone()));
        }
        v.extend(extra.iter().map(|&(i, buf)| (i, buf.clone())));
        v
    };
    // The same plus x (and y) as vec4<f32> words, for the entry points that read quads.
    let quads = |extra: &[(u32, &wgpu::Buffer)]| -> Vec<(u32, wgpu::Buffer)> {
        let mut v = inputs(extra);
        if uses_vec4(job, prof) {
            v.push((6, x.clone()));
            if let Some(y) = &y {
                v.push((7, y.clone()));
            }
        }
        v
    };
    let bind = |p: &wgpu::ComputePipeline, e: Vec<(u32, wgpu::Buffer)>| {
        let refs: Vec<(u32, &wgpu::Buffer)> = e.iter().map(|(i, buf)| (*i, buf)).collect();
        b.bind_group(p, &refs)
    };
    let mut set = RunSet {
        timer: b.timer().into(),
        ..Default::default()
    };
    let g1 = [groups, 1, 1];
    let one = [1, 1, 1];
    match job.variant {
        ReduceVariant::Tree | ReduceVariant::Kahan => {
            let (e1, e2, width) = if job.variant == ReduceVariant::Tree {
                ("tree_pass1", "tree_pass2", cb)
            } else {
                ("kahan_pass1", "kahan_pass2", 2 * cb)
            };
            let p1 = b.pipeline(&src, e1)?;
            let p2 = b.pipeline(&src, e2)?;
            let partials = b.storage_zeroed("partials", groups as u64 * width)?;
            let result = b.storage_zeroed("result", cb)?;
            let bg1 = bind(&p1, quads(&[(3, &partials)]))?;
            let bg2 = bind(
                &p2,
                vec![(0, prm.clone()), (3, partials.clone()), (4, result.clone())],
            )?;
            for _ in 0..job.runs {
                let r = b.execute(
                    &[],
                    &[Pass::new(&p1, &bg1, g1), Pass::new(&p2, &bg2, one)],
                    &[&result],
                )?;
                set.outputs.push(vec![scalar(c, &r.outputs[0])]);
                set.times_ms.push(r.ms);
            }
        }
        ReduceVariant::Atomic => {
            let p = b.pipeline(&src, "atomic_add")?;
            let cell = b.storage_zeroed("cell", 4)?;
            let bg = bind(&p, inputs(&[(3, &cell)]))?;
            for _ in 0..job.runs {
                let r = b.execute(&[&cell], &[Pass::new(&p, &bg, g1)], &[&cell])?;
                set.outputs.push(vec![scalar("f32", &r.outputs[0])]);
                set.times_ms.push(r.ms);
            }
            set.message = "one native f32 atomicAdd per element".into();
        }
        ReduceVariant::AtomicCas | ReduceVariant::BlockAtomic => run_cas(
            &Setup {
                b,
                job,
                src: &src,
                inputs: &inputs,
                quads: &quads,
                bind: &bind,
                profile: prof,
            },
            &mut set,
        )?,
        ReduceVariant::FixedPoint => {
            let p = b.pipeline(&src, "fixed_point")?;
            let total = b.storage_zeroed("fx_total", 8)?;
            let lost = b.storage_zeroed("fx_lost", 4)?;
            let bg = bind(&p, quads(&[(3, &total), (4, &lost)]))?;
            for _ in 0..job.runs {
                let r = b.execute(
                    &[&total, &lost],
                    &[Pass::new(&p, &bg, g1)],
                    &[&total, &lost],
                )?;
                let t = i64::from_le_bytes(r.outputs[0][..8].try_into().expect("8 bytes"));
                let l = words_u32(&r.outputs[1])[0];
                set.outputs
                    .push(vec![fixed_to_value(t, job.fixed_scale, job.accumulator)]);
                set.times_ms.push(r.ms);
                set.message = format!(
                    "{}; {}",
                    fixed_message(l as u64, n, job.fixed_scale),
                    grid_note(job, prof)
                );
            }
        }
        ReduceVariant::Reproducible => run_reproducible(
            &Setup {
                b,
                job,
                src: &src,
                inputs: &inputs,
                quads: &quads,
                bind: &bind,
                profile: prof,
            },
            cb,
            &prm,
            &mut set,
        )?,
    }
    Ok(set)
}

/// Binds the input bindings (params, x and y) plus the given ones.
type Inputs<'a> = dyn Fn(&[(u32, &wgpu::Buffer)]) -> Vec<(u32, wgpu::Buffer)> + 'a;
/// Makes a bind group of an entry point.
type Bind<'a> = dyn Fn(&wgpu::ComputePipeline, Vec<(u32, wgpu::Buffer)>) -> Result<wgpu::BindGroup, OpError>
    + 'a;

/// What the variants' runs share: the device, the job, the module and the binders.
struct Setup<'a> {
    b: &'a WgpuBackend,
    job: &'a ReduceJob,
    src: &'a str,
    inputs: &'a Inputs<'a>,
    /// `inputs` plus the vec4 views of x and y (quad()).
    quads: &'a Inputs<'a>,
    bind: &'a Bind<'a>,
    profile: Profile,
}

/// atomic_cas and block_atomic: compare-exchange loops (or a native add per workgroup).
fn run_cas(s: &Setup, set: &mut RunSet) -> Result<(), OpError> {
    let (b, job, src, quads, bind) = (s.b, s.job, s.src, s.quads, s.bind);
    let g1 = [job.launch.workgroups, 1, 1];
    let entry = if job.variant == ReduceVariant::AtomicCas {
        "atomic_cas"
    } else {
        "block_atomic"
    };
    let native = job.variant == ReduceVariant::BlockAtomic && block_native(b, job);
    let wide = job.accumulator == Precision::F64;
    let p = b.pipeline(src, entry)?;
    let cell = b.storage_zeroed("cell", if wide { 8 } else { 4 })?;
    let gave_up = b.storage_zeroed("gave_up", 4)?;
    let mut extra = vec![(3, &cell)];
    if !native {
        extra.push((4, &gave_up));
    }
    let bg = bind(&p, quads(&extra))?;
    for _ in 0..job.runs {
        let r = b.execute(
            &[&cell, &gave_up],
            &[Pass::new(&p, &bg, g1)],
            &[&cell, &gave_up],
        )?;
        let stuck = words_u32(&r.outputs[1])[0];
        if stuck != 0 {
            return Err(OpError::Failed(format!(
                "{entry}: {stuck} compare-exchange loops gave up after {MAX_TRIES} failed tries"
            )));
        }
        set.outputs.push(vec![scalar(
            if wide { "f64" } else { "f32" },
            &r.outputs[0],
        )]);
        set.times_ms.push(r.ms);
    }
    let word = if wide { "u64" } else { "u32" };
    set.message = match (job.variant, native) {
        (ReduceVariant::AtomicCas, _) => {
            format!("compare-exchange loop on {word} words per element")
        }
        (_, true) => "one native f32 atomicAdd per workgroup".into(),
        (_, false) => format!(
            "one compare-exchange loop on {word} words per workgroup (no native atomic add for {} here)",
            job.accumulator
        ),
    };
    Ok(())
}

/// reproducible: the bin layout from max |x| on the device, then exact integer deposits.
fn run_reproducible(
    s: &Setup,
    cb: u64,
    prm: &wgpu::Buffer,
    set: &mut RunSet,
) -> Result<(), OpError> {
    let (b, job, src, inputs, bind, p) = (s.b, s.job, s.src, s.inputs, s.bind, s.profile);
    let groups = grid(job, p);
    let g1 = [groups, 1, 1];
    let one = [1, 1, 1];
    let params = job.repro.expect("checked by check_job");
    // Little-endian u32 words per fold lane: 2 hold any f32 count (at most
    // 2^32 * 2^12 quanta), 3 any f64 count (2^32 * 2^41).
    let limbs = if job.accumulator == Precision::F64 {
        3
    } else {
        2
    };
    let nwords = MAX_FOLDS * limbs;
    let guess = b.pipeline(src, "repro_guess")?;
    let deposit = b.pipeline(src, "repro_deposit")?;
    let check = b.pipeline(src, "repro_check")?;
    let rmax = b.storage_zeroed("rmax", groups as u64 * cb)?;
    let layout = b.storage_zeroed("rlayout", 24)?;
    let lanes = b.storage_zeroed("rlanes", nwords as u64 * 4)?;
    let bg_guess = bind(&guess, inputs(&[(4, &layout)]))?;
    let bg_deposit = bind(
        &deposit,
        (s.quads)(&[(3, &rmax), (4, &layout), (5, &lanes)]),
    )?;
    let bg_check = bind(
        &check,
        vec![
            (0, prm.clone()),
            (3, rmax.clone()),
            (4, layout.clone()),
            (5, lanes.clone()),
        ],
    )?;
    let mut second_pass = 0;
    for _ in 0..job.runs {
        // The second deposit returns at once unless the check found the guess wrong.
        let r = b.execute(
            &[&layout, &lanes],
            &[
                Pass::new(&guess, &bg_guess, one),
                Pass::new(&deposit, &bg_deposit, g1),
                Pass::new(&check, &bg_check, one),
                Pass::new(&deposit, &bg_deposit, g1),
            ],
            &[&layout, &lanes],
        )?;
        let lay: Vec<i32> = bytemuck::pod_collect_to_vec(&r.outputs[0]);
        if lay[4] != 0 {
            return Err(OpError::Failed(format!(
                "the device found max |x| too large for {} binning (the top bin would overflow)",
                job.accumulator
            )));
        }
        let folds = lay[0] as usize;
        if folds != params.folds || lay[1..1 + folds] != params.a[..folds] {
            return Err(OpError::Failed(format!(
                "the device's bin layout ({folds} folds at 2^{:?}) differs from the host's ({} folds at 2^{:?})",
                &lay[1..1 + folds.min(3)],
                params.folds,
                &params.a[..params.folds]
            )));
        }
        second_pass += usize::from(lay[5] != 0);
        let words = words_u32(&r.outputs[1]);
        let value = finalize_lanes(&params, &words[..nwords], limbs, 1)[0];
        set.outputs.push(vec![value]);
        set.times_ms.push(r.ms);
    }
    set.message = format!(
        "{}; {}",
        super::reproducible_message(second_pass, job.runs),
        grid_note(job, p)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_wgsl_struct() {
        crate::assert_wgsl_layout!(
            Params,
            TEMPLATE,
            "Params",
            [n, threads, groups, fixed_k, zero]
        );
    }
}
