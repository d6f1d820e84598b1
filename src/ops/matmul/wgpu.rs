//! The matmul family on wgpu: `kernels/wgsl/matmul.wgsl`, specialised per job.
//!
//! `tiled` is one pass of 16 x 16 tiles. The split variants run the chunked GEMM
//! (`mm_partial` or `mm_atomic`, a tiles x tiles x splits grid) and then one pass over C:
//! `mm_reduce` adds the partials in split order, `mm_finish` stores the atomically
//! accumulated words. Atomics are native `atomic<f32>` adds where the adapter has
//! SHADER_FLOAT32_ATOMIC and the accumulator is f32, and compare-exchange loops on the
//! accumulator's bits otherwise. `tensor_core` is Unsupported: wgpu exposes no
//! cooperative-matrix feature to WGSL.
//!
//! `addmm` compiles the same entry points with `BIAS`: the bias (binding 6, converted
//! exactly to the accumulator's words on the host) is added in the last pass of every
//! variant (`mm_tiled`, `mm_reduce`, `mm_finish`), after the K reduction.

use super::{MatmulJob, MmVariant, TILE};
use crate::backend::wgpu::{Pass, WgpuBackend};
use crate::backend::Backend;
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::common::AtomicKind;
use crate::ops::wgsl::specialise_family;
use crate::ops::RunSet;
use wgpu::Features as F;

/// The template, embedded once in [`crate::kernels::wgsl`].
pub const TEMPLATE: &str = crate::kernels::wgsl::MATMUL;
/// The template files of a module, after the prelude (`kernels/wgsl/<stem>.wgsl`).
const PARTS: &[&str] = &["matmul"];

/// Compare-exchange attempts per add before a CAS loop gives up (and the run fails).
pub const MAX_TRIES: u32 = 1 << 16;

/// Threads per workgroup of the 1-D passes.
const WG: usize = 256;

/// The uniform every entry point reads (mirrors `Params` in matmul.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    chunk: u32,
    splits: u32,
    out_len: u32,
    gx: u32,
    /// 1.0, opaque to the shader compiler (see `step` in matmul.wgsl).
    one: f32,
}

/// The specialised WGSL of one job.
pub fn module_source(b: &WgpuBackend, job: &MatmulJob) -> Result<String, OpError> {
    let c = if job.accumulator == Precision::F64 {
        "f64"
    } else {
        "f32"
    };
    let xw = match job.precision {
        Precision::F64 => "f64",
        Precision::F32 => "f32",
        Precision::F16 | Precision::Bf16 => "u32",
    };
    let ow = if job.precision == Precision::F64 {
        "f64"
    } else {
        "f32"
    };
    let header = format!(
        "// specialised by detbench: matmul {} in {}, {}\n\
         alias C = {c};\nalias XW = {xw};\nalias OW = {ow};\n\
         const WG: u32 = {WG}u;\nconst MAX_TRIES: u32 = {MAX_TRIES}u;\n",
        job.precision,
        job.accumulator,
        job.variant.name(),
    );
    let mut flags: Vec<&str> = vec![
        match job.precision {
            Precision::F64 => "IN_F64",
            Precision::F32 => "IN_F32",
            Precision::F16 => "IN_F16",
            Precision::Bf16 => "IN_BF16",
        },
        "ROUND_HALF",
        match job.precision {
            Precision::Bf16 => "HALF_BF16",
            _ => "HALF_F16",
        },
    ];
    if matches!(job.accumulator, Precision::F16 | Precision::Bf16) {
        flags.push("ACC_HALF");
    }
    flags.push(if job.accumulator == job.precision {
        "STORE_NONE"
    } else if job.precision == Precision::F32 {
        "STORE_F32"
    } else {
        "STORE_HALF"
    });
    if job.bias.is_some() {
        flags.push("BIAS");
    }
    match job.variant {
        MmVariant::Tiled => flags.push("V_TILED"),
        MmVariant::SplitKAtomic => {
            flags.push("V_ATOMIC");
            flags.push("ATOMIC_CELLS");
            flags.push(AtomicKind::of(b, job.accumulator).flag());
        }
        _ => flags.push("V_SPLIT"),
    }
    // common.wgsl's step and addc (the accumulator's GEMM arithmetic).
    flags.extend(["GEMM_STEP", "ADDC"]);
    specialise_family(&header, PARTS, &flags)
}

