//! The outputs of a job's runs, each run's bits kept once.
//!
//! Why: a deterministic variant gives the same bits on every run, and a run set of R runs
//! of an output of n elements held R copies (8 R n bytes: 5 GiB for ten runs of a 2^26
//! element copy). A run is compared with the outputs already kept as it is read back; one
//! that repeats one of them is kept as its index, and its vector is dropped there. Only
//! outputs that really differ (an atomic variant's) take memory of their own.

/// The outputs of every run of a job, in run order, with their bit patterns held once.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// The distinct bit patterns, in the order of the run that first gave each.
    kept: Vec<Vec<f64>>,
    /// Run i's output is `kept[runs[i]]`.
    runs: Vec<usize>,
}

/// Whether two outputs have the same length and the same bits, element by element.
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

impl Outputs {
    /// Adds the next run's output; dropped at once where it repeats a kept one. The last
    /// kept output is compared first: deterministic runs repeat it, and two outputs that
    /// differ usually do so in their first elements.
    pub fn push(&mut self, out: Vec<f64>) {
        match self.kept.iter().rposition(|k| same_bits(k, &out)) {
            Some(i) => self.runs.push(i),
            None => {
                self.kept.push(out);
                self.runs.push(self.kept.len() - 1);
            }
        }
    }

    /// Number of runs.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The output of run `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&Vec<f64>> {
        self.runs.get(i).map(|&k| &self.kept[k])
    }

    /// The first run's output.
    pub fn first(&self) -> Option<&Vec<f64>> {
        self.get(0)
    }

    /// Every run's output, in run order (a repeated output once per run that gave it).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Vec<f64>> + '_ {
        self.runs.iter().map(|&k| &self.kept[k])
    }

    /// Whether runs `i` and `j` gave the same bits (both must exist).
    pub fn same(&self, i: usize, j: usize) -> bool {
        self.runs[i] == self.runs[j]
    }

    /// Which of [`Outputs::kept`] run `i` gave (the run must exist).
    pub fn kept_index(&self, i: usize) -> usize {
        self.runs[i]
    }

    /// The number of different bit patterns over the runs.
    pub fn distinct(&self) -> usize {
        self.kept.len()
    }

    /// The distinct outputs, each once, in the order of the run that first gave it.
    pub fn kept(&self) -> &[Vec<f64>] {
        &self.kept
    }

    /// Every run's output as a vector of its own (repeated outputs copied).
    pub fn to_vecs(&self) -> Vec<Vec<f64>> {
        self.iter().cloned().collect()
    }

    /// The first run's output, taken without a copy.
    pub fn into_first(mut self) -> Option<Vec<f64>> {
        let k = *self.runs.first()?;
        Some(self.kept.swap_remove(k))
    }

    /// Drops the first `k` runs (warm-up runs), and every output no later run repeats.
    pub fn drop_first(&mut self, k: usize) {
        self.runs.drain(..k.min(self.runs.len()));
        let mut map = vec![usize::MAX; self.kept.len()];
        let mut kept = Vec::new();
        for r in &mut self.runs {
            if map[*r] == usize::MAX {
                map[*r] = kept.len();
                kept.push(std::mem::take(&mut self.kept[*r]));
            }
            *r = map[*r];
        }
        self.kept = kept;
    }
}

impl std::ops::Index<usize> for Outputs {
    type Output = Vec<f64>;

    /// Run `i`'s output; panics past the last run, as a slice does.
    fn index(&self, i: usize) -> &Vec<f64> {
        &self.kept[self.runs[i]]
    }
}

impl<'a> IntoIterator for &'a Outputs {
    type Item = &'a Vec<f64>;
    type IntoIter = Box<dyn ExactSizeIterator<Item = &'a Vec<f64>> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// Equal when the runs are, one by one, as `Vec<Vec<f64>>` compares them (by value).
impl PartialEq for Outputs {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl FromIterator<Vec<f64>> for Outputs {
    fn from_iter<I: IntoIterator<Item = Vec<f64>>>(iter: I) -> Self {
        let mut o = Outputs::default();
        for v in iter {
            o.push(v);
        }
        o
    }
}

impl From<Vec<Vec<f64>>> for Outputs {
    fn from(v: Vec<Vec<f64>>) -> Self {
        v.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Repeated runs are held once, in run order; -0 and +0 (equal, different bits) and
    /// NaN (unequal to itself, same bits) are told apart by bits; dropping the warm-up
    /// keeps the later runs' outputs and forgets the rest.
    #[test]
    fn runs_are_kept_once_per_bit_pattern() {
        let (a, b, z, nan) = (
            vec![1.0, 2.0],
            vec![1.0, 2.5],
            vec![-0.0, 2.0],
            vec![f64::NAN],
        );
        let mut o: Outputs = vec![a.clone(), a.clone(), b.clone(), a.clone(), z.clone()].into();
        assert_eq!(o.len(), 5);
        assert_eq!(o.distinct(), 3);
        assert_eq!(
            o.iter().cloned().collect::<Vec<_>>(),
            vec![a.clone(), a.clone(), b.clone(), a.clone(), z.clone()]
        );
        assert!(o.same(0, 3) && !o.same(0, 2));
        assert!(o[4][0].is_sign_negative());
        o.drop_first(3);
        assert_eq!(o.len(), 2);
        assert_eq!(o.distinct(), 2);
        assert_eq!(o[0], a);
        assert_eq!(o.kept().len(), 2);
        let mut n = Outputs::default();
        n.push(nan.clone());
        n.push(nan);
        assert_eq!(n.distinct(), 1);
        n.push(vec![1.0, 2.0, 3.0]);
        assert_eq!(n.distinct(), 2);
        n.drop_first(10);
        assert!(n.is_empty() && n.distinct() == 0 && n.first().is_none());
    }
}
