//! The scatter-add family: `out[idx[i]] += x[i]` (PyTorch's `index_add_` /
//! `scatter_add_`, the backward pass of embeddings and gathers).
//!
//! Variants, each a distinct kernel:
//! - `atomic`: one native float atomic add per element into its bin;
//! - `atomic_cas`: one compare-exchange loop per element on the bin's word;
//! - `privatized`: every workgroup accumulates into its own copy of all bins in workgroup
//!   (shared) memory, then adds its non-empty bins into the global bins with atomics. The
//!   bins must fit in the device's workgroup memory; larger bin counts are refused with the
//!   reason (tiling the bins would re-read the input once per tile, which is what the
//!   sort-based variants already avoid);
//! - `sort_segmented`: a stable LSD radix sort of the element indices by bin (5-bit digits,
//!   one pass per digit that is not the same in every index, so 1024 bins take two passes
//!   and a single hot bin none: per-tile digit histograms, a device-wide exclusive scan, a
//!   stable scatter whose ranks come from a workgroup scan of per-thread digit counts; the
//!   last pass moves the values into sorted order), bin offsets from the sorted keys' run
//!   boundaries, then the fixed-order segmented reduction described below. On a CPU
//!   adapter with 64-bit integers, wgpu sorts instead with a stable counting sort shaped
//!   for a CPU's memory ([`wgpu::SortWords::Packed`]): the same sorted order, so the same
//!   bits.
//!   Deterministic: the CPU emulation in [`cpu`] gives the same bits;
//! - `fixed_point`: int64 atomics per bin on values scaled by 2^k, k chosen from max |x| and
//!   the largest bin count so no bin can overflow; integer addition is associative, so the
//!   order the atomics land in cannot matter;
//! - `reproducible`: binned summation ([`crate::numerics::repro`]) without a sort. Every bin
//!   has its own layout, fixed by the largest |x| in that bin (a maximum over a multiset:
//!   order-independent, so a bin of small values keeps its own precision instead of falling
//!   below a floor set by the largest value anywhere). With the bin's layout fixed, a
//!   deposit adds to fold k the element's remainder rounded to the fold's quantum, which
//!   depends on the element alone; so each fold is an exact integer count of quanta, summed
//!   with integer atomics (per workgroup in workgroup memory when the bins fit, then once
//!   per workgroup into the global counts). The state (and the finalised value) is
//!   independent of the order, the workgroup size and the device; the host finalises each
//!   bin's state with the shared code.
//!
//! # Segmented reduction (sort_segmented)
//! The sorted array is cut into chunks of `chunk` elements. Pass 1 has one thread per chunk:
//! it walks its chunk left to right and sums each run of equal bins, starting from 0. The
//! run that starts the chunk is written to `head[chunk]`; a run that starts inside the chunk
//! is the first piece of its bin and is written to `first[bin]` (only one chunk can hold it).
//! Pass 2 has one thread per bin with sorted range [s, e): it starts from `first[bin]` (or
//! `head[s / chunk]` when s is a chunk boundary) and adds `head[c]` for every later chunk c
//! the range reaches, in increasing c. Every bin's value is thus a fixed function of the
//! stably sorted input and `chunk`.
//!
//! The order bounds the parallelism: every piece (a run of one bin inside one chunk) is a
//! left-to-right chain of dependent float additions from 0, and float addition does not
//! reassociate, so no schedule with these bits can split a piece. Pass 1 has one thread per
//! chunk, which is one per piece except where a chunk holds several runs (there are at most
//! chunks plus bins pieces); its critical path is `chunk` - 1 additions, about sqrt(n), and
//! pass 2's is the number of chunks a bin spans. Pass 1 does O(n) work and pass 2
//! O(chunks + bins), so the reduction is work-efficient; only its depth is fixed by the
//! order.

pub mod cpu;
pub mod cuda;
mod family;
pub use family::FAMILY;
mod flags;
pub use flags::{ScatterFlags, ScatterOptions};
mod prepare;
pub mod wgpu;
pub use prepare::{prepare, prepare_given};

