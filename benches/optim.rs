//! Criterion benchmarks of the optimizer kernels on every device found.
//!
//! Time is the device's own (CUDA events, wgpu timestamp queries) where the backend gives
//! it, through `iter_custom`: one iteration is one run of `STEPS` steps. Throughput counts
//! the words every step must move per parameter (Adam f32: read p, g, m, v and write p, m, v,
//! 7 x 4 bytes), so criterion's GB/s compares directly with a copy's bandwidth. The target
//! for `adam/f32/fma` at 2^26 parameters on an H100 is >= 2550 GB/s (PyTorch 2.11's fused Adam
//! reaches 2268 GB/s, foreach 937 GB/s, a device copy 2810 GB/s).
//!
//! Sizes: 2^26 parameters on GPUs, 2^20 on the CPU and software devices; override with
//! DETBENCH_BENCH_SIZE=N.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use detbench::backend::{discover, BackendKind};
use detbench::inputs::Stream;
use detbench::ops::optim::{self, Hyper, OptimVariant, Storage};
use detbench::ops::{Job, Op};

const STEPS: usize = 10;

/// Seeded parameters and gradients, rounded to the storage format.
fn data(storage: Storage, n: usize) -> (Vec<f32>, Vec<Vec<f32>>) {
    let p = storage.param_precision();
    let mut s = Stream::new(7, 0);
    let init = (0..n).map(|_| p.round(s.symmetric()) as f32).collect();
    let grads = (0..STEPS)
        .map(|k| {
            let mut s = Stream::new(7, 1000 + k as u64);
            (0..n)
                .map(|_| p.round(s.symmetric() * 0.125) as f32)
                .collect()
        })
        .collect();
    (init, grads)
}

fn bench(c: &mut Criterion) {
    let found = discover(&BackendKind::ALL);
    let cases = [
        (Op::Adam, "fma", Storage::F32),
        (Op::Adam, "no_fma", Storage::F32),
        (Op::Adam, "fma", Storage::Bf16Master),
        (Op::Adam, "stochastic_rounding", Storage::Bf16Sr),
        (Op::Adamw, "fma", Storage::F32),
        (Op::Sgd, "nesterov_fma", Storage::F32),
    ];
    for (op, variant, storage) in cases {
        let mut group = common::group(c, format!("{op}/{}/{variant}", storage.suffix()));
        for b in &found.backends {
            let n = common::size_for(b.as_ref(), 1 << 26, 1 << 20);
            let v = OptimVariant::parse(op, variant).expect("variant");
            let (init, grads) = data(storage, n);
            let job = optim::new_job(op, v, storage, Hyper::defaults(v.rule), init, grads, 7, 256);
            let job = Job::Optim(job);
            if common::first_run(b.as_ref(), &job, &format!("{op} {variant}")).is_none() {
                continue;
            }
            let Job::Optim(j) = &job else { unreachable!() };
            group.throughput(Throughput::Bytes(j.bytes_moved() as u64));
            let id = BenchmarkId::new(format!("{}/{}", b.kind(), b.info().name), n);
            common::bench_job(&mut group, id, b.as_ref(), &job);
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
