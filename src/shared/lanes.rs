//! Exact integer fold lanes read back from a device, turned into binned states and
//! finalised by the host code every backend shares.

use crate::numerics::repro::{ReproParams, ReproState};
use crate::numerics::Precision;

/// Integer lanes per output value of a reproducible kernel: one per fold.
pub const REPRO_LANES: usize = 3;

/// Finalises the per-bin integer lanes reproducible reads back from a device: `limbs`
/// little-endian u32 words of two's complement per lane, [`REPRO_LANES`] lanes (one
/// per fold, counting quanta of the fold) per bin. Each lane becomes the binned state with
/// the same exact value (carry = whole carry units, primary = 1.5 * 2^a_k plus the rest),
/// finalised with the code every backend shares.
pub fn finalize_lanes(p: &ReproParams, words: &[u32], limbs: usize, bins: usize) -> Vec<f64> {
    let per_bin = REPRO_LANES * limbs;
    // Quanta per carry unit: 2^(a-2) / 2^(a-p+1).
    let unit_bits = p.p() - 3;
    let lane = |b: usize, k: usize| -> i128 {
        let w = &words[b * per_bin + k * limbs..][..limbs];
        let raw = w
            .iter()
            .rev()
            .fold(0u128, |acc, &v| (acc << 32) | u128::from(v));
        // Sign-extend from 32 * limbs bits.
        let sh = 128 - 32 * limbs as u32;
        ((raw << sh) as i128) >> sh
    };
    (0..bins)
        .map(|b| {
            let mut carry = [0i32; REPRO_LANES];
            let mut rest = [0f64; REPRO_LANES];
            for k in 0..p.folds {
                let t = lane(b, k);
                carry[k] = t.div_euclid(1i128 << unit_bits) as i32;
                // Below 2^(p-3): exact in f64, and the primary stays in its binade.
                rest[k] = t.rem_euclid(1i128 << unit_bits) as f64 * p.quantum(k);
            }
            if p.acc == Precision::F64 {
                let mut s = ReproState::<f64>::new(p);
                for (prim, r) in s.primary.iter_mut().zip(rest).take(p.folds) {
                    *prim += r;
                }
                s.carry = carry;
                s.finalize(p)
            } else {
                let mut s = ReproState::<f32>::new(p);
                for (prim, r) in s.primary.iter_mut().zip(rest).take(p.folds) {
                    *prim += r as f32;
                }
                s.carry = carry;
                s.finalize(p)
            }
        })
        .collect()
}
