//! kernels/cuda/scatter.cu run on the host emulation of CUDA (tests/it/cuda_emu): every module
//! the backend builds for sm_90 (all nine input/accumulator pairs), launched exactly as
//! src/ops/scatter/cuda.rs launches them. sort_segmented (the radix sort, the scans, the
//! segmented passes), fixed_point and reproducible (shared-memory and global lanes) must
//! give the CPU emulation's bits in every bin; atomic, atomic_cas and privatized, under each
//! of the six PTX orderings, must stay within the a-priori bound.

use crate::common;
use crate::cuda_emu;

use cuda_emu::{i32_arg, Module};
use detbench::backend::BackendKind;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::scatter::{
    IndexSource, ScatterJob, ScatterParams, RADIX_BITS, RADIX_DIGITS, RADIX_ITEMS, REPRO_LANES,
    SORT_WG,
};
use detbench::ops::{Case, FamilyParams, Job, Op, Prepared, RunSet};

const SOURCE: &str = "kernels/cuda/scatter.cu";
/// cuda.rs's SHARED_LIMIT.
const SHARED_LIMIT: usize = 48 * 1024;

#[allow(clippy::too_many_arguments)]
fn case(
    input: Precision,
    acc: Precision,
    variant: &str,
    n: usize,
    bins: usize,
    dist: &str,
    wg: u32,
) -> Case {
    Case {
        op: Op::ScatterAdd,
        precision: input,
        accumulator: acc,
        variant: variant.into(),
        size: n,
        input: InputSpec::Normal,
        seed: 5,
        runs: 1,
        workgroup_size: wg,
        params: FamilyParams::new(ScatterParams {
            bins,
            index: IndexSource::Dist(dist.to_string()),
        }),
    }
}

fn job(prep: &Prepared) -> &ScatterJob {
    match &prep.job {
        Job::Scatter(j) => j,
        _ => unreachable!(),
    }
}

fn u32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// One run of `variant` (with `ord` for the atomic ones), launched as cuda.rs launches it.
fn run(m: &Module, j: &ScatterJob, variant: &str, ord: &str) -> Vec<f64> {
    let suffix = format!("{}_{}", j.precision.name(), j.accumulator.name());
    let e = |name: &str| format!("{name}_{suffix}");
    let acc = j.accumulator;
    let n = j.n() as u64;
    let bins = j.bins;
    let nbins = bins as u64;
    let (groups, wg) = (j.launch.workgroups.max(1), j.launch.workgroup_size);
    let value_bytes = if acc == Precision::F64 { 8 } else { 4 };
    let x = m.upload(&j.precision.encode(&j.x));
    let idx = m.upload(&u32_bytes(&j.idx));
    match variant {
        "atomic" | "atomic_cas" | "privatized" => {
            let name = if variant == "privatized" {
                "scatter_privatized"
            } else {
                &format!("scatter_{variant}")
            };
            let out = m.alloc(bins * acc.bytes());
            let private = variant == "privatized";
            let shared = if private { bins * value_bytes } else { 0 };
            let mut args = vec![x.addr(), idx.addr(), n];
            if private {
                args.push(nbins);
            }
            args.push(out.addr());
            m.launch(
                &e(&format!("{name}_{ord}")),
                (groups, 1, 1),
                wg,
                shared,
                &args,
            );
            acc.decode(&out.read())
        }
        "fixed_point" => {
            let out = m.alloc(bins * 8);
            let lost = m.alloc(8);
            m.launch(
                &e("scatter_fixed_point"),
                (groups, 1, 1),
                wg,
                0,
                &[
                    x.addr(),
                    idx.addr(),
                    n,
                    i32_arg(j.fixed_scale),
                    out.addr(),
                    lost.addr(),
                ],
            );
            out.read()
                .chunks_exact(8)
                .map(|c| {
                    detbench::shared::fixed::fixed_to_value(
                        i64::from_le_bytes(c.try_into().unwrap()),
                        j.fixed_scale,
                        acc,
                    )
                })
                .collect()
        }
        "reproducible" => {
            let limbs = j.repro_limbs();
            let nwords = bins * REPRO_LANES * limbs;
            let private = nwords * 4 <= SHARED_LIMIT;
            // Five ints per bin: each bin's own layout.
            let layout: Vec<u32> = j.repro_layout_words().iter().map(|&v| v as u32).collect();
            let layout = m.upload(&u32_bytes(&layout));
            let lanes = m.alloc(nwords * 4);
            m.launch(
                &e("scatter_reproducible"),
                (j.repro_groups(), 1, 1),
                wg,
                if private { nwords * 4 } else { 0 },
                &[
                    x.addr(),
                    idx.addr(),
                    n,
                    j.repro_span() as u64,
                    layout.addr(),
                    nbins,
                    i32_arg(i32::from(private)),
                    lanes.addr(),
                ],
            );
            j.repro_finalize(&lanes.u32s()[..nwords])
        }
        "sort_segmented" => sorted(m, j, &x, &idx, &e),
        other => panic!("unknown variant {other}"),
    }
}

