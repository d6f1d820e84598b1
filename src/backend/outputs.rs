//! The outputs of a job's runs, each run's bits kept once.
//!
//! Why: a deterministic variant gives the same bits on every run, and a run set of R runs
//! of an output of n elements held R copies (8 R n bytes: 5 GiB for ten runs of a 2^26
//! element copy). A run is compared with the outputs already kept as it is read back; one
//! that repeats one of them is kept as its index, and its vector is dropped there. Only
//! outputs that really differ (an atomic variant's) take memory of their own.
//!
//! Where the caller judges outputs as they are read back ([`folding`]), an output that
//! differs from every one kept whole is handed to its [`Fold`] and dropped: only its name
//! (the fingerprint of its bits) stays. Then memory holds the warm-up runs' outputs and
//! the first judged run's, however many runs differ.

use std::cell::RefCell;
use std::sync::Arc;

/// Judges a run's output as it is read back, so that it need not be kept: what the runner
/// gives [`folding`].
pub trait Fold: Send + Sync {
    /// Judges `out`, whose bits differ from `first` (the first judged run's output) and
    /// from every output kept whole, once per bit pattern, and names its bits: two
    /// outputs get the same name exactly when their bits are the same.
    fn fold(&self, first: &[f64], out: &[f64]) -> String;
}

/// The fold outputs made on this thread are handed to, and how many runs (warm-up) come
/// before the first judged one.
#[derive(Clone)]
struct FoldAt(Arc<dyn Fold>, usize);

impl std::fmt::Debug for FoldAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FoldAt(after {} runs)", self.1)
    }
}

thread_local! {
    static FOLD: RefCell<Option<FoldAt>> = const { RefCell::new(None) };
}

/// Runs `f` with the outputs of every run set filled on this thread judged by `fold` as
/// they are read back: the first `skip` runs (warm-up) and the next one are kept whole, and
/// each later output that repeats none of those goes to `fold` and is dropped.
///
/// Why a scope and not a parameter: every family's kernel code fills its run set with
/// [`Outputs::push`], and backends read back on the thread that called them. A run set
/// filled on another thread, or outside the scope, keeps every output whole, as before.
pub fn folding<R>(fold: Arc<dyn Fold>, skip: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<FoldAt>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = self.0.take();
            FOLD.with(|c| *c.borrow_mut() = before);
        }
    }
    let _restore = Restore(FOLD.with(|c| c.replace(Some(FoldAt(fold, skip)))));
    f()
}

/// Where a run's output is: kept whole (an index into the kept outputs) or folded (an
/// index into the folded outputs' names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    Kept(usize),
    Folded(usize),
}

/// The outputs of every run of a job, in run order, with their bit patterns held once.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// The distinct bit patterns kept whole, in the order of the run that first gave each.
    kept: Vec<Vec<f64>>,
    /// The names of the folded bit patterns, in the order of the run that first gave each.
    folded: Vec<String>,
    /// Where run i's output is.
    runs: Vec<Slot>,
    /// The fold in force when the first run was pushed.
    fold: Option<FoldAt>,
}

/// Whether two outputs have the same length and the same bits, element by element.
fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

impl Outputs {
    /// Adds the next run's output; dropped at once where it repeats a kept one, or where a
    /// fold is in force and the run comes after the first judged one. The last kept
    /// output is compared first: deterministic runs repeat it, and two outputs that
    /// differ usually do so in their first elements.
    pub fn push(&mut self, out: Vec<f64>) {
        if self.runs.is_empty() {
            self.fold = FOLD.with(|c| c.borrow().clone());
        }
        if let Some(i) = self.kept.iter().rposition(|k| same_bits(k, &out)) {
            self.runs.push(Slot::Kept(i));
            return;
        }
        if let Some(FoldAt(fold, skip)) = &self.fold {
            if let Some(&Slot::Kept(f)) = self.runs.get(*skip) {
                let name = fold.fold(&self.kept[f], &out);
                let j = match self.folded.iter().position(|n| *n == name) {
                    Some(j) => j,
                    None => {
                        self.folded.push(name);
                        self.folded.len() - 1
                    }
                };
                self.runs.push(Slot::Folded(j));
                return;
            }
        }
        self.kept.push(out);
        self.runs.push(Slot::Kept(self.kept.len() - 1));
    }

