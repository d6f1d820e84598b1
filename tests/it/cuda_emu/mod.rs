//! The CUDA kernels run on the host: a module (common.cuh + one family's .cu, with exactly
//! the `-D` defines the backend gives NVRTC) is compiled by g++ against the emulation of
//! the CUDA execution model in `kernels/cuda/emu/` (blocks of fibers, `__syncthreads`,
//! shared memory, the ordered atomics as `std::atomic_ref`), loaded as a shared library,
//! and launched on emulated device buffers with the launch sequence of
//! `src/ops/<family>/cuda.rs`. The tests then hold the results to what a GPU run must
//! satisfy: the CPU emulation's bits for ordered variants, the a-priori bound for atomic
//! ones.
//!
//! Modules are cached under the cargo target directory, keyed by a hash of every kernel
//! source and the compile command, so a rerun only compiles what changed.

#![allow(dead_code)]

use detbench::backend::cuda::{CudaTarget, ModuleBuild, ModuleSpec};
use sha2::{Digest, Sha256};
use std::ffi::{c_char, c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The architecture the modules are specialised for: sm_90 has every capability the code
/// distinguishes (ordered atomics, native f16 and bf16 atomic adds, tensor cores).
pub fn target() -> CudaTarget {
    CudaTarget::new(9, 0)
}

/// The module of `path` for the suffix `suffix` (e.g. `f16_f32`), as the backend builds it
/// for [`target`].
pub fn module_build(path: &str, suffix: &str) -> ModuleBuild {
    detbench::ops::cuda_modules(&target(), &[])
        .into_iter()
        .find(|m| {
            m.spec.path == path
                && m.spec
                    .defines
                    .iter()
                    .any(|(k, v)| k == "DB_SUFFIX" && v == suffix)
        })
        .unwrap_or_else(|| panic!("no module {path} {suffix} for {}", target().arch()))
}

/// Every module of `path` the backend builds for [`target`].
pub fn module_builds(path: &str) -> Vec<ModuleBuild> {
    detbench::ops::cuda_modules(&target(), &[])
        .into_iter()
        .filter(|m| m.spec.path == path)
        .collect()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

type AllocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
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

/// One compiled module, loaded.
pub struct Module {
    pub spec: ModuleSpec,
    alloc: AllocFn,
    free: FreeFn,
    entries: EntriesFn,
    launch: LaunchFn,
    _lib: libloading::Library,
}

/// A device buffer of the emulation: 256-byte aligned, its end against an inaccessible page.
pub struct Buf<'m> {
    m: &'m Module,
    ptr: *mut u8,
    len: usize,
}

impl Buf<'_> {
    /// The device address, as a kernel argument.
    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn read(&self) -> Vec<u8> {
        // SAFETY: ptr points to `len` bytes this buffer owns (db_emu_alloc), and no kernel
        // runs while the test reads (launches are synchronous).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }.to_vec()
    }

    pub fn write(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= self.len, "write past the end of a buffer");
        // SAFETY: as in `read`; the length was checked.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr, bytes.len()) };
    }

    pub fn zero(&mut self) {
        // SAFETY: as in `read`.
        unsafe { std::ptr::write_bytes(self.ptr, 0, self.len) };
    }

    pub fn u32s(&self) -> Vec<u32> {
        self.read()
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }
}

impl Drop for Buf<'_> {
    fn drop(&mut self) {
        // SAFETY: ptr came from this module's db_emu_alloc and is freed once.
        unsafe { (self.m.free)(self.ptr as *mut c_void) };
    }
}

/// The family define of a kernel source path.
fn family_define(path: &str) -> String {
    let stem = Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a kernel path");
    format!("-DDB_EMU_FAMILY_{}", stem.to_uppercase())
}

/// g++ arguments for a module (without the output path).
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
    .iter()
    .map(|s| s.to_string())
    .collect();
    // --fmad=true lets NVCC contract a*b+c into an fma; the host does the same (GCC forms
    // fmas in a pass that -O1 leaves out: -fexpensive-optimizations turns it on).
    if spec.fmad {
        a.extend([
            "-ffp-contract=fast".into(),
            "-mfma".into(),
            "-fexpensive-optimizations".into(),
        ]);
    } else {
        a.push("-ffp-contract=off".into());
    }
    a.push(family_define(spec.path));
    a.extend(spec.defines.iter().map(|(k, v)| format!("-D{k}={v}")));
    a.extend([
        "-include".into(),
        "kernels/cuda/emu/cuda_host.h".into(),
        "kernels/cuda/emu/module.cpp".into(),
    ]);
    a
}

