//! The CUDA backend: one [`CudaBackend`] per NVIDIA GPU, through cudarc's driver API with
//! NVRTC, both loaded at run time, so detbench builds and runs without a CUDA toolkit and
//! says why CUDA is unavailable instead of failing.
//!
//! # Helpers for kernel families
//!
//! Families (reduce today; scatter, conv and optimizers later) add a `kernels/cuda/<family>.cu`
//! file to [`crate::kernels::CUDA`] and a `src/ops/<family>/cuda.rs` that uses [`CudaDevice`];
//! every module is [`crate::kernels::CUDA_PRELUDE`] (`kernels/cuda/common.cuh`: types,
//! format conversions, accumulator arithmetic, binned-state helpers, ordered atomics)
//! followed by the family's file:
//!
//! - [`CudaDevice::function`] compiles a module once per [`ModuleSpec`] (source path, `--fmad`
//!   choice and `-D` defines, which together are the cache key) with NVRTC for the device's
//!   own architecture (`--gpu-architecture=sm_XY`, a CUBIN: no PTX JIT, so a newer NVRTC than
//!   the driver is no problem) and returns the entry point;
//! - [`CudaDevice::upload`], [`CudaDevice::zeros`], [`CudaDevice::zero`] and
//!   [`CudaDevice::read`] move raw little-endian bytes (use [`crate::numerics::Precision::encode`]
//!   and [`crate::numerics::Precision::decode`]), so one code path serves every format;
//! - [`CudaDevice::timed`] runs launches and returns the device time in milliseconds
//!   (report it with the timer name [`CudaDevice::timer`]);
//! - launch with `device.launch_builder(&f)`, `.arg(..)`, then
//!   `unsafe { builder.launch(cfg) }?` with a `// SAFETY:` comment saying why the argument
//!   list matches the kernel's signature and why every access stays in bounds.
//!
//! [`CudaDevice`] is the same for a real GPU and for the host emulator: it runs on an
//! [`Engine`] ([`driver`]: cudarc and NVRTC; [`emu`]: g++ and `kernels/cuda/emu/`), so the
//! `cuda-emu` backend runs exactly the host code and kernels of the `cuda` backend.
//!
//! Kernels are compiled without CUDA headers (NVRTC may not find them): halves are raw
//! `unsigned short` bits converted with PTX `cvt`, and every rounding step whose order matters
//! is an explicit `__fadd_rn`-style intrinsic so `--fmad` cannot change results.

use super::{run_kernel, BuildTarget, Kernel, KernelApi, RunSet};
use super::{Backend, BackendKind, Capabilities, DeviceInfo, KernelSources, Timer};
use crate::shared::ordering::Ordering;
use crate::error::OpError;
use crate::shared::uploads::Uploads;
use std::sync::Arc;

pub mod driver;
#[cfg(unix)]
pub mod emu;
pub mod engine;
pub mod nvrtc;

pub use driver::{discover, driver_err, TIMER};
pub use engine::{CudaBuf, CudaFn, Engine, LaunchArgs, LaunchConfig};

/// Atomic variants run with each PTX ordering and scope; modules are NVRTC cubins; times
/// are CUDA events around the launches.
pub const CAPABILITIES: Capabilities = Capabilities {
    orderings: &Ordering::CUDA,
    kernels: Some(KernelSources {
        folder: "kernels/cuda",
        compile: "NVRTC to a cubin for the device's sm_XY, kernels/cuda/common.cuh prepended to each family's .cu, one module per set of -D defines and --fmad (see compile_options)",
    }),
    timer: Timer {
        name: TIMER,
        device_time: true,
        host_threads: false,
    },
    in_all: true,
    own_variants: false,
};

/// Options every module is compiled with, before the architecture, `--fmad` and defines.
/// `--ftz=false` keeps subnormals (the CPU emulation keeps them); precise division and
/// square root keep IEEE results should a family use them.
const BASE_OPTIONS: &[&str] = &[
    "-std=c++17",
    "--ftz=false",
    "--prec-div=true",
    "--prec-sqrt=true",
];

