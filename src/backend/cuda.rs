//! CUDA backend (being written).
use super::{BackendKind, DeviceInfo};

pub fn discover() -> (Vec<super::cpu::CpuBackend>, Vec<DeviceInfo>) {
    (
        Vec::new(),
        vec![DeviceInfo::unavailable(
            BackendKind::Cuda,
            "cuda",
            "cuda backend not built yet",
        )],
    )
}