    /// Number of runs.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The output of run `i`, if there is one and it was kept whole.
    pub fn get(&self, i: usize) -> Option<&Vec<f64>> {
        match self.runs.get(i)? {
            Slot::Kept(k) => Some(&self.kept[*k]),
            Slot::Folded(_) => None,
        }
    }

    /// The first run's output (the first judged one, once the warm-up is dropped: always
    /// kept whole).
    pub fn first(&self) -> Option<&Vec<f64>> {
        self.get(0)
    }

    /// Every run's output kept whole, in run order (a repeated output once per run that
    /// gave it). Where outputs were folded ([`Outputs::folded`] is not empty) their runs
    /// are missing: callers that need every run (`--dump`) run without a fold.
    pub fn iter(&self) -> impl Iterator<Item = &Vec<f64>> + '_ {
        (0..self.runs.len()).filter_map(|i| self.get(i))
    }

    /// Whether runs `i` and `j` gave the same bits (both must exist).
    pub fn same(&self, i: usize, j: usize) -> bool {
        self.runs[i] == self.runs[j]
    }

    /// Where run `i`'s output is (the run must exist).
    pub fn slot(&self, i: usize) -> Slot {
        self.runs[i]
    }

    /// The number of different bit patterns over the runs.
    pub fn distinct(&self) -> usize {
        self.kept.len() + self.folded.len()
    }

    /// The distinct outputs kept whole, each once, in the order of the run that first gave
    /// it.
    pub fn kept(&self) -> &[Vec<f64>] {
        &self.kept
    }

    /// The names of the folded bit patterns, each once, in the order of the run that first
    /// gave it.
    pub fn folded(&self) -> &[String] {
        &self.folded
    }

    /// Every run's output as a vector of its own (repeated outputs copied; folded runs
    /// missing, as in [`Outputs::iter`]).
    pub fn to_vecs(&self) -> Vec<Vec<f64>> {
        self.iter().cloned().collect()
    }

    /// The first run's output, taken without a copy.
    pub fn into_first(mut self) -> Option<Vec<f64>> {
        match *self.runs.first()? {
            Slot::Kept(k) => Some(self.kept.swap_remove(k)),
            Slot::Folded(_) => None,
        }
    }

    /// Drops the first `k` runs (warm-up runs), and every output no later run repeats.
    pub fn drop_first(&mut self, k: usize) {
        self.runs.drain(..k.min(self.runs.len()));
        let mut map = vec![usize::MAX; self.kept.len()];
        let mut kept = Vec::new();
        for r in &mut self.runs {
            if let Slot::Kept(i) = r {
                if map[*i] == usize::MAX {
                    map[*i] = kept.len();
                    kept.push(std::mem::take(&mut self.kept[*i]));
                }
                *i = map[*i];
            }
        }
        self.kept = kept;
        // Folded outputs come after the first judged run, so the warm-up never folds one.
    }
}

impl std::ops::Index<usize> for Outputs {
    type Output = Vec<f64>;

    /// Run `i`'s output; panics past the last run, as a slice does, and at a folded run.
    fn index(&self, i: usize) -> &Vec<f64> {
        self.get(i).expect("a run whose output is kept whole")
    }
}

impl<'a> IntoIterator for &'a Outputs {
    type Item = &'a Vec<f64>;
    type IntoIter = Box<dyn Iterator<Item = &'a Vec<f64>> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// Equal when the runs are, one by one, as `Vec<Vec<f64>>` compares them (by value), a
/// folded run by the name of its bits.
impl PartialEq for Outputs {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && (0..self.len()).all(|i| match (self.runs[i], other.runs[i]) {
                (Slot::Kept(a), Slot::Kept(b)) => self.kept[a] == other.kept[b],
                (Slot::Folded(a), Slot::Folded(b)) => self.folded[a] == other.folded[b],
                _ => false,
            })
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
