//! What `detbench report` was given: run reports and training reports, with their paths.

use super::train::{load_any, AnyReport, TrainReport};
use super::{Report, ResultRecord};
use crate::error::DetError;
use std::path::PathBuf;

/// Everything given to `detbench report`.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Run reports, with their paths.
    pub runs: Vec<(PathBuf, Report)>,
    /// Training reports, with their paths.
    pub trains: Vec<(PathBuf, TrainReport)>,
}

impl Inputs {
    /// Reads each file as a run or a training report.
    pub fn load(paths: &[PathBuf]) -> Result<Inputs, DetError> {
        let mut inputs = Inputs::default();
        for p in paths {
            match load_any(p)? {
                AnyReport::Run(r) => inputs.runs.push((p.clone(), r)),
                AnyReport::Train(t) => inputs.trains.push((p.clone(), t)),
            }
        }
        Ok(inputs)
    }

    /// Every result of every run report.
    pub fn results(&self) -> Vec<&ResultRecord> {
        self.runs.iter().flat_map(|(_, r)| &r.results).collect()
    }

    /// "backend:device" of every device with results, in first-seen order.
    pub fn devices(&self) -> Vec<String> {
        devices(&self.results())
    }

    /// The device's copy bandwidth in GB/s: the best `copy` result on it, else
    /// `env.extra["copy_gbps"]` (a number, or an object keyed by device name or label).
    pub fn copy_gbps(&self, device: &str) -> Option<f64> {
        let measured = self
            .results()
            .into_iter()
            .filter(|r| {
                r.op == super::schema::BASELINE_OP && r.status == "ok" && device_label(r) == device
            })
            .filter_map(|r| r.gbps)
            .reduce(f64::max);
        measured.or_else(|| {
            self.runs.iter().find_map(|(_, rep)| {
                let v = rep.env.extra.get("copy_gbps")?;
                if let Some(x) = v.as_f64() {
                    return Some(x);
                }
                let name = device.split_once(':').map_or(device, |(_, n)| n);
                v.get(device)
                    .or_else(|| v.get(name))
                    .and_then(|x| x.as_f64())
            })
        })
    }

    /// The copy baseline of a device, and whether it is launch-bound: some kernel on the
    /// device moved bytes faster than the copy did, which a bandwidth-bound copy cannot
    /// allow (the copy then measures launch overhead, not memory bandwidth).
    pub fn copy_baseline(&self, device: &str) -> Option<(f64, bool)> {
        let c = self.copy_gbps(device)?;
        let fastest = self
            .results()
            .into_iter()
            .filter(|r| {
                device_label(r) == device && r.status == "ok" && r.op != super::schema::BASELINE_OP
            })
            .filter_map(|r| r.gbps)
            .fold(0.0f64, f64::max);
        Some((c, fastest > c))
    }
}

/// "backend:device".
pub fn device_label(r: &ResultRecord) -> String {
    format!("{}:{}", r.backend, r.device)
}

/// The "backend:device" labels of `results`, in first-seen order.
pub fn devices(results: &[&ResultRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in results {
        let d = device_label(r);
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}
