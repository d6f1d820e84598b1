//! Differences between the two reports' environments, and which results each concerns.

use crate::report::key::{self, DeviceId};
use crate::report::Env;
use std::collections::BTreeSet;

/// One difference between the two environments.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvChange {
    /// Which results it can concern: one device, or these backends (none listed: all).
    pub backends: Vec<String>,
    pub device: Option<DeviceId>,
    /// What changed ("wgpu driver", "kernel kernels/wgsl/reduce.wgsl", "rustc").
    pub component: String,
    pub before: String,
    pub after: String,
}

impl EnvChange {
    fn concerns(&self, d: &DeviceId) -> bool {
        match &self.device {
            // Devices are matched by backend and stable name (twins share a change).
            Some(dev) => dev.backend == d.backend && dev.name == d.name,
            None => self.backends.is_empty() || self.backends.contains(&d.backend),
        }
    }

    pub fn describe(&self) -> String {
        format!("{}: {} -> {}", self.component, self.before, self.after)
    }
}

/// Runtime readings that change from run to run and are no part of the environment.
fn is_reading(detail: &str) -> bool {
    [
        "temperature",
        "power_w",
        "_mhz",
        "utilization",
        "memory_used",
        "fan",
    ]
    .iter()
    .any(|w| detail.contains(w))
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

pub(super) fn short(h: &str) -> String {
    h.chars().take(12).collect()
}

/// Every difference between two environments that can change results.
pub fn env_changes(base: &Env, cur: &Env) -> Vec<EnvChange> {
    let mut out = Vec::new();
    let mut push = |backends: Vec<String>,
                    device: Option<DeviceId>,
                    component: String,
                    before: String,
                    after: String| {
        out.push(EnvChange {
            backends,
            device,
            component,
            before,
            after,
        })
    };
    for (name, a, b) in [
        ("detbench version", &base.tool_version, &cur.tool_version),
        ("detbench commit", &base.git_commit, &cur.git_commit),
        ("rustc", &base.rustc, &cur.rustc),
        ("os", &base.os, &cur.os),
        ("host processor", &base.cpu, &cur.cpu),
    ] {
        if a != b {
            push(
                vec![],
                None,
                name.into(),
                format!("'{a}'"),
                format!("'{b}'"),
            );
        }
    }
    let paths: BTreeSet<&String> = base
        .kernel_hashes
        .keys()
        .chain(cur.kernel_hashes.keys())
        .collect();
    for p in paths {
        let (a, b) = (base.kernel_hashes.get(p), cur.kernel_hashes.get(p));
        if a != b {
            let h = |x: Option<&String>| x.map(|s| short(s)).unwrap_or_else(|| "(none)".into());
            // A kernel source concerns the backends that compile kernels: those with
            // compile options in either report (read from the reports, not guessed from the
            // file's path); every backend when neither report names one.
            let compiling: BTreeSet<&String> = base
                .compile_options
                .keys()
                .chain(cur.compile_options.keys())
                .collect();
            push(
                compiling.into_iter().cloned().collect(),
                None,
                format!("kernel {p}"),
                format!("sha256 {}", h(a)),
                format!("sha256 {}", h(b)),
            );
        }
    }
    let backends: BTreeSet<&String> = base
        .compile_options
        .keys()
        .chain(cur.compile_options.keys())
        .collect();
    for b in backends {
        let (x, y) = (base.compile_options.get(b), cur.compile_options.get(b));
        if let (Some(x), Some(y)) = (x, y) {
            if x != y {
                // Name the changed options, not the whole object.
                match (x.as_object(), y.as_object()) {
                    (Some(xo), Some(yo)) => {
                        let keys: BTreeSet<&String> = xo.keys().chain(yo.keys()).collect();
                        for k in keys {
                            let (xv, yv) = (xo.get(k), yo.get(k));
                            if xv != yv {
                                let s = |v: Option<&serde_json::Value>| {
                                    v.map(show).unwrap_or_else(|| "(none)".into())
                                };
                                push(
                                    vec![b.clone()],
                                    None,
                                    format!("{b} compile option {k}"),
                                    s(xv),
                                    s(yv),
                                );
                            }
                        }
                    }
                    _ => push(
                        vec![b.clone()],
                        None,
                        format!("{b} compile options"),
                        x.to_string(),
                        y.to_string(),
                    ),
                }
            }
        }
    }
    for (k, a) in &base.extra {
        if let Some(b) = cur.extra.get(k) {
            if a != b {
                push(vec![], None, format!("env {k}"), show(a), show(b));
            }
        }
    }
    // Devices, matched by their stable identity.
    let ident =
        |d: &crate::backend::DeviceInfo| (d.backend.clone(), key::stable_device_name(&d.name));
    for bd in &base.devices {
        let Some(cd) = cur.devices.iter().find(|c| ident(c) == ident(bd)) else {
            continue;
        };
        let dev = DeviceId {
            backend: bd.backend.clone(),
            vendor_id: None,
            device_id: None,
            name: key::stable_device_name(&bd.name),
            slot: None,
        };
        let label = format!("{} {}", dev.backend, dev.name);
        if bd.name != cd.name {
            push(
                vec![],
                Some(dev.clone()),
                format!("{label} device name"),
                format!("'{}'", bd.name),
                format!("'{}'", cd.name),
            );
        }
        if bd.driver != cd.driver {
            push(
                vec![],
                Some(dev.clone()),
                format!("{label} driver"),
                format!("'{}'", bd.driver),
                format!("'{}'", cd.driver),
            );
        }
        let keys: BTreeSet<&String> = bd.details.keys().chain(cd.details.keys()).collect();
        for k in keys.into_iter().filter(|k| !is_reading(k)) {
            let (x, y) = (bd.details.get(k), cd.details.get(k));
            if x != y {
                let s =
                    |v: Option<&serde_json::Value>| v.map(show).unwrap_or_else(|| "(none)".into());
                push(
                    vec![],
                    Some(dev.clone()),
                    format!("{label} {k}"),
                    s(x),
                    s(y),
                );
            }
        }
    }
    out
}

/// The environment changes that concern a device, as one phrase.
pub(super) fn env_cause(changes: &[EnvChange], d: &DeviceId) -> Option<String> {
    let mine: Vec<String> = changes
        .iter()
        .filter(|c| c.concerns(d))
        .map(EnvChange::describe)
        .collect();
    (!mine.is_empty()).then(|| format!("the environment changed: {}", mine.join("; ")))
}
