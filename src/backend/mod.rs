//! Backends: one file each, all behind the [`Backend`] trait.
//!
//! A backend owns one device. [`discover`] finds every device of the backends asked for
//! and, for each one that cannot be used, says why, so `detbench devices` and the
//! report can show it instead of dropping it.

use crate::error::OpError;
use crate::shared::ordering::Ordering;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::fmt;
use std::str::FromStr;

/// The registry: every backend, as `module: Variant = "name";`. A new backend is its own
/// module file(s) plus one line here: `BackendKind`, its names, `--backend` parsing,
/// [`BackendKind::ALL`], [`BackendKind::capabilities`] and [`discover`] are generated from
/// it. Each module provides `pub const CAPABILITIES: Capabilities` and
/// `pub fn discover() -> (Vec<impl Backend>, Vec<DeviceInfo>)` (every usable device, and
/// an unavailable entry with the reason for each one that is not).
macro_rules! backends {
    ($($(#[$meta:meta])* $module:ident: $variant:ident = $name:literal;)+) => {
        $(pub mod $module;)+

        /// The kinds of backend.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum BackendKind {
            $($(#[$meta])* #[serde(rename = $name)] $variant,)+
        }

        impl BackendKind {
            /// Every backend, in registry order.
            pub const EVERY: [BackendKind; [$($name),+].len()] = [$(BackendKind::$variant),+];

            pub const fn name(self) -> &'static str {
                match self {
                    $(BackendKind::$variant => $name,)+
                }
            }

            /// What the backend declares about itself.
            pub const fn capabilities(self) -> &'static Capabilities {
                match self {
                    $(BackendKind::$variant => &$module::CAPABILITIES,)+
                }
            }

            /// Every device of this backend, usable or not.
            fn discover(self) -> Discovered {
                match self {
                    $(BackendKind::$variant => Discovered::of($module::discover()),)+
                }
            }
        }
    };
}

backends! {
    cpu: Cpu = "cpu";
    cuda: Cuda = "cuda";
    wgpu: Wgpu = "wgpu";
    /// The CUDA backend's host code and kernels run on the g++ host emulator of an sm_90
    /// device: it checks them without a GPU; its times are emulator time.
    cuda_emu: CudaEmu = "cuda-emu";
    /// A program outside detbench, through an adapter (`--external`).
    external: External = "external";
}

/// How many backends `--backend all` means ([`Capabilities::in_all`]).
const IN_ALL: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < BackendKind::EVERY.len() {
        if BackendKind::EVERY[i].capabilities().in_all {
            n += 1;
        }
        i += 1;
    }
    n
};

impl BackendKind {
    /// What `detbench devices` lists: every backend (one that needs more than a device,
    /// like the external adapter, finds none by itself and adds nothing).
    pub const LISTED: [BackendKind; BackendKind::EVERY.len()] = BackendKind::EVERY;

    /// The backends `--backend all` means: those whose [`Capabilities::in_all`] is set.
    pub const ALL: [BackendKind; IN_ALL] = {
        let mut all = [BackendKind::EVERY[0]; IN_ALL];
        let (mut i, mut n) = (0, 0);
        while i < BackendKind::EVERY.len() {
            if BackendKind::EVERY[i].capabilities().in_all {
                all[n] = BackendKind::EVERY[i];
                n += 1;
            }
            i += 1;
        }
        all
    };
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        BackendKind::EVERY
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = BackendKind::EVERY.iter().map(|k| k.name()).collect();
                format!("unknown backend '{s}' (expected {})", names.join(", "))
            })
    }
}

/// What a backend declares about itself: everything the runner, `train`, `check` and
/// `build.rs` need to know of it, so that none of them names a backend.
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    /// The atomic orderings an atomic variant runs with on this backend, one result row
    /// each (the user's `--orderings` choose among them). A backend whose atomics have one
    /// fixed ordering lists just that one.
    pub orderings: &'static [Ordering],
    /// Where its kernel sources live and how they become code it runs; None where it
    /// compiles nothing of detbench's (the CPU runs Rust, an external program its own).
    pub kernels: Option<KernelSources>,
    /// The timer its times come from.
    pub timer: Timer,
    /// Whether `--backend all` includes it (an emulator, or a backend that needs more than
    /// a device to run, is asked for by name).
    pub in_all: bool,
    /// Whether its variants are its own (an adapter's modes) instead of the families'. The
    /// matrix then takes each op's variants from [`Backend::variants`], each case is
    /// prepared as its family's reference variant (`crate::ops::reference_variant`: the
    /// inputs, exact value and order-independent bound its rows are judged by) and the
    /// run adds no copy baseline. Such a backend runs alone.
    pub own_variants: bool,
}

