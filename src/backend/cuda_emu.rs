//! The `cuda-emu` backend's entry in the registry: the CUDA backend's host code and
//! kernels on the g++ host emulator ([`super::cuda::emu`]).

use super::{Capabilities, KernelSources, Timer};

/// Same kernels, orderings and compile step as the cuda backend; its times are emulator
/// time, not a device's, and it is asked for by name (`--backend all` leaves it out).
pub const CAPABILITIES: Capabilities = Capabilities {
    orderings: super::cuda::CAPABILITIES.orderings,
    kernels: Some(KernelSources {
        folder: "kernels/cuda",
        compile: "the cuda backend's modules, compiled by g++ for the host emulator (kernels/cuda/emu)",
    }),
    timer: Timer {
        name: super::cuda::emu::TIMER,
        device_time: false,
        // The emulated blocks run on this process's worker threads: its rows carry the
        // process CPU time as well (`cpu_ms_per_run`).
        host_threads: true,
    },
    in_all: false,
    own_variants: false,
};

pub use super::cuda::emu_discover as discover;
