//! Paths a device takes for the same bits, forced both ways on one device and held to the
//! CPU emulation: `reproducible` scatter's workgroup lanes as u64 words holding two folds
//! (with 64-bit atomics) or as one u32 word per fold (devices without them; the
//! DETBENCH_NO_PAIR64 environment variable takes that path on any device).

mod common;

use common::report::{dir, load, run_ok};
use detbench::report::Status;

/// (bins, index distribution): one bin (the most contended), a bin count that is no
/// power of two, and the 1024 of the performance report; n is no multiple of any span.
const CASES: [(&str, &str); 4] = [
    ("1", "uniform"),
    ("17", "uniform"),
    ("1024", "uniform"),
    ("1024", "zipf"),
];

fn scatter(
    backend: &str,
    bins: &str,
    dist: &str,
    no_pair: bool,
    name: &str,
) -> detbench::report::ResultRecord {
    let out = dir().join(name);
    let mut cmd = common::cli::bin();
    cmd.args([
        "run",
        "--op",
        "scatter_add",
        "--backend",
        backend,
        "--precision",
        "f32",
        "--variant",
        "reproducible",
        "--size",
        "150001",
        "--bins",
        bins,
        "--index-dist",
        dist,
        "--runs",
        "2",
        "--quiet",
        "--no-copy-baseline",
        "--json",
    ])
    .arg(&out)
    .env("XDG_RUNTIME_DIR", std::env::temp_dir());
    if no_pair {
        cmd.env("DETBENCH_NO_PAIR64", "1");
    }
    run_ok(&mut cmd);
    let mut r = load(&out).results;
    assert_eq!(r.len(), 1, "{name}: one result");
    r.remove(0)
}

#[test]
fn reproducible_scatter_lanes_u64_pairs_and_u32_words_give_the_cpu_bits() {
    if common::backend(detbench::backend::BackendKind::Wgpu).is_none() {
        eprintln!("no wgpu adapter: nothing to compare");
        return;
    }
    for (bins, dist) in CASES {
        let cpu = scatter("cpu", bins, dist, false, &format!("cpu-{bins}-{dist}.json"));
        assert_eq!(cpu.status, Status::Ok, "cpu {bins} {dist}: {}", cpu.message);
        let want = cpu.fingerprint.clone().expect("cpu fingerprint");
        for (no_pair, lanes) in [(false, "u64 word"), (true, "one u32 word per fold")] {
            let name = format!("wgpu-{bins}-{dist}-{no_pair}.json");
            let g = scatter("wgpu", bins, dist, no_pair, &name);
            assert_eq!(g.status, Status::Ok, "{name}: {}", g.message);
            assert!(g.message.contains(lanes), "{name}: message {:?}", g.message);
            assert_eq!(
                g.fingerprint.as_deref(),
                Some(want.as_str()),
                "{name}: bits differ from the CPU emulation"
            );
        }
    }
}