use super::{Case, CaseParams, Job, Launch, Op, Ordering, Prepared};
use crate::error::{DetError, OpError};
use crate::inputs::{self, Stream};
use crate::numerics::bounds::gamma;
use crate::numerics::exact::ExactAcc;
use crate::numerics::repro::ReproParams;
use crate::numerics::Precision;
use std::path::PathBuf;

/// Variant names, in report order.
pub const VARIANTS: &[&str] = ScatterVariant::NAMES;

/// Largest bin count (`--bins`).
pub const MAX_BINS: usize = 1 << 20;

/// Most elements `atomic_cas` may put into one bin: every one of them is a compare-exchange
/// loop on the same word, so the kernel's time grows with the square of the contention.
pub const MAX_CAS_PER_BIN: usize = 1 << 22;

/// Index distributions of generated indices.
pub const INDEX_DISTS: &[&str] = &["uniform", "zipf", "sorted", "single"];

/// Exponent of the Zipf distribution (P(rank r) proportional to r^-s).
pub const ZIPF_S: f64 = 1.1;

/// Radix digit width of the stable sort: 1024 bins sort in two passes. The scatter's
/// workgroup holds every thread's count of every digit (two digits to a word): 32 digits
/// and [`SORT_WG`] threads take 8 KiB of WebGPU's 16 KiB default workgroup memory.
pub const RADIX_BITS: u32 = 5;

/// Digits of one radix pass.
pub const RADIX_DIGITS: u32 = 1 << RADIX_BITS;

/// Threads of a sort workgroup. The sort's tile shape is its own: a stable sort has one
/// result, so the job's workgroup size cannot change it.
pub const SORT_WG: u32 = 128;

/// Consecutive elements one sort thread ranks (a tile is `SORT_WG * RADIX_ITEMS`; below 256
/// so a thread's digit counts fit in 8 bits, and a tile below 2^16 elements).
pub const RADIX_ITEMS: u32 = 32;

/// Longest run of consecutive elements one reproducible thread sums in registers: the
/// quanta counts of 2^11 terms (each at most 2^(p-12)) are exact in the accumulator.
pub const REPRO_SPAN: u32 = 1024;

/// Elements a reproducible thread aims to walk (see [`ScatterJob::repro_groups`]).
pub const REPRO_MIN_SPAN: u32 = 64;

/// Integer lanes per bin of reproducible: one per fold.
pub use crate::shared::lanes::REPRO_LANES;

crate::ops::family::variant_enum! {
    /// A scatter-add variant.
    pub enum ScatterVariant("scatter_add") {
        Atomic = "atomic",
        AtomicCas = "atomic_cas",
        Privatized = "privatized",
        SortSegmented = "sort_segmented",
        FixedPoint = "fixed_point",
        Reproducible = "reproducible",
    }
}

impl ScatterVariant {
    /// Variants whose bits depend on the order float atomics land in.
    pub fn is_atomic(self) -> bool {
        matches!(
            self,
            ScatterVariant::Atomic | ScatterVariant::AtomicCas | ScatterVariant::Privatized
        )
    }

    /// Whether the variant sorts by bin first.
    pub fn sorts(self) -> bool {
        self == ScatterVariant::SortSegmented
    }
}

/// A scatter-add job.
#[derive(Clone, Debug)]
pub struct ScatterJob {
    /// Storage format of x.
    pub precision: Precision,
    /// Accumulation and output format.
    pub accumulator: Precision,
    pub variant: ScatterVariant,
    pub ordering: Ordering,
    /// Values, exactly representable in `precision`.
    pub x: Vec<f64>,
    /// Bin of every value, each < `bins`.
    pub idx: Vec<u32>,
    pub bins: usize,
    pub launch: Launch,
    pub runs: usize,
    /// Segment chunk of sort_segmented (a power of two).
    pub chunk: usize,
    /// fixed_point: values are scaled by 2^fixed_scale and rounded to integers.
    pub fixed_scale: i32,
    /// reproducible: the layout of the largest |x| of all (it exists exactly when every
    /// bin's does, and names the accumulator's limits in errors).
    pub repro: Option<ReproParams>,
    /// reproducible: the layout of every bin, from the largest |x| in that bin.
    pub repro_bins: Vec<ReproParams>,
    /// Elements in the fullest bin.
    pub max_count: usize,
}

