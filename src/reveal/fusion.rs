//! Whether each product entered its first addition unrounded: FMA contraction as its own
//! node kind ([`Tree::Fma`]).
//!
//! Pair queries set every product's second operand to 1, so a product is exact and a fused
//! step cannot be told from a rounded one there. Once the grouping is known, input i's
//! parent is its product added to one other subtree S. One more launch per input tells the
//! two apart: x_i = y_i = 1 + 2^-k, whose exact product 1 + 2^(1-k) + 2^-2k needs 2k + 1
//! bits, more than the accumulator's p (2k > p, so it is also no tie); one input of S has
//! the product -1 and every other input 0, so S is exactly -1 and every addition outside
//! the parent adds zeros. A step that rounds the product first gives
//! fl(1 + 2^(1-k)) - 1 = 2^(1-k) (exact, Sterbenz); a fused step gives
//! 2^(1-k) + 2^-2k, which k + 2 <= p bits hold. Any other result is neither, and says so.

use super::build::BuildError;
use super::probe::Probe;
use super::tree::Tree;
use crate::numerics::Precision;

/// The operand 1 + 2^-k of each probed product.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FusionCraft {
    pub k: i32,
}

impl FusionCraft {
    /// The k for `input` operands and an `acc` accumulator; Err says why the product of two
    /// inputs is exact in the accumulator (then fusing changes no bit, and cannot be seen).
    pub fn new(input: Precision, acc: Precision) -> Result<FusionCraft, String> {
        let (p_in, p_acc) = (input.mantissa_bits() as i32, acc.mantissa_bits() as i32);
        let k = p_acc / 2 + 1;
        if k > p_in - 1 {
            return Err(format!(
                "the product of two {input} inputs ({p_in}-bit significands) is exact in the \
                 {acc} accumulator ({p_acc} bits), so a fused step gives the same bits as a \
                 rounded one: fusion cannot be seen, and changes nothing"
            ));
        }
        Ok(FusionCraft { k })
    }

    /// 1 + 2^-k.
    pub fn operand(&self) -> f64 {
        1.0 + libm::ldexp(1.0, -self.k)
    }
    /// The parent's result when the product is rounded first.
    pub fn rounded(&self) -> f64 {
        libm::ldexp(1.0, 1 - self.k)
    }
    /// The parent's result when it is fused.
    pub fn fused(&self) -> f64 {
        libm::ldexp(1.0, 1 - self.k) + libm::ldexp(1.0, -2 * self.k)
    }
}

/// For each input, its sibling subtree's first input, where its parent has two children
/// (a group of more hides which addition the product entered first).
fn siblings(t: &Tree, out: &mut Vec<(usize, usize)>) {
    let c = t.children();
    if let [a, b] = c.as_slice() {
        for (x, other) in [(a, b), (b, a)] {
            if let Tree::Leaf(i) = x {
                out.push((*i, other.first_leaf()));
            }
        }
    }
    c.iter().for_each(|c| siblings(c, out));
}

/// `tree` (the grouping, from pair queries) with each product that the kernel fused made an
/// fma node; `queries` counts the launches (one per input).
pub fn fuse(
    tree: &Tree,
    probe: &mut dyn Probe,
    craft: FusionCraft,
    queries: &mut usize,
) -> Result<Tree, BuildError> {
    fuse_where(tree, probe, craft, &|_| true, queries)
}

