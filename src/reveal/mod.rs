//! `detbench reveal`: the order in which a kernel combined its inputs, recovered from
//! crafted inputs after FPRev (Xie et al., USENIX ATC'25). See docs/reveal.md.
//!
//! - [`tree`]: the tree, its canonical form, texts and fingerprint;
//! - [`build`]: the tree from pair queries;
//! - [`fusion`]: which products a step fused (fma nodes);
//! - [`elements`]: whether the order varies across output elements;
//! - [`probe`]: the crafted inputs and the kernels they run through;
//! - [`explain`]: `check`'s reading of a changed fingerprint;
//! - [`record`]: `run --reveal`'s order fingerprint per row;
//! - [`view`]: the result as a [`crate::report::view::Document`] and an SVG;
//! - [`command`]: the command line.

pub mod build;
pub mod command;
pub mod elements;
pub mod explain;
pub mod fusion;
pub mod probe;
pub mod record;
pub mod tree;
pub mod view;

use crate::backend::Backend;
use crate::error::DetError;
use build::{BuildError, Builder};
use probe::{Craft, ProbeOracle, Target};
use serde::{Deserialize, Serialize};
pub use tree::Tree;

/// Schema tag of `reveal --json`.
pub const SCHEMA: &str = "detbench.reveal.v1";

/// One distinct tree and how many runs revealed it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct SeenTree {
    /// Nested arrays whose leaves are input indices (`[[0,1],[2,3]]`); a node with more
    /// than two children is a group whose inner order the inputs could not tell apart.
    pub tree: serde_json::Value,
    /// Runs that revealed this tree.
    pub runs: usize,
    /// Canonical order fingerprint (`ord1:` + 16 hex digits): equal exactly for equal trees.
    pub fingerprint: String,
    /// The tree as nested parentheses, e.g. `((0+1)+(2+3))`; a fused multiply-add is
    /// `fma(i,rest)`: input i's product added to `rest` with one rounding.
    pub text: String,
    /// The inputs whose product entered its first addition unrounded (a fused multiply-add
    /// at its parent in `tree`); absent when none did or the products were not probed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fused: Vec<usize>,
    /// Longest chain of additions from an input to the result.
    pub depth: usize,
}

/// The revealed tree against the order the CPU backend emulates for the same variant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Documented {
    /// Where the documented order comes from (`cpu emulation`).
    pub source: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// Whether every revealed tree is that order.
    pub matches: bool,
    /// The first subtree where a revealed tree departs from it (absent when it matches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_difference: Option<DifferenceJson>,
}

/// [`tree::Difference`] as JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct DifferenceJson {
    /// The inputs of the first differing subtree.
    pub leaves: Vec<usize>,
    /// That subtree in the documented order (nested parentheses).
    pub expected: String,
    /// The same inputs as revealed.
    pub revealed: String,
}

/// What `reveal --json` prints (`detbench.reveal.v1`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct RevealReport {
    /// Always `detbench.reveal.v1`.
    pub schema: String,
    pub op: String,
    /// The variant (an adapter's mode for the external backend).
    pub variant: String,
    pub backend: String,
    pub device: String,
    pub precision: String,
    pub accumulator: String,
    /// Inputs of the reduction.
    pub n: usize,
    pub workgroup_size: u32,
    /// Reveals made (each a full set of queries).
    pub runs: usize,
    /// Kernel launches, all runs together.
    pub queries: usize,
    /// The crafted magnitudes: +-big at two inputs, unit elsewhere.
    pub big: f64,
    pub unit: f64,
    /// False when the kernel's arithmetic hides its order from crafted inputs (a
    /// compensated sum): then `verdict` says why, and `trees` is empty.
    pub revealable: bool,
    /// True when the result does not depend on the order: every crafted input gave the
    /// exact sum. Then `trees` is empty.
    pub order_free: bool,
    /// True when every run revealed the same single tree and the variant promises one
    /// order: never for a variant that accumulates with atomics, or an adapter mode not
    /// declared deterministic, however often its runs agreed.
    pub order_fixed: bool,
    /// For an op whose inputs are products (dot, matmul, conv): whether each step was
    /// probed for a fused multiply-add, or why it could not be. Absent for other ops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fusion: Option<String>,
    /// One entry per distinct tree, most frequent first.
    pub trees: Vec<SeenTree>,
    /// Runs whose answers fit no single tree (the order changed between the run's
    /// launches, or the arithmetic is not a tree of rounded additions).
    pub unfit_runs: usize,
    /// Why the first such run fit no tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfit_reason: Option<String>,
    /// With several probed output elements (`--elements`): whether they share element 0's
    /// order, and each one that does not. Absent for one element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elements: Option<elements::Elements>,
    /// The comparison with the order the CPU backend emulates, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documented: Option<Documented>,
    /// One sentence: what was found.
    pub verdict: String,
}

