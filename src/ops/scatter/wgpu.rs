//! The scatter-add family on wgpu: `kernels/wgsl/scatter.wgsl`, specialised per job.
//!
//! The header fixes `C`, `A`, `XW`, `WG`, `PB` (bins of the privatized copy), the sort's
//! tile shape and reproducible's lane words, and the flags keep only the job's kernels, so
//! f64, i64 and float-atomic code reaches naga only where it is used. sort_segmented
//! records every pass (radix counts, scans, scatters, offsets, segmented passes) in one
//! command buffer per run; reproducible is one kernel.

use super::{ScatterJob, ScatterVariant, RADIX_BITS, RADIX_ITEMS, REPRO_LANES, SORT_WG};
use crate::backend::wgpu::{specialise_family, Pass, WgpuBackend};
use crate::backend::Backend;
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::RunSet;
use crate::shared::fixed::{fixed_message, fixed_to_value};
use wgpu::Features as F;

/// The template, embedded once in [`crate::kernels::wgsl`] and hashed from there; modules are
/// [`crate::kernels::WGSL_PRELUDE`] and this, specialised together.
pub const TEMPLATE: &str = crate::kernels::wgsl::SCATTER;

/// Compare-exchange attempts per element before a global CAS loop gives up.
pub const MAX_TRIES: u32 = 1 << 16;

/// The uniform every scatter entry point reads (see `Params` in scatter.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    bins: u32,
    threads: u32,
    chunk: u32,
    chunks: u32,
    shift: u32,
    first: u32,
    tiles: u32,
    fixed_k: i32,
    zero: u32,
    scan_len: u32,
    folds: i32,
    a0: i32,
    a1: i32,
    a2: i32,
    last: u32,
    span: u32,
    _pad: [u32; 3],
}

fn uses_f64(job: &ScatterJob) -> bool {
    crate::ops::common::wgpu_uses_f64(job.precision, job.accumulator)
}

/// Whether privatized merges with a native f32 atomicAdd on this device.
fn native_merge(b: &WgpuBackend, job: &ScatterJob) -> bool {
    job.accumulator == Precision::F32 && b.has(F::SHADER_FLOAT32_ATOMIC)
}

/// Whether reproducible's workgroup lanes are one wrapping u32 word per (bin, fold) (see
/// `plane_add32` in scatter.wgsl): f32 counts (at most 2^12 per term) and fewer than 2^19
/// terms per workgroup, so a workgroup's total stays below 2^31 in magnitude.
fn repro_plane32(b: &WgpuBackend, job: &ScatterJob) -> bool {
    let (groups, span) = repro_shape(b, job);
    job.accumulator == Precision::F32
        && most_per_workgroup(
            job.n() as u64,
            groups as u64,
            job.launch.workgroup_size as u64,
            span as u64,
        ) <= PLANE32_MOST_TERMS
}

/// reproducible's workgroups and span (consecutive terms per thread walk). A GPU takes the
/// job's (many workgroups, spans of about REPRO_MIN_SPAN). A CPU device takes spans of
/// REPRO_SPAN and as few workgroups as that needs: each workgroup ends by merging every
/// (bin, fold) word into the global lanes, lane by lane on lavapipe (at 2^22 terms into
/// 1024 uniform bins, the median went from 53-56 ms with spans of 64 to 48-51 ms here).
/// The result is order-free, so the shape cannot change its bits.
fn repro_shape(b: &WgpuBackend, job: &ScatterJob) -> (u32, u32) {
    if !b.is_cpu() {
        return (job.repro_groups(), job.repro_span());
    }
    let wg = job.launch.workgroup_size as usize;
    let groups = (job.n().div_ceil(wg * super::REPRO_SPAN as usize) as u32)
        .clamp(1, job.launch.workgroups.max(1));
    let span = (job.n().div_ceil(groups as usize * wg) as u32).clamp(1, super::REPRO_SPAN);
    (groups, span)
}

/// Terms a workgroup may see with one 32-bit word per (bin, fold). A term's count reaches
/// 2^12 in magnitude (a value just below its bin's power of two rounds up to it), so 2^19
/// terms could total exactly 2^31, one past i32::MAX; one term fewer cannot.
const PLANE32_MOST_TERMS: u64 = (1 << 19) - 1;

/// The most terms one workgroup of `scatter_reproducible` reads: each thread walks spans of
/// `span` consecutive terms, span s going to thread s mod (groups * wg).
fn most_per_workgroup(n: u64, groups: u64, wg: u64, span: u64) -> u64 {
    let spans = n.div_ceil(span);
    spans.div_ceil(groups * wg) * wg * span
}

/// u32 words of reproducible's per-workgroup lanes (all bins).
fn repro_plane_words(b: &WgpuBackend, job: &ScatterJob) -> usize {
    let per_lane = if repro_plane32(b, job) {
        1
    } else {
        job.repro_limbs()
    };
    job.bins * REPRO_LANES * per_lane
}

/// Whether reproducible's workgroup lanes hold folds 0 and 1 of a bin in one u64 word
/// (`pair_add` in scatter.wgsl): the layout asks for it, the lanes are 32-bit and the
/// device has 64-bit atomics. Same 12 bytes per bin either way.
fn repro_pair64(b: &WgpuBackend, job: &ScatterJob, layout: Layout) -> bool {
    layout.pair64
        && repro_private(b, job)
        && repro_plane32(b, job)
        && b.has(F::SHADER_INT64 | F::SHADER_INT64_ATOMIC_ALL_OPS)
}

/// Bytes of reproducible's per-workgroup lanes (all bins).
fn repro_lane_bytes(b: &WgpuBackend, job: &ScatterJob) -> u64 {
    (repro_plane_words(b, job) * 4) as u64
}

/// Whether reproducible keeps every bin's lanes in workgroup memory on this device.
fn repro_private(b: &WgpuBackend, job: &ScatterJob) -> bool {
    job.variant == ScatterVariant::Reproducible
        && repro_lane_bytes(b, job) <= b.limits().max_compute_workgroup_storage_size as u64
}

/// The specialised WGSL of one job.
pub fn module_source(b: &WgpuBackend, job: &ScatterJob) -> String {
    source_with(b, job, layout(b), false)
}

