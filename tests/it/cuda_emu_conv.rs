//! kernels/cuda/conv.cu run on the host emulation of CUDA (tests/it/cuda_emu): every module the
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

use crate::common;
use crate::cuda_emu;

use cuda_emu::Module;
use detbench::backend::BackendKind;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::conv::{gemm_dims, ConvJob, ConvParams, ConvVariant, TC_TILE_M, TC_TILE_N};
use detbench::ops::{Case, FamilyParams, Job, Op, Prepared};

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
    let what = format!("atomic {input}/{acc}");
    cuda_emu::assert_orderings_within_bound(&prep, |ord| run(&m, conv_job(&prep), ord), &what);
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
    let mut small = cuda_emu::small_integers(12345);
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

/// kernels/cuda/matmul.cu on the same emulation (in this binary: matmul is the other
/// GEMM-shaped family, and it shares common.cuh's GEMM section with conv.cu), launched as
/// src/ops/matmul/cuda.rs launches it:
///
/// - tiled, split_k_deterministic and batch_invariant give the CPU emulation's bits;
/// - split_k_atomic, under each of the six PTX orderings, stays within the a-priori bound;
/// - batch_invariant keeps every bit of the shared rows at every M, and
///   split_k_deterministic, whose split follows M, is shown to change them;
/// - tensor_core (emulated mma, as for conv) is exact on small integers.
mod matmul {
    use super::{assert_bits, cpu, cuda_emu, Module};
    use detbench::inputs::InputSpec;
    use detbench::numerics::Precision;
    use detbench::ops::matmul::cuda::{params, tile_grid};
    use detbench::ops::matmul::{split_for, MatmulJob, MatmulParams, MmShape, MmVariant};
    use detbench::ops::{Case, FamilyParams, Job, Op, Prepared};

    const SOURCE: &str = "kernels/cuda/matmul.cu";

    fn case(input: Precision, acc: Precision, variant: &str, shape: [usize; 3]) -> Case {
        Case {
            op: Op::Matmul,
            precision: input,
            accumulator: acc,
            variant: variant.into(),
            size: 0,
            input: InputSpec::Normal,
            seed: 5,
            runs: 1,
            workgroup_size: 64,
            params: FamilyParams::new(MatmulParams {
                shape: MmShape::new(&shape).expect("shape"),
            }),
        }
    }

    fn job(prep: &Prepared) -> &MatmulJob {
        match &prep.job {
            Job::Matmul(j) => j,
            _ => unreachable!(),
        }
    }

    fn module(input: Precision, acc: Precision) -> Module {
        let build = cuda_emu::module_build(SOURCE, &format!("{}_{}", input.name(), acc.name()));
        let m = cuda_emu::load(&build.spec);
        cuda_emu::assert_entries(&m, &build);
        m
    }

    /// One run, launched as cuda.rs's `run` launches it (`ord` for split_k_atomic).
    fn run(m: &Module, j: &MatmulJob, ord: &str) -> Vec<f64> {
        let out_len = j.shape.out_len();
        let grid = tile_grid(j).expect("grid");
        let vf = if j.accumulator == Precision::F64 {
            Precision::F64
        } else {
            Precision::F32
        };
        let e = |name: &str| format!("{name}_{}_{}", j.precision.name(), j.accumulator.name());
        let prm = m.upload(
            &params(j)
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        );
        let a = m.upload(&j.precision.encode(&j.a));
        let b = m.upload(&j.precision.encode(&j.b));
        // addmm: C starts as the bias, as cuda.rs uploads it.
        let out = match &j.bias {
            Some(c) => m.upload(&j.precision.encode(c)),
            None => m.alloc(out_len * j.precision.bytes()),
        };
        let lin = ((out_len as u32).div_ceil(256), 1, 1);
        let (first, second, scratch_len) = match j.variant {
            MmVariant::Tiled => ("mm_tiled".to_string(), None, 0),
            MmVariant::TensorCore => ("mm_tensor_core".to_string(), None, 0),
            MmVariant::SplitKAtomic => (format!("mm_atomic_{ord}"), Some("mm_finish"), out_len),
            _ => (
                "mm_partial".to_string(),
                Some("mm_reduce"),
                j.split.splits * out_len,
            ),
        };
        match second {
            None => m.launch(
                &e(&first),
                grid,
                256,
                0,
                &[prm.addr(), a.addr(), b.addr(), out.addr()],
            ),
            Some(second) => {
                let scratch = m.alloc(scratch_len * vf.bytes());
                m.launch(
                    &e(&first),
                    grid,
                    256,
                    0,
                    &[prm.addr(), a.addr(), b.addr(), scratch.addr()],
                );
                m.launch(
                    &e(second),
                    lin,
                    256,
                    0,
                    &[prm.addr(), scratch.addr(), out.addr()],
                );
            }
        }
        j.precision.decode(&out.read())
    }