/// A backend's kernel sources: a folder under `kernels/` (embedded by build.rs, which
/// names no backend: every folder there is embedded and hashed into reports) and the
/// compile step applied to each source.
#[derive(Clone, Copy, Debug)]
pub struct KernelSources {
    /// The folder, e.g. `kernels/cuda`; its `common.*` file is the prelude.
    pub folder: &'static str,
    /// The compile step, in words (compiler, target, how the prelude joins each source).
    pub compile: &'static str,
}

/// How a backend times its runs.
#[derive(Clone, Copy, Debug)]
pub struct Timer {
    /// The timer name a [`RunSet`] records (a device may fall back to `host`).
    pub name: &'static str,
    /// Whether its times measure the device under test (false for an emulator: they are
    /// emulator time, not a performance figure).
    pub device_time: bool,
    /// Whether the timed work always runs on this process's own threads (the CPU backend,
    /// the CUDA host emulator), so the process CPU clock measures it too
    /// (`cpu_ms_per_run`). A backend whose devices differ answers per device
    /// ([`Backend::runs_on_host`]: wgpu on lavapipe does, on a GPU it does not).
    pub host_threads: bool,
}

impl Timer {
    /// Host wall-clock time around each run, on this process's threads.
    pub const HOST: Timer = Timer {
        name: "host",
        device_time: true,
        host_threads: true,
    };
}

/// `--ordering`: the atomic orderings asked for (`all`: every ordering of the run's
/// backends), each of which some backend of the run offers. A backend sweeps those it
/// offers; one offering none of them runs its first (its only one, where its atomics have
/// one fixed ordering). Err is one line naming the valid values per backend.
pub fn parse_orderings(s: &str, kinds: &[BackendKind]) -> Result<Vec<Ordering>, String> {
    let offered = |o: &Ordering| kinds.iter().any(|k| k.capabilities().orderings.contains(o));
    let mut out: Vec<Ordering> = Vec::new();
    let parts = s.split(',').map(str::trim).collect::<Vec<_>>();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("--ordering: '{}' has an empty entry", s.trim()));
    }
    for part in parts {
        let add: Vec<Ordering> = if part == "all" {
            kinds
                .iter()
                .flat_map(|k| k.capabilities().orderings.iter().copied())
                .collect()
        } else {
            match part.parse::<Ordering>() {
                Ok(o) if offered(&o) => vec![o],
                _ => return Err(ordering_error(part, kinds)),
            }
        };
        for o in add {
            if !out.contains(&o) {
                out.push(o);
            }
        }
    }
    Ok(out)
}

/// The one-line error for an `--ordering` value no backend of the run offers.
fn ordering_error(value: &str, kinds: &[BackendKind]) -> String {
    let names = |k: &BackendKind| {
        let o: Vec<&str> = k
            .capabilities()
            .orderings
            .iter()
            .map(|o| o.name())
            .collect();
        o.join(", ")
    };
    let value = crate::safety::clean_line(value, 40);
    match kinds {
        [k] => format!(
            "--ordering: '{value}' is not an ordering of backend {k} (expected {}, or all)",
            names(k)
        ),
        _ => {
            let each: Vec<String> = kinds.iter().map(|k| format!("{k}: {}", names(k))).collect();
            format!(
                "--ordering: '{value}' is not an ordering of any backend of this run ({}; or all)",
                each.join("; ")
            )
        }
    }
}

/// The host's CPU model (a report's `env.cpu`), whatever the backends.
pub fn host_cpu_name() -> String {
    cpu::cpu_name()
}

