//! Backends: one file each, all behind the [`Backend`] trait.
//!
//! A backend owns one device. [`discover`] finds every device of the backends asked for
//! and, for each one that cannot be used, says why, so `detbench devices` and the
//! report can show it instead of dropping it.

pub mod cpu;
pub mod cuda;
pub mod external;
pub mod wgpu;

use crate::error::OpError;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::fmt;
use std::str::FromStr;

/// The kinds of backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Cpu,
    Cuda,
    Wgpu,
    /// The CUDA backend's host code and kernels run on the g++ host emulator of an sm_90
    /// device: it checks them without a GPU; its times are emulator time.
    #[serde(rename = "cuda-emu")]
    CudaEmu,
    /// A program outside detbench, through an adapter (`--external`).
    External,
}

impl BackendKind {
    /// The built-in backends: what `--backend all` means. `external` needs an adapter
    /// (`--external`), so it is never implied.
    pub const ALL: [BackendKind; 3] = [BackendKind::Cpu, BackendKind::Cuda, BackendKind::Wgpu];

    /// What `detbench devices` lists: the built-in backends and `cuda-emu`, which is not a
    /// device to measure (so not in [`BackendKind::ALL`]) and runs only when named.
    pub const LISTED: [BackendKind; 4] = [
        BackendKind::Cpu,
        BackendKind::Cuda,
        BackendKind::Wgpu,
        BackendKind::CudaEmu,
    ];

    /// Whether atomic jobs run once per CUDA ordering (the PTX orderings) on this backend.
    pub fn sweeps_cuda_orderings(self) -> bool {
        matches!(self, BackendKind::Cuda | BackendKind::CudaEmu)
    }

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Cuda => "cuda",
            BackendKind::Wgpu => "wgpu",
            BackendKind::CudaEmu => "cuda-emu",
            BackendKind::External => "external",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "cpu" => Ok(BackendKind::Cpu),
            "cuda" => Ok(BackendKind::Cuda),
            "wgpu" => Ok(BackendKind::Wgpu),
            "cuda-emu" => Ok(BackendKind::CudaEmu),
            "external" => Ok(BackendKind::External),
            other => Err(format!(
                "unknown backend '{other}' (expected cpu, cuda, wgpu, cuda-emu or external)"
            )),
        }
    }
}

/// A device as `detbench devices` and the report's `env.devices` show it (defined with the
/// report schema, which records it).
pub use crate::report::schema::DeviceInfo;

/// The modes [`DeviceInfo::subnormals`] records for a format.
pub mod subnormal_mode {
    /// Subnormal operands are used and subnormal results kept (gradual underflow, IEEE 754).
    pub const PRESERVED: &str = "preserved";
    /// Subnormal operands are read as zero and subnormal results flushed to zero.
    pub const FLUSHED: &str = "flushed";
    /// Subnormal results are flushed to zero, subnormal operands used.
    pub const FLUSHES_RESULTS: &str = "flushes results";
    /// Subnormal operands are read as zero, subnormal results kept.
    pub const FLUSHES_OPERANDS: &str = "flushes operands";
    /// The probe could not run (the reason follows after a colon).
    pub const UNKNOWN: &str = "unknown";
}

/// The mode of a format from the probe's two observations.
pub fn subnormal_mode_of(operand_kept: bool, result_kept: bool) -> &'static str {
    match (operand_kept, result_kept) {
        (true, true) => subnormal_mode::PRESERVED,
        (false, false) => subnormal_mode::FLUSHED,
        (true, false) => subnormal_mode::FLUSHES_RESULTS,
        (false, true) => subnormal_mode::FLUSHES_OPERANDS,
    }
}

impl DeviceInfo {
    /// Whether the device is known to keep subnormals in `format` ("f32" or "f64"): false
    /// when it flushes them, and also when the mode was not determined.
    pub fn preserves_subnormals(&self, format: &str) -> bool {
        self.subnormals.get(format).map(String::as_str) == Some(subnormal_mode::PRESERVED)
    }

