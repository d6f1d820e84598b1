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
//! - [`CudaDevice::timed`] runs launches between two CUDA events and returns the device
//!   time in milliseconds (report it with the timer name [`TIMER`]);
//! - launch with `device.stream().launch_builder(&f)`, `.arg(..)`, then
//!   `unsafe { builder.launch(cfg) }` with a `// SAFETY:` comment saying why the argument
//!   list matches the kernel's signature and why every access stays in bounds.
//!
//! Kernels are compiled without CUDA headers (NVRTC may not find them): halves are raw
//! `unsigned short` bits converted with PTX `cvt`, and every rounding step whose order matters
//! is an explicit `__fadd_rn`-style intrinsic so `--fmad` cannot change results.

use super::{run_kernel, BuildTarget, Kernel, KernelApi, RunSet};
use super::{Backend, BackendKind, Capabilities, DeviceInfo, KernelSources, Timer};
use crate::shared::ordering::Ordering;
use crate::error::OpError;
use cudarc::driver::sys::{CUdevice_attribute, CUevent_flags};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub mod nvrtc;

/// Timer name in results: device time between two CUDA events.
pub const TIMER: &str = "cuda_events";

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
    },
    in_all: true,
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

/// One GPU: its context, a stream, and the compiled modules.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    cc: (i32, i32),
    /// Why NVRTC cannot compile for this device, when it cannot.
    unsupported: Option<String>,
    modules: Mutex<HashMap<ModuleSpec, Arc<CudaModule>>>,
}

/// Maps a driver error to a failed case.
pub fn driver_err(what: &str, e: cudarc::driver::DriverError) -> OpError {
    OpError::Failed(format!("CUDA {what}: {e:?}"))
}

impl ComputeCapability for CudaDevice {
    fn compute_capability(&self) -> (i32, i32) {
        self.cc
    }
}

impl CudaDevice {
    /// Compute capability (major, minor).
    pub fn compute_capability(&self) -> (i32, i32) {
        self.cc
    }

    /// What modules are compiled for.
    pub fn target(&self) -> CudaTarget {
        CudaTarget::new(self.cc.0, self.cc.1)
    }

    /// The real architecture NVRTC compiles for, e.g. `sm_90`.
    pub fn arch(&self) -> String {
        self.target().arch()
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// NVRTC options of a module.
    pub fn options(&self, spec: &ModuleSpec) -> Vec<String> {
        self.target().options(spec)
    }

    /// The module for `spec`, compiled on first use and cached.
    pub fn module(&self, spec: &ModuleSpec) -> Result<Arc<CudaModule>, OpError> {
        let mut cache = self
            .modules
            .lock()
            .map_err(|_| OpError::Failed("CUDA module cache poisoned".into()))?;
        if let Some(m) = cache.get(spec) {
            return Ok(m.clone());
        }
        if let Some(why) = &self.unsupported {
            return Err(OpError::Unsupported(why.clone()));
        }
        let src = module_source(spec).map_err(OpError::Failed)?;
        let options = self.options(spec);
        let cubin = nvrtc::compile(spec.path, &src, &options)
            .map_err(OpError::Failed)?
            .cubin;
        let module = self
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
            .map_err(|e| driver_err(&format!("loading {}", spec.path), e))?;
        cache.insert(spec.clone(), module.clone());
        Ok(module)
    }

    /// An entry point of the module for `spec`.
    pub fn function(&self, spec: &ModuleSpec, name: &str) -> Result<CudaFunction, OpError> {
        self.module(spec)?
            .load_function(name)
            .map_err(|e| driver_err(&format!("entry point {name} in {}", spec.path), e))
    }

    /// Copies bytes to a new device buffer.
    pub fn upload(&self, bytes: &[u8]) -> Result<CudaSlice<u8>, OpError> {
        if bytes.is_empty() {
            return self.zeros(1);
        }
        self.stream
            .clone_htod(bytes)
            .map_err(|e| driver_err("upload", e))
    }

    /// A new zeroed device buffer of `len` bytes (at least one).
    pub fn zeros(&self, len: usize) -> Result<CudaSlice<u8>, OpError> {
        self.stream
            .alloc_zeros::<u8>(len.max(1))
            .map_err(|e| driver_err("alloc", e))
    }

    /// Zeroes a buffer (asynchronously, on the stream).
    pub fn zero(&self, buf: &mut CudaSlice<u8>) -> Result<(), OpError> {
        self.stream
            .memset_zeros(buf)
            .map_err(|e| driver_err("memset", e))
    }

    /// Copies a device buffer back (waits for the stream).
    pub fn read(&self, buf: &CudaSlice<u8>) -> Result<Vec<u8>, OpError> {
        self.stream
            .clone_dtoh(buf)
            .map_err(|e| driver_err("readback", e))
    }

    /// Runs `launches` between two events on the stream; returns the device time in ms.
    pub fn timed(
        &self,
        launches: impl FnOnce(&CudaStream) -> Result<(), OpError>,
    ) -> Result<f64, OpError> {
        // Every timed run of every CUDA case passes here: the one place to stop on Ctrl-C.
        if crate::interrupt::interrupted() {
            return Err(OpError::Failed(crate::interrupt::STOPPED.into()));
        }
        let start = self
            .ctx
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(|e| driver_err("event", e))?;
        let end = self
            .ctx
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(|e| driver_err("event", e))?;
        start
            .record(&self.stream)
            .map_err(|e| driver_err("event record", e))?;
        launches(&self.stream)?;
        end.record(&self.stream)
            .map_err(|e| driver_err("event record", e))?;
        let ms = start
            .elapsed_ms(&end)
            .map_err(|e| driver_err("kernel execution", e))?;
        Ok(ms as f64)
    }
}

/// A family's CUDA modules are built for a compute capability.
impl BuildTarget for CudaTarget {
    type Module = ModuleBuild;
}

/// One NVIDIA GPU as a detbench backend.
pub struct CudaBackend {
    info: DeviceInfo,
    device: CudaDevice,
    nvrtc_version: String,
}

impl CudaBackend {
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
        BackendKind::Cuda
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
        run_kernel(job, self)
    }

