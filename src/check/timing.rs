//! The performance verdict of one row.

use super::drift::{Between, Drift};
use super::options::CheckOptions;
use super::verdict::{Finding, Kind, Verdict};
use crate::report::ResultRecord;
use crate::shared::stats::{
    mann_whitney_greater, noise_ratio, quantile, shift_lower_bound, MannWhitney,
};

/// The performance verdict of one row (see the module documentation for the rule).
#[allow(clippy::too_many_arguments)]
pub(super) fn compare_timing(
    v: &mut Verdict,
    base: &ResultRecord,
    cur: &ResultRecord,
    cause: &Option<String>,
    opts: &CheckOptions,
    drift: Drift,
    between: Option<Between>,
    host: bool,
) {
    let (Some(mb), Some(mc)) = (quantile(&base.times_ms, 0.5), quantile(&cur.times_ms, 0.5)) else {
        return;
    };
    if mb <= 0.0 {
        return;
    }
    let ratio = mc / mb;
    let limit = 1.0 + opts.max_slowdown;
    // The noise a slowdown must stand out from, as a ratio: each report's own spread
    // (quartile ratio), how far single rows of this device move relative to each other
    // (MAD scatter), and the largest speedup of a row on this device. Under "nothing
    // changed" baseline and current are exchangeable, so a row slows by chance as far as
    // another row sped up by chance; one report cannot see the load bursts that cover all
    // of a row's back-to-back runs, but the other rows show how large they were.
    let own = noise_ratio(&base.times_ms).max(noise_ratio(&cur.times_ms));
    let noise = own.max(drift.scatter).max(drift.speedup);
    let threshold = limit.max(noise);
    // A row whose work runs on this process's threads also carries the process's CPU time
    // per run. Other processes' load stretches wall time but not CPU time, while a kernel
    // that does more work costs more of both.
    let cpu_ratio = match (host, base.cpu_ms_per_run, cur.cpu_ms_per_run) {
        (true, Some(b), Some(c)) if b > 0.0 && c.is_finite() => Some(c / b),
        _ => None,
    };
    // The CPU time grew with the wall time: beyond 1 + max-slowdown and the contention
    // allowance (other processes on the cores stretch CPU time too, through the shared
    // caches, memory bandwidth and SMT sibling), by at least half the wall-clock slowdown
    // (in log terms; threads that spin while they wait for a descheduled sibling add some
    // CPU time under load, never the whole stretch), and by more than the CPU floor in ms
    // (the process clock counts other threads too, and a row of microseconds may start cold).
    let contention = limit.max(opts.host_contention);
    let cpu_growth_ms = cur.cpu_ms_per_run.unwrap_or(0.0) - base.cpu_ms_per_run.unwrap_or(0.0);
    let more_work = cpu_growth_ms > opts.host_cpu_floor_ms
        && cpu_ratio.is_some_and(|c| c > contention && ratio > 1.0 && c.ln() >= 0.5 * ratio.ln());
    // The device's overall shift is machine load only where the evidence says so: a
    // host-scheduled row whose CPU time was measured and did not grow. A device's own timer
    // (a GPU's events or timestamps) does not see host load, and a row without CPU times
    // gives no evidence: there a device-wide shift is judged like any slowdown.
    let load_evidence = cpu_ratio.is_some() && !more_work;
    let shift = if load_evidence {
        drift.shift.max(1.0)
    } else {
        1.0
    };
    let device_wide = drift.rows > 0 && !load_evidence && drift.shift > limit;
    // The fastest run is the least disturbed by a busy machine (load only adds time).
    let (fb, fc) = (
        quantile(&base.times_ms, 0.0).unwrap_or(mb),
        quantile(&cur.times_ms, 0.0).unwrap_or(mc),
    );
    let min_ratio = if fb > 0.0 { fc / fb } else { ratio };
    let added_ms = fc - fb;
    // The floor exists for preemption (a preempted run waits whole time slices); a row
    // whose CPU time grew with its wall time did more work, which is not preemption.
    let floor = if host && !more_work {
        opts.host_floor_ms
    } else {
        0.0
    };
    let p = match mann_whitney_greater(&base.times_ms, &cur.times_ms, opts.alpha) {
        MannWhitney::TooFewRuns { min_p } => {
            v.notes.push(format!(
                "timing not judged: with {} and {} runs the one-sided Mann-Whitney U test cannot reach alpha = {} (smallest p = {min_p:.3}); median {mb:.4} -> {mc:.4} ms",
                base.times_ms.len(),
                cur.times_ms.len(),
                opts.alpha
            ));
            return;
        }
        MannWhitney::P { p, exact } => (p, exact),
    };
    let (p, exact) = p;
    // The slowdown with confidence 1 - alpha (Hodges-Lehmann lower bound of the ratio).
    let lower = shift_lower_bound(&base.times_ms, &cur.times_ms, opts.alpha).unwrap_or(0.0);
    let beyond_effect =
        p < opts.alpha && lower / shift > threshold && min_ratio > threshold && added_ms > floor;
    // Runs inside one report are correlated (one process, one scheduling and clock
    // state), so their spread understates how far a rerun's median moves. With several
    // baselines that movement is measured: the current median must also exceed the
    // slowest baseline median by more than the baselines' spread.
    let beyond_between = match between {
        Some(bw) if bw.reports >= 2 => mc > bw.slowest * bw.spread,
        _ => true,
    };
    let between_text = match between {
        Some(bw) if bw.reports >= 2 => format!(
            "; it is x{:.2} the slowest of {} baseline medians, beyond their spread x{:.2}",
            mc / bw.slowest,
            bw.reports,
            bw.spread
        ),
        _ => "; between-report noise is unmeasured with one baseline (pass 3 or more --baseline reports)".into(),
    };
    let floor_text = match (host, more_work, cpu_ratio) {
        (true, true, Some(cr)) => format!(
            "; the process's CPU time per run grew x{cr:.2} ({:.4} -> {:.4} ms) with the wall time: the kernel did more work, so neither the host floor nor the device's shift excuses it",
            base.cpu_ms_per_run.unwrap_or(0.0),
            cur.cpu_ms_per_run.unwrap_or(0.0),
        ),
        (true, _, _) => format!(
            ", and its fastest run is {added_ms:.3} ms slower, beyond the host floor of {floor} ms"
        ),
        _ => String::new(),
    };
    let shift_text = if load_evidence {
        format!(
            "x{:.2} relative to the device's overall shift x{:.2} (divided out: this row's CPU time did not grow, so the shift is machine load)",
            lower / shift,
            drift.shift
        )
    } else if device_wide {
        format!(
            "not divided by the device's overall shift x{:.2} ({})",
            drift.shift,
            if host {
                "no evidence of machine load: the CPU time grew with the wall time, or was not measured"
            } else {
                "a device's own timer does not see host load"
            }
        )
    } else {
        format!("the device's overall shift is x{:.2}", drift.shift)
    };
    // A wall-clock slowdown whose CPU time stayed within 1 + max-slowdown is the machine's
    // load, not the kernel.
    if let (true, Some(cr)) = (beyond_effect, cpu_ratio) {
        if cr <= limit {
            v.notes.push(format!(
                "median {mb:.4} -> {mc:.4} ms (x{ratio:.2}, p = {p:.2e}) but the process's CPU time per run moved only x{cr:.2} ({:.4} -> {:.4} ms), within 1 + max-slowdown = {limit:.2}: the row waited for a busy CPU; its kernel did not do more work",
                base.cpu_ms_per_run.unwrap_or(0.0),
                cur.cpu_ms_per_run.unwrap_or(0.0),
            ));
            return;
        }
    }
    if beyond_effect && !beyond_between {
        if let Some(bw) = between {
            v.notes.push(format!(
                "median {mb:.4} -> {mc:.4} ms (x{ratio:.2}, p = {p:.2e}) but within the between-report noise: the {} baseline medians span x{:.2} up to {:.4} ms",
                bw.reports, bw.spread, bw.slowest
            ));
        }
    } else if beyond_effect {
        v.slowdown = Some((p, Finding {
            kind: Kind::Performance,
            blocks_accept: false,
            what: format!(
                "{}slower: median {mb:.4} -> {mc:.4} ms (x{ratio:.2}); with confidence 1 - alpha it is at least x{lower:.2} (Hodges-Lehmann bound), {shift_text}, and its fastest run is x{min_ratio:.2}; one-sided Mann-Whitney U on {}+{} runs gives p = {p:.2e} ({}) < alpha = {}; these exceed both 1 + max-slowdown = {limit:.2} and the noise x{noise:.2} (the largest of each report's quartile ratio x{own:.2}, the scatter of row shifts on this device x{:.2} and its largest row speedup x{:.2}){floor_text}{between_text}",
                if device_wide {
                    format!("device-wide: every row of this device moved x{:.2} (median of {} rows), and this one is ", drift.shift, drift.rows)
                } else {
                    String::new()
                },
                base.times_ms.len(),
                cur.times_ms.len(),
                if exact { "exact" } else { "normal approximation" },
                opts.alpha,
                drift.scatter,
                drift.speedup,
            ),
            cause: cause.clone().unwrap_or_else(|| {
                if device_wide {
                    "no environment difference recorded: a device-wide change (driver, clocks, power or thermal state, or code every kernel shares)".into()
                } else {
                    "no environment difference recorded: the kernel, or a busier machine".into()
                }
            }),
            todo: "rerun on an idle machine with more --runs; if it persists, profile the kernel (or pass --no-timing where timings cannot be trusted)".into(),
        }));
    } else if ratio > limit {
        let why = if p >= opts.alpha {
            format!("not significant (p = {p:.2e})")
        } else if lower / shift <= threshold || min_ratio <= threshold {
            format!(
                "not beyond the noise x{threshold:.2}: bound x{lower:.2} divided by the device's shift x{shift:.2}, fastest run x{min_ratio:.2} (quartile ratio x{own:.2}, row-shift scatter x{:.2}, largest row speedup x{:.2})",
                drift.scatter, drift.speedup
            )
        } else {
            let cpu_note = match cpu_ratio {
                Some(cr) if cr > contention && cpu_growth_ms <= opts.host_cpu_floor_ms => format!(
                    "; its CPU time per run grew x{cr:.2} but only {cpu_growth_ms:.4} ms a run, within the CPU floor of {} ms (the process clock counts other threads too; see --host-cpu-floor-ms)",
                    opts.host_cpu_floor_ms
                ),
                Some(cr) if cr > limit => format!(
                    "; its CPU time per run grew x{cr:.2}, within the contention allowance x{contention:.2} (see --host-contention)"
                ),
                _ => String::new(),
            };
            format!(
                "its fastest run is only {added_ms:.3} ms slower, within the host floor of {floor} ms (a preempted run waits whole scheduler time slices; see --host-floor-ms){cpu_note}"
            )
        };
        v.notes.push(format!(
            "median {mb:.4} -> {mc:.4} ms (x{ratio:.2}) but {why}"
        ));
    }
}
