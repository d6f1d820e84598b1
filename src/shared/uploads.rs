//! Device copies of the last input a backend was given, kept for the next job on it.
//!
//! The runner puts every variant of one input next to each other, and each variant's job
//! holds the same `Arc<Values>` (the reduction family draws an input once and shares it).
//! A device that keeps the buffers of the last job's operands uploads the input once for
//! all of its variants and runs, instead of once per variant. Identity is the `Arc`
//! itself: the cache holds a clone of it, so an address can never be reused by another
//! input while its buffer is kept. A job whose operands differ drops the kept buffers
//! before uploading, so that two inputs never share the device's memory, and a job that
//! keeps none (another family's) drops them when it ends ([`Uploads::job`]).

use crate::error::OpError;
use crate::numerics::{Precision, Values};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The buffers of the last operands uploaded, and how many uploads there have been.
pub struct Uploads<B> {
    kept: Mutex<Vec<(Arc<Values>, Precision, B)>>,
    count: AtomicUsize,
    /// Whether the job running now asked for its operands here.
    asked: AtomicBool,
}

impl<B> Default for Uploads<B> {
    fn default() -> Self {
        Uploads {
            kept: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            asked: AtomicBool::new(false),
        }
    }
}

impl<B: Clone> Uploads<B> {
    /// The device buffers of `operands` in storage format `p`: the kept ones when they
    /// are these operands, or else new ones made by `upload` (the kept ones are dropped
    /// first).
    pub fn get(
        &self,
        operands: &[&Arc<Values>],
        p: Precision,
        upload: impl Fn(usize, &Values) -> Result<B, OpError>,
    ) -> Result<Vec<B>, OpError> {
        self.asked.store(true, Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let hit = kept.len() == operands.len()
            && kept
                .iter()
                .zip(operands)
                .all(|((v, kp, _), o)| Arc::ptr_eq(v, o) && *kp == p);
        if !hit {
            kept.clear();
            for (i, o) in operands.iter().enumerate() {
                let buf = upload(i, o)?;
                self.count.fetch_add(1, Ordering::Relaxed);
                kept.push((Arc::clone(o), p, buf));
            }
        }
        Ok(kept.iter().map(|(_, _, b)| b.clone()).collect())
    }

    /// Drops the kept buffers.
    pub fn clear(&self) {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Runs one job on the device: a job that does not take its operands from here (another
    /// family's) drops the kept buffers when it ends, so that an input of a finished
    /// reduction does not hold device memory through the rest of the run.
    pub fn job<R>(&self, run: impl FnOnce() -> R) -> R {
        self.asked.store(false, Ordering::Relaxed);
        let r = run();
        if !self.asked.load(Ordering::Relaxed) {
            self.clear();
        }
        r
    }

    /// Operands uploaded so far (tests check that variants share one upload).
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_operands_upload_once_and_others_replace_them() {
        let u = Uploads::<usize>::default();
        let a = Arc::new(Values::F32(vec![1.0, 2.0]));
        let b = Arc::new(Values::F32(vec![1.0, 2.0]));
        let up = |i: usize, v: &Values| Ok(v.len() * 10 + i);
        assert_eq!(u.get(&[&a], Precision::F32, up).unwrap(), vec![20]);
        assert_eq!(u.get(&[&a], Precision::F32, up).unwrap(), vec![20]);
        assert_eq!(u.count(), 1);
        // Equal values in another allocation are another input.
        u.get(&[&b], Precision::F32, up).unwrap();
        assert_eq!(u.count(), 2);
        // The same values in another format are another upload.
        u.get(&[&b], Precision::Bf16, up).unwrap();
        assert_eq!(u.count(), 3);
        // x and y of a dot product are kept together.
        assert_eq!(u.get(&[&a, &b], Precision::F32, up).unwrap(), vec![20, 21]);
        u.get(&[&a, &b], Precision::F32, up).unwrap();
        assert_eq!(u.count(), 5);
        // A job that takes its operands from here keeps them; one that does not drops them.
        u.job(|| u.get(&[&a, &b], Precision::F32, up).unwrap());
        assert_eq!(u.count(), 5);
        u.job(|| ());
        u.get(&[&a, &b], Precision::F32, up).unwrap();
        assert_eq!(u.count(), 7);
    }
}
