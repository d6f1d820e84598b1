//! An accumulation tree: which inputs a kernel combined with which, and in what nesting.
//!
//! Addition is commutative, so the order of a node's children carries no information; a
//! tree is kept in canonical form (children sorted by their smallest leaf), and two trees
//! are the same order exactly when their canonical forms are equal. A node with more than
//! two children is a group whose inner order the crafted inputs could not tell apart.
//!
//! A fused multiply-add is its own node kind, [`Tree::Fma`]: input i's product entered
//! its first addition unrounded. It is written `fma(i,rest)` in the text, and hashes
//! differently from the same grouping with a rounded product, so the fingerprint tells
//! fused from unfused; [`Tree::json`] keeps the plain nesting (an fma node is the pair
//! `[i, rest]` in canonical order) and [`Tree::fused`] lists the fused inputs beside it.

use sha2::{Digest, Sha256};
use std::fmt::Write;

/// A summation tree over input indices.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tree {
    /// One input, by index.
    Leaf(usize),
    /// A combination of its children (two, or more where their order is unknown).
    Node(Vec<Tree>),
    /// x_i * y_i + rest with one rounding: input i's product was not rounded before this
    /// addition (a fused or contracted multiply-add).
    Fma(usize, Box<Tree>),
}

impl Tree {
    /// A node of `children`, in canonical form (a node of one child is that child).
    pub fn node(mut children: Vec<Tree>) -> Tree {
        if children.len() == 1 {
            return children.pop().expect("one child");
        }
        children.sort_by_key(Tree::first_leaf);
        Tree::Node(children)
    }

    /// The tree in canonical form, every node's children sorted by their smallest leaf.
    pub fn canonical(self) -> Tree {
        match self {
            Tree::Leaf(i) => Tree::Leaf(i),
            Tree::Node(c) => Tree::node(c.into_iter().map(Tree::canonical).collect()),
            Tree::Fma(i, rest) => Tree::Fma(i, Box::new(rest.canonical())),
        }
    }

    /// The children of a node as trees (an fma node's: its product input, then the rest).
    pub fn children(&self) -> Vec<Tree> {
        match self {
            Tree::Leaf(_) => Vec::new(),
            Tree::Node(c) => c.clone(),
            Tree::Fma(i, rest) => vec![Tree::Leaf(*i), (**rest).clone()],
        }
    }

    /// The same grouping with every fused step read as a rounded product then an addition
    /// (canonical): the order alone, whatever the arithmetic of each step.
    pub fn unfused(&self) -> Tree {
        match self {
            Tree::Leaf(i) => Tree::Leaf(*i),
            Tree::Node(c) => Tree::node(c.iter().map(Tree::unfused).collect()),
            Tree::Fma(i, rest) => Tree::node(vec![Tree::Leaf(*i), rest.unfused()]),
        }
    }

    /// The inputs whose product entered its first addition unrounded, sorted.
    pub fn fused(&self) -> Vec<usize> {
        self.inputs(false)
    }

    /// The tree with the product of each input in `fused` fused into its parent node (a
    /// node of two children, one of them that input), in canonical form. An input whose
    /// parent is not such a node is left as it is.
    pub fn with_fused(&self, fused: &[usize]) -> Tree {
        match self {
            Tree::Leaf(i) => Tree::Leaf(*i),
            Tree::Fma(i, rest) => Tree::Fma(*i, Box::new(rest.with_fused(fused))),
            Tree::Node(c) => {
                if let [a, b] = c.as_slice() {
                    for (x, other) in [(a, b), (b, a)] {
                        if let Tree::Leaf(i) = x {
                            if fused.contains(i) {
                                return Tree::Fma(*i, Box::new(other.with_fused(fused)));
                            }
                        }
                    }
                }
                Tree::node(c.iter().map(|c| c.with_fused(fused)).collect())
            }
        }
    }

    /// The smallest leaf under this node.
    pub fn first_leaf(&self) -> usize {
        match self {
            Tree::Leaf(i) => *i,
            Tree::Node(c) => c.iter().map(Tree::first_leaf).min().unwrap_or(usize::MAX),
            Tree::Fma(i, rest) => (*i).min(rest.first_leaf()),
        }
    }

    /// Every leaf under this node, sorted.
    pub fn leaves(&self) -> Vec<usize> {
        self.inputs(true)
    }

