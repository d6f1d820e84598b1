//! The CPU backend: the reference, and the exact emulation of every ordered variant.

use super::{Backend, BackendKind, DeviceInfo};
use crate::error::OpError;
use crate::ops::{Job, RunSet};
use std::time::Instant;

/// The host CPU.
pub struct CpuBackend {
    info: DeviceInfo,
    threads: usize,
}

impl CpuBackend {
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .max(2);
        let mut info = DeviceInfo {
            backend: "cpu".into(),
            name: cpu_name(),
            available: true,
            device_type: "cpu".into(),
            driver: format!("detbench {}", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        info.details.insert("threads".into(), threads.into());
        info.details
            .insert("arch".into(), std::env::consts::ARCH.into());
        Self { info, threads }
    }
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// The CPU model name from /proc/cpuinfo, or the architecture.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

impl Backend for CpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn run(&self, job: &Job) -> Result<RunSet, OpError> {
        if let Job::Copy(j) = job {
            // Times only the memcpy, not the decoding of each copy.
            return crate::ops::copy::cpu::run(j, self.threads);
        }
        let mut set = RunSet {
            timer: "host".into(),
            ..Default::default()
        };
        for _ in 0..job_runs(job) {
            if crate::interrupt::interrupted() {
                return Err(OpError::Failed(crate::interrupt::STOPPED.into()));
            }
            let start = Instant::now();
            let (out, msg) = match job {
                Job::Reduce(j) => {
                    let (v, m) = crate::ops::reduce::cpu::run_once(j, self.threads)?;
                    (vec![v], m)
                }
                Job::Scatter(j) => crate::ops::scatter::cpu::run_once(j, self.threads)?,
                Job::Optim(j) => (
                    crate::ops::optim::cpu::run_once(j, self.threads)?,
                    String::new(),
                ),
                Job::Conv(j) => (
                    crate::ops::conv::cpu::run_once(j, self.threads)?,
                    String::new(),
                ),
                Job::Copy(_) => unreachable!("copy jobs return above"),
            };
            set.times_ms.push(start.elapsed().as_secs_f64() * 1e3);
            set.outputs.push(out);
            set.message = msg;
        }
        Ok(set)
    }
}

fn job_runs(job: &Job) -> usize {
    match job {
        Job::Reduce(j) => j.runs,
        Job::Scatter(j) => j.runs,
        Job::Optim(j) => j.runs,
        Job::Conv(j) => j.runs,
        Job::Copy(j) => j.runs,
    }
}
