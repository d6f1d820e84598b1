//! NVRTC, the CUDA runtime compiler, on its own: loading it (from `DETBENCH_NVRTC_LIB` or the
//! system's library path), asking it what it can target, and compiling one module to PTX and
//! CUBIN with its log. None of this needs a GPU or the driver, so `detbench kernels` and the
//! CI's compile test run on any machine with libnvrtc.
//!
//! cudarc panics when a symbol's library or the symbol itself is missing; [`available`]
//! checks both first (once per process), and every function here calls it and returns an
//! error instead, so no call can panic and none touches the process's panic hook.

use std::sync::OnceLock;

/// Environment variable naming the libnvrtc file to use (e.g. the one in NVIDIA's
/// `nvidia-cuda-nvrtc` Python wheel); otherwise the dynamic loader's search path decides.
pub const LIB_ENV: &str = "DETBENCH_NVRTC_LIB";

/// What the loaded NVRTC is.
#[derive(Clone, Debug)]
pub struct Nvrtc {
    /// (major, minor), e.g. (13, 5).
    pub version: (i32, i32),
    /// Real architectures it compiles for, as `10 * major + minor` (75 for sm_75).
    pub archs: Vec<i32>,
}

impl Nvrtc {
    pub fn version_string(&self) -> String {
        format!("{}.{}", self.version.0, self.version.1)
    }

    /// The newest architecture it targets.
    pub fn newest_arch(&self) -> Option<i32> {
        self.archs.iter().copied().max()
    }

    /// Whether it can compile for compute capability `cc`.
    pub fn supports(&self, cc: (i32, i32)) -> bool {
        self.archs.contains(&(cc.0 * 10 + cc.1))
    }

    /// `sm_75, sm_80, ...`
    pub fn arch_list(&self) -> String {
        let v: Vec<String> = self.archs.iter().map(|a| format!("sm_{a}")).collect();
        v.join(", ")
    }
}

/// The NVRTC of this process, loaded and queried once; `Err` says why there is none.
pub fn available() -> Result<&'static Nvrtc, String> {
    static INFO: OnceLock<Result<Nvrtc, String>> = OnceLock::new();
    INFO.get_or_init(load).as_ref().map_err(|e| e.clone())
}

fn load() -> Result<Nvrtc, String> {
    if let Some(path) = std::env::var_os(LIB_ENV) {
        // cudarc opens libnvrtc by its soname (libnvrtc.so.13); once this file is loaded,
        // the dynamic loader hands that same library back for the soname. The handle is
        // leaked on purpose: the library must stay loaded for the process's lifetime.
        // SAFETY: loading NVRTC runs only its initialisers, which have no preconditions.
        let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| {
            format!(
                "{LIB_ENV}={} cannot be loaded: {e}",
                std::path::Path::new(&path).display()
            )
        })?;
        std::mem::forget(lib);
    }
    // SAFETY: only tries to dlopen the candidate library names; no NVRTC call is made.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(format!(
            "libnvrtc not found (set {LIB_ENV} to a libnvrtc.so, e.g. from `pip install nvidia-cuda-nvrtc`, or put the CUDA toolkit's lib64 folder on LD_LIBRARY_PATH)"
        ));
    }
    missing_symbols()?;
    {
        use cudarc::nvrtc::sys;
        let (mut major, mut minor) = (0i32, 0i32);
        // SAFETY: both are valid out-pointers; the library is present (checked above).
        unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
            .result()
            .map_err(|e| format!("nvrtcVersion: {e:?}"))?;
        let mut count = 0i32;
        // SAFETY: `count` is a valid out-pointer.
        unsafe { sys::nvrtcGetNumSupportedArchs(&mut count) }
            .result()
            .map_err(|e| format!("nvrtcGetNumSupportedArchs: {e:?}"))?;
        let mut archs = vec![0i32; count.max(0) as usize];
        // SAFETY: `archs` has room for exactly the `count` entries NVRTC reported.
        unsafe { sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) }
            .result()
            .map_err(|e| format!("nvrtcGetSupportedArchs: {e:?}"))?;
        archs.sort_unstable();
        Ok(Nvrtc {
            version: (major, minor),
            archs,
        })
    }
}

/// Every NVRTC function this module calls (through cudarc, which panics on a missing one).
const SYMBOLS: &[&str] = &[
    "nvrtcVersion",
    "nvrtcGetNumSupportedArchs",
    "nvrtcGetSupportedArchs",
    "nvrtcCreateProgram",
    "nvrtcDestroyProgram",
    "nvrtcCompileProgram",
    "nvrtcGetProgramLogSize",
    "nvrtcGetProgramLog",
    "nvrtcGetPTXSize",
    "nvrtcGetPTX",
    "nvrtcGetCUBINSize",
    "nvrtcGetCUBIN",
];

