//! The convolution family on CUDA (kernels in `kernels/cuda/conv.cu`).
//!
//! `direct` launches one thread per output element; `tiled`, `bwdw_partial` and
//! `bwdw_atomic` launch 64 x 64 output tiles of 256 threads (4 x 4 outputs each, 16-deep
//! shared-memory reduction tiles), `bwdw_*` with one grid layer per chunk. Every output is
//! still one sequential chain in the order of [`super`], so the ordered variants give the
//! CPU emulation's bits. `atomic` uses native `atom.add.f32`/`.f64` under the job's PTX
//! ordering, and a compare-and-swap loop for half accumulators.
//!
//! `tensor_core` (f16/bf16 inputs, f32 accumulator, sm_80 or newer) launches 128 x 64
//! output tiles of 256 threads that run `mma.sync.aligned.m16n8k16` through inline PTX on
//! 32-deep shared-memory reduction tiles (layout and fragment ownership documented in
//! `kernels/cuda/conv.cu`); bwd_weight splits its reduction into the same chunks as
//! `deterministic` and adds the f32 partials in chunk order. The launch is fixed, so runs
//! on one GPU give the same bits, but the tensor core's internal order and rounding are the
//! hardware's: the tests check the bound of [`super::tensor_core_bound`] and run-to-run
//! equality, not a CPU emulation. Other formats, and older GPUs, are Unsupported with the
//! reason. Where there is no GPU, `--backend cuda-emu` runs this host code on the host
//! emulation of `kernels/cuda/emu` (the tensor-core kernels with an emulated mma), and
//! tests/it/cuda_emu_conv.rs holds every kernel of the family to the CPU that way.

use super::{gemm_dims, ConvJob, ConvVariant, TC_TILE_M, TC_TILE_N};
use crate::backend::cuda::{
    precision_pairs, CudaBackend, CudaBuf, CudaDevice, CudaFn, CudaTarget, LaunchConfig,
    ModuleBuild, ModuleSpec,
};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::common::cuda_ordering_suffix as ordering_suffix;
use crate::ops::{Op, RunSet};

/// Kernel source of this family.
pub const SOURCE: &str = "kernels/cuda/conv.cu";

// The support rule is shared with matmul (same kernels' tile and mma).
pub use crate::shared::gemm::{tensor_core_unsupported_for, TENSOR_CORE_ARCH_REASON};

/// Why `tensor_core` cannot run this job on a device of compute capability `cc`, if it
/// cannot: the kernels multiply f16 or bf16 in `mma.sync.m16n8k16` (sm_80+) and accumulate
/// in f32, the format the bound of [`crate::shared::gemm::tensor_core_bound`] is written for.
pub fn tensor_core_unsupported(job: &ConvJob, cc: (i32, i32)) -> Option<String> {
    tensor_core_unsupported_for(job.precision, job.accumulator, cc)
}

/// Output-tile edge of the CUDA GEMM kernels.
const BM: usize = 64;

