//! Pieces every criterion benchmark shares: which devices count as fast, the size
//! override, the group settings and the device-timed measurement loop.
//!
//! Each bench pulls this in with `mod common;`; not every bench uses every piece.
#![allow(dead_code)]

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use detbench::backend::{Backend, BackendKind};
use detbench::ops::{Job, RunSet};
use std::time::Duration;

/// Real GPUs get the large sizes; the CPU and software adapters (lavapipe) the small ones,
/// so a bench on them finishes in minutes.
pub fn is_fast(b: &dyn Backend) -> bool {
    let t = b.info().device_type.as_str();
    b.kind() == BackendKind::Cuda || t == "discrete_gpu" || t == "integrated_gpu"
}

/// The size set by DETBENCH_BENCH_SIZE=N, if any.
pub fn env_size() -> Option<usize> {
    std::env::var("DETBENCH_BENCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// DETBENCH_BENCH_SIZE if set, else `fast` on a fast device and `slow` elsewhere.
pub fn size_for(b: &dyn Backend, fast: usize, slow: usize) -> usize {
    env_size().unwrap_or(if is_fast(b) { fast } else { slow })
}

/// A group with the settings every bench uses: few samples, since one sample of a large
/// GPU job already averages over many launches.
pub fn group<'a>(c: &'a mut Criterion, name: String) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    group
}

/// Runs `job` once; on an error says which case the device skips and why, and returns None.
pub fn first_run(b: &dyn Backend, job: &Job, what: &str) -> Option<RunSet> {
    match b.run(job) {
        Ok(set) => Some(set),
        Err(e) => {
            eprintln!("{what} on {}: {e}", b.info().name);
            None
        }
    }
}

/// `job` with its number of runs set to `runs`.
pub fn with_runs(job: &Job, runs: usize) -> Job {
    let mut job = job.clone();
    match &mut job {
        Job::Reduce(j) => j.runs = runs,
        Job::Conv(j) => j.runs = runs,
        Job::Scatter(j) => j.runs = runs,
        Job::Optim(j) => j.runs = runs,
        Job::Copy(j) => j.runs = runs,
        Job::Matmul(j) => j.runs = runs,
        Job::Rows(j) => j.runs = runs,
    }
    job
}

/// Benchmarks with the device's own clock: `times(iters)` runs `iters` times and returns
/// each run's time in ms, and criterion gets their sum.
pub fn bench_times(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    times: impl Fn(usize) -> Vec<f64>,
) {
    group.bench_function(id, |bench| {
        bench.iter_custom(|iters| {
            let t = times(iters as usize);
            Duration::from_secs_f64(t.iter().sum::<f64>() / 1e3)
        })
    });
}

/// Benchmarks `job` on `b` with the device's own clock (CUDA events, wgpu timestamp
/// queries), `iters` runs of the job per sample.
pub fn bench_job(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    b: &dyn Backend,
    job: &Job,
) {
    bench_times(group, id, |iters| {
        b.run(&with_runs(job, iters))
            .expect("ran once already")
            .times_ms
    });
}

/// Prints the cost of determinism of one case on one device: each deterministic variant's
/// median time over the fastest nondeterministic variant's (the ratio the reports show).
/// `what` names the case (op, precision, size, device); `medians` holds (variant,
/// deterministic, median ms of a few runs).
pub fn print_cost(what: &str, medians: &[(&str, bool, f64)]) {
    let fastest = medians
        .iter()
        .filter(|(_, det, ms)| !det && *ms > 0.0)
        .min_by(|a, b| a.2.total_cmp(&b.2));
    let Some((base, _, base_ms)) = fastest else {
        println!("cost of determinism, {what}: no nondeterministic variant ran");
        return;
    };
    for (v, _, ms) in medians.iter().filter(|(_, det, _)| *det) {
        println!(
            "cost of determinism, {what}: {v} {ms:.3} ms = {:.2}x {base} ({base_ms:.3} ms)",
            ms / base_ms
        );
    }
}