    fn kernel_sources(&self) -> Vec<(&'static str, &'static str)> {
        crate::kernels::CUDA.to_vec()
    }

    fn compile_options(&self) -> serde_json::Value {
        let example = ModuleSpec {
            path: "kernels/cuda/reduce.cu",
            fmad: false,
            defines: Vec::new(),
        };
        serde_json::json!({
            "compiler": format!("NVRTC {}", self.nvrtc_version),
            "output": "cubin",
            "arch": self.device.arch(),
            "options": self.device.options(&example),
            "prelude": "kernels/cuda/common.cuh is prepended to every module's source",
            "per_module": "reduce.cu is compiled once per (input, accumulator) pair with -DDB_IN_T, -DDB_ACC_T, -DDB_SUFFIX, -DDB_ORDERED_ATOMICS, -DDB_NATIVE_ATOMIC (and -DDB_REPRO for f32/f64 accumulators, -DDB_ACC_IS_BF16 for bf16); --fmad is part of each module's key",
        })
    }
}

/// Runs `f` with panics caught and the panic message kept quiet: cudarc panics (rather than
/// returning an error) when a library or a symbol is missing.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into())
    })
}

fn unavailable(reason: impl Into<String>) -> DeviceInfo {
    DeviceInfo::unavailable(BackendKind::Cuda, "cuda", reason)
}

/// Finds every CUDA GPU. Each usable one becomes a backend; when CUDA cannot be used at
/// all (no driver, no NVRTC, no device) one unavailable entry says why.
pub fn discover() -> (Vec<CudaBackend>, Vec<DeviceInfo>) {
    let nvrtc = nvrtc::available();
    // SAFETY: only tries to dlopen the candidate library names; no CUDA call is made.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        let reason = match nvrtc {
            Ok(n) => format!(
                "driver unavailable (libcuda.so not found: no NVIDIA driver), NVRTC {} available (targets {}; `detbench kernels` compiles without a GPU)",
                n.version_string(),
                n.arch_list()
            ),
            Err(why) => format!("driver unavailable (libcuda.so not found: no NVIDIA driver); {why}"),
        };
        return (Vec::new(), vec![unavailable(reason)]);
    }
    let nvrtc = match nvrtc {
        Ok(n) => n,
        Err(why) => return (Vec::new(), vec![unavailable(why)]),
    };
    match guarded(|| discover_devices(nvrtc)) {
        Ok(Ok(found)) => found,
        Ok(Err(reason)) => (Vec::new(), vec![unavailable(reason)]),
        Err(panic) => (
            Vec::new(),
            vec![unavailable(format!("CUDA initialisation failed: {panic}"))],
        ),
    }
}

