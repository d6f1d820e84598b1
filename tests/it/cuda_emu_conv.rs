//! kernels/cuda/conv.cu through the cuda-emu backend (tests/it/cuda_emu): src/ops/conv/cuda.rs
//! launches every module the backend builds for sm_90 (all nine input/accumulator pairs),
//! the three ops, on the host emulator.
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

use detbench::backend::BackendKind;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::conv::{ConvJob, ConvParams, ConvVariant};
use detbench::ops::{Case, FamilyParams, Job, Op, Prepared};

const SOURCE: &str = "kernels/cuda/conv.cu";

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

/// One run on the cuda-emu backend (src/ops/conv/cuda.rs's launches, emulated).
fn run(j: &ConvJob) -> Vec<f64> {
    cuda_emu::outputs(&Job::Conv(j.clone()))
}

fn cpu(job: &Job) -> Vec<f64> {
    common::backend(BackendKind::Cpu)
        .run(job)
        .expect("the CPU runs it")
        .outputs
        .into_first()
        .expect("one run")
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
                let got = run(conv_job(&prep));
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
    let prep =
        detbench::runner::prepare(&case(Op::Conv2dBwdWeight, input, acc, "atomic", &SHAPES[2]))
            .expect("prepare");
    let what = format!("atomic {input}/{acc}");
    cuda_emu::assert_orderings_within_bound(&prep, &what);
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
    let mut small = cuda_emu::small_integers(12345);
    for op in OPS {
        for shape in TC_SHAPES {
            let prep =
                detbench::runner::prepare(&case(op, input, Precision::F32, "tensor_core", shape))
                    .expect("prepare");
            let mut j = conv_job(&prep).clone();
            j.a.iter_mut().for_each(|v| *v = small());
            j.b.iter_mut().for_each(|v| *v = small());
            let got = run(&j);
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
    assert_eq!(
        detbench::ops::cuda_modules(&detbench::backend::cuda::emu::TARGET, &[])
            .iter()
            .filter(|m| m.spec.path == SOURCE)
            .count(),
        9
    );
}

/// kernels/cuda/matmul.cu through the same backend (matmul is the other GEMM-shaped family,
/// and it shares common.cuh's GEMM section with conv.cu), src/ops/matmul/cuda.rs launching:
///
/// - tiled, split_k_deterministic and batch_invariant give the CPU emulation's bits;
/// - split_k_atomic, under each of the six PTX orderings, stays within the a-priori bound;
/// - batch_invariant keeps every bit of the shared rows at every M, and
///   split_k_deterministic, whose split follows M, is shown to change them;
/// - tensor_core (emulated mma, as for conv) is exact on small integers.
mod matmul {
    use super::{assert_bits, cpu, cuda_emu};
    use detbench::inputs::InputSpec;
    use detbench::numerics::Precision;
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

    /// One run on the cuda-emu backend (src/ops/matmul/cuda.rs's launches, emulated).
    fn run(j: &MatmulJob) -> Vec<f64> {
        cuda_emu::outputs(&Job::Matmul(j.clone()))
    }

    /// M, N, K: ragged tiles in every dimension with K off the 16-deep tile; several row and
    /// column tiles with 4 splits of 80 (the last shorter); one row with 16 splits of 64.
    const SHAPES: &[[usize; 3]] = &[[5, 19, 70], [33, 40, 300], [1, 24, 1024]];

    fn ordered_pair(input: Precision, acc: Precision) {
        for shape in SHAPES {
            for v in ["tiled", "split_k_deterministic", "batch_invariant"] {
                let prep =
                    detbench::runner::prepare(&case(input, acc, v, *shape)).expect("prepare");
                let j = job(&prep);
                assert_bits(
                    &run(j),
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
        let prep = detbench::runner::prepare(&case(input, acc, "split_k_atomic", SHAPES[1]))
            .expect("prepare");
        assert!(job(&prep).split.splits > 1);
        let what = format!("split_k_atomic {input}/{acc}");
        cuda_emu::assert_orderings_within_bound(&prep, &what);
    }

    cuda_emu::pair_tests!();

    /// Row 0 of C at M = 1, 7 and 40 (N = 24, K = 1024: the M-dependent split is 16 chunks at
    /// M <= 16 and 8 at M = 40; batch_invariant's is 4 of 256 at every M).
    fn row0_across_batches(variant: &str) -> Vec<Vec<f64>> {
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
                run(job(&prep))[..24].to_vec()
            })
            .collect()
    }

    #[test]
    fn batch_invariant_keeps_row_bits_across_batch_sizes() {
        let inv = row0_across_batches("batch_invariant");
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
        let det = row0_across_batches("split_k_deterministic");
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
        let mut small = cuda_emu::small_integers(777);
        for shape in [[1, 1, 1], [130, 70, 45], [17, 129, 200]] {
            let prep =
                detbench::runner::prepare(&case(input, Precision::F32, "tensor_core", shape))
                    .expect("prepare");
            let mut j = job(&prep).clone();
            j.a.iter_mut().for_each(|v| *v = small());
            j.b.iter_mut().for_each(|v| *v = small());
            let got = run(&j);
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
            for shape in SHAPES {
                for v in ["tiled", "split_k_deterministic", "batch_invariant"] {
                    let prep = detbench::runner::prepare(&addmm_case(input, acc, v, *shape))
                        .expect("prepare");
                    let j = job(&prep);
                    assert!(j.bias.is_some());
                    let got = run(j);
                    let what = format!("addmm {v} {input}/{acc} {shape:?}");
                    assert_bits(&got, &cpu(&prep.job), &what);
                    cuda_emu::assert_within_bound(&prep, vec![got], &what);
                }
            }
            let prep =
                detbench::runner::prepare(&addmm_case(input, acc, "split_k_atomic", SHAPES[1]))
                    .expect("prepare");
            let what = format!("addmm split_k_atomic {input}/{acc}");
            cuda_emu::assert_orderings_within_bound(&prep, &what);
        }
    }

    /// addmm's batch_invariant keeps row 0's bits at M = 1, 7 and 40 (rows of A and of the
    /// bias are the same at every M).
    #[test]
    fn addmm_batch_invariant_across_batch_sizes() {
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
                run(job(&prep))[..24].to_vec()
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
                assert_bits(&run(&j), &cpu(&Job::Matmul(reference.clone())), &what);
                if input != Precision::F16 {
                    continue;
                }
                let product = {
                    let mut r = reference;
                    r.bias = None;
                    cpu(&Job::Matmul(r))
                };
                j.bias = Some(product.iter().map(|v| 0.0 - v).collect());
                let got = run(&j);
                assert!(got.iter().all(|&v| v == 0.0), "{what} with C = -A·B");
            }
        }
    }

    /// The pair tests cover every module of matmul.cu.
    #[test]
    fn all_nine_modules() {
        assert_eq!(
            detbench::ops::cuda_modules(&detbench::backend::cuda::emu::TARGET, &[])
                .iter()
                .filter(|m| m.spec.path == SOURCE)
                .count(),
            9
        );
    }
}