/// cuda.rs's `sorted`, launch for launch.
fn sorted(
    m: &Module,
    j: &ScatterJob,
    x: &cuda_emu::Buf,
    idx: &cuda_emu::Buf,
    e: &dyn Fn(&str) -> String,
) -> Vec<f64> {
    let acc = j.accumulator;
    let wide = acc == Precision::F64;
    let n32 = j.n() as u32;
    let nbins = j.bins as u32;
    let wg = j.launch.workgroup_size;
    let shifts = j.radix_shifts();
    let passes = shifts.len() as u32;
    let tile = j.radix_tile() as u32;
    let tiles = n32.div_ceil(tile);
    let chunk = j.chunk as u32;
    let chunks = j.chunks() as u32;
    let scan_len = RADIX_DIGITS * tiles;
    let blocks = scan_len.div_ceil(tile);
    let vbytes = if wide { 8 } else { 4 };
    let tbytes = if j.precision == Precision::F64 { 8 } else { 4 };
    let offs = m.alloc((j.bins + 1) * 4);
    let dcounts = m.alloc(scan_len as usize * 4);
    let partials = m.alloc(blocks as usize * 4);
    let keys = [m.alloc(j.n() * 4), m.alloc(j.n() * 4)];
    let perms = [m.alloc(j.n() * 4), m.alloc(j.n() * 4)];
    let vals = m.alloc(j.n() * tbytes);
    let head = m.alloc(chunks as usize * vbytes);
    let firsts = m.alloc(j.bins * vbytes);
    let out = m.alloc(j.bins * vbytes);
    let ge = n32.div_ceil(SORT_WG).clamp(1, 1024);
    let gbins = (nbins + 1).div_ceil(SORT_WG).clamp(1, 1024);
    let (n, tiles64) = (n32 as u64, tiles as u64);
    if passes == 0 {
        m.launch(
            &e("copy_values"),
            (ge, 1, 1),
            SORT_WG,
            0,
            &[x.addr(), n, vals.addr()],
        );
    }
    for p in 0..passes {
        let shift = shifts[p as usize] as u64;
        let first = u64::from(p == 0);
        let last = u64::from(p + 1 == passes);
        let dst = (p % 2) as usize;
        let (kin, kout) = (&keys[1 - dst], &keys[dst]);
        let (pin, pout) = (&perms[1 - dst], &perms[dst]);
        let kin = if p == 0 { idx } else { kin };
        m.launch(
            &e("radix_count"),
            (tiles.max(1), 1, 1),
            SORT_WG,
            0,
            &[kin.addr(), n, shift, tiles64, dcounts.addr()],
        );
        m.launch(
            &e("scan_reduce"),
            (blocks.max(1), 1, 1),
            SORT_WG,
            0,
            &[dcounts.addr(), scan_len as u64, partials.addr()],
        );
        m.launch(
            &e("scan_exclusive"),
            (1, 1, 1),
            SORT_WG,
            0,
            &[partials.addr(), blocks as u64],
        );
        m.launch(
            &e("scan_apply"),
            (blocks.max(1), 1, 1),
            SORT_WG,
            0,
            &[dcounts.addr(), scan_len as u64, partials.addr()],
        );
        m.launch(
            &e("radix_scatter"),
            (tiles.max(1), 1, 1),
            SORT_WG,
            0,
            &[
                x.addr(),
                kin.addr(),
                pin.addr(),
                n,
                shift,
                tiles64,
                first,
                last,
                dcounts.addr(),
                kout.addr(),
                pout.addr(),
                vals.addr(),
            ],
        );
    }
    let kfin = if passes == 0 {
        idx
    } else {
        &keys[((passes - 1) % 2) as usize]
    };
    m.launch(
        &e("bin_offsets"),
        (gbins, 1, 1),
        SORT_WG,
        0,
        &[kfin.addr(), n, nbins as u64, offs.addr()],
    );
    m.launch(
        &e("seg_pass1"),
        (chunks.div_ceil(wg).max(1), 1, 1),
        wg,
        0,
        &[
            vals.addr(),
            kfin.addr(),
            n,
            chunk as u64,
            chunks as u64,
            head.addr(),
            firsts.addr(),
        ],
    );
    m.launch(
        &e("seg_pass2"),
        (nbins.div_ceil(wg).max(1), 1, 1),
        wg,
        0,
        &[
            offs.addr(),
            nbins as u64,
            chunk as u64,
            head.addr(),
            firsts.addr(),
            out.addr(),
        ],
    );
    let fmt = if wide { Precision::F64 } else { Precision::F32 };
    fmt.decode(&out.read())[..j.bins]
        .iter()
        .map(|&v| acc.round(v))
        .collect()
}

