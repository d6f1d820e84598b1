//! What the host can hold: sizes are refused before inputs are drawn.

use crate::error::DetError;

/// Bytes of host memory available (MemAvailable), if the OS says.
pub fn host_memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses sizes the host cannot even hold: inputs, the exact reference and outputs are
/// kept as f64 on the host (a few words per element).
pub fn check_host_size(size: usize) -> Result<(), DetError> {
    check_host_bytes(size, (size as u128) * 8 * 6)
}

/// Refuses `size` when a case of it needs `need` bytes of host memory and the host has
/// fewer available.
pub fn check_host_bytes(size: usize, need: u128) -> Result<(), DetError> {
    if let Some(avail) = host_memory_available() {
        if need > avail as u128 {
            return Err(DetError::input(format!(
                "size {size} needs about {:.1} GiB of host memory, but only {:.1} GiB is available",
                need as f64 / (1u64 << 30) as f64,
                avail as f64 / (1u64 << 30) as f64
            )));
        }
    }
    Ok(())
}

/// Refuses `runs` runs of a case whose output has `out_len` elements when the outputs it
/// may keep whole (as f64), `held` of them, would take more than half the host's free
/// memory. Runs that repeat an earlier run's bits are kept once
/// ([`crate::backend::Outputs`]), and where the runner judges outputs as they are read
/// back only the warm-up runs' and the first judged run's are kept, so `held` is the
/// worst case, every run different (an atomic variant's, or a deterministic one that
/// breaks its promise), which the host must still survive.
pub fn check_runs_memory(runs: usize, held: usize, out_len: usize) -> Result<(), DetError> {
    let need = (held as u128) * (out_len.max(1) as u128) * 8;
    if let Some(avail) = host_memory_available() {
        if need > avail as u128 / 2 {
            return Err(DetError::input(format!(
                "--runs {runs}: {held} different outputs of {out_len} elements kept whole would need about {:.1} GiB of host memory, more than half of the {:.1} GiB available",
                need as f64 / (1u64 << 30) as f64,
                avail as f64 / (1u64 << 30) as f64
            )));
        }
    }
    Ok(())
}

/// The CPU time this process (all its threads) has used, in ms; None where the platform
/// has no process CPU clock.
#[cfg(unix)]
pub fn process_cpu_ms() -> Option<f64> {
    use nix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID).ok()?;
    Some(t.tv_sec() as f64 * 1e3 + t.tv_nsec() as f64 * 1e-6)
}

#[cfg(not(unix))]
pub fn process_cpu_ms() -> Option<f64> {
    None
}
