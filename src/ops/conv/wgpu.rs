//! The convolution family on wgpu: `kernels/wgsl/conv.wgsl`, specialised per job.
//!
//! `direct` and `tiled` are one pass each. bwd_weight runs the chunked implicit GEMM
//! (`bwdw_partial` or `bwdw_atomic`, a 16 x 16 x chunks grid) and then one pass over the
//! weight gradient: `bwdw_reduce` adds the partials in chunk order, `bwdw_finish` stores the
//! atomically accumulated words. Atomics are native `atomic<f32>` adds where the adapter has
//! SHADER_FLOAT32_ATOMIC and the accumulator is f32, and compare-exchange loops on the
//! accumulator's bits otherwise (u32 words for f32 and halves, u64 words for f64).
//! `tensor_core` is Unsupported: wgpu 30 exposes no cooperative-matrix feature to WGSL.

use super::{gemm_dims, ConvJob, ConvVariant};
use crate::backend::wgpu::{Pass, WgpuBackend};
use crate::backend::Backend;
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::common::AtomicKind;
use crate::ops::wgsl::specialise_family;
use crate::ops::{Op, RunSet};
use wgpu::Features as F;

/// The template, embedded once in [`crate::kernels::wgsl`] and hashed from there; modules are
/// [`crate::kernels::WGSL_PRELUDE`] and this, specialised together.
pub const TEMPLATE: &str = crate::kernels::wgsl::CONV;
/// The template files of a module, after the prelude (`kernels/wgsl/<stem>.wgsl`).
const PARTS: &[&str] = &["conv"];

/// Compare-exchange attempts per add before a CAS loop gives up (and the run fails).
pub const MAX_TRIES: u32 = 1 << 16;

/// The uniform every conv entry point reads (mirrors `Params` in conv.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    k: u32,
    r: u32,
    s: u32,
    stride: u32,
    pad: u32,
    dil: u32,
    p: u32,
    q: u32,
    chunk: u32,
    npq: u32,
    out_len: u32,
    gx: u32,
    gm: u32,
    gn: u32,
    gk: u32,
    chunks: u32,
    /// 1.0, opaque to the shader compiler (see `step` in conv.wgsl).
    one: f32,
    _pad: [u32; 3],
}

/// The specialised WGSL of one job.
pub fn module_source(b: &WgpuBackend, job: &ConvJob) -> Result<String, OpError> {
    let f64_acc = job.accumulator == Precision::F64;
    let c = if f64_acc { "f64" } else { "f32" };
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
    let wg = if job.variant == ConvVariant::Direct {
        job.launch.workgroup_size
    } else {
        256
    };
    let header = format!(
        "// specialised by detbench: {} {} in {}, {}\n\
         alias C = {c};\nalias XW = {xw};\nalias OW = {ow};\n\
         const WG: u32 = {wg}u;\nconst MAX_TRIES: u32 = {MAX_TRIES}u;\n",
        job.op,
        job.precision,
        job.accumulator,
        job.variant.name(),
    );
    let mut flags: Vec<&str> = vec![match job.precision {
        Precision::F64 => "IN_F64",
        Precision::F32 => "IN_F32",
        Precision::F16 => "IN_F16",
        Precision::Bf16 => "IN_BF16",
    }];
    // The half format in play (the output's; a half accumulator has the same format), for
    // common.wgsl's round_half.
    flags.push("ROUND_HALF");
    flags.push(match job.precision {
        Precision::Bf16 => "HALF_BF16",
        _ => "HALF_F16",
    });
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
    flags.push(match job.op {
        Op::Conv2dBwdData => "OP_BWDD",
        Op::Conv2dBwdWeight => "OP_BWDW",
        _ => "OP_FWD",
    });
    flags.push(match job.variant {
        ConvVariant::Direct => "V_DIRECT",
        ConvVariant::Tiled => "V_TILED",
        ConvVariant::Deterministic => "V_DET",
        _ => "V_ATOMIC",
    });
    if job.variant == ConvVariant::Atomic {
        flags.push("ATOMIC_CELLS");
        flags.push(AtomicKind::of(b, job.accumulator).flag());
    }
    // common.wgsl's step and addc (the accumulator's GEMM arithmetic).
    flags.extend(["GEMM_STEP", "ADDC"]);
    specialise_family(&header, PARTS, &flags)
}

