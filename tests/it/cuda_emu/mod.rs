//! The `cuda-emu` backend as the emulator tests use it: the CUDA backend's own host code
//! (`src/ops/*/cuda.rs`) and kernels, run on the g++ host emulation of an sm_90 device
//! (`src/backend/cuda/emu.rs`, `kernels/cuda/emu/`). Nothing here launches a kernel
//! itself: every test hands a job to the backend, as `detbench run --backend cuda-emu` does,
//! and holds the result to what a GPU run must satisfy: the CPU backend's bits for ordered
//! variants, the a-priori bound for atomic ones under every PTX ordering.
//!
//! Modules are cached under the cargo target directory, keyed by a hash of every kernel
//! source, the compile command and the entry table, so a rerun only builds what changed.

#![allow(dead_code)]

use detbench::backend::cuda::CudaBackend;
use detbench::backend::{Backend, BackendKind};
use detbench::error::OpError;
use detbench::ops::Ordering;
use detbench::ops::{Job, Prepared, RunSet};
use std::sync::OnceLock;

/// The emulator backend, opened once per test binary with its module cache in the target
/// directory. g++ is required (CI installs it): without it every emulator test fails with
/// the reason rather than passing.
pub fn backend() -> &'static CudaBackend {
    static B: OnceLock<CudaBackend> = OnceLock::new();
    B.get_or_init(|| {
        let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cuda_emu");
        detbench::backend::cuda::emu::open(cache)
            .unwrap_or_else(|why| panic!("the cuda-emu backend is unavailable: {why}"))
    })
}

/// Runs `job` on the emulator; any error (a failed launch, a fault, a deadlock, a refused
/// case) fails the test with the backend's message.
pub fn run(job: &Job) -> RunSet {
    match backend().run(job) {
        Ok(set) => set,
        Err(e) => panic!("cuda-emu: {e}"),
    }
}

/// Runs `job` on the emulator; `None` where the backend calls it unsupported.
pub fn run_or_unsupported(job: &Job) -> Option<RunSet> {
    match backend().run(job) {
        Ok(set) => Some(set),
        Err(OpError::Unsupported(_)) => None,
        Err(e) => panic!("cuda-emu: {e}"),
    }
}

/// The first output of one run of `job` on the emulator.
pub fn outputs(job: &Job) -> Vec<f64> {
    run(job).outputs.into_first().expect("one run")
}

/// The first output of one run of `job` on the CPU backend (the CPU emulation of the same
/// order).
pub fn cpu(job: &Job) -> Vec<f64> {
    crate::common::backend(BackendKind::Cpu)
        .run(job)
        .unwrap_or_else(|e| panic!("cpu: {e}"))
        .outputs
        .into_first()
        .expect("one run")
}

/// Asserts two outputs are the same bits, naming the first difference.
pub fn assert_bits(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: output length");
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!(
            "{what}: element {i} of {}: cuda-emu {:e}, CPU emulation {:e}",
            got.len(),
            got[i],
            want[i]
        );
    }
}

/// Asserts that `job` gives the CPU backend's bits on the emulator.
pub fn assert_matches_cpu(job: &Job, what: &str) {
    assert_bits(&outputs(job), &cpu(job), what);
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
pub fn assert_within_bound(prep: &Prepared, outputs: Vec<Vec<f64>>, what: &str) {
    let set = RunSet {
        times_ms: vec![0.0; outputs.len()],
        outputs: outputs.into(),
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

/// Runs the atomic case `prep` once under each of the six PTX orderings on the emulator
/// and asserts each run within the bound (nothing to check where no bound applies).
pub fn assert_orderings_within_bound(prep: &Prepared, what: &str) {
    if prep.bounds.iter().any(|b| b.is_none()) {
        return;
    }
    let outputs = Ordering::CUDA
        .iter()
        .map(|&o| outputs(&prep.job.with_ordering(o)))
        .collect();
    assert_within_bound(prep, outputs, what);
}

/// The `ordered` and `atomic` test modules of a family: one test per input/accumulator
/// pair the backend builds (all nine), each calling the file's `ordered_pair(input, acc)`
/// and `atomic_pair(input, acc)`; `pair_tests!(f)`: the nine tests calling `f(input, acc)`.
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
