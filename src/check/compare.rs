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
use crate::report::{OutputBlocks, ResultRecord};

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
                cause: cause.clone().unwrap_or_else(|| {
                    "no environment difference recorded: the kernel's order of operations changed (detbench or kernel source built without a new commit?)".into()
                }),
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
/// for a scalar output (`output_first` in both), element 0; for a multi-element output
/// (`output_blocks` in both, same layout), the first block whose hash differs, and in it
/// the first kept element that differs, with both values, their bits and their ULP
/// distance in the output format, or the range of indices that holds the difference when
/// the kept elements agree. Older reports without the sketch get the way to find out.
pub(super) fn first_difference(base: &ResultRecord, cur: &ResultRecord) -> String {
    let p = [&cur.output_precision, &cur.precision]
        .into_iter()
        .find_map(|s| s.parse::<Precision>().ok());
    if let (Some(x), Some(y)) = (base.output_first, cur.output_first) {
        return format!(
            "first differing element: index 0 (the scalar output), {}",
            values_apart(p, x, y)
        );
    }
    match (&base.output_blocks, &cur.output_blocks, p) {
        (Some(a), Some(b), Some(p)) => block_difference(p, a, b),
        _ => "first differing element: not in the reports (a multi-element output, and a report without `output_blocks`, written before detbench kept them); rerun both with --dump and compare the output files".into(),
    }
}

/// "x -> y (bits a -> b), k ULP apart in p".
fn values_apart(p: Option<Precision>, x: f64, y: f64) -> String {
    let Some(p) = p else {
        return format!("{x:e} -> {y:e}");
    };
    let w = 2 * p.bytes();
    let ulps = match ulp_distance(p, x, y) {
        u64::MAX => "one of them is NaN".to_string(),
        u => format!("{u} ULP apart in {p}"),
    };
    format!(
        "{x:e} -> {y:e} (bits 0x{:0w$x} -> 0x{:0w$x}), {ulps}",
        p.bits(x),
        p.bits(y)
    )
}

/// One kept element of an [`OutputBlocks`]: its value from its hex bits in `p`.
fn kept_value(p: Precision, hex: &str) -> Option<f64> {
    if hex.len() != 2 * p.bytes() {
        return None;
    }
    let bits = u64::from_str_radix(hex, 16).ok()?;
    p.decode(&bits.to_le_bytes()[..p.bytes()]).first().copied()
}