impl ScatterJob {
    pub fn n(&self) -> usize {
        self.x.len()
    }

    /// Threads of the element-parallel kernels.
    pub fn total_threads(&self) -> u64 {
        self.launch.workgroups as u64 * self.launch.workgroup_size as u64
    }

    /// Chunks of the segmented reduction.
    pub fn chunks(&self) -> usize {
        self.n().div_ceil(self.chunk)
    }

    /// Bit shifts of the radix passes of the stable sort, low digit first: one per digit of
    /// the largest bin index that is not the same in every index. A pass over a constant
    /// digit is the identity (the sort is stable), so it is skipped.
    pub fn radix_shifts(&self) -> Vec<u32> {
        self.digit_shifts(RADIX_BITS)
    }

    /// Bit shifts of a stable LSD sort by `digit`-bit digits (1 to 31), as
    /// [`Self::radix_shifts`] for [`RADIX_BITS`].
    pub fn digit_shifts(&self, digit: u32) -> Vec<u32> {
        let bits = 32 - ((self.bins.max(1) - 1) as u32).leading_zeros();
        let (or, and) = self
            .idx
            .iter()
            .fold((0u32, u32::MAX), |(o, a), &k| (o | k, a & k));
        let varies = or & !and;
        (0..bits.div_ceil(digit))
            .map(|p| p * digit)
            .filter(|&s| (varies >> s) & ((1u32 << digit) - 1) != 0)
            .collect()
    }

    /// Radix passes of the stable sort (see [`Self::radix_shifts`]).
    pub fn radix_passes(&self) -> u32 {
        self.radix_shifts().len() as u32
    }

    /// Elements per radix tile.
    pub fn radix_tile(&self) -> usize {
        (SORT_WG * RADIX_ITEMS) as usize
    }

    /// Workgroups of reproducible: enough for about [`REPRO_MIN_SPAN`] elements a thread,
    /// at most the launch's. Each workgroup merges all its bins' lanes into the global ones
    /// once, so it must see many elements per bin for its private lanes to pay off.
    pub fn repro_groups(&self) -> u32 {
        let per_group = self.launch.workgroup_size as usize * REPRO_MIN_SPAN as usize;
        (self.n().div_ceil(per_group) as u32).clamp(1, self.launch.workgroups.max(1))
    }

    /// Consecutive elements one reproducible thread walks: the elements spread over
    /// [`Self::repro_groups`] workgroups, at most [`REPRO_SPAN`].
    pub fn repro_span(&self) -> u32 {
        let threads = self.repro_groups() as usize * self.launch.workgroup_size as usize;
        (self.n().div_ceil(threads.max(1)) as u32).clamp(1, REPRO_SPAN)
    }

    /// u32 limbs of one reproducible lane: a lane's count reaches n * 2^(p-12), under 2^44
    /// for f32 and 2^73 for f64 (n < 2^32).
    pub fn repro_limbs(&self) -> usize {
        if self.accumulator == Precision::F64 {
            3
        } else {
            2
        }
    }

    /// The values rounded to the accumulator (what binned deposits take).
    pub fn terms(&self) -> Vec<f64> {
        self.x.iter().map(|&v| self.accumulator.round(v)).collect()
    }

    /// reproducible's layout table for the kernels: five i32 per bin, (0, folds, a_0, a_1,
    /// a_2), the layout record common.cuh's `db_slices` reads and scatter.wgsl indexes.
    pub fn repro_layout_words(&self) -> Vec<i32> {
        self.repro_bins
            .iter()
            .flat_map(|p| [0, p.folds as i32, p.a[0], p.a[1], p.a[2]])
            .collect()
    }

