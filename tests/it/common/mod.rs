//! Shared test plumbing: one cached device per backend kind, and the rule that CI never
//! skips the wgpu tests (CI has Mesa's lavapipe).

#![allow(dead_code)]

pub mod cli;
pub mod report;

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
/// Returns `None` (after printing why) when the backend has no device here. For wgpu with
/// `CI` set this panics instead: CI runs lavapipe, so a missing adapter is a failure; for
/// CUDA with `DETBENCH_REQUIRE_CUDA=1` (scripts/gpu-check.sh) likewise. CUDA tests are
/// compiled as `#[ignore]`d where build.rs finds no libcuda (`cfg(detbench_libcuda)`), so
/// on a machine without a driver they show as ignored, not as a silent `ok`.
pub fn backend(kind: BackendKind) -> Option<Shared> {
    static CACHE: OnceLock<Mutex<HashMap<BackendKind, Option<Shared>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(kind)
        .or_insert_with(|| {
            let found = discover(&[kind]);
            let reasons: Vec<String> =
                found.infos.iter().filter(|i| !i.available).map(|i| format!("{}: {}", i.name, i.reason)).collect();
            match found.backends.into_iter().next() {
                Some(b) => Some(Arc::from(b)),
                None => {
                    if kind == BackendKind::Wgpu && std::env::var_os("CI").is_some() {
                        panic!("CI must run the wgpu tests on lavapipe, but no wgpu adapter was found: {reasons:?}");
                    }
                    if kind == BackendKind::Cuda && std::env::var("DETBENCH_REQUIRE_CUDA").is_ok_and(|v| v == "1") {
                        panic!("DETBENCH_REQUIRE_CUDA=1, but no CUDA device was found: {reasons:?}");
                    }
                    eprintln!("skipping {kind} tests: no usable device ({})", reasons.join("; "));
                    None
                }
            }
        })
        .clone()
}

/// Property-test cases per property, scaled for lavapipe on 2 cores.
pub fn cases(default: u32) -> u32 {
    std::env::var("DETBENCH_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs a prepared case on the shared device of `kind`; `None` (with the reason printed)
/// when there is no device or the device reports the case unsupported. Any other error
/// fails the test.
pub fn run_or_unsupported(kind: BackendKind, prep: &Prepared) -> Option<RunSet> {
    let b = backend(kind)?;
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