/// Feature and limit checks, before anything is compiled or allocated.
fn check_device(b: &WgpuBackend, job: &ConvJob) -> Result<(), OpError> {
    if job.variant == ConvVariant::TensorCore {
        return Err(OpError::Unsupported(format!(
            "tensor_core needs a cooperative-matrix feature (Vulkan VK_KHR_cooperative_matrix), which wgpu 30 does not expose to WGSL as a Features flag; {} runs no tensor-core kernel through wgpu",
            b.info().name
        )));
    }
    if job.accumulator == Precision::F64 || job.precision == Precision::F64 {
        b.require(F::SHADER_F64, "f64 arithmetic")?;
    }
    if job.variant == ConvVariant::Atomic && AtomicKind::of(b, job.accumulator) == AtomicKind::Cas64
    {
        b.require(
            F::SHADER_INT64 | F::SHADER_INT64_ATOMIC_ALL_OPS,
            "atomic with an f64 accumulator (compare-exchange on u64 words)",
        )?;
    }
    let lim = b.limits();
    let wg = job.launch.workgroup_size;
    if wg > lim.max_compute_invocations_per_workgroup || wg > lim.max_compute_workgroup_size_x {
        return Err(OpError::Unsupported(format!(
            "workgroup size {wg} exceeds this device's limit ({} invocations, {} in x)",
            lim.max_compute_invocations_per_workgroup, lim.max_compute_workgroup_size_x
        )));
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

/// Reads an output buffer: f64 words for f64 data, f32 words otherwise (halves included).
fn decode_out(job: &ConvJob, bytes: &[u8], len: usize) -> Vec<f64> {
    let p = if job.precision == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    };
    let mut v = p.decode(bytes);
    v.truncate(len);
    v
}

/// Bytes of one accumulator value and of one output value on the device.
fn value_bytes(job: &ConvJob) -> (u64, u64) {
    let wide = |p: Precision| if p == Precision::F64 { 8 } else { 4 };
    (wide(job.accumulator), wide(job.precision))
}

/// Checks that every buffer fits the binding limit and the tile grid the device's grid,
/// before any buffer is made; returns the tile grid (M tiles, N tiles, chunks).
fn check_sizes(b: &WgpuBackend, job: &ConvJob) -> Result<[usize; 3], OpError> {
    let s = &job.shape;
    let out_len = s.out_len(job.op);
    let (gm, gn) = gemm_dims(job.op, s);
    let chunks = job.chunks();
    let (cbytes, obytes) = value_bytes(job);
    let shape = format!("{:?}", s.to_vec());
    b.check_storage(&shape, (job.a.len() * job.precision.bytes()) as u64)?;
    b.check_storage(&shape, (job.b.len() * job.precision.bytes()) as u64)?;
    b.check_storage(&shape, out_len as u64 * obytes)?;
    if job.variant == ConvVariant::Deterministic {
        b.check_storage(&shape, chunks as u64 * out_len as u64 * cbytes)?;
    }
    let max_dim = b.limits().max_compute_workgroups_per_dimension as usize;
    let tiles = [gm.div_ceil(16), gn.div_ceil(16), chunks];
    if job.variant != ConvVariant::Direct && tiles.iter().any(|&t| t > max_dim) {
        return Err(OpError::BadInput(format!(
            "conv shape {shape} needs a {tiles:?} grid of tiles; this device allows {max_dim} per dimension"
        )));
    }
    Ok(tiles)
}

/// The uniform of a job whose element-wise kernels run on `grid`.
fn params(job: &ConvJob, grid: [u32; 3]) -> Params {
    let s = &job.shape;
    let (gm, gn) = gemm_dims(job.op, s);
    Params {
        n: s.n as u32,
        c: s.c as u32,
        h: s.h as u32,
        w: s.w as u32,
        k: s.k as u32,
        r: s.r as u32,
        s: s.s as u32,
        stride: s.stride as u32,
        pad: s.pad as u32,
        dil: s.dil as u32,
        p: s.p as u32,
        q: s.q as u32,
        chunk: job.chunk as u32,
        npq: (s.n * s.p * s.q) as u32,
        out_len: s.out_len(job.op) as u32,
        gx: grid[0],
        gm: gm as u32,
        gn: gn as u32,
        gk: s.reduction_len(job.op) as u32,
        chunks: job.chunks() as u32,
        one: 1.0,
        _pad: [0; 3],
    }
}

/// What every variant's kernels bind: the module, the uniform, the operands and the output,
/// and the two grids (one thread per output element; one workgroup per tile and chunk).
struct Bound<'a> {
    b: &'a WgpuBackend,
    job: &'a ConvJob,
    src: String,
    prm: wgpu::Buffer,
    a: wgpu::Buffer,
    bb: wgpu::Buffer,
    out: wgpu::Buffer,
    out_len: usize,
    grid: [u32; 3],
    tile_grid: [u32; 3],
}