    /// reproducible's layout table for WGSL: one word per bin, `a_0 << 8 | folds` (the
    /// other folds' exponents follow: a_k = a_0 - k W).
    pub fn repro_layout_packed(&self) -> Vec<u32> {
        self.repro_bins
            .iter()
            .map(|p| {
                let w = ReproParams::width(p.acc);
                debug_assert!((1..p.folds).all(|k| p.a[k] == p.a[0] - k as i32 * w));
                ((p.a[0] as u32) << 8) | p.folds as u32
            })
            .collect()
    }

    /// Finalises reproducible's integer lanes read back from a device, each bin with its
    /// own layout.
    pub fn repro_finalize(&self, words: &[u32]) -> Vec<f64> {
        let limbs = self.repro_limbs();
        let per_bin = REPRO_LANES * limbs;
        self.repro_bins
            .iter()
            .enumerate()
            .map(|(b, p)| {
                let w = &words[b * per_bin..(b + 1) * per_bin];
                crate::shared::lanes::finalize_lanes(p, w, limbs, 1)[0]
            })
            .collect()
    }
}

/// Words of the reproducible layout table per bin (see [`ScatterJob::repro_layout_words`]).
pub const REPRO_LAYOUT_WORDS: usize = 5;

/// The layout of every bin from the largest |x| (rounded to `acc`) among its values.
pub fn bin_layouts(
    acc: Precision,
    x: &[f64],
    perm: &[u32],
    offsets: &[usize],
) -> Result<Vec<ReproParams>, crate::numerics::repro::ReproError> {
    (0..offsets.len() - 1)
        .map(|b| {
            let m = perm[offsets[b]..offsets[b + 1]]
                .iter()
                .fold(0.0f64, |m, &i| m.max(acc.round(x[i as usize]).abs()));
            ReproParams::new(acc, m)
        })
        .collect()
}

/// One item per entry point of sort_segmented, by role: pipelines on wgpu, functions on
/// CUDA (both backends launch the same kernels in the same order).
pub struct SortEntries<T> {
    pub count: T,
    pub scan_reduce: T,
    pub scan_exclusive: T,
    pub scan_apply: T,
    pub scatter: T,
    pub copy_values: T,
    pub offsets: T,
    pub pass1: T,
    pub pass2: T,
}

impl<T> SortEntries<T> {
    /// Every entry point looked up by its kernel name.
    pub fn load<E>(f: impl Fn(&str) -> Result<T, E>) -> Result<Self, E> {
        Ok(Self {
            count: f("radix_count")?,
            scan_reduce: f("scan_reduce")?,
            scan_exclusive: f("scan_exclusive")?,
            scan_apply: f("scan_apply")?,
            scatter: f("radix_scatter")?,
            copy_values: f("copy_values")?,
            offsets: f("bin_offsets")?,
            pass1: f("seg_pass1")?,
            pass2: f("seg_pass2")?,
        })
    }
}

/// Bins when a case carries no [`ScatterParams`].
pub const DEFAULT_BINS: usize = 1024;

/// scatter_add's own case parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterParams {
    /// Output bins.
    pub bins: usize,
    /// Where the indices come from.
    pub index: IndexSource,
}

impl CaseParams for ScatterParams {
    fn bins(&self) -> Option<u64> {
        Some(self.bins as u64)
    }
}

/// Where a case's indices come from.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexSource {
    /// A generated distribution (one of [`INDEX_DISTS`]).
    Dist(String),
    /// A user's .npy file.
    File(PathBuf),
}

impl IndexSource {
    /// The name recorded in the result's `extra.index_dist` and input label.
    pub fn label(&self) -> String {
        match self {
            IndexSource::Dist(d) => d.clone(),
            IndexSource::File(p) => p.display().to_string(),
        }
    }
}

/// A case's index source: uniform unless its parameters say otherwise.
pub fn index_source(case: &Case) -> IndexSource {
    case.params
        .get::<ScatterParams>()
        .map_or_else(|| IndexSource::Dist("uniform".into()), |p| p.index.clone())
}