/// Identifies one compiled module: the cache key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModuleSpec {
    /// Path of the source in [`crate::kernels::CUDA`].
    pub path: &'static str,
    /// `--fmad=true` lets the compiler contract a*b+c into one fma; kernels whose results
    /// must match the CPU use explicit intrinsics, so this matters only to families that
    /// measure contraction itself (the optimizers).
    pub fmad: bool,
    /// `-DNAME=VALUE` defines, in order.
    pub defines: Vec<(String, String)>,
}

/// What code is compiled for: a compute capability, with or without a device (a
/// [`CudaDevice`] has one; `detbench kernels` and the NVRTC tests name one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CudaTarget {
    pub major: i32,
    pub minor: i32,
}

/// Anything that fixes a compute capability: the specialisation of modules depends on it.
pub trait ComputeCapability {
    fn compute_capability(&self) -> (i32, i32);
}

impl ComputeCapability for CudaTarget {
    fn compute_capability(&self) -> (i32, i32) {
        (self.major, self.minor)
    }
}

impl CudaTarget {
    pub fn new(major: i32, minor: i32) -> Self {
        CudaTarget { major, minor }
    }

    /// (major, minor).
    pub fn cc(&self) -> (i32, i32) {
        (self.major, self.minor)
    }

    /// From `10 * major + minor`, NVRTC's numbering (90 is sm_90).
    pub fn from_number(n: i32) -> Self {
        CudaTarget::new(n / 10, n % 10)
    }

    /// Parses `sm_90`, `sm_100`, `90` or `9.0`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a CUDA architecture (expected e.g. sm_90, 90 or 9.0)");
        let t = s.trim();
        if let Some((a, b)) = t.split_once('.') {
            let major = a.parse::<i32>().map_err(|_| bad())?;
            let minor = b.parse::<i32>().map_err(|_| bad())?;
            if !(1..=99).contains(&major) || !(0..=9).contains(&minor) {
                return Err(bad());
            }
            return Ok(CudaTarget::new(major, minor));
        }
        let digits = t.strip_prefix("sm_").unwrap_or(t);
        if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: i32 = digits.parse().map_err(|_| bad())?;
        Ok(CudaTarget::from_number(n))
    }

    /// The real architecture NVRTC compiles for, e.g. `sm_90`.
    pub fn arch(&self) -> String {
        format!("sm_{}{}", self.major, self.minor)
    }

    /// NVRTC options of a module, exactly as the backend compiles it.
    pub fn options(&self, spec: &ModuleSpec) -> Vec<String> {
        let mut o = vec![format!("--gpu-architecture={}", self.arch())];
        o.extend(BASE_OPTIONS.iter().map(|s| s.to_string()));
        o.push(format!("--fmad={}", spec.fmad));
        o.extend(spec.defines.iter().map(|(k, v)| format!("-D{k}={v}")));
        o
    }
}

/// The complete source NVRTC compiles for `spec`: the shared prelude, then the family. The
/// `#line` directive only renumbers NVRTC's messages to the family file's own lines.
pub fn module_source(spec: &ModuleSpec) -> Result<String, String> {
    let family = crate::kernels::source(spec.path)
        .ok_or_else(|| format!("no embedded kernel source {}", spec.path))?;
    Ok(format!(
        "{}\n#line 1 \"{}\"\n{family}",
        crate::kernels::CUDA_PRELUDE,
        spec.path
    ))
}

/// A module the backend can build for a target and every entry point it looks up in it.
#[derive(Clone, Debug)]
pub struct ModuleBuild {
    pub spec: ModuleSpec,
    pub entries: Vec<String>,
}

/// (input, accumulator) pairs the runner offers: accumulators never narrower than the input,
/// and no f16 accumulator for bf16 data (the rule of `runner`'s plan).
pub fn precision_pairs() -> Vec<(crate::numerics::Precision, crate::numerics::Precision)> {
    use crate::numerics::Precision;
    let all = [
        Precision::F32,
        Precision::F64,
        Precision::F16,
        Precision::Bf16,
    ];
    let mut v = Vec::new();
    for i in all {
        for a in all {
            if a.mantissa_bits() >= i.mantissa_bits()
                && !(a == Precision::F16 && i == Precision::Bf16)
            {
                v.push((i, a));
            }
        }
    }
    v
}

