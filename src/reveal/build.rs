//! Recovering a summation tree from pair queries.
//!
//! A query (i, j) runs the kernel once on crafted inputs: a large value +M at input i, -M
//! at input j, and a unit everywhere else, with M so large that every partial sum of units
//! added to ±M is absorbed by rounding. Inside the smallest subtree holding both i and j
//! (their lowest common ancestor) the units meet ±M before +M and -M cancel, and vanish;
//! every unit outside it is added after the cancellation and counts exactly. So the
//! result, in units, is n minus the number of inputs under that ancestor: one query gives
//! the size of one ancestor.
//!
//! From one input `a`, the sizes of its ancestors with every other input split those
//! inputs into groups, one per ancestor of `a` (the inputs that first meet `a` there).
//! Each group is the rest of that ancestor's children, split again the same way from one
//! of its inputs. Every answer is checked against the tree it builds (a group must fill
//! its ancestor exactly), so answers that fit no tree (an order that changed between
//! launches, compensated arithmetic) are reported, never turned into a tree.

use super::tree::Tree;

/// Why a tree could not be built.
#[derive(Clone, Debug, PartialEq)]
pub enum BuildError {
    /// The answers fit no summation tree: what did not fit.
    Inconsistent(String),
    /// The kernel could not be run (its message).
    Kernel(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Inconsistent(m) | BuildError::Kernel(m) => f.write_str(m),
        }
    }
}

/// The kernel on crafted inputs: the result of query (i, j), in units.
pub trait Oracle {
    /// Inputs of the reduction.
    fn n(&self) -> usize;
    /// The kernel's result with +M at `i`, -M at `j` and units elsewhere, in units.
    fn query(&mut self, i: usize, j: usize) -> Result<f64, BuildError>;
}

/// Counts the queries made, and turns results into ancestor sizes.
pub struct Builder<'a> {
    oracle: &'a mut dyn Oracle,
    n: usize,
    /// Queries made so far.
    pub queries: usize,
    /// Queries whose result was the exact sum (n - 2 units).
    pub exact: usize,
}

impl<'a> Builder<'a> {
    pub fn new(oracle: &'a mut dyn Oracle) -> Self {
        let n = oracle.n();
        Builder {
            oracle,
            n,
            queries: 0,
            exact: 0,
        }
    }

    /// The size of the smallest subtree holding both `i` and `j`.
    fn lca(&mut self, i: usize, j: usize) -> Result<usize, BuildError> {
        let r = self.oracle.query(i, j)?;
        self.queries += 1;
        let n = self.n as f64;
        if !(r.fract() == 0.0 && (0.0..=n - 2.0).contains(&r)) {
            return Err(BuildError::Inconsistent(format!(
                "with +M at input {i} and -M at input {j} the kernel returned {r} units, \
                 not a count of 0 to {} units: it does not add its inputs in a tree of \
                 rounded additions (compensated or wider arithmetic, or fused operations)",
                self.n - 2
            )));
        }
        if r == n - 2.0 {
            self.exact += 1;
        }
        Ok(self.n - r as usize)
    }

    /// The whole tree.
    pub fn tree(&mut self) -> Result<Tree, BuildError> {
        let n = self.n;
        if n == 1 {
            return Ok(Tree::Leaf(0));
        }
        let mut members = Vec::with_capacity(n - 1);
        for j in 1..n {
            members.push((j, self.lca(0, j)?));
        }
        self.subtree(0, members, n)
    }

    /// The subtree of `size` inputs holding `a`, given every other input in it with the
    /// size of its lowest common ancestor with `a`.
    fn subtree(
        &mut self,
        a: usize,
        mut members: Vec<(usize, usize)>,
        size: usize,
    ) -> Result<Tree, BuildError> {
        members.sort_by_key(|&(j, s)| (s, j));
        let mut node = Tree::Leaf(a);
        let mut have = 1;
        let mut k = 0;
        while k < members.len() {
            let s = members[k].1;
            let end = members[k..]
                .iter()
                .position(|&(_, t)| t != s)
                .map_or(members.len(), |p| k + p);
            let group: Vec<usize> = members[k..end].iter().map(|&(j, _)| j).collect();
            if have + group.len() != s {
                return Err(BuildError::Inconsistent(format!(
                    "input {a}'s ancestor of {s} inputs would hold {} (inputs {}): the \
                     answers fit no single tree (did the order change between launches?)",
                    have + group.len(),
                    super::tree::ranges(&sorted(&group))
                )));
            }
            let mut children = vec![node];
            children.extend(self.split(group, s)?);
            node = Tree::node(children);
            have = s;
            k = end;
        }
        if have != size {
            return Err(BuildError::Inconsistent(format!(
                "input {a}'s subtree should hold {size} inputs but its answers give {have}"
            )));
        }
        Ok(node)
    }

