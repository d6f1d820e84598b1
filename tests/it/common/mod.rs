//! Shared test plumbing: one cached device per backend kind.
//!
//! A device test is marked, in one of these words, where the build found no such device
//! (`build/probes.rs`), so that it shows as ignored with its reason, never as a pass:
//! - `#[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time)")]`
//! - `#[cfg_attr(not(detbench_libcuda), ignore = "needs a CUDA device (none found at build time)")]`
//! - `#[cfg_attr(not(detbench_cuda_sm80), ignore = "needs a CUDA device of sm_80 or newer")]`
//!
//! CI sets `detbench_wgpu` (it installs lavapipe), so there a missing adapter fails.

#![allow(dead_code)]

pub mod cli;
pub mod report;
pub mod store;

use detbench::backend::{discover, Backend, BackendKind};
use detbench::numerics::Precision;
use detbench::ops::{Prepared, RunSet};
use detbench::runner::AccChoice;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

type Shared = Arc<dyn Backend>;

/// The first usable device of `kind`, discovered once per test binary.
///
/// A test that asks for a device is compiled as ignored, with its reason,
/// where the build found none (`build/probes.rs`: `detbench_wgpu`, `detbench_libcuda`). So
/// when it runs, the device is expected, and its absence fails the test with the reason:
/// it is never a silent pass.
pub fn backend(kind: BackendKind) -> Shared {
    static CACHE: OnceLock<Mutex<HashMap<BackendKind, Result<Shared, String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    let found = map.entry(kind).or_insert_with(|| {
        let found = discover(&[kind]);
        let reasons: Vec<String> = found
            .infos
            .iter()
            .filter(|i| !i.available)
            .map(|i| format!("{}: {}", i.name, i.reason))
            .collect();
        found
            .backends
            .into_iter()
            .next()
            .map(Arc::from)
            .ok_or_else(|| reasons.join("; "))
    });
    match found {
        Ok(b) => b.clone(),
        Err(why) => {
            panic!("no usable {kind} device, though the build found one (build/probes.rs): {why}")
        }
    }
}

/// The shared wgpu device as its own type (the `Backend` trait hides it), for the tests
/// that run a patched kernel on it.
pub fn wgpu_device(b: &Shared) -> &detbench::backend::wgpu::WgpuBackend {
    b.kernel_api()
        .downcast_ref::<detbench::backend::wgpu::WgpuBackend>()
        .expect("the wgpu backend")
}

/// Property-test cases per property, scaled for lavapipe on 2 cores.
pub fn cases(default: u32) -> u32 {
    std::env::var("DETBENCH_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs a prepared case on the shared device of `kind`; `None` (with the reason printed)
/// when the device reports the case unsupported. Any other error
/// fails the test.
pub fn run_or_unsupported(kind: BackendKind, prep: &Prepared) -> Option<RunSet> {
    let b = backend(kind);
    match b.run(&prep.job) {
        Ok(set) => Some(set),
        Err(detbench::error::OpError::Unsupported(why)) => {
            eprintln!("{kind}: unsupported: {why}");
            None
        }
        Err(e) => panic!("{kind}: {e}"),
    }
}

/// Input formats with the accumulators the issues name: the input's own, f32 (the
/// default for half inputs) and f64.
pub fn precision_pairs() -> impl Strategy<Value = (Precision, AccChoice)> {
    prop_oneof![
        Just((Precision::F32, AccChoice::Same)),
        Just((Precision::F32, AccChoice::Fixed(Precision::F64))),
        Just((Precision::F16, AccChoice::Default)),
        Just((Precision::F16, AccChoice::Same)),
        Just((Precision::Bf16, AccChoice::Default)),
        Just((Precision::Bf16, AccChoice::Same)),
        Just((Precision::F64, AccChoice::Same)),
    ]
}
