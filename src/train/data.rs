//! A seeded synthetic 10-class image data set: procedurally drawn shapes on a noisy
//! background, learnable by a small convolutional network.
//!
//! Portability: randomness comes from [`crate::inputs::Stream`] (ChaCha8), drawing uses only
//! integer arithmetic, and every pixel value is a multiple of 2^-10 in [0, 1.25), exact in
//! f32, so the bytes (and their SHA-256, recorded in the report) are the same everywhere.

use crate::inputs::Stream;
use sha2::{Digest, Sha256};

/// Image side in pixels.
pub const SIDE: usize = 16;
/// Number of classes.
pub const CLASSES: usize = 10;
/// Class names, by label.
pub const CLASS_NAMES: [&str; CLASSES] = [
    "horizontal bar",
    "vertical bar",
    "diagonal",
    "anti-diagonal",
    "hollow square",
    "filled square",
    "plus",
    "cross",
    "two dots",
    "corner",
];

/// Images (N x 1 x SIDE x SIDE, row-major) and labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of image i.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * SIDE * SIDE..(i + 1) * SIDE * SIDE]
    }

    /// SHA-256 over the little-endian f32 pixels, then the labels.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        for v in &self.images {
            h.update(v.to_le_bytes());
        }
        h.update(&self.labels);
        hex::encode(h.finalize())
    }
}

/// Uniform integer in [lo, hi].
fn range(s: &mut Stream, lo: usize, hi: usize) -> usize {
    lo + (s.next_u64() % (hi - lo + 1) as u64) as usize
}

/// Draws the shape of `label` into `img` with intensity `ink` (random position and size).
fn draw(img: &mut [f32], label: u8, ink: f32, s: &mut Stream) {
    let mut put = |r: usize, c: usize| {
        if r < SIDE && c < SIDE {
            img[r * SIDE + c] = ink;
        }
    };
    let len = range(s, 6, 12);
    let r0 = range(s, 1, SIDE - 2 - len.min(SIDE - 3));
    let c0 = range(s, 1, SIDE - 2 - len.min(SIDE - 3));
    let mid_r = range(s, 3, SIDE - 4);
    let mid_c = range(s, 3, SIDE - 4);
    match label {
        0 => (0..len).for_each(|k| put(mid_r, c0 + k)),
        1 => (0..len).for_each(|k| put(r0 + k, mid_c)),
        2 => (0..len).for_each(|k| put(r0 + k, c0 + k)),
        3 => (0..len).for_each(|k| put(r0 + k, c0 + len - 1 - k)),
        4 => {
            let a = len.min(9);
            for k in 0..a {
                put(r0, c0 + k);
                put(r0 + a - 1, c0 + k);
                put(r0 + k, c0);
                put(r0 + k, c0 + a - 1);
            }
        }
        5 => {
            let a = len.min(7);
            for i in 0..a {
                for j in 0..a {
                    put(r0 + i, c0 + j);
                }
            }
        }
        6 => {
            let h = len / 2;
            for k in 0..=2 * h {
                put(mid_r + k - h.min(mid_r), mid_c);
                put(mid_r, mid_c + k - h.min(mid_c));
            }
        }
        7 => {
            let a = len.min(9);
            for k in 0..a {
                put(r0 + k, c0 + k);
                put(r0 + k, c0 + a - 1 - k);
            }
        }
        8 => {
            for (dr, dc) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                put(r0 + dr, c0 + dc);
                put(r0 + len - 2 + dr, c0 + len - 2 + dc);
            }
        }
        _ => {
            for k in 0..len {
                put(r0 + k, c0);
                put(r0 + len - 1, c0 + k);
            }
        }
    }
}

/// `n` images with balanced labels in seeded order; `stream` separates the training and
/// evaluation sets.
pub fn generate(n: usize, seed: u64, stream: u64) -> Dataset {
    let mut s = Stream::new(seed, 0x7a11_0000 + stream);
    let mut images = vec![0f32; n * SIDE * SIDE];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (s.next_u64() % CLASSES as u64) as u8;
        let img = &mut images[i * SIDE * SIDE..(i + 1) * SIDE * SIDE];
        for v in img.iter_mut() {
            // Noise: k * 2^-10 with k in [0, 256): exact in f32.
            *v = (s.next_u64() >> 56) as f32 / 1024.0;
        }
        // Ink: (6 + k) / 8 with k in [0, 4): 0.75 .. 1.125.
        let ink = (6 + (s.next_u64() % 4) as u32) as f32 / 8.0;
        draw(img, label, ink, &mut s);
        labels.push(label);
    }
    Dataset { images, labels }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_balanced_enough() {
        let a = generate(500, 7, 0);
        assert_eq!(a, generate(500, 7, 0));
        assert_ne!(a.sha256(), generate(500, 8, 0).sha256());
        for c in 0..CLASSES as u8 {
            assert!(a.labels.iter().filter(|&&l| l == c).count() > 20);
        }
        assert!(a.images.iter().all(|&v| (0.0..1.25).contains(&v)));
    }
}
