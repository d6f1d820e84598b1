//! Work split over the host's cores in fixed contiguous ranges.
//!
//! Results never depend on the split: callers either combine exact quantities (the exact
//! oracle's accumulators, maxima) or fill disjoint parts of an output whose every element
//! is a function of its index alone (seeded input blocks). The thread count only sets the
//! speed.

use std::ops::Range;

/// Below this many elements the work runs on the calling thread: spawning costs more.
pub const MIN_PARALLEL: usize = 1 << 16;

/// Threads to use: the host's parallelism, at most 16.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16)
}

/// `f` over contiguous ranges covering `0..len`, one per thread (at most `threads`), in
/// order. One range when `len` is below [`MIN_PARALLEL`].
pub fn map_ranges<S, F>(len: usize, threads: usize, f: F) -> Vec<S>
where
    S: Send,
    F: Fn(Range<usize>) -> S + Sync,
{
    let parts = if len < MIN_PARALLEL {
        1
    } else {
        threads.clamp(1, len)
    };
    if parts == 1 {
        return vec![f(0..len)];
    }
    let per = len.div_ceil(parts);
    let f = &f;
    let range = |t: usize| (t * per).min(len)..((t + 1) * per).min(len);
    // The last range runs on the calling thread: one thread fewer to start, and no core
    // shared between a worker and a caller that only waits.
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..parts - 1)
            .map(|t| {
                let r = range(t);
                sc.spawn(move || f(r))
            })
            .collect();
        let last = f(range(parts - 1));
        let mut out: Vec<S> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        out.push(last);
        out
    })
}

/// Fills `out` in blocks of `block` elements: `fill(b, part)` writes block `b` (elements
/// `b * block ..`), which must depend on `b` alone. Blocks are dealt to `threads` threads
/// in contiguous runs; the result is the same for every thread count.
pub fn fill_blocks<T, F>(out: &mut [T], block: usize, threads: usize, fill: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync,
{
    let blocks = out.len().div_ceil(block.max(1));
    let parts = if out.len() < MIN_PARALLEL {
        1
    } else {
        threads.clamp(1, blocks.max(1))
    };
    let per = blocks.div_ceil(parts.max(1)).max(1);
    let fill = &fill;
    std::thread::scope(|sc| {
        let runs = out.chunks_mut(per * block.max(1)).enumerate();
        let count = runs.len();
        for (t, run) in runs {
            let mut go = move || {
                for (k, part) in run.chunks_mut(block.max(1)).enumerate() {
                    fill(t * per + k, part);
                }
            };
            // The last run of blocks on the calling thread, as in `map_ranges`.
            if t + 1 == count {
                go();
            } else {
                sc.spawn(go);
            }
        }
    });
}
