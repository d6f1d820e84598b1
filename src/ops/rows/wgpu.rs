//! The row reductions on wgpu: `kernels/wgsl/rows.wgsl`, specialised per job. Passes:
//! (`row_max` for log_softmax), `row_partial` (one thread per row and chunk), `row_finish`
//! (one thread per row: partials in chunk order), (`lsm_out` for log_softmax). `atomic`:
//! `row_atomic` (one thread per row and chunk, the chain added into the row's cell: native
//! f32 atomicAdd where the adapter has it, else common.wgsl's compare-exchange loop with its
//! give-up counter) and `row_cells` (one thread per row: the cell stored).

use super::{RowsJob, RowsVariant};
use crate::backend::wgpu::{Pass, WgpuBackend};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::common::AtomicKind;
use crate::ops::wgsl::specialise_family;
use crate::ops::{Op, RunSet};
use wgpu::Features as F;

/// The template, embedded once in [`crate::kernels::wgsl`].
pub const TEMPLATE: &str = crate::kernels::wgsl::ROWS;
/// The template files of a module, after the prelude (`kernels/wgsl/<stem>.wgsl`).
const PARTS: &[&str] = &["rows"];

const WG: usize = 64;
/// Failed compare-exchange tries after which a thread gives up (the run then fails).
pub const MAX_TRIES: u32 = 1 << 16;

/// Mirrors `Params` in rows.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    len: u32,
    chunk: u32,
    splits: u32,
    gx: u32,
    /// To the uniform struct's 16-byte multiple.
    _pad: [u32; 3],
}