    /// M, N, K: ragged tiles in every dimension with K off the 16-deep tile; several row and
    /// column tiles with 4 splits of 80 (the last shorter); one row with 16 splits of 64.
    const SHAPES: &[[usize; 3]] = &[[5, 19, 70], [33, 40, 300], [1, 24, 1024]];

    fn ordered_pair(input: Precision, acc: Precision) {
        let m = module(input, acc);
        for shape in SHAPES {
            for v in ["tiled", "split_k_deterministic", "batch_invariant"] {
                let prep =
                    detbench::runner::prepare(&case(input, acc, v, *shape)).expect("prepare");
                let j = job(&prep);
                assert_bits(
                    &run(&m, j, ""),
                    &cpu(&prep.job),
                    &format!(
                        "matmul {v} {input}/{acc} {shape:?} ({} splits)",
                        j.split.splits
                    ),
                );
            }
        }
    }

    fn atomic_pair(input: Precision, acc: Precision) {
        let m = module(input, acc);
        let prep = detbench::runner::prepare(&case(input, acc, "split_k_atomic", SHAPES[1]))
            .expect("prepare");
        assert!(job(&prep).split.splits > 1);
        let what = format!("split_k_atomic {input}/{acc}");
        cuda_emu::assert_orderings_within_bound(&prep, |ord| run(&m, job(&prep), ord), &what);
    }

    cuda_emu::pair_tests!();

    /// Row 0 of C at M = 1, 7 and 40 (N = 24, K = 1024: the M-dependent split is 16 chunks at
    /// M <= 16 and 8 at M = 40; batch_invariant's is 4 of 256 at every M).
    fn row0_across_batches(m: &Module, variant: &str) -> Vec<Vec<f64>> {
        [1, 7, 40]
            .iter()
            .map(|&rows| {
                let prep = detbench::runner::prepare(&case(
                    Precision::F32,
                    Precision::F32,
                    variant,
                    [rows, 24, 1024],
                ))
                .expect("prepare");
                run(m, job(&prep), "")[..24].to_vec()
            })
            .collect()
    }

    #[test]
    fn batch_invariant_keeps_row_bits_across_batch_sizes() {
        let m = module(Precision::F32, Precision::F32);
        let inv = row0_across_batches(&m, "batch_invariant");
        for r in &inv[1..] {
            assert_bits(
                r,
                &inv[0],
                "emulated CUDA batch_invariant, row 0 at M = 1 vs M > 1",
            );
        }
        let split = |rows| {
            split_for(&MmShape {
                m: rows,
                n: 24,
                k: 1024,
            })
        };
        assert_ne!(split(1), split(40));
        let det = row0_across_batches(&m, "split_k_deterministic");
        let differ = det[0]
            .iter()
            .zip(&det[2])
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert!(
            differ > 0,
            "emulated CUDA split_k_deterministic kept row 0's bits from M = 1 to M = 40 although its split changed"
        );
    }

    /// tensor_core on small integers (every sum exact whatever the order): the bits of the
    /// CPU's tiled on the same job. Ragged tiles in M, N and K; several 128-row and 64-column
    /// tiles; K of one 32-deep tile and of several.
    fn tensor_core(input: Precision) {
        let m = module(input, Precision::F32);
        let mut small = cuda_emu::small_integers(777);
        for shape in [[1, 1, 1], [130, 70, 45], [17, 129, 200]] {
            let prep =
                detbench::runner::prepare(&case(input, Precision::F32, "tensor_core", shape))
                    .expect("prepare");
            let mut j = job(&prep).clone();
            j.a.iter_mut().for_each(|v| *v = small());
            j.b.iter_mut().for_each(|v| *v = small());
            let got = run(&m, &j, "");
            let mut reference = j.clone();
            reference.variant = MmVariant::Tiled;
            assert_bits(
                &got,
                &cpu(&Job::Matmul(reference)),
                &format!("matmul tensor_core {input} {shape:?}"),
            );
        }
    }

