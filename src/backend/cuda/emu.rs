//! The seam's emulator side: [`EmuEngine`] runs the CUDA host code of `src/ops/*/cuda.rs`
//! and the kernels of `kernels/cuda/` on the host, as the `cuda-emu` backend. Each module
//! (common.cuh and one family's `.cu`, with exactly the `-D` defines NVRTC gets) is built by
//! g++ against the execution-model emulation of `kernels/cuda/emu/` (blocks shared out to
//! worker threads, each CUDA thread a fiber, `__syncthreads`, shared memory, the ordered
//! atomics as C++ atomics), loaded as a shared library and launched on buffers that end
//! against an inaccessible page, so an access past a buffer fails the launch with the
//! kernel, block and thread.
//!
//! The device is an sm_90 GPU (ordered atomics, native f16/bf16 atomic adds, tensor cores),
//! so every variant the cuda backend offers there runs. Its times are host wall-clock time
//! of the emulation (timer [`TIMER`]), not a GPU's: it checks host code and results, it
//! measures nothing about a device.
//!
//! Each module's entry table is generated from the entries its family declares
//! ([`ModuleBuild::entries`]), so a declared entry the `.cu` lacks fails the build, and a
//! kernel the host never declared cannot be launched.
//!
//! Built modules are cached on disk (see [`cache_dir`]), keyed by a hash of every source,
//! the g++ command and the entry table, so only a changed module is rebuilt.

use super::engine::{CudaBuf, CudaFn, Engine, KernelArg, LaunchConfig};
use super::{CudaBackend, CudaDevice, CudaTarget, ModuleBuild, ModuleSpec};
use crate::backend::{BackendKind, DeviceInfo};
use crate::error::OpError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// Timer name in results: host wall-clock time of the emulation (not a device's time).
pub const TIMER: &str = "emulator";

/// The compute capability the emulator presents.
pub const TARGET: CudaTarget = CudaTarget { major: 9, minor: 0 };

/// Environment variable naming the folder built modules are cached in.
pub const CACHE_ENV: &str = "DETBENCH_CUDA_EMU_CACHE";

/// Most threads one emulated launch may have: every thread is a fiber, and larger launches
/// take minutes (choose a smaller size for `cuda-emu`).
pub const MAX_THREADS_PER_LAUNCH: u64 = 1 << 21;

/// The emulation's sources, beside the kernels in [`crate::kernels::CUDA`].
const HOST_HEADER: (&str, &str) = (
    "kernels/cuda/emu/cuda_host.h",
    include_str!("../../../kernels/cuda/emu/cuda_host.h"),
);
const MODULE_CPP: (&str, &str) = (
    "kernels/cuda/emu/module.cpp",
    include_str!("../../../kernels/cuda/emu/module.cpp"),
);

/// The folder built modules are cached in: [`CACHE_ENV`], else `$XDG_CACHE_HOME` or
/// `~/.cache`, under `detbench/cuda-emu`, else the temporary folder.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(CACHE_ENV) {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("detbench").join("cuda-emu")
}

