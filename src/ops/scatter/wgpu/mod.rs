//! The scatter-add family on wgpu: `kernels/wgsl/scatter*.wgsl`, specialised per job (the
//! sort of sort_segmented is [`sort`]).
//!
//! The header fixes `C`, `A`, `XW`, `WG`, `PB` (bins of the privatized copy), the sort's
//! tile shape and reproducible's lane words, and the flags keep only the job's kernels, so
//! f64, i64 and float-atomic code reaches naga only where it is used. sort_segmented
//! records every pass (radix counts, scans, scatters, offsets, segmented passes) in one
//! command buffer per run; reproducible is one kernel.

use super::{ScatterJob, ScatterVariant, RADIX_BITS, RADIX_ITEMS, REPRO_LANES, SORT_WG};
use crate::backend::wgpu::{Pass, WgpuBackend};
use crate::backend::Backend;
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::wgsl::specialise_family;
use crate::ops::RunSet;
use crate::shared::fixed::{fixed_message, fixed_to_value};
use wgpu::Features as F;

/// The template, embedded once in [`crate::kernels::wgsl`] and hashed from there; modules are
/// [`crate::kernels::WGSL_PRELUDE`] and this, specialised together.
pub const TEMPLATE: &str = crate::kernels::wgsl::SCATTER;
/// The template files of a module, after the prelude (`kernels/wgsl/<stem>.wgsl`): the
/// bindings and the atomic variants, then one file per kind of kernel.
const PARTS: &[&str] = &[
    "scatter",
    "scatter_sort",
    "scatter_sort64",
    "scatter_radix",
    "scatter_repro",
];

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
fn repro_plane32(job: &ScatterJob, layout: Layout) -> bool {
    let (groups, span) = repro_shape(job, layout);
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
fn repro_shape(job: &ScatterJob, layout: Layout) -> (u32, u32) {
    if !layout.cpu_walks {
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
fn repro_plane_words(job: &ScatterJob, layout: Layout) -> usize {
    let per_lane = if repro_plane32(job, layout) {
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
        && repro_private(b, job, layout)
        && repro_plane32(job, layout)
        && b.has(F::SHADER_INT64 | F::SHADER_INT64_ATOMIC_ALL_OPS)
}

/// Bytes of reproducible's per-workgroup lanes (all bins).
fn repro_lane_bytes(job: &ScatterJob, layout: Layout) -> u64 {
    (repro_plane_words(job, layout) * 4) as u64
}

/// Whether reproducible keeps every bin's lanes in workgroup memory on this device.
fn repro_private(b: &WgpuBackend, job: &ScatterJob, layout: Layout) -> bool {
    job.variant == ScatterVariant::Reproducible
        && repro_lane_bytes(job, layout) <= b.limits().max_compute_workgroup_storage_size as u64
}

/// The specialised WGSL of one job.
pub fn module_source(b: &WgpuBackend, job: &ScatterJob) -> Result<String, OpError> {
    source_with(b, job, layout(b), false)
}

/// The specialised WGSL of one job in `layout`; `ident`: the packed sort's kernels read the
/// indices and x (its first pass, or no pass at all), not the previous pass's words.
fn source_with(
    b: &WgpuBackend,
    job: &ScatterJob,
    layout: Layout,
    ident: bool,
) -> Result<String, OpError> {
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
    } else if repro_private(b, job, layout) {
        repro_plane_words(job, layout)
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
            // common.wgsl's or1, pow2, sigma_of and to_limbs (binned deposits).
            flags.extend(["V_REPRO", "REPRO_BITS"]);
            if repro_private(b, job, layout) {
                flags.push("REPRO_PRIV");
                if repro_plane32(job, layout) {
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
    specialise_family(&header, PARTS, &flags)
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
        src: source_with(b, job, layout, false)?,
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
    let (groups, span) = repro_shape(job, s.layout);
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
        } else if repro_plane32(job, s.layout) && repro_private(b, job, s.layout) {
            "per-workgroup lanes in workgroup memory (one u32 word per fold), merged into global"
        } else if repro_private(b, job, s.layout) {
            "per-workgroup lanes in workgroup memory, merged into global"
        } else {
            "global"
        },
        span
    );
    Ok(())
}

/// How a device lays out the kernels whose bits do not depend on it: the family's view of
/// the device [`Profile`]. [`layout`] is the device's own, and [`run_with`] takes any (the
/// tests run each on one device).
pub type Layout = Profile;

/// The layout this device runs: [`Profile::of`].
pub fn layout(b: &WgpuBackend) -> Layout {
    Profile::of(b)
}

/// The layout sort_segmented uses on this device: packed on a CPU adapter with 64-bit
/// integers, split everywhere else.
pub fn sort_words(b: &WgpuBackend) -> SortWords {
    Profile::of(b).sort
}

mod sort;
pub use crate::ops::wgsl::{Profile, SortWords};
pub use sort::{lane_bits, LANE_BITS, LANE_SPAN, LANE_WG};
use sort::{run_sorted, SortShape};

#[cfg(test)]
mod tests {
    use super::sort::lane_shape;
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
        let text: String = PARTS
            .iter()
            .map(|s| crate::ops::wgsl::template(s).expect("embedded").1)
            .collect();
        for line in text.lines().filter(|l| l.contains("@binding(")) {
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