    #[test]
    fn tensor_core_is_exact_on_integers() {
        tensor_core(Precision::F16);
        tensor_core(Precision::Bf16);
    }

    fn addmm_case(input: Precision, acc: Precision, variant: &str, shape: [usize; 3]) -> Case {
        let mut c = case(input, acc, variant, shape);
        c.op = Op::Addmm;
        c
    }

    /// addmm: the ordered variants give the CPU emulation's bits (bias added after the K
    /// reduction), split_k_atomic stays within its bound under every ordering, and every
    /// ordered result is within its bound of the exact reference (bias included).
    #[test]
    fn addmm_ordered_bitwise_and_atomic_within_bound() {
        for (input, acc) in [
            (Precision::F32, Precision::F32),
            (Precision::F16, Precision::F32),
            (Precision::Bf16, Precision::Bf16),
            (Precision::F64, Precision::F64),
        ] {
            let m = module(input, acc);
            for shape in SHAPES {
                for v in ["tiled", "split_k_deterministic", "batch_invariant"] {
                    let prep = detbench::runner::prepare(&addmm_case(input, acc, v, *shape))
                        .expect("prepare");
                    let j = job(&prep);
                    assert!(j.bias.is_some());
                    let got = run(&m, j, "");
                    let what = format!("addmm {v} {input}/{acc} {shape:?}");
                    assert_bits(&got, &cpu(&prep.job), &what);
                    cuda_emu::assert_within_bound(&prep, vec![got], &what);
                }
            }
            let prep =
                detbench::runner::prepare(&addmm_case(input, acc, "split_k_atomic", SHAPES[1]))
                    .expect("prepare");
            let what = format!("addmm split_k_atomic {input}/{acc}");
            cuda_emu::assert_orderings_within_bound(&prep, |ord| run(&m, job(&prep), ord), &what);
        }
    }

    /// addmm's batch_invariant keeps row 0's bits at M = 1, 7 and 40 (rows of A and of the
    /// bias are the same at every M).
    #[test]
    fn addmm_batch_invariant_across_batch_sizes() {
        let m = module(Precision::F32, Precision::F32);
        let rows: Vec<Vec<f64>> = [1, 7, 40]
            .iter()
            .map(|&rows| {
                let prep = detbench::runner::prepare(&addmm_case(
                    Precision::F32,
                    Precision::F32,
                    "batch_invariant",
                    [rows, 24, 1024],
                ))
                .expect("prepare");
                run(&m, job(&prep), "")[..24].to_vec()
            })
            .collect();
        for r in &rows[1..] {
            assert_bits(r, &rows[0], "emulated CUDA addmm batch_invariant, row 0");
        }
    }

    /// addmm on tensor_core with small integers: exact, so the CPU tiled's bits; and (f16,
    /// where every |A·B| <= 200·9 is an f16 integer) a bias of -A·B gives exact zeros.
    #[test]
    fn addmm_tensor_core_exact_on_integers_and_cancels() {
        for input in [Precision::F16, Precision::Bf16] {
            let m = module(input, Precision::F32);
            let mut small = cuda_emu::small_integers(31);
            for shape in [[130, 70, 45], [17, 129, 200]] {
                let prep = detbench::runner::prepare(&addmm_case(
                    input,
                    Precision::F32,
                    "tensor_core",
                    shape,
                ))
                .expect("prepare");
                let mut j = job(&prep).clone();
                j.a.iter_mut().for_each(|v| *v = small());
                j.b.iter_mut().for_each(|v| *v = small());
                if let Some(c) = j.bias.as_mut() {
                    c.iter_mut().for_each(|v| *v = small());
                }
                let mut reference = j.clone();
                reference.variant = MmVariant::Tiled;
                let what = format!("addmm tensor_core {input} {shape:?}");
                assert_bits(
                    &run(&m, &j, ""),
                    &cpu(&Job::Matmul(reference.clone())),
                    &what,
                );
                if input != Precision::F16 {
                    continue;
                }
                let product = {
                    let mut r = reference;
                    r.bias = None;
                    cpu(&Job::Matmul(r))
                };
                j.bias = Some(product.iter().map(|v| 0.0 - v).collect());
                let got = run(&m, &j, "");
                assert!(got.iter().all(|&v| v == 0.0), "{what} with C = -A·B");
            }
        }
    }

    /// The pair tests cover every module of matmul.cu.
    #[test]
    fn all_nine_modules() {
        assert_eq!(cuda_emu::module_builds(SOURCE).len(), 9);
    }
}
