//! The scatter-add family on CUDA (kernels in `kernels/cuda/scatter.cu`).
//!
//! One module per (input, accumulator) pair, compiled like reduce.cu's. Atomic variants
//! run under the job's [`Ordering`](crate::ops::Ordering); sort_segmented and reproducible launch the same passes
//! as the wgpu backend and give the CPU emulation's bits. Host code stays thin: upload, launch
//! between two events, read back, decode.

use super::{ScatterJob, ScatterVariant, RADIX_BITS, RADIX_DIGITS, REPRO_LANES, SORT_WG};
use crate::backend::cuda::{
    precision_pairs, CudaBackend, CudaBuf, CudaDevice, CudaFn, CudaTarget, LaunchConfig,
    ModuleBuild, ModuleSpec,
};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::common::{
    cuda_native_atomic as native_atomic, cuda_ordering_suffix as ordering_suffix, cuda_pair_module,
    pair_suffix,
};
use crate::ops::RunSet;
use crate::shared::fixed::{fixed_message, fixed_to_value};

/// Kernel source of this family.
pub const SOURCE: &str = "kernels/cuda/scatter.cu";

/// Dynamic shared memory a block may use without opting in to more (48 KiB on every
/// architecture since sm_20); privatized bins beyond it are refused.
pub const SHARED_LIMIT: u64 = 48 * 1024;

/// Every module this family builds for `target` and the entry points [`run`] looks up in it.
pub fn modules(target: &CudaTarget) -> Vec<ModuleBuild> {
    precision_pairs()
        .into_iter()
        .map(|(input, acc)| {
            let spec = cuda_pair_module(target, SOURCE, input, acc);
            let mut e: Vec<String> = [
                "scatter_fixed_point",
                "radix_count",
                "scan_reduce",
                "scan_exclusive",
                "scan_apply",
                "radix_scatter",
                "copy_values",
                "bin_offsets",
                "seg_pass1",
                "seg_pass2",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if matches!(acc, Precision::F32 | Precision::F64) {
                e.push("scatter_reproducible".into());
            }
            if crate::ops::common::cuda_ordered_atomics(target) {
                for ord in crate::ops::common::cuda_ordering_suffixes() {
                    e.push(format!("scatter_atomic_cas_{ord}"));
                    e.push(format!("scatter_privatized_{ord}"));
                    if native_atomic(target, acc).is_ok() {
                        e.push(format!("scatter_atomic_{ord}"));
                    }
                }
            }
            let suffix = pair_suffix(input, acc);
            ModuleBuild {
                spec,
                entries: e.into_iter().map(|n| format!("{n}_{suffix}")).collect(),
            }
        })
        .collect()
}

fn module_spec(dev: &CudaDevice, job: &ScatterJob) -> ModuleSpec {
    cuda_pair_module(dev, SOURCE, job.precision, job.accumulator)
}

fn suffix(job: &ScatterJob) -> String {
    pair_suffix(job.precision, job.accumulator)
}

fn cfg(groups: u32, wg: u32, shared: u64) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (groups.max(1), 1, 1),
        block_dim: (wg, 1, 1),
        shared_mem_bytes: shared as u32,
    }
}

/// What every variant's launches take: the device, the job, its entry points by name and
/// the uploaded values and indices.
struct Io<'a> {
    dev: &'a CudaDevice,
    job: &'a ScatterJob,
    f: &'a dyn Fn(&str) -> Result<CudaFn, OpError>,
    x: &'a CudaBuf,
    idx: &'a CudaBuf,
}

/// Runs a scatter-add job `job.runs` times on one GPU.
pub fn run(backend: &CudaBackend, job: &ScatterJob) -> Result<RunSet, OpError> {
    super::check_job(job)?;
    let dev = backend.device();
    let acc = job.accumulator;
    if job.variant.is_atomic() {
        let (major, minor) = dev.compute_capability();
        if major < 7 {
            return Err(OpError::Unsupported(format!(
                "scoped atomics need sm_70 or newer; this device is sm_{major}{minor}"
            )));
        }
        if job.variant == ScatterVariant::Atomic {
            native_atomic(dev, acc).map_err(OpError::Unsupported)?;
        }
    }
    if job.variant == ScatterVariant::Privatized {
        super::check_privatized(job, value_bytes(job), SHARED_LIMIT, &backend_name(dev))?;
    }
    let spec = module_spec(dev, job);
    let module = crate::ops::common::cuda_declared(modules(&dev.target()), &spec)?;
    let f = |name: &str| -> Result<CudaFn, OpError> {
        dev.function(&module, &format!("{name}_{}", suffix(job)))
    };
    let x = dev.upload(&job.precision.encode(&job.x))?;
    let idx = dev.upload(bytemuck::cast_slice(&job.idx))?;
    let io = Io {
        dev,
        job,
        f: &f,
        x: &x,
        idx: &idx,
    };
    let mut set = RunSet {
        timer: dev.timer().into(),
        ..Default::default()
    };
    match job.variant {
        ScatterVariant::Atomic | ScatterVariant::AtomicCas | ScatterVariant::Privatized => {
            run_atomic(&io, &mut set)?
        }
        ScatterVariant::FixedPoint => run_fixed(&io, &mut set)?,
        ScatterVariant::SortSegmented => sorted(&io, &mut set)?,
        ScatterVariant::Reproducible => run_reproducible(&io, &mut set)?,
    }
    Ok(set)
}