    /// The inputs under this node, sorted: every leaf, or (`plain` false) only the fused
    /// ones.
    fn inputs(&self, plain: bool) -> Vec<usize> {
        fn walk(t: &Tree, plain: bool, out: &mut Vec<usize>) {
            match t {
                Tree::Leaf(i) if plain => out.push(*i),
                Tree::Leaf(_) => {}
                Tree::Node(c) => c.iter().for_each(|c| walk(c, plain, out)),
                Tree::Fma(i, rest) => {
                    out.push(*i);
                    walk(rest, plain, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self, plain, &mut out);
        out.sort_unstable();
        out
    }

    /// Longest path from this node to a leaf, in additions.
    pub fn depth(&self) -> usize {
        match self {
            Tree::Leaf(_) => 0,
            Tree::Node(c) => 1 + c.iter().map(Tree::depth).max().unwrap_or(0),
            Tree::Fma(_, rest) => 1 + rest.depth(),
        }
    }

    /// Whether some node has more than two children (an order the inputs could not tell).
    pub fn has_groups(&self) -> bool {
        match self {
            Tree::Leaf(_) => false,
            Tree::Node(c) => c.len() > 2 || c.iter().any(Tree::has_groups),
            Tree::Fma(_, rest) => rest.has_groups(),
        }
    }

    /// Nested parentheses, e.g. `((0+1)+(2+3))`; a fused step is `fma(i,rest)`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        self.write_text(&mut s);
        s
    }

    fn write_text(&self, s: &mut String) {
        match self {
            Tree::Leaf(i) => {
                let _ = write!(s, "{i}");
            }
            Tree::Node(c) => {
                s.push('(');
                for (k, child) in c.iter().enumerate() {
                    if k > 0 {
                        s.push('+');
                    }
                    child.write_text(s);
                }
                s.push(')');
            }
            Tree::Fma(i, rest) => {
                let _ = write!(s, "fma({i},");
                rest.write_text(s);
                s.push(')');
            }
        }
    }

    /// The tree as an indented outline, one node per line: a node shows how many inputs
    /// it combines and their range; a run of leaves in one node is one line.
    pub fn outline(&self) -> String {
        let mut s = String::new();
        self.write_outline(0, &mut s);
        s
    }

    fn write_outline(&self, indent: usize, s: &mut String) {
        let pad = "  ".repeat(indent);
        match self {
            Tree::Leaf(i) => {
                let _ = writeln!(s, "{pad}x{i}");
            }
            Tree::Fma(i, rest) => {
                let leaves = self.leaves();
                let _ = writeln!(
                    s,
                    "{pad}[fma] {} inputs: {}, x{i}*y{i} fused (one rounding)",
                    leaves.len(),
                    ranges(&leaves)
                );
                if matches!(**rest, Tree::Leaf(_)) {
                    return;
                }
                Tree::Leaf(*i).write_outline(indent + 1, s);
                rest.write_outline(indent + 1, s);
            }
            Tree::Node(c) => {
                let leaves = self.leaves();
                let kind = if c.len() > 2 {
                    format!("{} terms, order not told apart", c.len())
                } else {
                    "+".into()
                };
                let _ = writeln!(
                    s,
                    "{pad}[{kind}] {} inputs: {}",
                    leaves.len(),
                    ranges(&leaves)
                );
                // A node of leaves alone is said in full by its own line.
                if c.iter().any(|c| !matches!(c, Tree::Leaf(_))) {
                    for child in c {
                        child.write_outline(indent + 1, s);
                    }
                }
            }
        }
    }

    /// Nested JSON arrays whose leaves are input indices (`[[0,1],[2,3]]`): the grouping
    /// alone, an fma node as the pair it fuses (its fused inputs are [`Tree::fused`]).
    pub fn json(&self) -> serde_json::Value {
        match self {
            Tree::Leaf(i) => serde_json::Value::from(*i),
            Tree::Node(c) => serde_json::Value::Array(c.iter().map(Tree::json).collect()),
            Tree::Fma(..) => self.unfused().json(),
        }
    }

    /// The tree read back from [`Tree::json`]'s form, in canonical form.
    pub fn from_json(v: &serde_json::Value) -> Option<Tree> {
        match v {
            serde_json::Value::Number(n) => n.as_u64().map(|i| Tree::Leaf(i as usize)),
            serde_json::Value::Array(a) if !a.is_empty() => Some(Tree::node(
                a.iter().map(Tree::from_json).collect::<Option<Vec<_>>>()?,
            )),
            _ => None,
        }
    }

    /// The canonical order fingerprint: `ord1:` and the first 16 hex digits of the SHA-256
    /// of the canonical parenthesised text. Equal trees give equal fingerprints on every
    /// device and build.
    pub fn fingerprint(&self) -> String {
        let text = self.clone().canonical().text();
        let digest = Sha256::digest(text.as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("ord1:{hex}")
    }
}

/// `0-7, 9, 12-13`: sorted indices as ranges.
pub fn ranges(v: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// The first place two trees differ, searched from the root: the smallest subtree of
/// `expected` whose children the revealed tree groups differently, with both groupings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The inputs of the differing subtree.
    pub leaves: Vec<usize>,
    /// That subtree as expected (nested parentheses).
    pub expected: String,
    /// The same inputs as the revealed tree combines them.
    pub revealed: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "over inputs {}: expected {}, revealed {}",
            ranges(&self.leaves),
            shorten(&self.expected),
            shorten(&self.revealed)
        )
    }
}

/// Long tree texts cut in the middle for one-line messages.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 160;
    if s.len() <= MAX {
        return s.to_string();
    }
    format!("{} ... {}", &s[..MAX / 2], &s[s.len() - MAX / 2..])
}

