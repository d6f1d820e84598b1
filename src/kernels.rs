//! Every kernel source, embedded at compile time. Backends compile from these strings;
//! reports record their SHA-256 so a changed kernel is visible in provenance.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The CUDA prelude: helpers every family shares, prepended to each `.cu` before NVRTC
/// compiles it (see [`crate::backend::cuda::CudaDevice::module`]).
pub const CUDA_PRELUDE: &str = include_str!("../kernels/cuda/common.cuh");

/// The WGSL prelude: helpers every family shares, put in front of each template before it
/// is specialised (see [`crate::backend::wgpu::specialise_family`]).
pub const WGSL_PRELUDE: &str = include_str!("../kernels/wgsl/common.wgsl");

/// CUDA sources by repository path (the prelude first).
pub const CUDA: &[(&str, &str)] = &[
    ("kernels/cuda/common.cuh", CUDA_PRELUDE),
    (
        "kernels/cuda/reduce.cu",
        include_str!("../kernels/cuda/reduce.cu"),
    ),
    (
        "kernels/cuda/conv.cu",
        include_str!("../kernels/cuda/conv.cu"),
    ),
    (
        "kernels/cuda/optim.cu",
        include_str!("../kernels/cuda/optim.cu"),
    ),
    (
        "kernels/cuda/scatter.cu",
        include_str!("../kernels/cuda/scatter.cu"),
    ),
    (
        "kernels/cuda/copy.cu",
        include_str!("../kernels/cuda/copy.cu"),
    ),
    (
        "kernels/cuda/matmul.cu",
        include_str!("../kernels/cuda/matmul.cu"),
    ),
    (
        "kernels/cuda/rows.cu",
        include_str!("../kernels/cuda/rows.cu"),
    ),
];

/// The WGSL template of each family: embedded here once, compiled by the family's
/// `wgpu.rs` (as its `TEMPLATE`) and hashed by [`hashes`], so the hash is of what runs.
pub mod wgsl {
    pub const REDUCE: &str = include_str!("../kernels/wgsl/reduce.wgsl");
    pub const CONV: &str = include_str!("../kernels/wgsl/conv.wgsl");
    pub const OPTIM: &str = include_str!("../kernels/wgsl/optim.wgsl");
    pub const SCATTER: &str = include_str!("../kernels/wgsl/scatter.wgsl");
    pub const COPY: &str = include_str!("../kernels/wgsl/copy.wgsl");
    pub const MATMUL: &str = include_str!("../kernels/wgsl/matmul.wgsl");
    pub const ROWS: &str = include_str!("../kernels/wgsl/rows.wgsl");
}

/// WGSL sources by repository path (the prelude first).
pub const WGSL: &[(&str, &str)] = &[
    ("kernels/wgsl/common.wgsl", WGSL_PRELUDE),
    ("kernels/wgsl/reduce.wgsl", wgsl::REDUCE),
    ("kernels/wgsl/conv.wgsl", wgsl::CONV),
    ("kernels/wgsl/optim.wgsl", wgsl::OPTIM),
    ("kernels/wgsl/scatter.wgsl", wgsl::SCATTER),
    ("kernels/wgsl/copy.wgsl", wgsl::COPY),
    ("kernels/wgsl/matmul.wgsl", wgsl::MATMUL),
    ("kernels/wgsl/rows.wgsl", wgsl::ROWS),
];

/// SHA-256 of every embedded kernel source.
pub fn hashes() -> BTreeMap<String, String> {
    CUDA.iter()
        .chain(WGSL.iter())
        .map(|(path, src)| {
            (
                path.to_string(),
                hex::encode(Sha256::digest(src.as_bytes())),
            )
        })
        .collect()
}

/// Looks a source up by path.
pub fn source(path: &str) -> Option<&'static str> {
    CUDA.iter()
        .chain(WGSL.iter())
        .find(|(p, _)| *p == path)
        .map(|(_, s)| *s)
}
