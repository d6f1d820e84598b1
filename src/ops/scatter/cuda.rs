//! The scatter-add family on CUDA (kernels in `kernels/cuda/scatter.cu`).
//!
//! One module per (input, accumulator) pair, compiled like reduce.cu's. Atomic variants
//! run under the job's [`Ordering`]; the sort-based variants launch the same passes as the
//! wgpu backend and give the CPU emulation's bits. Host code stays thin: upload, launch
//! between two events, read back, decode.

use super::cpu::{finalize_states_f32, finalize_states_f64};
use super::{ScatterJob, ScatterVariant, RADIX_BITS, RADIX_ITEMS};
use crate::backend::cuda::{driver_err, CudaBackend, CudaDevice, ModuleSpec, TIMER};
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::reduce::cpu::{fixed_message, fixed_to_value};
use crate::ops::{Ordering, RunSet};
use cudarc::driver::{CudaFunction, LaunchConfig, PushKernelArg};

/// Kernel source of this family.
pub const SOURCE: &str = "kernels/cuda/scatter.cu";

/// Dynamic shared memory a block may use without opting in to more (48 KiB on every
/// architecture since sm_20); privatized bins beyond it are refused.
pub const SHARED_LIMIT: u64 = 48 * 1024;

/// Whether the accumulator has a native atomic add here, and if not, why.
fn native_atomic(dev: &CudaDevice, acc: Precision) -> Result<(), String> {
    let (major, minor) = dev.compute_capability();
    if major < 7 {
        return Err(format!(
            "scoped atomics (.relaxed/.acq_rel, fence.sc) need sm_70 or newer; this device is sm_{major}{minor}"
        ));
    }
    match acc {
        Precision::Bf16 if major < 9 => Err(format!(
            "a native bf16 atomic add (atom.add.noftz.bf16) needs sm_90 or newer; this device is sm_{major}{minor}"
        )),
        _ => Ok(()),
    }
}

fn module_spec(dev: &CudaDevice, job: &ScatterJob) -> ModuleSpec {
    let (major, _) = dev.compute_capability();
    let in_t = match job.precision {
        Precision::F32 => "InF32",
        Precision::F64 => "InF64",
        Precision::F16 => "InF16",
        Precision::Bf16 => "InBF16",
    };
    let acc = job.accumulator;
    let acc_t = match acc {
        Precision::F32 => "AccF32",
        Precision::F64 => "AccF64",
        Precision::F16 => "AccF16",
        Precision::Bf16 => "AccBF16",
    };
    let mut defines = vec![
        ("DB_IN_T".to_string(), in_t.to_string()),
        ("DB_ACC_T".to_string(), acc_t.to_string()),
        ("DB_SUFFIX".to_string(), suffix(job)),
        (
            "DB_ORDERED_ATOMICS".to_string(),
            u8::from(major >= 7).to_string(),
        ),
        (
            "DB_NATIVE_ATOMIC".to_string(),
            u8::from(native_atomic(dev, acc).is_ok()).to_string(),
        ),
    ];
    if matches!(acc, Precision::F32 | Precision::F64) {
        defines.push(("DB_REPRO".to_string(), "1".to_string()));
    }
    if acc == Precision::Bf16 {
        defines.push(("DB_ACC_IS_BF16".to_string(), "1".to_string()));
    }
    ModuleSpec {
        path: SOURCE,
        fmad: false,
        defines,
    }
}

fn suffix(job: &ScatterJob) -> String {
    format!("{}_{}", job.precision.name(), job.accumulator.name())
}

/// PTX ordering suffix of an entry point (`Relaxed`, the ordering of non-CUDA runs, is
/// relaxed at GPU scope, CUDA's `atomicAdd`).
fn ordering_suffix(o: Ordering) -> &'static str {
    match o {
        Ordering::RelaxedCta => "relaxed_cta",
        Ordering::AcqRelCta => "acq_rel_cta",
        Ordering::AcqRelGpu => "acq_rel_gpu",
        Ordering::SeqCstCta => "seq_cst_cta",
        Ordering::SeqCstGpu => "seq_cst_gpu",
        Ordering::RelaxedGpu | Ordering::Relaxed | Ordering::None => "relaxed_gpu",
    }
}