/// [`first_difference`] for two sketches of multi-element outputs.
fn block_difference(p: Precision, a: &OutputBlocks, b: &OutputBlocks) -> String {
    if a.elements != b.elements {
        return format!(
            "the outputs have different lengths ({} -> {} elements)",
            a.elements, b.elements
        );
    }
    if (a.block, a.head) != (b.block, b.head) {
        return "first differing element: the reports cut the output into blocks differently (other detbench versions); rerun both with --dump and compare the output files".into();
    }
    let differing: Vec<u64> = (0..a.blocks())
        .filter(|&k| a.hashes.get(k as usize) != b.hashes.get(k as usize))
        .collect();
    let Some(&first) = differing.first() else {
        return "first differing element: every block of the output hashes the same (a collision of the 64-bit block hashes?); rerun both with --dump and compare the output files".into();
    };
    let (start, end, kept) = a.span(first);
    let offset: u64 = (0..first).map(|k| a.span(k).2).sum();
    let spread = format!(
        "{} of {} blocks of {} elements differ",
        differing.len(),
        a.blocks(),
        a.block
    );
    for i in 0..kept {
        let at = (offset + i) as usize;
        let (Some(x), Some(y)) = (
            a.heads.get(at).and_then(|h| kept_value(p, h)),
            b.heads.get(at).and_then(|h| kept_value(p, h)),
        ) else {
            break;
        };
        if p.bits(x) != p.bits(y) {
            return format!(
                "first differing element: index {} of {}, {}; {spread}",
                start + i,
                a.elements,
                values_apart(Some(p), x, y)
            );
        }
    }
    if kept == end - start {
        return format!("first differing element: block {first} hashes differently but its elements agree (a collision?); {spread}");
    }
    format!(
        "first differing element: at an index in {}..{} of {} (elements {start}..{} agree; each report keeps a block's first {kept} only); {spread}",
        start + kept,
        end,
        a.elements,
        start + kept
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::output_blocks;
    use proptest::prelude::*;

    fn rec(p: Precision, out: &[f64]) -> ResultRecord {
        ResultRecord {
            precision: p.name().into(),
            output_precision: p.name().into(),
            output_blocks: Some(output_blocks(p, out)),
            ..Default::default()
        }
    }

    /// The index `first_difference` names exactly, or the range `lo..hi` it gives.
    fn named(s: &str) -> Result<u64, (u64, u64)> {
        if let Some(r) = s.split("first differing element: index ").nth(1) {
            return Ok(r.split(' ').next().unwrap().parse().unwrap());
        }
        let r = s
            .split("at an index in ")
            .nth(1)
            .unwrap_or_else(|| panic!("neither an index nor a range: {s}"));
        let (lo, hi) = r.split(' ').next().unwrap().split_once("..").unwrap();
        Err((lo.parse().unwrap(), hi.parse().unwrap()))
    }

    proptest! {
        /// Item 6: for any output and any set of changed elements, `check` names the first
        /// changed element exactly (with both values and bits) when the sketches keep it,
        /// and otherwise a range that holds it while every kept element before it agrees.
        #[test]
        fn names_the_first_changed_element(
            n in 1usize..5000,
            seed in any::<u64>(),
            picks in proptest::collection::vec(any::<u32>(), 1..4),
            p in prop::sample::select(vec![Precision::F16, Precision::F32, Precision::F64]),
        ) {
            let mut s = crate::inputs::Stream::new(seed, 0);
            let a: Vec<f64> = (0..n).map(|_| p.round(s.normal())).collect();
            let mut b = a.clone();
            let changed: Vec<usize> = picks.iter().map(|&k| k as usize % n).collect();
            for &i in &changed {
                // The next value up in the format: one ULP away.
                b[i] = p.round(a[i] + a[i].abs().max(1e-3) * 4.0 * p.unit_roundoff());
                prop_assume!(b[i] != a[i]);
            }
            let first = *changed.iter().min().unwrap() as u64;
            let msg = first_difference(&rec(p, &a), &rec(p, &b));
            let sk = output_blocks(p, &a);
            let (start, _, kept) = sk.span(first / sk.block);
            match named(&msg) {
                Ok(i) => {
                    prop_assert_eq!(i, first, "{}", msg);
                    let w = 2 * p.bytes();
                    let (x, y) = (a[i as usize], b[i as usize]);
                    let bits = format!("(bits 0x{:0w$x} -> 0x{:0w$x})", p.bits(x), p.bits(y));
                    prop_assert!(msg.contains(&bits), "{} lacks {}", msg, bits);
                    prop_assert!(msg.contains(&format!("{x:e} -> {y:e}")), "{}", msg);
                    prop_assert!(msg.contains("ULP apart in"), "{}", msg);
                }
                Err((lo, hi)) => {
                    // Only a difference past the kept head of its block is given as a range.
                    prop_assert!(first >= start + kept, "{} for first {}", msg, first);
                    prop_assert!(lo <= first && first < hi, "{} for first {}", msg, first);
                }
            }
            // Small outputs are kept whole: always exact.
            if n as u64 <= OutputBlocks::MAX_BLOCKS * OutputBlocks::HEAD {
                prop_assert!(named(&msg).is_ok(), "{}", msg);
            }
        }
    }

    /// Reports written before `output_blocks` existed still compare: the finding says
    /// the reports do not hold the element, and how to find it.
    #[test]
    fn reports_without_the_sketch_say_how_to_find_the_element() {
        let p = Precision::F32;
        let new = rec(p, &[1.0, 2.0, 3.0]);
        let old = ResultRecord {
            output_blocks: None,
            ..new.clone()
        };
        for (a, b) in [(&old, &new), (&new, &old), (&old, &old)] {
            let m = first_difference(a, b);
            assert!(
                m.contains("not in the reports") && m.contains("--dump"),
                "{m}"
            );
        }
        // A NaN and an infinity keep their bits through the hex of the sketch.
        let a = rec(p, &[1.0, f64::NAN, 0.0]);
        let b = rec(p, &[1.0, f64::INFINITY, 0.0]);
        let m = first_difference(&a, &b);
        assert!(
            m.contains(
                "index 1 of 3, NaN -> inf (bits 0x7fc00000 -> 0x7f800000), one of them is NaN"
            ),
            "{m}"
        );
        let c = rec(p, &[1.0, f64::NAN, -0.0]);
        let m = first_difference(&a, &c);
        assert!(
            m.contains("index 2 of 3, 0e0 -> -0e0 (bits 0x00000000 -> 0x80000000), 0 ULP apart"),
            "{m}"
        );
    }
}
