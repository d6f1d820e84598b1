//! Criterion benchmarks of every reduction variant on every device found.
//!
//! Time is the device's own (CUDA events, wgpu timestamp queries) where the backend
//! provides it, through `iter_custom`; criterion's throughput is bytes of input read.
//! Sizes: 2^20 on the CPU and software devices; on GPUs 2^28 for the ordered variants
//! and 2^24 for the contended atomic ones (2^24 compare-exchange adds on one address
//! did not finish 5 runs in 150 s on an H100, so atomic_cas stays at 2^20).
//! Override with DETBENCH_BENCH_SIZE=N.
//!
//! After each device's variants the bench prints the cost of determinism: each
//! deterministic variant's median time (five runs before its benchmark) over the fastest
//! nondeterministic (atomic) variant's, for the same op, precision and device.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use detbench::backend::{discover, Backend, BackendKind};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::reduce::ReduceVariant;
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
            // (variant, deterministic, median ms of the first runs).
            let mut medians: Vec<(&str, bool, f64)> = Vec::new();
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
                    runs: 5,
                    workgroup_size: 256,
                    params: Default::default(),
                };
                let prep = detbench::runner::prepare(&case).expect("prepare");
                // Skip what the device cannot run, but say so.
                let Some(first) =
                    common::first_run(b.as_ref(), &prep.job, &format!("{op} {variant}"))
                else {
                    continue;
                };
                let v: ReduceVariant = variant.parse().expect("a reduction variant");
                if let Some(m) = detbench::shared::stats::median(&first.times_ms) {
                    // Per 2^20 elements: on fast devices the contended atomics run smaller
                    // inputs than the ordered variants (see `size_for`).
                    let per = m * (1u64 << 20) as f64 / n as f64;
                    medians.push((variant, v.is_deterministic(), per));
                }
                let operands = if op == Op::Dot { 2 } else { 1 };
                group.throughput(Throughput::Bytes((n * 4 * operands) as u64));
                let id = BenchmarkId::new(format!("{}/{}/{variant}", b.kind(), b.info().name), n);
                common::bench_job(&mut group, id, b.as_ref(), &prep.job);
            }
            let what = format!(
                "{op} f32 (times per 2^20 elements) on {}/{}",
                b.kind(),
                b.info().name
            );
            common::print_cost(&what, &medians);
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