fn cfg(groups: u32, wg: u32, shared: u64) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (groups.max(1), 1, 1),
        block_dim: (wg, 1, 1),
        shared_mem_bytes: shared as u32,
    }
}

fn launch_err(e: cudarc::driver::DriverError) -> OpError {
    driver_err("launch", e)
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
    let value_bytes: u64 = if acc == Precision::F64 { 8 } else { 4 };
    if job.variant == ScatterVariant::Privatized {
        super::check_privatized(job, value_bytes as usize, SHARED_LIMIT, &backend_name(dev))?;
    }
    let spec = module_spec(dev, job);
    let f = |name: &str| -> Result<CudaFunction, OpError> {
        dev.function(&spec, &format!("{name}_{}", suffix(job)))
    };
    let n = job.n() as u64;
    let bins = job.bins;
    let nbins = bins as u32;
    let (groups, wg) = (job.launch.workgroups, job.launch.workgroup_size);
    let x = dev.upload(&job.precision.encode(&job.x))?;
    let idx = dev.upload(bytemuck::cast_slice(&job.idx))?;
    let mut set = RunSet {
        timer: TIMER.into(),
        ..Default::default()
    };
    match job.variant {
        ScatterVariant::Atomic | ScatterVariant::AtomicCas | ScatterVariant::Privatized => {
            let name = match job.variant {
                ScatterVariant::Atomic => "scatter_atomic",
                ScatterVariant::AtomicCas => "scatter_atomic_cas",
                _ => "scatter_privatized",
            };
            let k = f(&format!("{name}_{}", ordering_suffix(job.ordering)))?;
            let mut out = dev.zeros(bins * acc.bytes())?;
            let private = job.variant == ScatterVariant::Privatized;
            let shared = if private {
                bins as u64 * value_bytes
            } else {
                0
            };
            for _ in 0..job.runs {
                dev.zero(&mut out)?;
                let ms = dev.timed(|s| {
                    let mut b = s.launch_builder(&k);
                    b.arg(&x).arg(&idx).arg(&n);
                    if private {
                        b.arg(&nbins);
                    }
                    b.arg(&mut out);
                    // SAFETY: `scatter_{atomic,atomic_cas}_{ord}(const S* x, const u32* idx,
                    // u64 n, W* bins)` and `scatter_privatized_{ord}(.., u32 nbins, W* bins)`:
                    // x and idx hold n elements, every idx < bins (validated on the host),
                    // bins holds `bins` zeroed accumulator words updated only atomically;
                    // privatized's dynamic shared memory holds `bins` private words.
                    unsafe { b.launch(cfg(groups, wg, shared)) }.map_err(launch_err)?;
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
        }
        ScatterVariant::FixedPoint => {
            let k = f("scatter_fixed_point")?;
            let scale: i32 = job.fixed_scale;
            let mut out = dev.zeros(bins * 8)?;
            let mut lost = dev.zeros(8)?;
            for _ in 0..job.runs {
                dev.zero(&mut out)?;
                dev.zero(&mut lost)?;
                let ms = dev.timed(|s| {
                    let mut b = s.launch_builder(&k);
                    b.arg(&x)
                        .arg(&idx)
                        .arg(&n)
                        .arg(&scale)
                        .arg(&mut out)
                        .arg(&mut lost);
                    // SAFETY: `scatter_fixed_point(const S* x, const u32* idx, u64 n, int k,
                    // u64* bins, u64* lost)`: x and idx hold n elements, every idx < bins;
                    // bins holds `bins` zeroed 8-byte words and lost one, all updated only
                    // with 64-bit atomics.
                    unsafe { b.launch(cfg(groups, wg, 0)) }.map_err(launch_err)?;
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
        }
        ScatterVariant::SortSegmented | ScatterVariant::Reproducible => {
            sorted(dev, job, &f, &x, &idx, &mut set)?;
        }
    }
    Ok(set)
}

fn backend_name(dev: &CudaDevice) -> String {
    format!("this GPU ({})", dev.arch())
}

/// sort_segmented and reproducible: the stable radix sort, then the segmented passes.
fn sorted(
    dev: &CudaDevice,
    job: &ScatterJob,
    f: &dyn Fn(&str) -> Result<CudaFunction, OpError>,
    x: &cudarc::driver::CudaSlice<u8>,
    idx: &cudarc::driver::CudaSlice<u8>,
    set: &mut RunSet,
) -> Result<(), OpError> {
    let repro = job.variant == ScatterVariant::Reproducible;
    let acc = job.accumulator;
    let wide = acc == Precision::F64;
    let n = job.n() as u64;
    let n32 = job.n() as u32;
    let nbins = job.bins as u32;
    let (groups, wg) = (job.launch.workgroups, job.launch.workgroup_size);
    let passes = job.radix_passes();
    let tiles = job.n().div_ceil((wg * RADIX_ITEMS) as usize) as u32;
    let chunk = job.chunk as u32;
    let chunks = job.chunks() as u32;
    // Bytes of one value (V: f32 for f32 and half accumulators, f64) or one DbRepro<V>.
    let state: usize = match (repro, wide) {
        (false, false) => 4,
        (false, true) => 8,
        (true, false) => 24,
        (true, true) => 40,
    };
    let k_count = f("bin_count")?;
    let k_scan = f("scan_exclusive")?;
    let k_rc = f("radix_count")?;
    let k_rs = f("radix_scatter")?;
    let (k_p1, k_p2) = if repro {
        (f("rseg_pass1")?, f("rseg_pass2")?)
    } else {
        (f("seg_pass1")?, f("seg_pass2")?)
    };
    let mut counts = dev.zeros((job.bins + 1) * 4)?;
    let mut dcounts = dev.zeros(256 * tiles as usize * 4)?;
    let mut keys = [dev.zeros(job.n() * 4)?, dev.zeros(job.n() * 4)?];
    let mut perms = [dev.zeros(job.n() * 4)?, {
        if passes == 0 {
            // One bin: the sorted order is the identity.
            let id: Vec<u32> = (0..n32).collect();
            dev.upload(bytemuck::cast_slice(&id))?
        } else {
            dev.zeros(job.n() * 4)?
        }
    }];
    let mut head = dev.zeros(chunks as usize * state)?;
    let mut firsts = dev.zeros(job.bins * state)?;
    let mut out = dev.zeros(job.bins * state)?;
    let layout: Vec<i32> = match job.repro {
        Some(p) => vec![0, p.folds as i32, p.a[0], p.a[1], p.a[2]],
        None => vec![0; 5],
    };
    let layout = dev.upload(bytemuck::cast_slice(&layout))?;
    let scan_bins = nbins + 1;
    let scan_digits = 256 * tiles;
    let shared_scan = wg as u64 * 4;
    for _ in 0..job.runs {
        dev.zero(&mut counts)?;
        let ms = dev.timed(|s| {
            let mut b = s.launch_builder(&k_count);
            b.arg(idx).arg(&n).arg(&mut counts);
            // SAFETY: `bin_count(const u32* idx, u64 n, u32* counts)`: idx holds n indices,
            // each < bins; counts holds bins + 1 zeroed words, updated atomically.
            unsafe { b.launch(cfg(groups, wg, 0)) }.map_err(launch_err)?;
            let mut b = s.launch_builder(&k_scan);
            b.arg(&mut counts).arg(&scan_bins);
            // SAFETY: `scan_exclusive(u32* buf, u32 len)`: counts holds bins + 1 = len
            // words; one block, one shared word per thread.
            unsafe { b.launch(cfg(1, wg, shared_scan)) }.map_err(launch_err)?;
            for p in 0..passes {
                let shift = p * RADIX_BITS;
                let first: i32 = i32::from(p == 0);
                // Pass p writes buffer p % 2 and reads the other (pass 0 reads idx).
                let dst = p % 2;
                let (ka, kb) = keys.split_at_mut(1);
                let (pa, pb) = perms.split_at_mut(1);
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
                let kin = if p == 0 { idx } else { kin };
                let mut b = s.launch_builder(&k_rc);
                b.arg(kin)
                    .arg(&n32)
                    .arg(&shift)
                    .arg(&tiles)
                    .arg(&mut dcounts);
                // SAFETY: `radix_count(const u32* keys, u32 n, u32 shift, u32 tiles, u32*
                // dcounts)`: keys holds n words; dcounts holds 256 * tiles words, and block t
                // writes only column t.
                unsafe { b.launch(cfg(tiles, wg, 0)) }.map_err(launch_err)?;
                let mut b = s.launch_builder(&k_scan);
                b.arg(&mut dcounts).arg(&scan_digits);
                // SAFETY: as the scan above, over the 256 * tiles digit counts.
                unsafe { b.launch(cfg(1, wg, shared_scan)) }.map_err(launch_err)?;
                let mut b = s.launch_builder(&k_rs);
                b.arg(kin)
                    .arg(pin)
                    .arg(&n32)
                    .arg(&shift)
                    .arg(&tiles)
                    .arg(&first)
                    .arg(&dcounts)
                    .arg(kout)
                    .arg(pout);
                // SAFETY: `radix_scatter(const u32* keys_in, const u32* perm_in, u32 n, u32
                // shift, u32 tiles, int first, const u32* dcounts, u32* keys_out, u32*
                // perm_out)`: inputs and outputs hold n words and are distinct buffers;
                // the scanned offsets place every element at a distinct position < n; one
                // shared word per thread.
                unsafe { b.launch(cfg(tiles, wg, wg as u64 * 4)) }.map_err(launch_err)?;
            }
            let last = ((passes + 1) % 2) as usize;
            let (kfin, pfin) = if passes == 0 {
                (idx, &perms[1])
            } else {
                (&keys[last], &perms[last])
            };
            let mut b = s.launch_builder(&k_p1);
            b.arg(x)
                .arg(kfin)
                .arg(pfin)
                .arg(&n32)
                .arg(&chunk)
                .arg(&chunks);
            if repro {
                b.arg(&layout);
            }
            b.arg(&mut head).arg(&mut firsts);
            // SAFETY: `{r}seg_pass1(const S* x, const u32* keys, const u32* perm, u32 n, u32
            // chunk, u32 chunks, [const int* layout,] V* head, V* firsts)`: keys and perm
            // hold n words (perm a permutation of 0..n), head one value (or binned state)
            // per chunk, firsts one per bin; each slot has exactly one writer.
            unsafe { b.launch(cfg(chunks.div_ceil(wg), wg, 0)) }.map_err(launch_err)?;
            let mut b = s.launch_builder(&k_p2);
            b.arg(&counts).arg(&nbins).arg(&chunk);
            if repro {
                b.arg(&layout);
            }
            b.arg(&head).arg(&firsts).arg(&mut out);
            // SAFETY: `{r}seg_pass2(const u32* offsets, u32 nbins, u32 chunk, [const int*
            // layout,] const V* head, const V* firsts, V* out)`: offsets holds bins + 1
            // scanned counts; every chunk index read is < chunks; out holds one slot per bin.
            unsafe { b.launch(cfg(nbins.div_ceil(wg), wg, 0)) }.map_err(launch_err)?;
            Ok(())
        })?;
        let bytes = dev.read(&out)?;
        let bins = job.bins;
        let values = if repro {
            let p = job.repro.expect("checked by check_job");
            let mut prim32 = Vec::new();
            let mut prim64 = Vec::new();
            let mut car = Vec::new();
            for s in bytes.chunks_exact(state).take(bins) {
                if wide {
                    prim64.extend(bytemuck::pod_collect_to_vec::<u8, f64>(&s[..24]));
                    car.extend(bytemuck::pod_collect_to_vec::<u8, i32>(&s[24..36]));
                } else {
                    prim32.extend(bytemuck::pod_collect_to_vec::<u8, f32>(&s[..12]));
                    car.extend(bytemuck::pod_collect_to_vec::<u8, i32>(&s[12..24]));
                }
            }
            if wide {
                finalize_states_f64(&p, &prim64, &car, bins)
            } else {
                finalize_states_f32(&p, &prim32, &car, bins)
            }
        } else {
            let fmt = if wide { Precision::F64 } else { Precision::F32 };
            fmt.decode(&bytes)[..bins]
                .iter()
                .map(|&v| acc.round(v))
                .collect()
        };
        set.times_ms.push(ms);
        set.outputs.push(values);
    }
    set.message = format!(
        "stable radix sort ({passes} passes of 8-bit digits), segmented reduction in chunks of {}{}",
        job.chunk,
        if repro {
            "; binned states finalised on the host"
        } else {
            ""
        }
    );
    Ok(())
}
