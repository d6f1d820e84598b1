//! Comparing one matched pair of rows: status, inputs, bits, error, the batch axis, then
//! timing.

use super::drift::{Between, Drift};
use super::env::{env_cause, EnvChange};
use super::options::CheckOptions;
use super::timing::compare_timing;
use super::verdict::{Finding, Kind, Verdict};
use crate::numerics::ulp::ulp_distance;
use crate::numerics::Precision;
use crate::report::key::ResultKey;
use crate::report::ResultRecord;

fn sci(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3e}")).unwrap_or_else(|| "-".into())
}

/// Compares one matched pair.
pub fn compare(
    key: &ResultKey,
    base: &ResultRecord,
    cur: &ResultRecord,
    changes: &[EnvChange],
    opts: &CheckOptions,
    drift: Drift,
) -> Verdict {
    let host = base.timer == "host" || cur.timer == "host";
    compare_with(key, base, cur, changes, opts, drift, None, host)
}

/// [`compare`], with the row's between-report noise when several baselines measured it,
/// and whether its times were taken on the host's scheduler (see [`super::drift::host_scheduled`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn compare_with(
    key: &ResultKey,
    base: &ResultRecord,
    cur: &ResultRecord,
    changes: &[EnvChange],
    opts: &CheckOptions,
    drift: Drift,
    between: Option<Between>,
    host: bool,
) -> Verdict {
    let mut v = Verdict {
        key: key.clone(),
        findings: Vec::new(),
        notes: Vec::new(),
        slowdown: None,
    };
    let cause = env_cause(changes, &key.device);
    let cause_or = |fallback: &str| cause.clone().unwrap_or_else(|| fallback.to_string());
    let accept = "if the change is intended, run `detbench check --accept` to make the current report the baseline";
    if base.status != "ok" {
        if cur.status == "ok" {
            v.notes
                .push(format!("was {} in the baseline, now runs ok", base.status));
        } else if cur.status != base.status {
            v.notes.push(format!(
                "status {} -> {}: {}",
                base.status, cur.status, cur.message
            ));
        }
        return v;
    }
    if cur.status != "ok" {
        v.findings.push(Finding {
            kind: Kind::Numeric,
            blocks_accept: true,
            what: format!(
                "ran ok in the baseline, now {}: {}",
                cur.status,
                if cur.message.is_empty() {
                    "(no message)"
                } else {
                    &cur.message
                }
            ),
            cause: cause_or("no environment difference recorded: the kernel or detbench changed"),
            todo: "rerun this case with --dump to inspect its outputs; fix the kernel or the device setup".into(),
        });
        return v;
    }
    if !base.input_sha256.is_empty()
        && !cur.input_sha256.is_empty()
        && base.input_sha256 != cur.input_sha256
    {
        v.findings.push(Finding {
            kind: Kind::Numeric,
            blocks_accept: false,
            what: format!(
                "the same input spec and seed now give other input bytes (sha256 {} -> {}), so the outputs are not comparable",
                base.input_sha256,
                cur.input_sha256
            ),
            cause: "the input generator changed (another detbench version?)".into(),
            todo: "make a new baseline with this detbench version and `check --accept` it".into(),
        });
        return v;
    }
    let deterministic = base.deterministic_variant || cur.deterministic_variant;
    if deterministic {
        compare_deterministic(&mut v, base, cur, &cause, accept);
    } else {
        v.notes.push(format!(
            "nondeterministic variant: {}/{} distinct outputs (baseline {}/{}), spread {} ULP (baseline {}), max error {} ULP (baseline {})",
            cur.distinct_outputs.unwrap_or(0),
            cur.runs,
            base.distinct_outputs.unwrap_or(0),
            base.runs,
            cur.max_ulp_run_to_run.unwrap_or(0),
            base.max_ulp_run_to_run.unwrap_or(0),
            cur.max_ulp_err.unwrap_or(0),
            base.max_ulp_err.unwrap_or(0),
        ));
    }
    if deterministic {
        compare_error(&mut v, base, cur, &cause, opts);
    } else if let (Some(e), Some(b)) = (cur.max_abs_err, cur.error_bound) {
        // Judged by its bound (an ok row is within it); its largest error over a few runs
        // is one draw of a maximum, so growth against the baseline's draw is not judged.
        v.notes.push(format!(
            "error {e:.3e} is {:.1}% of its a-priori bound {b:.3e}",
            if b > 0.0 { 100.0 * e / b } else { 0.0 }
        ));
    }
    compare_batch(&mut v, base, cur, &cause);
    if base.timer != cur.timer && !base.timer.is_empty() && !cur.timer.is_empty() {
        v.notes.push(format!(
            "timer changed ({} -> {}): timings compared anyway",
            base.timer, cur.timer
        ));
    }
    if !opts.no_timing {
        compare_timing(&mut v, base, cur, &cause, opts, drift, between, host);
    }
    v
}