/// The `cuda-emu` backend where the host can run it (see [`emu`]), else why not.
pub fn emu_discover() -> (Vec<CudaBackend>, Vec<DeviceInfo>) {
    #[cfg(unix)]
    return emu::discover();
    #[cfg(not(unix))]
    return (
        Vec::new(),
        vec![DeviceInfo::unavailable(
            BackendKind::CudaEmu,
            "CUDA host emulator",
            "the CUDA host emulator needs a Unix host (fibers, mmap guard pages)",
        )],
    );
}

/// What every CUDA device of compute capability `cc` reports, GPU or emulator: the
/// subnormal modes (every module is compiled with `--ftz=false` and the half atomics use
/// `.noftz`, so the kernels keep subnormals: set from the compile options, not probed), its
/// compute capability and the atomic features it has.
fn device_info(
    kind: BackendKind,
    name: &str,
    driver: String,
    device_type: &str,
    cc: (i32, i32),
) -> DeviceInfo {
    let mut info = DeviceInfo {
        backend: kind.name().into(),
        name: name.into(),
        available: true,
        driver,
        device_type: device_type.into(),
        ..Default::default()
    };
    for f in ["f32", "f64"] {
        info.subnormals
            .insert(f.into(), super::subnormal_mode::PRESERVED.into());
    }
    info.details.insert(
        "compute_capability".into(),
        format!("{}.{}", cc.0, cc.1).into(),
    );
    for (min, feature) in [
        (7, "PTX_MEMORY_MODEL_ATOMICS"),
        (7, "ATOMIC_ADD_F16"),
        (6, "ATOMIC_ADD_F64"),
        (9, "ATOMIC_ADD_BF16"),
    ] {
        if cc.0 >= min {
            info.features.push(feature.into());
        }
    }
    info
}

/// The module [`CudaBackend::compile_options`] shows as its example.
fn example_spec() -> ModuleSpec {
    ModuleSpec {
        path: "kernels/cuda/reduce.cu",
        fmad: false,
        defines: Vec::new(),
    }
}

const PRELUDE_NOTE: &str = "kernels/cuda/common.cuh is prepended to every module's source";
const PER_MODULE_NOTE: &str = "reduce.cu is compiled once per (input, accumulator) pair with -DDB_IN_T, -DDB_ACC_T, -DDB_SUFFIX, -DDB_ORDERED_ATOMICS, -DDB_NATIVE_ATOMIC (and -DDB_REPRO for f32/f64 accumulators, -DDB_ACC_IS_BF16 for bf16); --fmad is part of each module's key";

/// One CUDA device (a GPU, or the host emulator of one): what it compiles for and the
/// [`Engine`] that runs it. Everything `src/ops/*/cuda.rs` does goes through here.
pub struct CudaDevice {
    target: CudaTarget,
    /// Why no module can be compiled for this device, when none can.
    unsupported: Option<String>,
    engine: Box<dyn Engine>,
    /// The last job's input buffers, for the next variant of the same input.
    uploads: Uploads<Arc<CudaBuf>>,
}

impl ComputeCapability for CudaDevice {
    fn compute_capability(&self) -> (i32, i32) {
        self.target.cc()
    }
}

impl CudaDevice {
    pub fn new(target: CudaTarget, unsupported: Option<String>, engine: Box<dyn Engine>) -> Self {
        CudaDevice {
            target,
            unsupported,
            engine,
            uploads: Uploads::default(),
        }
    }

    /// Device buffers of a job's input operands, uploaded once per input ([`Uploads`]).
    pub fn uploads(&self) -> &Uploads<Arc<CudaBuf>> {
        &self.uploads
    }

    /// Compute capability (major, minor).
    pub fn compute_capability(&self) -> (i32, i32) {
        self.target.cc()
    }

    /// What modules are compiled for.
    pub fn target(&self) -> CudaTarget {
        self.target
    }

    /// The real architecture modules are compiled for, e.g. `sm_90`.
    pub fn arch(&self) -> String {
        self.target.arch()
    }

    /// NVRTC options of a module.
    pub fn options(&self, spec: &ModuleSpec) -> Vec<String> {
        self.target.options(spec)
    }