/// The input label of a scatter case: values, then the index source.
pub fn input_label(case: &Case) -> String {
    format!(
        "{}+index:{}",
        case.input.label(),
        index_source(case).label()
    )
}

/// Checks an index distribution name.
pub fn check_index_dist(d: &str) -> Result<(), DetError> {
    if INDEX_DISTS.contains(&d) {
        Ok(())
    } else {
        Err(DetError::input(format!(
            "unknown index distribution '{d}' (expected {})",
            INDEX_DISTS.join(", ")
        )))
    }
}

/// `n` seeded indices in [0, bins) from the named distribution.
pub fn generate_indices(
    dist: &str,
    n: usize,
    bins: usize,
    seed: u64,
) -> Result<Vec<u32>, DetError> {
    check_index_dist(dist)?;
    // Stream 2: x uses stream 0 (and 1 for a dot's y).
    let mut s = Stream::new(seed, 2);
    let b = bins as u64;
    Ok(match dist {
        "single" => vec![0; n],
        "zipf" => {
            // Inverse CDF over ranks 1..=bins; rank r goes to bin r-1, so bin 0 is hottest.
            let mut cdf = Vec::with_capacity(bins);
            let mut acc = 0.0;
            for r in 1..=bins {
                acc += libm::pow(r as f64, -ZIPF_S);
                cdf.push(acc);
            }
            (0..n)
                .map(|_| {
                    let u = s.unit() * acc;
                    cdf.partition_point(|&c| c <= u).min(bins - 1) as u32
                })
                .collect()
        }
        _ => {
            let mut v: Vec<u32> = (0..n).map(|_| (s.next_u64() % b) as u32).collect();
            if dist == "sorted" {
                v.sort_unstable();
            }
            v
        }
    })
}

/// Validates user indices against the bin count: negative or >= bins is bad input.
pub fn check_indices(idx: &[i64], bins: usize, what: &str) -> Result<Vec<u32>, DetError> {
    idx.iter()
        .enumerate()
        .map(|(i, &v)| {
            if v < 0 || v as u64 >= bins as u64 {
                Err(DetError::input(format!(
                    "{what}: index {v} at position {i} is outside [0, {bins}) (set --bins)"
                )))
            } else {
                Ok(v as u32)
            }
        })
        .collect()
}

/// Stable counting sort of element positions by bin: (perm, offsets), offsets has bins + 1
/// entries. The order every sort-based variant and the exact reference use.
pub fn stable_order(idx: &[u32], bins: usize) -> (Vec<u32>, Vec<usize>) {
    let mut offsets = vec![0usize; bins + 1];
    for &b in idx {
        offsets[b as usize + 1] += 1;
    }
    for b in 0..bins {
        offsets[b + 1] += offsets[b];
    }
    let mut next = offsets.clone();
    let mut perm = vec![0u32; idx.len()];
    for (i, &b) in idx.iter().enumerate() {
        perm[next[b as usize]] = i as u32;
        next[b as usize] += 1;
    }
    (perm, offsets)
}

/// Segment chunk for n elements: about sqrt(n), a power of two in [64, 4096], so both
/// passes of the segmented reduction have O(sqrt n) sequential steps per thread.
pub fn chunk_for(n: usize) -> usize {
    let r = (n as f64).sqrt().ceil() as usize;
    r.next_power_of_two().clamp(64, 4096)
}

/// Rounding steps a bin of `count` elements goes through in the segmented reduction.
pub fn segmented_height(count: usize, chunk: usize) -> u64 {
    if count <= 1 {
        return 0;
    }
    let pieces = count.div_ceil(chunk) + 1;
    ((count - 1).min(chunk - 1 + pieces - 1)) as u64
}