/// Compiles (or finds in the cache) and loads the module of `spec`.
pub fn load(spec: &ModuleSpec) -> Module {
    let args = gxx_args(spec);
    let mut h = Sha256::new();
    for dir in ["kernels/cuda", "kernels/cuda/emu"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            h.update(f.to_string_lossy().as_bytes());
            h.update(std::fs::read(&f).unwrap());
        }
    }
    for a in &args {
        h.update(a.as_bytes());
        h.update([0]);
    }
    let key = hex::encode(&h.finalize()[..12]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cuda_emu");
    std::fs::create_dir_all(&dir).unwrap();
    let suffix = spec
        .defines
        .iter()
        .find(|(k, _)| k == "DB_SUFFIX")
        .map_or("", |(_, v)| v.as_str());
    let stem = Path::new(spec.path).file_stem().unwrap().to_string_lossy();
    let so = dir.join(format!("{stem}_{suffix}_fmad{}_{key}.so", spec.fmad));
    if !so.exists() {
        // Build beside the final name and rename: tests in parallel may build the same one.
        let tmp = dir.join(format!(
            "{}.{}.{:?}.tmp",
            so.file_name().unwrap().to_string_lossy(),
            std::process::id(),
            std::thread::current().id()
        ));
        let out = Command::new("g++")
            .current_dir(root())
            .args(&args)
            .arg("-o")
            .arg(&tmp)
            .output()
            .expect("g++ is needed for the CUDA host emulation (.ci/run installs it)");
        assert!(
            out.status.success(),
            "g++ failed on {} {:?}:\n{}",
            spec.path,
            spec.defines,
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&tmp, &so).unwrap();
    }
    // SAFETY: the library is our own module.cpp build; loading it runs only its static
    // initialisers (the entry-point registry).
    let lib = unsafe { libloading::Library::new(&so) }.expect("load the emulated module");
    // SAFETY: the four symbols are module.cpp's C functions with exactly these signatures.
    let (alloc, free, entries, launch) = unsafe {
        (
            *lib.get::<AllocFn>(b"db_emu_alloc\0").unwrap(),
            *lib.get::<FreeFn>(b"db_emu_free\0").unwrap(),
            *lib.get::<EntriesFn>(b"db_emu_entries\0").unwrap(),
            *lib.get::<LaunchFn>(b"db_emu_launch\0").unwrap(),
        )
    };
    Module {
        spec: spec.clone(),
        alloc,
        free,
        entries,
        launch,
        _lib: lib,
    }
}

impl Module {
    /// A zeroed buffer of `len` bytes (at least one byte is allocated).
    pub fn alloc(&self, len: usize) -> Buf<'_> {
        // SAFETY: db_emu_alloc returns a fresh zeroed mapping of at least max(len, 1) bytes.
        let ptr = unsafe { (self.alloc)(len.max(1)) } as *mut u8;
        assert!(
            !ptr.is_null(),
            "emulated device allocation of {len} bytes failed"
        );
        Buf { m: self, ptr, len }
    }

    /// A buffer holding `bytes`.
    pub fn upload(&self, bytes: &[u8]) -> Buf<'_> {
        let mut b = self.alloc(bytes.len());
        b.write(bytes);
        b
    }

    /// The entry points the module defines.
    pub fn entries(&self) -> Vec<String> {
        let mut buf = vec![0u8; 1 << 16];
        // SAFETY: buf is writable for its length; the function writes a NUL-terminated list.
        let need = unsafe { (self.entries)(buf.as_mut_ptr() as *mut c_char, buf.len()) };
        assert!(need <= buf.len());
        let end = buf.iter().position(|&b| b == 0).unwrap();
        String::from_utf8_lossy(&buf[..end])
            .lines()
            .map(String::from)
            .collect()
    }

    /// Launches `name` (the full, suffixed entry point) and waits for it; panics with the
    /// emulator's message on a launch the driver would refuse or a deadlock.
    pub fn launch(&self, name: &str, grid: (u32, u32, u32), block: u32, smem: usize, args: &[u64]) {
        let c = CString::new(name).unwrap();
        let g = [grid.0, grid.1, grid.2];
        let b = [block, 1, 1];
        let mut err = vec![0u8; 512];
        // SAFETY: every argument is a device address of a live Buf of this module or a
        // scalar, in the order of the kernel's signature (the caller mirrors cuda.rs's
        // launch, whose SAFETY comments say why each access is in bounds); db_emu_launch
        // checks the count and returns only when every block has finished.
        let rc = unsafe {
            (self.launch)(
                c.as_ptr(),
                g.as_ptr(),
                b.as_ptr(),
                smem,
                args.as_ptr(),
                args.len() as u32,
                err.as_mut_ptr() as *mut c_char,
                err.len(),
            )
        };
        if rc != 0 {
            let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
            panic!(
                "emulated launch failed: {}",
                String::from_utf8_lossy(&err[..end])
            );
        }
    }
}

