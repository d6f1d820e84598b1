//! The row reductions on CUDA (`kernels/cuda/rows.cu`): the passes of the wgpu version
//! (`rows_max` for log_softmax, `rows_partial_*` one thread per row and chunk,
//! `rows_finish_*` one thread per row adding the partials in chunk order, `rows_lsm_out`
//! for log_softmax), so row_sum and mean give the CPU emulation's bits. tests/it/batch_rows.rs
//! runs them on the host emulation of `kernels/cuda/emu`. `atomic` launches
//! `rows_atomic_{ordering}` (one thread per row and chunk, the chain added into the row's
//! zeroed cell: native atom.add for f32/f64, compare-and-swap for halves; sm_70+) and
//! `rows_cells_*` (one thread per row: the cell stored).

use super::{RowsJob, RowsVariant};
use crate::backend::cuda::{
    precision_pairs, ComputeCapability, CudaBackend, CudaTarget, LaunchConfig, ModuleBuild,
    ModuleSpec,
};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::common::{cuda_ordering_suffix, cuda_ordering_suffixes, pair_suffix};
use crate::ops::{Op, RunSet};

/// Kernel source of this family.
pub const SOURCE: &str = "kernels/cuda/rows.cu";

/// Threads per block of every pass.
pub const BLOCK: u32 = 256;

/// Every entry point of a module, without the pair suffix.
pub const ENTRIES: &[&str] = &[
    "rows_max",
    "rows_partial_sum",
    "rows_partial_exp",
    "rows_finish_sum",
    "rows_finish_mean",
    "rows_finish_lsm",
    "rows_lsm_out",
    "rows_cells_sum",
    "rows_cells_mean",
];

fn module_spec(
    target: &impl ComputeCapability,
    precision: Precision,
    acc: Precision,
) -> ModuleSpec {
    // common.cuh's GEMM arithmetic: the rounded add, multiply and store of GemmArith.
    crate::ops::common::cuda_gemm_module(target, SOURCE, precision, acc, false)
}

/// Every module this family builds for `target` and the entry points [`run`] looks up in it.
pub fn modules(target: &CudaTarget) -> Vec<ModuleBuild> {
    let atomics = target.compute_capability().0 >= 7;
    precision_pairs()
        .into_iter()
        .map(|(p, acc)| {
            let mut e: Vec<String> = ENTRIES.iter().map(|e| e.to_string()).collect();
            if atomics {
                e.extend(
                    cuda_ordering_suffixes()
                        .iter()
                        .map(|o| format!("rows_atomic_{o}")),
                );
            }
            ModuleBuild {
                spec: module_spec(target, p, acc),
                entries: e
                    .into_iter()
                    .map(|e| format!("{e}_{}", pair_suffix(p, acc)))
                    .collect(),
            }
        })
        .collect()
}

/// Why a job cannot run on a device of compute capability `cc`, if it cannot.
pub fn unsupported(job: &RowsJob, cc: (i32, i32)) -> Option<String> {
    (job.variant == RowsVariant::Atomic && cc.0 < 7).then(|| {
        format!(
            "atomic uses scoped PTX atomics (.relaxed/.acq_rel), which need sm_70 or newer; this device is sm_{}{}",
            cc.0, cc.1
        )
    })
}

/// One launch of a pass: its entry point (without suffix), the number of threads, and its
/// buffer arguments by role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pass {
    pub entry: String,
    pub threads: usize,
    pub args: &'static [Arg],
}

/// The buffers a pass takes after the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    X,
    RowBuf,
    Partials,
    Out,
}

/// The launch sequence of a job, in order (shared with the emulator test).
pub fn passes(job: &RowsJob) -> Vec<Pass> {
    use Arg::*;
    let (rows, chunks) = (job.rows, job.rows * job.split.splits);
    let mut v = Vec::new();
    let lsm = job.op == Op::LogSoftmax;
    if lsm {
        v.push(Pass {
            entry: "rows_max".into(),
            threads: rows,
            args: &[X, RowBuf],
        });
    }
    // `atomic` (row_sum, mean): the chains added into the row cells, which live in the
    // partials buffer (B x splits >= B words, zeroed per run), then the cells stored.
    let atomic = job.variant == RowsVariant::Atomic;
    v.push(Pass {
        entry: match (atomic, lsm) {
            (true, _) => format!("rows_atomic_{}", cuda_ordering_suffix(job.ordering)),
            (false, true) => "rows_partial_exp".into(),
            (false, false) => "rows_partial_sum".into(),
        },
        threads: chunks,
        args: &[X, RowBuf, Partials],
    });
    v.push(Pass {
        entry: match (atomic, job.op) {
            (true, Op::Mean) => "rows_cells_mean",
            (true, _) => "rows_cells_sum",
            (false, Op::RowSum) => "rows_finish_sum",
            (false, Op::Mean) => "rows_finish_mean",
            _ => "rows_finish_lsm",
        }
        .into(),
        threads: rows,
        args: &[Partials, RowBuf, Out],
    });
    if lsm {
        v.push(Pass {
            entry: "rows_lsm_out".into(),
            threads: job.rows * job.len,
            args: &[X, RowBuf, Out],
        });
    }
    v
}

