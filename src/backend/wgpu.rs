//! The wgpu backend: every Vulkan, Metal and DX12 adapter (Mesa's lavapipe included), with
//! WGSL kernels compiled by naga.
//!
//! # Primitives for kernel families
//!
//! A family's `src/ops/<family>/wgpu.rs` builds on [`WgpuBackend`] like this:
//!
//! ```text
//! b.require(wgpu::Features::SHADER_INT64, "fixed_point needs 64-bit integers")?; // -> Unsupported
//! let src = specialise_family(header, &["reduce"], &["DOT", "V_TREE"])?; // ops::wgsl
//! let p1 = b.pipeline(&src, "tree_pass1")?;              // compiled once per (source, entry)
//! let x = b.storage_from_bytes("x", &bytes)?;             // BadInput past the device limits
//! let out = b.storage_zeroed("out", 8)?;
//! let prm = b.uniform("params", &params)?;                // any bytemuck::Pod value
//! let bg = b.bind_group(&p1, &[(0, &prm), (1, &x), (3, &out)])?;
//! let run = b.execute(&[&out], &[Pass::new(&p1, &bg, [groups, 1, 1])], &[&out])?;
//! // run.outputs[0]: the bytes of `out`; run.ms: device time (see `timer()`)
//! ```
//!
//! - **Specialisation.** WGSL has no preprocessor, yet f64, i64 and float-atomic types must not
//!   reach naga on a device without the feature. The families' preprocessor
//!   (`crate::ops::wgsl`, above this layer) prepends a host-written header (type aliases,
//!   `const`s) and keeps only the `//#if FLAG` blocks whose flags are set.
//! - **Pipelines.** [`WgpuBackend::pipeline`] compiles each distinct source text once (keyed by
//!   its SHA-256) and each (source, entry point) pipeline once, with `layout: None`; bind groups
//!   use the entry point's derived layout, so bind only the bindings that entry point uses.
//! - **Execution.** [`WgpuBackend::execute`] zeroes the `clears` buffers, records the passes in
//!   order in one command buffer (storage writes of one pass are visible to the next), copies
//!   the `reads` buffers to staging buffers, submits, waits and returns their bytes. With
//!   `TIMESTAMP_QUERY` the time is the device's, from the start of the first pass to the end of
//!   the last ([`WgpuBackend::timer`] = "timestamp_query"); otherwise it is the host's time
//!   around submit + wait ("host").
//! - **Errors.** Every call that can fail validation runs inside an error scope and returns
//!   `OpError::Failed` with wgpu's message instead of letting wgpu panic.

use super::{run_kernel, Kernel, KernelApi, RunSet};
use super::{Backend, BackendKind, Capabilities, DeviceInfo, KernelSources, Timer};
use crate::shared::ordering::Ordering;
use crate::error::OpError;
use crate::shared::uploads::Uploads;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wgpu::util::DeviceExt;

/// Optional features detbench asks for whenever the adapter has them, with their names.
pub const OPTIONAL_FEATURES: &[(wgpu::Features, &str)] = &[
    (wgpu::Features::SHADER_F16, "SHADER_F16"),
    (wgpu::Features::SHADER_F64, "SHADER_F64"),
    (wgpu::Features::SHADER_INT64, "SHADER_INT64"),
    (
        wgpu::Features::SHADER_FLOAT32_ATOMIC,
        "SHADER_FLOAT32_ATOMIC",
    ),
    (wgpu::Features::SUBGROUP, "SUBGROUP"),
    (wgpu::Features::SUBGROUP_BARRIER, "SUBGROUP_BARRIER"),
    (
        wgpu::Features::SHADER_INT64_ATOMIC_MIN_MAX,
        "SHADER_INT64_ATOMIC_MIN_MAX",
    ),
    (
        wgpu::Features::SHADER_INT64_ATOMIC_ALL_OPS,
        "SHADER_INT64_ATOMIC_ALL_OPS",
    ),
    (wgpu::Features::TIMESTAMP_QUERY, "TIMESTAMP_QUERY"),
    (
        wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
        "TIMESTAMP_QUERY_INSIDE_ENCODERS",
    ),
];

/// Name of a single feature flag, as listed in [`OPTIONAL_FEATURES`].
pub fn feature_name(f: wgpu::Features) -> String {
    OPTIONAL_FEATURES
        .iter()
        .find(|(g, _)| *g == f)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("{f:?}"))
}

