//! The `detbench.report.v1` JSON schema (described in docs/interface.md). Field names are a
//! contract with users' scripts: add fields, never rename them.

pub use crate::shared::launch::Launch;
pub use crate::shared::ordering::Ordering;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema tag of run reports.
pub const SCHEMA: &str = "detbench.report.v1";

/// The op of the rows that are each device's bandwidth baseline (the family whose
/// `Family::baseline` gives a case; `detbench run` adds one unless `--no-copy-baseline`).
/// Reports divide throughput by its GB/s and leave its rows, which do no arithmetic, out of
/// the error and tolerance tables. The report code knows the baseline by this name alone
/// (tests/it/import_graph.rs checks the baseline family gives its rows this name).
pub const BASELINE_OP: &str = "copy";

/// A whole run report.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Provenance: enough to rerun the same experiment.
    pub env: Env,
    /// One record per (op, backend, device, precision, accumulator, variant, ordering, size, input).
    pub results: Vec<ResultRecord>,
    /// True when the run was interrupted and the report holds only what was measured.
    #[serde(default)]
    pub partial: bool,
}

/// Provenance of a report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Env {
    /// detbench version.
    pub tool_version: String,
    /// Git commit detbench was built from ("unknown" outside a checkout).
    pub git_commit: String,
    /// The exact command line.
    pub command: String,
    /// Operating system and kernel.
    pub os: String,
    /// CPU model.
    pub cpu: String,
    /// rustc that built detbench.
    pub rustc: String,
    /// Every device found, usable or not.
    pub devices: Vec<DeviceInfo>,
    /// SHA-256 of every kernel source, by path.
    pub kernel_hashes: BTreeMap<String, String>,
    /// Compile options per backend.
    pub compile_options: BTreeMap<String, serde_json::Value>,
    /// The run's base seed.
    pub seed: u64,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// Anything else worth recording (host name, environment variables that matter).
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
    /// The part of the case matrix this report holds (`run --shard K/N`); absent for a
    /// whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// The reports `merge --json` joined into this one, in order; empty for a run's own
    /// report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedSource>,
}

/// Which part of the case matrix a shard report holds (`run --shard K/N`). A case's shard
/// is fixed by its case key alone (see `report::key::CaseKey::shard`), so every machine cuts
/// one matrix the same way.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ShardInfo {
    /// K: this shard, from 1 to `count`.
    pub index: u32,
    /// N: how many shards the matrix is cut into.
    pub count: u32,
    /// SHA-256 (hex) of the whole matrix's case labels, sorted, one per line: the shards of
    /// one matrix share it.
    pub matrix_sha256: String,
    /// Every case of the whole matrix (all shards'), by its case label (the result key
    /// without the device, ordering and workgroup count), in matrix order: what `merge`
    /// checks the shards cover.
    pub matrix: Vec<String>,
}

/// One report joined by `merge --json`, with the provenance that may differ between the
/// machines that ran the shards.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct MergedSource {
    /// The report's path as given to `merge`.
    pub report: String,
    /// "K/N" for a shard, absent for a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The detbench commit that wrote it.
    pub git_commit: String,
    /// SHA-256 (hex) of its kernel hashes (path and hash, one pair a line): equal for equal
    /// kernel sources.
    pub kernels_sha256: String,
    /// When its run started.
    pub started_at: String,
    /// Whether it was interrupted.
    pub partial: bool,
    /// Its devices, with their drivers (these may differ from machine to machine).
    pub devices: Vec<DeviceInfo>,
}

/// A device as `detbench devices` and the report's `env.devices` show it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct DeviceInfo {
    /// `cpu`, `cuda`, `wgpu`, `cuda-emu` (the cuda backend's host code and kernels on the
    /// g++ host emulator of an sm_90 device) or `external` (a program through an adapter).
    pub backend: String,
    /// Device name (e.g. "NVIDIA H100 80GB HBM3", "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// Whether detbench can run kernels on it.
    pub available: bool,
    /// Why not, when unavailable; empty otherwise.
    pub reason: String,
    /// Driver name and version.
    #[serde(default)]
    pub driver: String,
    /// Device type: cpu, discrete_gpu, integrated_gpu, virtual_gpu, software; `emulator`
    /// for cuda-emu, `external` for an adapter's program.
    #[serde(default)]
    pub device_type: String,
    /// Optional features present (e.g. SHADER_F16, SHADER_FLOAT32_ATOMIC).
    #[serde(default)]
    pub features: Vec<String>,
    /// Limits that bound problem sizes (e.g. max_storage_buffer_binding_size).
    #[serde(default)]
    pub limits: BTreeMap<String, serde_json::Value>,
    /// Anything else: compute capability, SM count, clocks, NVML readings, backend API.
    #[serde(default)]
    pub details: BTreeMap<String, serde_json::Value>,
    /// Whether the device keeps subnormal numbers, per compute format the kernels use
    /// ("f32", "f64"): one of the [`crate::backend::subnormal_mode`] strings. wgpu devices are probed once
    /// with a tiny kernel (`backend::wgpu::probe_subnormals`); the CPU emulation and CUDA (compiled
    /// with `--ftz=false`) preserve them. Empty in reports written before it existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subnormals: BTreeMap<String, String>,
}

