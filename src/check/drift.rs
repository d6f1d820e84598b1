//! Timing noise beyond one row: each device's overall shift and row-to-row scatter, the
//! between-report noise of several baselines, and which rows the host's scheduler timed.

use crate::report::key::{DeviceId, ResultKey};
use crate::report::{Env, ResultRecord};
use crate::shared::stats::quantile;
use std::collections::BTreeMap;

/// How one row's median time varies from baseline report to baseline report (two or
/// more baselines): the between-report noise that the runs inside one report do not show.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Between {
    /// The slowest of the baselines' medians (ms).
    pub slowest: f64,
    /// Slowest / fastest baseline median (1 when they agree).
    pub spread: f64,
    /// Baseline reports with a median for this row.
    pub reports: usize,
}

/// Each row's between-report noise over the baselines (rows measured by at least two).
pub(super) fn between_noise(
    bases: &[BTreeMap<ResultKey, &ResultRecord>],
) -> BTreeMap<ResultKey, Between> {
    let mut medians: BTreeMap<ResultKey, Vec<f64>> = BTreeMap::new();
    for b in bases {
        for (k, r) in b {
            if r.status != "ok" {
                continue;
            }
            if let Some(m) = quantile(&r.times_ms, 0.5).filter(|m| *m > 0.0) {
                medians.entry(k.clone()).or_default().push(m);
            }
        }
    }
    medians
        .into_iter()
        .filter(|(_, m)| m.len() >= 2)
        .map(|(k, m)| {
            let hi = m.iter().copied().fold(f64::MIN, f64::max);
            let lo = m.iter().copied().fold(f64::MAX, f64::min);
            (
                k,
                Between {
                    slowest: hi,
                    spread: hi / lo,
                    reports: m.len(),
                },
            )
        })
        .collect()
}

/// True when a row's times were taken on the host's scheduler: by the host's clock, by a
/// device that is the CPU itself (lavapipe's timestamps come from the CPU's clock and its
/// shaders run on host threads), or by the timer of a backend whose capabilities say its
/// work runs on this process's threads (an emulator's wall clock), so a preempted run
/// waits whole scheduler time slices.
pub(super) fn host_scheduled(r: &ResultRecord, env: &Env) -> bool {
    let own_threads = r
        .backend
        .parse::<crate::backend::BackendKind>()
        .is_ok_and(|k| {
            let t = k.capabilities().timer;
            t.host_threads && t.name == r.timer
        });
    r.timer == "host"
        || own_threads
        || env
            .devices
            .iter()
            .any(|d| d.backend == r.backend && d.name == r.device && d.is_cpu_device())
}

/// Fewest timed rows on a device for its overall shift to be measured.
pub const MIN_ROWS_FOR_DRIFT: usize = 5;

/// Robust z-score a row's shift must exceed, against how far the device's rows shift
/// relative to each other between the two reports.
pub const ROW_SHIFT_Z: f64 = 4.0;

/// How the timings of one device moved between the two reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drift {
    /// Median over rows of current / baseline median time: the whole device's shift.
    pub shift: f64,
    /// Ratio a single row's shift (relative to `shift`) must exceed to stand out from the
    /// row-to-row scatter: exp(ROW_SHIFT_Z x 1.4826 x MAD of the log ratios).
    pub scatter: f64,
    /// The largest speedup of one row relative to `shift` (1 when none sped up): with
    /// nothing changed, baseline and current are exchangeable, so a row can slow by chance
    /// as far as another one sped up by chance.
    pub speedup: f64,
    /// Rows measured.
    pub rows: usize,
}

impl Default for Drift {
    fn default() -> Self {
        Drift {
            shift: 1.0,
            scatter: 1.0,
            speedup: 1.0,
            rows: 0,
        }
    }
}

/// Each device's timing drift between the reports. A machine busier during one run
/// shifts every row (`shift`); load bursts shorter than a run shift single rows, and the
/// scatter of row shifts measures how much (the timed runs of one row are back to back, so
/// the row's own spread does not show a burst that covers all of them). A kernel
/// regression must stand out from both. Devices with fewer than [`MIN_ROWS_FOR_DRIFT`]
/// rows get no estimate.
pub(super) fn device_drifts(
    b: &BTreeMap<ResultKey, &ResultRecord>,
    c: &BTreeMap<ResultKey, &ResultRecord>,
) -> BTreeMap<DeviceId, Drift> {
    let mut ratios: BTreeMap<DeviceId, Vec<f64>> = BTreeMap::new();
    for (k, br) in b {
        let Some(cr) = c.get(k) else { continue };
        if br.status != "ok" || cr.status != "ok" {
            continue;
        }
        if let (Some(mb), Some(mc)) = (quantile(&br.times_ms, 0.5), quantile(&cr.times_ms, 0.5)) {
            if mb > 0.0 && mc > 0.0 {
                ratios
                    .entry(k.device.clone())
                    .or_default()
                    .push((mc / mb).ln());
            }
        }
    }
    ratios
        .into_iter()
        .filter(|(_, r)| r.len() >= MIN_ROWS_FOR_DRIFT)
        .filter_map(|(d, logs)| {
            let m = quantile(&logs, 0.5)?;
            let dev: Vec<f64> = logs.iter().map(|x| (x - m).abs()).collect();
            let mad = quantile(&dev, 0.5)?;
            let fastest = logs.iter().copied().fold(m, f64::min);
            Some((
                d,
                Drift {
                    shift: m.exp(),
                    scatter: (ROW_SHIFT_Z * 1.4826 * mad).exp(),
                    speedup: (m - fastest).exp(),
                    rows: logs.len(),
                },
            ))
        })
        .collect()
}