/// One wgpu adapter opened as a device.
pub struct WgpuBackend {
    info: DeviceInfo,
    device: wgpu::Device,
    queue: wgpu::Queue,
    features: wgpu::Features,
    limits: wgpu::Limits,
    modules: Mutex<HashMap<[u8; 32], wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<([u8; 32], String), wgpu::ComputePipeline>>,
    /// Errors no scope caught (wgpu's default handler would panic on them).
    uncaptured: Arc<Mutex<Vec<String>>>,
    /// The last job's input buffers, for the next variant of the same input.
    uploads: Uploads<wgpu::Buffer>,
}

/// One compute dispatch of [`WgpuBackend::execute`].
pub struct Pass<'a> {
    pub pipeline: &'a wgpu::ComputePipeline,
    pub bind_group: &'a wgpu::BindGroup,
    pub workgroups: [u32; 3],
}

impl<'a> Pass<'a> {
    pub fn new(
        pipeline: &'a wgpu::ComputePipeline,
        bind_group: &'a wgpu::BindGroup,
        workgroups: [u32; 3],
    ) -> Self {
        Self {
            pipeline,
            bind_group,
            workgroups,
        }
    }
}

/// What [`WgpuBackend::execute`] returns.
pub struct Execution {
    /// Bytes of every buffer in `reads`, in order.
    pub outputs: Vec<Vec<u8>>,
    /// Milliseconds, taken as [`WgpuBackend::timer`] says.
    pub ms: f64,
}

fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::DiscreteGpu => "discrete_gpu",
        wgpu::DeviceType::IntegratedGpu => "integrated_gpu",
        wgpu::DeviceType::VirtualGpu => "virtual_gpu",
        wgpu::DeviceType::Other => "other",
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// Finds every Vulkan/Metal/DX12 adapter. Usable ones come back as backends, the others as
/// unavailable entries that say why. Never panics.
/// WGSL atomics are relaxed at device scope; shaders are specialised WGSL compiled by naga;
/// times come from timestamp queries where the adapter has them (else host time, which
/// [`WgpuBackend::timer`] names).
pub const CAPABILITIES: Capabilities = Capabilities {
    orderings: &[Ordering::Relaxed],
    kernels: Some(KernelSources {
        folder: "kernels/wgsl",
        compile: "each family's template after kernels/wgsl/common.wgsl, specialised by a host-written header and //#if blocks, compiled by naga for the adapter's API",
    }),
    timer: Timer {
        name: "timestamp_query",
        device_time: true,
        // On a GPU it does not; a CPU device (lavapipe) says so in its device type.
        host_threads: false,
    },
    in_all: true,
    own_variants: false,
};

pub fn discover() -> (Vec<WgpuBackend>, Vec<DeviceInfo>) {
    // Listing Vulkan devices makes Mesa ask libwayland for a display: its complaint about
    // XDG_RUNTIME_DIR must not reach stderr (tests in this process included).
    crate::safety::quiet_window_system();
    let adapters = catch_unwind(|| {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::PRIMARY,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
    });
    let adapters = match adapters {
        Ok(a) => a,
        Err(p) => {
            return (
                Vec::new(),
                vec![DeviceInfo::unavailable(
                    BackendKind::Wgpu,
                    "wgpu",
                    format!("wgpu failed while enumerating adapters: {}", panic_text(p)),
                )],
            )
        }
    };
    if adapters.is_empty() {
        return (
            Vec::new(),
            vec![DeviceInfo::unavailable(
                BackendKind::Wgpu,
                "wgpu",
                "no Vulkan, Metal or DX12 adapter found (on Linux without a GPU, install Mesa's lavapipe: mesa-vulkan-drivers)",
            )],
        );
    }
    let mut found = Vec::new();
    let mut unavailable = Vec::new();
    for (ordinal, adapter) in adapters.into_iter().enumerate() {
        // The adapter's index tells two devices of one name apart in the result key.
        match open(adapter) {
            Ok(mut b) => {
                b.info.details.insert("ordinal".into(), ordinal.into());
                found.push(b)
            }
            Err(mut info) => {
                info.details.insert("ordinal".into(), ordinal.into());
                unavailable.push(*info)
            }
        }
    }
    (found, unavailable)
}