/// The specialised WGSL of one job in `layout`; `ident`: the packed sort's kernels read the
/// indices and x (its first pass, or no pass at all), not the previous pass's words.
fn source_with(b: &WgpuBackend, job: &ScatterJob, layout: Layout, ident: bool) -> String {
    let words = layout.sort;
    let c = if uses_f64(job) { "f64" } else { "f32" };
    let a = if job.accumulator == Precision::F64 {
        "f64"
    } else {
        "f32"
    };
    let xw = match job.precision {
        Precision::F64 => "f64",
        Precision::F32 => "f32",
        Precision::F16 | Precision::Bf16 => "u32",
    };
    let pb = if job.variant == ScatterVariant::Privatized {
        job.bins
    } else {
        1
    };
    let limbs = job.repro_limbs();
    let pairs = repro_pair64(b, job, layout);
    let rw = if pairs {
        // Fold 2 alone; folds 0 and 1 in the PAIRS u64 words (same bytes in all).
        job.bins
    } else if repro_private(b, job) {
        repro_plane_words(b, job)
    } else {
        1
    };
    let npairs = if pairs { job.bins } else { 1 };
    let header = format!(
        "// specialised by detbench: scatter_add {} in {}, {}\n\
         alias C = {c};\nalias A = {a};\nalias XW = {xw};\n\
         const WG: u32 = {}u;\nconst PB: u32 = {pb}u;\nconst SORT_WG: u32 = {SORT_WG}u;\n\
         const SORT_ITEMS: u32 = {}u;\nconst RADIX_BITS: u32 = {RADIX_BITS}u;\n\
         const LANE_BITS: u32 = {}u;\nconst LANE_WG: u32 = {LANE_WG}u;\n\
         const MAX_TRIES: u32 = {MAX_TRIES}u;\n\
         const LIMBS: u32 = {limbs}u;\nconst RW: u32 = {rw}u;\nconst PAIRS: u32 = {npairs}u;\nconst IDENT: bool = {ident};\n",
        job.precision,
        job.accumulator,
        job.variant.name(),
        job.launch.workgroup_size,
        RADIX_ITEMS,
        lane_bits(job.bins),
    );
    let acc = job.accumulator;
    let mut flags = crate::ops::common::wgpu_pair_flags(job.precision, acc);
    // common.wgsl's opaque and accumulator add (TWO_SUM32 for its round-to-odd).
    flags.extend(["OPAQUE", "TWO_SUM32", "ACC_ADD"]);
    let wide = acc == Precision::F64;
    match job.variant {
        ScatterVariant::Atomic => flags.push("V_ATOMIC"),
        ScatterVariant::AtomicCas => flags.extend(["V_CAS", "CAS_CELL"]),
        ScatterVariant::Privatized => {
            flags.push("V_PRIV");
            if native_merge(b, job) {
                flags.push("NATIVE_ATOMIC");
            } else {
                flags.push("CAS_CELL");
            }
        }
        ScatterVariant::FixedPoint => flags.push("V_FIXED"),
        ScatterVariant::SortSegmented => {
            flags.push("V_SORT");
            if words == SortWords::Packed {
                flags.push("SORT64");
            }
        }
        ScatterVariant::Reproducible => {
            flags.push("V_REPRO");
            if repro_private(b, job) {
                flags.push("REPRO_PRIV");
                if repro_plane32(b, job) {
                    flags.push("PLANE32");
                }
                if pairs {
                    flags.push("PAIR64");
                }
            }
        }
    }
    if wide {
        flags.push("CAS64");
    }
    specialise_family(&header, TEMPLATE, &flags)
}

/// Feature and limit checks, before anything is compiled.
fn check_device(b: &WgpuBackend, job: &ScatterJob, words: SortWords) -> Result<(), OpError> {
    let acc = job.accumulator;
    if uses_f64(job) {
        b.require(F::SHADER_F64, "f64 arithmetic")?;
    }
    let int64_atomics = F::SHADER_INT64 | F::SHADER_INT64_ATOMIC_ALL_OPS;
    match job.variant {
        ScatterVariant::Atomic => {
            if acc != Precision::F32 {
                return Err(OpError::Unsupported(format!(
                    "atomic: WGSL's only native float atomic add is on atomic<f32> (SHADER_FLOAT32_ATOMIC); the accumulator is {acc} (atomic_cas works for every format)"
                )));
            }
            b.require(F::SHADER_FLOAT32_ATOMIC, "atomic (native atomicAdd on f32)")?;
        }
        ScatterVariant::AtomicCas | ScatterVariant::Privatized => {
            if acc == Precision::F64 {
                b.require(int64_atomics, "compare-exchange on f64 bits (u64 words)")?;
            }
        }
        ScatterVariant::FixedPoint => b.require(int64_atomics, "fixed_point (int64 atomics)")?,
        ScatterVariant::SortSegmented | ScatterVariant::Reproducible => {
            if job.variant == ScatterVariant::SortSegmented && words == SortWords::Packed {
                b.require(F::SHADER_INT64, "the packed sort (64-bit words)")?;
            }
            if job.variant == ScatterVariant::Reproducible && acc == Precision::F64 {
                b.require(F::SHADER_INT64, "reproducible in f64 (u64 bit patterns)")?;
            }
            let sort_wg = SORT_WG;
            if job.variant == ScatterVariant::SortSegmented
                && sort_wg > b.limits().max_compute_invocations_per_workgroup
            {
                return Err(OpError::Unsupported(format!(
                    "the radix sort's workgroups have {sort_wg} threads; this device allows {}",
                    b.limits().max_compute_invocations_per_workgroup
                )));
            }
        }
    }
    let wg = job.launch.workgroup_size;
    let lim = b.limits();
    if wg > lim.max_compute_invocations_per_workgroup || wg > lim.max_compute_workgroup_size_x {
        return Err(OpError::Unsupported(format!(
            "workgroup size {wg} exceeds this device's limit ({} invocations, {} in x)",
            lim.max_compute_invocations_per_workgroup, lim.max_compute_workgroup_size_x
        )));
    }
    let word = if acc == Precision::F64 { 8 } else { 4 };
    if job.variant == ScatterVariant::Privatized {
        super::check_privatized(
            job,
            word,
            lim.max_compute_workgroup_storage_size as u64,
            &b.info().name,
        )?;
    }
    let groups = [
        job.launch.workgroups as u64,
        (job.bins as u64).div_ceil(wg as u64),
        (job.chunks() as u64).div_ceil(wg as u64),
        SortShape::of(job, words).tiles as u64,
    ];
    let most = groups.into_iter().max().unwrap_or(1);
    if most > lim.max_compute_workgroups_per_dimension as u64 {
        return Err(OpError::Unsupported(format!(
            "{most} workgroups exceed this device's limit of {}",
            lim.max_compute_workgroups_per_dimension
        )));
    }
    Ok(())
}