/// Feature and limit checks, before anything is compiled or allocated.
fn check_device(b: &WgpuBackend, job: &MatmulJob) -> Result<(), OpError> {
    if job.variant == MmVariant::TensorCore {
        return Err(OpError::Unsupported(format!(
            "tensor_core needs a cooperative-matrix feature (Vulkan VK_KHR_cooperative_matrix), which wgpu does not expose to WGSL as a Features flag; {} runs no tensor-core kernel through wgpu",
            b.info().name
        )));
    }
    if job.accumulator == Precision::F64 || job.precision == Precision::F64 {
        b.require(F::SHADER_F64, "f64 arithmetic")?;
    }
    if job.variant == MmVariant::SplitKAtomic
        && AtomicKind::of(b, job.accumulator) == AtomicKind::Cas64
    {
        b.require(
            F::SHADER_INT64 | F::SHADER_INT64_ATOMIC_ALL_OPS,
            "split_k_atomic with an f64 accumulator (compare-exchange on u64 words)",
        )?;
    }
    Ok(())
}

/// A 1-D grid of `groups` workgroups folded into 2-D under the per-dimension limit.
fn grid_1d(b: &WgpuBackend, groups: usize) -> Result<[u32; 3], OpError> {
    let max = b.limits().max_compute_workgroups_per_dimension as usize;
    let gx = groups.clamp(1, max);
    let gy = groups.div_ceil(gx);
    if gy > max {
        return Err(OpError::BadInput(format!(
            "{groups} workgroups exceed this device's grid ({max} x {max}) on {}",
            b.info().name
        )));
    }
    Ok([gx as u32, gy as u32, 1])
}

fn decode_out(job: &MatmulJob, bytes: &[u8], len: usize) -> Vec<f64> {
    let p = if job.precision == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    };
    let mut v = p.decode(bytes);
    v.truncate(len);
    v
}

/// The last pass's bind entries `e`, plus addmm's bias where there is one.
fn with_bias<'a>(
    mut e: Vec<(u32, &'a wgpu::Buffer)>,
    bias: Option<&'a wgpu::Buffer>,
) -> Vec<(u32, &'a wgpu::Buffer)> {
    if let Some(c) = bias {
        e.push((6, c));
    }
    e
}

