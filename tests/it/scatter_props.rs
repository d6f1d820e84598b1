//! Property tests of the scatter-add family, written once and instantiated for every
//! backend by `backend_tests!`: each backend is checked bin by bin against the exact oracle,
//! the deterministic variants against themselves over runs, and the ordered ones against
//! the CPU. Plus the CLI's bad-input answers for the index cases.

use crate::common;

use detbench::backend::BackendKind;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::scatter::{IndexSource, ScatterParams, RADIX_ITEMS, SORT_WG, VARIANTS};
use detbench::ops::Job;
use detbench::ops::{Case, FamilyParams, Op, Prepared, RunSet};
use detbench::runner::{metrics, prepare, AccChoice};
use npyz::WriterBuilder;
use proptest::prelude::*;

fn input() -> impl Strategy<Value = InputSpec> {
    prop_oneof![
        Just(InputSpec::Uniform),
        Just(InputSpec::Normal),
        Just(InputSpec::Wide),
    ]
}

fn precision() -> impl Strategy<Value = (Precision, AccChoice)> {
    prop_oneof![
        Just((Precision::F32, AccChoice::Same)),
        Just((Precision::F32, AccChoice::Fixed(Precision::F64))),
        Just((Precision::F16, AccChoice::Default)),
        Just((Precision::F16, AccChoice::Same)),
        Just((Precision::Bf16, AccChoice::Same)),
        Just((Precision::F64, AccChoice::Same)),
    ]
}

fn dist() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("uniform"),
        Just("zipf"),
        Just("sorted"),
        Just("single")
    ]
}

/// Bins from 1 to 2^20, weighted towards small counts (more collisions).
fn bins() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..=64,
        (0u32..=12).prop_map(|e| 1usize << e),
        1usize..=(1 << 20),
    ]
}

#[allow(clippy::too_many_arguments)]
fn case(
    p: (Precision, AccChoice),
    variant: &str,
    n: usize,
    bins: usize,
    dist: &str,
    input: InputSpec,
    seed: u64,
    runs: usize,
    wg: u32,
) -> Case {
    Case {
        op: Op::ScatterAdd,
        precision: p.0,
        accumulator: p.1.resolve(p.0),
        variant: variant.into(),
        size: n,
        input,
        seed,
        runs,
        workgroup_size: wg,
        params: FamilyParams::new(ScatterParams {
            bins,
            index: IndexSource::Dist(dist.to_string()),
        }),
    }
}

/// Runs a prepared case; `None` when there is no device or it reports the case unsupported.
fn run(kind: BackendKind, prep: &Prepared) -> Option<RunSet> {
    common::run_or_unsupported(kind, prep)
}

/// Variants no backend here may refuse (bins small enough for privatized).
fn must_support(kind: BackendKind, variant: &str, acc: Precision, bins: usize) -> bool {
    match variant {
        "atomic_cas" | "sort_segmented" | "fixed_point" => true,
        "privatized" => bins <= 2048,
        "reproducible" => matches!(acc, Precision::F32 | Precision::F64),
        "atomic" => kind == BackendKind::Wgpu && acc == Precision::F32,
        _ => false,
    }
}

/// Every variant, every bin: |computed - exact| <= the bin's a-priori bound.
fn within_bound(
    kind: BackendKind,
    p: (Precision, AccChoice),
    n: usize,
    bins: usize,
    dist: &str,
    input: InputSpec,
    seed: u64,
) {
    // No data is prepared for a device that is not here.
    for variant in VARIANTS {
        let c = case(p, variant, n, bins, dist, input.clone(), seed, 2, 64);
        let prep = prepare(&c).expect("prepare");
        let Some(set) = run(kind, &prep) else {
            if kind != BackendKind::Cuda && must_support(kind, variant, c.accumulator, bins) {
                panic!("{kind} {variant} {p:?} bins={bins} must be supported");
            }
            continue;
        };
        assert_eq!(set.outputs[0].len(), bins);
        let m = metrics(&prep, &set);
        assert_eq!(
            m.bound_violations, 0,
            "{kind} {variant} {p:?} n={n} bins={bins} {dist} {input:?}: max error {:e}",
            m.max_abs_err
        );
    }
}