/// What one run of queries found.
enum RunResult {
    /// The tree of element 0, and how the other probed elements compare (several only).
    Tree(Tree, Option<elements::Elements>),
    OrderFree,
    Unfit(String),
    /// The kernel's arithmetic hides its order from these inputs (why).
    Hidden(String),
}

/// One run: every query of one reveal.
fn reveal_once(
    target: &Target,
    backend: &dyn Backend,
    craft: Craft,
    queries: &mut usize,
) -> Result<RunResult, DetError> {
    let mut probe = probe::probe(target.clone(), backend)?;
    let mut oracle = elements::Recording {
        probe: probe.as_mut(),
        craft,
        element: 0,
        answers: Vec::new(),
    };
    let (r, asked, exact) = {
        let mut b = Builder::new(&mut oracle);
        let r = b.tree();
        (r, b.queries, b.exact)
    };
    let answers = std::mem::take(&mut oracle.answers);
    *queries += asked;
    let others = (target.elements > 1 && r.is_ok())
        .then(|| elements::compare(&answers, probe.as_mut(), craft, queries));
    let fusion = fusion::FusionCraft::new(target.precision, target.accumulator).ok();
    let r = match (r, fusion) {
        (Ok(t), Some(f)) if probe.products() => {
            fusion::fuse(&t.canonical(), probe.as_mut(), f, queries)
        }
        (r, _) => r,
    };
    match r {
        Ok(t) => Ok(RunResult::Tree(t.canonical(), others)),
        Err(BuildError::Inconsistent(_)) if asked > 0 && exact == asked => {
            *queries += PERMUTATIONS + 1;
            permutation_check(target, probe.as_mut())
        }
        Err(BuildError::Inconsistent(m)) => Ok(RunResult::Unfit(m)),
        Err(BuildError::Kernel(m)) => Err(DetError::input(format!(
            "cannot reveal {} {} on {}: {m}",
            target.op,
            target.mode,
            backend.info().name
        ))),
    }
}

/// The tree of one probe, from one full set of queries (no order-free or repeat logic):
/// for a caller with its own [`probe::Probe`] (a patched kernel in a test). With `fusion`
/// and a probe of products, fused steps are fma nodes.
pub fn tree_of(
    probe: &mut dyn probe::Probe,
    craft: Craft,
    fusion: Option<fusion::FusionCraft>,
) -> Result<Tree, BuildError> {
    let t = {
        let mut oracle = ProbeOracle {
            probe: &mut *probe,
            craft,
        };
        Builder::new(&mut oracle).tree()?.canonical()
    };
    match fusion {
        Some(f) if probe.products() => fusion::fuse(&t, probe, f, &mut 0).map(Tree::canonical),
        _ => Ok(t),
    }
}

