//! `detbench reveal`: the revealed tree of every ordered reduction equals its documented
//! order (written out here from the module docs of src/ops/reduce, rows and matmul,
//! independently of the kernels) on the cpu emulation and on wgpu, across workgroup sizes; a reassociated WGSL
//! kernel is caught; atomics show no fixed order; binned and fixed-point sums are
//! order-free; NumPy's sum is its documented pairwise sum.

use crate::common;
use common::cli::{bin, check_bad_input};
use common::report::run_ok;
use detbench::backend::{Backend, BackendKind};
use detbench::numerics::Precision;
use detbench::ops::Op;
use detbench::reveal::probe::{Craft, Probe, Target};
use detbench::reveal::{reveal, tree, Tree};
use std::process::Command;

pub fn target(op: Op, variant: &str, p: Precision, n: usize, wg: u32) -> Target {
    Target {
        op,
        variant: variant.into(),
        mode: variant.into(),
        precision: p,
        accumulator: if matches!(p, Precision::F16 | Precision::Bf16) {
            Precision::F32
        } else {
            p
        },
        n,
        workgroup_size: wg,
        unpromised: Target::unpromised_internal(op, variant),
        elements: 1,
    }
}

/// `a + b` where either may be absent (a thread or workgroup with no inputs adds nothing).
fn add(a: Option<Tree>, b: Option<Tree>) -> Option<Tree> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Tree::node(vec![a, b])),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A chain in order: ((v0 + v1) + v2) + ...
fn chain(v: impl IntoIterator<Item = Option<Tree>>) -> Option<Tree> {
    v.into_iter().fold(None, add)
}

/// The workgroup tree of the module docs: stride wg/2, wg/4, ..., 1, slot l += slot l + s.
fn workgroup_tree(mut v: Vec<Option<Tree>>) -> Option<Tree> {
    let mut s = v.len() / 2;
    while s > 0 {
        for l in 0..s {
            v[l] = add(v[l].take(), v[l + s].take());
        }
        s /= 2;
    }
    v.swap_remove(0)
}

