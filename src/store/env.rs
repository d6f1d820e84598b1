//! The environment of one device in one report, as the store's queryable columns: what may
//! change under a result key (driver, toolkit, Mesa, LLVM, detbench commit, kernel and
//! compile-option hashes, operating system) while the key stays the same.

use crate::report::key::DeviceId;
use crate::report::schema::{DeviceInfo, Env};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The environment columns, in the order `history` names their differences.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EnvColumns {
    /// The device's driver string as reported ("llvmpipe Mesa 22.3.6 (LLVM 15.0.6)").
    pub driver: String,
    /// The toolkit that compiled the kernels: NVRTC's version on CUDA, the graphics API on
    /// wgpu, the framework versions an external adapter reports; empty where none.
    pub toolkit: String,
    /// Mesa's version where the driver or device name carries one ("22.3.6").
    pub mesa: String,
    /// LLVM's version where the driver or device name carries one ("15.0.6").
    pub llvm: String,
    /// The git commit detbench was built from.
    pub detbench_commit: String,
    /// SHA-256 over every kernel source's hash (`env.kernel_hashes`, sorted by path).
    pub kernel_hashes: String,
    /// SHA-256 of the backend's compile options.
    pub compile_options: String,
    /// Operating system and kernel.
    pub os: String,
}

/// Column names, as in the `environments` table.
pub const COLUMNS: [&str; 8] = [
    "driver",
    "toolkit",
    "mesa",
    "llvm",
    "detbench_commit",
    "kernel_hashes",
    "compile_options",
    "os",
];

impl EnvColumns {
    /// The environment of `device` (its identity) in a report's `env`; `raw_name` is the
    /// name its rows carry, which finds its entry in `env.devices`.
    pub fn of(env: &Env, device: &DeviceId, raw_name: &str) -> EnvColumns {
        let info = env
            .devices
            .iter()
            .find(|d| d.backend == device.backend && d.name == raw_name);
        let driver = info.map(|d| d.driver.clone()).unwrap_or_default();
        let text = format!("{} {}", raw_name, driver);
        EnvColumns {
            toolkit: info.map(toolkit).unwrap_or_default(),
            mesa: version_after(&text, "Mesa").unwrap_or_default(),
            llvm: version_after(&text, "LLVM").unwrap_or_default(),
            driver,
            detbench_commit: env.git_commit.clone(),
            kernel_hashes: digest(&env.kernel_hashes),
            compile_options: env
                .compile_options
                .get(&device.backend)
                .map(digest)
                .unwrap_or_default(),
            os: env.os.clone(),
        }
    }

    /// The values in [`COLUMNS`] order.
    pub fn values(&self) -> [&str; 8] {
        [
            &self.driver,
            &self.toolkit,
            &self.mesa,
            &self.llvm,
            &self.detbench_commit,
            &self.kernel_hashes,
            &self.compile_options,
            &self.os,
        ]
    }

    /// Builds the columns back from [`COLUMNS`]-ordered values.
    pub fn from_values(v: &[String]) -> EnvColumns {
        let g = |i: usize| v.get(i).cloned().unwrap_or_default();
        EnvColumns {
            driver: g(0),
            toolkit: g(1),
            mesa: g(2),
            llvm: g(3),
            detbench_commit: g(4),
            kernel_hashes: g(5),
            compile_options: g(6),
            os: g(7),
        }
    }

    /// Every column that differs, as (name, before, after).
    pub fn diff(&self, after: &EnvColumns) -> Vec<EnvChange> {
        COLUMNS
            .iter()
            .zip(self.values().iter().zip(after.values()))
            .filter(|(_, (a, b))| a != &b)
            .map(|(c, (a, b))| EnvChange {
                column: c.to_string(),
                before: a.to_string(),
                after: b.to_string(),
            })
            .collect()
    }
}

/// One environment column that changed between two stored runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvChange {
    pub column: String,
    pub before: String,
    pub after: String,
}

impl std::fmt::Display for EnvChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |s: &str| {
            if s.is_empty() {
                "(none)".to_string()
            } else if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                // A digest: its first 12 digits are enough to tell two apart.
                s[..12].to_string()
            } else {
                s.to_string()
            }
        };
        write!(
            f,
            "{} {} -> {}",
            self.column,
            show(&self.before),
            show(&self.after)
        )
    }
}

/// Changes as one line ("mesa 22.3.6 -> 24.0.1; driver ..."), or "no environment change".
pub fn describe(changes: &[EnvChange]) -> String {
    if changes.is_empty() {
        return "no environment change".into();
    }
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The toolkit of a device: NVRTC on CUDA, the API on wgpu, framework versions of an
/// external adapter (`adapter_*` details).
fn toolkit(d: &DeviceInfo) -> String {
    let s = |k: &str| d.details.get(k).and_then(|v| v.as_str()).map(String::from);
    if let Some(v) = s("nvrtc_version") {
        return format!("NVRTC {v}");
    }
    let adapter: Vec<String> = d
        .details
        .iter()
        .filter(|(k, _)| k.starts_with("adapter_"))
        .map(|(k, v)| format!("{}={}", &k["adapter_".len()..], v))
        .collect();
    if !adapter.is_empty() {
        return adapter.join(" ");
    }
    s("api").unwrap_or_default()
}

/// The version token after `word` ("Mesa 22.3.6" -> "22.3.6"), if any.
fn version_after(text: &str, word: &str) -> Option<String> {
    let mut toks = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|t| !t.is_empty());
    while let Some(t) = toks.next() {
        if t.eq_ignore_ascii_case(word) {
            let v = toks.next()?;
            if v.starts_with(|c: char| c.is_ascii_digit()) {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// SHA-256 of a value's canonical JSON (maps sorted by key), in hex.
fn digest<T: Serialize>(v: &T) -> String {
    let value = serde_json::to_value(v).unwrap_or_default();
    hex::encode(Sha256::digest(super::canonical(&value).as_bytes()))
}

/// Kernel sources whose hash differs between two reports' `env.kernel_hashes`.
pub fn changed_kernels(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    out.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesa_and_llvm_versions_come_from_the_driver_string() {
        let t = "llvmpipe (LLVM 15.0.6, 256 bits) llvmpipe Mesa 22.3.6 (LLVM 15.0.6)";
        assert_eq!(version_after(t, "Mesa").as_deref(), Some("22.3.6"));
        assert_eq!(version_after(t, "LLVM").as_deref(), Some("15.0.6"));
        assert_eq!(version_after("NVIDIA driver, CUDA 13.0", "Mesa"), None);
    }

    #[test]
    fn differences_name_the_column_and_both_values() {
        let a = EnvColumns {
            mesa: "22.3.6".into(),
            ..Default::default()
        };
        let b = EnvColumns {
            mesa: "24.0.1".into(),
            ..Default::default()
        };
        let d = a.diff(&b);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].to_string(), "mesa 22.3.6 -> 24.0.1");
        assert!(a.diff(&a).is_empty());
    }
}
