//! The seam's real-GPU side: [`DriverEngine`] runs the CUDA host code on an NVIDIA GPU
//! through cudarc's driver API (modules compiled by NVRTC to CUBINs), and [`discover`]
//! finds the GPUs, saying why CUDA is unavailable where it is.

use super::engine::{CudaBuf, CudaFn, Engine, KernelArg, LaunchConfig};
use super::{nvrtc, CudaBackend, CudaDevice, CudaTarget, ModuleBuild, ModuleSpec};
use crate::backend::{BackendKind, DeviceInfo};
use crate::error::OpError;
use cudarc::driver::sys::{CUdevice_attribute, CUevent_flags};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, PushKernelArg};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Timer name in results: device time between two CUDA events.
pub const TIMER: &str = "cuda_events";

/// Maps a driver error to a failed case.
pub fn driver_err(what: &str, e: cudarc::driver::DriverError) -> OpError {
    OpError::Failed(format!("CUDA {what}: {e:?}"))
}

/// One GPU: its context, a stream, and the modules compiled for it.
pub struct DriverEngine {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<ModuleSpec, Arc<CudaModule>>>,
}

impl DriverEngine {
    fn module(&self, target: CudaTarget, spec: &ModuleSpec) -> Result<Arc<CudaModule>, OpError> {
        let mut cache = self
            .modules
            .lock()
            .map_err(|_| OpError::Failed("CUDA module cache poisoned".into()))?;
        if let Some(m) = cache.get(spec) {
            return Ok(m.clone());
        }
        let src = super::module_source(spec).map_err(OpError::Failed)?;
        let cubin = nvrtc::compile(spec.path, &src, &target.options(spec))
            .map_err(OpError::Failed)?
            .cubin;
        let module = self
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
            .map_err(|e| driver_err(&format!("loading {}", spec.path), e))?;
        cache.insert(spec.clone(), module.clone());
        Ok(module)
    }
}

impl Engine for DriverEngine {
    fn alloc_zeros(&self, len: usize) -> Result<CudaBuf, OpError> {
        let s = self
            .stream
            .alloc_zeros::<u8>(len.max(1))
            .map_err(|e| driver_err("alloc", e))?;
        Ok(CudaBuf::new(len, Box::new(s)))
    }

    fn upload(&self, bytes: &[u8]) -> Result<CudaBuf, OpError> {
        if bytes.is_empty() {
            return self.alloc_zeros(0);
        }
        let s = self
            .stream
            .clone_htod(bytes)
            .map_err(|e| driver_err("upload", e))?;
        Ok(CudaBuf::new(bytes.len(), Box::new(s)))
    }

    fn zero(&self, buf: &mut CudaBuf) -> Result<(), OpError> {
        let s = buf.mem_mut::<CudaSlice<u8>>()?;
        self.stream
            .memset_zeros(s)
            .map_err(|e| driver_err("memset", e))
    }

    fn read(&self, buf: &CudaBuf) -> Result<Vec<u8>, OpError> {
        let mut v = self
            .stream
            .clone_dtoh(buf.mem::<CudaSlice<u8>>()?)
            .map_err(|e| driver_err("readback", e))?;
        v.truncate(buf.len());
        Ok(v)
    }

    fn function(
        &self,
        target: CudaTarget,
        module: &ModuleBuild,
        name: &str,
    ) -> Result<CudaFn, OpError> {
        let f = self
            .module(target, &module.spec)?
            .load_function(name)
            .map_err(|e| driver_err(&format!("entry point {name} in {}", module.spec.path), e))?;
        Ok(CudaFn::new(name, Arc::new(f)))
    }

    unsafe fn launch(
        &self,
        f: &CudaFn,
        cfg: &LaunchConfig,
        args: &[KernelArg<'_>],
    ) -> Result<(), OpError> {
        let func = f.handle::<CudaFunction>()?;
        let mut b = self.stream.launch_builder(func);
        for a in args {
            match a {
                KernelArg::Buf(buf) => b.arg(buf.mem::<CudaSlice<u8>>()?),
                KernelArg::U64(v) => b.arg(v),
                KernelArg::U32(v) => b.arg(v),
                KernelArg::I32(v) => b.arg(v),
                KernelArg::F32(v) => b.arg(v),
                KernelArg::F64(v) => b.arg(v),
            };
        }
        let c = cudarc::driver::LaunchConfig {
            grid_dim: cfg.grid_dim,
            block_dim: cfg.block_dim,
            shared_mem_bytes: cfg.shared_mem_bytes,
        };
        // SAFETY: the caller guarantees the arguments match the kernel's signature and every
        // access stays in bounds; each buffer argument is a live CudaSlice of this context.
        unsafe { b.launch(c) }
            .map(|_| ())
            .map_err(|e| driver_err(&format!("launch of {}", f.name()), e))
    }

    fn timed(&self, launches: &mut dyn FnMut() -> Result<(), OpError>) -> Result<f64, OpError> {
        let event = || {
            self.ctx
                .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(|e| driver_err("event", e))
        };
        let (start, end) = (event()?, event()?);
        start
            .record(&self.stream)
            .map_err(|e| driver_err("event record", e))?;
        launches()?;
        end.record(&self.stream)
            .map_err(|e| driver_err("event record", e))?;
        let ms = start
            .elapsed_ms(&end)
            .map_err(|e| driver_err("kernel execution", e))?;
        Ok(ms as f64)
    }

    fn synchronize(&self) -> Result<(), OpError> {
        self.stream
            .synchronize()
            .map_err(|e| driver_err("synchronize", e))
    }

    fn timer(&self) -> &'static str {
        TIMER
    }
}

/// Runs `f` with a panic caught: cudarc panics (rather than returning an error) when a
/// library symbol is missing. The process's panic hook is left alone (it is global state
/// that parallel callers would race on), so such a panic's message is printed once.
fn caught<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
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
    match caught(|| discover_devices(nvrtc)) {
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
    let mut info = super::device_info(
        BackendKind::Cuda,
        &name,
        format!("NVIDIA driver, CUDA {driver_version}"),
        "discrete_gpu",
        cc,
    );
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
    if let Some(nvml) = nvml {
        if let Ok(uuid) = ctx.uuid() {
            nvml_readings(nvml, &uuid_string(&uuid.bytes), &mut info);
        }
    }
    let stream = ctx.default_stream();
    let engine = DriverEngine {
        ctx,
        stream,
        modules: Mutex::new(HashMap::new()),
    };
    let device = CudaDevice::new(CudaTarget::new(cc.0, cc.1), unsupported, Box::new(engine));
    let options = device.target().options(&super::example_spec());
    let compile = serde_json::json!({
        "compiler": format!("NVRTC {nvrtc_version}"),
        "output": "cubin",
        "arch": device.arch(),
        "options": options,
        "prelude": super::PRELUDE_NOTE,
        "per_module": super::PER_MODULE_NOTE,
    });
    Ok(CudaBackend::new(BackendKind::Cuda, info, device, compile))
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
