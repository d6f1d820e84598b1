//! Every kernel source, embedded at compile time. Backends compile from these strings;
//! reports record their SHA-256 so a changed kernel is visible in provenance.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The CUDA prelude: helpers every family shares, prepended to each `.cu` before NVRTC
/// compiles it (see [`crate::backend::cuda::CudaDevice::module`]).
pub const CUDA_PRELUDE: &str = CUDA[0].1;

/// The WGSL prelude: helpers every family shares, put in front of each template before it
/// is specialised (see [`crate::ops::wgsl::specialise_family`]).
pub const WGSL_PRELUDE: &str = WGSL[0].1;

// For every folder under kernels/ (each backend's kernel language): a table named after it
// (`CUDA`, `WGSL`: every source by repository path, the prelude first), a module of the same
// name in lower case (each family's source as a constant named after its file), and
// `FOLDERS`, every table by folder; written by build.rs, which names no backend: a family's
// kernels are embedded once, by being there. Each family's `wgpu.rs` compiles its template
// from `wgsl` (as its `TEMPLATE`) and [`hashes`] hashes the same strings, so the hash is of
// what runs.
include!(concat!(env!("OUT_DIR"), "/kernel_folders.rs"));

/// SHA-256 of every embedded kernel source.
pub fn hashes() -> BTreeMap<String, String> {
    FOLDERS
        .iter()
        .flat_map(|(_, table)| table.iter())
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
    FOLDERS
        .iter()
        .flat_map(|(_, table)| table.iter())
        .find(|(p, _)| *p == path)
        .map(|(_, s)| *s)
}

/// Every source of a kernel folder (e.g. `kernels/cuda`), the prelude first; empty for a
/// folder that does not exist.
pub fn folder(folder: &str) -> &'static [(&'static str, &'static str)] {
    FOLDERS
        .iter()
        .find(|(f, _)| *f == folder.trim_end_matches('/'))
        .map_or(&[], |(_, table)| table)
}