/// The indices of a case: generated, or read from the user's file and checked.
fn load_indices(
    source: &IndexSource,
    n: usize,
    bins: usize,
    seed: u64,
) -> Result<Vec<u32>, DetError> {
    match source {
        IndexSource::Dist(d) => generate_indices(d, n, bins, seed),
        IndexSource::File(p) => {
            let raw = inputs::read_npy_index(p)?;
            if raw.len() != n {
                return Err(DetError::input(format!(
                    "--index {} has {} indices but there are {n} values",
                    p.display(),
                    raw.len()
                )));
            }
            check_indices(&raw, bins, &p.display().to_string())
        }
    }
}

/// Exact references and the bound's ingredients, bin by bin.
struct BinStats {
    /// Exact sum of every bin, and that sum rounded once to the accumulator.
    exact: Vec<f64>,
    exact_out: Vec<f64>,
    /// What each bin's exact sum holds beyond `exact` (errors are against the real sum).
    rest: Vec<crate::numerics::exact::ExactRest>,
    /// Sum of magnitudes (rounded up).
    mags: Vec<f64>,
    /// Sum of the magnitudes a flushing device reads as zero (rounded up).
    flushable: Vec<f64>,
    counts: Vec<usize>,
}

impl BinStats {
    fn of(x: &[f64], perm: &[u32], offsets: &[usize], acc: Precision, compute: Precision) -> Self {
        let bins = offsets.len() - 1;
        let mut st = BinStats {
            exact: Vec::with_capacity(bins),
            exact_out: Vec::with_capacity(bins),
            rest: Vec::with_capacity(bins),
            mags: Vec::with_capacity(bins),
            flushable: Vec::with_capacity(bins),
            counts: Vec::with_capacity(bins),
        };
        for b in 0..bins {
            let seg = &perm[offsets[b]..offsets[b + 1]];
            // Three stack accumulators per bin, never millions on the heap.
            let mut acc_e = ExactAcc::new();
            let mut acc_m = ExactAcc::new();
            let mut acc_f = ExactAcc::new();
            for &i in seg {
                let v = x[i as usize];
                acc_e.add(v);
                acc_m.add(v.abs());
                if v != 0.0 && v.abs() < compute.min_normal() {
                    acc_f.add(v.abs());
                }
            }
            let (hi, rest) = acc_e.split();
            st.exact.push(hi);
            st.rest.push(rest);
            st.exact_out.push(acc_e.value_in(acc));
            st.mags.push(acc_m.value() * (1.0 + f64::EPSILON));
            st.flushable.push(acc_f.value().next_up());
            st.counts.push(seg.len());
        }
        st
    }
}

/// The a-priori error bound of every bin for the job's variant (None: not judged, the
/// sum of magnitudes exceeds the accumulator's range). `widen` is 1 when x is wider than
/// the accumulator (its first addition rounds it).
fn bin_bounds(job: &ScatterJob, st: &BinStats, compute: Precision, widen: u64) -> Vec<Option<f64>> {
    let acc = job.accumulator;
    let u = acc.unit_roundoff();
    (0..job.bins)
        .map(|b| {
            // |exact| rounded upward: within half an ulp of the f64 `exact`.
            let (c, mag, ex) = (st.counts[b], st.mags[b], st.exact[b].abs().next_up());
            if c == 0 {
                return Some(0.0);
            }
            // Every partial sum is at most (1 + gamma) sum |x|: past the accumulator's
            // largest value one could round to infinity, which no bound covers.
            let reach = gamma(c as u64 + widen, u).map_or(f64::INFINITY, |g| (1.0 + g) * mag);
            if !crate::numerics::bounds::fits(acc, reach * (1.0 + f64::EPSILON)) {
                return None;
            }
            // The final rounding to the accumulator of a subnormal (or flushed) result.
            let last = crate::numerics::bounds::underflow_abs(acc, 0.0);
            // Underflow terms of fl(a + b) = (a + b)(1 + d) + e: with gradual underflow an
            // addition whose result is subnormal is exact (e = 0); a device that flushes
            // loses up to the smallest normal per operation (the rounding to the
            // accumulator and the addition of each value) plus every subnormal value it
            // reads as zero. Included on every backend, as in the reduction's bounds.
            let ftz = 2.0 * c as f64 * compute.min_normal() + st.flushable[b];
            let model = match job.variant {
                ScatterVariant::Atomic | ScatterVariant::AtomicCas | ScatterVariant::Privatized => {
                    gamma(c as u64 - 1 + widen, u).map(|g| g * mag)
                }
                ScatterVariant::SortSegmented => {
                    gamma(segmented_height(c, job.chunk) + widen, u).map(|g| g * mag)
                }
                ScatterVariant::FixedPoint => {
                    let quant = c as f64 * libm::ldexp(0.5, -job.fixed_scale);
                    Some(quant + (u + f64::EPSILON) * (ex + quant) + last)
                }
                ScatterVariant::Reproducible => job.repro_bins.get(b).map(|p| {
                    // Rounding x to the accumulator before depositing, when it is wider.
                    let pre = if widen == 1 { u * mag } else { 0.0 };
                    p.bound(c as u64, ex) + pre + last
                }),
            };
            model.map(|m| m + ftz).filter(|m| m.is_finite())
        })
        .collect()
}

