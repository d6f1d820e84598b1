//! Criterion benchmarks of every reduction variant on every device found.
//!
//! Time is the device's own (CUDA events, wgpu timestamp queries) where the backend
//! provides it, through `iter_custom`; criterion's throughput is bytes of input read.
//! Sizes: 2^20 on the CPU and software devices; on GPUs 2^28 for the ordered variants
//! and 2^24 for the contended atomic ones (2^24 compare-exchange adds on one address
//! did not finish 5 runs in 150 s on an H100, so atomic_cas stays at 2^20).
//! Override with DETBENCH_BENCH_SIZE=N.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use detbench::backend::{discover, Backend, BackendKind};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{reduce, Case, Op};

fn size_for(b: &dyn Backend, variant: &str) -> usize {
    common::env_size().unwrap_or(match (common::is_fast(b), variant) {
        (false, _) | (true, "atomic_cas") => 1 << 20,
        (true, "atomic") | (true, "block_atomic") => 1 << 24,
        (true, _) => 1 << 28,
    })
}

fn bench(c: &mut Criterion) {
    let found = discover(&BackendKind::ALL);
    for op in [Op::Sum, Op::Dot] {
        let mut group = common::group(c, format!("{op}_f32"));
        for b in &found.backends {
            for variant in reduce::VARIANTS {
                let n = size_for(b.as_ref(), variant);
                let case = Case {
                    op,
                    precision: Precision::F32,
                    accumulator: Precision::F32,
                    variant: variant.to_string(),
                    size: n,
                    input: InputSpec::Uniform,
                    seed: 7,
                    runs: 1,
                    workgroup_size: 256,
                    params: Default::default(),
                };
                let prep = detbench::runner::prepare(&case).expect("prepare");
                // Skip what the device cannot run, but say so.
                if common::first_run(b.as_ref(), &prep.job, &format!("{op} {variant}")).is_none() {
                    continue;
                }
                let operands = if op == Op::Dot { 2 } else { 1 };
                group.throughput(Throughput::Bytes((n * 4 * operands) as u64));
                let id = BenchmarkId::new(format!("{}/{}/{variant}", b.kind(), b.info().name), n);
                common::bench_job(&mut group, id, b.as_ref(), &prep.job);
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