fn words<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    bytemuck::pod_collect_to_vec(bytes)
}

/// Bindings of scatter.wgsl by name (`@binding(N) var ... <name>`; the layout test holds
/// these to the template).
mod bind {
    pub const PRM: u32 = 0;
    pub const XS: u32 = 1;
    pub const IDX: u32 = 2;
    /// Bins of the direct variants (fbins, cbins, fx) and reproducible's lanes.
    pub const BINS: u32 = 3;
    /// CAS give-up count (gave_up) or fixed-point lost terms (fx_lost).
    pub const FLAG: u32 = 4;
    pub const OFFS: u32 = 5;
    pub const SCAN_BUF: u32 = 6;
    pub const KEYS_IN: u32 = 7;
    pub const DCOUNTS: u32 = 8;
    pub const PERM_IN: u32 = 9;
    pub const KEYS_OUT: u32 = 10;
    pub const PERM_OUT: u32 = 11;
    pub const HEAD: u32 = 12;
    pub const FIRSTS: u32 = 13;
    pub const OUTV: u32 = 14;
    pub const VALS: u32 = 15;
    pub const PARTIALS: u32 = 16;
    /// reproducible's per-bin layout table.
    pub const BLAY: u32 = 17;
    /// The packed sort's words in and out.
    pub const KP_IN: u32 = 18;
    pub const KP_OUT: u32 = 19;
}

/// What every scatter variant's run starts from: the module, the base uniform and the
/// input buffers.
struct Setup<'a> {
    b: &'a WgpuBackend,
    job: &'a ScatterJob,
    layout: Layout,
    src: String,
    base: Params,
    prm: wgpu::Buffer,
    x: wgpu::Buffer,
    idx: wgpu::Buffer,
}

pub fn run(b: &WgpuBackend, job: &ScatterJob) -> Result<RunSet, OpError> {
    run_with(b, job, layout(b))
}

/// [`run`] in a layout chosen by the caller (the tests run every layout on one device);
/// `SortWords::Packed` needs SHADER_INT64.
pub fn run_with(b: &WgpuBackend, job: &ScatterJob, layout: Layout) -> Result<RunSet, OpError> {
    let words = layout.sort;
    super::check_job(job)?;
    check_device(b, job, words)?;
    let n = job.n();
    b.check_storage(n, (n * job.precision.bytes()) as u64)?;
    let base = Params {
        n: n as u32,
        bins: job.bins as u32,
        threads: job.total_threads() as u32,
        chunk: job.chunk as u32,
        chunks: job.chunks() as u32,
        fixed_k: job.fixed_scale,
        zero: 0,
        folds: job.repro.map(|p| p.folds as i32).unwrap_or(0),
        a0: job.repro.map(|p| p.a[0]).unwrap_or(0),
        a1: job.repro.map(|p| p.a[1]).unwrap_or(0),
        a2: job.repro.map(|p| p.a[2]).unwrap_or(0),
        ..Default::default()
    };
    let setup = Setup {
        b,
        job,
        layout,
        src: source_with(b, job, layout, false),
        base,
        prm: b.uniform("params", &base)?,
        x: b.storage_from_bytes("x", &job.precision.encode(&job.x))?,
        idx: b.storage_from_bytes("idx", bytemuck::cast_slice(&job.idx))?,
    };
    let mut set = RunSet {
        timer: b.timer().into(),
        ..Default::default()
    };
    match job.variant {
        ScatterVariant::Atomic
        | ScatterVariant::AtomicCas
        | ScatterVariant::Privatized
        | ScatterVariant::FixedPoint => run_direct(&setup, &mut set)?,
        ScatterVariant::Reproducible => run_reproducible(&setup, &mut set)?,
        ScatterVariant::SortSegmented => run_sorted(&setup, &mut set)?,
    }
    Ok(set)
}

/// atomic, atomic_cas, privatized and fixed_point: one kernel adding into global bins.
fn run_direct(s: &Setup, set: &mut RunSet) -> Result<(), OpError> {
    let (b, job) = (s.b, s.job);
    let (n, bins, acc) = (job.n(), job.bins, job.accumulator);
    let wide = acc == Precision::F64;
    let (entry, word) = match job.variant {
        ScatterVariant::Atomic => ("scatter_atomic", 4),
        ScatterVariant::AtomicCas => ("scatter_atomic_cas", if wide { 8 } else { 4 }),
        ScatterVariant::Privatized => ("scatter_privatized", if wide { 8 } else { 4 }),
        _ => ("scatter_fixed_point", 8),
    };
    let p = b.pipeline(&s.src, entry)?;
    let out = b.storage_zeroed("bins", (bins * word) as u64)?;
    let flag = b.storage_zeroed("flag", 4)?;
    let mut entries = vec![
        (bind::PRM, &s.prm),
        (bind::XS, &s.x),
        (bind::IDX, &s.idx),
        (bind::BINS, &out),
    ];
    let uses_flag = match job.variant {
        ScatterVariant::Atomic => false,
        ScatterVariant::Privatized => !native_merge(b, job),
        _ => true,
    };
    if uses_flag {
        entries.push((bind::FLAG, &flag));
    }
    let bg = b.bind_group(&p, &entries)?;
    let g1 = [job.launch.workgroups, 1, 1];
    for _ in 0..job.runs {
        let r = b.execute(&[&out, &flag], &[Pass::new(&p, &bg, g1)], &[&out, &flag])?;
        let f = words::<u32>(&r.outputs[1])[0];
        let values = if job.variant == ScatterVariant::FixedPoint {
            set.message = fixed_message(f as u64, n, job.fixed_scale);
            words::<i64>(&r.outputs[0])[..bins]
                .iter()
                .map(|&t| fixed_to_value(t, job.fixed_scale, acc))
                .collect()
        } else {
            if f != 0 {
                return Err(OpError::Failed(format!(
                    "{entry}: {f} compare-exchange loops gave up after {MAX_TRIES} failed tries"
                )));
            }
            let fmt = if word == 8 {
                Precision::F64
            } else {
                Precision::F32
            };
            fmt.decode(&r.outputs[0])[..bins].to_vec()
        };
        set.outputs.push(values);
        set.times_ms.push(r.ms);
    }
    if set.message.is_empty() {
        set.message = match job.variant {
            ScatterVariant::Atomic => "one native f32 atomicAdd per element".into(),
            ScatterVariant::AtomicCas => "one compare-exchange loop per element".into(),
            _ => format!(
                "{bins} private bins per workgroup in workgroup memory, merged with {}",
                if native_merge(b, job) {
                    "native f32 atomicAdd"
                } else {
                    "compare-exchange"
                }
            ),
        };
    }
    Ok(())
}