/// [`fuse`] asking only the inputs `ask` selects (the others are read as rounded): for a
/// tree too large to ask every input of, whose grouping is known.
pub fn fuse_where(
    tree: &Tree,
    probe: &mut dyn Probe,
    craft: FusionCraft,
    ask: &dyn Fn(usize) -> bool,
    queries: &mut usize,
) -> Result<Tree, BuildError> {
    let n = probe.n();
    let mut pairs = Vec::new();
    siblings(&tree.unfused(), &mut pairs);
    let mut fused = Vec::new();
    for (i, s) in pairs.into_iter().filter(|&(i, _)| ask(i)) {
        let mut x = vec![0.0; n];
        let mut y = vec![1.0; n];
        x[i] = craft.operand();
        y[i] = craft.operand();
        x[s] = -1.0;
        let r = probe.run_products(&x, &y)?;
        *queries += 1;
        if r == craft.fused() {
            fused.push(i);
        } else if r != craft.rounded() {
            return Err(BuildError::Inconsistent(format!(
                "with input {i}'s product (1 + 2^-{k})^2 added to -1 from input {s}, the \
                 kernel returned {r:e}: neither the fused step ({:e}) nor the rounded one \
                 ({:e})",
                craft.fused(),
                craft.rounded(),
                k = craft.k
            )));
        }
    }
    Ok(tree.with_fused(&fused))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sequential f32 dot chain, fused (`mul_add`) or with the product rounded first.
    struct Chain {
        n: usize,
        fma: bool,
    }
    impl Probe for Chain {
        fn n(&self) -> usize {
            self.n
        }
        fn run(&mut self, terms: &[f64]) -> Result<f64, BuildError> {
            self.run_products(terms, &vec![1.0; terms.len()])
        }
        fn products(&self) -> bool {
            true
        }
        fn run_products(&mut self, x: &[f64], y: &[f64]) -> Result<f64, BuildError> {
            let mut acc = 0.0f32;
            for (&a, &b) in x.iter().zip(y) {
                let (a, b) = (a as f32, b as f32);
                acc = if self.fma {
                    a.mul_add(b, acc)
                } else {
                    acc + std::hint::black_box(a * b)
                };
            }
            Ok(acc as f64)
        }
    }

    #[test]
    fn a_fused_chain_reveals_fma_nodes_and_a_rounded_one_plain_nodes() {
        let craft = super::super::probe::Craft::new(6, Precision::F32, Precision::F32).unwrap();
        let f = FusionCraft::new(Precision::F32, Precision::F32).ok();
        let fused = super::super::tree_of(&mut Chain { n: 6, fma: true }, craft, f).unwrap();
        // The first product meets +0: fused or not, the same bits, so it reads as rounded.
        assert_eq!(fused.text(), "fma(5,fma(4,fma(3,fma(2,fma(1,0)))))");
        let plain = super::super::tree_of(&mut Chain { n: 6, fma: false }, craft, f).unwrap();
        assert_eq!(plain.text(), "(((((0+1)+2)+3)+4)+5)");
        assert_eq!(fused.unfused(), plain);
        assert!(plain.fused().is_empty());
    }

    #[test]
    fn the_crafted_product_tells_a_fused_step_from_a_rounded_one() {
        for p in [Precision::F32, Precision::F64] {
            let c = FusionCraft::new(p, p).unwrap();
            let a = c.operand();
            assert_eq!(p.round(a), a);
            let exact = a * a; // exact in f64 for f32; checked by the f64 fma below
            let rounded = p.round(p.round(exact) - 1.0);
            let fused = match p {
                Precision::F64 => a.mul_add(a, -1.0),
                _ => p.round(exact - 1.0),
            };
            assert_eq!(rounded, c.rounded(), "{p}");
            assert_eq!(fused, c.fused(), "{p}");
            assert_ne!(c.rounded(), c.fused());
        }
        for (i, a) in [
            (Precision::Bf16, Precision::F32),
            (Precision::F16, Precision::F32),
            (Precision::F32, Precision::F64),
        ] {
            let e = FusionCraft::new(i, a).unwrap_err();
            assert!(e.contains("is exact in the"), "{e}");
        }
    }

    #[test]
    fn with_fused_marks_the_parent_of_each_fused_input() {
        let chain = Tree::node(vec![
            Tree::node(vec![Tree::Leaf(0), Tree::Leaf(1)]),
            Tree::Leaf(2),
        ]);
        let f = chain.with_fused(&[1, 2]);
        assert_eq!(f.text(), "fma(2,fma(1,0))");
        assert_eq!(f.fused(), vec![1, 2]);
        assert_eq!(f.unfused(), chain);
        assert_ne!(f.fingerprint(), chain.fingerprint());
        // JSON keeps the grouping; with the fused list it reads back the same tree.
        let back = Tree::from_json(&f.json()).unwrap().with_fused(&f.fused());
        assert_eq!(back, f);
        let d = super::super::tree::first_difference(&f, &chain).expect("they differ");
        assert_eq!(
            (d.expected.as_str(), d.revealed.as_str()),
            ("fma(2,fma(1,0))", "((0+1)+2)")
        );
    }
}