/// Bytes of one accumulator word in the bins (f32 for f32 and half accumulators).
fn value_bytes(job: &ScatterJob) -> usize {
    if job.accumulator == Precision::F64 {
        8
    } else {
        4
    }
}

/// atomic, atomic_cas and privatized: one kernel adding into the global bins under the
/// job's ordering.
fn run_atomic(io: &Io, set: &mut RunSet) -> Result<(), OpError> {
    let (dev, job, x, idx) = (io.dev, io.job, io.x, io.idx);
    let (acc, bins, nbins, n) = (job.accumulator, job.bins, job.bins as u32, job.n() as u64);
    let (groups, wg) = (job.launch.workgroups, job.launch.workgroup_size);
    let name = match job.variant {
        ScatterVariant::Atomic => "scatter_atomic",
        ScatterVariant::AtomicCas => "scatter_atomic_cas",
        _ => "scatter_privatized",
    };
    let k = (io.f)(&format!("{name}_{}", ordering_suffix(job.ordering)))?;
    let mut out = dev.zeros(bins * acc.bytes())?;
    let private = job.variant == ScatterVariant::Privatized;
    let shared = if private {
        (bins * value_bytes(job)) as u64
    } else {
        0
    };
    for _ in 0..job.runs {
        dev.zero(&mut out)?;
        let ms = dev.timed(|s| {
            let mut b = s.launch_builder(&k);
            b.arg(x).arg(idx).arg(&n);
            if private {
                b.arg(&nbins);
            }
            b.arg(&mut out);
            // SAFETY: `scatter_{atomic,atomic_cas}_{ord}(const S* x, const u32* idx,
            // u64 n, W* bins)` and `scatter_privatized_{ord}(.., u32 nbins, W* bins)`:
            // x and idx hold n elements, every idx < bins (validated on the host),
            // bins holds `bins` zeroed accumulator words updated only atomically;
            // privatized's dynamic shared memory holds `bins` private words.
            unsafe { b.launch(cfg(groups, wg, shared)) }?;
            Ok(())
        })?;
        set.times_ms.push(ms);
        set.outputs.push(acc.decode(&dev.read(&out)?));
    }
    set.message = match job.variant {
        ScatterVariant::Atomic => "one native atomic add per element".into(),
        ScatterVariant::AtomicCas => "one compare-and-swap loop per element".into(),
        _ => format!(
            "{bins} private bins per block in shared memory, merged with {}",
            if native_atomic(dev, acc).is_ok() {
                "native atomic adds"
            } else {
                "compare-and-swap"
            }
        ),
    };
    Ok(())
}

/// fixed_point: 64-bit integer atomics per bin on the scaled values.
fn run_fixed(io: &Io, set: &mut RunSet) -> Result<(), OpError> {
    let (dev, job, x, idx) = (io.dev, io.job, io.x, io.idx);
    let (acc, n) = (job.accumulator, job.n() as u64);
    let k = (io.f)("scatter_fixed_point")?;
    let scale: i32 = job.fixed_scale;
    let mut out = dev.zeros(job.bins * 8)?;
    let mut lost = dev.zeros(8)?;
    for _ in 0..job.runs {
        dev.zero(&mut out)?;
        dev.zero(&mut lost)?;
        let ms = dev.timed(|s| {
            let mut b = s.launch_builder(&k);
            b.arg(x)
                .arg(idx)
                .arg(&n)
                .arg(&scale)
                .arg(&mut out)
                .arg(&mut lost);
            // SAFETY: `scatter_fixed_point(const S* x, const u32* idx, u64 n, int k,
            // u64* bins, u64* lost)`: x and idx hold n elements, every idx < bins;
            // bins holds `bins` zeroed 8-byte words and lost one, all updated only
            // with 64-bit atomics.
            let c = cfg(job.launch.workgroups, job.launch.workgroup_size, 0);
            unsafe { b.launch(c) }?;
            Ok(())
        })?;
        let totals: Vec<i64> = bytemuck::pod_collect_to_vec(&dev.read(&out)?);
        let l: Vec<u64> = bytemuck::pod_collect_to_vec(&dev.read(&lost)?);
        set.times_ms.push(ms);
        set.outputs.push(
            totals
                .iter()
                .map(|&t| fixed_to_value(t, scale, acc))
                .collect(),
        );
        set.message = fixed_message(l[0], job.n(), scale);
    }
    Ok(())
}

