//! The thresholds and switches of `check`, with their defaults.

use crate::error::DetError;

/// Default significance level of the timing test.
pub const DEFAULT_ALPHA: f64 = 0.01;
/// Default smallest median slowdown (fraction) that can count as a regression.
pub const DEFAULT_MAX_SLOWDOWN: f64 = 0.25;
/// Default absolute slowdown (ms) of the fastest run below which a host-scheduled row is
/// not judged: a preempted run waits whole scheduler time slices (4 ms at 250 Hz, measured
/// here as runs of 0.1 ms that took 3.9 to 4.0 ms on a loaded machine).
pub const DEFAULT_HOST_FLOOR_MS: f64 = 5.0;
/// Default factor by which other processes may stretch a host-scheduled row's CPU time
/// per run without its kernel doing more work: they contend for the core's caches, memory
/// bandwidth and SMT sibling. Measured here: a cpu `scatter_add` row of 0.09 ms per run
/// grew x1.26 in CPU time (and wall time) on a plain rerun while `cargo test` ran beside
/// it on the 2-core VM.
pub const DEFAULT_HOST_CONTENTION: f64 = 1.5;
/// Default growth (ms a run) of a host-scheduled row's CPU time below which it is not taken
/// as more work, whatever the factor. The process clock counts every thread of the process
/// (a wgpu driver's among them), and a row of microseconds may start with caches another
/// backend's row left cold; neither is the kernel's work. Measured here: between six plain
/// reruns of one matrix (`tests/it/check_corpus.rs`'s, release binary), cpu rows of 2 to
/// 17 us a run moved by up to 0.023 ms of CPU a run (up to x4.3); in a CI run one such row
/// slowed x1.98 in wall time and x1.83 in CPU time.
pub const DEFAULT_HOST_CPU_FLOOR_MS: f64 = 0.1;
/// Default factor by which an error or spread may grow over the baseline's scale.
pub const DEFAULT_ERROR_GROWTH: f64 = 2.0;
/// Default ULPs allowed on top of the growth factor.
pub const DEFAULT_ULP_SLACK: u64 = 2;

/// The thresholds and switches of `check`.
#[derive(clap::Args, Clone, Debug)]
pub struct CheckOptions {
    /// A slowdown fails only when the median time grew by more than this fraction (0.25 = 25%) and beyond the noise of both reports.
    #[arg(long, default_value_t = DEFAULT_MAX_SLOWDOWN)]
    pub max_slowdown: f64,
    /// Significance level of the one-sided Mann-Whitney U test on each row's times.
    #[arg(long, default_value_t = DEFAULT_ALPHA)]
    pub alpha: f64,
    /// ULPs an error or run-to-run spread may exceed growth x baseline by.
    #[arg(long, default_value_t = DEFAULT_ULP_SLACK)]
    pub ulp_slack: u64,
    /// Factor an error or run-to-run spread may grow by over the baseline's scale.
    #[arg(long, default_value_t = DEFAULT_ERROR_GROWTH)]
    pub error_growth: f64,
    /// Rows timed on the host's scheduler (timer "host", or a device of type cpu such as lavapipe) fail only when their fastest run also slowed by more than this many ms: a preempted run waits whole scheduler time slices.
    #[arg(long, default_value_t = DEFAULT_HOST_FLOOR_MS)]
    pub host_floor_ms: f64,
    /// A host-scheduled row's CPU time per run counts as more work (no host floor, no load divided out) only when it grew by more than this factor and 1 + max-slowdown: other processes contending for caches and memory bandwidth stretch CPU time too.
    #[arg(long, default_value_t = DEFAULT_HOST_CONTENTION)]
    pub host_contention: f64,
    /// A host-scheduled row's CPU time per run counts as more work only when it also grew by more than this many ms a run: the process clock counts the process's other threads too, and a row of microseconds may start with cold caches.
    #[arg(long, default_value_t = DEFAULT_HOST_CPU_FLOOR_MS)]
    pub host_cpu_floor_ms: f64,
    /// Do not judge timings (only numeric findings fail).
    #[arg(long)]
    pub no_timing: bool,
    /// Replace the baseline with the current report (atomically) once its changes are understood; exit 0 unless the current report is unusable.
    #[arg(long)]
    pub accept: bool,
    /// With --accept: accept a current report even with numeric defects of its own (a deterministic variant that is not reproducible, an ok case that no longer runs ok, lost batch invariance).
    #[arg(long, requires = "accept")]
    pub force: bool,
    /// Print every note (non-regression observations, timing drifts) after the summary; by default a passing check prints its one-line summary and the environment differences only.
    #[arg(long)]
    pub verbose: bool,
    /// For a deterministic row whose bits changed: reveal the accumulation order of the
    /// current report's rows that ran on a device of this machine and have none recorded
    /// (`run --reveal` records it), and say whether the order or the arithmetic changed.
    #[arg(long)]
    pub explain: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            max_slowdown: DEFAULT_MAX_SLOWDOWN,
            alpha: DEFAULT_ALPHA,
            ulp_slack: DEFAULT_ULP_SLACK,
            error_growth: DEFAULT_ERROR_GROWTH,
            host_floor_ms: DEFAULT_HOST_FLOOR_MS,
            host_contention: DEFAULT_HOST_CONTENTION,
            host_cpu_floor_ms: DEFAULT_HOST_CPU_FLOOR_MS,
            no_timing: false,
            accept: false,
            force: false,
            verbose: false,
            explain: false,
        }
    }
}

impl CheckOptions {
    pub(super) fn validate(&self) -> Result<(), DetError> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(DetError::input(format!(
                "--alpha must be between 0 and 1, got {}",
                self.alpha
            )));
        }
        if !(self.max_slowdown.is_finite() && self.max_slowdown >= 0.0) {
            return Err(DetError::input(format!(
                "--max-slowdown must be a fraction >= 0, got {}",
                self.max_slowdown
            )));
        }
        if !(self.host_floor_ms.is_finite() && self.host_floor_ms >= 0.0) {
            return Err(DetError::input(format!(
                "--host-floor-ms must be a number of milliseconds >= 0, got {}",
                self.host_floor_ms
            )));
        }
        if !(self.host_cpu_floor_ms.is_finite() && self.host_cpu_floor_ms >= 0.0) {
            return Err(DetError::input(format!(
                "--host-cpu-floor-ms must be a number of milliseconds >= 0, got {}",
                self.host_cpu_floor_ms
            )));
        }
        if !(self.host_contention.is_finite() && self.host_contention >= 1.0) {
            return Err(DetError::input(format!(
                "--host-contention must be a factor of at least 1, got {}",
                self.host_contention
            )));
        }
        if !(self.error_growth.is_finite() && self.error_growth >= 1.0) {
            return Err(DetError::input(format!(
                "--error-growth must be at least 1, got {}",
                self.error_growth
            )));
        }
        Ok(())
    }
}