/// The batch axis (`run --batch-sizes`): a kernel that kept the shared rows' bits across
/// batch sizes in the baseline and no longer does is a numeric regression.
fn compare_batch(v: &mut Verdict, base: &ResultRecord, cur: &ResultRecord, cause: &Option<String>) {
    match (base.batch_invariant, cur.batch_invariant) {
        (Some(true), Some(false)) => v.findings.push(Finding {
            kind: Kind::Numeric,
            blocks_accept: true,
            what: format!(
                "no longer batch invariant: the rows every batch shares now differ by up to {} ULP across batch sizes (invariant in the baseline)",
                cur.max_ulp_across_batches.unwrap_or(0)
            ),
            cause: cause.clone().unwrap_or_else(|| {
                "no environment difference recorded: the kernel's tiling or split now follows the batch size".into()
            }),
            todo: "rerun with the same --batch-sizes and compare the variant's split (the record's message) with the baseline's".into(),
        }),
        (Some(false), Some(false)) => v.notes.push(format!(
            "batch variant in both reports: up to {} ULP across batch sizes (baseline {})",
            cur.max_ulp_across_batches.unwrap_or(0),
            base.max_ulp_across_batches.unwrap_or(0)
        )),
        (Some(false), Some(true)) => v
            .notes
            .push("now batch invariant (it was not in the baseline)".into()),
        _ => {}
    }
}

fn compare_deterministic(
    v: &mut Verdict,
    base: &ResultRecord,
    cur: &ResultRecord,
    cause: &Option<String>,
    accept: &str,
) {
    if cur.bitwise_reproducible == Some(false) {
        let was = if base.bitwise_reproducible == Some(true) {
            "it was reproducible in the baseline"
        } else {
            "it was not reproducible in the baseline either"
        };
        v.findings.push(Finding {
            kind: Kind::Numeric,
            blocks_accept: true,
            what: format!(
                "deterministic variant is not bitwise reproducible: {} distinct outputs over {} runs, up to {} ULP apart ({was})",
                cur.distinct_outputs.unwrap_or(0),
                cur.runs,
                cur.max_ulp_run_to_run.unwrap_or(0)
            ),
            cause: cause.clone().unwrap_or_else(|| {
                "no environment difference recorded: a race or an unordered atomic in the kernel".into()
            }),
            todo: "treat as a bug: rerun with --runs 20 --dump to capture differing outputs and bisect the kernel or driver".into(),
        });
        return;
    }
    if base.bitwise_reproducible != Some(true) {
        v.notes.push(
            "deterministic variant was not reproducible in the baseline; its fingerprint is not compared".into(),
        );
        return;
    }
    if let (Some(a), Some(b)) = (&base.fingerprint, &cur.fingerprint) {
        if a != b {
            let detail = first_difference(base, cur);
            v.findings.push(Finding {
                kind: Kind::Numeric,
                blocks_accept: false,
                what: format!(
                    "deterministic variant now gives other bits: fingerprint {a} -> {b}; {detail}"
                ),
                cause: match (crate::reveal::explain::explain(base, cur), cause) {
                    (Some(order), Some(env)) => format!("{order}; {env}"),
                    (Some(order), None) => order,
                    (None, Some(env)) => env.clone(),
                    (None, None) => "no environment difference recorded: the kernel's order of operations changed (detbench or kernel source built without a new commit?); `run --reveal` on both sides, or `check --explain`, tells order from arithmetic".into(),
                },
                todo: format!("check that the new bits are within their bound (they are: the row is ok) and explain the change; {accept}"),
            });
        }
    }
}

/// Error growth of a deterministic variant (whose error is one number, not a draw).
fn compare_error(
    v: &mut Verdict,
    base: &ResultRecord,
    cur: &ResultRecord,
    cause: &Option<String>,
    opts: &CheckOptions,
) {
    let (Some(be), Some(ce)) = (base.max_ulp_err, cur.max_ulp_err) else {
        return;
    };
    let limit = (be as f64 * opts.error_growth).ceil() as u64 + opts.ulp_slack;
    if ce > limit {
        v.findings.push(Finding {
            kind: Kind::Numeric,
            blocks_accept: false,
            what: format!(
                "max error grew to {ce} ULP (abs {}), beyond {limit} ULP = {} x baseline {be} + {} slack",
                sci(cur.max_abs_err),
                opts.error_growth,
                opts.ulp_slack
            ),
            cause: cause
                .clone()
                .unwrap_or_else(|| "no environment difference recorded: the kernel changed".into()),
            todo: "see whether the accumulation order or precision changed; if the new error is intended, `check --accept`".into(),
        });
    }
}

/// Where two outputs of one deterministic row first differ, as far as the reports tell:
/// for a scalar output (`output_first` in both), element 0 with both values and their ULP
/// distance in the output format; for a multi-element output the reports carry no elements.
pub(super) fn first_difference(base: &ResultRecord, cur: &ResultRecord) -> String {
    match (base.output_first, cur.output_first) {
        (Some(x), Some(y)) => {
            let p = [&cur.output_precision, &cur.precision]
                .into_iter()
                .find_map(|s| s.parse::<Precision>().ok());
            let ulps = match p {
                Some(p) => match ulp_distance(p, x, y) {
                    u64::MAX => " (one of them is NaN)".to_string(),
                    u => format!(", {u} ULP apart in {p}"),
                },
                None => String::new(),
            };
            format!("first differing element: index 0 (the scalar output), {x:e} -> {y:e}{ulps}")
        }
        _ => "first differing element: not in the reports (a multi-element output: each report holds its hash only); rerun both with --dump and compare the output files".into(),
    }
}