/// The documented order of the two-pass reductions (src/ops/reduce/mod.rs): pass 1 runs
/// ceil(n / wg) workgroups (at most 1024); thread t adds t, t + T, ... in order, then each
/// workgroup its pairwise tree; pass 2 is one workgroup, thread l adding partials l, l + wg,
/// ... in order, then the same tree.
pub fn documented_two_pass(n: usize, wg: usize) -> Tree {
    let groups = n.div_ceil(wg).clamp(1, 1024);
    let threads = groups * wg;
    let partials: Vec<Option<Tree>> = (0..groups)
        .map(|g| {
            workgroup_tree(
                (0..wg)
                    .map(|l| {
                        chain(
                            (g * wg + l..n)
                                .step_by(threads)
                                .map(|i| Some(Tree::Leaf(i))),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    let pass2 = (0..wg)
        .map(|l| chain((l..groups).step_by(wg).map(|g| partials[g].clone())))
        .collect();
    workgroup_tree(pass2).expect("n > 0").canonical()
}

fn revealed(
    b: &dyn Backend,
    t: &Target,
    cpu: Option<&dyn Backend>,
) -> detbench::reveal::RevealReport {
    reveal(t, b, 1, cpu).unwrap_or_else(|e| panic!("{t:?}: {e}"))
}

fn only_tree(r: &detbench::reveal::RevealReport) -> Tree {
    assert!(r.order_fixed, "{}", r.verdict);
    assert_eq!(r.trees.len(), 1, "{}", r.verdict);
    Tree::from_json(&r.trees[0].tree).expect("a tree")
}

#[test]
fn the_tree_variant_reveals_its_documented_order_on_cpu() {
    let cpu = common::backend(BackendKind::Cpu);
    // (n, wg): one workgroup, a partial one, several, and more workgroups than a
    // workgroup has threads (pass 2 chains partials l, l + wg).
    for (op, p, n, wg) in [
        (Op::Sum, Precision::F32, 100, 32),
        (Op::Sum, Precision::F32, 1100, 32),
        (Op::Sum, Precision::F64, 300, 64),
        (Op::Sum, Precision::Bf16, 256, 256),
        (Op::Dot, Precision::F32, 200, 64),
        (Op::Sum, Precision::F16, 16, 32),
    ] {
        let r = revealed(cpu.as_ref(), &target(op, "tree", p, n, wg), None);
        let got = only_tree(&r);
        let want = documented_two_pass(n, wg as usize);
        assert_eq!(
            got,
            want,
            "{op} {p} n={n} wg={wg}: {:?}",
            tree::first_difference(&want, &got)
        );
        assert_eq!(r.trees[0].fingerprint, want.fingerprint());
    }
}

/// Chains over consecutive chunks of 0..n, then the chunks' partials chained in order (a
/// partial added to +0 is itself): the documented order of a bin of `sort_segmented`
/// (src/ops/scatter/mod.rs), of the row passes (src/ops/rows/mod.rs) and of matmul's K
/// split (src/ops/matmul/mod.rs).
fn documented_chunks(chunks: &[usize]) -> Tree {
    let mut start = 0;
    let partials = chunks.iter().map(|&c| {
        let p = chain((start..start + c).map(|i| Some(Tree::Leaf(i))));
        start += c;
        p
    });
    chain(partials.collect::<Vec<_>>())
        .expect("n > 0")
        .canonical()
}

/// A scatter_add bin, conv's, row_sum's and matmul's K reductions: the revealed tree is the documented one on the cpu
/// emulation and on wgpu (and there matches the emulation). The chunk lengths follow each
/// family's stated rule: row_sum of one row of N splits into the largest power of two S <=
/// min(64, N / 64, 16) chunks of ceil(N / S) (split_by_batch) or ceil(N / 256) chunks
/// (batch_invariant); matmul's S is as big by K with one 16x16 tile, each chunk rounded up
/// to a multiple of 16; tiled is one chain.
#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time)"
)]
fn scatter_conv_row_sum_and_matmul_reveal_their_documented_order_on_cpu_and_wgpu() {
    let cpu = common::backend(BackendKind::Cpu);
    let gpu = common::backend(BackendKind::Wgpu);
    for (op, variant, n, chunks) in [
        // sort_segmented: chunks of the next power of two >= sqrt(n), at least 64, each a
        // chain from 0; a bin's pieces then added in chunk order.
        (Op::ScatterAdd, "sort_segmented", 200, vec![64, 64, 64, 8]),
        // conv's K reduction of one output element: direct and tiled are one chain each
        // (tiled's (r, s, c) order is c alone when R = S = 1); bwd_weight's N P Q split
        // is chunks of ceil(NPQ / 64) rounded up to 16, chained in chunk order.
        (Op::Conv2dFwd, "direct", 200, vec![200]),
        (Op::Conv2dFwd, "tiled", 200, vec![200]),
        (Op::Conv2dBwdData, "direct", 200, vec![200]),
        (Op::Conv2dBwdData, "tiled", 200, vec![200]),
        (
            Op::Conv2dBwdWeight,
            "deterministic",
            200,
            [vec![16; 12], vec![8]].concat(),
        ),
        (Op::RowSum, "split_by_batch", 200, vec![100, 100]),
        (Op::RowSum, "batch_invariant", 520, vec![174, 174, 172]),
        // mean runs row_sum's passes, then multiplies by fl(1/n): its sum has their tree.
        (Op::Mean, "split_by_batch", 200, vec![100, 100]),
        (Op::Mean, "batch_invariant", 520, vec![174, 174, 172]),
        (Op::Matmul, "tiled", 200, vec![200]),
        (Op::Matmul, "split_k_deterministic", 200, vec![112, 88]),
        (Op::Matmul, "batch_invariant", 520, vec![176, 176, 168]),
        // addmm: the K reduction of n - 1 terms as matmul's, then the bias (the last
        // input) added once after the last split partial.
        (Op::Addmm, "tiled", 201, vec![200, 1]),
        (Op::Addmm, "split_k_deterministic", 201, vec![112, 88, 1]),
    ] {
        let want = documented_chunks(&chunks);
        let t = target(op, variant, Precision::F32, n, 256);
        let on_cpu = only_tree(&revealed(cpu.as_ref(), &t, None));
        assert_eq!(
            on_cpu,
            want,
            "cpu {op} {variant} n={n}: {:?}",
            tree::first_difference(&want, &on_cpu)
        );
        let r = revealed(gpu.as_ref(), &t, Some(cpu.as_ref()));
        let on_gpu = only_tree(&r);
        assert_eq!(
            on_gpu,
            want,
            "wgpu {op} {variant} n={n}: {:?}",
            tree::first_difference(&want, &on_gpu)
        );
        let doc = r
            .documented
            .as_ref()
            .expect("compared with the cpu emulation");
        assert!(doc.matches, "{op} {variant}: {doc:?}");
    }
    // Atomic variants promise no order, however their runs agree; scatter's binned and
    // fixed-point sums are order-free.
    for (op, variant) in [
        (Op::Matmul, "split_k_atomic"),
        (Op::Conv2dBwdWeight, "atomic"),
        (Op::ScatterAdd, "atomic"),
        (Op::ScatterAdd, "privatized"),
    ] {
        let r = revealed(
            gpu.as_ref(),
            &target(op, variant, Precision::F32, 200, 256),
            Some(cpu.as_ref()),
        );
        assert!(
            !r.order_fixed && r.documented.is_none(),
            "{op} {variant}: {}",
            r.verdict
        );
    }
    for variant in ["fixed_point", "reproducible"] {
        let t = target(Op::ScatterAdd, variant, Precision::F32, 200, 256);
        for b in [cpu.as_ref(), gpu.as_ref()] {
            let r = revealed(b, &t, None);
            assert!(
                r.order_free && r.trees.is_empty(),
                "{variant}: {}",
                r.verdict
            );
        }
    }
    // `run --reveal` records no row_sum order (its probe is one row, the case is a batch):
    // a note says so.
    let out = run_ok(
        bin()
            .args(["run", "--op", "row_sum", "--backend", "cpu"])
            .args([
                "--variant",
                "split_by_batch",
                "--precision",
                "f32",
                "--runs",
                "1",
            ])
            .args(["--reveal", "--no-copy-baseline", "--quiet", "--json", "-"]),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let note = v["results"][0]["extra"]["order"]["note"]
        .as_str()
        .unwrap_or_default();
    assert!(
        note.starts_with("not recorded: reveal probes row_sum as one row"),
        "{v:#}"
    );
}

#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time)"
)]
fn the_tree_variant_reveals_its_documented_order_on_wgpu() {
    let gpu = common::backend(BackendKind::Wgpu);
    let cpu = common::backend(BackendKind::Cpu);
    // Sized for lavapipe: about n log n launches each.
    for (op, n, wg) in [(Op::Sum, 100, 32), (Op::Sum, 200, 64), (Op::Dot, 96, 128)] {
        let r = revealed(
            gpu.as_ref(),
            &target(op, "tree", Precision::F32, n, wg),
            Some(cpu.as_ref()),
        );
        let got = only_tree(&r);
        assert_eq!(
            got,
            documented_two_pass(n, wg as usize),
            "{op} n={n} wg={wg}"
        );
        let doc = r
            .documented
            .as_ref()
            .expect("compared with the cpu emulation");
        assert!(doc.matches && doc.first_difference.is_none(), "{doc:?}");
        assert!(
            r.verdict.contains("matches the documented order"),
            "{}",
            r.verdict
        );
    }
}

/// The tree kernel's specialised WGSL with its last tree levels (thread 0's, stride 8..1)
/// replaced by one chain: a reassociation a compiler or driver could make.
pub fn reassociate(src: &str) -> String {
    let from = "for (var s = TREE_K / 2u; s > 0u; s = s >> 1u) {";
    assert!(
        src.contains(from),
        "the tree kernel's last levels moved: update the patch"
    );
    src.replace(
        from,
        "for (var j = 1u; j < TREE_K; j++) { sh[0] = tree_op(sh[0], sh[j]); }\n\
         for (var s = 0u; s > 0u; s = s >> 1u) {",
    )
}

/// A reduction probe that runs a patched copy of the WGSL kernel.
pub struct Patched<'a> {
    pub backend: &'a detbench::backend::wgpu::WgpuBackend,
    pub target: Target,
    pub patch: fn(&str) -> String,
}

impl Probe for Patched<'_> {
    fn n(&self) -> usize {
        self.target.n
    }
    fn run(&mut self, terms: &[f64]) -> Result<f64, detbench::reveal::build::BuildError> {
        let y = (self.target.op == Op::Dot).then(|| vec![1.0; terms.len()]);
        self.launch(terms, y)
    }
    fn products(&self) -> bool {
        self.target.op == Op::Dot
    }
    fn run_products(
        &mut self,
        x: &[f64],
        y: &[f64],
    ) -> Result<f64, detbench::reveal::build::BuildError> {
        self.launch(x, Some(y.to_vec()))
    }
}

impl Patched<'_> {
    fn launch(
        &mut self,
        terms: &[f64],
        y: Option<Vec<f64>>,
    ) -> Result<f64, detbench::reveal::build::BuildError> {
        let prep = detbench::ops::reduce::prepare_values(&self.target.case(), terms.to_vec(), y)
            .expect("prepared");
        let detbench::ops::Job::Reduce(job) = &prep.job else {
            panic!("a reduction job")
        };
        let prof = detbench::ops::wgsl::Profile::of(self.backend);
        let set = detbench::ops::reduce::wgpu::run_patched(self.backend, job, prof, &self.patch)
            .map_err(|e| detbench::reveal::build::BuildError::Kernel(e.to_string()))?;
        Ok(set.outputs[0][0])
    }
}

