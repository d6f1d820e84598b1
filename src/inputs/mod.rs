//! Inputs: seeded generators that give the same values on every platform, and .npy
//! files for the user's own data.
//!
//! Portability: the seeded inputs are drawn in blocks of 2^14 values, each block from its
//! own Xoshiro256++ generator seeded from (seed, stream, block), so the values are the same
//! on every thread count. Uniform values are built from the words with exact operations,
//! and normal values by a ziggurat ([`normal`]) whose only functions are exact IEEE
//! operations and the pure-Rust `libm`, so no platform math library is involved.
//! [`Stream`] (ChaCha8) is the sequential stream the other seeded parts draw from
//! (ill-conditioned sums, scatter indices, optimizer states, training data).

mod normal;
mod npy;

pub use npy::*;

use crate::error::DetError;
use crate::numerics::values::{Elem, Values};
use crate::numerics::Precision;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use sha2::{Digest, Sha256};
use std::path::Path;

/// How input values are drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum InputSpec {
    /// Uniform in [-1, 1).
    Uniform,
    /// Standard normal.
    Normal,
    /// Random sign, uniform significand, exponent uniform over a wide range.
    Wide,
    /// A sum (or dot product) with about this condition number, after Ogita, Rump & Oishi.
    IllConditioned(f64),
    /// Values read from a .npy file.
    File(String),
}

impl InputSpec {
    /// Parses `uniform`, `normal`, `wide`, `illcond:1e8` or a path ending in `.npy`.
    pub fn parse(s: &str) -> Result<Self, DetError> {
        let t = s.trim();
        if t.ends_with(".npy") {
            return Ok(InputSpec::File(t.to_string()));
        }
        match t {
            "uniform" => Ok(InputSpec::Uniform),
            "normal" => Ok(InputSpec::Normal),
            "wide" => Ok(InputSpec::Wide),
            _ => {
                if let Some(c) = t.strip_prefix("illcond:") {
                    let c: f64 = c
                        .parse()
                        .map_err(|_| DetError::input(format!("bad condition number in '{t}'")))?;
                    if !(c >= 1.0 && c.is_finite()) {
                        return Err(DetError::input(format!(
                            "condition number must be >= 1 in '{t}'"
                        )));
                    }
                    Ok(InputSpec::IllConditioned(c))
                } else {
                    Err(DetError::input(format!(
                        "unknown input '{t}' (expected uniform, normal, wide, illcond:C or a .npy file)"
                    )))
                }
            }
        }
    }

    /// The name recorded in reports.
    pub fn label(&self) -> String {
        match self {
            InputSpec::Uniform => "uniform".into(),
            InputSpec::Normal => "normal".into(),
            InputSpec::Wide => "wide".into(),
            InputSpec::IllConditioned(c) => format!("illcond:{c:e}"),
            InputSpec::File(p) => p.clone(),
        }
    }
}

/// A seeded, portable stream of doubles.
#[derive(Clone)]
pub struct Stream {
    rng: ChaCha8Rng,
}

impl Stream {
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self { rng }
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * libm::ldexp(1.0, -53)
    }

    /// Uniform in [-1, 1).
    pub fn symmetric(&mut self) -> f64 {
        2.0 * self.unit() - 1.0
    }

    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Standard normal by Box-Muller.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
    }

    /// Two independent standard normals from the same two uniforms as [`Stream::normal`]:
    /// Box-Muller's cosine and sine branches, so a log and a square root serve two values
    /// (the `normal` inputs are drawn this way, in pairs).
    pub fn normal_pair(&mut self) -> (f64, f64) {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        let r = libm::sqrt(-2.0 * libm::log(u1));
        let (sin, cos) = libm::sincos(2.0 * std::f64::consts::PI * u2);
        (r * cos, r * sin)
    }
}

/// Exponent range for `wide` inputs: wide, but keeping n values summable in `p`.
fn wide_exponents(p: Precision) -> (i32, i32) {
    match p {
        Precision::F16 => (-10, 8),
        Precision::Bf16 | Precision::F32 => (-40, 40),
        Precision::F64 => (-200, 200),
    }
}

