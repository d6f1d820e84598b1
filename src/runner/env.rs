//! Provenance captured for a report: tool, build, OS, CPU, devices, kernel hashes,
//! compile options and the time the run started.

use crate::backend::{Backend, DeviceInfo};
use crate::report::Env;
use std::collections::BTreeMap;

/// Provenance for a report.
pub fn environment(
    command: &str,
    seed: u64,
    devices: Vec<DeviceInfo>,
    backends: &[Box<dyn Backend>],
) -> Env {
    let mut compile_options = BTreeMap::new();
    for b in backends {
        let opts = b.compile_options();
        if !opts.is_null() {
            compile_options.insert(b.kind().name().to_string(), opts);
        }
    }
    Env {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: env!("DETBENCH_GIT_COMMIT").into(),
        command: command.into(),
        os: os_description(),
        cpu: crate::backend::host_cpu_name(),
        rustc: env!("DETBENCH_RUSTC").into(),
        devices,
        kernel_hashes: crate::kernels::hashes(),
        compile_options,
        seed,
        started_at: now_rfc3339(),
        extra: BTreeMap::new(),
        shard: None,
        merged_from: Vec::new(),
    }
}

/// "Debian GNU/Linux 12 (bookworm), Linux 6.1.0" or the bare OS name.
pub fn os_description() -> String {
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| {
                l.trim_start_matches("PRETTY_NAME=")
                    .trim_matches('"')
                    .to_string()
            })
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string());
    match (pretty, kernel) {
        (Some(p), Some(k)) => format!("{p}, {} {k}", std::env::consts::OS),
        (Some(p), None) => p,
        (None, Some(k)) => format!("{} {k}", std::env::consts::OS),
        (None, None) => std::env::consts::OS.into(),
    }
}

/// Current UTC time in RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