/// Runs a conv job `job.runs` times on a wgpu device.
pub fn run(b: &WgpuBackend, job: &ConvJob) -> Result<RunSet, OpError> {
    super::check_job(job)?;
    check_device(b, job)?;
    let tiles = check_sizes(b, job)?;
    let out_len = job.shape.out_len(job.op);
    let direct_wg = if job.variant == ConvVariant::Direct {
        job.launch.workgroup_size as usize
    } else {
        256
    };
    let grid = grid_1d(b, out_len.div_ceil(direct_wg))?;
    let (_, obytes) = value_bytes(job);
    let k = Bound {
        b,
        job,
        src: module_source(b, job)?,
        prm: b.uniform("conv params", &params(job, grid))?,
        a: b.storage_from_bytes("a", &job.precision.encode(&job.a))?,
        bb: b.storage_from_bytes("b", &job.precision.encode(&job.b))?,
        out: b.storage_zeroed("out", out_len as u64 * obytes)?,
        out_len,
        grid,
        tile_grid: [tiles[0] as u32, tiles[1] as u32, tiles[2] as u32],
    };
    let mut set = RunSet {
        timer: b.timer().into(),
        ..Default::default()
    };
    match job.variant {
        ConvVariant::Direct | ConvVariant::Tiled => run_single(&k, &mut set)?,
        ConvVariant::Deterministic => run_deterministic(&k, &mut set)?,
        ConvVariant::Atomic => run_atomic(&k, &mut set)?,
        ConvVariant::TensorCore => {
            return Err(OpError::Unsupported(
                "tensor_core: no cooperative matrices in WGSL".into(),
            ))
        }
    }
    Ok(set)
}

/// direct and tiled: one kernel writes every output element.
fn run_single(k: &Bound, set: &mut RunSet) -> Result<(), OpError> {
    let (b, job) = (k.b, k.job);
    let (entry, g) = match (job.variant, job.op) {
        (ConvVariant::Direct, Op::Conv2dBwdData) => ("bwdd_direct", k.grid),
        (ConvVariant::Direct, _) => ("fwd_direct", k.grid),
        _ => ("tiled", k.tile_grid),
    };
    let p = b.pipeline(&k.src, entry)?;
    let bg = b.bind_group(&p, &[(0, &k.prm), (1, &k.a), (2, &k.bb), (3, &k.out)])?;
    for _ in 0..job.runs {
        let r = b.execute(&[], &[Pass::new(&p, &bg, g)], &[&k.out])?;
        set.outputs.push(decode_out(job, &r.outputs[0], k.out_len));
        set.times_ms.push(r.ms);
    }
    Ok(())
}