/// reproducible: one kernel adding exact integer quanta per fold, finalised on the host.
fn run_reproducible(s: &Setup, set: &mut RunSet) -> Result<(), OpError> {
    let (b, job) = (s.b, s.job);
    let bins = job.bins;
    let limbs = job.repro_limbs();
    let nwords = bins * REPRO_LANES * limbs;
    let k = b.pipeline(&s.src, "scatter_reproducible")?;
    let lanes = b.storage_zeroed("lanes", nwords as u64 * 4)?;
    let blay = b.storage_from_bytes(
        "bin layouts",
        bytemuck::cast_slice(&job.repro_layout_packed()),
    )?;
    let (groups, span) = repro_shape(b, job);
    let u = b.uniform(
        "params_repro",
        &Params {
            span,
            threads: groups * job.launch.workgroup_size,
            ..s.base
        },
    )?;
    let bg = b.bind_group(
        &k,
        &[
            (bind::PRM, &u),
            (bind::XS, &s.x),
            (bind::IDX, &s.idx),
            (bind::BINS, &lanes),
            (bind::BLAY, &blay),
        ],
    )?;
    let gr = [groups, 1, 1];
    for _ in 0..job.runs {
        let r = b.execute(&[&lanes], &[Pass::new(&k, &bg, gr)], &[&lanes])?;
        let w = words::<u32>(&r.outputs[0]);
        set.outputs.push(job.repro_finalize(&w[..nwords]));
        set.times_ms.push(r.ms);
    }
    set.message = format!(
        "binned summation as exact integer quanta per fold in each bin's own layout, no sort; {} lanes; runs of up to {} elements per thread; states finalised on the host",
        if repro_pair64(b, job, s.layout) {
            "per-workgroup lanes in workgroup memory (folds 0 and 1 of a bin in one u64 word), merged into global"
        } else if repro_plane32(b, job) && repro_private(b, job) {
            "per-workgroup lanes in workgroup memory (one u32 word per fold), merged into global"
        } else if repro_private(b, job) {
            "per-workgroup lanes in workgroup memory, merged into global"
        } else {
            "global"
        },
        span
    );
    Ok(())
}

/// How a device lays out the kernels whose bits do not depend on it: [`layout`] chooses
/// one per device, and [`run_with`] takes any (the tests run each on one device).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// sort_segmented's sort.
    pub sort: SortWords,
    /// reproducible's workgroup lanes: folds 0 and 1 of a bin in one u64 word where its
    /// lanes are 32-bit and the device has 64-bit atomics; else one u32 word per fold.
    pub pair64: bool,
}

/// The layout this device runs: [`sort_words`], and paired lanes wherever they apply.
pub fn layout(b: &WgpuBackend) -> Layout {
    Layout {
        sort: sort_words(b),
        pair64: true,
    }
}

/// How sort_segmented lays out its sort on a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortWords {
    /// A radix sort by 5-bit digits over tiles of workgroups, keys and element positions
    /// in separate u32 arrays, the values moved into sorted order by the last pass: every
    /// device.
    Split,
    /// A counting sort by digits of up to [`LANE_BITS`] bits whose threads each own a range
    /// of elements and a counter per digit, key and value (f32; the position for f64)
    /// packed in one u64 per element (`SORT64` in scatter.wgsl): CPU adapters with
    /// SHADER_INT64, where every memory component an element touches is a loop over the
    /// SIMD lanes and a gather from x costs far more than a sequential read. The same
    /// stable sort, so the same sorted order and the same bits.
    Packed,
}

/// Digit bits of the packed sort: up to 1024 bins sort in one pass.
pub const LANE_BITS: u32 = 10;

/// Threads of a workgroup of the packed sort's kernels (each thread works alone).
pub const LANE_WG: u32 = 32;

/// Most elements a packed sorter thread owns. Its counters (2^LANE_BITS words) are zeroed
/// and scanned once per pass, so they should be few next to its elements; and lavapipe
/// (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS) silently ends a shader's loops after 65535
/// iterations in all, so a thread's zeroing and element loops must stay well below that.
pub const LANE_SPAN: usize = 16384;
// Zeroing the counters and walking the elements, with room to spare.
const _: () = assert!(LANE_SPAN + (1 << LANE_BITS) < 65535 / 2);

/// The packed sort's workgroups, threads, and elements per thread for n elements.
fn lane_shape(n: usize) -> (usize, usize, usize) {
    let groups = n.div_ceil(LANE_WG as usize * LANE_SPAN).max(1);
    let lanes = groups * LANE_WG as usize;
    (groups, lanes, n.div_ceil(lanes))
}

/// Digit bits of the packed sort for `bins` bins: those of the largest index, at most
/// [`LANE_BITS`], at least 1.
pub fn lane_bits(bins: usize) -> u32 {
    (32 - ((bins.max(1) - 1) as u32).leading_zeros()).clamp(1, LANE_BITS)
}