fn discover_devices(nvrtc: &nvrtc::Nvrtc) -> Result<(Vec<CudaBackend>, Vec<DeviceInfo>), String> {
    use cudarc::driver::result;
    result::init().map_err(|e| format!("cuInit failed: {e:?}"))?;
    let count = CudaContext::device_count().map_err(|e| format!("cuDeviceGetCount: {e:?}"))?;
    if count <= 0 {
        return Err("the NVIDIA driver reports no CUDA device".into());
    }
    let mut driver = 0i32;
    // SAFETY: `driver` is a valid out-pointer; cuInit succeeded above.
    let driver_version =
        match unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut driver) }.result() {
            Ok(()) => format!("{}.{}", driver / 1000, (driver % 1000) / 10),
            Err(e) => format!("unknown ({e:?})"),
        };
    // NVML is optional: it only adds live readings. Its loader returns an error, not a
    // panic, when libnvidia-ml is missing.
    let nvml = nvml_wrapper::Nvml::init().ok();
    let mut backends = Vec::new();
    let mut infos = Vec::new();
    for ordinal in 0..count as usize {
        match open_device(ordinal, &driver_version, nvrtc, nvml.as_ref()) {
            Ok(b) => backends.push(b),
            Err(reason) => infos.push(DeviceInfo::unavailable(
                BackendKind::Cuda,
                &format!("cuda:{ordinal}"),
                reason,
            )),
        }
    }
    Ok((backends, infos))
}