#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time)"
)]
fn a_reassociated_wgsl_tree_is_caught_and_the_first_differing_subtree_named() {
    let gpu = common::backend(BackendKind::Wgpu);
    let cpu = common::backend(BackendKind::Cpu);
    let wgpu = common::wgpu_device(&gpu);
    let t = target(Op::Sum, "tree", Precision::F32, 64, 64);
    let craft = Craft::new(t.n, t.precision, t.accumulator).unwrap();
    let mut probe = Patched {
        backend: wgpu,
        target: t.clone(),
        patch: reassociate,
    };
    let got = detbench::reveal::tree_of(&mut probe, craft, None).expect("a tree");
    let want = only_tree(&revealed(cpu.as_ref(), &t, None));
    let d = tree::first_difference(&want, &got).expect("the patch is caught");
    // Thread 0's levels combine slots 0..16, which hold inputs l, l+16, l+32, l+48.
    assert_eq!(d.leaves, (0..64).collect::<Vec<_>>(), "{d}");
    assert!(d.revealed.starts_with("((((((((((((((("), "{d}");
    assert_ne!(got.fingerprint(), want.fingerprint());
}

#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time)"
)]
fn atomic_sum_on_wgpu_has_no_fixed_order_and_binned_sums_are_order_free() {
    let gpu = common::backend(BackendKind::Wgpu);
    let cpu = common::backend(BackendKind::Cpu);
    let r = reveal(
        &target(Op::Sum, "atomic", Precision::F32, 1024, 256),
        gpu.as_ref(),
        2,
        Some(cpu.as_ref()),
    )
    .expect("revealed");
    // Whether lavapipe's threads happened to keep one schedule over these runs is up to the
    // host's load; what must hold either way is that no fixed order is claimed.
    assert!(!r.order_fixed && !r.order_free, "{}", r.verdict);
    if r.trees.len() == 1 && r.unfit_runs == 0 {
        assert!(
            r.verdict.contains("accumulates with atomics"),
            "{}",
            r.verdict
        );
    }
    assert!(
        r.verdict.starts_with("the order is not fixed"),
        "{}",
        r.verdict
    );
    assert!(r.documented.is_none());
    for v in ["reproducible", "fixed_point"] {
        let r = reveal(
            &target(Op::Sum, v, Precision::F32, 64, 64),
            gpu.as_ref(),
            1,
            None,
        )
        .expect("revealed");
        assert!(r.order_free && r.trees.is_empty(), "{v}: {}", r.verdict);
        assert!(r.verdict.starts_with("order-free"), "{}", r.verdict);
    }
    // Kahan is exact on the crafted inputs, but not order-free: it must say it cannot tell.
    let r = reveal(
        &target(Op::Sum, "kahan", Precision::F32, 64, 64),
        gpu.as_ref(),
        1,
        None,
    )
    .expect("revealed");
    assert!(
        !r.revealable && !r.order_free && r.trees.is_empty(),
        "{}",
        r.verdict
    );
}