/// The first subtree where `revealed` departs from `expected` (both canonical); None when
/// they are the same tree.
pub fn first_difference(expected: &Tree, revealed: &Tree) -> Option<Difference> {
    if expected == revealed {
        return None;
    }
    if let (Tree::Node(a), Tree::Node(b)) = (expected, revealed) {
        let same_split =
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.leaves() == y.leaves());
        if same_split {
            return a.iter().zip(b).find_map(|(x, y)| first_difference(x, y));
        }
    }
    if let (Tree::Fma(i, a), Tree::Fma(j, b)) = (expected, revealed) {
        if i == j {
            return first_difference(a, b);
        }
    }
    Some(Difference {
        leaves: expected.leaves(),
        expected: expected.text(),
        revealed: revealed.text(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The balanced tree over lo..hi, halves first.
    pub(crate) fn pairwise(lo: usize, hi: usize) -> Tree {
        if hi - lo == 1 {
            Tree::Leaf(lo)
        } else {
            let mid = (lo + hi) / 2;
            Tree::node(vec![pairwise(lo, mid), pairwise(mid, hi)])
        }
    }

    #[test]
    fn canonical_form_ignores_the_order_of_children() {
        let a = Tree::Node(vec![
            Tree::Node(vec![Tree::Leaf(3), Tree::Leaf(2)]),
            Tree::Node(vec![Tree::Leaf(1), Tree::Leaf(0)]),
        ]);
        assert_eq!(a.clone().canonical(), pairwise(0, 4));
        assert_eq!(a.fingerprint(), pairwise(0, 4).fingerprint());
        assert_eq!(pairwise(0, 4).text(), "((0+1)+(2+3))");
        assert_eq!(pairwise(0, 4).json(), serde_json::json!([[0, 1], [2, 3]]));
        assert_eq!(Tree::from_json(&a.json()), Some(pairwise(0, 4)));
    }

    #[test]
    fn different_trees_have_different_fingerprints_and_a_named_difference() {
        let seq = Tree::node(vec![
            Tree::node(vec![
                Tree::node(vec![Tree::Leaf(0), Tree::Leaf(1)]),
                Tree::Leaf(2),
            ]),
            Tree::Leaf(3),
        ]);
        let pw = pairwise(0, 4);
        assert_ne!(seq.fingerprint(), pw.fingerprint());
        let d = first_difference(&pw, &seq).expect("they differ");
        assert_eq!(d.leaves, vec![0, 1, 2, 3]);
        assert_eq!(d.expected, "((0+1)+(2+3))");
        assert_eq!(d.revealed, "(((0+1)+2)+3)");
        // Same split at the root: the difference is named in the child that differs.
        let a = Tree::node(vec![pairwise(0, 4), pairwise(4, 8)]);
        let b = Tree::node(vec![seq, pairwise(4, 8)]);
        assert_eq!(
            first_difference(&a, &b).expect("differ").leaves,
            vec![0, 1, 2, 3]
        );
        assert_eq!(first_difference(&a, &a), None);
    }

    #[test]
    fn outline_names_sizes_and_ranges() {
        let t = pairwise(0, 4);
        let o = t.outline();
        assert!(o.starts_with("[+] 4 inputs: 0-3\n"), "{o}");
        assert!(o.contains("\n  [+] 2 inputs: 2-3\n"), "{o}");
        let mixed = Tree::node(vec![t, Tree::Leaf(4)]).outline();
        assert!(mixed.ends_with("\n  x4\n"), "{mixed}");
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8]), "0-2, 5, 7-8");
    }
}
