//! Criterion benchmarks of every convolution variant on every device found.
//!
//! The layer is N=64, C=K=64, 56x56, 3x3, padding 1 on GPUs (a 2x16x16x16 one on the CPU
//! and software adapters; override with DETBENCH_BENCH_CONV_SHAPE=N,C,H,W,K,R,S,ST,PAD,DIL).
//! Time is the device's own (CUDA events, wgpu timestamp queries) through `iter_custom`;
//! the throughput is counted in flops (2 N K C R S P Q per op), so criterion's
//! "elem/s" figure reads as flop/s. For reference: cuDNN through PyTorch 2.11 on an H100
//! takes 1.61 ms for fwd + bwd_data + bwd_weight in f32 without TF32 (~27.5 TFLOP/s), and
//! reaches 126 TFLOP/s for f16 forward. `tensor_core` (CUDA, sm_80+) is benched in f16 and
//! bf16 with an f32 accumulator; its goal for f16 forward on an H100 is 60 TFLOP/s or more.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use detbench::backend::{discover, Backend, BackendKind};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{conv, Case, FamilyParams, Job, Op};

fn shape_for(b: &dyn Backend) -> Vec<usize> {
    if let Some(s) = std::env::var("DETBENCH_BENCH_CONV_SHAPE")
        .ok()
        .and_then(|v| detbench::ops::conv::parse_conv_shape(&v).ok())
    {
        return s;
    }
    if common::is_fast(b) {
        vec![64, 64, 56, 56, 64, 3, 3, 1, 1, 1]
    } else {
        vec![2, 16, 16, 16, 16, 3, 3, 1, 1, 1]
    }
}

fn bench(c: &mut Criterion) {
    let found = discover(&BackendKind::ALL);
    for op in [Op::Conv2dFwd, Op::Conv2dBwdData, Op::Conv2dBwdWeight] {
        for (p, acc) in [
            (Precision::F32, Precision::F32),
            (Precision::F16, Precision::F32),
            (Precision::Bf16, Precision::F32),
        ] {
            let mut group = common::group(c, format!("{op}_{p}_{acc}"));
            for b in &found.backends {
                let shape = shape_for(b.as_ref());
                for variant in conv::variants(op) {
                    // bf16 is here for the tensor cores; the other variants' bf16 speed is
                    // their f16 speed.
                    if p == Precision::Bf16 && *variant != "tensor_core" {
                        continue;
                    }
                    let case = Case {
                        op,
                        precision: p,
                        accumulator: acc,
                        variant: variant.to_string(),
                        size: 0,
                        input: InputSpec::Uniform,
                        seed: 7,
                        runs: 1,
                        workgroup_size: 256,
                        params: FamilyParams::new(conv::ConvParams {
                            shape: shape.to_vec(),
                        }),
                    };
                    let job = conv::build_job(&case).expect("build job");
                    let flops = job.shape.flops();
                    let job = Job::Conv(job);
                    // Skip what the device cannot run, but say so.
                    let Some(first) =
                        common::first_run(b.as_ref(), &job, &format!("{op} {variant}"))
                    else {
                        continue;
                    };
                    let ms = first.times_ms[0];
                    eprintln!(
                        "{op} {p}/{acc} {variant} on {}: {ms:.3} ms, {:.2} TFLOP/s (first run)",
                        b.info().name,
                        flops / (ms * 1e-3) / 1e12
                    );
                    group.throughput(Throughput::Elements(flops as u64));
                    let id = BenchmarkId::new(
                        format!("{}/{}/{variant}", b.kind(), b.info().name),
                        format!("{shape:?}"),
                    );
                    common::bench_job(&mut group, id, b.as_ref(), &job);
                }
            }
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