fn cpu(prep: &Prepared) -> Vec<f64> {
    common::run_or_unsupported(BackendKind::Cpu, prep)
        .expect("the CPU runs every ordered variant")
        .outputs
        .remove(0)
}

/// (n, bins, index distribution, workgroup size): one element in one bin; few hot bins
/// (zipf) with several radix tiles (one radix pass); two passes; sorted indices over
/// enough bins for three radix passes and lanes too large for shared memory; four passes
/// at an n that is not a multiple of the tile; one bin with every element (no radix pass).
const SHAPES: &[(usize, usize, &str, u32)] = &[
    (1, 1, "uniform", 64),
    (5000, 7, "zipf", 64),
    (9000, 300, "uniform", 256),
    (20_000, 5000, "sorted", 64),
    (12_345, 40_000, "uniform", 128),
    (3000, 1, "single", 128),
];

/// scatter.cu's sort shape is src/ops/scatter/mod.rs's: the host launches SORT_WG threads
/// per tile of SORT_WG * RADIX_ITEMS elements and sizes the digit counts by RADIX_DIGITS.
#[test]
fn cuda_sort_shape_is_the_hosts() {
    let src = std::fs::read_to_string(SOURCE).expect("scatter.cu");
    for (name, v) in [
        ("DB_SORT_WG", SORT_WG),
        ("DB_RADIX_ITEMS", RADIX_ITEMS),
        ("DB_RADIX_BITS", RADIX_BITS),
    ] {
        let line = format!("#define {name} {v}u\n");
        assert!(src.contains(&line), "scatter.cu lacks `{}`", line.trim());
    }
}

fn ordered_pair(input: Precision, acc: Precision) {
    let build = cuda_emu::module_build(SOURCE, &format!("{}_{}", input.name(), acc.name()));
    let m = cuda_emu::load(&build.spec);
    cuda_emu::assert_entries(&m, &build);
    let mut variants = vec!["sort_segmented", "fixed_point"];
    if matches!(acc, Precision::F32 | Precision::F64) {
        variants.push("reproducible");
    }
    for &(n, bins, dist, wg) in SHAPES {
        for v in &variants {
            let prep = detbench::runner::prepare(&case(input, acc, v, n, bins, dist, wg))
                .expect("prepare");
            let got = run(&m, job(&prep), v, "");
            let want = cpu(&prep);
            assert_eq!(got.len(), want.len());
            for (b, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "{v} {input}/{acc} n={n} bins={bins} {dist} wg={wg}: bin {b}: emulated CUDA {g:e}, CPU emulation {w:e}"
                );
            }
        }
    }
}