/// The layout sort_segmented uses on this device: packed on a CPU adapter with 64-bit
/// integers, split everywhere else.
pub fn sort_words(b: &WgpuBackend) -> SortWords {
    if b.is_cpu() && b.has(F::SHADER_INT64) {
        SortWords::Packed
    } else {
        SortWords::Split
    }
}

/// The buffers of sort_segmented.
struct SortBuffers {
    offs: wgpu::Buffer,
    dcounts: wgpu::Buffer,
    partials: wgpu::Buffer,
    head: wgpu::Buffer,
    firsts: wgpu::Buffer,
    outv: wgpu::Buffer,
    data: SortData,
}

/// The sorted elements: split keys, positions and values, or packed words.
enum SortData {
    Split {
        keys: [wgpu::Buffer; 2],
        perms: [wgpu::Buffer; 2],
        vals: wgpu::Buffer,
    },
    Packed {
        kp: [wgpu::Buffer; 2],
        /// f64 values in sorted order (with f32 values, the words hold them).
        vals: wgpu::Buffer,
    },
}

impl SortBuffers {
    fn new(b: &WgpuBackend, job: &ScatterJob, sh: &SortShape) -> Result<Self, OpError> {
        let (n, bins) = (job.n() as u64, job.bins as u64);
        let cb: u64 = if uses_f64(job) { 8 } else { 4 };
        let u32b = 4u64;
        let data = match sh.words {
            SortWords::Split => SortData::Split {
                keys: [
                    b.storage_zeroed("keys0", n * u32b)?,
                    b.storage_zeroed("keys1", n * u32b)?,
                ],
                perms: [
                    b.storage_zeroed("perm0", n * u32b)?,
                    b.storage_zeroed("perm1", n * u32b)?,
                ],
                vals: b.storage_zeroed("sorted values", n * cb)?,
            },
            SortWords::Packed => {
                // Without a pass the kernels read the indices; the words are only bound.
                let words = if sh.passes == 0 || sh.solo { 1 } else { n };
                let vals = if sh.passes > 0 && (cb == 8 || sh.solo) {
                    n
                } else {
                    1
                };
                SortData::Packed {
                    kp: [
                        b.storage_zeroed("packed0", words * 8)?,
                        b.storage_zeroed("packed1", words * 8)?,
                    ],
                    vals: b.storage_zeroed("sorted values", vals * cb)?,
                }
            }
        };
        Ok(Self {
            offs: b.storage_zeroed("offsets", (bins + 1) * u32b)?,
            dcounts: b.storage_zeroed("dcounts", sh.scan_len as u64 * u32b)?,
            partials: b.storage_zeroed("partials", sh.blocks as u64 * u32b)?,
            head: b.storage_zeroed("head", job.chunks() as u64 * cb)?,
            firsts: b.storage_zeroed("firsts", bins * cb)?,
            outv: b.storage_zeroed("out", bins * cb)?,
            data,
        })
    }
}

/// The pipelines of the split sort, by entry point.
type SortPipelines = super::SortEntries<wgpu::ComputePipeline>;

/// The sort's shape: passes (their digits' shifts), workgroups of the count and scatter
/// kernels, and the length and blocks of the digit-count scan.
#[derive(Clone)]
struct SortShape {
    words: SortWords,
    bits: u32,
    shifts: Vec<u32>,
    passes: u32,
    /// Split: the tiles (one workgroup each). Packed: the sorter workgroups.
    tiles: u32,
    /// Split: elements per tile. Packed: elements per sorter thread.
    span: u32,
    /// Packed: the sorter threads.
    lanes: u32,
    /// Packed, one pass whose digit is the whole index: the pass places the values
    /// alone, and the bins' offsets imply the sorted keys.
    solo: bool,
    scan_len: u32,
    blocks: u32,
}

impl SortShape {
    fn of(job: &ScatterJob, words: SortWords) -> Self {
        let n = job.n();
        let (bits, tiles, span, lanes) = match words {
            SortWords::Split => {
                let tile = (SORT_WG * RADIX_ITEMS) as usize;
                (RADIX_BITS, n.div_ceil(tile), tile, 0)
            }
            SortWords::Packed => {
                let (groups, lanes, span) = lane_shape(n);
                (lane_bits(job.bins), groups, span, lanes)
            }
        };
        let scan_len = (1u32 << bits) * (lanes.max(tiles) as u32);
        let shifts = job.digit_shifts(bits);
        let key_bits = 32 - ((job.bins.max(1) - 1) as u32).leading_zeros();
        SortShape {
            solo: words == SortWords::Packed && shifts.len() == 1 && key_bits <= bits,
            words,
            bits,
            passes: shifts.len() as u32,
            shifts,
            tiles: tiles as u32,
            span: span as u32,
            lanes: lanes as u32,
            scan_len,
            blocks: scan_len.div_ceil(SORT_WG * RADIX_ITEMS),
        }
    }
}

/// One dispatch of sort_segmented's pass list, owned.
type Step = (wgpu::ComputePipeline, wgpu::BindGroup, [u32; 3]);

/// What both layouts' pass lists build from.
struct SortPlan<'a> {
    s: &'a Setup<'a>,
    buf: &'a SortBuffers,
    sh: &'a SortShape,
    /// scan_reduce, scan_exclusive (with its bind group), scan_apply.
    scans: [wgpu::ComputePipeline; 3],
    bg_part: wgpu::BindGroup,
}

