//! The matmul family on CUDA (kernels in `kernels/cuda/matmul.cu`).
//!
//! `tiled`, `split_k_deterministic`, `batch_invariant` and `split_k_atomic` launch 16 x 16
//! output tiles of 256 threads (one output each, 16-deep shared-memory reduction tiles), the
//! split variants with one grid layer per K chunk; every output is one chain per chunk in the
//! order of [`super`], so the ordered variants give the CPU emulation's bits. The split
//! variants then run one thread per output: `mm_reduce` adds the chunk partials in chunk
//! order, `mm_finish` stores the cells `mm_atomic_{ordering}` accumulated (native
//! `atom.add.f32`/`.f64`, a compare-and-swap loop for half accumulators; each cell takes
//! exactly `splits` <= [`super::MAX_SPLIT`] adds).
//!
//! `tensor_core` (f16/bf16 inputs, f32 accumulator, sm_80 or newer) launches 128 x 64
//! output tiles of 8 warps on `mma.sync.aligned.m16n8k16`, the whole of K in one chain of
//! 32-deep tiles; its bits are the hardware's, held to
//! [`crate::shared::gemm::tensor_core_bound`] and run-to-run equality. Other formats, and
//! older GPUs, are Unsupported with the reason.
//!
//! `addmm` runs the same kernels with the parameter flag set and C uploaded with the bias
//! before each run (outside the timed span): the pass that stores an output adds its bias
//! first, after the K reduction (kernels/cuda/matmul.cu's db_mm_bias).
//!
//! `--backend cuda-emu` runs this host code on the host emulation of `kernels/cuda/emu`
//! (the tensor-core kernel with an emulated mma); tests/it/cuda_emu_conv.rs holds every
//! kernel of this module to the CPU that way (tensor_core on small integers).

use super::{MatmulJob, MmVariant};
use crate::backend::cuda::{
    precision_pairs, ComputeCapability, CudaBackend, CudaBuf, CudaDevice, CudaFn, CudaTarget,
    LaunchConfig, ModuleBuild, ModuleSpec,
};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::common::{cuda_ordering_suffix, cuda_ordering_suffixes, pair_suffix};
use crate::ops::RunSet;
use crate::shared::gemm::tensor_core_unsupported_for;

/// Kernel source of this family.
pub const SOURCE: &str = "kernels/cuda/matmul.cu";

/// Output-tile edge of the CUDA-core kernels.
const TILE: usize = super::TILE;
/// Output tile of `tensor_core`: rows, columns.
pub const TC_TILE: (usize, usize) = (128, 64);

/// The module of a format pair for a target: the common pair defines, `DB_GEMM` (common.cuh's
/// GEMM arithmetic) and `DB_MMA` where `tensor_core` can run.
fn module_spec(
    target: &impl ComputeCapability,
    precision: Precision,
    acc: Precision,
) -> ModuleSpec {
    crate::ops::common::cuda_gemm_module(target, SOURCE, precision, acc, true)
}