/// deterministic bwd_weight: chunk partials, then a reduction in chunk order.
fn run_deterministic(k: &Bound, set: &mut RunSet) -> Result<(), OpError> {
    let (b, job) = (k.b, k.job);
    let chunks = job.chunks();
    let (cbytes, _) = value_bytes(job);
    let p1 = b.pipeline(&k.src, "bwdw_partial")?;
    let p2 = b.pipeline(&k.src, "bwdw_reduce")?;
    let partials = b.storage_zeroed("partials", chunks as u64 * k.out_len as u64 * cbytes)?;
    let bg1 = b.bind_group(&p1, &[(0, &k.prm), (1, &k.a), (2, &k.bb), (4, &partials)])?;
    let bg2 = b.bind_group(&p2, &[(0, &k.prm), (3, &k.out), (4, &partials)])?;
    for _ in 0..job.runs {
        let r = b.execute(
            &[],
            &[
                Pass::new(&p1, &bg1, k.tile_grid),
                Pass::new(&p2, &bg2, k.grid),
            ],
            &[&k.out],
        )?;
        set.outputs.push(decode_out(job, &r.outputs[0], k.out_len));
        set.times_ms.push(r.ms);
    }
    set.message = format!("{chunks} chunks of {} reduced in chunk order", job.chunk);
    Ok(())
}

/// atomic bwd_weight: chunk partials added into the cells with atomics, then converted.
fn run_atomic(k: &Bound, set: &mut RunSet) -> Result<(), OpError> {
    let (b, job) = (k.b, k.job);
    let chunks = job.chunks();
    let (cbytes, _) = value_bytes(job);
    let kind = AtomicKind::of(b, job.accumulator);
    let p1 = b.pipeline(&k.src, "bwdw_atomic")?;
    let p2 = b.pipeline(&k.src, "bwdw_finish")?;
    let cells = b.storage_zeroed("cells", k.out_len as u64 * cbytes)?;
    let gave_up = b.storage_zeroed("gave_up", 4)?;
    let mut e1 = vec![(0, &k.prm), (1, &k.a), (2, &k.bb), (4, &cells)];
    if kind != AtomicKind::Native {
        e1.push((5, &gave_up));
    }
    let bg1 = b.bind_group(&p1, &e1)?;
    let bg2 = b.bind_group(&p2, &[(0, &k.prm), (3, &k.out), (4, &cells)])?;
    for _ in 0..job.runs {
        let r = b.execute(
            &[&cells, &gave_up],
            &[
                Pass::new(&p1, &bg1, k.tile_grid),
                Pass::new(&p2, &bg2, k.grid),
            ],
            &[&k.out, &gave_up],
        )?;
        let stuck = u32::from_le_bytes(r.outputs[1][..4].try_into().expect("4 bytes"));
        if stuck != 0 {
            return Err(OpError::Failed(format!(
                "bwdw_atomic: {stuck} compare-exchange loops gave up after {MAX_TRIES} failed tries"
            )));
        }
        set.outputs.push(decode_out(job, &r.outputs[0], k.out_len));
        set.times_ms.push(r.ms);
    }
    set.message = match kind {
        AtomicKind::Native => format!("{chunks} chunks; native f32 atomicAdd"),
        AtomicKind::Cas32 => format!(
            "{chunks} chunks; compare-exchange on u32 words (no native {} atomic add in WGSL{})",
            job.accumulator,
            if job.accumulator == Precision::F32 {
                " on this adapter"
            } else {
                ""
            }
        ),
        AtomicKind::Cas64 => {
            format!("{chunks} chunks; compare-exchange on u64 words (WGSL has no f64 atomic add)")
        }
    };
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
            [
                n, c, h, w, k, r, s, stride, pad, dil, p, q, chunk, npq, out_len, gx, gm, gn, gk,
                chunks, one
            ]
        );
    }
}
