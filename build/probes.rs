//! What the test environment offers, probed once when the crate is built, as `cfg`s that the
//! integration tests read to mark a test `#[ignore = "why"]` where its device, library or tool
//! is missing. A test that needs something it cannot have then shows as ignored with its
//! reason, never as a pass; where the cfg is set and the thing is still missing at run time,
//! the test fails (tests/it/common/mod.rs). CI sets every cfg of what CI installs, so there a
//! missing piece fails rather than hides.

use std::path::Path;
use std::process::Command;

pub fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn on(var: &str) -> bool {
    std::env::var(var).is_ok_and(|s| s == "1")
}

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// The folders the dynamic loader searches, LD_LIBRARY_PATH first.
fn lib_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::env::var("LD_LIBRARY_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(String::from)
        .collect();
    dirs.extend(
        [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/cuda/lib64",
            "/usr/lib/wsl/lib",
        ]
        .map(String::from),
    );
    dirs
}

/// The first file whose name starts with `prefix` (e.g. `libcuda.so`) in a loader folder.
fn find_lib(prefix: &str) -> Option<std::path::PathBuf> {
    lib_dirs().iter().find_map(|d| {
        std::fs::read_dir(d).ok()?.flatten().find_map(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(prefix)
                .then(|| e.path())
        })
    })
}

/// A CUDA device the driver can open, and its compute capability (major, minor), asked of
/// the driver itself: libcuda alone (a driver without a usable GPU, a container without
/// the device nodes) is not a device.
fn cuda_device() -> Option<(i32, i32)> {
    type Init = unsafe extern "C" fn(u32) -> i32;
    type Count = unsafe extern "C" fn(*mut i32) -> i32;
    type Attr = unsafe extern "C" fn(*mut i32, i32, i32) -> i32;
    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR.
    const MAJOR: i32 = 75;
    const MINOR: i32 = 76;
    let path = find_lib("libcuda.so")?;
    // SAFETY: loading the CUDA driver runs its initialisers, which have no preconditions;
    // the symbols are looked up with the driver API's documented signatures and called
    // with valid out-pointers to locals.
    unsafe {
        let lib = libloading::Library::new(&path).ok()?;
        let init: libloading::Symbol<Init> = lib.get(b"cuInit\0").ok()?;
        let count: libloading::Symbol<Count> = lib.get(b"cuDeviceGetCount\0").ok()?;
        let attr: libloading::Symbol<Attr> = lib.get(b"cuDeviceGetAttribute\0").ok()?;
        if init(0) != 0 {
            return None;
        }
        let mut n = 0;
        if count(&mut n) != 0 || n < 1 {
            return None;
        }
        let (mut major, mut minor) = (0, 0);
        if attr(&mut major, MAJOR, 0) != 0 || attr(&mut minor, MINOR, 0) != 0 {
            return None;
        }
        Some((major, minor))
    }
}

/// `detbench_libcuda`: a CUDA device is usable here (the device tests run);
/// `detbench_cuda_sm80`: it has compute capability 8.0 or more (tensor-core tests run);
/// `detbench_nvrtc`: NVRTC can be loaded (the compile-everything test runs).
/// DETBENCH_REQUIRE_CUDA=1 (scripts/gpu-check.sh) and DETBENCH_REQUIRE_NVRTC=1 (CI) turn
/// them on regardless: then a missing device or library fails the tests.
fn cuda() {
    for v in [
        "DETBENCH_REQUIRE_CUDA",
        "DETBENCH_REQUIRE_NVRTC",
        "DETBENCH_NVRTC_LIB",
        "LD_LIBRARY_PATH",
        "CUDA_VISIBLE_DEVICES",
    ] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let require = on("DETBENCH_REQUIRE_CUDA");
    let device = cuda_device();
    if require || device.is_some() {
        println!("cargo:rustc-cfg=detbench_libcuda");
    }
    if require || device.is_some_and(|(major, _)| major >= 8) {
        println!("cargo:rustc-cfg=detbench_cuda_sm80");
    }
    let nvrtc_file =
        std::env::var_os("DETBENCH_NVRTC_LIB").is_some_and(|p| Path::new(&p).is_file());
    if require || on("DETBENCH_REQUIRE_NVRTC") || nvrtc_file || find_lib("libnvrtc.so").is_some() {
        println!("cargo:rustc-cfg=detbench_nvrtc");
    }
}

