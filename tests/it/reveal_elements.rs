//! Whether the order varies across output elements: every probed element reduces the same
//! terms in one launch. matmul's rows and row_sum's rows share one order; scatter_add's
//! interleaved bins under `sort_segmented` do not: the sorted values are cut into chunks at
//! fixed positions, so each bin's run is cut where its own offset falls (written out here
//! from src/ops/scatter's documented chunking), on the cpu emulation and on wgpu alike.

use crate::common;
use crate::reveal::target;
use detbench::backend::{Backend, BackendKind};
use detbench::numerics::Precision;
use detbench::ops::Op;
use detbench::reveal::{reveal, Tree};

/// Bin b's tree when `bins` bins of `n` values each are sorted by bin (bin b's run at
/// b * n) and cut into chunks of `chunk`: a chain per piece, the pieces chained in order.
fn scatter_bin(b: usize, n: usize, chunk: usize) -> Tree {
    let (lo, hi) = (b * n, (b + 1) * n);
    let mut pieces = Vec::new();
    let mut start = lo;
    while start < hi {
        let end = ((start / chunk + 1) * chunk).min(hi);
        pieces.push((start - lo..end - lo).fold(None, |acc: Option<Tree>, i| {
            Some(acc.map_or(Tree::Leaf(i), |a| Tree::node(vec![a, Tree::Leaf(i)])))
        }));
        start = end;
    }
    pieces
        .into_iter()
        .flatten()
        .reduce(|a, p| Tree::node(vec![a, p]))
        .expect("n > 0")
        .canonical()
}

fn with_elements(op: Op, v: &str, n: usize, e: usize) -> detbench::reveal::probe::Target {
    let mut t = target(op, v, Precision::F32, n, 256);
    t.elements = e;
    t
}

fn check_backend(b: &dyn Backend, cpu: Option<&dyn Backend>) {
    for (op, v) in [
        (Op::Matmul, "split_k_deterministic"),
        (Op::Matmul, "tiled"),
        (Op::RowSum, "split_by_batch"),
        (Op::Conv2dFwd, "direct"),
    ] {
        let r = reveal(&with_elements(op, v, 200, 20), b, 1, cpu).unwrap();
        let e = r.elements.as_ref().expect("several elements probed");
        assert!(e.same && e.probed == 20, "{op} {v}: {}", r.verdict);
        assert!(r
            .verdict
            .contains("the same order for every probed element"));
        if cpu.is_some() {
            assert!(
                r.documented.as_ref().is_some_and(|d| d.matches),
                "{}",
                r.verdict
            );
        }
    }
    // 20 bins of 200: 4000 values, chunks of 64 (the power of two >= sqrt(4000)).
    let (n, bins, chunk) = (200, 20, 64);
    let r = reveal(
        &with_elements(Op::ScatterAdd, "sort_segmented", n, bins),
        b,
        1,
        cpu,
    )
    .unwrap();
    let got0 = Tree::from_json(&r.trees[0].tree).unwrap();
    assert_eq!(got0, scatter_bin(0, n, chunk));
    let e = r.elements.as_ref().expect("several bins probed");
    assert!(!e.same, "{}", r.verdict);
    for bin in 1..bins {
        let want = scatter_bin(bin, n, chunk);
        let listed = e.differing.iter().find(|d| d.element == bin);
        match listed {
            Some(d) => assert_eq!(
                d.fingerprint.as_deref(),
                Some(want.fingerprint().as_str()),
                "bin {bin}: {}",
                d.text
            ),
            None => assert_eq!(want, got0, "bin {bin} was called the same as bin 0"),
        }
    }
}

#[test]
fn elements_share_or_differ_in_order_as_documented_on_cpu() {
    let cpu = common::backend(BackendKind::Cpu);
    check_backend(cpu.as_ref(), None);
}

#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time)"
)]
fn elements_share_or_differ_in_order_as_documented_on_wgpu() {
    let gpu = common::backend(BackendKind::Wgpu);
    let cpu = common::backend(BackendKind::Cpu);
    check_backend(gpu.as_ref(), Some(cpu.as_ref()));
}