/// Every module this family builds for `target` and the entry points [`run`] looks up in it.
pub fn modules(target: &CudaTarget) -> Vec<ModuleBuild> {
    let cc = target.compute_capability();
    precision_pairs()
        .into_iter()
        .map(|(precision, acc)| {
            let mut e: Vec<String> = ["mm_tiled", "mm_partial", "mm_reduce", "mm_finish"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            if cc.0 >= 7 {
                for ord in cuda_ordering_suffixes() {
                    e.push(format!("mm_atomic_{ord}"));
                }
            }
            if tensor_core_unsupported_for(precision, acc, cc).is_none() {
                e.push("mm_tensor_core".to_string());
            }
            let suffix = pair_suffix(precision, acc);
            ModuleBuild {
                spec: module_spec(target, precision, acc),
                entries: e.into_iter().map(|n| format!("{n}_{suffix}")).collect(),
            }
        })
        .collect()
}

/// The 7 parameters the kernels read (`Params` of matmul.wgsl without the grid fields, then
/// 1 for addmm).
pub fn params(job: &MatmulJob) -> [u32; 7] {
    let s = job.shape;
    [
        s.m as u32,
        s.n as u32,
        s.k as u32,
        job.split.chunk as u32,
        job.split.splits as u32,
        s.out_len() as u32,
        job.bias.is_some() as u32,
    ]
}

/// The grid of a job's first pass: (row tiles, column tiles, chunks), or why CUDA cannot
/// launch it.
pub fn tile_grid(job: &MatmulJob) -> Result<(u32, u32, u32), OpError> {
    let s = job.shape;
    let (tm, tn) = if job.variant == MmVariant::TensorCore {
        TC_TILE
    } else {
        (TILE, TILE)
    };
    let chunks = if job.variant == MmVariant::Tiled || job.variant == MmVariant::TensorCore {
        1
    } else {
        job.split.splits
    };
    let g = (s.m.div_ceil(tm), s.n.div_ceil(tn), chunks);
    if g.0 > i32::MAX as usize || g.1 > 65535 || g.2 > 65535 {
        return Err(OpError::BadInput(format!(
            "matmul shape {:?} needs a {g:?} grid of {tm}x{tn} tiles, past CUDA's grid limits",
            s.to_vec()
        )));
    }
    Ok((g.0 as u32, g.1 as u32, g.2 as u32))
}

fn cfg(grid: (u32, u32, u32), block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: grid,
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn alloc(dev: &CudaDevice, len: usize, what: &str) -> Result<CudaBuf, OpError> {
    dev.zeros(len).map_err(|e| {
        OpError::BadInput(format!(
            "{what}: {e} (the shape's buffers exceed this device's memory?)"
        ))
    })
}

/// The device buffers of one job.
struct Bufs {
    prm: CudaBuf,
    a: CudaBuf,
    b: CudaBuf,
    out: CudaBuf,
}

/// `job.runs` timed runs into `set`. `first` runs on the tile grid: one-pass variants
/// (`second` None, no scratch) write C there; split variants write `scratch`, which
/// `second(P, scratch, C)` (one thread per output) then stores. With `zero_scratch` (the
/// atomic cells) the scratch is cleared before each run, outside the timed span.
#[allow(clippy::too_many_arguments)]
fn timed_runs(
    dev: &CudaDevice,
    job: &MatmulJob,
    (first, second): (&CudaFn, Option<&CudaFn>),
    bufs: &mut Bufs,
    mut scratch: Option<&mut CudaBuf>,
    grid: (u32, u32, u32),
    zero_scratch: bool,
    set: &mut RunSet,
) -> Result<(), OpError> {
    let lin = ((job.shape.out_len() as u32).div_ceil(256), 1, 1);
    for _ in 0..job.runs {
        if let (true, Some(s)) = (zero_scratch, scratch.as_deref_mut()) {
            dev.zero(s)?;
        }
        // addmm: C starts as the bias (the last pass reads it before storing).
        if let Some(c) = &job.bias {
            bufs.out = dev.upload(&job.precision.encode(c))?;
        }
        let ms = dev.timed(|st| {
            {
                let mut l = st.launch_builder(first);
                l.arg(&bufs.prm).arg(&bufs.a).arg(&bufs.b);
                match scratch.as_deref_mut() {
                    Some(s) => l.arg(s),
                    None => l.arg(&mut bufs.out),
                };
                // SAFETY: `first(const u32* P, const S* A, const S* B, T* t)`: P holds the 7
                // parameters (for addmm C holds the bias, read by the thread that stores
                // the same output), A and B the M x K and K x N operands of the shape in P as the
                // format's words. t is C (M·N outputs: `mm_tiled`, `mm_tensor_core`) or the
                // caller's scratch: splits * M·N accumulator values (`mm_partial`, block
                // (x, y, z) writing layer z) or M·N zeroed, aligned accumulator words
                // (`mm_atomic_*`). Loads are masked to M, N and K (block z to its chunk),
                // stores and atomic adds to M and N; 256 threads, as every tiling assumes.
                unsafe { l.launch(cfg(grid, 256)) }?;
            }
            if let (Some(second), Some(s)) = (second, scratch.as_deref_mut()) {
                let mut l = st.launch_builder(second);
                l.arg(&bufs.prm).arg(&*s).arg(&mut bufs.out);
                // SAFETY: `mm_reduce`/`mm_finish(const u32* P, const V* s, O* C)`: one
                // thread per output, e < M·N checked; reads the scratch written above.
                unsafe { l.launch(cfg(lin, 256)) }?;
            }
            Ok(())
        })?;
        set.outputs
            .push(job.precision.decode(&dev.read(&bufs.out)?));
        set.times_ms.push(ms);
    }
    Ok(())
}

/// Why a job cannot run on a device of compute capability `cc`, if it cannot.
pub fn unsupported(job: &MatmulJob, cc: (i32, i32)) -> Option<String> {
    match job.variant {
        MmVariant::TensorCore => tensor_core_unsupported_for(job.precision, job.accumulator, cc),
        MmVariant::SplitKAtomic if cc.0 < 7 => Some(format!(
            "split_k_atomic uses scoped PTX atomics (.relaxed/.acq_rel), which need sm_70 or newer; this device is sm_{}{}",
            cc.0, cc.1
        )),
        _ => None,
    }
}

/// Runs a matmul job `job.runs` times on one GPU.
pub fn run(backend: &CudaBackend, job: &MatmulJob) -> Result<RunSet, OpError> {
    super::check_job(job)?;
    let dev = backend.device();
    let (major, minor) = dev.compute_capability();
    if let Some(why) = unsupported(job, (major, minor)) {
        return Err(OpError::Unsupported(why));
    }
    let grid = tile_grid(job)?;
    let s = job.shape;
    let out_len = s.out_len();
    let vbytes = if job.accumulator == Precision::F64 {
        8
    } else {
        4
    };
    let spec = module_spec(dev, job.precision, job.accumulator);
    let suffix = pair_suffix(job.precision, job.accumulator);
    let module = crate::ops::common::cuda_declared(modules(&dev.target()), &spec)?;
    let f = |name: &str| dev.function(&module, &format!("{name}_{suffix}"));
    let mut bufs = Bufs {
        prm: dev.upload(bytemuck::cast_slice(&params(job)))?,
        a: dev
            .upload(&job.precision.encode(&job.a))
            .map_err(|e| OpError::BadInput(format!("A: {e}")))?,
        b: dev
            .upload(&job.precision.encode(&job.b))
            .map_err(|e| OpError::BadInput(format!("B: {e}")))?,
        out: alloc(dev, out_len * job.precision.bytes(), "C")?,
    };
    let mut set = RunSet {
        timer: dev.timer().into(),
        ..Default::default()
    };
    let splits = job.split.splits;
    match job.variant {
        MmVariant::Tiled => {
            let k = (&f("mm_tiled")?, None);
            timed_runs(dev, job, k, &mut bufs, None, grid, false, &mut set)?
        }
        MmVariant::TensorCore => {
            let k = (&f("mm_tensor_core")?, None);
            timed_runs(dev, job, k, &mut bufs, None, grid, false, &mut set)?;
            set.message = format!(
                "mma.sync m16n8k16 {}/f32 on sm_{major}{minor}, 128x64 tiles, K in one chain",
                job.precision
            );
        }
        MmVariant::SplitKDeterministic | MmVariant::BatchInvariant => {
            let mut partials = alloc(dev, splits * out_len * vbytes, "partials")?;
            let (k1, k2) = (f("mm_partial")?, f("mm_reduce")?);
            let k = (&k1, Some(&k2));
            let s = Some(&mut partials);
            timed_runs(dev, job, k, &mut bufs, s, grid, false, &mut set)?;
            set.message = format!(
                "{splits} splits of {} reduced in split order",
                job.split.chunk
            );
        }
        MmVariant::SplitKAtomic => {
            let mut cells = alloc(dev, out_len * vbytes, "accumulator cells")?;
            let name = format!("mm_atomic_{}", cuda_ordering_suffix(job.ordering));
            let (k1, k2) = (f(&name)?, f("mm_finish")?);
            let k = (&k1, Some(&k2));
            let s = Some(&mut cells);
            timed_runs(dev, job, k, &mut bufs, s, grid, true, &mut set)?;
            let how = if matches!(job.accumulator, Precision::F32 | Precision::F64) {
                "native atom.add"
            } else {
                "compare-and-swap loops rounding to the half format, on f32 words"
            };
            set.message = format!(
                "{splits} splits, so {splits} adds per output cell; {how}, {} ordering",
                job.ordering
            );
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair gets a module; tensor_core only for half inputs with an f32 accumulator
    /// on sm_80+, atomics only on sm_70+.
    #[test]
    fn modules_and_support_rules() {
        let m90 = modules(&CudaTarget::new(9, 0));
        assert_eq!(m90.len(), precision_pairs().len());
        let tc: Vec<&str> = m90
            .iter()
            .filter(|m| m.entries.iter().any(|e| e.starts_with("mm_tensor_core")))
            .flat_map(|m| m.entries.iter().filter(|e| e.starts_with("mm_tensor_core")))
            .map(|e| e.as_str())
            .collect();
        assert_eq!(tc, ["mm_tensor_core_f16_f32", "mm_tensor_core_bf16_f32"]);
        let m75 = modules(&CudaTarget::new(7, 5));
        assert!(m75
            .iter()
            .all(|m| !m.entries.iter().any(|e| e.starts_with("mm_tensor_core"))));
        let m60 = modules(&CudaTarget::new(6, 0));
        assert!(m60
            .iter()
            .all(|m| !m.entries.iter().any(|e| e.starts_with("mm_atomic"))));
        let job = |p, acc, v| {
            let s = super::super::MmShape::new(&[2, 3, 4]).unwrap();
            MatmulJob::new(s, p, acc, v, vec![1.0; 8], vec![1.0; 12], 1).unwrap()
        };
        let tcj = |p, acc| job(p, acc, MmVariant::TensorCore);
        assert_eq!(
            unsupported(&tcj(Precision::F16, Precision::F32), (8, 0)),
            None
        );
        let f32_why = unsupported(&tcj(Precision::F32, Precision::F32), (9, 0)).unwrap();
        assert!(f32_why.contains("f32 inputs"), "{f32_why}");
        let old = unsupported(&tcj(Precision::Bf16, Precision::F32), (7, 5)).unwrap();
        assert!(old.contains("sm_75"), "{old}");
        let atomic = job(Precision::F32, Precision::F32, MmVariant::SplitKAtomic);
        assert!(unsupported(&atomic, (6, 1)).unwrap().contains("sm_61"));
        assert_eq!(unsupported(&atomic, (7, 0)), None);
    }
}