/// Every module this family builds for `target` and the entry points [`run`] looks up in it.
pub fn modules(target: &CudaTarget) -> Vec<ModuleBuild> {
    use crate::backend::cuda::ComputeCapability;
    let cc = target.compute_capability();
    precision_pairs()
        .into_iter()
        .map(|(precision, acc)| {
            let mut e: Vec<String> = [
                "fwd_direct",
                "bwdd_direct",
                "fwd_tiled",
                "bwdd_tiled",
                "bwdw_partial",
                "bwdw_reduce",
                "bwdw_finish",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if cc.0 >= 7 {
                for ord in crate::ops::common::cuda_ordering_suffixes() {
                    e.push(format!("bwdw_atomic_{ord}"));
                }
            }
            if tensor_core_unsupported_for(precision, acc, cc).is_none() {
                for op in ["fwd", "bwdd", "bwdw"] {
                    e.push(format!("{op}_tensor_core"));
                }
            }
            let suffix = format!("{}_{}", precision.name(), acc.name());
            ModuleBuild {
                spec: module_spec(target, precision, acc),
                entries: e.into_iter().map(|n| format!("{n}_{suffix}")).collect(),
            }
        })
        .collect()
}

/// The module of a format pair for a target: specialised like reduce.cu and scatter.cu
/// (`DB_IN_T`, `DB_ACC_T`, the atomic capabilities), plus `DB_GEMM` (common.cuh's GEMM
/// section) and `DB_MMA` (the mma input type) where `tensor_core` can run.
fn module_spec(
    target: &impl crate::backend::cuda::ComputeCapability,
    precision: Precision,
    acc: Precision,
) -> ModuleSpec {
    crate::ops::common::cuda_gemm_module(target, SOURCE, precision, acc, true)
}

fn cfg(grid: (u32, u32, u32), block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: grid,
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Device allocation failures are the shape's fault when it is this large.
fn alloc_err(dev: &CudaDevice, bytes: &[u8], what: &str) -> Result<CudaBuf, OpError> {
    dev.upload(bytes).map_err(|e| {
        OpError::BadInput(format!(
            "{what}: {e} (the shape's buffers exceed this device's memory?)"
        ))
    })
}

/// A job's device buffers: the 20 parameters, the two operands and the output.
struct Buffers {
    prm: CudaBuf,
    a: CudaBuf,
    b: CudaBuf,
    out: CudaBuf,
}

impl Buffers {
    fn upload(dev: &CudaDevice, job: &ConvJob) -> Result<Buffers, OpError> {
        let out_len = job.shape.out_len(job.op);
        Ok(Buffers {
            prm: dev.upload(bytemuck::cast_slice(&kernel_params(job)))?,
            a: alloc_err(dev, &job.precision.encode(&job.a), "first operand")?,
            b: alloc_err(dev, &job.precision.encode(&job.b), "second operand")?,
            out: dev
                .zeros(out_len * job.precision.bytes())
                .map_err(|e| OpError::BadInput(format!("output: {e}")))?,
        })
    }
}

/// The 20 kernel parameters `P` of conv.cu: the shape, the chunking and the GEMM view.
pub fn kernel_params(job: &ConvJob) -> Vec<u32> {
    let s = &job.shape;
    let (gm, gn) = gemm_dims(job.op, s);
    [
        s.n,
        s.c,
        s.h,
        s.w,
        s.k,
        s.r,
        s.s,
        s.stride,
        s.pad,
        s.dil,
        s.p,
        s.q,
        job.chunk,
        s.n * s.p * s.q,
        s.out_len(job.op),
        0,
        gm,
        gn,
        s.reduction_len(job.op),
        job.chunks(),
    ]
    .iter()
    .map(|&v| v as u32)
    .collect()
}

/// Why this device cannot run the job's variant, if it cannot.
fn check_device(job: &ConvJob, (major, minor): (i32, i32)) -> Result<(), OpError> {
    if job.variant == ConvVariant::TensorCore {
        if let Some(why) = tensor_core_unsupported(job, (major, minor)) {
            return Err(OpError::Unsupported(why));
        }
    }
    if job.variant == ConvVariant::Atomic && major < 7 {
        return Err(OpError::Unsupported(format!(
            "atomic uses scoped PTX atomics (.relaxed/.acq_rel), which need sm_70 or newer; this device is sm_{major}{minor}"
        )));
    }
    Ok(())
}

/// The grid of output tiles (one layer per chunk), within CUDA's grid limits.
fn tile_grid(job: &ConvJob) -> Result<(u32, u32, u32), OpError> {
    let (gm, gn) = gemm_dims(job.op, &job.shape);
    let (tm, tn) = if job.variant == ConvVariant::TensorCore {
        (TC_TILE_M, TC_TILE_N)
    } else {
        (BM, BM)
    };
    let tiles = (gm.div_ceil(tm), gn.div_ceil(tn), job.chunks());
    if tiles.1 > 65535 || tiles.2 > 65535 || tiles.0 > i32::MAX as usize {
        return Err(OpError::BadInput(format!(
            "conv shape {:?} needs a {tiles:?} grid of {tm}x{tn} tiles, past CUDA's grid limits",
            job.shape.to_vec()
        )));
    }
    Ok((tiles.0 as u32, tiles.1 as u32, tiles.2 as u32))
}

/// One-kernel variants, timed `job.runs` times into `set`: `kernel` is
/// `{fwd|bwdd|bwdw}_{direct|tiled}(const u32* P, const S* a, const S* b, O* out)` or
/// `{fwd|bwdd}_tensor_core(const u32* P, const u16* a, const u16* b, u16* out)`.
fn single_pass(
    dev: &CudaDevice,
    job: &ConvJob,
    set: &mut RunSet,
    kernel: &CudaFn,
    bufs: &mut Buffers,
    (grid, block): ((u32, u32, u32), u32),
) -> Result<(), OpError> {
    for _ in 0..job.runs {
        let ms = dev.timed(|st| {
            let mut l = st.launch_builder(kernel);
            l.arg(&bufs.prm)
                .arg(&bufs.a)
                .arg(&bufs.b)
                .arg(&mut bufs.out);
            // SAFETY: P holds the 20 parameters, a and b the operands of the shape in P (the
            // f16/bf16 words for tensor_core), out `out_len` outputs of the job's format;
            // every thread bounds-checks its element or tile entry (tensor_core masks every
            // load to the GEMM's rows, columns and reduction length and to the image, every
            // store to the GEMM's rows and columns, and runs the 256 threads its tiling
            // assumes).
            unsafe { l.launch(cfg(grid, block)) }?;
            Ok(())
        })?;
        keep_run(dev, job, set, &bufs.out, ms)?;
    }
    Ok(())
}

/// Reads one run's output into `set`, with its time.
fn keep_run(
    dev: &CudaDevice,
    job: &ConvJob,
    set: &mut RunSet,
    out: &CudaBuf,
    ms: f64,
) -> Result<(), OpError> {
    set.outputs.push(job.precision.decode(&dev.read(out)?));
    set.times_ms.push(ms);
    Ok(())
}

/// bwd_weight's two passes, timed together `job.runs` times into `set`. `first` (over the
/// tile grid `tgrid`, 256 threads) is one of
/// - `bwdw_partial(const u32* P, const S* dy, const S* x, V* partials)`,
/// - `bwdw_tensor_core(const u32* P, const u16* dy, const u16* x, float* partials)`,
/// - `bwdw_atomic_{ord}(const u32* P, const S* dy, const S* x, V* cells)`,
///
/// and `second` (one thread per dw element, 256 threads) the matching
/// `bwdw_reduce`/`bwdw_finish(const u32* P, const V* scratch, O* dw)`. `scratch` holds
/// `scratch_len` accumulator values; with `zero_scratch` (the atomic cells) it is cleared
/// before each run, outside the timed span.
#[allow(clippy::too_many_arguments)]
fn bwdw_two_pass(
    dev: &CudaDevice,
    job: &ConvJob,
    set: &mut RunSet,
    (first, second): (&CudaFn, &CudaFn),
    bufs: &mut Buffers,
    scratch_len: usize,
    tgrid: (u32, u32, u32),
    zero_scratch: bool,
) -> Result<(), OpError> {
    let vf = if job.accumulator == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    };
    let mut scratch = dev.zeros(scratch_len * vf.bytes()).map_err(|e| {
        let what = if zero_scratch {
            "accumulator cells"
        } else {
            "partials"
        };
        OpError::BadInput(format!("{what}: {e}"))
    })?;
    let out_len = job.shape.out_len(job.op);
    let lin = ((out_len as u32).div_ceil(256), 1, 1);
    for _ in 0..job.runs {
        if zero_scratch {
            dev.zero(&mut scratch)?;
        }
        let ms = dev.timed(|st| {
            let mut l = st.launch_builder(first);
            l.arg(&bufs.prm).arg(&bufs.a).arg(&bufs.b).arg(&mut scratch);
            // SAFETY: P holds the 20 parameters; a and b the operands (dy, x) of the shape in
            // P, as the format's words (f16/bf16 words for tensor_core); scratch was sized
            // above for the kernel: chunks * out_len accumulator values of partials (f32
            // for tensor_core, whose 256 threads the kernel's tiling assumes) or out_len
            // zeroed, aligned accumulator words of cells. Block (x, y, z) writes only its
            // tile of layer z, every element checked against P's bounds (the cells only with
            // atomics at bounds-checked indices).
            unsafe { l.launch(cfg(tgrid, 256)) }?;
            let mut l = st.launch_builder(second);
            l.arg(&bufs.prm).arg(&scratch).arg(&mut bufs.out);
            // SAFETY: one thread per dw element, e < out_len checked; reads the scratch
            // written above, writes out_len outputs of the job's format.
            unsafe { l.launch(cfg(lin, 256)) }?;
            Ok(())
        })?;
        keep_run(dev, job, set, &bufs.out, ms)?;
    }
    Ok(())
}

/// What the record says about how the variant ran.
fn message(job: &ConvJob, (major, minor): (i32, i32)) -> String {
    let chunks = job.chunks();
    match job.variant {
        ConvVariant::Direct | ConvVariant::Tiled => String::new(),
        ConvVariant::Deterministic => {
            format!("{chunks} chunks of {} reduced in chunk order", job.chunk)
        }
        ConvVariant::Atomic => match job.accumulator {
            Precision::F32 | Precision::F64 => format!(
                "{chunks} chunks; native atom.add.{} ({})",
                job.accumulator, job.ordering
            ),
            acc => format!(
                "{chunks} chunks; compare-and-swap on the f32 word of each {acc} value ({})",
                job.ordering
            ),
        },
        ConvVariant::TensorCore if job.op == Op::Conv2dBwdWeight => format!(
            "mma.sync m16n8k16 {}/f32 on sm_{major}{minor}; {chunks} chunks of {} reduced in chunk order",
            job.precision, job.chunk
        ),
        ConvVariant::TensorCore => format!(
            "mma.sync m16n8k16 {}/f32 on sm_{major}{minor}, 128x64 tiles",
            job.precision
        ),
    }
}

/// Runs a conv job `job.runs` times on one GPU.
pub fn run(backend: &CudaBackend, job: &ConvJob) -> Result<RunSet, OpError> {
    super::check_job(job)?;
    let dev = backend.device();
    let cc = dev.compute_capability();
    check_device(job, cc)?;
    let tgrid = tile_grid(job)?;
    let spec = module_spec(dev, job.precision, job.accumulator);
    let suffix = format!("{}_{}", job.precision.name(), job.accumulator.name());
    let module = crate::ops::common::cuda_declared(modules(&dev.target()), &spec)?;
    let f = |name: &str| dev.function(&module, &format!("{name}_{suffix}"));
    let mut bufs = Buffers::upload(dev, job)?;
    let out_len = job.shape.out_len(job.op);
    let partials = job.chunks() * out_len;
    let wg = job.launch.workgroup_size;
    let mut set = RunSet {
        timer: dev.timer().into(),
        ..Default::default()
    };
    let op = match job.op {
        Op::Conv2dBwdData => "bwdd",
        Op::Conv2dBwdWeight => "bwdw",
        _ => "fwd",
    };
    let s = &mut set;
    match job.variant {
        ConvVariant::Direct => {
            let lin = ((out_len as u32).div_ceil(wg), 1, 1);
            let k = f(&format!("{op}_direct"))?;
            single_pass(dev, job, s, &k, &mut bufs, (lin, wg))?;
        }
        ConvVariant::Tiled => {
            let k = f(&format!("{op}_tiled"))?;
            single_pass(dev, job, s, &k, &mut bufs, (tgrid, 256))?;
        }
        ConvVariant::TensorCore if job.op != Op::Conv2dBwdWeight => {
            let k = f(&format!("{op}_tensor_core"))?;
            single_pass(dev, job, s, &k, &mut bufs, (tgrid, 256))?;
        }
        ConvVariant::Deterministic | ConvVariant::TensorCore => {
            let first = if job.variant == ConvVariant::TensorCore {
                "bwdw_tensor_core"
            } else {
                "bwdw_partial"
            };
            let k = (&f(first)?, &f("bwdw_reduce")?);
            bwdw_two_pass(dev, job, s, k, &mut bufs, partials, tgrid, false)?;
        }
        ConvVariant::Atomic => {
            let first = f(&format!("bwdw_atomic_{}", ordering_suffix(job.ordering)))?;
            let k = (&first, &f("bwdw_finish")?);
            bwdw_two_pass(dev, job, s, k, &mut bufs, out_len, tgrid, true)?;
        }
    }
    set.message = message(job, cc);
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::{ConvShape, ConvVariant};

    fn job(p: Precision, acc: Precision) -> ConvJob {
        let s = ConvShape::new(&[1, 2, 4, 4, 3, 3, 3, 1, 1, 1]).unwrap();
        let (la, lb) = s.operand_lens(Op::Conv2dFwd);
        ConvJob::new(
            Op::Conv2dFwd,
            s,
            p,
            acc,
            ConvVariant::TensorCore,
            vec![1.0; la],
            vec![1.0; lb],
            64,
            1,
        )
        .unwrap()
    }

    /// tensor_core runs half inputs with an f32 accumulator on sm_80+, and says why not
    /// otherwise.
    #[test]
    fn tensor_core_support_rules() {
        for p in [Precision::F16, Precision::Bf16] {
            assert_eq!(
                tensor_core_unsupported(&job(p, Precision::F32), (8, 0)),
                None
            );
            assert_eq!(
                tensor_core_unsupported(&job(p, Precision::F32), (9, 0)),
                None
            );
            let old = tensor_core_unsupported(&job(p, Precision::F32), (7, 5)).unwrap();
            assert!(old.starts_with(TENSOR_CORE_ARCH_REASON), "{old}");
            assert!(old.contains("sm_75"), "{old}");
            assert!(tensor_core_unsupported(&job(p, p), (9, 0)).is_some());
            assert!(tensor_core_unsupported(&job(p, Precision::F64), (9, 0)).is_some());
        }
        assert!(tensor_core_unsupported(&job(Precision::F32, Precision::F32), (9, 0)).is_some());
    }
}