/// reproducible: one kernel adding exact integer quanta per fold, finalised on the host.
fn run_reproducible(io: &Io, set: &mut RunSet) -> Result<(), OpError> {
    let (dev, job, x, idx) = (io.dev, io.job, io.x, io.idx);
    let nbins = job.bins as u32;
    let k = (io.f)("scatter_reproducible")?;
    let limbs = job.repro_limbs();
    let nwords = job.bins * REPRO_LANES * limbs;
    let lane_bytes = (nwords * 4) as u64;
    let private = lane_bytes <= SHARED_LIMIT;
    let priv_flag = i32::from(private);
    let span = job.repro_span();
    let n32 = job.n() as u32;
    let layout = dev.upload(bytemuck::cast_slice(&job.repro_layout_words()))?;
    let mut lanes = dev.zeros(nwords * 4)?;
    let shared = if private { lane_bytes } else { 0 };
    for _ in 0..job.runs {
        dev.zero(&mut lanes)?;
        let ms = dev.timed(|s| {
            let mut b = s.launch_builder(&k);
            b.arg(x)
                .arg(idx)
                .arg(&n32)
                .arg(&span)
                .arg(&layout)
                .arg(&nbins)
                .arg(&priv_flag)
                .arg(&mut lanes);
            // SAFETY: `scatter_reproducible(const S* x, const u32* idx, u32 n, u32 span,
            // const int* layout, u32 nbins, int priv, u32* lanes)`: x and idx hold n
            // elements, every idx < nbins; layout holds 5 ints per bin; lanes holds nbins * 3 *
            // LIMBS zeroed words, updated only with atomics; with priv the dynamic
            // shared memory holds the same number of words.
            let c = cfg(job.repro_groups(), job.launch.workgroup_size, shared);
            unsafe { b.launch(c) }?;
            Ok(())
        })?;
        let w: Vec<u32> = bytemuck::pod_collect_to_vec(&dev.read(&lanes)?);
        set.times_ms.push(ms);
        set.outputs.push(job.repro_finalize(&w[..nwords]));
    }
    set.message = format!(
        "binned summation as exact integer quanta per fold in each bin's own layout, no sort; {} lanes; runs of up to {span} elements per thread; states finalised on the host",
        if private {
            "per-block lanes in shared memory, merged into global"
        } else {
            "global"
        }
    );
    Ok(())
}

fn backend_name(dev: &CudaDevice) -> String {
    format!("this GPU ({})", dev.arch())
}

/// The sort's shape (see [`SortShape::of`]).
#[derive(Clone)]
struct SortShape {
    n32: u32,
    nbins: u32,
    /// Bit shift of every radix pass's digit.
    shifts: Vec<u32>,
    passes: u32,
    tile: u32,
    tiles: u32,
    chunk: u32,
    chunks: u32,
    scan_len: u32,
    blocks: u32,
}

impl SortShape {
    fn of(job: &ScatterJob) -> Self {
        let n32 = job.n() as u32;
        let tile = job.radix_tile() as u32;
        let tiles = n32.div_ceil(tile);
        let scan_len = RADIX_DIGITS * tiles;
        let shifts = job.radix_shifts();
        SortShape {
            n32,
            nbins: job.bins as u32,
            passes: shifts.len() as u32,
            shifts,
            tile,
            tiles,
            chunk: job.chunk as u32,
            chunks: job.chunks() as u32,
            scan_len,
            blocks: scan_len.div_ceil(tile),
        }
    }
}

/// The entry points of sort_segmented.
type SortKernels = super::SortEntries<CudaFn>;

/// The device buffers of sort_segmented.
struct SortBuffers {
    offs: CudaBuf,
    dcounts: CudaBuf,
    partials: CudaBuf,
    keys: [CudaBuf; 2],
    perms: [CudaBuf; 2],
    vals: CudaBuf,
    head: CudaBuf,
    firsts: CudaBuf,
    out: CudaBuf,
}

