//! Outputs judged as they are read back (`backend::folding` with the runner's `Judge`) give
//! the metrics of the same outputs kept whole, and keep only the warm-up runs' and the
//! first judged run's outputs.

use crate::edges::case;
use detbench::backend::cpu::CpuBackend;
use detbench::backend::{folding, Backend, Outputs, RunSet};
use detbench::numerics::Precision;
use detbench::ops::{Op, Prepared};
use detbench::runner::{drop_warmup, judged_metrics, metrics, prepare, Judge, Metrics};
use std::sync::Arc;

/// `base` with element `e` moved by `k` units in the last place of f32 (still an f32).
fn nudge(base: &[f64], at: &[(usize, i32)]) -> Vec<f64> {
    let mut v = base.to_vec();
    for &(e, k) in at {
        let b = (v[e] as f32).to_bits() as i64 + k as i64;
        v[e] = f32::from_bits(b as u32) as f64;
    }
    v
}

/// Every field, floats by their bits (NaN included).
fn fields(m: &Metrics) -> Vec<u64> {
    vec![
        m.distinct_outputs,
        m.max_ulp_run_to_run,
        m.median_ulp_run_to_run.to_bits(),
        m.max_abs_err.to_bits(),
        m.max_rel_err.to_bits(),
        m.max_ulp_err,
        m.bound_violations,
        m.elements_differing,
        m.non_finite,
    ]
}

fn run_set(runs: &[Vec<f64>], fold: Option<(&Arc<Judge>, usize)>) -> RunSet {
    let fill = || {
        let mut o = Outputs::default();
        for r in runs {
            o.push(r.clone());
        }
        o
    };
    let outputs = match fold {
        Some((judge, skip)) => folding(judge.clone(), skip, fill),
        None => fill(),
    };
    RunSet {
        times_ms: vec![1.0; runs.len()],
        outputs,
        ..Default::default()
    }
}

fn real_output(prep: &Prepared) -> Vec<f64> {
    let set = CpuBackend::new().run(&prep.job).expect("the cpu runs it");
    set.outputs.into_first().expect("one run")
}

/// A scatter_add's real output, and runs that differ from it in ways the metrics see:
/// one and several ULPs, the same pattern twice, an element past its bound, a NaN and an
/// infinity, a warm-up run of its own. Folded and whole give the same fields, and the
/// folded set keeps two outputs whole (the warm-up's, the first judged run's).
#[test]
fn folded_outputs_give_the_metrics_of_whole_ones() {
    let prep = prepare(&case(
        Op::ScatterAdd,
        Precision::F32,
        Precision::F32,
        "atomic_cas",
        5000,
    ))
    .expect("prepare");
    let base = real_output(&prep);
    assert!(base.len() > 8, "a multi-element output");
    let (v1, v2) = (nudge(&base, &[(0, 1)]), nudge(&base, &[(1, 3), (5, 2)]));
    let far = nudge(&base, &[(2, 1 << 22)]);
    let mut odd = nudge(&base, &[(3, 1)]);
    odd[4] = f64::NAN;
    odd[6] = f64::INFINITY;
    let warm = nudge(&base, &[(7, 9)]);
    let runs = vec![
        warm,
        base.clone(),
        base.clone(),
        v1.clone(),
        v2.clone(),
        v1,
        far,
        odd.clone(),
        odd,
        base.clone(),
        v2,
    ];
    let mut whole = run_set(&runs, None);
    drop_warmup(&mut whole, runs.len() - 1);
    let want = metrics(&prep, &whole);
    let judge = Arc::new(Judge::new(&prep));
    let mut folded = run_set(&runs, Some((&judge, 1)));
    assert_eq!(
        folded.outputs.kept().len(),
        2,
        "the warm-up's and the first judged run's"
    );
    assert_eq!(folded.outputs.folded().len(), 4);
    drop_warmup(&mut folded, runs.len() - 1);
    assert_eq!(folded.outputs.kept().len(), 1);
    let got = judged_metrics(&prep, &folded, judge.take());
    assert_eq!(
        fields(&got),
        fields(&want),
        "folded {got:?}\nwhole {want:?}"
    );
    assert_eq!(got.fingerprint, want.fingerprint);
    // The runs really differ in every way asserted: the comparison is not vacuous.
    assert_eq!(want.distinct_outputs, 5);
    assert!(want.bound_violations >= 1 && want.non_finite == 4 && want.elements_differing == 7);
}

/// A timed run that repeats the warm-up run's bits is kept as a reference to it, not
/// folded, and judged with the kept outputs; a fold in force on another thread, or after
/// the scope ends, folds nothing.
#[test]
fn folding_is_scoped_to_the_thread_and_the_call() {
    let prep = prepare(&case(
        Op::ScatterAdd,
        Precision::F32,
        Precision::F32,
        "atomic_cas",
        500,
    ))
    .expect("prepare");
    let base = real_output(&prep);
    let other = nudge(&base, &[(0, 1)]);
    let judge = Arc::new(Judge::new(&prep));
    let runs = vec![
        other.clone(),
        base.clone(),
        other.clone(),
        nudge(&base, &[(1, 1)]),
    ];
    let set = run_set(&runs, Some((&judge, 1)));
    assert_eq!(
        (set.outputs.kept().len(), set.outputs.folded().len()),
        (2, 1)
    );
    let elsewhere = folding(judge.clone(), 1, || {
        std::thread::spawn(move || run_set(&runs, None))
            .join()
            .expect("joined")
    });
    assert_eq!(elsewhere.outputs.folded().len(), 0);
    let after = run_set(
        &[base.clone(), other.clone(), nudge(&base, &[(2, 1)])],
        None,
    );
    assert_eq!(
        (after.outputs.kept().len(), after.outputs.folded().len()),
        (3, 0)
    );
}