    /// Splits `group`, the inputs of a node of `parent` inputs outside one of its
    /// children, into the node's other children.
    fn split(&mut self, mut group: Vec<usize>, parent: usize) -> Result<Vec<Tree>, BuildError> {
        let mut out = Vec::new();
        group.sort_unstable();
        while let Some(&b) = group.first() {
            let mut inside = Vec::new();
            let mut rest = Vec::new();
            for &j in &group[1..] {
                let s = self.lca(b, j)?;
                if s > parent {
                    return Err(BuildError::Inconsistent(format!(
                        "inputs {b} and {j} meet in a subtree of {s} inputs, above the node \
                         of {parent} that holds both: the answers fit no single tree"
                    )));
                }
                if s < parent {
                    inside.push((j, s));
                } else {
                    rest.push(j);
                }
            }
            let size = inside.iter().map(|&(_, s)| s).max().unwrap_or(1);
            out.push(self.subtree(b, inside, size)?);
            group = rest;
        }
        Ok(out)
    }
}

fn sorted(v: &[usize]) -> Vec<usize> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}

/// An oracle that answers from a known tree: the tests' model of a perfect kernel.
pub struct TreeOracle {
    n: usize,
    /// For each input, its ancestors' leaf sets from the leaf up, as sizes with members.
    parent_sizes: Vec<Vec<(usize, std::collections::BTreeSet<usize>)>>,
}

impl TreeOracle {
    pub fn new(t: &Tree) -> Self {
        // Pair queries see the grouping only; whether a step fused is asked apart.
        let t = &t.unfused();
        let n = t.leaves().len();
        let mut parent_sizes = vec![Vec::new(); n];
        fn walk(
            t: &Tree,
            path: &mut Vec<std::collections::BTreeSet<usize>>,
            out: &mut [Vec<(usize, std::collections::BTreeSet<usize>)>],
        ) {
            match t {
                Tree::Leaf(i) => {
                    out[*i] = path.iter().rev().map(|s| (s.len(), s.clone())).collect();
                }
                Tree::Node(c) => {
                    path.push(t.leaves().into_iter().collect());
                    c.iter().for_each(|c| walk(c, path, out));
                    path.pop();
                }
                Tree::Fma(..) => unreachable!("unfused above"),
            }
        }
        walk(t, &mut Vec::new(), &mut parent_sizes);
        TreeOracle { n, parent_sizes }
    }
}

impl Oracle for TreeOracle {
    fn n(&self) -> usize {
        self.n
    }
    fn query(&mut self, i: usize, j: usize) -> Result<f64, BuildError> {
        let size = self.parent_sizes[i]
            .iter()
            .find(|(_, s)| s.contains(&j))
            .map_or(self.n, |(k, _)| *k);
        Ok((self.n - size) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::tests::pairwise;
    use super::*;

    fn chain(n: usize) -> Tree {
        (1..n).fold(Tree::Leaf(0), |t, i| Tree::node(vec![t, Tree::Leaf(i)]))
    }

    fn rebuilt(t: &Tree) -> (Tree, usize) {
        let mut o = TreeOracle::new(t);
        let mut b = Builder::new(&mut o);
        let got = b.tree().expect("a tree");
        (got, b.queries)
    }

    #[test]
    fn rebuilds_chains_pairwise_trees_and_groups() {
        for t in [
            chain(2),
            chain(17),
            Tree::node(vec![chain(5), Tree::Leaf(5)]),
            pairwise(0, 64),
            pairwise(0, 37),
            // A three-way group and a reversed chain.
            Tree::node(vec![Tree::Leaf(0), Tree::Leaf(1), Tree::Leaf(2)]),
            (0..9)
                .rev()
                .fold(Tree::Leaf(9), |t, i| Tree::node(vec![t, Tree::Leaf(i)])),
            Tree::node(vec![
                pairwise(0, 8),
                Tree::node(vec![
                    Tree::node(vec![Tree::Leaf(8), Tree::Leaf(9)]),
                    Tree::Leaf(10),
                ]),
            ]),
        ] {
            let t = t.canonical();
            let (got, _) = rebuilt(&t);
            assert_eq!(got, t, "{}", t.text());
        }
    }

    #[test]
    fn a_balanced_tree_takes_about_n_log_n_queries() {
        let (_, q) = rebuilt(&pairwise(0, 256));
        assert!(q <= 256 * 9, "{q} queries");
    }

    /// An oracle whose answers come from two different trees: the builder must refuse.
    struct Mixed(TreeOracle, TreeOracle, usize);
    impl Oracle for Mixed {
        fn n(&self) -> usize {
            self.0.n
        }
        fn query(&mut self, i: usize, j: usize) -> Result<f64, BuildError> {
            self.2 += 1;
            if self.2.is_multiple_of(3) {
                self.1.query(i, j)
            } else {
                self.0.query(i, j)
            }
        }
    }

    #[test]
    fn answers_from_two_trees_are_refused() {
        let mut o = Mixed(
            TreeOracle::new(&chain(16)),
            TreeOracle::new(&pairwise(0, 16)),
            0,
        );
        let r = Builder::new(&mut o).tree();
        assert!(matches!(r, Err(BuildError::Inconsistent(_))), "{r:?}");
    }

    struct Exact(usize);
    impl Oracle for Exact {
        fn n(&self) -> usize {
            self.0
        }
        fn query(&mut self, _: usize, _: usize) -> Result<f64, BuildError> {
            Ok(self.0 as f64 - 2.0)
        }
    }

    #[test]
    fn an_exact_kernel_fits_no_tree() {
        let mut o = Exact(8);
        let mut b = Builder::new(&mut o);
        assert!(matches!(b.tree(), Err(BuildError::Inconsistent(_))));
        assert_eq!(b.exact, b.queries);
    }
}
