//! The CPU backend: the reference, and the exact emulation of every ordered variant.

use super::{
    run_kernel, Backend, BackendKind, Capabilities, DeviceInfo, Kernel, KernelApi, RunSet, Timer,
};
use crate::shared::ordering::Ordering;
use crate::error::OpError;
use std::time::Instant;

/// The CPU runs Rust: atomic variants are emulated with one ordering, times are host time.
pub const CAPABILITIES: Capabilities = Capabilities {
    orderings: &[Ordering::Relaxed],
    kernels: None,
    timer: Timer::HOST,
    in_all: true,
    own_variants: false,
};

/// The host CPU: always one usable device.
pub fn discover() -> (Vec<CpuBackend>, Vec<DeviceInfo>) {
    (vec![CpuBackend::new()], Vec::new())
}

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
        info.subnormals = probe_subnormals();
        Self { info, threads }
    }
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// The CPU's subnormal handling in f32 and f64, measured as on a wgpu device
/// (`wgpu::probe_subnormals`): a subnormal operand scaled into the normal range, and
/// products and sums whose results are subnormal. `black_box` keeps the compiler from
/// folding them. Rust never sets flush-to-zero, so this reads "preserved"; it is measured
/// anyway, so a build that did (a C library changing MXCSR) would show.
pub fn probe_subnormals() -> std::collections::BTreeMap<String, String> {
    use std::hint::black_box as bb;
    let mode = |operand_kept: bool, result_kept: bool| {
        super::subnormal_mode_of(operand_kept, result_kept).to_string()
    };
    let f32_mode = {
        let tiny = bb(f32::from_bits(1 << 9)); // 2^-140
        let op = bb(tiny * bb(2f32.powi(20))) == 2f32.powi(-120);
        let res = bb(bb(2f32.powi(-100)) * bb(2f32.powi(-40))) == tiny
            && bb(bb(1.5 * 2f32.powi(-126)) - bb(2f32.powi(-126))) == 2f32.powi(-127);
        mode(op, res)
    };
    let f64_mode = {
        let tiny = bb(f64::from_bits(1 << 40)); // 2^-1034
        let op = bb(tiny * bb(2f64.powi(60))) == 2f64.powi(-974);
        let res = bb(bb(2f64.powi(-1000)) * bb(2f64.powi(-34))) == tiny
            && bb(bb(1.5 * 2f64.powi(-1022)) - bb(2f64.powi(-1022))) == 2f64.powi(-1023);
        mode(op, res)
    };
    [("f32".to_string(), f32_mode), ("f64".to_string(), f64_mode)]
        .into_iter()
        .collect()
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

    fn kernel_api(&self) -> &dyn std::any::Any {
        self
    }

    fn run(&self, job: &dyn Kernel) -> Result<RunSet, OpError> {
        run_kernel(job, self)
    }
}

/// The CPU kernels of a family take the backend itself.
impl KernelApi for CpuBackend {
    type Output = RunSet;
    const NAME: &'static str = "cpu";
}

impl CpuBackend {
    /// Threads the CPU kernels use.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `once` `runs` times, timing each call on the host: the CPU's launch and timer.
    /// `once` returns the outputs of one run and a message for the report.
    pub fn time_runs(
        &self,
        runs: usize,
        mut once: impl FnMut() -> Result<(Vec<f64>, String), OpError>,
    ) -> Result<RunSet, OpError> {
        let mut set = RunSet {
            timer: "host".into(),
            ..Default::default()
        };
        for _ in 0..runs {
            if crate::interrupt::interrupted() {
                return Err(OpError::Failed(crate::interrupt::STOPPED.into()));
            }
            let start = Instant::now();
            let (out, msg) = once()?;
            set.times_ms.push(start.elapsed().as_secs_f64() * 1e3);
            set.outputs.push(out);
            set.message = msg;
        }
        Ok(set)
    }
}