/// [`RevealReport::fusion`] for `target`.
fn fusion_note(target: &Target) -> Option<String> {
    if !probe::has_products(target.op) {
        return None;
    }
    Some(
        match fusion::FusionCraft::new(target.precision, target.accumulator) {
            Ok(_) => "each product probed: a fused multiply-add shows as fma(i,rest)".into(),
            Err(m) => format!("not probed: {m}"),
        },
    )
}

/// Permutations of random inputs tried before a kernel that gave the exact sum for every
/// crafted input is called order-free.
pub const PERMUTATIONS: usize = 6;

/// A kernel that summed every crafted input exactly is order-free only if its result on
/// random wide-range inputs keeps its bits under [`PERMUTATIONS`] random permutations: a
/// compensated sum (Kahan) is exact on the crafted inputs too, but not order-free.
fn permutation_check(target: &Target, probe: &mut dyn probe::Probe) -> Result<RunResult, DetError> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let fail = |m: BuildError| DetError::input(format!("cannot reveal {}: {m}", target.op));
    let x = crate::inputs::draw(
        &crate::inputs::InputSpec::IllConditioned(1e12),
        target.precision,
        target.n,
        7,
        0,
    )?;
    let first = probe.run(&x).map_err(fail)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..PERMUTATIONS {
        let mut p = x.clone();
        p.shuffle(&mut rng);
        let r = probe.run(&p).map_err(fail)?;
        if r.to_bits() != first.to_bits() {
            return Ok(RunResult::Hidden(format!(
                "every crafted input gave the exact sum, yet permuting an ill-conditioned input \
                 changed the result ({first:e} -> {r:e}): the kernel carries its rounding \
                 errors along (compensated summation), so its tree cannot be read from these \
                 inputs, and it is not order-free"
            )));
        }
    }
    Ok(RunResult::OrderFree)
}

