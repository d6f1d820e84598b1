//! kernels/cuda/conv.cu run on the host emulation of CUDA (tests/cuda_emu): every module the
//! backend builds for sm_90 (all nine input/accumulator pairs), the three ops, launched as
//! src/ops/conv/cuda.rs launches them.
//!
//! - direct, tiled (64 x 64 shared-memory tiles) and deterministic (chunked bwd_weight)
//!   must give the CPU emulation's bits;
//! - atomic, under each of the six PTX orderings, must stay within the a-priori bound;
//! - tensor_core (f16/bf16 with an f32 accumulator; mma.m16n8k16 emulated per warp from the
//!   PTX ISA's fragment layouts) is fed small integers, so every sum is exact whatever the
//!   tensor core's internal order, and must give the bits of the CPU emulation of the same
//!   integer job. This checks the tiling, the fragment layouts, the loaders, the
//!   double-buffered shared memory and the output indexing; the rounding inside real
//!   tensor cores needs a GPU.

mod common;
mod cuda_emu;

use cuda_emu::Module;
use detbench::backend::BackendKind;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::conv::{gemm_dims, ConvJob, ConvParams, ConvVariant, TC_TILE_M, TC_TILE_N};
use detbench::ops::{Case, FamilyParams, Job, Op, Prepared, RunSet};

const SOURCE: &str = "kernels/cuda/conv.cu";
/// cuda.rs's BM: the CUDA-core GEMM tile edge.
const BM: usize = 64;

fn case(op: Op, input: Precision, acc: Precision, variant: &str, shape: &[usize]) -> Case {
    Case {
        op,
        precision: input,
        accumulator: acc,
        variant: variant.into(),
        size: 0,
        input: InputSpec::Normal,
        seed: 9,
        runs: 1,
        workgroup_size: 64,
        params: FamilyParams::new(ConvParams {
            shape: shape.to_vec(),
        }),
    }
}

fn conv_job(prep: &Prepared) -> &ConvJob {
    match &prep.job {
        Job::Conv(j) => j,
        _ => unreachable!(),
    }
}

/// One run, launched as cuda.rs's `run` launches it (`ord` for atomic).
fn run(m: &Module, j: &ConvJob, ord: &str) -> Vec<f64> {
    let s = &j.shape;
    let out_len = s.out_len(j.op);
    let (gm, gn) = gemm_dims(j.op, s);
    let chunks = j.chunks();
    let tc = j.variant == ConvVariant::TensorCore;
    let (tm, tn) = if tc { (TC_TILE_M, TC_TILE_N) } else { (BM, BM) };
    let tgrid = (
        gm.div_ceil(tm) as u32,
        gn.div_ceil(tn) as u32,
        chunks as u32,
    );
    // The 20 parameters exactly as cuda.rs passes them.
    let params = detbench::ops::conv::cuda::kernel_params(j);
    let vf = if j.accumulator == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    };
    let suffix = format!("{}_{}", j.precision.name(), j.accumulator.name());
    let e = |name: &str| format!("{name}_{suffix}");
    let prm = m.upload(
        &params
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    let a = m.upload(&j.precision.encode(&j.a));
    let b = m.upload(&j.precision.encode(&j.b));
    let out = m.alloc(out_len * j.precision.bytes());
    let lin = |threads: u32| ((out_len as u32).div_ceil(threads), 1, 1);
    let op = match j.op {
        Op::Conv2dBwdData => "bwdd",
        Op::Conv2dBwdWeight => "bwdw",
        _ => "fwd",
    };
    let args = |scratch: &cuda_emu::Buf| [prm.addr(), a.addr(), b.addr(), scratch.addr()];
    match j.variant {
        ConvVariant::Direct => {
            let wg = j.launch.workgroup_size;
            m.launch(&e(&format!("{op}_direct")), lin(wg), wg, 0, &args(&out));
        }
        ConvVariant::Tiled => m.launch(&e(&format!("{op}_tiled")), tgrid, 256, 0, &args(&out)),
        ConvVariant::TensorCore if j.op != Op::Conv2dBwdWeight => {
            m.launch(&e(&format!("{op}_tensor_core")), tgrid, 256, 0, &args(&out))
        }
        v => {
            let (first, second) = match v {
                ConvVariant::Deterministic => ("bwdw_partial".to_string(), "bwdw_reduce"),
                ConvVariant::TensorCore => ("bwdw_tensor_core".to_string(), "bwdw_reduce"),
                _ => (format!("bwdw_atomic_{ord}"), "bwdw_finish"),
            };
            let scratch_len = if v == ConvVariant::Atomic {
                out_len
            } else {
                chunks * out_len
            };
            let scratch = m.alloc(scratch_len * vf.bytes());
            m.launch(&e(&first), tgrid, 256, 0, &args(&scratch));
            m.launch(
                &e(second),
                lin(256),
                256,
                0,
                &[prm.addr(), scratch.addr(), out.addr()],
            );
        }
    }
    j.precision.decode(&out.read())
}

fn cpu(job: &Job) -> Vec<f64> {
    common::backend(BackendKind::Cpu)
        .unwrap()
        .run(job)
        .expect("the CPU runs it")
        .outputs
        .remove(0)
}