/// The 4 parameters the kernels read: B, N, chunk, splits.
pub fn params(job: &RowsJob) -> [u32; 4] {
    [
        job.rows as u32,
        job.len as u32,
        job.split.chunk as u32,
        job.split.splits as u32,
    ]
}

/// The initial row buffer: [1/N rounded to the accumulator] for mean, 2 values per row
/// (max, log of the sum) for log_softmax, as accumulator words.
pub fn rowbuf(job: &RowsJob) -> Vec<u8> {
    let vf = if job.accumulator == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    };
    match job.op {
        Op::Mean => vf.encode(&[job.inv_len()]),
        Op::LogSoftmax => vec![0u8; 2 * job.rows * vf.bytes()],
        _ => vec![0u8; vf.bytes()],
    }
}

/// Runs a row-reduction job `job.runs` times on one GPU.
pub fn run(backend: &CudaBackend, job: &RowsJob) -> Result<RunSet, OpError> {
    super::check_job(job)?;
    let dev = backend.device();
    if let Some(why) = unsupported(job, dev.compute_capability()) {
        return Err(OpError::Unsupported(why));
    }
    let vbytes = if job.accumulator == Precision::F64 {
        8
    } else {
        4
    };
    let spec = module_spec(dev, job.precision, job.accumulator);
    let module = crate::ops::common::cuda_declared(modules(&dev.target()), &spec)?;
    let suffix = pair_suffix(job.precision, job.accumulator);
    let prm = dev.upload(bytemuck::cast_slice(&params(job)))?;
    let x = dev
        .upload(&job.precision.encode(&job.x))
        .map_err(|e| OpError::BadInput(format!("x: {e}")))?;
    let mut rb = dev.upload(&rowbuf(job))?;
    let mut partials = dev
        .zeros(job.rows * job.split.splits * vbytes)
        .map_err(|e| OpError::BadInput(format!("partials: {e}")))?;
    let mut out = dev
        .zeros(job.out_len() * job.precision.bytes())
        .map_err(|e| OpError::BadInput(format!("output: {e}")))?;
    let passes = passes(job);
    let kernels = passes
        .iter()
        .map(|p| dev.function(&module, &format!("{}_{suffix}", p.entry)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut set = RunSet {
        timer: dev.timer().into(),
        ..Default::default()
    };
    for _ in 0..job.runs {
        if job.variant == RowsVariant::Atomic {
            // The atomic cells start at +0 every run, outside the timed span.
            dev.zero(&mut partials)?;
        }
        let ms = dev.timed(|st| {
            for (p, k) in passes.iter().zip(&kernels) {
                let mut l = st.launch_builder(k);
                l.arg(&prm);
                // The argument lists of `passes`, each buffer borrowed once per launch.
                match p.args {
                    [Arg::X, Arg::RowBuf] => l.arg(&x).arg(&mut rb),
                    [Arg::X, Arg::RowBuf, Arg::Partials] => l.arg(&x).arg(&rb).arg(&mut partials),
                    [Arg::Partials, Arg::RowBuf, Arg::Out] => {
                        l.arg(&partials).arg(&mut rb).arg(&mut out)
                    }
                    [Arg::X, Arg::RowBuf, Arg::Out] => l.arg(&x).arg(&rb).arg(&mut out),
                    other => {
                        return Err(OpError::Failed(format!(
                            "rows: no launch for the arguments {other:?}"
                        )))
                    }
                };
                let cfg = LaunchConfig {
                    grid_dim: ((p.threads as u32).div_ceil(BLOCK), 1, 1),
                    block_dim: (BLOCK, 1, 1),
                    shared_mem_bytes: 0,
                };
                // SAFETY: each pass takes (const u32* P, then the buffers of `p.args` in its
                // signature's order: rows.cu); P holds B, N, chunk and splits, x the
                // B x N inputs, rowbuf 2 B accumulator values (1 for mean), partials B x
                // splits, out the job's outputs; every thread checks its row, (row, chunk)
                // or element index against P before touching them.
                unsafe { l.launch(cfg) }?;
            }
            Ok(())
        })?;
        set.outputs.push(job.precision.decode(&dev.read(&out)?));
        set.times_ms.push(ms);
    }
    set.message = if job.variant == RowsVariant::Atomic {
        format!(
            "{} splits of {} added atomically ({})",
            job.split.splits,
            job.split.chunk,
            if matches!(job.accumulator, Precision::F32 | Precision::F64) {
                "native atom.add"
            } else {
                "compare-and-swap loops rounding to the half format, on f32 words"
            }
        )
    } else {
        format!(
            "{} splits of {} reduced in split order",
            job.split.splits, job.split.chunk
        )
    };
    Ok(set)
}
