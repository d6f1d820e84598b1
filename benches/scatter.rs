//! Criterion benchmarks of every scatter-add variant on every device found: f32 values
//! into 1024 uniformly drawn bins, into 1024 Zipf-distributed bins (a few hot bins) and
//! into a single bin (the contended extreme). After each device's variants the bench
//! prints the cost of determinism: each deterministic variant's median time over the
//! fastest nondeterministic variant's, as the reports show it.
//!
//! Time is the device's own (CUDA events, wgpu timestamp queries) through `iter_custom`;
//! throughput is bytes of values and indices read. Sizes: 2^24 on GPUs, 2^20 on the CPU
//! and software devices (lavapipe). atomic_cas refuses more than 2^22 elements in one bin
//! (see `ops::scatter::MAX_CAS_PER_BIN`), which the benchmark reports and skips.
//! Override with DETBENCH_BENCH_SIZE=N.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use detbench::backend::{discover, BackendKind};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::scatter::{IndexSource, ScatterParams, ScatterVariant};
use detbench::ops::{scatter, Case, FamilyParams, Op};

fn bench(c: &mut Criterion) {
    let found = discover(&BackendKind::ALL);
    for (bins, dist) in [(1024usize, "uniform"), (1024, "zipf"), (1, "single")] {
        let mut group = common::group(c, format!("scatter_add_f32_{bins}bins_{dist}"));
        for b in &found.backends {
            let n = common::size_for(b.as_ref(), 1 << 24, 1 << 20);
            // (variant, deterministic, median ms of the first runs).
            let mut medians: Vec<(&str, bool, f64)> = Vec::new();
            for variant in scatter::VARIANTS {
                let case = Case {
                    op: Op::ScatterAdd,
                    precision: Precision::F32,
                    accumulator: Precision::F32,
                    variant: variant.to_string(),
                    size: n,
                    input: InputSpec::Normal,
                    seed: 7,
                    runs: 5,
                    workgroup_size: 256,
                    params: FamilyParams::new(ScatterParams {
                        bins,
                        index: IndexSource::Dist(dist.to_string()),
                    }),
                };
                let prep = detbench::runner::prepare(&case).expect("prepare");
                // Skip what the device cannot run, but say so.
                let Some(first) =
                    common::first_run(b.as_ref(), &prep.job, &format!("scatter_add {variant}"))
                else {
                    continue;
                };
                let v: ScatterVariant = variant.parse().expect("a scatter variant");
                if let Some(m) = detbench::shared::stats::median(&first.times_ms) {
                    medians.push((variant, !v.is_atomic(), m));
                }
                group.throughput(Throughput::Bytes((n * 8) as u64));
                let id = BenchmarkId::new(format!("{}/{}/{variant}", b.kind(), b.info().name), n);
                common::bench_job(&mut group, id, b.as_ref(), &prep.job);
            }
            let what = format!("scatter_add n={n} {dist} on {}/{}", b.kind(), b.info().name);
            common::print_cost(&what, &medians);
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