fn open_device(
    ordinal: usize,
    driver_version: &str,
    nvrtc: &nvrtc::Nvrtc,
    nvml: Option<&nvml_wrapper::Nvml>,
) -> Result<CudaBackend, String> {
    let nvrtc_version = nvrtc.version_string();
    let ctx = CudaContext::new(ordinal).map_err(|e| format!("cannot open device: {e:?}"))?;
    let name = ctx.name().unwrap_or_else(|_| format!("cuda:{ordinal}"));
    let cc = ctx
        .compute_capability()
        .map_err(|e| format!("compute capability: {e:?}"))?;
    let attr = |a: CUdevice_attribute| ctx.attribute(a).ok();
    let mut info = DeviceInfo {
        backend: "cuda".into(),
        name: name.clone(),
        available: true,
        driver: format!("NVIDIA driver, CUDA {driver_version}"),
        device_type: "discrete_gpu".into(),
        ..Default::default()
    };
    // Every module is compiled with --ftz=false and the half atomics use .noftz, so the
    // kernels keep subnormals (set here from the compile options, not probed).
    for f in ["f32", "f64"] {
        info.subnormals
            .insert(f.into(), super::subnormal_mode::PRESERVED.into());
    }
    let d = &mut info.details;
    d.insert("ordinal".into(), ordinal.into());
    // The PCI address names the board however CUDA_VISIBLE_DEVICES numbers it: the result
    // key uses it to tell two devices of one name apart.
    {
        use CUdevice_attribute::*;
        if let (Some(dom), Some(bus), Some(dev)) = (
            attr(CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID),
            attr(CU_DEVICE_ATTRIBUTE_PCI_BUS_ID),
            attr(CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID),
        ) {
            d.insert(
                "pci_bus_id".into(),
                format!("{dom:04x}:{bus:02x}:{dev:02x}.0").into(),
            );
        }
    }
    d.insert(
        "compute_capability".into(),
        format!("{}.{}", cc.0, cc.1).into(),
    );
    d.insert("cuda_driver_version".into(), driver_version.into());
    d.insert("nvrtc_version".into(), nvrtc_version.clone().into());
    // A device NVRTC cannot target stays listed; every case on it is `unsupported`.
    let unsupported = (!nvrtc.supports(cc)).then(|| {
        format!(
            "NVRTC {nvrtc_version} cannot compile for sm_{}{} (it targets {})",
            cc.0,
            cc.1,
            nvrtc.arch_list()
        )
    });
    if let Some(why) = &unsupported {
        d.insert("unsupported".into(), why.clone().into());
    }
    use CUdevice_attribute::*;
    for (key, a) in [
        ("sm_count", CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
        ("clock_rate_khz", CU_DEVICE_ATTRIBUTE_CLOCK_RATE),
        (
            "memory_clock_rate_khz",
            CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE,
        ),
        (
            "memory_bus_width_bits",
            CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH,
        ),
        ("l2_cache_bytes", CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE),
    ] {
        if let Some(v) = attr(a) {
            d.insert(key.into(), v.into());
        }
    }
    if let Ok(mem) = ctx.total_mem() {
        d.insert("memory_bytes".into(), (mem as u64).into());
    }
    for (key, a) in [
        (
            "max_threads_per_block",
            CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
        ),
        (
            "max_shared_memory_per_block",
            CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK,
        ),
    ] {
        if let Some(v) = attr(a) {
            info.limits.insert(key.into(), v.into());
        }
    }
    if cc.0 >= 7 {
        info.features.push("PTX_MEMORY_MODEL_ATOMICS".into());
        info.features.push("ATOMIC_ADD_F16".into());
    }
    if cc.0 >= 6 {
        info.features.push("ATOMIC_ADD_F64".into());
    }
    if cc.0 >= 9 {
        info.features.push("ATOMIC_ADD_BF16".into());
    }
    if let Some(nvml) = nvml {
        if let Ok(uuid) = ctx.uuid() {
            nvml_readings(nvml, &uuid_string(&uuid.bytes), &mut info);
        }
    }
    let stream = ctx.default_stream();
    Ok(CudaBackend {
        info,
        device: CudaDevice {
            ctx,
            stream,
            cc,
            unsupported,
            modules: Mutex::new(HashMap::new()),
        },
        nvrtc_version,
    })
}

/// NVML's form of a device UUID: `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
fn uuid_string(bytes: &[std::ffi::c_char; 16]) -> String {
    let h: Vec<String> = bytes.iter().map(|&b| format!("{:02x}", b as u8)).collect();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

/// Live readings, where NVML offers them (matched by UUID, since CUDA and NVML may number
/// devices differently).
fn nvml_readings(nvml: &nvml_wrapper::Nvml, uuid: &str, info: &mut DeviceInfo) {
    use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
    let Ok(dev) = nvml.device_by_uuid(uuid) else {
        return;
    };
    let d = &mut info.details;
    d.insert("uuid".into(), uuid.into());
    if let Ok(v) = nvml.sys_driver_version() {
        d.insert("nvidia_driver_version".into(), v.clone().into());
        info.driver = format!("NVIDIA {v}, {}", info.driver);
    }
    if let Ok(t) = dev.temperature(TemperatureSensor::Gpu) {
        d.insert("temperature_c".into(), t.into());
    }
    if let Ok(p) = dev.power_usage() {
        d.insert("power_w".into(), (p as f64 / 1000.0).into());
    }
    if let Ok(p) = dev.power_management_limit() {
        d.insert("power_limit_w".into(), (p as f64 / 1000.0).into());
    }
    if let Ok(c) = dev.clock_info(Clock::SM) {
        d.insert("sm_clock_mhz".into(), c.into());
    }
    if let Ok(c) = dev.clock_info(Clock::Memory) {
        d.insert("memory_clock_mhz".into(), c.into());
    }
    if let Ok(c) = dev.max_clock_info(Clock::SM) {
        d.insert("max_sm_clock_mhz".into(), c.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_formats_like_nvml() {
        let mut b = [0 as std::ffi::c_char; 16];
        for (i, v) in b.iter_mut().enumerate() {
            *v = (i as u8 * 17) as std::ffi::c_char;
        }
        assert_eq!(uuid_string(&b), "GPU-00112233-4455-6677-8899-aabbccddeeff");
    }
}
