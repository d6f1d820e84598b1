//! Criterion benchmarks of every scatter-add variant on every device found: f32 values
//! into 1024 uniformly drawn bins and into a single bin (the contended extreme).
//!
//! Time is the device's own (CUDA events, wgpu timestamp queries) through `iter_custom`;
//! throughput is bytes of values and indices read. Sizes: 2^24 on GPUs, 2^20 on the CPU
//! and software devices (lavapipe). atomic_cas refuses more than 2^22 elements in one bin
//! (see `ops::scatter::MAX_CAS_PER_BIN`), which the benchmark reports and skips.
//! Override with DETBENCH_BENCH_SIZE=N.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use detbench::backend::{discover, Backend, BackendKind};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{scatter, Case, Job, Op};
use std::time::Duration;

fn is_fast(b: &dyn Backend) -> bool {
    let t = b.info().device_type.as_str();
    b.kind() == BackendKind::Cuda || t == "discrete_gpu" || t == "integrated_gpu"
}

fn size_for(b: &dyn Backend) -> usize {
    if let Some(n) = std::env::var("DETBENCH_BENCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    if is_fast(b) {
        1 << 24
    } else {
        1 << 20
    }
}

fn bench(c: &mut Criterion) {
    let found = discover(&BackendKind::ALL);
    for (bins, dist) in [(1024usize, "uniform"), (1, "single")] {
        let mut group = c.benchmark_group(format!("scatter_add_f32_{bins}bins_{dist}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_millis(500));
        for b in &found.backends {
            let n = size_for(b.as_ref());
            for variant in scatter::VARIANTS {
                let case = Case {
                    op: Op::ScatterAdd,
                    precision: Precision::F32,
                    accumulator: Precision::F32,
                    variant: variant.to_string(),
                    size: n,
                    bins: Some(bins),
                    input: InputSpec::Normal,
                    index_file: Some(format!("dist:{dist}")),
                    seed: 7,
                    runs: 1,
                    workgroup_size: 256,
                    shape: None,
                    steps: None,
                };
                let prep = detbench::runner::prepare(&case).expect("prepare");
                // Skip what the device cannot run, but say so.
                if let Err(e) = b.run(&prep.job) {
                    eprintln!("scatter_add {variant} on {}: {e}", b.info().name);
                    continue;
                }
                group.throughput(Throughput::Bytes((n * 8) as u64));
                let id = BenchmarkId::new(format!("{}/{}/{variant}", b.kind(), b.info().name), n);
                group.bench_function(id, |bench| {
                    bench.iter_custom(|iters| {
                        let mut job = prep.job.clone();
                        if let Job::Scatter(j) = &mut job {
                            j.runs = iters as usize;
                        }
                        let set = b.run(&job).expect("ran once already");
                        Duration::from_secs_f64(set.times_ms.iter().sum::<f64>() / 1e3)
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