/// A device as `detbench devices` and the report's `env.devices` show it (defined with the
/// report schema, which records it).
pub use crate::report::schema::DeviceInfo;

/// The modes [`DeviceInfo::subnormals`] records for a format.
pub mod outputs;
pub use outputs::{folding, Fold, Outputs, Slot};

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
    /// Whether the device is a CPU (the CPU backend, or a software rasteriser such as
    /// lavapipe): its work runs on the host's cores.
    pub fn is_cpu_device(&self) -> bool {
        self.device_type == "cpu"
    }

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
    /// Output values of every run, each exactly representable in the output format; a
    /// run that repeats an earlier run's bits is held once ([`Outputs`]).
    pub outputs: Outputs,
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
pub fn kernel_entry<A: Any, J, O: 'static>(
    api: &dyn Any,
    job: &J,
    f: fn(&A, &J) -> Result<O, OpError>,
) -> Option<Result<Box<dyn Any>, OpError>> {
    let api = api.downcast_ref::<A>()?;
    Some(f(api, job).map(|out| Box::new(out) as Box<dyn Any>))
}

/// Runs `job`'s kernel for `api` (a backend's [`Backend::kernel_api`]) and returns its
/// answer as `O`, the type the caller asks for (a [`RunSet`], or the device state a
/// request like the optimizer's creates): `Unsupported` when its family has none.
pub fn lookup<O: 'static>(job: &dyn Kernel, api: &dyn Any, backend: &str) -> Result<O, OpError> {
    let out = job.kernel(api).ok_or_else(|| {
        OpError::Unsupported(format!(
            "{} has no {backend} kernel in this build",
            job.kernel_name()
        ))
    })??;
    out.downcast::<O>().map(|b| *b).map_err(|_| {
        OpError::Failed(format!(
            "{}: the {backend} kernel answered with another type than was asked for",
            job.kernel_name()
        ))
    })
}

/// Runs `job`'s kernel for `api`: `Unsupported` when its family has none.
pub fn run_kernel<A: KernelApi>(job: &dyn Kernel, api: &A) -> Result<A::Output, OpError> {
    lookup(job, api, A::NAME)
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
    /// What the families' kernels for this backend take (its [`KernelApi`] value, usually
    /// the backend itself): the key of every [`Kernel::kernel`] lookup made for it.
    fn kernel_api(&self) -> &dyn Any;
    /// Runs the job its `runs` times. `Err(Unsupported)` when the device lacks a feature.
    fn run(&self, job: &dyn Kernel) -> Result<RunSet, OpError>;
    /// Runs the job as the case's `variant`. Only backends whose variants are their own
    /// (the external backend's adapter modes) read it; the others run the job's variant.
    fn run_variant(&self, job: &dyn Kernel, _variant: &str) -> Result<RunSet, OpError> {
        self.run(job)
    }
    /// Adds what this backend knows about a record before it runs (the external adapter).
    fn annotate(&self, _rec: &mut crate::report::ResultRecord) {}
    /// Whether the work runs on this process's own threads (a backend whose timer says so,
    /// such as the CPU backend or the CUDA host emulator, or a CPU device such as
    /// lavapipe), so the process CPU clock measures it; a GPU, or an external process,
    /// works while this process waits.
    fn runs_on_host(&self) -> bool {
        self.capabilities().timer.host_threads || self.info().is_cpu_device()
    }
    /// The variants of `op` (an op name) on a backend whose [`Capabilities::own_variants`]
    /// is set: those of `wanted` (all of them when it is empty), each of which it must
    /// offer. Err: one line saying why not (it does not offer the op, or a mode).
    fn variants(&self, op: &str, _wanted: &[String]) -> Result<Vec<String>, String> {
        Err(format!(
            "backend {} runs the families' variants of {op}, it has none of its own",
            self.kind()
        ))
    }
    /// What to tell the user, after the reason, when the backend could run none of its
    /// cases (an adapter: which Python it ran). Empty where there is nothing to add.
    fn remedy(&self) -> String {
        String::new()
    }
    /// What the backend declares about itself (its kind's [`Capabilities`]).
    fn capabilities(&self) -> &'static Capabilities {
        self.kind().capabilities()
    }
    /// Kernel sources this backend compiles, by path, for provenance hashes: its
    /// [`KernelSources::folder`].
    fn kernel_sources(&self) -> Vec<(&'static str, &'static str)> {
        self.capabilities()
            .kernels
            .map_or(Vec::new(), |k| crate::kernels::folder(k.folder).to_vec())
    }
    /// Compile options, for provenance.
    fn compile_options(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A backend built by its caller rather than discovered (one that needs more than a device,
/// such as the adapter of `--external`), shared by the run configuration and the run.
#[derive(Clone)]
pub struct Given(pub std::sync::Arc<dyn Backend>);

impl Given {
    pub fn new(b: impl Backend + 'static) -> Self {
        Given(std::sync::Arc::new(b))
    }
}

impl fmt::Debug for Given {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Given({} {})", self.0.kind(), self.0.info().name)
    }
}

/// Every call goes to the shared backend.
impl Backend for Given {
    fn kind(&self) -> BackendKind {
        self.0.kind()
    }
    fn info(&self) -> &DeviceInfo {
        self.0.info()
    }
    fn kernel_api(&self) -> &dyn Any {
        self.0.kernel_api()
    }
    fn run(&self, job: &dyn Kernel) -> Result<RunSet, OpError> {
        self.0.run(job)
    }
    fn run_variant(&self, job: &dyn Kernel, variant: &str) -> Result<RunSet, OpError> {
        self.0.run_variant(job, variant)
    }
    fn annotate(&self, rec: &mut crate::report::ResultRecord) {
        self.0.annotate(rec)
    }
    fn runs_on_host(&self) -> bool {
        self.0.runs_on_host()
    }
    fn variants(&self, op: &str, wanted: &[String]) -> Result<Vec<String>, String> {
        self.0.variants(op, wanted)
    }
    fn remedy(&self) -> String {
        self.0.remedy()
    }
    fn capabilities(&self) -> &'static Capabilities {
        self.0.capabilities()
    }
    fn kernel_sources(&self) -> Vec<(&'static str, &'static str)> {
        self.0.kernel_sources()
    }
    fn compile_options(&self) -> serde_json::Value {
        self.0.compile_options()
    }
}

