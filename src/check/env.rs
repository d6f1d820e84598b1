//! Differences between the two reports' environments, and which results each concerns.

use crate::report::key::{self, DeviceId};
use crate::report::Env;
use std::collections::BTreeSet;

/// One difference between the two environments.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvChange {
    /// Which results it can concern: None for all, or one backend, or one device.
    pub backend: Option<String>,
    pub device: Option<DeviceId>,
    /// What changed ("wgpu driver", "kernel kernels/wgsl/reduce.wgsl", "rustc").
    pub component: String,
    pub before: String,
    pub after: String,
}

impl EnvChange {
    fn concerns(&self, d: &DeviceId) -> bool {
        match (&self.device, &self.backend) {
            // Devices are matched by backend and stable name (twins share a change).
            (Some(dev), _) => dev.backend == d.backend && dev.name == d.name,
            (None, Some(b)) => *b == d.backend,
            (None, None) => true,
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

/// The backend a kernel source belongs to, by its path.
fn kernel_backend(path: &str) -> Option<String> {
    if path.contains("wgsl") {
        Some("wgpu".into())
    } else if path.contains("cuda") || path.ends_with(".cu") || path.ends_with(".cuh") {
        Some("cuda".into())
    } else {
        None
    }
}

/// Every difference between two environments that can change results.
pub fn env_changes(base: &Env, cur: &Env) -> Vec<EnvChange> {
    let mut out = Vec::new();
    let mut push = |backend: Option<String>,
                    device: Option<DeviceId>,
                    component: String,
                    before: String,
                    after: String| {
        out.push(EnvChange {
            backend,
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
        ("host cpu", &base.cpu, &cur.cpu),
    ] {
        if a != b {
            push(None, None, name.into(), format!("'{a}'"), format!("'{b}'"));
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
            push(
                kernel_backend(p),
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
                                    Some(b.clone()),
                                    None,
                                    format!("{b} compile option {k}"),
                                    s(xv),
                                    s(yv),
                                );
                            }
                        }
                    }
                    _ => push(
                        Some(b.clone()),
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
                push(None, None, format!("env {k}"), show(a), show(b));
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
                None,
                Some(dev.clone()),
                format!("{label} device name"),
                format!("'{}'", bd.name),
                format!("'{}'", cd.name),
            );
        }
        if bd.driver != cd.driver {
            push(
                None,
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
                push(None, Some(dev.clone()), format!("{label} {k}"), s(x), s(y));
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
