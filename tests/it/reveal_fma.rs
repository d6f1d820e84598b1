//! FMA contraction as its own node kind: the dot `tree` kernel's fused step
//! (`Arith::dot_step`, common.wgsl's `fma32`) shows as fma nodes where a thread chains two
//! products, on the cpu emulation and on wgpu alike; the same WGSL kernel with its step
//! split into a rounded product and an add shows plain nodes; the GEMM families' step is
//! never fused (src/shared/gemm.rs), and reveals plain nodes.

use crate::common;
use crate::reveal::{documented_two_pass, target, Patched};
use crate::reveal_check::unfuse;
use detbench::backend::{Backend, BackendKind};
use detbench::numerics::Precision;
use detbench::ops::Op;
use detbench::reveal::fusion::{fuse_where, FusionCraft};
use detbench::reveal::probe::{self, Probe};
use detbench::reveal::{reveal, tree, Tree};

/// The `tree` dot chains inputs t and t + T in thread t only when n exceeds its T = 1024
/// workgroups' threads; with workgroups of 32, T = 32768 and n = 32800 chains 32 threads.
const N: usize = 32_800;
const WG: u32 = 32;
const THREADS: usize = 32_768;

/// The documented dot tree at [`N`]: the two-pass grouping, and in each thread that adds
/// two products the second fused onto the first (the first meets +0, where fused and
/// rounded agree).
fn documented_fused() -> Tree {
    documented_two_pass(N, WG as usize).with_fused(&(THREADS..N).collect::<Vec<_>>())
}

/// The inputs asked (a reveal of every pair at this n would take about n log n launches):
/// every chained thread's two inputs, and single inputs across the workgroups.
fn asked(i: usize) -> bool {
    !(32..THREADS).contains(&i) || [40, 1000, 20_000, 32_767].contains(&i)
}

fn fused_tree(p: &mut dyn Probe) -> Tree {
    let f = FusionCraft::new(Precision::F32, Precision::F32).expect("f32 products round");
    fuse_where(&documented_two_pass(N, WG as usize), p, f, &asked, &mut 0)
        .expect("every asked step is fused or rounded")
        .canonical()
}

#[test]
fn the_cpu_dot_tree_fuses_each_chained_product() {
    let cpu = common::backend(BackendKind::Cpu);
    let t = target(Op::Dot, "tree", Precision::F32, N, WG);
    let mut p = probe::probe(t, cpu.as_ref()).expect("dot is probed");
    let got = fused_tree(p.as_mut());
    let want = documented_fused();
    assert_eq!(got, want, "{:?}", tree::first_difference(&want, &got));
    assert_eq!(got.fused(), (THREADS..N).collect::<Vec<_>>());
    assert!(
        got.text().contains("fma(32768,0)"),
        "{}",
        tree::shorten(&got.text())
    );
    assert_ne!(got.fingerprint(), got.unfused().fingerprint());
}

/// The GEMM step rounds each product (src/shared/gemm.rs): its products are probed, and
/// none shows as fused.
fn assert_plain(r: &detbench::reveal::RevealReport) {
    assert!(r.order_fixed, "{}", r.verdict);
    let note = r.fusion.as_deref().unwrap_or_default();
    assert!(note.starts_with("each product probed"), "{note}");
    assert!(r.trees[0].fused.is_empty() && !r.trees[0].text.contains("fma("));
}

#[test]
fn matmul_and_conv_reveal_plain_nodes_on_cpu() {
    let cpu = common::backend(BackendKind::Cpu);
    for (op, v) in [(Op::Matmul, "tiled"), (Op::Conv2dFwd, "direct")] {
        assert_plain(
            &reveal(
                &target(op, v, Precision::F32, 40, 64),
                cpu.as_ref(),
                1,
                None,
            )
            .unwrap(),
        );
    }
    // f32 products are exact in an f64 accumulator: fusion is not asked, and it says why.
    let mut t = target(Op::Dot, "tree", Precision::F32, 16, 32);
    t.accumulator = Precision::F64;
    let r = reveal(&t, cpu.as_ref(), 1, None).unwrap();
    let note = r.fusion.unwrap_or_default();
    assert!(
        note.starts_with("not probed") && note.contains("is exact in the f64"),
        "{note}"
    );
}

#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time)"
)]
fn wgpu_dot_fuses_as_the_cpu_does_and_an_unfused_patch_shows_plain_nodes() {
    let gpu = common::backend(BackendKind::Wgpu);
    let cpu = common::backend(BackendKind::Cpu);
    let wgpu = common::wgpu_device(&gpu);
    let t = target(Op::Dot, "tree", Precision::F32, N, WG);
    let mut real = Patched {
        backend: wgpu,
        target: t.clone(),
        patch: |s| s.to_string(),
    };
    let want = documented_fused();
    let got = fused_tree(&mut real);
    assert_eq!(got, want, "{:?}", tree::first_difference(&want, &got));
    let mut split = Patched {
        backend: wgpu,
        target: t,
        patch: unfuse,
    };
    let plain = fused_tree(&mut split);
    assert_eq!(plain, documented_two_pass(N, WG as usize));
    // The comparison names the first fma node the patch lost.
    let d = tree::first_difference(&want, &plain).expect("fusion differs");
    assert!(
        d.expected.starts_with("fma(") && !d.revealed.contains("fma("),
        "{d}"
    );
    // The GEMM step is unfused on wgpu too, and matches the cpu emulation.
    let r = reveal(
        &target(Op::Matmul, "tiled", Precision::F32, 40, 64),
        gpu.as_ref(),
        1,
        Some(cpu.as_ref() as &dyn Backend),
    )
    .unwrap();
    assert_plain(&r);
    assert!(
        r.documented.as_ref().is_some_and(|d| d.matches),
        "{}",
        r.verdict
    );
}