impl SortBuffers {
    fn new(dev: &CudaDevice, job: &ScatterJob, sh: &SortShape) -> Result<Self, OpError> {
        // Bytes of one accumulator value (V: f32 for f32 and half accumulators, f64) and of
        // one sorted input value (T: the exact register value, f64 only for f64 input).
        let vbytes = value_bytes(job);
        let tbytes: usize = if job.precision == Precision::F64 {
            8
        } else {
            4
        };
        let n = job.n();
        Ok(Self {
            offs: dev.zeros((job.bins + 1) * 4)?,
            dcounts: dev.zeros(sh.scan_len as usize * 4)?,
            partials: dev.zeros(sh.blocks as usize * 4)?,
            keys: [dev.zeros(n * 4)?, dev.zeros(n * 4)?],
            perms: [dev.zeros(n * 4)?, dev.zeros(n * 4)?],
            vals: dev.zeros(n * tbytes)?,
            head: dev.zeros(sh.chunks as usize * vbytes)?,
            firsts: dev.zeros(job.bins * vbytes)?,
            out: dev.zeros(job.bins * vbytes)?,
        })
    }
}

/// sort_segmented: the stable radix sort, then the bin offsets and the segmented passes.
fn sorted(io: &Io, set: &mut RunSet) -> Result<(), OpError> {
    let (dev, job) = (io.dev, io.job);
    let acc = job.accumulator;
    let sh = SortShape::of(job);
    let k = SortKernels::load(io.f)?;
    let mut buf = SortBuffers::new(dev, job, &sh)?;
    for _ in 0..job.runs {
        let ms = dev.timed(|s| {
            if sh.passes == 0 {
                // Grid-stride over the elements.
                let ge = sh.n32.div_ceil(SORT_WG).clamp(1, 1024);
                let mut b = s.launch_builder(&k.copy_values);
                b.arg(io.x).arg(&sh.n32).arg(&mut buf.vals);
                // SAFETY: `copy_values(const S* x, u32 n, T* vals)`: x and vals hold n
                // elements; each thread writes only its own positions.
                unsafe { b.launch(cfg(ge, SORT_WG, 0)) }?;
            }
            for p in 0..sh.passes {
                radix_pass(s, &k, &mut buf, io, &sh, p)?;
            }
            segment(s, &k, &mut buf, io, &sh)
        })?;
        let bytes = dev.read(&buf.out)?;
        let fmt = if acc == Precision::F64 {
            Precision::F64
        } else {
            Precision::F32
        };
        let values = fmt.decode(&bytes)[..job.bins]
            .iter()
            .map(|&v| acc.round(v))
            .collect();
        set.times_ms.push(ms);
        set.outputs.push(values);
    }
    set.message = format!(
        "stable radix sort ({} passes of {RADIX_BITS}-bit digits, tiles of {}), segmented reduction in chunks of {}",
        sh.passes, sh.tile, job.chunk
    );
    Ok(())
}

