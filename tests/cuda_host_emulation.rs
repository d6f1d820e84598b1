//! The CUDA tensor-core convolution kernels, checked without a GPU: kernels/cuda/conv.cu is
//! compiled by g++ against a host emulation of the one warp-collective PTX instruction it
//! uses (mma.m16n8k16), and every launch is compared bitwise with an exact reference
//! (see kernels/cuda/emu/conv_tc_emu.cpp). This checks tiling, fragment layouts, loaders
//! and output indexing; rounding inside real tensor cores needs a GPU.

use std::process::Command;

fn emulate(format: &str) {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join(format!("conv_tc_emu_{format}"));
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new("g++")
        .current_dir(root)
        .args([
            "-std=c++20",
            "-O1",
            "-pthread",
            "-ffp-contract=off",
            "-DDB_HOST_EMU",
            &format!("-DDB_IN_{format}=1"),
            "-DDB_ACC=0",
            "-DDB_SUFFIX=emu",
            "-include",
            "kernels/cuda/emu/cuda_host_threads.h",
            "kernels/cuda/emu/conv_tc_emu.cpp",
            "-o",
        ])
        .arg(&exe)
        .status()
        .expect("g++ is needed for this test (.ci/run installs it)");
    assert!(
        status.success(),
        "g++ failed to compile the {format} emulation"
    );
    let out = Command::new(&exe).arg("7").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{format}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("0 of 90 launches mismatched"),
        "{format}: {text}"
    );
}

#[test]
fn tensor_core_conv_f16_matches_exact_reference() {
    emulate("F16");
}

#[test]
fn tensor_core_conv_bf16_matches_exact_reference() {
    emulate("BF16");
}