/// The device info of an adapter, before it is opened.
fn describe(adapter: &wgpu::Adapter, features: wgpu::Features) -> DeviceInfo {
    let ai = adapter.get_info();
    let limits = adapter.limits();
    let mut info = DeviceInfo {
        backend: BackendKind::Wgpu.name().into(),
        name: ai.name.clone(),
        available: false,
        driver: format!("{} {}", ai.driver, ai.driver_info)
            .trim()
            .to_string(),
        device_type: device_type_name(ai.device_type).into(),
        features: OPTIONAL_FEATURES
            .iter()
            .filter(|(f, _)| features.contains(*f))
            .map(|(_, n)| n.to_string())
            .collect(),
        ..Default::default()
    };
    let api = format!("{:?}", ai.backend);
    info.details.insert("api".into(), api.into());
    info.details.insert("vendor_id".into(), ai.vendor.into());
    info.details.insert("device_id".into(), ai.device.into());
    if !ai.device_pci_bus_id.is_empty() {
        info.details
            .insert("pci_bus_id".into(), ai.device_pci_bus_id.clone().into());
    }
    for (k, v) in [
        (
            "max_storage_buffer_binding_size",
            limits.max_storage_buffer_binding_size,
        ),
        ("max_buffer_size", limits.max_buffer_size),
        (
            "max_compute_workgroup_size_x",
            limits.max_compute_workgroup_size_x as u64,
        ),
        (
            "max_compute_invocations_per_workgroup",
            limits.max_compute_invocations_per_workgroup as u64,
        ),
        (
            "max_compute_workgroups_per_dimension",
            limits.max_compute_workgroups_per_dimension as u64,
        ),
        (
            "max_compute_workgroup_storage_size",
            limits.max_compute_workgroup_storage_size as u64,
        ),
    ] {
        info.limits.insert(k.into(), v.into());
    }
    info
}

fn open(adapter: wgpu::Adapter) -> Result<WgpuBackend, Box<DeviceInfo>> {
    let wanted = OPTIONAL_FEATURES
        .iter()
        .fold(wgpu::Features::empty(), |a, (f, _)| a | *f);
    let features = adapter.features() & wanted;
    let mut info = describe(&adapter, features);
    let fail = |mut info: DeviceInfo, why: String| {
        info.available = false;
        info.reason = why;
        Box::new(info)
    };
    if !adapter
        .get_downlevel_capabilities()
        .flags
        .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
    {
        return Err(fail(info, "adapter cannot run compute shaders".into()));
    }
    let limits = adapter.limits();
    let request = catch_unwind(AssertUnwindSafe(|| {
        pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("detbench"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
    }));
    let (device, queue) = match request {
        Ok(Ok(dq)) => dq,
        Ok(Err(e)) => return Err(fail(info, format!("request_device failed: {e}"))),
        Err(p) => {
            return Err(fail(
                info,
                format!("request_device panicked: {}", panic_text(p)),
            ))
        }
    };
    let uncaptured = Arc::new(Mutex::new(Vec::new()));
    let sink = uncaptured.clone();
    device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
        if let Ok(mut v) = sink.lock() {
            v.push(e.to_string());
        }
    }));
    info.available = true;
    info.details.insert(
        "timer".into(),
        if features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            "timestamp_query"
        } else {
            "host"
        }
        .into(),
    );
    let mut b = WgpuBackend {
        info,
        device,
        queue,
        features,
        limits,
        modules: Mutex::new(HashMap::new()),
        pipelines: Mutex::new(HashMap::new()),
        uncaptured,
        uploads: Uploads::default(),
    };
    b.info.subnormals = probe_subnormals(&b);
    Ok(b)
}

/// The probe kernel of one format `T`: inputs and outputs as `T` words, so a subnormal
/// reaches the arithmetic exactly as stored, and the compiler cannot fold anything.
/// `o[0] = i[0] * i[1]` (a subnormal operand scaled into the normal range: 0 if operands
/// are flushed), `o[1] = i[2] * i[3]` and `o[2] = i[4] + i[5]` (subnormal results: 0 if
/// results are flushed).
fn probe_source(t: &str) -> String {
    format!(
        "// detbench subnormal probe ({t})\n\
         @group(0) @binding(0) var<storage, read> i: array<{t}>;\n\
         @group(0) @binding(1) var<storage, read_write> o: array<{t}>;\n\
         @compute @workgroup_size(1)\n\
         fn probe() {{\n\
         o[0] = i[0] * i[1];\n\
         o[1] = i[2] * i[3];\n\
         o[2] = i[4] + i[5];\n\
         }}\n"
    )
}