/// How a result row ended.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Measured, and every output within its bound.
    Ok,
    /// The device or backend lacks something the case needs (`message` says what), or the
    /// result cannot be judged.
    Unsupported,
    /// Something went wrong: a failed launch, non-finite outputs, a bound violated. A row
    /// is an error until it is shown to be anything else.
    #[default]
    Error,
}

impl Status {
    /// The name written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unsupported => "unsupported",
            Status::Error => "error",
        }
    }

    pub fn is_ok(self) -> bool {
        self == Status::Ok
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Compares with the report name (`r.status == "ok"`).
impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Status {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// One measured cell of the matrix.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ResultRecord {
    /// Operation (sum, dot, scatter_add, ...).
    pub op: String,
    /// Backend (cpu, cuda, wgpu, cuda-emu, external).
    pub backend: String,
    /// Device name.
    pub device: String,
    /// Input storage format.
    pub precision: String,
    /// Accumulation format.
    pub accumulator: String,
    /// Kernel variant.
    pub variant: String,
    /// Atomic ordering and scope, or "none".
    pub ordering: Ordering,
    /// Number of input elements.
    pub size: u64,
    /// Output bins (scatter_add), else null.
    pub bins: Option<u64>,
    /// Problem shape (conv), else null.
    pub shape: Option<serde_json::Value>,
    /// Launch configuration.
    pub launch: Launch,
    /// Input distribution or file.
    pub input: String,
    /// Seed of the generated input.
    pub seed: u64,
    /// Number of timed runs.
    pub runs: u64,
    /// ok, unsupported or error.
    pub status: Status,
    /// Why, for unsupported or error; notes for ok.
    pub message: String,
    /// Distinct output bit patterns over the runs.
    pub distinct_outputs: Option<u64>,
    /// True when every run gave the same bits.
    pub bitwise_reproducible: Option<bool>,
    /// Largest ULP distance between any run and the first, over elements.
    pub max_ulp_run_to_run: Option<u64>,
    /// Median over runs of each run's largest ULP distance to the first run.
    pub median_ulp_run_to_run: Option<f64>,
    /// Exact result correctly rounded to f64, for scalar outputs.
    pub exact: Option<f64>,
    /// Exact result rounded once to the output format, for scalar outputs: the best the
    /// format can hold, and the reference of `max_ulp_err`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_rounded: Option<f64>,
    /// Largest |computed - exact| over runs and elements, against the real exact value
    /// (not its rounding to f64 or to the output format), rounded upward; null when an
    /// output was NaN or infinite (the error is then infinite or undefined).
    pub max_abs_err: Option<f64>,
    /// Largest |computed - exact| / |exact| over runs and elements (exact != 0).
    pub max_rel_err: Option<f64>,
    /// Largest ULP distance to the exact value rounded to the output format.
    pub max_ulp_err: Option<u64>,
    /// A-priori error bound (the largest over elements); null when none is finite.
    pub error_bound: Option<f64>,
    /// Condition number of the problem.
    pub condition_number: Option<f64>,
    /// Sum of magnitudes of the terms (sum |x_i|, or sum |x_i y_i| for dot) for scalar
    /// reductions: the scale of the normwise error bound |computed - exact| <= tau * abs_sum,
    /// defined where the condition number is not (exact sum 0).
    #[serde(default)]
    pub abs_sum: Option<f64>,
    /// Time of every run, ms.
    pub times_ms: Vec<f64>,
    /// Median of times_ms.
    pub median_ms: Option<f64>,
    /// Bytes moved / median time, GB/s.
    pub gbps: Option<f64>,
    /// SHA-256 of the first run's output bits.
    pub fingerprint: Option<String>,
    /// The first run's output value, when the output is one scalar (lets `merge` measure
    /// ULP distances between devices); null for multi-element outputs.
    #[serde(default)]
    pub output_first: Option<f64>,
    /// A bounded sketch of a multi-element output's first run (null for scalar outputs,
    /// which `output_first` holds, and in reports written before it existed): where two
    /// reports' outputs first differ, as far as `check` can tell without the outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_blocks: Option<OutputBlocks>,
    /// SHA-256 of the inputs' device bytes ('+'-joined for several inputs).
    #[serde(default)]
    pub input_sha256: String,
    /// Format of the outputs.
    #[serde(default)]
    pub output_precision: String,
    /// How times were taken: `cuda_events` (a GPU's events), `timestamp_query` (wgpu's),
    /// `host` (this process's wall clock around each run), `emulator` (cuda-emu: host
    /// wall-clock time of the emulation, not a device's time and no performance figure), or
    /// an external adapter's own name for its timer (`adapter` when it names none; `none`
    /// when it reports no times).
    #[serde(default)]
    pub timer: String,
    /// True when the variant promises identical bits on every run.
    #[serde(default)]
    pub deterministic_variant: bool,
    /// Output elements whose error exceeded their bound (must be 0 for ok results).
    #[serde(default)]
    pub bound_violations: u64,
    /// Output elements that differed between runs (multi-element outputs).
    #[serde(default)]
    pub elements_differing: Option<u64>,
    /// The backend's index of the device (CUDA ordinal, wgpu adapter index), matching
    /// `details.ordinal` of its entry in `env.devices`; null for the CPU. With two devices
    /// of one name it tells their rows apart (see `report::key::DeviceId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_ordinal: Option<u64>,
    /// The batch axis (`run --batch-sizes`): this record's batch size (M of a matmul, B
    /// of a row reduction); null without the axis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u64>,
    /// The batch axis: true when every run at every batch size of this record's group
    /// (same case, backend, device and ordering; only the batch size differs) gave the
    /// probe rows (the first `min(batch sizes)` rows, identical inputs at every size) the
    /// same bits; null without the axis or when fewer than two batch sizes ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_invariant: Option<bool>,
    /// The batch axis: the largest ULP distance, over the probe rows' elements and every
    /// run of every batch size of the group, to the first run at the smallest batch size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ulp_across_batches: Option<u64>,
    /// Rows whose work runs on this process's own threads (the cpu backend, the cuda-emu
    /// emulator, and wgpu on a CPU device such as lavapipe): the process's CPU time (all
    /// threads, the clock CLOCK_PROCESS_CPUTIME_ID) per run, in ms,
    /// averaged over every run of the row, warm-up runs included. Load from other processes
    /// stretches wall-clock `times_ms` but not this, so `check` uses it to tell a busy
    /// machine from a slower kernel. Null where the work runs elsewhere (a GPU, an external
    /// process) or the platform has no process CPU clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms_per_run: Option<f64>,
    /// Family-specific figures (e.g. the worst bin's ULP spread).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A bounded sketch of one multi-element output (the first run's), so that `check` can
/// name the first element where two reports' outputs differ while neither report holds
/// the output. The output, in its flat order (row-major for matrices and rows), is cut
/// into at most [`OutputBlocks::MAX_BLOCKS`] blocks of `block` consecutive elements (the
/// last may be shorter). Each block keeps a hash of its bits and its first `head`
/// elements' bits: the first block whose hashes differ holds the first differing element,
/// named exactly when it is among the kept ones (always when `head >= block`, i.e. for
/// outputs of at most `MAX_BLOCKS * HEAD` elements) and as a range of indices otherwise.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct OutputBlocks {
    /// Output elements.
    pub elements: u64,
    /// Elements per block (the last block holds the rest).
    pub block: u64,
    /// Elements kept from the start of each block (a shorter block keeps all of its own).
    pub head: u64,
    /// Per block: the first 16 hex digits of the SHA-256 of its elements' little-endian
    /// bits in the output format (`output_precision`).
    pub hashes: Vec<String>,
    /// The kept elements, block after block: each one's bits in the output format as hex
    /// digits (4 for f16 and bf16, 8 for f32, 16 for f64), so NaN payloads, infinities and
    /// signed zeros survive JSON.
    pub heads: Vec<String>,
}

impl OutputBlocks {
    /// Most blocks of one output.
    pub const MAX_BLOCKS: u64 = 32;
    /// Elements kept from the start of each block.
    pub const HEAD: u64 = 4;

    /// Blocks of the layout: `ceil(elements / block)`.
    pub fn blocks(&self) -> u64 {
        if self.block == 0 {
            0
        } else {
            self.elements.div_ceil(self.block)
        }
    }

    /// Elements `[start, end)` of block `b`, and how many of them are kept.
    pub fn span(&self, b: u64) -> (u64, u64, u64) {
        let start = b * self.block;
        let end = (start + self.block).min(self.elements);
        (start, end, self.head.min(end.saturating_sub(start)))
    }
}

/// The JSON Schema (draft 2020-12) of [`SCHEMA`] reports, generated from the types above
/// and published as docs/report.schema.json (tests/it/schema.rs keeps the two equal and
/// validates real reports against it).
pub fn json_schema() -> serde_json::Value {
    let mut s =
        serde_json::to_value(schemars::schema_for!(Report)).expect("a JSON Schema serialises");
    s["title"] = format!("{SCHEMA} (detbench run report)").into();
    // The tag is a constant, so a document of another kind does not validate.
    s["properties"]["schema"]["const"] = SCHEMA.into();
    s
}
