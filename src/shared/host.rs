//! What the host can hold: sizes are refused before inputs are drawn.

use crate::error::DetError;

/// Bytes of host memory available (MemAvailable), if the OS says.
fn host_memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses sizes the host cannot even hold: inputs, the exact reference and outputs are
/// kept as f64 on the host (a few words per element).
pub fn check_host_size(size: usize) -> Result<(), DetError> {
    let need = (size as u128) * 8 * 6;
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
