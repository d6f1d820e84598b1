//! Criterion benchmark of the `copy` baseline on every device found.
//!
//! Time is the device's own (CUDA events, wgpu timestamp queries; the host's clock around
//! the memcpy on the CPU), through `iter_custom`. The copies are timed without reading the
//! destination back (`ops::copy::*::times`), since reading back every copy would cost far
//! more host time than the copies; `detbench run --op copy` checks every copy bit for bit.
//! Criterion's throughput is bytes read plus bytes written, as detbench's GB/s is.
//! Sizes: 2^28 f32 elements (1 GiB) on GPUs, 2^24 (64 MiB) on the CPU and software devices.
//! Override with DETBENCH_BENCH_SIZE=N.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use detbench::backend::{cuda, wgpu, Backend};
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::{copy, Case, Job, Op};

fn size_for(fast: bool) -> usize {
    common::env_size().unwrap_or(if fast { 1 << 28 } else { 1 << 24 })
}

fn job(n: usize) -> copy::CopyJob {
    let case = Case {
        op: Op::Copy,
        precision: Precision::F32,
        accumulator: Precision::F32,
        variant: "copy".into(),
        size: n,
        input: InputSpec::Uniform,
        seed: 7,
        runs: 1,
        workgroup_size: copy::BASELINE_WORKGROUP_SIZE,
        params: Default::default(),
    };
    match detbench::runner::prepare(&case).expect("prepare").job {
        Job::Copy(j) => j,
        _ => unreachable!("a copy case prepares a copy job"),
    }
}

/// Adds one device's benchmark; `times(job, iters)` returns the time of each copy in ms.
fn add(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: String,
    n: usize,
    times: impl Fn(&copy::CopyJob, usize) -> Result<Vec<f64>, detbench::error::OpError>,
) {
    let job = job(n);
    // Skip what the device cannot run, but say so.
    if let Err(e) = times(&job, 1) {
        eprintln!("copy on {name}: {e}");
        return;
    }
    group.throughput(Throughput::Bytes((2 * n * 4) as u64));
    common::bench_times(group, BenchmarkId::new(name, n), |iters| {
        times(&job, iters).expect("ran once already")
    });
}

fn bench(c: &mut Criterion) {
    let mut group = common::group(c, "copy_f32".into());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu = detbench::backend::cpu::cpu_name();
    add(&mut group, format!("cpu/{cpu}"), size_for(false), |j, r| {
        Ok(copy::cpu::times(j, threads, r))
    });
    let (gpus, _) = wgpu::discover();
    for b in &gpus {
        add(
            &mut group,
            format!("wgpu/{}", b.info().name),
            size_for(common::is_fast(b)),
            |j, r| copy::wgpu::times(b, j, r),
        );
    }
    let (gpus, _) = cuda::discover();
    for b in &gpus {
        add(
            &mut group,
            format!("cuda/{}", b.info().name),
            size_for(true),
            |j, r| copy::cuda::times(b, j, r),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
