//! Whether the order varies across output elements (matmul's rows, a conv op's channels,
//! scatter's bins, row_sum's rows).
//!
//! Every probed element reduces the same crafted terms in the same launch, so each query
//! answers for all of them at once. The tree is built from element 0's answers; an element
//! whose answers to those same queries are all equal to element 0's would build the same
//! tree (the builder's next query depends only on the answers so far), so it has the same
//! order at no extra cost. Only an element whose answers differ is revealed on its own.

use super::build::{BuildError, Builder, Oracle};
use super::probe::{Craft, Probe};
use super::Tree;
use serde::{Deserialize, Serialize};

/// Pair queries through a probe of several elements: answers for `element`, and every
/// element's answers recorded.
pub struct Recording<'a> {
    pub probe: &'a mut dyn Probe,
    pub craft: Craft,
    pub element: usize,
    /// Each query's results, one per element, in units.
    pub answers: Vec<Vec<f64>>,
}

impl Oracle for Recording<'_> {
    fn n(&self) -> usize {
        self.probe.n()
    }
    fn query(&mut self, i: usize, j: usize) -> Result<f64, BuildError> {
        let n = self.probe.n();
        let r: Vec<f64> = self
            .probe
            .run_all(&self.craft.terms(n, i, j))?
            .into_iter()
            .map(|v| v / self.craft.unit)
            .collect();
        let mine = *r.get(self.element).ok_or_else(|| {
            BuildError::Kernel(format!("the kernel returned no element {}", self.element))
        })?;
        self.answers.push(r);
        Ok(mine)
    }
}

/// One element whose order is not element 0's.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ElementOrder {
    /// The element's index among those probed (row, bin, output channel).
    pub element: usize,
    /// Its tree's fingerprint, or absent when its answers fit no tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Its tree as nested parentheses, or why its answers fit no tree.
    pub text: String,
}

/// `reveal --elements E`: how the probed elements' orders compare.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Elements {
    /// Elements probed (0 .. probed - 1); the trees reported are element 0's.
    pub probed: usize,
    /// True when every probed element gave element 0's answer to every query: the same
    /// order for every element.
    pub same: bool,
    /// The elements whose order differs from element 0's, each with its own tree.
    pub differing: Vec<ElementOrder>,
}

impl Elements {
    /// One sentence for the verdict.
    pub fn sentence(&self) -> String {
        if self.same {
            format!(
                "the same order for every probed element (all {})",
                self.probed
            )
        } else {
            let which: Vec<String> = self
                .differing
                .iter()
                .map(|d| d.element.to_string())
                .collect();
            format!(
                "{} of {} probed elements differ from element 0 (elements {})",
                self.differing.len(),
                self.probed,
                super::tree::shorten(&which.join(", "))
            )
        }
    }
}

/// Compares every element's recorded answers with element 0's; reveals each that differs
/// with its own queries (counted in `queries`).
pub fn compare(
    answers: &[Vec<f64>],
    probe: &mut dyn Probe,
    craft: Craft,
    queries: &mut usize,
) -> Elements {
    let probed = answers.first().map_or(1, Vec::len);
    let mut differing = Vec::new();
    for e in 1..probed {
        let differs = answers
            .iter()
            .any(|a| a.get(e).map(|v| v.to_bits()) != Some(a[0].to_bits()));
        if !differs {
            continue;
        }
        let mut o = Recording {
            probe: &mut *probe,
            craft,
            element: e,
            answers: Vec::new(),
        };
        let mut b = Builder::new(&mut o);
        let t = b.tree().map(Tree::canonical);
        *queries += b.queries;
        differing.push(match t {
            Ok(t) => ElementOrder {
                element: e,
                fingerprint: Some(t.fingerprint()),
                text: t.text(),
            },
            Err(m) => ElementOrder {
                element: e,
                fingerprint: None,
                text: m.to_string(),
            },
        });
    }
    Elements {
        probed,
        same: differing.is_empty(),
        differing,
    }
}