/// What reproducible's per-bin layouts drop, for the note: values wholly below their
/// bin's floor add nothing (the bound counts them). Empty when nothing is dropped.
fn repro_dropped_note(ps: &[ReproParams], x: &[f64], perm: &[u32], offsets: &[usize]) -> String {
    let below = |p: &ReproParams, v: f64| v != 0.0 && p.acc.round(v).abs() < p.floor();
    let mut lost_values = 0;
    let mut lost_bins = 0;
    for (b, p) in ps.iter().enumerate() {
        let seg = &perm[offsets[b]..offsets[b + 1]];
        let lost = seg.iter().filter(|&&i| below(p, x[i as usize])).count();
        let nonzero = seg.iter().filter(|&&i| x[i as usize] != 0.0).count();
        lost_values += lost;
        lost_bins += usize::from(nonzero > 0 && lost == nonzero);
    }
    if lost_values == 0 {
        return String::new();
    }
    format!(
        "; dropped: {lost_values} of {} values lie wholly below the floor of their bin's layout and add nothing; {lost_bins} nonzero bins hold only such values and come out 0",
        x.len()
    )
}

/// Checks that don't depend on the device: the reproducible layout exists, and
/// atomic_cas's contention is bounded.
pub fn check_job(job: &ScatterJob) -> Result<(), OpError> {
    if job.variant == ScatterVariant::Reproducible
        && (job.repro.is_none() || job.repro_bins.len() != job.bins)
    {
        let max_abs = job.terms().iter().fold(0.0f64, |m, v| m.max(v.abs()));
        return Err(match ReproParams::new(job.accumulator, max_abs) {
            Err(e @ crate::numerics::repro::ReproError::Accumulator(_)) => {
                OpError::Unsupported(e.to_string())
            }
            Err(e) => OpError::Failed(e.to_string()),
            Ok(_) => OpError::Failed("reproducible layout missing".into()),
        });
    }
    if job.variant == ScatterVariant::AtomicCas && job.max_count > MAX_CAS_PER_BIN {
        return Err(OpError::Unsupported(format!(
            "atomic_cas refuses {} elements in one bin (limit {MAX_CAS_PER_BIN}): every one is a compare-exchange loop on the same word, so the time grows with the square of the contention",
            job.max_count
        )));
    }
    Ok(())
}

/// Unsupported unless the bins fit in `limit` bytes of workgroup memory at `word` bytes each.
pub fn check_privatized(
    job: &ScatterJob,
    word: usize,
    limit: u64,
    device: &str,
) -> Result<(), OpError> {
    let need = (job.bins * word) as u64;
    if need > limit {
        return Err(OpError::Unsupported(format!(
            "privatized keeps a private copy of all {} bins in workgroup memory ({need} bytes at {word} bytes a bin); {device} has {limit} bytes (use fewer bins, or sort_segmented)",
            job.bins
        )));
    }
    Ok(())
}