/// The 64-bit argument word of an f32 scalar.
pub fn f32_arg(v: f32) -> u64 {
    v.to_bits() as u64
}

/// The argument word of an i32 scalar.
pub fn i32_arg(v: i32) -> u64 {
    v as u32 as u64
}

/// Asserts the module defines exactly the entry points the host code looks up.
pub fn assert_entries(m: &Module, build: &ModuleBuild) {
    let mut have = m.entries();
    have.sort();
    let mut want = build.entries.clone();
    want.sort();
    let missing: Vec<_> = want.iter().filter(|e| !have.contains(e)).collect();
    assert!(
        missing.is_empty(),
        "{} {:?}: the emulated module lacks {missing:?}",
        build.spec.path,
        build.spec.defines
    );
}

/// A generator of small integers in -3..=3 (an LCG from `seed`): the tensor-core tests
/// feed them so that every sum is exact whatever the tensor core's internal order.
pub fn small_integers(mut seed: u64) -> impl FnMut() -> f64 {
    move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % 7) as f64 - 3.0
    }
}

/// Asserts that every run in `outputs` (one per PTX ordering, say) of the case `prep` is
/// finite and within its a-priori bound on every element; `what` names the case.
pub fn assert_within_bound(prep: &detbench::ops::Prepared, outputs: Vec<Vec<f64>>, what: &str) {
    let set = detbench::ops::RunSet {
        times_ms: vec![0.0; outputs.len()],
        outputs,
        ..Default::default()
    };
    let met = detbench::runner::metrics(prep, &set);
    assert_eq!(met.non_finite, 0, "{what}: non-finite output");
    assert_eq!(
        met.bound_violations, 0,
        "{what}: error {:e} exceeds the bound",
        met.max_abs_err
    );
}

/// [`assert_within_bound`] for an atomic kernel run once under each PTX ordering (`run`
/// takes the entry-point suffix); nothing to check where the bound does not apply.
pub fn assert_orderings_within_bound(
    prep: &detbench::ops::Prepared,
    run: impl FnMut(&str) -> Vec<f64>,
    what: &str,
) {
    if prep.bounds.iter().any(|b| b.is_none()) {
        return;
    }
    let outputs = detbench::ops::common::cuda_ordering_suffixes()
        .into_iter()
        .map(run)
        .collect();
    assert_within_bound(prep, outputs, what);
}

/// The `ordered` and `atomic` test modules of a `.cu` family: one test per input/accumulator
/// pair the backend builds (all nine), each calling the file's `ordered_pair(input, acc)` and
/// `atomic_pair(input, acc)`; `pair_tests!(f)`: the nine tests calling `f(input, acc)`.
#[allow(unused_macros)]
macro_rules! pair_tests {
    () => {
        mod ordered {
            use super::*;
            $crate::cuda_emu::pair_tests!(ordered_pair);
        }
        mod atomic {
            use super::*;
            $crate::cuda_emu::pair_tests!(atomic_pair);
        }
    };
    // One test per pair, each calling `$f(input, acc)`.
    ($f:ident) => {
        $crate::cuda_emu::pair_tests!(@one $f
            f32_f32: F32 / F32,
            f32_f64: F32 / F64,
            f64_f64: F64 / F64,
            f16_f32: F16 / F32,
            f16_f64: F16 / F64,
            f16_f16: F16 / F16,
            bf16_f32: Bf16 / F32,
            bf16_f64: Bf16 / F64,
            bf16_bf16: Bf16 / Bf16,
        );
    };
    (@one $f:ident $($name:ident: $i:ident / $a:ident,)*) => {
        $(#[test] fn $name() { $f(Precision::$i, Precision::$a) })*
    };
}
#[allow(unused_imports)]
pub(crate) use pair_tests;