/// Whether the device keeps subnormals in f32 (and f64 where it has SHADER_F64), measured
/// once when the device is opened with [`probe_source`]'s kernel. Vulkan's float-controls
/// properties (shaderDenormPreserveFloat32, ...) are not exposed through wgpu, and a
/// driver may preserve them without promising to, so the behaviour is observed instead.
/// A probe that fails records "unknown: <why>".
pub fn probe_subnormals(b: &WgpuBackend) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    // (powi would overflow computing 2^-140 as 1 / 2^140: subnormals from their bits.)
    let tiny32 = f32::from_bits(1 << 9); // 2^-140
    let tiny64 = f64::from_bits(1 << 40); // 2^-1034
    let f32_in: Vec<u8> = [
        tiny32,
        2f32.powi(20),
        2f32.powi(-100),
        2f32.powi(-40),
        1.5 * 2f32.powi(-126),
        -(2f32.powi(-126)),
    ]
    .iter()
    .flat_map(|v| v.to_le_bytes())
    .collect();
    let f32_want = [2f32.powi(-120), tiny32, 2f32.powi(-127)];
    let r = run_probe(b, "f32", &f32_in, 12).map(|bytes| {
        let got: Vec<f32> = bytes[..12]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        super::subnormal_mode_of(
            got[0] == f32_want[0],
            got[1] == f32_want[1] && got[2] == f32_want[2],
        )
        .to_string()
    });
    out.insert("f32".into(), r.unwrap_or_else(|e| format!("unknown: {e}")));
    if b.has(wgpu::Features::SHADER_F64) {
        let f64_in: Vec<u8> = [
            tiny64,
            2f64.powi(60),
            2f64.powi(-1000),
            2f64.powi(-34),
            1.5 * 2f64.powi(-1022),
            -(2f64.powi(-1022)),
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
        let want = [2f64.powi(-974), tiny64, 2f64.powi(-1023)];
        let r = run_probe(b, "f64", &f64_in, 24).map(|bytes| {
            let got: Vec<f64> = bytes[..24]
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            super::subnormal_mode_of(got[0] == want[0], got[1] == want[1] && got[2] == want[2])
                .to_string()
        });
        out.insert("f64".into(), r.unwrap_or_else(|e| format!("unknown: {e}")));
    }
    out
}

fn run_probe(b: &WgpuBackend, t: &str, input: &[u8], out_bytes: u64) -> Result<Vec<u8>, OpError> {
    let pipeline = b.pipeline(&probe_source(t), "probe")?;
    let i = b.storage_from_bytes("probe in", input)?;
    let o = b.storage_zeroed("probe out", out_bytes)?;
    let bg = b.bind_group(&pipeline, &[(0, &i), (1, &o)])?;
    let ex = b.execute(&[], &[Pass::new(&pipeline, &bg, [1, 1, 1])], &[&o])?;
    ex.outputs
        .into_iter()
        .next()
        .filter(|v| v.len() as u64 >= out_bytes)
        .ok_or_else(|| OpError::Failed("probe returned no output".into()))
}

impl WgpuBackend {
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// Storage buffers of a job's input operands, uploaded once per input ([`Uploads`]).
    pub fn uploads(&self) -> &Uploads<wgpu::Buffer> {
        &self.uploads
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The features the device was opened with.
    pub fn features(&self) -> wgpu::Features {
        self.features
    }

    /// The limits the device was opened with (the adapter's own).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// Whether the adapter is a CPU (lavapipe, WARP, SwiftShader): kernels whose bits do
    /// not depend on their memory walk choose one that a CPU's caches follow.
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == device_type_name(wgpu::DeviceType::Cpu)
    }

    /// Whether the device was measured to keep f32 subnormals, operands and results.
    pub fn keeps_f32_subnormals(&self) -> bool {
        self.info.preserves_subnormals("f32")
    }

    pub fn has(&self, f: wgpu::Features) -> bool {
        self.features.contains(f)
    }

    /// `Unsupported("<why>: needs <FEATURE>, which <device> lacks")` unless every flag in `f`
    /// is present.
    pub fn require(&self, f: wgpu::Features, why: &str) -> Result<(), OpError> {
        let missing = f - self.features;
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = missing.iter().map(feature_name).collect();
        Err(OpError::Unsupported(format!(
            "{why}: needs {}, which {} lacks",
            names.join(" + "),
            self.info.name
        )))
    }