    /// One line for `detbench devices`: "f32 preserved, f64 preserved".
    pub fn subnormals_line(&self) -> String {
        self.subnormals
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl DeviceInfo {
    /// An entry for a backend that cannot be used, with the reason.
    pub fn unavailable(backend: BackendKind, name: &str, reason: impl Into<String>) -> Self {
        DeviceInfo {
            backend: backend.name().into(),
            name: name.into(),
            available: false,
            reason: reason.into(),
            ..Default::default()
        }
    }
}

/// What a backend returns for a job.
#[derive(Clone, Debug, Default)]
pub struct RunSet {
    /// Output values of every run, each exactly representable in the output format.
    pub outputs: Vec<Vec<f64>>,
    /// Time of every run in milliseconds (device-timed where the backend can).
    pub times_ms: Vec<f64>,
    /// How times were taken: "cuda_events", "timestamp_query" or "host".
    pub timer: String,
    /// Anything the report should say about this run (e.g. fixed-point precision loss).
    pub message: String,
}

/// What a family's kernel code is written against for one backend: the device type its
/// kernel functions take (the CPU backend, a wgpu device, the CUDA host code's device, the
/// external backend's [`external::Describe`]). A family names the functions it has, one
/// per such type, in its `family_kernel!` line, and a backend finds its own by type through
/// [`Kernel::kernel`]: adding a backend adds no method to any trait, and a backend that
/// runs an existing kernel API (a second device under the CUDA host code) changes no family.
pub trait KernelApi: Any + Sync {
    /// What a kernel for this API gives back: the runs ([`RunSet`]) for devices that run
    /// the job; the job described, for a backend that hands it to a program.
    type Output: 'static;
    /// The API's name in "has no ... kernel" messages.
    const NAME: &'static str;
}

/// A job as a backend sees it, in the spirit of candle's `CustomOp`, with one lookup instead
/// of one method per backend. Families implement it (with `family_kernel!`) and backends
/// only call it, through [`run_kernel`], so no backend names a family.
pub trait Kernel: Sync {
    /// What the job is, for messages (e.g. "scatter_add").
    fn kernel_name(&self) -> String;
    /// The one lookup: runs the family's kernel for the [`KernelApi`] type of `api` on it
    /// and returns its output boxed, or None when the family has no kernel for that type.
    /// Callers use [`run_kernel`], which types the answer.
    fn kernel(&self, api: &dyn Any) -> Option<Result<Box<dyn Any>, OpError>>;
}

/// The entry of one kernel function in a [`Kernel::kernel`] lookup: `f` run on `api` when
/// `api` is an `A`, else None (`family_kernel!` chains one per function it is given).
pub fn kernel_entry<A: KernelApi, J>(
    api: &dyn Any,
    job: &J,
    f: fn(&A, &J) -> Result<A::Output, OpError>,
) -> Option<Result<Box<dyn Any>, OpError>> {
    let api = api.downcast_ref::<A>()?;
    Some(f(api, job).map(|out| Box::new(out) as Box<dyn Any>))
}

/// Runs `job`'s kernel for `api`: `Unsupported` when its family has none.
pub fn run_kernel<A: KernelApi>(job: &dyn Kernel, api: &A) -> Result<A::Output, OpError> {
    let out = job.kernel(api).ok_or_else(|| {
        OpError::Unsupported(format!(
            "{} has no {} kernel in this build",
            job.kernel_name(),
            A::NAME
        ))
    })??;
    out.downcast::<A::Output>().map(|b| *b).map_err(|_| {
        OpError::Failed(format!(
            "{}: the {} kernel returned another type than its API's output",
            job.kernel_name(),
            A::NAME
        ))
    })
}

/// A target a family's kernel modules are built for without a device (`detbench kernels`,
/// the compile tests): e.g. a CUDA architecture. `Module` is one module build. A family
/// answers through [`crate::ops::Family::modules`], looked up by the target's type.
pub trait BuildTarget: Any {
    type Module: 'static;
}

/// The entry of one module list in a [`crate::ops::Family::modules`] lookup: `f(target)`
/// when `target` is a `T`, else None.
pub fn module_entry<T: BuildTarget>(
    target: &dyn Any,
    f: fn(&T) -> Vec<T::Module>,
) -> Option<Box<dyn Any>> {
    let target = target.downcast_ref::<T>()?;
    Some(Box::new(f(target)))
}

/// One device that runs jobs.
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;
    fn info(&self) -> &DeviceInfo;
    /// Runs the job its `runs` times. `Err(Unsupported)` when the device lacks a feature.
    fn run(&self, job: &dyn Kernel) -> Result<RunSet, OpError>;
    /// Runs the job as the case's `variant`. Only backends whose variants are their own
    /// (the external backend's adapter modes) read it; the others run the job's variant.
    fn run_variant(&self, job: &dyn Kernel, _variant: &str) -> Result<RunSet, OpError> {
        self.run(job)
    }
    /// Adds what this backend knows about a record before it runs (the external adapter).
    fn annotate(&self, _rec: &mut crate::report::ResultRecord) {}
    /// Kernel sources this backend compiles, by path, for provenance hashes.
    fn kernel_sources(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
    /// Compile options, for provenance.
    fn compile_options(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// Devices found for the requested backends: the usable ones as backends, and every
/// one (usable or not) as info.
pub struct Discovered {
    pub backends: Vec<Box<dyn Backend>>,
    pub infos: Vec<DeviceInfo>,
}

/// Finds every device of the requested backend kinds.
pub fn discover(kinds: &[BackendKind]) -> Discovered {
    let mut backends: Vec<Box<dyn Backend>> = Vec::new();
    let mut infos = Vec::new();
    for &kind in kinds {
        match kind {
            BackendKind::Cpu => {
                let b = cpu::CpuBackend::new();
                infos.push(b.info().clone());
                backends.push(Box::new(b));
            }
            BackendKind::Cuda => {
                let (found, mut unavailable) = cuda::discover();
                for b in found {
                    infos.push(b.info().clone());
                    backends.push(Box::new(b));
                }
                infos.append(&mut unavailable);
            }
            BackendKind::CudaEmu => {
                let (found, mut unavailable) = cuda::emu_discover();
                for b in found {
                    infos.push(b.info().clone());
                    backends.push(Box::new(b));
                }
                infos.append(&mut unavailable);
            }
            BackendKind::Wgpu => {
                let (found, mut unavailable) = wgpu::discover();
                for b in found {
                    infos.push(b.info().clone());
                    backends.push(Box::new(b));
                }
                infos.append(&mut unavailable);
            }
            // Built by the runner from the `--external` adapter.
            BackendKind::External => {}
        }
    }
    Discovered { backends, infos }
}