/// Radix pass `p`: digit counts per tile, their device-wide scan, the stable scatter.
fn radix_pass(
    s: &CudaDevice,
    k: &SortKernels,
    buf: &mut SortBuffers,
    io: &Io,
    sh: &SortShape,
    p: u32,
) -> Result<(), OpError> {
    let (n32, tiles, scan_len, blocks) = (sh.n32, sh.tiles, sh.scan_len, sh.blocks);
    let shift = sh.shifts[p as usize];
    let first: i32 = i32::from(p == 0);
    let last: i32 = i32::from(p + 1 == sh.passes);
    // Pass p writes buffer p % 2 and reads the other (pass 0 reads idx).
    let dst = p % 2;
    let (ka, kb) = buf.keys.split_at_mut(1);
    let (pa, pb) = buf.perms.split_at_mut(1);
    let (kin, kout) = if dst == 0 {
        (&kb[0], &mut ka[0])
    } else {
        (&ka[0], &mut kb[0])
    };
    let (pin, pout) = if dst == 0 {
        (&pb[0], &mut pa[0])
    } else {
        (&pa[0], &mut pb[0])
    };
    let kin = if p == 0 { io.idx } else { kin };
    let mut b = s.launch_builder(&k.count);
    b.arg(kin)
        .arg(&n32)
        .arg(&shift)
        .arg(&tiles)
        .arg(&mut buf.dcounts);
    // SAFETY: `radix_count(const u32* keys, u32 n, u32 shift, u32 tiles, u32*
    // dcounts)`: keys holds n words; dcounts holds RADIX_DIGITS * tiles words, and block t
    // writes only column t.
    unsafe { b.launch(cfg(tiles, SORT_WG, 0)) }?;
    let mut b = s.launch_builder(&k.scan_reduce);
    b.arg(&buf.dcounts).arg(&scan_len).arg(&mut buf.partials);
    // SAFETY: `scan_reduce(const u32* buf, u32 len, u32* partials)`: buf holds len
    // words, partials one word per block of SORT_WG * RADIX_ITEMS entries.
    unsafe { b.launch(cfg(blocks, SORT_WG, 0)) }?;
    let mut b = s.launch_builder(&k.scan_exclusive);
    b.arg(&mut buf.partials).arg(&blocks);
    // SAFETY: `scan_exclusive(u32* buf, u32 len)`: partials holds `blocks` words;
    // one block.
    unsafe { b.launch(cfg(1, SORT_WG, 0)) }?;
    let mut b = s.launch_builder(&k.scan_apply);
    b.arg(&mut buf.dcounts).arg(&scan_len).arg(&buf.partials);
    // SAFETY: `scan_apply(u32* buf, u32 len, const u32* partials)`: as scan_reduce;
    // each block rewrites only its own entries.
    unsafe { b.launch(cfg(blocks, SORT_WG, 0)) }?;
    let mut b = s.launch_builder(&k.scatter);
    b.arg(io.x)
        .arg(kin)
        .arg(pin)
        .arg(&n32)
        .arg(&shift)
        .arg(&tiles)
        .arg(&first)
        .arg(&last)
        .arg(&buf.dcounts)
        .arg(kout)
        .arg(pout)
        .arg(&mut buf.vals);
    // SAFETY: `radix_scatter(const S* x, const u32* keys_in, const u32* perm_in,
    // u32 n, u32 shift, u32 tiles, int first, int last, const u32* dcounts, u32*
    // keys_out, u32* perm_out, T* vals)`: inputs and outputs hold n elements and
    // are distinct buffers (perm_in is not read when first); the scanned counts
    // place every element at a distinct position < n.
    unsafe { b.launch(cfg(tiles, SORT_WG, 0)) }?;
    Ok(())
}

/// After the sort: the bin offsets and the two passes of the segmented reduction.
fn segment(
    s: &CudaDevice,
    k: &SortKernels,
    buf: &mut SortBuffers,
    io: &Io,
    sh: &SortShape,
) -> Result<(), OpError> {
    let (n32, nbins, chunk, chunks) = (sh.n32, sh.nbins, sh.chunk, sh.chunks);
    let wg = io.job.launch.workgroup_size;
    let kfin = if sh.passes == 0 {
        io.idx
    } else {
        &buf.keys[((sh.passes - 1) % 2) as usize]
    };
    // Grid-stride over the bins + 1 offsets.
    let gbins = (nbins + 1).div_ceil(SORT_WG).clamp(1, 1024);
    let mut b = s.launch_builder(&k.offsets);
    b.arg(kfin).arg(&n32).arg(&nbins).arg(&mut buf.offs);
    // SAFETY: `bin_offsets(const u32* keys, u32 n, u32 nbins, u32* offs)`: keys holds
    // n sorted words; offs holds nbins + 1 words, each written by one thread.
    unsafe { b.launch(cfg(gbins, SORT_WG, 0)) }?;
    let mut b = s.launch_builder(&k.pass1);
    b.arg(&buf.vals)
        .arg(kfin)
        .arg(&n32)
        .arg(&chunk)
        .arg(&chunks)
        .arg(&mut buf.head)
        .arg(&mut buf.firsts);
    // SAFETY: `seg_pass1(const T* vals, const u32* keys, u32 n, u32 chunk, u32
    // chunks, V* head, V* firsts)`: vals and keys hold n sorted elements, head one
    // value per chunk, firsts one per bin; each slot has exactly one writer.
    unsafe { b.launch(cfg(chunks.div_ceil(wg), wg, 0)) }?;
    let mut b = s.launch_builder(&k.pass2);
    b.arg(&buf.offs)
        .arg(&nbins)
        .arg(&chunk)
        .arg(&buf.head)
        .arg(&buf.firsts)
        .arg(&mut buf.out);
    // SAFETY: `seg_pass2(const u32* offsets, u32 nbins, u32 chunk, const V* head,
    // const V* firsts, V* out)`: offsets holds bins + 1 sorted positions; every chunk
    // index read is < chunks; out holds one slot per bin.
    unsafe { b.launch(cfg(nbins.div_ceil(wg), wg, 0)) }?;
    Ok(())
}