/// `detbench_wgpu`: a wgpu adapter can be expected. On macOS (Metal) and Windows (DX12) one
/// always is; on Linux, a Vulkan loader and at least one installed driver manifest (Mesa's
/// lavapipe installs one). CI always sets it: CI installs lavapipe, so a missing adapter
/// there fails the tests.
fn wgpu() {
    for v in ["VK_ICD_FILENAMES", "VK_DRIVER_FILES", "XDG_DATA_DIRS"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let mut icd_dirs: Vec<String> = [
        "/usr/share/vulkan/icd.d",
        "/etc/vulkan/icd.d",
        "/usr/local/share/vulkan/icd.d",
    ]
    .map(String::from)
    .to_vec();
    for d in std::env::var("XDG_DATA_DIRS")
        .unwrap_or_default()
        .split(':')
    {
        if !d.is_empty() {
            icd_dirs.push(format!("{d}/vulkan/icd.d"));
        }
    }
    for d in &icd_dirs {
        println!("cargo:rerun-if-changed={d}");
    }
    let named = ["VK_ICD_FILENAMES", "VK_DRIVER_FILES"].iter().any(|v| {
        std::env::var(v)
            .unwrap_or_default()
            .split(':')
            .any(|f| Path::new(f).is_file())
    });
    let manifest = icd_dirs.iter().any(|d| {
        std::fs::read_dir(d).is_ok_and(|es| {
            es.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
    });
    let target = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let native = target == "macos" || target == "windows";
    if ci() || native || ((named || manifest) && find_lib("libvulkan.so.1").is_some()) {
        println!("cargo:rustc-cfg=detbench_wgpu");
    }
}

/// `detbench_torch`: PyTorch is importable by $DETBENCH_PYTHON (or python3).
fn torch() {
    println!("cargo:rerun-if-env-changed=DETBENCH_PYTHON");
    let py = std::env::var("DETBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    if run(&py, &["-c", "import torch"]).is_some() {
        println!("cargo:rustc-cfg=detbench_torch");
    }
}

/// `detbench_numpy`: numpy is importable by $DETBENCH_PYTHON (or python3); always in CI,
/// which installs it (the numpy adapter is its external-backend vehicle).
fn numpy() {
    println!("cargo:rerun-if-env-changed=DETBENCH_PYTHON");
    let py = std::env::var("DETBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    if ci() || run(&py, &["-c", "import numpy"]).is_some() {
        println!("cargo:rustc-cfg=detbench_numpy");
    }
}

/// `detbench_pdflatex`: pdflatex is on PATH (always in CI, where a missing one must fail).
fn pdflatex() {
    println!("cargo:rerun-if-env-changed=PATH");
    if ci() || run("pdflatex", &["--version"]).is_some() {
        println!("cargo:rustc-cfg=detbench_pdflatex");
    }
}

/// `detbench_slurm`: the Slurm cluster `scripts/services.sh` starts (DETBENCH_TEST_SLURM_CONF
/// names its slurm.conf). DETBENCH_REQUIRE_SERVICES=1 (CI) turns it on regardless:
/// a server that did not start then fails its tests instead of leaving them ignored.
fn services() {
    for v in ["DETBENCH_REQUIRE_SERVICES", "DETBENCH_TEST_SLURM_CONF"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let require = on("DETBENCH_REQUIRE_SERVICES");
    let slurm =
        std::env::var_os("DETBENCH_TEST_SLURM_CONF").is_some_and(|p| Path::new(&p).is_file());
    if require || slurm {
        println!("cargo:rustc-cfg=detbench_slurm");
    }
}

/// `detbench_validators`: the deploy recipes' validators (PyPI's kubernetes-validate and
/// check-jsonschema, which ship their schemas) are in $DETBENCH_VALIDATORS, beside
/// $DETBENCH_PYTHON, or on PATH. CI installs them (scripts/test.sh), so there they are
/// required.
fn validators() {
    for v in ["DETBENCH_VALIDATORS", "DETBENCH_PYTHON", "PATH"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let dirs: Vec<std::path::PathBuf> = std::env::var_os("DETBENCH_VALIDATORS")
        .map(Into::into)
        .into_iter()
        .chain(
            std::env::var_os("DETBENCH_PYTHON")
                .and_then(|p| Path::new(&p).parent().map(Path::to_path_buf)),
        )
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ))
        .collect();
    let found = |name: &str| dirs.iter().any(|d| d.join(name).is_file());
    if ci() || (found("kubernetes-validate") && found("check-jsonschema")) {
        println!("cargo:rustc-cfg=detbench_validators");
    }
}

/// Every probe, with the cfg names declared to rustc's check-cfg.
pub fn all() {
    for name in [
        "detbench_libcuda",
        "detbench_cuda_sm80",
        "detbench_nvrtc",
        "detbench_wgpu",
        "detbench_torch",
        "detbench_numpy",
        "detbench_pdflatex",
        "detbench_slurm",
        "detbench_postgres",
        "detbench_validators",
    ] {
        println!("cargo:rustc-check-cfg=cfg({name})");
    }
    println!("cargo:rerun-if-env-changed=CI");
    postgres();
    cuda();
    wgpu();
    torch();
    numpy();
    pdflatex();
    services();
    validators();
}

/// `detbench_postgres`: a PostgreSQL server for the store's tests (DETBENCH_TEST_POSTGRES, a
/// postgres:// URL that scripts/services.sh prints), or DETBENCH_REQUIRE_SERVICES=1 (CI):
/// then a test that finds no server fails instead of being ignored.
fn postgres() {
    for v in ["DETBENCH_TEST_POSTGRES", "DETBENCH_REQUIRE_SERVICES"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    if std::env::var_os("DETBENCH_TEST_POSTGRES").is_some() || on("DETBENCH_REQUIRE_SERVICES") {
        println!("cargo:rustc-cfg=detbench_postgres");
    }
}