#[test]
fn binned_sums_are_order_free_and_kahan_unrevealable_on_cpu() {
    let cpu = common::backend(BackendKind::Cpu);
    for v in ["reproducible", "fixed_point"] {
        let r = reveal(
            &target(Op::Sum, v, Precision::F32, 64, 32),
            cpu.as_ref(),
            1,
            None,
        )
        .expect("revealed");
        assert!(r.order_free && r.trees.is_empty(), "{v}: {}", r.verdict);
    }
    let r = reveal(
        &target(Op::Sum, "kahan", Precision::F32, 64, 32),
        cpu.as_ref(),
        1,
        None,
    )
    .expect("revealed");
    assert!(!r.revealable && !r.order_free, "{}", r.verdict);
}

#[test]
fn reveal_json_is_one_tagged_object_and_bad_input_exits_2() {
    let out = run_ok(bin().args(["reveal", "--op", "sum", "--size", "8"]).args([
        "--workgroup-size",
        "32",
        "--json",
        "-",
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("only JSON on stdout");
    assert_eq!(v["schema"], "detbench.reveal.v1");
    // One workgroup of 32 threads, one input each: the tree of strides 16..1.
    assert_eq!(
        v["trees"][0]["tree"],
        serde_json::json!([[[0, 4], [2, 6]], [[1, 5], [3, 7]]])
    );
    assert_eq!(v["trees"][0]["runs"], 1);
    assert_eq!(v["order_free"], false);
    assert!(v["trees"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("ord1:"));
    for (args, says) in [
        (
            vec!["reveal", "--op", "log_softmax"],
            "every exp is positive, so no two crafted terms can cancel",
        ),
        (
            vec!["reveal", "--op", "sum", "--elements", "4"],
            "--elements 4",
        ),
        (
            vec!["reveal", "--precision", "f16", "--size", "64"],
            "up to n = 2^4",
        ),
        (vec!["reveal", "--variant", "nope"], "--variant nope"),
        (vec!["reveal", "--size", "1"], "--size 1"),
    ] {
        let out = bin().args(&args).output().expect("detbench runs");
        check_bad_input(&args, &out, says);
    }
}

/// NumPy's float32 sum of a contiguous array (numpy/_core/src/umath/loops_utils.h.src,
/// pairwise_sum): fewer than 8 terms in order; up to 128 terms, eight accumulators r[k]
/// adding k, k+8, ... in order, combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the
/// tail in order; above 128, the two halves (the first rounded down to a multiple of 8)
/// each summed so, then added.
fn numpy_pairwise(lo: usize, hi: usize) -> Option<Tree> {
    let n = hi - lo;
    let leaf = |i: usize| Some(Tree::Leaf(i));
    if n < 8 {
        chain((lo..hi).map(leaf))
    } else if n <= 128 {
        let blocks = n - n % 8;
        let r: Vec<Option<Tree>> = (0..8)
            .map(|k| chain((lo + k..lo + blocks).step_by(8).map(leaf)))
            .collect();
        let tree = add(
            add(
                add(r[0].clone(), r[1].clone()),
                add(r[2].clone(), r[3].clone()),
            ),
            add(
                add(r[4].clone(), r[5].clone()),
                add(r[6].clone(), r[7].clone()),
            ),
        );
        chain(std::iter::once(tree).chain((lo + blocks..hi).map(leaf)))
    } else {
        let half = n / 2;
        let half = half - half % 8;
        add(numpy_pairwise(lo, lo + half), numpy_pairwise(lo + half, hi))
    }
}

/// The numpy version whose sum order this test was checked against; another version must
/// be checked again (the test then fails and says so) before this pin moves.
const NUMPY_PINNED: &str = "2.4.6";

#[test]
#[cfg_attr(
    not(detbench_numpy),
    ignore = "needs numpy in $DETBENCH_PYTHON (none found at build time)"
)]
fn numpy_sum_reveals_its_documented_pairwise_order() {
    let python = crate::external::python();
    let adapter = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/numpy.toml");
    // n = 27: three full blocks of eight accumulators and a tail of three (about 60 calls).
    let out = Command::new(env!("CARGO_BIN_EXE_detbench"))
        .args([
            "reveal",
            "--external",
            adapter.to_str().unwrap(),
            "--op",
            "sum",
        ])
        .args(["--variant", "ordered", "--size", "27", "--json", "-"])
        .env("DETBENCH_PYTHON", &python)
        .output()
        .expect("detbench runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = Command::new(&python)
        .args(["-c", "import numpy; print(numpy.__version__)"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    assert_eq!(
        version, NUMPY_PINNED,
        "numpy {version}: check its sum order against numpy_pairwise and move the pin"
    );
    let got = Tree::from_json(&v["trees"][0]["tree"]).expect("a tree");
    let want = numpy_pairwise(0, 27).unwrap().canonical();
    assert_eq!(got, want, "{:?}", tree::first_difference(&want, &got));
    assert_eq!(v["order_fixed"], true);
    // The model's recursion above 128 terms, checked on the model itself: halves of 64|72.
    let big = numpy_pairwise(0, 136).unwrap();
    let Tree::Node(c) = &big else { panic!() };
    assert_eq!(c[0].leaves().len(), 64);
}

/// `merge` groups devices by the order `run --reveal` recorded: cpu and lavapipe share the
/// tree's order; with one report's fingerprint changed, two order groups.
#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time)"
)]
fn merge_groups_devices_by_their_recorded_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = |b: &str| dir.path().join(format!("{b}.json"));
    for b in ["cpu", "wgpu"] {
        run_ok(
            bin()
                .args(["run", "--op", "sum", "--backend", b, "--variant", "tree"])
                .args(["--precision", "f32", "--size", "1000", "--runs", "2"])
                .args(["--reveal", "--no-copy-baseline", "--quiet", "--json"])
                .arg(path(b)),
        );
    }
    let merged = |b: &std::path::Path| {
        let out = run_ok(
            bin()
                .args(["merge", "--format", "json"])
                .arg(path("cpu"))
                .arg(b),
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("cpu")).unwrap()).unwrap();
    let fp = v["results"][0]["extra"]["order"]["fingerprint"]
        .as_str()
        .expect("recorded")
        .to_string();
    let one = merged(&path("wgpu"));
    assert!(one.contains(&format!("{fp} (n=256): cpu:")), "{one}");
    assert_eq!(one.matches("(n=256)").count(), 1, "{one}");
    let mut w: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("wgpu")).unwrap()).unwrap();
    w["results"][0]["extra"]["order"]["fingerprint"] = "ord1:0000000000000000".into();
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_vec(&w).unwrap()).unwrap();
    let two = merged(&edited);
    assert_eq!(two.matches("(n=256)").count(), 2, "{two}");
    assert!(
        two.contains("ord1:0000000000000000 (n=256): wgpu:"),
        "{two}"
    );
}