/// Checks that the library cudarc loads defines every function of [`SYMBOLS`], so that no
/// later call panics.
fn missing_symbols() -> Result<(), String> {
    // SAFETY: the library is present (checked by the caller), so culib() loads it rather
    // than panicking; looking a symbol up runs no code of the library.
    let lib = unsafe { cudarc::nvrtc::sys::culib() };
    let missing: Vec<&str> = SYMBOLS
        .iter()
        .copied()
        // SAFETY: only the symbol's address is read; it is never called through this type.
        .filter(|s| unsafe { lib.get::<*const std::ffi::c_void>(s.as_bytes()) }.is_err())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the loaded libnvrtc lacks {} (too old for detbench)",
            missing.join(", ")
        ))
    }
}

/// One compiled module.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The PTX NVRTC generated on the way to the CUBIN.
    pub ptx: String,
    /// Machine code for the real architecture in the options.
    pub cubin: Vec<u8>,
    /// NVRTC's log (warnings; ptxas's report with `-Xptxas=-v`); empty when clean.
    pub log: String,
}

/// Compiles `src` for the architecture named in `options` (`--gpu-architecture=sm_XY`).
pub fn compile(name: &str, src: &str, options: &[String]) -> Result<Compiled, String> {
    // Library and symbols checked: nothing below can panic.
    available()?;
    compile_loaded(name, src, options)
}

fn c_chars_to_string(l: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = l
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).trim().to_string()
}

fn compile_loaded(name: &str, src: &str, options: &[String]) -> Result<Compiled, String> {
    use cudarc::nvrtc::{result, sys};
    let src_c = std::ffi::CString::new(src).map_err(|e| format!("{name}: {e}"))?;
    let name_c = std::ffi::CString::new(name).map_err(|e| format!("{name}: {e}"))?;
    let prog = result::create_program(&src_c, Some(&name_c))
        .map_err(|e| format!("NVRTC could not create {name}: {e:?}"))?;
    /// Destroys the program on every path out.
    struct Program(sys::nvrtcProgram);
    impl Drop for Program {
        fn drop(&mut self) {
            // SAFETY: the handle came from create_program and is destroyed only here, once.
            let _ = unsafe { result::destroy_program(self.0) };
        }
    }
    let prog = Program(prog);
    // SAFETY: prog.0 is a live program from create_program; `src_c` and `name_c` outlive it.
    let compiled = unsafe { result::compile_program(prog.0, options) };
    // SAFETY: prog.0 is still live; the log is a NUL-terminated copy we own.
    let log = unsafe { result::get_program_log(prog.0) }
        .map(|l| c_chars_to_string(&l))
        .unwrap_or_default();
    if let Err(e) = compiled {
        return Err(format!(
            "NVRTC failed to compile {name} ({e:?}) with {}: {log}",
            options.join(" ")
        ));
    }
    // SAFETY: prog.0 compiled successfully.
    let ptx = unsafe { result::get_ptx(prog.0) }
        .map(|p| c_chars_to_string(&p))
        .map_err(|e| format!("NVRTC PTX of {name}: {e:?}"))?;
    let mut size = 0usize;
    // SAFETY: prog.0 compiled successfully; `size` is a valid out-pointer.
    unsafe { sys::nvrtcGetCUBINSize(prog.0, &mut size) }
        .result()
        .map_err(|e| format!("NVRTC CUBIN size of {name}: {e:?}"))?;
    let mut cubin = vec![0u8; size];
    if size > 0 {
        // SAFETY: `cubin` has exactly the size NVRTC reported for this program's CUBIN.
        unsafe { sys::nvrtcGetCUBIN(prog.0, cubin.as_mut_ptr() as *mut std::ffi::c_char) }
            .result()
            .map_err(|e| format!("NVRTC CUBIN of {name}: {e:?}"))?;
    }
    Ok(Compiled { ptx, cubin, log })
}

/// The kernel entry points a PTX module defines (`.entry NAME(` or `.entry NAME`).
pub fn ptx_entries(ptx: &str) -> Vec<String> {
    ptx.lines()
        .filter_map(|l| {
            let rest = l.trim_start();
            let rest = rest.strip_prefix(".visible ").unwrap_or(rest);
            let rest = rest.strip_prefix(".entry")?.trim_start();
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(rest.len());
            (end > 0).then(|| rest[..end].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_from_ptx() {
        let ptx = ".version 9.0\n.target sm_90\n\n\t// .globl\tk_f32\n.visible .entry k_f32(\n\t.param .u64 a\n)\n{\n}\n.entry local_one\n{\n}\n";
        assert_eq!(ptx_entries(ptx), vec!["k_f32", "local_one"]);
    }
}