/// sort_segmented, fixed_point and reproducible give identical bits over runs and equal
/// the CPU's; reproducible also across workgroup sizes.
fn deterministic_and_emulated(
    kind: BackendKind,
    p: (Precision, AccChoice),
    n: usize,
    bins: usize,
    dist: &str,
    seed: u64,
) {
    // No data is prepared for a device that is not here.
    for variant in ["sort_segmented", "fixed_point", "reproducible"] {
        let mut reference: Option<Vec<u64>> = None;
        for wg in [32u32, 256] {
            let c = case(p, variant, n, bins, dist, InputSpec::Normal, seed, 3, wg);
            let prep = prepare(&c).expect("prepare");
            let Some(set) = run(kind, &prep) else {
                continue;
            };
            let cpu = run(BackendKind::Cpu, &prep).expect("the CPU runs every ordered variant");
            let bits = |o: &Vec<f64>| -> Vec<u64> { o.iter().map(|v| v.to_bits()).collect() };
            for o in &set.outputs {
                assert_eq!(
                    bits(o),
                    bits(&set.outputs[0]),
                    "{kind} {variant} {p:?} wg={wg}: runs differ"
                );
            }
            assert_eq!(
                bits(&set.outputs[0]),
                bits(&cpu.outputs[0]),
                "{kind} {variant} {p:?} n={n} bins={bins} {dist} wg={wg}: differs from the CPU emulation"
            );
            // The segment chunk depends only on n, so sort_segmented is wg-independent too.
            match &reference {
                None => reference = Some(bits(&set.outputs[0])),
                Some(r) => assert_eq!(
                    r,
                    &bits(&set.outputs[0]),
                    "{kind} {variant}: wg changed bits"
                ),
            }
        }
    }
}

