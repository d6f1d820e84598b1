//! `detbench run --backend cpu,cuda-emu` end to end: every op of issue 25's list, every
//! variant, f32 and f16 inputs with an f32 accumulator, at small sizes. The report's rows are
//! paired by result key (src/report/key.rs, the device part aside): every cuda-emu row is
//! `ok` (the emulated device is an sm_90, which lacks nothing the cuda backend offers) unless
//! the cuda backend offers the case on no device (its reason names no architecture), every ordered row has the fingerprint of the cpu row with the same key,
//! and every atomic row, under each ordering the report holds, is within its bound, as is
//! tensor_core (the tensor core's own order). log_softmax's ordered rows compare bit for
//! bit too: the emulated device's exp and log are the cpu backend's (cuda_host.h).

use crate::common;
use detbench::ops::Ordering;
use detbench::report::key::{CaseKey, ResultKey};
use detbench::report::Status;
use std::collections::BTreeMap;

const OPS: &str = "sum,dot,scatter_add,conv2d_fwd,conv2d_bwd_data,conv2d_bwd_weight,matmul,addmm,row_sum,mean,log_softmax,sgd,adam,adamw";

#[test]
fn cpu_and_cuda_emu_agree_by_result_key() {
    let json = common::report::dir().join("cuda_emu_backend.json");
    let mut cmd = common::cli::bin();
    cmd.env(
        detbench::backend::cuda::emu::CACHE_ENV,
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cuda_emu"),
    )
    .args([
        "run",
        "--backend",
        "cpu,cuda-emu",
        "--op",
        OPS,
        "--variant",
        "all",
    ])
    .args(["--precision", "f32,f16", "--accumulator", "f32"])
    .args(["--size", "3001", "--bins", "37", "--index-dist", "zipf"])
    .args([
        "--conv-shape",
        "2,5,9,7,6,3,2,2,1,2",
        "--mm-shape",
        "33,40,300",
    ])
    .args([
        "--row-len",
        "1000",
        "--steps",
        "3",
        "--runs",
        "2",
        "--warmup",
        "0",
    ])
    .args(["--workgroup-size", "64", "--quiet", "--json"])
    .arg(&json);
    common::report::run_ok(&mut cmd);
    let report = common::report::load(&json);
    // An atomic row is paired with the cpu's whatever its ordering: cuda-emu sweeps the
    // PTX orderings (its capabilities), the cpu runs its one.
    let key = |r: &detbench::report::ResultRecord| {
        let k = ResultKey::of(r, &report.env);
        (CaseKey::of(r), r.ordering == Ordering::None, k.workgroups)
    };
    let cpu: BTreeMap<_, _> = report
        .results
        .iter()
        .filter(|r| r.backend == "cpu")
        .map(|r| (key(r), r))
        .collect();
    let emu: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.backend == "cuda-emu")
        .collect();
    let mut problems = Vec::new();
    let (mut ordered, mut atomic, mut bounded, mut offered_elsewhere) = (0, 0, 0, 0);
    let mut softmax = 0usize;
    for r in &emu {
        let what = format!(
            "{} {} {}/{} {}",
            r.op, r.variant, r.precision, r.accumulator, r.ordering
        );
        let Some(c) = cpu.get(&key(r)) else {
            problems.push(format!("{what}: no cpu row with the same key"));
            continue;
        };
        if r.status == Status::Unsupported && !r.message.contains("sm_") {
            // A case the cuda backend offers on no device (an f16 optimizer, an f32
            // tensor_core, an atomic log_softmax): its reason names no architecture.
            offered_elsewhere += 1;
            continue;
        }
        if r.status != Status::Ok {
            problems.push(format!("{what}: {:?} ({})", r.status, r.message));
            continue;
        }
        let within = matches!((r.max_abs_err, r.error_bound), (Some(e), Some(b)) if e <= b);
        let mut bound_held = || {
            if !within {
                problems.push(format!(
                    "{what}: error {:?} against the bound {:?}",
                    r.max_abs_err, r.error_bound
                ));
            }
        };
        if r.ordering != Ordering::None {
            atomic += 1;
            bound_held();
            continue;
        }
        // tensor_core's sums are in the tensor core's own order, which the CPU does not
        // emulate (no cpu fingerprint; tests/it/cuda_emu_conv.rs checks it on integers): it
        // is held to its bound.
        if c.fingerprint.is_none() {
            bounded += 1;
            bound_held();
            continue;
        }
        ordered += 1;
        softmax += usize::from(r.op == "log_softmax");
        if r.fingerprint != c.fingerprint {
            problems.push(format!(
                "{what}: fingerprint {:?}, the cpu row's {:?}",
                r.fingerprint, c.fingerprint
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(ordered >= 60, "only {ordered} ordered cuda-emu rows");
    assert!(atomic >= 10, "only {atomic} atomic cuda-emu rows");
    assert!(bounded >= 5, "only {bounded} tensor_core rows");
    assert!(
        softmax >= 4,
        "only {softmax} ordered log_softmax rows compared"
    );
    assert!(
        offered_elsewhere < 40,
        "{offered_elsewhere} cases unsupported everywhere"
    );
}