/// `n` values of the distribution, each rounded to `p`. `stream` separates the x and y
/// vectors of a dot product drawn from one seed.
pub fn generate(
    spec: &InputSpec,
    p: Precision,
    n: usize,
    seed: u64,
    stream: u64,
) -> Result<Vec<f64>, DetError> {
    // Every variant of a case draws the same inputs; at 2^28 elements drawing them again
    // costs far more than copying. Keep the last few large draws (files are re-read, so an
    // edited file is never served stale).
    type Key = (String, Precision, usize, u64, u64);
    static CACHE: std::sync::Mutex<Vec<(Key, std::sync::Arc<Vec<f64>>)>> =
        std::sync::Mutex::new(Vec::new());
    const CACHE_FROM: usize = 1 << 20;
    const CACHE_ENTRIES: usize = 2;
    let cacheable = n >= CACHE_FROM && !matches!(spec, InputSpec::File(_));
    let key: Key = (spec.label(), p, n, seed, stream);
    if cacheable {
        let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, v)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(v.as_ref().clone());
        }
    }
    let v = draw(spec, p, n, seed, stream)?;
    if cacheable {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() == CACHE_ENTRIES {
            cache.remove(0);
        }
        cache.push((key, std::sync::Arc::new(v.clone())));
    }
    Ok(v)
}

/// The values of [`generate`] without its cache, as f64.
pub fn draw(
    spec: &InputSpec,
    p: Precision,
    n: usize,
    seed: u64,
    stream: u64,
) -> Result<Vec<f64>, DetError> {
    Ok(match draw_values(spec, p, n, seed, stream)? {
        Values::F64(v) => v,
        other => other.to_f64().into_owned(),
    })
}

/// The values of [`generate`] in `p`'s host format (f32 for every format but f64), without
/// its cache: for a caller that keeps the input itself (the reduction family shares one
/// input and its reference by every variant), so that no second copy stays alive.
pub fn draw_values(
    spec: &InputSpec,
    p: Precision,
    n: usize,
    seed: u64,
    stream: u64,
) -> Result<Values, DetError> {
    draw_with(spec, p, n, seed, stream, crate::shared::par::threads())
}

/// Elements per block of a seeded draw.
const BLOCK: usize = 1 << 14;

