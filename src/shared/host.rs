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

/// Refuses `runs` runs of a case whose output has `out_len` elements when keeping every
/// run's output (as f64, for the run-to-run comparison) would take more than half the
/// host's free memory. Runs that repeat an earlier run's bits are kept once
/// ([`crate::backend::Outputs`]), so this is the worst case, every run different (an
/// atomic variant's, or a deterministic one that breaks its promise), which the host
/// must still survive.
pub fn check_runs_memory(runs: usize, out_len: usize) -> Result<(), DetError> {
    let need = (runs as u128) * (out_len.max(1) as u128) * 8;
    if let Some(avail) = host_memory_available() {
        if need > avail as u128 / 2 {
            return Err(DetError::input(format!(
                "--runs {runs}: {runs} different outputs of {out_len} elements would need about {:.1} GiB of host memory, more than half of the {:.1} GiB available",
                need as f64 / (1u64 << 30) as f64,
                avail as f64 / (1u64 << 30) as f64
            )));
        }
    }
    Ok(())
}