impl SortPlan<'_> {
    /// One dispatch of `p` with its bindings.
    fn step(
        &self,
        p: &wgpu::ComputePipeline,
        e: &[(u32, &wgpu::Buffer)],
        grid: [u32; 3],
    ) -> Result<Step, OpError> {
        Ok((p.clone(), self.s.b.bind_group(p, e)?, grid))
    }

    /// The uniform of radix pass `p`.
    fn radix_uniform(&self, p: u32) -> Result<wgpu::Buffer, OpError> {
        let sh = self.sh;
        self.s.b.uniform(
            "params_radix",
            &Params {
                shift: sh.shifts[p as usize],
                first: u32::from(p == 0),
                last: u32::from(p + 1 == sh.passes),
                tiles: sh.tiles,
                scan_len: sh.scan_len,
                threads: sh.lanes,
                span: sh.span,
                ..self.s.base
            },
        )
    }

    /// The scan of the digit counts between a pass's count and scatter.
    fn scan_steps(&self, u: &wgpu::Buffer, out: &mut Vec<Step>) -> Result<(), OpError> {
        let buf = self.buf;
        let e = [
            (bind::PRM, u),
            (bind::SCAN_BUF, &buf.dcounts),
            (bind::PARTIALS, &buf.partials),
        ];
        let [reduce, exclusive, apply] = &self.scans;
        let gb = [self.sh.blocks, 1, 1];
        out.push(self.step(reduce, &e, gb)?);
        out.push((exclusive.clone(), self.bg_part.clone(), [1, 1, 1]));
        out.push(self.step(apply, &e, gb)?);
        Ok(())
    }

    /// bin offsets and the segmented reduction's pass 1 (given), then pass 2.
    fn segment_steps(
        &self,
        offsets: Option<Step>,
        pass1: Step,
        pass2: &wgpu::ComputePipeline,
        out: &mut Vec<Step>,
    ) -> Result<(), OpError> {
        let (s, buf) = (self.s, self.buf);
        let bins = s.job.bins as u32;
        let wg = s.job.launch.workgroup_size;
        out.extend(offsets);
        out.push(pass1);
        let bg = s.b.bind_group(
            pass2,
            &[
                (bind::PRM, &s.prm),
                (bind::OFFS, &buf.offs),
                (bind::HEAD, &buf.head),
                (bind::FIRSTS, &buf.firsts),
                (bind::OUTV, &buf.outv),
            ],
        )?;
        out.push((pass2.clone(), bg, [bins.div_ceil(wg), 1, 1]));
        Ok(())
    }

    /// What the packed sort's segmented pass 1 binds in every form: the uniform, x, and its
    /// outputs.
    fn pass1_binds(&self) -> Vec<(u32, &wgpu::Buffer)> {
        vec![
            (bind::PRM, &self.s.prm),
            (bind::XS, &self.s.x),
            (bind::HEAD, &self.buf.head),
            (bind::FIRSTS, &self.buf.firsts),
        ]
    }

    /// Grid-stride launches over the bins + 1 offsets, and pass 1's one thread per chunk.
    fn offsets_grid(&self) -> [u32; 3] {
        [
            (self.s.job.bins as u32 + 1)
                .div_ceil(SORT_WG)
                .clamp(1, 1024),
            1,
            1,
        ]
    }
    fn pass1_grid(&self) -> [u32; 3] {
        let chunks = self.s.job.chunks() as u32;
        [chunks.div_ceil(self.s.job.launch.workgroup_size), 1, 1]
    }

    /// The split sort: keys and positions ping-pong between the two buffers of each pair;
    /// pass 0 reads the indices themselves, the last writes the values in sorted order.
    fn split(&self) -> Result<Vec<Step>, OpError> {
        let (s, buf, sh) = (self.s, self.buf, self.sh);
        let b = s.b;
        let SortData::Split { keys, perms, vals } = &buf.data else {
            return Err(OpError::Failed("split sort without its buffers".into()));
        };
        let k = SortPipelines::load(|entry| b.pipeline(&s.src, entry))?;
        let gt = [sh.tiles, 1, 1];
        let mut out = Vec::new();
        if sh.passes == 0 {
            let ge = [(s.job.n() as u32).div_ceil(SORT_WG).clamp(1, 1024), 1, 1];
            let e = [(bind::PRM, &s.prm), (bind::XS, &s.x), (bind::VALS, vals)];
            out.push(self.step(&k.copy_values, &e, ge)?);
        }
        for p in 0..sh.passes {
            let u = self.radix_uniform(p)?;
            let (kin, pin) = if p == 0 {
                // Pass 0 reads the positions as i itself; perm_in is not read.
                (&s.idx, &perms[1])
            } else {
                (
                    &keys[((p - 1) % 2) as usize],
                    &perms[((p - 1) % 2) as usize],
                )
            };
            let (kout, pout) = (&keys[(p % 2) as usize], &perms[(p % 2) as usize]);
            let ec = [
                (bind::PRM, &u),
                (bind::KEYS_IN, kin),
                (bind::DCOUNTS, &buf.dcounts),
            ];
            out.push(self.step(&k.count, &ec, gt)?);
            self.scan_steps(&u, &mut out)?;
            // The kernel chooses perm_out or vals at run time, so both are bound.
            let e = [
                (bind::PRM, &u),
                (bind::XS, &s.x),
                (bind::KEYS_IN, kin),
                (bind::DCOUNTS, &buf.dcounts),
                (bind::PERM_IN, pin),
                (bind::KEYS_OUT, kout),
                (bind::PERM_OUT, pout),
                (bind::VALS, vals),
            ];
            out.push(self.step(&k.scatter, &e, gt)?);
        }
        let kfin = if sh.passes == 0 {
            &s.idx
        } else {
            &keys[((sh.passes - 1) % 2) as usize]
        };
        let eo = [
            (bind::PRM, &s.prm),
            (bind::OFFS, &buf.offs),
            (bind::KEYS_IN, kfin),
        ];
        let offsets = self.step(&k.offsets, &eo, self.offsets_grid())?;
        let e1 = [
            (bind::PRM, &s.prm),
            (bind::KEYS_IN, kfin),
            (bind::HEAD, &buf.head),
            (bind::FIRSTS, &buf.firsts),
            (bind::VALS, vals),
        ];
        let pass1 = self.step(&k.pass1, &e1, self.pass1_grid())?;
        self.segment_steps(Some(offsets), pass1, &k.pass2, &mut out)?;
        Ok(out)
    }

    /// The packed sort: lane_hist, the scan and lane_place per pass, the words
    /// ping-ponging between two buffers; pass 0 and, with no pass at all, the segmented
    /// reduction read the indices and x (the module with IDENT), the others the previous
    /// pass's words.
    fn packed(&self) -> Result<Vec<Step>, OpError> {
        let (s, buf, sh) = (self.s, self.buf, self.sh);
        let b = s.b;
        let SortData::Packed { kp, vals } = &buf.data else {
            return Err(OpError::Failed("packed sort without its buffers".into()));
        };
        // The module whose kernels read the indices and x, and the one reading words.
        let first = source_with(
            b,
            s.job,
            Layout {
                sort: sh.words,
                ..s.layout
            },
            true,
        );
        let pipe =
            |entry: &str, ident: bool| b.pipeline(if ident { &first } else { &s.src }, entry);
        if sh.solo || sh.passes == 0 {
            return self.solo(&pipe, vals);
        }
        // f64 values have their own buffer, which every kernel that stores or reads them binds.
        let wide = uses_f64(s.job);
        let vals = wide.then_some(vals);
        fn with_vals<'b>(
            vals: Option<&'b wgpu::Buffer>,
            mut e: Vec<(u32, &'b wgpu::Buffer)>,
        ) -> Vec<(u32, &'b wgpu::Buffer)> {
            e.extend(vals.map(|v| (bind::VALS, v)));
            e
        }
        let gt = [sh.tiles, 1, 1];
        let mut out = Vec::new();
        for p in 0..sh.passes {
            let u = self.radix_uniform(p)?;
            let (kin, kout) = (&kp[((p + 1) % 2) as usize], &kp[(p % 2) as usize]);
            let count = pipe("lane_hist", p == 0)?;
            let ec = [
                (bind::PRM, &u),
                (bind::IDX, &s.idx),
                (bind::KP_IN, kin),
                (bind::DCOUNTS, &buf.dcounts),
            ];
            out.push(self.step(&count, &ec, gt)?);
            self.scan_steps(&u, &mut out)?;
            let scatter = pipe("lane_place", p == 0)?;
            let e = with_vals(
                vals,
                vec![
                    (bind::PRM, &u),
                    (bind::XS, &s.x),
                    (bind::IDX, &s.idx),
                    (bind::KP_IN, kin),
                    (bind::DCOUNTS, &buf.dcounts),
                    (bind::KP_OUT, kout),
                ],
            );
            out.push(self.step(&scatter, &e, gt)?);
        }
        let ident = sh.passes == 0;
        // The last pass's output (with no pass, a buffer bound but not read).
        let kfin = &kp[(sh.passes.max(1) - 1) as usize % 2];
        let offsets = pipe("bin_offsets64", ident)?;
        let eo = [
            (bind::PRM, &s.prm),
            (bind::IDX, &s.idx),
            (bind::KP_IN, kfin),
            (bind::OFFS, &buf.offs),
        ];
        let offsets = self.step(&offsets, &eo, self.offsets_grid())?;
        let pass1 = pipe("seg_pass1_64", ident)?;
        let mut e1 = self.pass1_binds();
        e1.extend([(bind::IDX, &s.idx), (bind::KP_IN, kfin)]);
        let e1 = with_vals(vals, e1);
        let pass1 = self.step(&pass1, &e1, self.pass1_grid())?;
        self.segment_steps(Some(offsets), pass1, &pipe("seg_pass2", false)?, &mut out)?;
        Ok(out)
    }

    /// The packed sort in one pass by the whole index: lane_hist, the scan, the offsets
    /// from the scanned counters, lane_place_solo placing the values alone, and the
    /// segmented reduction reading the runs from the offsets. With no pass (every index
    /// the same) the offsets are 0 and n and the reduction reads x itself.
    fn solo(
        &self,
        pipe: &dyn Fn(&str, bool) -> Result<wgpu::ComputePipeline, OpError>,
        vals: &wgpu::Buffer,
    ) -> Result<Vec<Step>, OpError> {
        let (s, buf, sh) = (self.s, self.buf, self.sh);
        let gt = [sh.tiles, 1, 1];
        let mut out = Vec::new();
        let mut e1 = self.pass1_binds();
        e1.extend([(bind::OFFS, &buf.offs), (bind::VALS, vals)]);
        if sh.passes == 0 {
            let eo = [
                (bind::PRM, &s.prm),
                (bind::IDX, &s.idx),
                (bind::OFFS, &buf.offs),
            ];
            let offsets = pipe("bin_offsets_const", true)?;
            let offsets = self.step(&offsets, &eo, self.offsets_grid())?;
            let pass1 = self.step(&pipe("seg_pass1_solo", true)?, &e1, self.pass1_grid())?;
            self.segment_steps(Some(offsets), pass1, &pipe("seg_pass2", false)?, &mut out)?;
            return Ok(out);
        }
        let u = self.radix_uniform(0)?;
        // The words buffer is bound (the IDENT module declares it) but not read.
        let SortData::Packed { kp, .. } = &buf.data else {
            return Err(OpError::Failed("packed sort without its buffers".into()));
        };
        let ec = [
            (bind::PRM, &u),
            (bind::IDX, &s.idx),
            (bind::KP_IN, &kp[1]),
            (bind::DCOUNTS, &buf.dcounts),
        ];
        out.push(self.step(&pipe("lane_hist", true)?, &ec, gt)?);
        self.scan_steps(&u, &mut out)?;
        let eo = [
            (bind::PRM, &u),
            (bind::DCOUNTS, &buf.dcounts),
            (bind::OFFS, &buf.offs),
        ];
        out.push(self.step(&pipe("bin_offsets_solo", false)?, &eo, self.offsets_grid())?);
        let e = [
            (bind::PRM, &u),
            (bind::XS, &s.x),
            (bind::IDX, &s.idx),
            (bind::DCOUNTS, &buf.dcounts),
            (bind::VALS, vals),
        ];
        out.push(self.step(&pipe("lane_place_solo", true)?, &e, gt)?);
        let pass1 = self.step(&pipe("seg_pass1_solo", false)?, &e1, self.pass1_grid())?;
        self.segment_steps(None, pass1, &pipe("seg_pass2", false)?, &mut out)?;
        Ok(out)
    }
}

