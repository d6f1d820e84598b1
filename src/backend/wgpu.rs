//! wgpu backend (being written).
use super::{BackendKind, DeviceInfo};

pub struct WgpuBackend;

pub fn discover() -> (Vec<super::cpu::CpuBackend>, Vec<DeviceInfo>) {
    (
        Vec::new(),
        vec![DeviceInfo::unavailable(
            BackendKind::Wgpu,
            "wgpu",
            "wgpu backend not built yet",
        )],
    )
}