/// Runs a matmul job `job.runs` times on a wgpu device.
pub fn run(b: &WgpuBackend, job: &MatmulJob) -> Result<RunSet, OpError> {
    super::check_job(job)?;
    check_device(b, job)?;
    let s = job.shape;
    let out_len = s.out_len();
    let splits = job.split.splits;
    let cbytes: u64 = if job.accumulator == Precision::F64 {
        8
    } else {
        4
    };
    let obytes: u64 = if job.precision == Precision::F64 {
        8
    } else {
        4
    };
    let shape = format!("{:?}", s.to_vec());
    b.check_storage(&shape, (job.a.len() * job.precision.bytes()) as u64)?;
    b.check_storage(&shape, (job.b.len() * job.precision.bytes()) as u64)?;
    b.check_storage(&shape, out_len as u64 * obytes)?;
    if job.variant != MmVariant::Tiled {
        b.check_storage(&shape, splits as u64 * out_len as u64 * cbytes)?;
    }
    let max_dim = b.limits().max_compute_workgroups_per_dimension as usize;
    let tiles = [s.m.div_ceil(TILE), s.n.div_ceil(TILE), splits];
    if tiles.iter().any(|&t| t > max_dim) {
        return Err(OpError::BadInput(format!(
            "matmul shape {shape} needs a {tiles:?} grid of tiles; this device allows {max_dim} per dimension"
        )));
    }
    let grid = grid_1d(b, out_len.div_ceil(WG))?;
    let params = Params {
        m: s.m as u32,
        n: s.n as u32,
        k: s.k as u32,
        chunk: job.split.chunk as u32,
        splits: splits as u32,
        out_len: out_len as u32,
        gx: grid[0],
        one: 1.0,
    };
    let src = module_source(b, job)?;
    let prm = b.uniform("matmul params", &params)?;
    let a = b.storage_from_bytes("a", &job.precision.encode(&job.a))?;
    let bb = b.storage_from_bytes("b", &job.precision.encode(&job.b))?;
    let out = b.storage_zeroed("out", out_len as u64 * obytes)?;
    // addmm's bias as accumulator words (exact: the accumulator is at least as wide, and a
    // half value in an f32 word is the f32 of equal value).
    let cprec = if job.accumulator == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    };
    let bias = match &job.bias {
        Some(c) => {
            b.check_storage(&shape, out_len as u64 * cbytes)?;
            Some(b.storage_from_bytes("bias", &cprec.encode(c))?)
        }
        None => None,
    };
    let with_bias = |e| with_bias(e, bias.as_ref());
    let mut set = RunSet {
        timer: b.timer().into(),
        ..Default::default()
    };
    let tile_grid = [tiles[0] as u32, tiles[1] as u32, tiles[2] as u32];
    match job.variant {
        MmVariant::Tiled => {
            let p = b.pipeline(&src, "mm_tiled")?;
            let bg = b.bind_group(
                &p,
                &with_bias(vec![(0, &prm), (1, &a), (2, &bb), (3, &out)]),
            )?;
            for _ in 0..job.runs {
                let r = b.execute(&[], &[Pass::new(&p, &bg, tile_grid)], &[&out])?;
                set.outputs.push(decode_out(job, &r.outputs[0], out_len));
                set.times_ms.push(r.ms);
            }
        }
        MmVariant::SplitKDeterministic | MmVariant::BatchInvariant => {
            let p1 = b.pipeline(&src, "mm_partial")?;
            let p2 = b.pipeline(&src, "mm_reduce")?;
            let partials = b.storage_zeroed("partials", splits as u64 * out_len as u64 * cbytes)?;
            let bg1 = b.bind_group(&p1, &[(0, &prm), (1, &a), (2, &bb), (4, &partials)])?;
            let bg2 = b.bind_group(&p2, &with_bias(vec![(0, &prm), (3, &out), (4, &partials)]))?;
            for _ in 0..job.runs {
                let r = b.execute(
                    &[],
                    &[Pass::new(&p1, &bg1, tile_grid), Pass::new(&p2, &bg2, grid)],
                    &[&out],
                )?;
                set.outputs.push(decode_out(job, &r.outputs[0], out_len));
                set.times_ms.push(r.ms);
            }
            set.message = format!(
                "{splits} splits of {} reduced in split order",
                job.split.chunk
            );
        }
        MmVariant::SplitKAtomic => {
            let kind = AtomicKind::of(b, job.accumulator);
            let p1 = b.pipeline(&src, "mm_atomic")?;
            let p2 = b.pipeline(&src, "mm_finish")?;
            let cells = b.storage_zeroed("cells", out_len as u64 * cbytes)?;
            let gave_up = b.storage_zeroed("gave_up", 4)?;
            let mut e1 = vec![(0, &prm), (1, &a), (2, &bb), (4, &cells)];
            if kind != AtomicKind::Native {
                e1.push((5, &gave_up));
            }
            let bg1 = b.bind_group(&p1, &e1)?;
            let bg2 = b.bind_group(&p2, &with_bias(vec![(0, &prm), (3, &out), (4, &cells)]))?;
            for _ in 0..job.runs {
                let r = b.execute(
                    &[&cells, &gave_up],
                    &[Pass::new(&p1, &bg1, tile_grid), Pass::new(&p2, &bg2, grid)],
                    &[&out, &gave_up],
                )?;
                let stuck = u32::from_le_bytes(r.outputs[1][..4].try_into().expect("4 bytes"));
                if stuck != 0 {
                    return Err(OpError::Failed(format!(
                        "mm_atomic: {stuck} compare-exchange loops gave up after {MAX_TRIES} failed tries"
                    )));
                }
                set.outputs.push(decode_out(job, &r.outputs[0], out_len));
                set.times_ms.push(r.ms);
            }
            set.message = match kind {
                AtomicKind::Native => format!("{splits} splits; native f32 atomicAdd"),
                AtomicKind::Cas32 => format!(
                    "{splits} splits; compare-exchange on u32 words (no native {} atomic add in WGSL{})",
                    job.accumulator,
                    if job.accumulator == Precision::F32 { " on this adapter" } else { "" }
                ),
                AtomicKind::Cas64 => {
                    format!("{splits} splits; compare-exchange on u64 words (WGSL has no f64 atomic add)")
                }
            };
        }
        MmVariant::TensorCore => {
            return Err(OpError::Unsupported(
                "tensor_core: no cooperative matrices in WGSL".into(),
            ))
        }
    }
    Ok(set)
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
            [m, n, k, chunk, splits, out_len, gx, one]
        );
    }
}
