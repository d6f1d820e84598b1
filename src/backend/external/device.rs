//! The external backend as a [`Backend`]: one adapter, seen as one device, whose
//! variants are the adapter's modes.

use super::{Adapter, Describe, PROTOCOL};
use crate::backend::{run_kernel, Backend, BackendKind, DeviceInfo, Kernel, RunSet};
use crate::error::OpError;
use crate::report::ResultRecord;
use serde_json::{json, Value};

/// The external backend: one adapter, seen as one device.
pub struct ExternalBackend {
    adapter: Adapter,
    info: DeviceInfo,
}

impl ExternalBackend {
    pub fn new(adapter: Adapter) -> Self {
        let s = |k: &str| {
            adapter
                .info
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let framework = [s("framework"), s("version")].join(" ").trim().to_string();
        let mut info = DeviceInfo {
            backend: "external".into(),
            name: match s("device") {
                d if d.is_empty() => format!("{} (device not reported)", adapter.name),
                d => d,
            },
            available: true,
            driver: framework,
            device_type: "external".into(),
            ..Default::default()
        };
        info.details.insert("adapter".into(), json!(adapter.name));
        info.details
            .insert("adapter_source".into(), json!(adapter.source));
        info.details.insert("command".into(), json!(adapter.argv));
        info.details.insert("protocol".into(), json!(PROTOCOL));
        info.details
            .insert("timeout_s".into(), json!(adapter.timeout_s));
        if let Some(p) = &adapter.plain {
            info.details.insert("plain_mode".into(), json!(p));
        }
        for (k, v) in &adapter.info {
            if !matches!(k.as_str(), "protocol" | "response") {
                info.details.insert(format!("adapter_{k}"), v.clone());
            }
        }
        ExternalBackend { adapter, info }
    }

    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }
}

impl Backend for ExternalBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::External
    }

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn kernel_api(&self) -> &dyn std::any::Any {
        &Describe
    }

    fn run(&self, job: &dyn Kernel) -> Result<RunSet, OpError> {
        Err(OpError::Unsupported(format!(
            "the external backend runs {} only as one of adapter {}'s modes",
            job.kernel_name(),
            self.adapter.name
        )))
    }

    fn run_variant(&self, job: &dyn Kernel, variant: &str) -> Result<RunSet, OpError> {
        let call = run_kernel(job, &Describe)?;
        match self.adapter.modes(&call.op) {
            Some(m) if m.iter().any(|x| x == variant) => self.adapter.run(variant, &call),
            _ => Err(OpError::Unsupported(format!(
                "adapter {} has no mode '{variant}' for {}",
                self.adapter.name, call.op
            ))),
        }
    }

    fn variants(&self, op: &str, wanted: &[String]) -> Result<Vec<String>, String> {
        let ad = &self.adapter;
        let modes = ad.modes(op).ok_or_else(|| {
            format!(
                "adapter {} does not offer op {op} (it offers {})",
                ad.name,
                ad.ops.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        if wanted.is_empty() {
            return Ok(modes.to_vec());
        }
        match wanted.iter().find(|v| !modes.contains(v)) {
            Some(v) => Err(format!(
                "adapter {} has no mode '{v}' for op {op} (expected {})",
                ad.name,
                modes.join(", ")
            )),
            None => Ok(wanted.to_vec()),
        }
    }

    fn remedy(&self) -> String {
        self.adapter.remedy()
    }

    fn annotate(&self, rec: &mut ResultRecord) {
        // The adapter's modes are not atomic kernels: no ordering; whether the mode promises
        // the same bits is the adapter's word.
        rec.ordering = crate::shared::ordering::Ordering::None;
        rec.deterministic_variant = self.adapter.deterministic.contains(&rec.variant);
        // A string extra: part of the result's key, so two adapters on one device differ.
        rec.extra.insert("adapter".into(), json!(self.adapter.name));
        // A boolean extra (outside the key): the row of the framework's plain path, the
        // reference a deterministic mode's cost is taken against.
        if let Some(p) = &self.adapter.plain {
            rec.extra
                .insert("plain_path".into(), json!(*p == rec.variant));
        }
    }
}