fn assert_bits(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{what}: element {i}: emulated CUDA {g:e}, CPU emulation {w:e}"
        );
    }
}

const OPS: [Op; 3] = [Op::Conv2dFwd, Op::Conv2dBwdData, Op::Conv2dBwdWeight];

/// N,C,H,W,K,R,S,stride,pad,dilation: stride, padding and dilation with ragged GEMM tiles;
/// more than one 64-wide tile in K and a reduction over several 16-deep tiles; a 1x1 filter.
const SHAPES: &[[usize; 10]] = &[
    [2, 5, 9, 7, 6, 3, 2, 2, 1, 2],
    [1, 3, 11, 9, 70, 3, 3, 1, 1, 1],
    [2, 20, 6, 6, 9, 1, 1, 1, 0, 1],
];

fn ordered_pair(input: Precision, acc: Precision) {
    let build = cuda_emu::module_build(SOURCE, &format!("{}_{}", input.name(), acc.name()));
    let m = cuda_emu::load(&build.spec);
    cuda_emu::assert_entries(&m, &build);
    for op in OPS {
        let variants: &[&str] = if op == Op::Conv2dBwdWeight {
            &["deterministic"]
        } else {
            &["direct", "tiled"]
        };
        for shape in SHAPES {
            for v in variants {
                let prep =
                    detbench::runner::prepare(&case(op, input, acc, v, shape)).expect("prepare");
                let got = run(&m, conv_job(&prep), "");
                assert_bits(
                    &got,
                    &cpu(&prep.job),
                    &format!("{op} {v} {input}/{acc} {shape:?}"),
                );
            }
        }
    }
}

fn atomic_pair(input: Precision, acc: Precision) {
    let build = cuda_emu::module_build(SOURCE, &format!("{}_{}", input.name(), acc.name()));
    let m = cuda_emu::load(&build.spec);
    let prep =
        detbench::runner::prepare(&case(Op::Conv2dBwdWeight, input, acc, "atomic", &SHAPES[2]))
            .expect("prepare");
    if prep.bounds.iter().any(|b| b.is_none()) {
        return;
    }
    let outputs: Vec<Vec<f64>> = detbench::ops::common::cuda_ordering_suffixes()
        .into_iter()
        .map(|ord| run(&m, conv_job(&prep), ord))
        .collect();
    let set = RunSet {
        times_ms: vec![0.0; outputs.len()],
        outputs,
        ..Default::default()
    };
    let met = detbench::runner::metrics(&prep, &set);
    assert_eq!(met.non_finite, 0, "atomic {input}/{acc}: non-finite output");
    assert_eq!(
        met.bound_violations, 0,
        "atomic {input}/{acc}: error {:e} exceeds the bound",
        met.max_abs_err
    );
}

cuda_emu::pair_tests!();

/// Tensor-core shapes (the old host check's): ragged tiles in M, N and K, several K tiles,
/// stride, dilation, padding, a 1x1 filter, bwd_weight with several chunks, and more than
/// one 128-row tile.
const TC_SHAPES: &[[usize; 10]] = &[
    [2, 20, 13, 11, 70, 3, 3, 1, 1, 1],
    [1, 5, 9, 7, 3, 3, 2, 2, 2, 2],
    [2, 33, 6, 6, 65, 1, 1, 1, 0, 1],
    [3, 16, 10, 10, 16, 3, 3, 1, 1, 1],
    [1, 1, 4, 4, 1, 3, 3, 1, 1, 1],
    [2, 3, 17, 9, 130, 2, 3, 3, 1, 1],
];

fn tensor_core(input: Precision) {
    let build = cuda_emu::module_build(SOURCE, &format!("{}_f32", input.name()));
    assert!(build.spec.defines.iter().any(|(k, _)| k == "DB_MMA"));
    let m = cuda_emu::load(&build.spec);
    cuda_emu::assert_entries(&m, &build);
    let mut seed = 12345u64;
    let mut small = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % 7) as f64 - 3.0
    };
    for op in OPS {
        for shape in TC_SHAPES {
            let prep =
                detbench::runner::prepare(&case(op, input, Precision::F32, "tensor_core", shape))
                    .expect("prepare");
            let mut j = conv_job(&prep).clone();
            j.a.iter_mut().for_each(|v| *v = small());
            j.b.iter_mut().for_each(|v| *v = small());
            let got = run(&m, &j, "");
            let mut reference = j.clone();
            reference.variant = if op == Op::Conv2dBwdWeight {
                ConvVariant::Deterministic
            } else {
                ConvVariant::Direct
            };
            assert_bits(
                &got,
                &cpu(&Job::Conv(reference)),
                &format!("{op} tensor_core {input} {shape:?}"),
            );
        }
    }
}

#[test]
fn tensor_core_f16_is_exact_on_integers() {
    tensor_core(Precision::F16);
}

#[test]
fn tensor_core_bf16_is_exact_on_integers() {
    tensor_core(Precision::Bf16);
}

/// The tests above cover every pair the backend builds.
#[test]
fn every_module_is_covered() {
    assert_eq!(cuda_emu::module_builds(SOURCE).len(), 9);
}