/// sort_segmented: a stable radix sort of the indices, then a segmented reduction, all
/// recorded in one command buffer per run.
fn run_sorted(s: &Setup, set: &mut RunSet) -> Result<(), OpError> {
    let (b, job) = (s.b, s.job);
    let (bins, acc) = (job.bins, job.accumulator);
    let sh = SortShape::of(job, s.layout.sort);
    let buf = SortBuffers::new(b, job, &sh)?;
    let exclusive = b.pipeline(&s.src, "scan_exclusive")?;
    let u_part = b.uniform(
        "params_partials",
        &Params {
            scan_len: sh.blocks,
            ..s.base
        },
    )?;
    let bg_part = b.bind_group(
        &exclusive,
        &[(bind::PRM, &u_part), (bind::PARTIALS, &buf.partials)],
    )?;
    let plan = SortPlan {
        s,
        buf: &buf,
        sh: &sh,
        scans: [
            b.pipeline(&s.src, "scan_reduce")?,
            exclusive,
            b.pipeline(&s.src, "scan_apply")?,
        ],
        bg_part,
    };
    let steps = match sh.words {
        SortWords::Split => plan.split()?,
        SortWords::Packed => plan.packed()?,
    };
    let list: Vec<Pass> = steps.iter().map(|(p, g, w)| Pass::new(p, g, *w)).collect();
    let fmt = if uses_f64(job) {
        Precision::F64
    } else {
        Precision::F32
    };
    for _ in 0..job.runs {
        let r = b.execute(&[], &list, &[&buf.outv])?;
        let values = fmt.decode(&r.outputs[0])[..bins]
            .iter()
            .map(|&v| acc.round(v))
            .collect();
        set.outputs.push(values);
        set.times_ms.push(r.ms);
    }
    let sort = match sh.words {
        SortWords::Split => format!(
            "stable radix sort ({} passes of {}-bit digits, tiles of {})",
            sh.passes, sh.bits, sh.span
        ),
        SortWords::Packed => format!(
            "stable counting sort ({} passes of {}-bit digits, {} threads of up to {} elements, each with its own counters; {})",
            sh.passes,
            sh.bits,
            sh.lanes,
            sh.span,
            if sh.solo {
                "one pass by the whole index: the values placed alone, the keys implied by the bins' offsets"
            } else if uses_f64(job) {
                "key and position packed in one 64-bit word per element"
            } else {
                "key and value packed in one 64-bit word per element"
            }
        ),
    };
    set.message = format!("{sort}, segmented reduction in chunks of {}", job.chunk);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane32_bound_counts_every_term_a_workgroup_can_see() {
        // 2^22 terms, 256 workgroups of 256 threads, spans of 64: 16384 terms each.
        assert_eq!(most_per_workgroup(1 << 22, 256, 256, 64), 1 << 14);
        // One term more than the grid's spans: some thread walks a second span.
        assert_eq!(
            most_per_workgroup((1 << 22) + 1, 256, 256, 64),
            2 * 256 * 64
        );
        // 2^29 terms over 1024 workgroups of 256 threads, spans of 1024: 2^19 each, one
        // past the bound (2^19 counts of 2^12 make 2^31); half as many fit.
        assert_eq!(most_per_workgroup(1 << 29, 1024, 256, 1024), 1 << 19);
        assert!(most_per_workgroup(1 << 29, 1024, 256, 1024) > PLANE32_MOST_TERMS);
        assert!(most_per_workgroup(1 << 28, 1024, 256, 1024) <= PLANE32_MOST_TERMS);
        // The bound itself: that many counts of magnitude 2^12 fit a signed 32-bit word.
        assert!(PLANE32_MOST_TERMS * (1 << 12) <= i32::MAX as u64);
    }

    #[test]
    fn packed_sort_threads_stay_below_lavapipes_loop_limit() {
        // Every element has a thread, and no thread walks more than LANE_SPAN elements.
        for n in [1usize, 37, 16384, 16385, 1 << 22, (1 << 22) + 1, 1 << 28] {
            let (groups, lanes, span) = lane_shape(n);
            assert_eq!(lanes, groups * LANE_WG as usize);
            assert!(span * lanes >= n && span <= LANE_SPAN, "n={n}");
        }
        assert_eq!(lane_bits(1), 1);
        assert_eq!(lane_bits(17), 5);
        assert_eq!(lane_bits(1024), 10);
        assert_eq!(lane_bits(1025), LANE_BITS);
    }

    #[test]
    fn params_match_the_wgsl_struct() {
        crate::assert_wgsl_layout!(
            Params,
            TEMPLATE,
            "Params",
            [
                n, bins, threads, chunk, chunks, shift, first, tiles, fixed_k, zero, scan_len,
                folds, a0, a1, a2, last, span
            ]
        );
    }

    #[test]
    fn bindings_match_the_wgsl_names() {
        let named = [
            (bind::PRM, "prm"),
            (bind::XS, "xs"),
            (bind::IDX, "idx"),
            (bind::BINS, "fbins"),
            (bind::BINS, "cbins"),
            (bind::BINS, "fx"),
            (bind::BINS, "lanes"),
            (bind::FLAG, "gave_up"),
            (bind::FLAG, "fx_lost"),
            (bind::OFFS, "offs"),
            (bind::SCAN_BUF, "scan_buf"),
            (bind::KEYS_IN, "keys_in"),
            (bind::DCOUNTS, "dcounts"),
            (bind::PERM_IN, "perm_in"),
            (bind::KEYS_OUT, "keys_out"),
            (bind::PERM_OUT, "perm_out"),
            (bind::HEAD, "head"),
            (bind::FIRSTS, "firsts"),
            (bind::OUTV, "outv"),
            (bind::VALS, "vals"),
            (bind::PARTIALS, "partials"),
            (bind::BLAY, "blay"),
            (bind::KP_IN, "kp_in"),
            (bind::KP_OUT, "kp_out"),
        ];
        let mut seen = 0;
        for line in TEMPLATE.lines().filter(|l| l.contains("@binding(")) {
            let num: u32 = line
                .split("@binding(")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .and_then(|d| d.parse().ok())
                .expect("binding number");
            let name = line
                .split(" var")
                .nth(1)
                .and_then(|r| r.split_once('>'))
                .map(|(_, r)| r.trim().split(':').next().unwrap_or("").trim().to_string())
                .expect("binding name");
            let want = named
                .iter()
                .find(|(_, n)| *n == name)
                .unwrap_or_else(|| panic!("binding {name} has no constant"));
            assert_eq!(want.0, num, "binding {name}");
            seen += 1;
        }
        assert!(seen >= named.len());
    }
}