/// Reveals `target` on `backend` `runs` times; with `cpu`, compares the trees with the
/// order the CPU backend emulates for the same variant and launch.
pub fn reveal(
    target: &Target,
    backend: &dyn Backend,
    runs: usize,
    cpu: Option<&dyn Backend>,
) -> Result<RevealReport, DetError> {
    let craft = Craft::new(target.n, target.precision, target.accumulator).map_err(|m| {
        DetError::input(format!(
            "cannot reveal {} at n = {}: {m}",
            target.op, target.n
        ))
    })?;
    let mut queries = 0;
    let mut seen: Vec<(Tree, usize)> = Vec::new();
    let mut per_element: Option<elements::Elements> = None;
    let (mut free, mut unfit, mut unfit_reason) = (0, 0, None);
    let mut hidden: Option<String> = None;
    let mut made = 0;
    for _ in 0..runs.max(1) {
        made += 1;
        if crate::interrupt::interrupted() {
            return Err(DetError::input("interrupted"));
        }
        match reveal_once(target, backend, craft, &mut queries)? {
            RunResult::Tree(t, others) => {
                // The first run's comparison is reported; a later run whose elements
                // compare otherwise has another order, and shows as another tree or unfit.
                per_element = per_element.or(others);
                match seen.iter_mut().find(|(s, _)| *s == t) {
                    Some((_, k)) => *k += 1,
                    None => seen.push((t, 1)),
                }
            }
            RunResult::OrderFree => free += 1,
            RunResult::Unfit(m) => {
                unfit += 1;
                unfit_reason.get_or_insert(m);
            }
            RunResult::Hidden(m) => {
                hidden = Some(m);
                break;
            }
        }
    }
    seen.sort_by_key(|s| std::cmp::Reverse(s.1));
    let runs = made;
    let order_free = free == runs;
    // An atomic variant's runs can agree by chance (a lightly loaded device schedules its
    // work groups in the same order): one tree then says nothing about the next run.
    let one_tree = seen.len() == 1 && unfit == 0 && free == 0;
    let order_fixed = one_tree && target.unpromised.is_none();
    let documented = match cpu {
        // A variant whose order changes has no documented order to compare with; a cpu
        // that cannot run the variant (no float atomics) has none either.
        Some(cpu) if order_fixed => {
            let mut q = 0;
            match reveal_once(target, cpu, craft, &mut q) {
                Ok(RunResult::Tree(doc, _)) => {
                    let diff = seen
                        .iter()
                        .find_map(|(t, _)| tree::first_difference(&doc, t));
                    Some(Documented {
                        source: "cpu emulation".into(),
                        fingerprint: doc.fingerprint(),
                        matches: diff.is_none(),
                        first_difference: diff.map(|d| DifferenceJson {
                            leaves: d.leaves,
                            expected: d.expected,
                            revealed: d.revealed,
                        }),
                    })
                }
                _ => None,
            }
        }
        _ => None,
    };
    let verdict = match &hidden {
        Some(m) => format!("the order cannot be revealed from crafted inputs: {m}"),
        None if one_tree && target.unpromised.is_some() => format!(
            "the order is not fixed: {}, so the one tree its {runs} run(s) showed was this \
             time's schedule, not a promise (more --runs may show others)",
            target.unpromised.as_deref().unwrap_or_default()
        ),
        None => verdict(
            order_free,
            order_fixed,
            &seen,
            free,
            unfit,
            runs,
            documented.as_ref(),
        ),
    };
    let verdict = match &per_element {
        Some(e) if !seen.is_empty() => format!("{verdict}; {}", e.sentence()),
        _ => verdict,
    };
    Ok(RevealReport {
        schema: SCHEMA.into(),
        op: target.op.name().into(),
        variant: target.mode.clone(),
        backend: backend.kind().name().into(),
        device: backend.info().name.clone(),
        precision: target.precision.name().into(),
        accumulator: target.accumulator.name().into(),
        n: target.n,
        workgroup_size: target.workgroup_size,
        runs,
        queries,
        big: craft.big,
        unit: craft.unit,
        revealable: hidden.is_none(),
        order_free,
        order_fixed,
        fusion: fusion_note(target),
        trees: seen
            .iter()
            .map(|(t, k)| SeenTree {
                tree: t.json(),
                runs: *k,
                fingerprint: t.fingerprint(),
                text: t.text(),
                fused: t.fused(),
                depth: t.depth(),
            })
            .collect(),
        unfit_runs: unfit,
        unfit_reason,
        elements: per_element,
        documented,
        verdict,
    })
}

fn verdict(
    order_free: bool,
    order_fixed: bool,
    seen: &[(Tree, usize)],
    free: usize,
    unfit: usize,
    runs: usize,
    documented: Option<&Documented>,
) -> String {
    if order_free {
        return "order-free: every crafted input gave the exact sum, so the result does not \
                depend on the order (no tree to show)"
            .into();
    }
    if !order_fixed {
        let mut parts = Vec::new();
        match seen.len() {
            0 => {}
            1 => parts.push("1 tree".into()),
            k => parts.push(format!("{k} distinct trees")),
        }
        if unfit > 0 {
            parts.push(format!("{unfit} run(s) whose answers fit no single tree"));
        }
        if free > 0 {
            parts.push(format!("{free} run(s) with the exact sum throughout"));
        }
        return format!(
            "the order is not fixed: over {runs} runs, {}",
            parts.join(", ")
        );
    }
    match documented {
        Some(d) if d.matches => "one tree in every run; it matches the documented order".into(),
        Some(d) => format!(
            "one tree in every run; it differs from the documented order, first {}",
            d.first_difference
                .as_ref()
                .map(|x| tree::Difference {
                    leaves: x.leaves.clone(),
                    expected: x.expected.clone(),
                    revealed: x.revealed.clone(),
                }
                .to_string())
                .unwrap_or_default()
        ),
        None => "one tree in every run".into(),
    }
}

/// The JSON Schema of [`RevealReport`] (docs/reveal.schema.json).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RevealReport)).expect("a JSON Schema serialises")
}