/// g++'s version line, or why there is no usable g++.
fn gxx_version() -> Result<String, String> {
    let out = Command::new("g++")
        .arg("--version")
        .output()
        .map_err(|e| format!("g++ not found ({e}); the CUDA host emulator is built with g++"))?;
    if !out.status.success() {
        return Err("`g++ --version` failed; the CUDA host emulator is built with g++".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("g++")
        .trim()
        .to_string())
}

/// The emulator as a backend: one device where g++ is, else one unavailable entry saying why.
pub fn discover() -> (Vec<CudaBackend>, Vec<DeviceInfo>) {
    match open(cache_dir()) {
        Ok(b) => (vec![b], Vec::new()),
        Err(why) => (
            Vec::new(),
            vec![DeviceInfo::unavailable(
                BackendKind::CudaEmu,
                "CUDA host emulator",
                why,
            )],
        ),
    }
}

/// The emulator backend, caching modules in `cache`.
pub fn open(cache: PathBuf) -> Result<CudaBackend, String> {
    let gxx = gxx_version()?;
    let mut info = super::device_info(
        BackendKind::CudaEmu,
        &format!("CUDA host emulator ({})", TARGET.arch()),
        format!("{gxx}, kernels/cuda/emu"),
        "emulator",
        TARGET.cc(),
    );
    let d = &mut info.details;
    d.insert(
        "emulator".into(),
        "CUDA's execution model on the host (fibers, barriers, C++ atomics); times are emulator wall-clock time, not a GPU's".into(),
    );
    d.insert("workers".into(), workers().into());
    info.limits.insert(
        "max_threads_per_launch".into(),
        MAX_THREADS_PER_LAUNCH.into(),
    );
    info.limits
        .insert("max_threads_per_block".into(), 1024.into());
    info.limits
        .insert("max_shared_memory_per_block".into(), (48 * 1024).into());
    let device = CudaDevice::new(TARGET, None, Box::new(EmuEngine { cache }));
    let compile = serde_json::json!({
        "compiler": gxx,
        "output": "shared library (host emulation)",
        "arch": TARGET.arch(),
        "options": gxx_args(&super::example_spec()),
        "prelude": super::PRELUDE_NOTE,
        "per_module": "each module is built with the defines the cuda backend gives NVRTC, -include kernels/cuda/emu/cuda_host.h, and an entry table generated from the family's declared entry points",
    });
    Ok(CudaBackend::new(
        BackendKind::CudaEmu,
        info,
        device,
        compile,
    ))
}

/// Worker threads a launch's blocks are shared out to (`DB_EMU_WORKERS`, default 2).
fn workers() -> u32 {
    std::env::var("DB_EMU_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2)
}

/// g++ arguments of a module, without the paths (the same on every machine, so they key
/// the cache).
fn gxx_args(spec: &ModuleSpec) -> Vec<String> {
    let mut a: Vec<String> = [
        "-std=c++20",
        "-O1",
        "-fPIC",
        "-shared",
        "-pthread",
        "-fvisibility=hidden",
        "-fno-gnu-unique",
        "-Werror",
        "-Wall",
        "-Wno-unused-function",
        "-Wno-unused-variable",
        "-Wno-unused-but-set-variable",
        "-Wno-unknown-pragmas",
        "-DDB_HOST_EMU",
    ]
    .map(String::from)
    .to_vec();
    // --fmad=true lets NVCC contract a*b+c into an fma; the host does the same (GCC forms
    // fmas in a pass that -O1 leaves out: -fexpensive-optimizations turns it on).
    if spec.fmad {
        a.extend(["-ffp-contract=fast", "-mfma", "-fexpensive-optimizations"].map(String::from));
    } else {
        a.push("-ffp-contract=off".into());
    }
    a.extend(spec.defines.iter().map(|(k, v)| format!("-D{k}={v}")));
    a
}

/// The generated part of a module: which family it includes and its entry table.
fn generated(module: &ModuleBuild) -> (String, String) {
    let family = format!(
        "// Generated by src/backend/cuda/emu.rs: the family of this module.\n#include \"{}\"\n",
        module.spec.path
    );
    let mut entries = String::from(
        "// Generated by src/backend/cuda/emu.rs from the entry points the family declares.\n",
    );
    for e in &module.entries {
        entries += &format!("DB_EMU_REG({e})\n");
    }
    (family, entries)
}

/// Writes `files` (path, text) under `dir` unless it exists, atomically (a temporary folder
/// renamed into place, so a concurrent builder sees all of it or none).
fn write_tree(dir: &Path, files: &[(String, &str)]) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().ok_or("no parent folder")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    for (path, text) in files {
        let p = tmp.path().join(path);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let tmp = tmp.keep();
    if std::fs::rename(&tmp, dir).is_err() {
        // Another builder got there first with the same content.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}

fn hash_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..12])
}

/// Builds (or finds in `cache`) the shared library of `module`; returns its path.
fn build(cache: &Path, module: &ModuleBuild) -> Result<PathBuf, String> {
    let mut sources: Vec<(String, &str)> = crate::kernels::CUDA
        .iter()
        .chain([HOST_HEADER, MODULE_CPP].iter())
        .map(|(p, s)| (p.to_string(), *s))
        .collect();
    sources.sort();
    let flat: Vec<&str> = sources.iter().flat_map(|(p, s)| [p.as_str(), *s]).collect();
    let src_dir = cache.join(format!("src-{}", hash_of(&flat)));
    write_tree(&src_dir, &sources)?;
    let args = gxx_args(&module.spec);
    let (family, entries) = generated(module);
    let mut key_parts: Vec<&str> = flat.clone();
    key_parts.extend(args.iter().map(String::as_str));
    key_parts.extend([family.as_str(), entries.as_str()]);
    let key = hash_of(&key_parts);
    let stem = Path::new(module.spec.path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("module");
    let so = cache.join(format!("{stem}-{key}.so"));
    if so.exists() {
        return Ok(so);
    }
    let gen_dir = cache.join(format!("gen-{key}"));
    write_tree(
        &gen_dir,
        &[
            ("db_emu_family.inc".into(), &family),
            ("db_emu_entries.inc".into(), &entries),
        ],
    )?;
    let tmp = cache.join(format!(
        ".{stem}-{key}.{}.{:?}.tmp",
        std::process::id(),
        std::thread::current().id()
    ));
    let out = Command::new("g++")
        .current_dir(&src_dir)
        .args(&args)
        .arg("-I")
        .arg(&src_dir)
        .arg("-I")
        .arg(&gen_dir)
        .args(["-include", HOST_HEADER.0, MODULE_CPP.0, "-o"])
        .arg(&tmp)
        .output()
        .map_err(|e| format!("cannot run g++: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "g++ failed on {} {:?}:\n{}",
            module.spec.path,
            module.spec.defines,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::rename(&tmp, &so).map_err(|e| format!("{}: {e}", so.display()))?;
    Ok(so)
}

type EntriesFn = unsafe extern "C" fn(*mut c_char, usize) -> usize;
type LaunchFn = unsafe extern "C" fn(
    *const c_char,
    *const u32,
    *const u32,
    usize,
    *const u64,
    u32,
    *mut c_char,
    usize,
) -> i32;

/// `db_emu_set_math(expf, logf, exp, log)` of module.cpp.
type SetMathFn = unsafe extern "C" fn(
    extern "C" fn(f32) -> f32,
    extern "C" fn(f32) -> f32,
    extern "C" fn(f64) -> f64,
    extern "C" fn(f64) -> f64,
);
extern "C" fn host_expf(x: f32) -> f32 {
    libm::expf(x)
}
extern "C" fn host_logf(x: f32) -> f32 {
    libm::logf(x)
}
extern "C" fn host_exp(x: f64) -> f64 {
    libm::exp(x)
}
extern "C" fn host_log(x: f64) -> f64 {
    libm::log(x)
}

/// One built module, loaded for the rest of the process (its fault handler stays chained
/// into the process's, so it is never unloaded).
pub struct EmuModule {
    entries: Vec<String>,
    launch: LaunchFn,
    _lib: libloading::Library,
}

/// The modules loaded in this process, by library path: shared by every emulator backend,
/// each built and loaded once.
type Loaded = Arc<OnceLock<Result<Arc<EmuModule>, String>>>;
fn loaded() -> &'static Mutex<HashMap<PathBuf, Loaded>> {
    static L: OnceLock<Mutex<HashMap<PathBuf, Loaded>>> = OnceLock::new();
    L.get_or_init(Default::default)
}

fn load(so: &Path) -> Result<EmuModule, String> {
    // SAFETY: the library is module.cpp built by `build`; loading it runs only its static
    // initialisers (the entry table).
    let lib = unsafe { libloading::Library::new(so) }
        .map_err(|e| format!("cannot load {}: {e}", so.display()))?;
    // SAFETY: both symbols are module.cpp's C functions with exactly these signatures.
    let (entries_fn, launch) = unsafe {
        (
            *lib.get::<EntriesFn>(b"db_emu_entries\0")
                .map_err(|e| e.to_string())?,
            *lib.get::<LaunchFn>(b"db_emu_launch\0")
                .map_err(|e| e.to_string())?,
        )
    };
    // The emulated device's exp and log are this process's (the cpu backend's libm), so
    // log_softmax's ordered passes compare with the cpu rows bit for bit (cuda_host.h).
    // SAFETY: module.cpp's C function with exactly this signature; it only stores the
    // pointers, and no launch of this freshly loaded module can be running.
    unsafe {
        let set_math = *lib
            .get::<SetMathFn>(b"db_emu_set_math\0")
            .map_err(|e| e.to_string())?;
        set_math(host_expf, host_logf, host_exp, host_log);
    }
    // SAFETY: a null buffer asks only for the length needed.
    let need = unsafe { entries_fn(std::ptr::null_mut(), 0) };
    let mut buf = vec![0u8; need.max(1)];
    // SAFETY: buf is writable for its length; the function writes a NUL-terminated list.
    unsafe { entries_fn(buf.as_mut_ptr() as *mut c_char, buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let entries = String::from_utf8_lossy(&buf[..end])
        .lines()
        .map(String::from)
        .collect();
    Ok(EmuModule {
        entries,
        launch,
        _lib: lib,
    })
}

impl EmuModule {
    /// The entry points the module defines (its generated table and the emulator's probes).
    pub fn entries(&self) -> &[String] {
        &self.entries
    }
}

/// A device buffer of the emulator: a private mapping with the buffer's 256-byte-rounded
/// end against an inaccessible page (and one before it), 256-byte aligned like cuMemAlloc's.
struct EmuMem {
    map: *mut libc::c_void,
    map_len: usize,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; the engine reads and writes it only
// between launches, which are synchronous.
unsafe impl Send for EmuMem {}
// SAFETY: as above: no two threads touch it at once through this type.
unsafe impl Sync for EmuMem {}

const PAGE: usize = 4096;

impl EmuMem {
    fn new(len: usize) -> Result<EmuMem, OpError> {
        let used = len.max(1).div_ceil(256) * 256;
        let body = used.div_ceil(PAGE) * PAGE;
        let map_len = body + 2 * PAGE;
        // SAFETY: an anonymous private mapping of map_len bytes; no existing memory is
        // touched.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(OpError::Failed(format!(
                "emulated device allocation of {len} bytes failed"
            )));
        }
        let base = map as *mut u8;
        // SAFETY: both guard pages lie inside the mapping just made.
        let guarded = unsafe {
            libc::mprotect(map, PAGE, libc::PROT_NONE) == 0
                && libc::mprotect(base.add(PAGE + body) as *mut _, PAGE, libc::PROT_NONE) == 0
        };
        // SAFETY: PAGE + body - used <= PAGE + body, inside the mapping.
        let ptr = unsafe { base.add(PAGE + body - used) };
        let mem = EmuMem {
            map,
            map_len,
            ptr,
            len,
        };
        if !guarded {
            return Err(OpError::Failed("cannot place a guard page".into()));
        }
        Ok(mem)
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: ptr points to at least len readable bytes of this mapping.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for EmuMem {
    fn drop(&mut self) {
        // SAFETY: the mapping came from mmap with this length and is unmapped once.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

/// An entry point: its module and its name.
struct EmuFn {
    module: Arc<EmuModule>,
    name: CString,
}

/// The host emulator of an sm_90 device.
pub struct EmuEngine {
    cache: PathBuf,
}

impl EmuEngine {
    /// The loaded module of `module`, built on first use.
    pub fn module(&self, module: &ModuleBuild) -> Result<Arc<EmuModule>, OpError> {
        let so = build(&self.cache, module).map_err(OpError::Failed)?;
        let cell = loaded()
            .lock()
            .map_err(|_| OpError::Failed("emulated module table poisoned".into()))?
            .entry(so.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| load(&so).map(Arc::new))
            .clone()
            .map_err(OpError::Failed)
    }

    /// A zeroed buffer (engines hand out [`CudaBuf`]s; the tests of the emulator's own
    /// probes use this too).
    pub fn buffer(len: usize) -> Result<CudaBuf, OpError> {
        Ok(CudaBuf::new(len, Box::new(EmuMem::new(len)?)))
    }
}

fn addr(b: &CudaBuf) -> Result<u64, OpError> {
    Ok(b.mem::<EmuMem>()?.ptr as u64)
}

impl Engine for EmuEngine {
    fn alloc_zeros(&self, len: usize) -> Result<CudaBuf, OpError> {
        Self::buffer(len)
    }

    fn upload(&self, bytes: &[u8]) -> Result<CudaBuf, OpError> {
        let mut m = EmuMem::new(bytes.len())?;
        m.bytes_mut().copy_from_slice(bytes);
        Ok(CudaBuf::new(bytes.len(), Box::new(m)))
    }

    fn zero(&self, buf: &mut CudaBuf) -> Result<(), OpError> {
        buf.mem_mut::<EmuMem>()?.bytes_mut().fill(0);
        Ok(())
    }

    fn read(&self, buf: &CudaBuf) -> Result<Vec<u8>, OpError> {
        Ok(buf.mem::<EmuMem>()?.bytes().to_vec())
    }

    fn function(
        &self,
        target: CudaTarget,
        module: &ModuleBuild,
        name: &str,
    ) -> Result<CudaFn, OpError> {
        if target != TARGET {
            return Err(OpError::Failed(format!(
                "the emulator runs {}, not {}",
                TARGET.arch(),
                target.arch()
            )));
        }
        let m = self.module(module)?;
        if !m.entries.iter().any(|e| e == name) {
            return Err(OpError::Failed(format!(
                "the emulated module {} lacks the entry point {name}",
                module.spec.path
            )));
        }
        let name_c = CString::new(name).map_err(|e| OpError::Failed(e.to_string()))?;
        Ok(CudaFn::new(
            name,
            Arc::new(EmuFn {
                module: m,
                name: name_c,
            }),
        ))
    }

    unsafe fn launch(
        &self,
        f: &CudaFn,
        cfg: &LaunchConfig,
        args: &[KernelArg<'_>],
    ) -> Result<(), OpError> {
        let e = f.handle::<EmuFn>()?;
        let (g, b) = (cfg.grid_dim, cfg.block_dim);
        let threads = [g.0, g.1, g.2, b.0, b.1, b.2]
            .iter()
            .fold(1u64, |p, &v| p.saturating_mul(v as u64));
        if threads > MAX_THREADS_PER_LAUNCH {
            return Err(OpError::Unsupported(format!(
                "{} would launch {threads} threads; the CUDA host emulator runs at most {MAX_THREADS_PER_LAUNCH} per launch (choose a smaller size for cuda-emu)",
                f.name()
            )));
        }
        let words = args
            .iter()
            .map(|a| a.word(addr))
            .collect::<Result<Vec<u64>, _>>()?;
        let grid = [g.0, g.1, g.2];
        let block = [b.0, b.1, b.2];
        let mut err = vec![0u8; 1024];
        // SAFETY: the caller guarantees the words match the kernel's parameters and every
        // access stays in bounds (an access past a buffer's rounded end faults and fails
        // the launch); grid, block and err are live for the call, which returns only when
        // every block has finished.
        let rc = unsafe {
            (e.module.launch)(
                e.name.as_ptr(),
                grid.as_ptr(),
                block.as_ptr(),
                cfg.shared_mem_bytes as usize,
                words.as_ptr(),
                words.len() as u32,
                err.as_mut_ptr() as *mut c_char,
                err.len(),
            )
        };
        if rc != 0 {
            let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
            return Err(OpError::Failed(format!(
                "emulated CUDA launch failed: {}",
                String::from_utf8_lossy(&err[..end])
            )));
        }
        Ok(())
    }

    fn timed(&self, launches: &mut dyn FnMut() -> Result<(), OpError>) -> Result<f64, OpError> {
        let t = std::time::Instant::now();
        launches()?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    }

    fn synchronize(&self) -> Result<(), OpError> {
        // Launches return when every block has finished.
        Ok(())
    }

    fn timer(&self) -> &'static str {
        TIMER
    }
}
