//! Criterion benchmarks of the host's own work per case: drawing a seeded input, the exact
//! oracle, and the whole preparation of a reduction case (input, exact value, bound
//! ingredients, checksum) for a new input and for another variant of a shared one.
//!
//! Throughput is elements per second; `host_input_and_oracle` times a new input drawn
//! and its reference computed together, which is what the goal counts. Size 2^22 (f32
//! inputs); override with DETBENCH_BENCH_SIZE=N. The goal these track (issue 27) is input generation plus the
//! exact oracle at 300 M elements/s on two cores, and Neal's xsum (about 1 ns per term on
//! one core) for the oracle alone.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use detbench::inputs::{draw_values, InputSpec};
use detbench::numerics::exact::ExactAcc;
use detbench::numerics::Precision;
use detbench::ops::{reduce, Case, Op};

fn size() -> usize {
    common::env_size().unwrap_or(1 << 22)
}

fn case(variant: &str, n: usize, seed: u64) -> Case {
    Case {
        op: Op::Sum,
        precision: Precision::F32,
        accumulator: Precision::F32,
        variant: variant.into(),
        size: n,
        input: InputSpec::Normal,
        seed,
        runs: 1,
        workgroup_size: 256,
        params: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let n = size();
    let mut group = common::group(c, "host_inputs".into());
    group.throughput(Throughput::Elements(n as u64));
    for spec in [InputSpec::Uniform, InputSpec::Normal, InputSpec::Wide] {
        group.bench_function(BenchmarkId::new("draw_f32", spec.label()), |b| {
            b.iter(|| draw_values(&spec, Precision::F32, n, 7, 0).expect("draw"))
        });
    }
    group.finish();

    // The goal's own figure: a new input drawn and its reference computed, one after the
    // other, as a case with a new input does (the checksum runs beside the reference).
    let mut group = common::group(c, "host_input_and_oracle".into());
    group.throughput(Throughput::Elements(n as u64));
    for spec in [InputSpec::Uniform, InputSpec::Normal, InputSpec::Wide] {
        let mut seed = 100;
        group.bench_function(
            BenchmarkId::new("draw_and_reference_f32", spec.label()),
            |b| {
                b.iter(|| {
                    seed += 1;
                    let x = draw_values(&spec, Precision::F32, n, seed, 0).expect("draw");
                    reduce::reference_figures(&case("tree", n, seed), &x, None)
                })
            },
        );
    }
    group.finish();

    let x = draw_values(&InputSpec::Normal, Precision::F32, n, 7, 0).expect("draw");
    let x64 = x.to_f64().into_owned();
    let mut group = common::group(c, "host_oracle".into());
    group.throughput(Throughput::Elements(n as u64));
    // One core, one accumulator: the figure to hold against xsum's ~1 ns per term.
    group.bench_function("exact_sum_one_core", |b| {
        b.iter(|| {
            let mut acc = ExactAcc::new();
            for &v in &x64 {
                acc.add(v);
            }
            acc.value()
        })
    });
    // The same on f32-held values by exponent (what a case with f32, bf16 or f16 inputs
    // runs): exact sum, sum |x| and the subnormal magnitude together.
    if let detbench::numerics::Values::F32(xs) = &x {
        group.bench_function("exact_f32_sums_one_core", |b| {
            b.iter(|| detbench::numerics::exact::f32_sums(xs).expect("finite"))
        });
    }
    // What a reduction case needs of its input, streamed over every core: the exact
    // value, sum |x| and the flushable magnitude.
    group.bench_function("reduction_reference_all_cores", |b| {
        b.iter(|| reduce::reference_figures(&case("tree", n, 7), &x, None))
    });
    group.finish();

    let mut group = common::group(c, "host_per_case".into());
    group.throughput(Throughput::Elements(n as u64));
    // A new input each time (a new seed): draw, exact oracle, bound ingredients, checksum.
    let mut seed = 100;
    group.bench_function("prepare_new_input", |b| {
        b.iter(|| {
            seed += 1;
            reduce::prepare(&case("tree", n, seed)).expect("prepare")
        })
    });
    // Another variant of the input drawn last: only its own bound.
    reduce::prepare(&case("tree", n, 7)).expect("prepare");
    group.bench_function("prepare_shared_input", |b| {
        b.iter(|| reduce::prepare(&case("reproducible", n, 7)).expect("prepare"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
