//! Shared test plumbing: one cached device per backend kind, and the rule that CI never
//! skips the wgpu tests (CI has Mesa's lavapipe).

#![allow(dead_code)]

use detbench::backend::{discover, Backend, BackendKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

type Shared = Arc<dyn Backend>;

/// The first usable device of `kind`, discovered once per test binary.
///
/// Returns `None` (after printing why) when the backend has no device here. For wgpu with
/// `CI` set this panics instead: CI runs lavapipe, so a missing adapter is a failure.
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