    /// Largest storage buffer this device binds, in bytes.
    pub fn max_storage_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// `BadInput("size N exceeds ...")` when `bytes` cannot be one storage binding.
    pub fn check_storage(&self, size: impl std::fmt::Display, bytes: u64) -> Result<(), OpError> {
        let max = self.max_storage_bytes();
        if bytes > max {
            return Err(OpError::BadInput(format!(
                "size {size} exceeds this device's max storage buffer ({max} bytes; {bytes} needed) on {}",
                self.info.name
            )));
        }
        Ok(())
    }

    /// "timestamp_query" when passes are device-timed, "host" otherwise.
    pub fn timer(&self) -> &'static str {
        if self.has(wgpu::Features::TIMESTAMP_QUERY) {
            "timestamp_query"
        } else {
            "host"
        }
    }

    /// Runs `f` inside validation and out-of-memory error scopes.
    fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T, OpError> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = catch_unwind(AssertUnwindSafe(f));
        let val_err = pollster::block_on(val.pop());
        let oom_err = pollster::block_on(oom.pop());
        let out =
            out.map_err(|p| OpError::Failed(format!("{what}: wgpu panicked: {}", panic_text(p))))?;
        if let Some(e) = val_err.or(oom_err) {
            return Err(OpError::Failed(format!("{what}: {e}")));
        }
        Ok(out)
    }

    /// The compute pipeline of `entry` in the WGSL `source`, compiled once and cached.
    pub fn pipeline(&self, source: &str, entry: &str) -> Result<wgpu::ComputePipeline, OpError> {
        let key: [u8; 32] = Sha256::digest(source.as_bytes()).into();
        let pkey = (key, entry.to_string());
        if let Some(p) = self
            .pipelines
            .lock()
            .ok()
            .and_then(|m| m.get(&pkey).cloned())
        {
            return Ok(p);
        }
        let cached = self.modules.lock().ok().and_then(|m| m.get(&key).cloned());
        let module = match cached {
            Some(m) => m,
            None => {
                let m = self.scoped("WGSL compilation", || {
                    self.device
                        .create_shader_module(wgpu::ShaderModuleDescriptor {
                            label: Some(entry),
                            source: wgpu::ShaderSource::Wgsl(source.into()),
                        })
                })?;
                if let Ok(mut c) = self.modules.lock() {
                    c.insert(key, m.clone());
                }
                m
            }
        };
        let p = self.scoped(&format!("pipeline {entry}"), || {
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
        })?;
        if let Ok(mut c) = self.pipelines.lock() {
            c.insert(pkey, p.clone());
        }
        Ok(p)
    }

    /// A storage buffer holding `bytes` (padded to 4 bytes).
    pub fn storage_from_bytes(&self, label: &str, bytes: &[u8]) -> Result<wgpu::Buffer, OpError> {
        self.check_storage(
            format!("{} bytes ({label})", bytes.len()),
            bytes.len() as u64,
        )?;
        let mut padded = bytes.to_vec();
        padded.resize(bytes.len().next_multiple_of(4).max(4), 0);
        self.scoped(label, || {
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: &padded,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                })
        })
    }

    /// A zero-filled storage buffer of at least `size` bytes.
    pub fn storage_zeroed(&self, label: &str, size: u64) -> Result<wgpu::Buffer, OpError> {
        self.check_storage(format!("{size} bytes ({label})"), size)?;
        self.scoped(label, || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.next_multiple_of(4).max(4),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// A uniform buffer holding `value`.
    pub fn uniform<T: bytemuck::Pod>(
        &self,
        label: &str,
        value: &T,
    ) -> Result<wgpu::Buffer, OpError> {
        self.scoped(label, || {
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::bytes_of(value),
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                })
        })
    }

    /// A bind group for group 0 of `pipeline`: (binding, buffer) pairs.
    pub fn bind_group(
        &self,
        pipeline: &wgpu::ComputePipeline,
        entries: &[(u32, &wgpu::Buffer)],
    ) -> Result<wgpu::BindGroup, OpError> {
        let entries: Vec<wgpu::BindGroupEntry> = entries
            .iter()
            .map(|&(binding, buf)| wgpu::BindGroupEntry {
                binding,
                resource: buf.as_entire_binding(),
            })
            .collect();
        self.scoped("bind group", || {
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            })
        })
    }

    /// Zeroes `clears`, runs `passes` in order, and returns the bytes of `reads` and the time.
    pub fn execute(
        &self,
        clears: &[&wgpu::Buffer],
        passes: &[Pass<'_>],
        reads: &[&wgpu::Buffer],
    ) -> Result<Execution, OpError> {
        // Every run of every wgpu case passes here: the one place to stop on Ctrl-C.
        if crate::interrupt::interrupted() {
            return Err(OpError::Failed(crate::interrupt::STOPPED.into()));
        }
        let timed = self.has(wgpu::Features::TIMESTAMP_QUERY) && !passes.is_empty();
        let (staging, query) = self
            .scoped("submit", || {
                let mut enc = self
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
                for b in clears {
                    enc.clear_buffer(b, 0, None);
                }
                let query = timed.then(|| {
                    let set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
                        label: Some("timestamps"),
                        ty: wgpu::QueryType::Timestamp,
                        count: 2,
                    });
                    let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("timestamp resolve"),
                        size: 16,
                        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: false,
                    });
                    (set, resolve)
                });
                let last = passes.len().saturating_sub(1);
                for (i, p) in passes.iter().enumerate() {
                    let timestamp_writes = query.as_ref().and_then(|(set, _)| {
                        (i == 0 || i == last).then_some(wgpu::ComputePassTimestampWrites {
                            query_set: set,
                            beginning_of_pass_write_index: (i == 0).then_some(0),
                            end_of_pass_write_index: (i == last).then_some(1),
                        })
                    });
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes,
                    });
                    pass.set_pipeline(p.pipeline);
                    pass.set_bind_group(0, p.bind_group, &[]);
                    pass.dispatch_workgroups(p.workgroups[0], p.workgroups[1], p.workgroups[2]);
                }
                let mut sources: Vec<&wgpu::Buffer> = reads.to_vec();
                if let Some((set, resolve)) = &query {
                    enc.resolve_query_set(set, 0..2, resolve, 0);
                    sources.push(resolve);
                }
                let staging: Vec<wgpu::Buffer> = sources
                    .iter()
                    .map(|src| {
                        let s = self.device.create_buffer(&wgpu::BufferDescriptor {
                            label: Some("readback"),
                            size: src.size(),
                            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                            mapped_at_creation: false,
                        });
                        enc.copy_buffer_to_buffer(src, 0, &s, 0, src.size());
                        s
                    })
                    .collect();
                (staging, query.is_some(), enc.finish())
            })
            .map(|(s, q, cmd)| {
                let start = Instant::now();
                self.queue.submit([cmd]);
                ((s, start), q)
            })?;
        let (staging, start) = staging;
        for s in &staging {
            s.slice(..).map_async(wgpu::MapMode::Read, |_| {});
        }
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| OpError::Failed(format!("waiting for the device: {e}")))?;
        let host_ms = start.elapsed().as_secs_f64() * 1e3;
        if let Some(e) = self.uncaptured.lock().ok().and_then(|mut v| v.pop()) {
            return Err(OpError::Failed(format!("wgpu error: {e}")));
        }
        let mut outputs = Vec::with_capacity(staging.len());
        for s in &staging {
            let bytes = s
                .slice(..)
                .get_mapped_range()
                .map_err(|e| OpError::Failed(format!("reading back a buffer: {e}")))?
                .to_vec();
            s.unmap();
            outputs.push(bytes);
        }
        let mut ms = host_ms;
        if query {
            let ts = outputs.pop().unwrap_or_default();
            let t: Vec<u64> = ts
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
                .collect();
            if t.len() == 2 && t[1] >= t[0] {
                let period = self.queue.get_timestamp_period() as f64;
                ms = (t[1] - t[0]) as f64 * period / 1e6;
            }
        }
        Ok(Execution { outputs, ms })
    }
}

/// The wgpu kernels of a family take the backend.
impl KernelApi for WgpuBackend {
    type Output = RunSet;
    const NAME: &'static str = "wgpu";
}

impl Backend for WgpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Wgpu
    }

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn kernel_api(&self) -> &dyn std::any::Any {
        self
    }

    fn run(&self, job: &dyn Kernel) -> Result<RunSet, OpError> {
        self.uploads.job(|| run_kernel(job, self))
    }

    fn kernel_sources(&self) -> Vec<(&'static str, &'static str)> {
        crate::kernels::WGSL.to_vec()
    }

    fn compile_options(&self) -> serde_json::Value {
        serde_json::json!({
            "shader": "WGSL via naga",
            "specialisation": "host-written header (type aliases, consts) + //#if blocks",
            "fma": "not selectable on wgpu",
            "api": self.info.details.get("api").cloned().unwrap_or_default(),
            "wgpu": "30",
        })
    }
}