fn atomic_pair(input: Precision, acc: Precision) {
    let build = cuda_emu::module_build(SOURCE, &format!("{}_{}", input.name(), acc.name()));
    let m = cuda_emu::load(&build.spec);
    for &(n, bins, dist) in &[(4000usize, 37usize, "zipf"), (3000, 5000, "uniform")] {
        for v in ["atomic", "atomic_cas", "privatized"] {
            let prep = detbench::runner::prepare(&case(input, acc, v, n, bins, dist, 64))
                .expect("prepare");
            if prep.bounds.iter().any(|b| b.is_none()) {
                continue;
            }
            let outputs: Vec<Vec<f64>> = detbench::ops::common::cuda_ordering_suffixes()
                .into_iter()
                .map(|ord| run(&m, job(&prep), v, ord))
                .collect();
            let set = RunSet {
                times_ms: vec![0.0; outputs.len()],
                outputs,
                ..Default::default()
            };
            let met = detbench::runner::metrics(&prep, &set);
            assert_eq!(met.non_finite, 0, "{v} {input}/{acc}: non-finite output");
            assert_eq!(
                met.bound_violations, 0,
                "{v} {input}/{acc} n={n} bins={bins}: error {:e} exceeds the bound",
                met.max_abs_err
            );
        }
    }
}

cuda_emu::pair_tests!();

/// The tests above cover every pair the backend builds.
#[test]
fn every_module_is_covered() {
    assert_eq!(cuda_emu::module_builds(SOURCE).len(), 9);
}

/// fixed_point at the edges, launched directly (the host refuses non-finite values before
/// any kernel runs): per bin, each value quantizes and counts as lost exactly as
/// src/shared/fixed.rs's `fixed_quantize` says (non-finite values add 0 and are lost; a
/// value whose scaling underflows to 0 is lost).
#[test]
fn fixed_point_edges_match_fixed_quantize() {
    let two = |e: i32| libm::ldexp(1.0, e);
    let m = cuda_emu::load(&cuda_emu::module_build(SOURCE, "f64_f64").spec);
    let xs = [
        two(1000),
        two(-200),
        f64::INFINITY,
        -f64::from_bits(1),
        f64::NAN,
        3.0 * two(990),
        1.5,
        f64::NEG_INFINITY,
    ];
    let idx: Vec<u32> = vec![0, 0, 1, 1, 2, 2, 0, 1];
    let bins = 3;
    let k = detbench::shared::fixed::fixed_scale(xs.len(), two(1000) * 3.0);
    let mut want = vec![0i64; bins];
    let mut want_lost = 0u64;
    for (&v, &b) in xs.iter().zip(&idx) {
        let (q, lost) = detbench::shared::fixed::fixed_quantize(v, k);
        want[b as usize] = want[b as usize].wrapping_add(q);
        want_lost += u64::from(lost);
    }
    assert_eq!(want_lost, 6);
    let x = m.upload(&Precision::F64.encode(&xs));
    let ib = m.upload(&u32_bytes(&idx));
    let (out, lost) = (m.alloc(bins * 8), m.alloc(8));
    m.launch(
        "scatter_fixed_point_f64_f64",
        (2, 1, 1),
        32,
        0,
        &[
            x.addr(),
            ib.addr(),
            xs.len() as u64,
            i32_arg(k),
            out.addr(),
            lost.addr(),
        ],
    );
    let got: Vec<i64> = out
        .read()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, want, "bin totals at k = {k}");
    assert_eq!(
        u64::from_le_bytes(lost.read()[..8].try_into().unwrap()),
        want_lost
    );
}