/// The specialised WGSL of one job.
pub(crate) fn module_source(job: &RowsJob, kind: AtomicKind) -> Result<String, OpError> {
    let c = if job.accumulator == Precision::F64 {
        "f64"
    } else {
        "f32"
    };
    let xw = match job.precision {
        Precision::F64 => "f64",
        Precision::F32 => "f32",
        _ => "u32",
    };
    let ow = if job.precision == Precision::F64 {
        "f64"
    } else {
        "f32"
    };
    let header = format!(
        "// specialised by detbench: {} {} in {}, {}\nalias C = {c};\nalias XW = {xw};\nalias OW = {ow};\nconst WG: u32 = {WG}u;\nconst MAX_TRIES: u32 = {MAX_TRIES}u;\n",
        job.op,
        job.precision,
        job.accumulator,
        job.variant.name()
    );
    let mut flags = vec![
        match job.precision {
            Precision::F64 => "IN_F64",
            Precision::F32 => "IN_F32",
            Precision::F16 => "IN_F16",
            Precision::Bf16 => "IN_BF16",
        },
        "ROUND_HALF",
        if job.precision == Precision::Bf16 {
            "HALF_BF16"
        } else {
            "HALF_F16"
        },
        match job.op {
            Op::RowSum => "OP_SUM",
            Op::Mean => "OP_MEAN",
            _ => "OP_LSM",
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
    if job.variant == RowsVariant::Atomic {
        flags.extend(["ATOMIC", "ATOMIC_CELLS", kind.flag()]);
    }
    // common.wgsl's addc (the accumulator's add).
    flags.push("ADDC");
    specialise_family(&header, PARTS, &flags)
}

fn grid_1d(b: &WgpuBackend, threads: usize) -> Result<[u32; 3], OpError> {
    let groups = threads.div_ceil(WG);
    let max = b.limits().max_compute_workgroups_per_dimension as usize;
    let gx = groups.clamp(1, max);
    let gy = groups.div_ceil(gx);
    if gy > max {
        return Err(OpError::BadInput(format!(
            "{groups} workgroups exceed this device's grid ({max} x {max})"
        )));
    }
    Ok([gx as u32, gy as u32, 1])
}

/// Runs a row-reduction job `job.runs` times on a wgpu device.
pub fn run(b: &WgpuBackend, job: &RowsJob) -> Result<RunSet, OpError> {
    super::check_job(job)?;
    if job.op == Op::LogSoftmax && job.accumulator == Precision::F64 {
        return Err(OpError::Unsupported(
            "log_softmax with an f64 accumulator: WGSL has no f64 exp or log".into(),
        ));
    }
    if job.accumulator == Precision::F64 || job.precision == Precision::F64 {
        b.require(F::SHADER_F64, "f64 arithmetic")?;
    }
    let kind = AtomicKind::of(b, job.accumulator);
    if job.variant == RowsVariant::Atomic && kind == AtomicKind::Cas64 {
        b.require(
            F::SHADER_INT64 | F::SHADER_INT64_ATOMIC_ALL_OPS,
            "atomic with an f64 accumulator (compare-exchange on u64 words)",
        )?;
    }
    let out_len = job.out_len();
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
    let shape = format!("[{}, {}]", job.rows, job.len);
    b.check_storage(&shape, (job.x.len() * job.precision.bytes()) as u64)?;
    b.check_storage(&shape, out_len as u64 * obytes)?;
    let splits = job.split.splits;
    let g_rows = grid_1d(b, job.rows)?;
    let g_parts = grid_1d(b, job.rows * splits)?;
    let g_elems = grid_1d(b, job.rows * job.len)?;
    let params = |g: [u32; 3]| Params {
        rows: job.rows as u32,
        len: job.len as u32,
        chunk: job.split.chunk as u32,
        splits: splits as u32,
        gx: g[0],
        _pad: [0; 3],
    };
    let src = module_source(job, kind)?;
    let x = b.storage_from_bytes("x", &job.precision.encode(&job.x))?;
    let out = b.storage_zeroed("out", out_len as u64 * obytes)?;
    let partials = b.storage_zeroed("partials", (job.rows * splits) as u64 * cbytes)?;
    let cfmt = if job.accumulator == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    };
    let mut rb = vec![0.0; 2 * job.rows];
    rb[0] = job.inv_len();
    let rowbuf = b.storage_from_bytes("rowbuf", &cfmt.encode(&rb))?;
    let prm_rows = b.uniform("rows params", &params(g_rows))?;
    let prm_parts = b.uniform("rows params", &params(g_parts))?;
    let prm_elems = b.uniform("rows params", &params(g_elems))?;
    if job.variant == RowsVariant::Atomic {
        return run_atomic(
            b,
            job,
            &src,
            kind,
            (&x, &out, &rowbuf),
            (&prm_parts, g_parts),
            (&prm_rows, g_rows),
        );
    }
    let all = |prm| vec![(0, prm), (1, &x), (2, &out), (3, &partials), (6, &rowbuf)];
    let mut pipes = Vec::new();
    if job.op == Op::LogSoftmax {
        pipes.push(("row_max", &prm_rows, g_rows));
    }
    pipes.push(("row_partial", &prm_parts, g_parts));
    pipes.push(("row_finish", &prm_rows, g_rows));
    if job.op == Op::LogSoftmax {
        pipes.push(("lsm_out", &prm_elems, g_elems));
    }
    let mut built = Vec::new();
    for (entry, prm, g) in &pipes {
        let p = b.pipeline(&src, entry)?;
        // Each entry point binds only what it uses.
        let used: Vec<_> = all(*prm)
            .into_iter()
            .filter(|(i, _)| match *entry {
                "row_max" => [0, 1, 6].contains(i),
                "row_partial" => [0, 1, 3].contains(i) || (job.op == Op::LogSoftmax && *i == 6),
                "row_finish" => {
                    [0, 3].contains(i)
                        || (job.op != Op::LogSoftmax && *i == 2)
                        || (job.op != Op::RowSum && *i == 6)
                }
                _ => [0, 1, 2, 6].contains(i),
            })
            .collect();
        let bg = b.bind_group(&p, &used)?;
        built.push((p, bg, *g));
    }
    let mut set = RunSet {
        timer: b.timer().into(),
        ..Default::default()
    };
    for _ in 0..job.runs {
        let passes: Vec<Pass> = built
            .iter()
            .map(|(p, bg, g)| Pass::new(p, bg, *g))
            .collect();
        let r = b.execute(&[], &passes, &[&out])?;
        let mut v = if job.precision == Precision::F64 {
            Precision::F64.decode(&r.outputs[0])
        } else {
            Precision::F32.decode(&r.outputs[0])
        };
        v.truncate(out_len);
        set.outputs.push(v);
        set.times_ms.push(r.ms);
    }
    set.message = format!("{splits} chunks of {} per row", job.split.chunk);
    Ok(set)
}

/// `atomic`: the chains added into zeroed row cells (`row_atomic`), then stored
/// (`row_cells`); a run whose compare-exchange loops gave up fails.
#[allow(clippy::type_complexity)]
fn run_atomic(
    b: &WgpuBackend,
    job: &RowsJob,
    src: &str,
    kind: AtomicKind,
    (x, out, rowbuf): (&wgpu::Buffer, &wgpu::Buffer, &wgpu::Buffer),
    (prm_parts, g_parts): (&wgpu::Buffer, [u32; 3]),
    (prm_rows, g_rows): (&wgpu::Buffer, [u32; 3]),
) -> Result<RunSet, OpError> {
    let cbytes: u64 = if kind == AtomicKind::Cas64 { 8 } else { 4 };
    let cells = b.storage_zeroed("cells", job.rows as u64 * cbytes)?;
    let gave_up = b.storage_zeroed("gave_up", 4)?;
    let p1 = b.pipeline(src, "row_atomic")?;
    let p2 = b.pipeline(src, "row_cells")?;
    let mut e1 = vec![(0, prm_parts), (1, x), (4, &cells)];
    if kind != AtomicKind::Native {
        e1.push((5, &gave_up));
    }
    let bg1 = b.bind_group(&p1, &e1)?;
    let mut e2 = vec![(0, prm_rows), (2, out), (4, &cells)];
    if job.op == Op::Mean {
        e2.push((6, rowbuf));
    }
    let bg2 = b.bind_group(&p2, &e2)?;
    let mut set = RunSet {
        timer: b.timer().into(),
        ..Default::default()
    };
    for _ in 0..job.runs {
        let r = b.execute(
            &[&cells, &gave_up],
            &[Pass::new(&p1, &bg1, g_parts), Pass::new(&p2, &bg2, g_rows)],
            &[out, &gave_up],
        )?;
        let stuck = u32::from_le_bytes(r.outputs[1][..4].try_into().expect("4 bytes"));
        if stuck != 0 {
            return Err(OpError::Failed(format!(
                "row_atomic: {stuck} compare-exchange loops gave up after {MAX_TRIES} failed tries"
            )));
        }
        let mut v = if job.precision == Precision::F64 {
            Precision::F64.decode(&r.outputs[0])
        } else {
            Precision::F32.decode(&r.outputs[0])
        };
        v.truncate(job.rows);
        set.outputs.push(v);
        set.times_ms.push(r.ms);
    }
    let how = match kind {
        AtomicKind::Native => "native f32 atomicAdd".to_string(),
        AtomicKind::Cas32 => format!(
            "compare-exchange on u32 words (no native {} atomic add)",
            job.accumulator
        ),
        AtomicKind::Cas64 => {
            "compare-exchange on u64 words (WGSL has no f64 atomic add)".to_string()
        }
    };
    set.message = format!(
        "{} chunks of {} per row added atomically; {how}",
        job.split.splits, job.split.chunk
    );
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_wgsl_struct() {
        crate::assert_wgsl_layout!(Params, TEMPLATE, "Params", [rows, len, chunk, splits, gx]);
    }
}