/// Devices found for the requested backends: the usable ones as backends, and every
/// one (usable or not) as info.
#[derive(Default)]
pub struct Discovered {
    pub backends: Vec<Box<dyn Backend>>,
    pub infos: Vec<DeviceInfo>,
}

impl Discovered {
    /// What one backend's `discover` found: its usable devices, then the others.
    fn of<B: Backend + 'static>((found, unavailable): (Vec<B>, Vec<DeviceInfo>)) -> Self {
        let infos = found.iter().map(|b| b.info().clone()).chain(unavailable);
        Discovered {
            infos: infos.collect(),
            backends: found
                .into_iter()
                .map(|b| Box::new(b) as Box<dyn Backend>)
                .collect(),
        }
    }
}

/// Finds every device of the requested backend kinds.
pub fn discover(kinds: &[BackendKind]) -> Discovered {
    let mut all = Discovered {
        backends: Vec::new(),
        infos: Vec::new(),
    };
    for kind in kinds {
        let mut d = kind.discover();
        all.backends.append(&mut d.backends);
        all.infos.append(&mut d.infos);
    }
    all
}

impl Discovered {
    /// Adds backends built by the caller ([`Given`]) after those discovered.
    pub fn with_given(mut self, given: &[Given]) -> Self {
        for b in given {
            self.infos.push(b.info().clone());
            self.backends.push(Box::new(b.clone()));
        }
        self
    }

    /// The backend whose variants are its own ([`Capabilities::own_variants`]), if the run
    /// has one; Err when it does not run alone.
    pub fn variant_owner(&self) -> Result<Option<&dyn Backend>, String> {
        let owner = self.backends.iter().find(|b| b.capabilities().own_variants);
        match owner {
            Some(b) if self.backends.len() > 1 => Err(format!(
                "--backend {} runs alone: run the other backends separately and `detbench merge` the reports",
                b.kind()
            )),
            other => Ok(other.map(|b| b.as_ref())),
        }
    }
}