/// The generator of one block: Xoshiro256++ seeded from (seed, stream, block) alone, so
/// a block's values do not depend on which thread draws it or on the blocks before it,
/// and a generator that takes a varying number of words per value (the ziggurat) cannot
/// run into the next block's.
fn block_rng(seed: u64, stream: u64, block: usize) -> Xoshiro256PlusPlus {
    // SplitMix64's finaliser, chained over the three numbers: neighbouring seeds, streams
    // and blocks get unrelated states (Xoshiro's own seed_from_u64 then expands it).
    let mix = |z: u64| {
        let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let golden = 0x9e37_79b9_7f4a_7c15u64;
    let k = mix(seed.wrapping_add(golden));
    let k = mix(k ^ stream.wrapping_add(golden.wrapping_mul(2)));
    let k = mix(k ^ (block as u64).wrapping_add(golden.wrapping_mul(3)));
    Xoshiro256PlusPlus::seed_from_u64(k)
}

/// Uniform in [-1, 1) from the top 53 bits of a word: exact.
fn symmetric(w: u64) -> f64 {
    2.0 * ((w >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) - 1.0
}

/// [`draw_values`] on `threads` threads; the same bits for every thread count.
fn draw_with(
    spec: &InputSpec,
    p: Precision,
    n: usize,
    seed: u64,
    stream: u64,
    threads: usize,
) -> Result<Values, DetError> {
    let (v, first_bad) = match spec {
        // A file's non-finite values are the file's own (read_npy refuses a finite value
        // that overflows `p`), checked against the op's definition by `refuse_undefined`.
        InputSpec::File(path) => {
            return Ok(Values::from_f64(p, read_npy(Path::new(path), p)?));
        }
        InputSpec::IllConditioned(c) => {
            let v = ill_conditioned_sum(&mut Stream::new(seed, stream), p, n, *c);
            let bad = v.iter().position(|x| !x.is_finite());
            (Values::from_f64(p, v), bad)
        }
        _ if Values::narrow_for(p) => {
            let (v, bad) = fill_seeded(spec, p, n, seed, stream, threads);
            (Values::F32(v), bad)
        }
        _ => {
            let (v, bad) = fill_seeded(spec, p, n, seed, stream, threads);
            (Values::F64(v), bad)
        }
    };
    if let Some(i) = first_bad {
        return Err(DetError::input(format!(
            "input {} overflowed {p} at element {i}: use a smaller size or a wider precision",
            spec.label()
        )));
    }
    Ok(v)
}

/// `n` seeded values of a `uniform`, `normal` or `wide` input, rounded to `p`, drawn block
/// by block (each with its own [`block_rng`]) over `threads` threads, and the first that
/// overflowed `p`, if any (each block is checked while it is still in cache).
fn fill_seeded<T: Elem>(
    spec: &InputSpec,
    p: Precision,
    n: usize,
    seed: u64,
    stream: u64,
    threads: usize,
) -> (Vec<T>, Option<usize>) {
    let first_bad = std::sync::atomic::AtomicUsize::new(usize::MAX);
    let mut v = vec![T::default(); n];
    let (lo, hi) = wide_exponents(p);
    let span = (hi - lo + 1) as u64;
    crate::shared::par::fill_blocks(&mut v, BLOCK, threads, |b, part| {
        let mut g = block_rng(seed, stream, b);
        match spec {
            InputSpec::Uniform => {
                for x in part.iter_mut() {
                    *x = T::of(p.round(symmetric(g.next_u64())));
                }
            }
            InputSpec::Normal => {
                let normal = normal::Normal::new();
                if matches!(p, Precision::F32 | Precision::F64) {
                    // The host type is the format itself: converting rounds once, as
                    // `p.round` would, without its per-value dispatch on the format.
                    for x in part.iter_mut() {
                        *x = T::of(normal.sample(&mut g));
                    }
                } else {
                    for x in part.iter_mut() {
                        *x = T::of(p.round(normal.sample(&mut g)));
                    }
                }
            }
            InputSpec::Wide => {
                for x in part.iter_mut() {
                    // An exponent, then a significand: scaling by an exact power of two
                    // in range is exact, so only `p.round` rounds.
                    let e = lo + (g.next_u64() % span) as i32;
                    let scale = f64::from_bits(((1023 + e) as u64) << 52);
                    *x = T::of(p.round(symmetric(g.next_u64()) * scale));
                }
            }
            _ => unreachable!("seeded generators only"),
        }
        if let Some(i) = part.iter().position(|x| !x.get().is_finite()) {
            first_bad.fetch_min(b * BLOCK + i, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let first_bad = first_bad.into_inner();
    (v, (first_bad != usize::MAX).then_some(first_bad))
}

/// A vector whose sum has condition number sum|x| / |sum x| within a factor of about 3 of
/// `cond` wherever the format and `n` can reach it.
///
/// One attempt is the construction of Ogita, Rump & Oishi's GenSum (SIAM J. Sci. Comput.
/// 26(6), 2005): the first half spans exponents 0..`top`; the second half steers the running
/// exact sum down to a value of size 2^`end`. Its condition number grows with `n` as well as
/// with `top - end`, so a single attempt overshoots by up to a factor of `n`. The attempt is
/// therefore measured exactly and repeated from the same seed with `top` and `end` moved by
/// the measured miss, first `top` (between 0 and the format's room for `n` terms), then `end`
/// (between the format's smallest normal exponent and a quarter of its largest value),
/// keeping the closest. Where the format cannot reach `cond` (f16 at large
/// `n`), the closest attempt is returned and the record's `condition_number` says what it is.
fn ill_conditioned_sum(s: &mut Stream, p: Precision, n: usize, cond: f64) -> Vec<f64> {
    if n < 4 {
        return (0..n).map(|_| p.round(s.symmetric())).collect();
    }
    // Cap the exponent span so the values stay finite in the format ...
    let max_b: f64 = match p {
        Precision::F16 => 12.0,
        Precision::Bf16 | Precision::F32 => 60.0,
        Precision::F64 => 500.0,
    };
    // ... and so the running sums stay finite: n terms of size up to 2^top.
    let room = (p.max_finite() / n as f64).log2() - 2.0;
    let top_max = max_b.min(room.max(0.0));
    // The steered sum stays a normal number with room below it for its last terms.
    let end_min = f64::from(p.emin() + 1);
    // A request below about `n` needs a sum larger than its terms, up to a quarter of the
    // format's largest value.
    let end_max = p.max_finite().log2() - 2.0;
    let mut top = cond.log2().clamp(0.0, top_max);
    let mut end = 0.0f64;
    let start = s.clone();
    let mut best: Option<(f64, Vec<f64>, Stream)> = None;
    for _ in 0..12 {
        let mut st = start.clone();
        let x = gensum_attempt(&mut st, p, n, top, end);
        let total = crate::numerics::exact::exact_sum(&x).abs();
        let achieved = crate::numerics::exact::sum_abs(&x) / total;
        // log2 of how far the attempt is from the request (an exact zero sum is "too far up").
        let miss = if total == 0.0 {
            64.0
        } else {
            (achieved / cond).log2()
        };
        if best.as_ref().is_none_or(|(m, _, _)| miss.abs() < m.abs()) {
            best = Some((miss, x, st));
        }
        if miss.abs() < 1.5 {
            break;
        }
        // Move `top` first, then `end`, by the miss; stop when neither can move.
        let new_top = (top - miss).clamp(0.0, top_max);
        let rest = miss - (top - new_top);
        let new_end = (end + rest).clamp(end_min, end_max);
        if new_top == top && new_end == end {
            break;
        }
        (top, end) = (new_top, new_end);
    }
    let (_, x, st) = best.expect("at least one attempt");
    *s = st;
    x
}

/// One GenSum attempt: exponents 0..`top` in the first half, then a running sum steered
/// from 2^`top` down to 2^`end`, shuffled.
fn gensum_attempt(s: &mut Stream, p: Precision, n: usize, top: f64, end: f64) -> Vec<f64> {
    let half = n / 2;
    let mut x = Vec::with_capacity(n);
    // The running sum as an unevaluated pair (hi + lo), kept with TwoSum: accurate to
    // about 2^-106 relative, plenty to steer the construction (the achieved condition
    // number is measured exactly).
    let mut run = (0.0f64, 0.0f64);
    let push = |v: f64, x: &mut Vec<f64>, run: &mut (f64, f64)| {
        let s = run.0 + v;
        let z = s - run.0;
        let e = (run.0 - (s - z)) + (v - z);
        *run = (s, run.1 + e);
        x.push(v);
    };
    for i in 0..half {
        let e = if i == 0 {
            top
        } else if i == half - 1 {
            0.0
        } else {
            (s.unit() * top).round()
        };
        push(
            p.round(libm::ldexp(s.symmetric(), e as i32)),
            &mut x,
            &mut run,
        );
    }
    let rest = n - half;
    for j in 0..rest {
        let e = top - (top - end) * (j as f64 + 1.0) / rest as f64;
        let target = libm::ldexp(s.symmetric(), e.round() as i32);
        // Pull the running sum towards a value of size 2^e.
        let v = p.round(target - (run.0 + run.1));
        push(v, &mut x, &mut run);
    }
    // Shuffle (Fisher-Yates) so the large terms are not grouped.
    for i in (1..n).rev() {
        let j = (s.next_u64() % (i as u64 + 1)) as usize;
        x.swap(i, j);
    }
    x
}

/// SHA-256 of the values' device bytes in format `p`, as hex. Encoded in chunks: no
/// full-size copy of the input (256 MiB of f32 bytes at 2^26 elements).
pub fn checksum(p: Precision, values: &[f64]) -> String {
    let mut h = Sha256::new();
    for chunk in values.chunks(1 << 16) {
        h.update(p.encode(chunk));
    }
    hex::encode(h.finalize())
}

/// [`checksum`] of values held in their host format: the same digest.
pub fn checksum_values(p: Precision, values: &Values) -> String {
    let mut h = Sha256::new();
    if let (Values::F32(s), Precision::F32) = (values, p) {
        // The stored bytes are the encoded bytes: hashed in place.
        h.update(bytemuck::cast_slice::<f32, u8>(s));
    } else {
        const CHUNK: usize = 1 << 16;
        for start in (0..values.len()).step_by(CHUNK) {
            h.update(values.encode_range(p, start..(start + CHUNK).min(values.len())));
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::exact::{exact_sum, sum_abs};

    #[test]
    fn generators_are_seeded() {
        let a = generate(&InputSpec::Normal, Precision::F32, 100, 7, 0).unwrap();
        let b = generate(&InputSpec::Normal, Precision::F32, 100, 7, 0).unwrap();
        let c = generate(&InputSpec::Normal, Precision::F32, 100, 8, 0).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// Held-out requests (none of them is a default or a documented example): the achieved
    /// condition number is within a factor of 10 wherever the format can reach it, and the
    /// attempt never lands further from the request than the first GenSum attempt would.
    #[test]
    fn ill_conditioned_reaches_the_requested_condition() {
        let cases: &[(Precision, &[f64])] = &[
            (Precision::F64, &[3.7e3, 2.2e9, 5.1e15, 7.3e22]),
            (Precision::F32, &[3.7e3, 2.2e9, 5.1e15]),
            (Precision::Bf16, &[3.7e3, 2.2e9]),
            (Precision::F16, &[3.7e3, 4.4e5]),
        ];
        for &(p, conds) in cases {
            for &c in conds {
                for (n, seed) in [(257usize, 11u64), (4099, 12), (40_000, 13)] {
                    let x = generate(&InputSpec::IllConditioned(c), p, n, seed, 0).unwrap();
                    let got = sum_abs(&x) / exact_sum(&x).abs();
                    assert!(
                        got / c < 10.0 && c / got < 10.0,
                        "{p} n={n} illcond:{c:e} reached {got:e}"
                    );
                }
            }
        }
    }

    /// The values of [`draw`] written the plain way: block after block on one thread, each
    /// from its own generator, value after value.
    fn sequential(spec: &InputSpec, p: Precision, n: usize, seed: u64, stream: u64) -> Vec<f64> {
        let (lo, hi) = wide_exponents(p);
        (0..n.div_ceil(BLOCK))
            .flat_map(|b| {
                let mut g = block_rng(seed, stream, b);
                let len = BLOCK.min(n - b * BLOCK);
                (0..len)
                    .map(|_| match spec {
                        InputSpec::Uniform => p.round(symmetric(g.next_u64())),
                        InputSpec::Normal => p.round(normal::Normal::new().sample(&mut g)),
                        InputSpec::Wide => {
                            let e = lo + (g.next_u64() % (hi - lo + 1) as u64) as i32;
                            p.round(libm::ldexp(symmetric(g.next_u64()), e))
                        }
                        _ => unreachable!("seeded generators only"),
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Blocks drawn in parallel give the bits of the sequential draw, for every thread
    /// count, on a size that is not a multiple of the block and is large enough to split.
    #[test]
    fn seeded_blocks_give_the_same_bits_for_every_thread_count() {
        let n = crate::shared::par::MIN_PARALLEL + 3 * BLOCK + 17;
        for (spec, p, seed, stream) in [
            (InputSpec::Normal, Precision::F32, 41, 0),
            (InputSpec::Uniform, Precision::Bf16, 42, 1),
            (InputSpec::Wide, Precision::F16, 43, 0),
            (InputSpec::Normal, Precision::F64, 44, 1),
            (InputSpec::Wide, Precision::F64, 45, 0),
        ] {
            let want = sequential(&spec, p, n, seed, stream);
            for threads in [1, 2, 3, 7] {
                let got = draw_with(&spec, p, n, seed, stream, threads).unwrap();
                assert_eq!(
                    matches!(got, Values::F32(_)),
                    p != Precision::F64,
                    "host format of {p}"
                );
                let got = got.to_f64();
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same && got.len() == n,
                    "{} {p} on {threads} threads",
                    spec.label()
                );
            }
        }
    }

    /// Neighbouring seeds, streams and blocks start unrelated generators: their first
    /// words all differ.
    #[test]
    fn block_generators_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..8 {
            for stream in 0..4 {
                for block in 0..64 {
                    assert!(
                        seen.insert(block_rng(seed, stream, block).next_u64()),
                        "seed {seed} stream {stream} block {block}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_checksum_of_held_values_is_the_checksum_of_their_encoding() {
        for p in [
            Precision::F16,
            Precision::Bf16,
            Precision::F32,
            Precision::F64,
        ] {
            let v = draw_values(&InputSpec::Normal, p, 70_001, 3, 0).unwrap();
            assert_eq!(checksum_values(p, &v), checksum(p, &v.to_f64()), "{p}");
        }
    }

    #[test]
    fn ill_conditioned_is_ill_conditioned() {
        let x = generate(&InputSpec::IllConditioned(1e12), Precision::F64, 1000, 1, 0).unwrap();
        let cond = sum_abs(&x) / exact_sum(&x).abs();
        assert!(cond > 1e8, "cond = {cond:e}");
    }

    #[test]
    fn npy_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        for p in [Precision::F64, Precision::F32, Precision::F16] {
            let path = dir.path().join(format!("x_{p}.npy"));
            let v: Vec<f64> = (0..10).map(|i| p.round(i as f64 * 0.37 - 1.0)).collect();
            write_npy(&path, p, &v, &[v.len() as u64]).unwrap();
            assert_eq!(read_npy(&path, p).unwrap(), v);
        }
    }
}