/// sort_segmented cases over every number of radix passes the sort takes (0 to 4 with
/// 5-bit digits; one case skips a constant middle digit) at an n that is not a multiple of
/// either layout's tile: (prepared case, expected shifts, label).
fn sort_shape_cases() -> Vec<(Prepared, &'static [u32], String)> {
    let n = 3 * (SORT_WG * RADIX_ITEMS) as usize + 1234;
    let p = (Precision::F32, AccChoice::Same);
    // (bins, index distribution, spread the indices' bits over digits 0 and 2, shifts).
    let shapes: &[(usize, &str, bool, &'static [u32])] = &[
        (1, "uniform", false, &[]),
        (1024, "single", false, &[]),
        (2, "uniform", false, &[0]),
        (16, "uniform", false, &[0]),
        (17, "zipf", false, &[0]),
        (33, "uniform", false, &[0, 5]),
        (1024, "uniform", false, &[0, 5]),
        (1 << 15, "uniform", true, &[0, 10]),
        (1025, "sorted", false, &[0, 5, 10]),
        (4097, "uniform", false, &[0, 5, 10]),
        (1 << 20, "uniform", false, &[0, 5, 10, 15]),
    ];
    let mut out = Vec::new();
    for &(bins, dist, spread, shifts) in shapes {
        let c = case(
            p,
            "sort_segmented",
            n,
            bins,
            dist,
            InputSpec::Normal,
            11,
            3,
            64,
        );
        let mut prep = prepare(&c).expect("prepare");
        let Job::Scatter(job) = &mut prep.job else {
            unreachable!()
        };
        if spread {
            // Indices in [0, 1024) moved to bits 0..5 and 10..15: the middle digit is 0 in
            // every index, so its pass is skipped.
            for k in job.idx.iter_mut() {
                let v = *k % 1024;
                *k = (v & 31) | ((v >> 5) << 10);
            }
        }
        out.push((prep, shifts, format!("bins={bins} {dist} n={n}")));
    }
    out
}

/// The set's runs all carry the CPU emulation's bits.
fn assert_emulated(set: &RunSet, prep: &Prepared, what: &str) {
    let cpu = run(BackendKind::Cpu, prep).expect("the CPU runs every ordered variant");
    let bits = |o: &Vec<f64>| -> Vec<u64> { o.iter().map(|v| v.to_bits()).collect() };
    assert_eq!(set.outputs.len(), 3);
    for o in &set.outputs {
        assert_eq!(
            bits(o),
            bits(&cpu.outputs[0]),
            "{what}: differs from the CPU emulation"
        );
    }
}

/// sort_segmented over every pass count: the same bits in every run, equal to the CPU
/// emulation's.
fn sort_every_pass_count(kind: BackendKind) {
    // No data is prepared for a device that is not here.
    for (prep, shifts, label) in sort_shape_cases() {
        let Job::Scatter(job) = &prep.job else {
            unreachable!()
        };
        assert_eq!(job.radix_shifts(), shifts, "{label}");
        let set = run(kind, &prep).expect("sort_segmented runs everywhere");
        assert_emulated(&set, &prep, &format!("{kind} {label}"));
        // wgpu's packed layout sorts by wider digits: wgpu_sort_split_and_packed_layouts
        // checks its passes.
        if kind == BackendKind::Cuda {
            let said = format!("({} passes of", shifts.len());
            assert!(set.message.contains(&said), "{}", set.message);
        }
    }
}

macro_rules! backend_tests {
    ($($(#[$attr:meta])* $name:ident => $kind:expr),* $(,)?) => {$(
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(common::cases(6)))]

                #[test]
                $(#[$attr])*
                fn every_variant_within_its_bound(
                    p in precision(),
                    n in 1usize..=20_000,
                    bins in bins(),
                    d in dist(),
                    input in input(),
                    seed in 0u64..1000,
                ) {
                    within_bound($kind, p, n, bins, d, input, seed);
                }

                #[test]
                $(#[$attr])*
                fn deterministic_variants_are_bitwise_stable_and_emulated(
                    p in prop_oneof![
                        Just((Precision::F32, AccChoice::Same)),
                        Just((Precision::F16, AccChoice::Default)),
                        Just((Precision::F32, AccChoice::Fixed(Precision::F64))),
                    ],
                    n in 1usize..=30_000,
                    bins in bins(),
                    d in dist(),
                    seed in 0u64..1000,
                ) {
                    deterministic_and_emulated($kind, p, n, bins, d, seed);
                }
            }

            /// The contended cases the issue names, at a size lavapipe can run.
            #[test]
            $(#[$attr])*
            fn single_bin_and_uniform_1024() {
                for (bins, d) in [(1usize, "single"), (1024, "uniform"), (1024, "zipf")] {
                    within_bound($kind, (Precision::F32, AccChoice::Same), 1 << 16, bins, d, InputSpec::Normal, 7);
                    deterministic_and_emulated($kind, (Precision::F32, AccChoice::Same), 1 << 16, bins, d, 7);
                }
            }

            #[test]
            $(#[$attr])*
            fn sort_segmented_every_pass_count() {
                sort_every_pass_count($kind);
            }
        }
    )*};
}

backend_tests! {
    cpu => BackendKind::Cpu,
    #[cfg_attr(not(detbench_wgpu), ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)")]
    wgpu => BackendKind::Wgpu,
    #[cfg_attr(not(detbench_libcuda), ignore = "needs a CUDA device (none found at build time; DETBENCH_REQUIRE_CUDA=1 runs it)")]
    cuda => BackendKind::Cuda,
}

/// Both layouts of the wgpu sort on one device, whichever it would choose itself (split:
/// every device; packed, with key and position in one u64: CPU adapters with 64-bit
/// integers, lavapipe's default): every pass count, then other formats (f64 accumulator
/// or input, half inputs) and sizes below one thread's elements, every run equal to the
/// CPU emulation's bits.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn wgpu_sort_split_and_packed_layouts() {
    use detbench::ops::scatter::wgpu::{lane_bits, layout, run_with, Layout, SortWords};
    // The CI rule (lavapipe must be there) and the skip message are common's.
    let b = detbench::backend::wgpu::discover()
        .0
        .into_iter()
        .next()
        .expect("the wgpu device common::backend found");
    let mut cases: Vec<(Prepared, String)> = sort_shape_cases()
        .into_iter()
        .map(|(p, _, label)| (p, label))
        .collect();
    let formats = [
        (
            Precision::F32,
            AccChoice::Fixed(Precision::F64),
            20_000,
            1024,
            "uniform",
        ),
        (Precision::F64, AccChoice::Same, 9_000, 4097, "zipf"),
        (Precision::F64, AccChoice::Same, 3_000, 1, "uniform"),
        (Precision::F16, AccChoice::Default, 12_345, 17, "uniform"),
        (Precision::Bf16, AccChoice::Same, 37, 2, "uniform"),
        (Precision::F32, AccChoice::Same, 1, 1024, "uniform"),
        // More than one workgroup of packed sorter threads (32 threads of 16384).
        (Precision::F32, AccChoice::Same, 600_001, 4097, "uniform"),
        (Precision::F32, AccChoice::Same, 600_001, 1000, "zipf"),
    ];
    for (i, (x, acc, n, bins, dist)) in formats.into_iter().enumerate() {
        let c = case(
            (x, acc),
            "sort_segmented",
            n,
            bins,
            dist,
            InputSpec::Normal,
            5 + i as u64,
            3,
            64,
        );
        let label = format!("{x} acc {:?} bins={bins} {dist} n={n}", c.accumulator);
        cases.push((prepare(&c).expect("prepare"), label));
    }
    for words in [SortWords::Split, SortWords::Packed] {
        for (prep, label) in &cases {
            let Job::Scatter(job) = &prep.job else {
                unreachable!()
            };
            let set = match run_with(
                &b,
                job,
                Layout {
                    sort: words,
                    ..layout(&b)
                },
            ) {
                Ok(set) => set,
                Err(detbench::error::OpError::Unsupported(why)) if words == SortWords::Packed => {
                    eprintln!("wgpu: the packed sort is unsupported here: {why}");
                    break;
                }
                Err(e) => panic!("{words:?} {label}: {e}"),
            };
            // Split: 5-bit radix passes; packed: counting-sort passes of up to 10 bits.
            let bits = match words {
                SortWords::Split => 5,
                SortWords::Packed => lane_bits(job.bins),
            };
            let said = format!(
                "({} passes of {bits}-bit digits",
                job.digit_shifts(bits).len()
            );
            assert!(set.message.contains(&said), "{label}: {}", set.message);
            let sort = match words {
                SortWords::Split => "stable radix sort",
                SortWords::Packed => "stable counting sort",
            };
            assert!(set.message.contains(sort), "{}", set.message);
            assert_emulated(&set, prep, &format!("wgpu {words:?} {label}"));
        }
    }
}

/// Both layouts of reproducible's f32 workgroup lanes on one device: folds 0 and 1 of a bin
/// in one u64 word (devices with 64-bit atomics, lavapipe's default) and one u32 word per
/// fold (every other device), each equal to the CPU emulation's bits, run after run: one
/// bin (the most contended), a bin count that is no power of two, and 1024 bins with
/// uniform and Zipf indices; n no multiple of any span.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn wgpu_reproducible_lanes_paired_and_single() {
    use detbench::ops::scatter::wgpu::{layout, run_with, Layout};
    let b = detbench::backend::wgpu::discover()
        .0
        .into_iter()
        .next()
        .expect("the wgpu device common::backend found");
    let cases = [
        (1, "uniform"),
        (17, "uniform"),
        (1024, "uniform"),
        (1024, "zipf"),
    ];
    for (i, (bins, dist)) in cases.into_iter().enumerate() {
        let c = case(
            (Precision::F32, AccChoice::Same),
            "reproducible",
            150_001,
            bins,
            dist,
            InputSpec::Normal,
            11 + i as u64,
            3,
            256,
        );
        let prep = prepare(&c).expect("prepare");
        let Job::Scatter(job) = &prep.job else {
            unreachable!()
        };
        for (pair64, said) in [(true, "u64 word"), (false, "one u32 word per fold")] {
            let lay = Layout {
                pair64,
                ..layout(&b)
            };
            let what = format!("wgpu reproducible bins={bins} {dist} pair64={pair64}");
            let set = run_with(&b, job, lay).unwrap_or_else(|e| panic!("{what}: {e}"));
            // lavapipe has 64-bit atomics: the paired layout must be the one that ran.
            if pair64 && !b.has(::wgpu::Features::SHADER_INT64_ATOMIC_ALL_OPS) {
                eprintln!("{what}: no 64-bit atomics here, the single-word layout ran");
            } else {
                assert!(set.message.contains(said), "{what}: {}", set.message);
            }
            assert_emulated(&set, &prep, &what);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The CLI: bad index input exits 2 with one line.

fn detbench(args: &[&str]) -> std::process::Output {
    common::cli::bin()
        .args(args)
        .output()
        .expect("run detbench")
}

/// Runs detbench and fails the test, showing its stderr, unless it exits 0.
fn detbench_ok(args: &[&str]) -> std::process::Output {
    common::report::run_ok(common::cli::bin().args(args))
}

fn write_index<T: npyz::Serialize + npyz::AutoSerialize + Copy>(path: &std::path::Path, v: &[T]) {
    let mut out = Vec::new();
    {
        let mut w = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(&[v.len() as u64])
            .writer(&mut out)
            .begin_nd()
            .expect("npy writer");
        w.extend(v.iter().copied()).expect("write npy");
        w.finish().expect("finish npy");
    }
    std::fs::write(path, out).expect("write file");
}

fn assert_bad_input(args: &[&str], needle: &str) {
    let o = detbench(args);
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
        .collect();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(lines.len(), 1, "{args:?}: expected one line, got {err}");
    assert!(lines[0].contains(needle), "{args:?}: {err}");
}

#[test]
fn cli_rejects_bad_indices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let values = dir.path().join("x.npy");
    detbench::inputs::write_npy(&values, Precision::F32, &[1.0, 2.0, 3.0, 4.0], &[4]).unwrap();
    let vals = values.to_str().unwrap();
    let base = |idx: &str| -> Vec<String> {
        [
            "run",
            "--op",
            "scatter_add",
            "--backend",
            "cpu",
            "--input",
            vals,
            "--index",
            idx,
            "--bins",
            "4",
            "--runs",
            "1",
            "--quiet",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.path().join("r.json").display().to_string()])
        .collect()
    };
    let run = |name: &str, needle: &str| {
        let a = base(dir.path().join(name).to_str().unwrap());
        let a: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        assert_bad_input(&a, needle);
    };
    write_index::<i64>(&dir.path().join("neg.npy"), &[0, 1, -1, 2]);
    run("neg.npy", "index -1");
    write_index::<i32>(&dir.path().join("big.npy"), &[0, 1, 4, 2]);
    run("big.npy", "index 4");
    write_index::<i64>(&dir.path().join("short.npy"), &[0, 1, 2]);
    run("short.npy", "3 indices");
    write_index::<f32>(&dir.path().join("float.npy"), &[0.0, 1.0, 2.0, 3.0]);
    run("float.npy", "index dtype");
    // A good index file runs.
    write_index::<i32>(&dir.path().join("ok.npy"), &[3, 1, 3, 0]);
    let a = base(dir.path().join("ok.npy").to_str().unwrap());
    let a: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
    detbench_ok(&a);
    // NaN values.
    let nan = dir.path().join("nan.npy");
    detbench::inputs::write_npy(&nan, Precision::F32, &[1.0, f64::NAN, 3.0, 4.0], &[4]).unwrap();
    let mut a = base(dir.path().join("ok.npy").to_str().unwrap());
    a[6] = nan.display().to_string();
    let a: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
    assert_bad_input(&a, "NaN");
    // An unknown distribution.
    assert_bad_input(
        &[
            "run",
            "--op",
            "scatter_add",
            "--backend",
            "cpu",
            "--index-dist",
            "pareto",
        ],
        "index distribution",
    );
}

/// The report shows the cost of determinism case by case: each deterministic scatter
/// variant over the fastest nondeterministic one of the same input, one row per index
/// distribution (contention), in the Markdown and HTML reports and in the headline.
#[test]
fn report_shows_the_cost_of_determinism_per_contention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("r.json");
    let o = detbench_ok(&[
        "run",
        "--op",
        "scatter_add",
        "--backend",
        "cpu",
        "--precision",
        "f32",
        "--variant",
        "atomic_cas,privatized,sort_segmented,fixed_point,reproducible",
        "--index-dist",
        "uniform,single",
        "--bins",
        "64",
        "--size",
        "4096",
        "--runs",
        "3",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("Cost of determinism"), "{stdout}");
    assert!(stdout.contains("worst case"), "{stdout}");
    let md = dir.path().join("r.md");
    let html = dir.path().join("r.html");
    detbench_ok(&[
        "report",
        json.to_str().unwrap(),
        "--md",
        md.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let md = std::fs::read_to_string(md).unwrap();
    let html = std::fs::read_to_string(html).unwrap();
    assert!(md.contains("### Cost of determinism, case by case"), "{md}");
    assert!(html.contains("Cost of determinism, case by case"));
    // One row per deterministic variant and index distribution, each against a baseline
    // measured on the same input.
    let rows: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("### Cost of determinism, case by case"))
        .filter(|l| l.starts_with("| scatter_add "))
        .collect();
    for dist in ["uniform", "single"] {
        for v in ["sort_segmented", "fixed_point", "reproducible"] {
            let row = rows
                .iter()
                .find(|r| r.contains(&format!(" {v} ")) && r.contains(&format!("+index:{dist} |")))
                .unwrap_or_else(|| panic!("no cost row for {v} on {dist}: {md}"));
            // | case | median ms | fastest nondeterministic | its median ms | ratio (spread) | verdict |
            let cells: Vec<&str> = row.split(" | ").collect();
            let base = cells[2];
            assert!(
                base.starts_with("atomic_cas") || base.starts_with("privatized"),
                "{row}: baseline {base}"
            );
            let ratio: f64 = cells[4]
                .split('x')
                .next()
                .unwrap()
                .parse()
                .unwrap_or_else(|_| panic!("{row}: ratio"));
            let ms = |c: &str| c.parse::<f64>().unwrap_or_else(|_| panic!("{row}: {c}"));
            let want = ms(cells[1]) / ms(cells[3]);
            assert!(ratio.is_finite() && ratio > 0.0, "{row}");
            // The table rounds the times to 4 decimals and the ratio to 3 digits.
            assert!(
                (ratio - want).abs() <= 0.01 * want + 1e-3,
                "{row}: {ratio} vs {want}"
            );
            let verdict = cells[5].trim_end_matches(" |");
            let want_verdict = ["cost", "speed-up", "within spread"];
            assert!(want_verdict.contains(&verdict), "{row}: {verdict}");
            if verdict == "speed-up" {
                assert!(ratio < 1.0, "{row}");
            }
        }
    }
}

/// reproducible keeps a layout per bin (issue 11): a bin of small values keeps its own
/// precision next to a bin of large ones, instead of falling below a floor set by the
/// largest value anywhere (one global layout gave 0 here), on the CPU and on wgpu alike.
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
#[test]
fn reproducible_small_bins_keep_their_own_precision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (xs, ix) = (dir.path().join("x.npy"), dir.path().join("i.npy"));
    // Bin 0: values near 1e6; bin 1: values near 1e-7, far below 1e6's floor (~2e-6).
    let mut x = Vec::new();
    let mut idx = Vec::new();
    for i in 0..200 {
        x.push(1.0e6 + i as f64);
        idx.push(0i64);
        x.push((1.0 + i as f64 / 256.0) * 1.0e-7);
        idx.push(1);
    }
    let x: Vec<f64> = x.iter().map(|&v| v as f32 as f64).collect();
    detbench::inputs::write_npy(&xs, Precision::F32, &x, &[x.len() as u64]).unwrap();
    write_index::<i64>(&ix, &idx);
    let c = Case {
        op: Op::ScatterAdd,
        precision: Precision::F32,
        accumulator: Precision::F32,
        variant: "reproducible".into(),
        size: x.len(),
        input: InputSpec::File(xs.display().to_string()),
        seed: 7,
        runs: 2,
        workgroup_size: 64,
        params: FamilyParams::new(ScatterParams {
            bins: 2,
            index: IndexSource::File(ix.clone()),
        }),
    };
    let prep = prepare(&c).expect("prepare");
    let cpu = run(BackendKind::Cpu, &prep).expect("cpu runs reproducible");
    let small = cpu.outputs[0][1];
    let exact = prep.exact_out[1];
    assert!(exact > 0.0);
    assert!(
        (small - exact).abs() <= exact * 2f64.powi(-22),
        "bin of small values: {small:e}, exact {exact:e}"
    );
    assert_eq!(metrics(&prep, &cpu).bound_violations, 0);
    if let Some(w) = run(BackendKind::Wgpu, &prep) {
        for o in &w.outputs {
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(o),
                bits(&cpu.outputs[0]),
                "wgpu differs from the CPU emulation"
            );
        }
    }
}