    /// How [`CudaDevice::timed`] measures, as results name it.
    pub fn timer(&self) -> &'static str {
        self.engine.timer()
    }

    /// The entry point `name` of `module`, whose declared entries must include it (the
    /// emulator builds its entry table from them), compiled on first use and cached.
    pub fn function(&self, module: &ModuleBuild, name: &str) -> Result<CudaFn, OpError> {
        if let Some(why) = &self.unsupported {
            return Err(OpError::Unsupported(why.clone()));
        }
        if !module.entries.iter().any(|e| e == name) {
            return Err(OpError::Failed(format!(
                "{name} is not among the entry points declared for {} {:?}",
                module.spec.path, module.spec.defines
            )));
        }
        self.engine.function(self.target, module, name)
    }

    /// Copies bytes to a new device buffer.
    pub fn upload(&self, bytes: &[u8]) -> Result<CudaBuf, OpError> {
        self.engine.upload(bytes)
    }

    /// A new zeroed device buffer of `len` bytes (at least one is allocated).
    pub fn zeros(&self, len: usize) -> Result<CudaBuf, OpError> {
        self.engine.alloc_zeros(len)
    }

    /// Zeroes a buffer (in stream order).
    pub fn zero(&self, buf: &mut CudaBuf) -> Result<(), OpError> {
        self.engine.zero(buf)
    }

    /// Copies a device buffer back (waits for the launches before it).
    pub fn read(&self, buf: &CudaBuf) -> Result<Vec<u8>, OpError> {
        self.engine.read(buf)
    }

    /// Waits for every launch so far.
    pub fn synchronize(&self) -> Result<(), OpError> {
        self.engine.synchronize()
    }

    /// Collects the arguments of a launch of `f`.
    pub fn launch_builder<'a>(&'a self, f: &'a CudaFn) -> LaunchArgs<'a> {
        LaunchArgs::new(self.engine.as_ref(), f)
    }

    /// Runs `launches` (given this device to launch on) and returns the device time in ms.
    pub fn timed(
        &self,
        launches: impl FnOnce(&CudaDevice) -> Result<(), OpError>,
    ) -> Result<f64, OpError> {
        // Every timed run of every CUDA case passes here: the one place to stop on Ctrl-C.
        if crate::interrupt::interrupted() {
            return Err(OpError::Failed(crate::interrupt::STOPPED.into()));
        }
        let mut once = Some(launches);
        self.engine.timed(&mut || match once.take() {
            Some(f) => f(self),
            None => Ok(()),
        })
    }
}

/// A family's CUDA modules are built for a compute capability.
impl BuildTarget for CudaTarget {
    type Module = ModuleBuild;
}

/// One CUDA device as a detbench backend: a GPU (`cuda`) or the host emulator of an sm_90
/// device (`cuda-emu`); both run the same families' host code through [`CudaDevice`].
pub struct CudaBackend {
    kind: BackendKind,
    info: DeviceInfo,
    device: CudaDevice,
    compile_options: serde_json::Value,
}

impl CudaBackend {
    pub fn new(
        kind: BackendKind,
        info: DeviceInfo,
        device: CudaDevice,
        compile_options: serde_json::Value,
    ) -> Self {
        CudaBackend {
            kind,
            info,
            device,
            compile_options,
        }
    }

    pub fn device(&self) -> &CudaDevice {
        &self.device
    }
}

/// The CUDA host code of a family takes the backend.
impl KernelApi for CudaBackend {
    type Output = RunSet;
    const NAME: &'static str = "cuda";
}

impl Backend for CudaBackend {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn kernel_api(&self) -> &dyn std::any::Any {
        self
    }

    fn run(&self, job: &dyn Kernel) -> Result<RunSet, OpError> {
        if let Some(why) = &self.device.unsupported {
            return Err(OpError::Unsupported(why.clone()));
        }
        self.device.uploads.job(|| run_kernel(job, self))
    }

    fn kernel_sources(&self) -> Vec<(&'static str, &'static str)> {
        crate::kernels::CUDA.to_vec()
    }

    fn compile_options(&self) -> serde_json::Value {
        self.compile_options.clone()
    }
}
