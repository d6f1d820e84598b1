//! The seeded stochastic rounding of the `*stochastic_rounding` variants: a counter-based
//! hash gives each (step, element) its random bits, so the rounding is a function of the
//! seed, written the same way in cpu.rs, optim.wgsl and optim.cu.

/// MurmurHash3's 32-bit finaliser: a bijection with full avalanche.
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The 32-bit key of the stochastic-rounding hash for a seed.
pub fn sr_key(seed: u64) -> u32 {
    fmix32((seed as u32) ^ fmix32((seed >> 32) as u32 ^ 0x5eed_0b57))
}

/// The random bits element `index` uses at step `step`: the same integer formula in
/// cpu.rs, optim.wgsl and optim.cu.
pub fn sr_hash(key: u32, step: u32, index: u32) -> u32 {
    fmix32(fmix32(key ^ step.wrapping_mul(0x9e37_79b9)) ^ index)
}

/// Rounds an f32 into bf16 stochastically: adds 16 random bits below the bf16 mantissa and
/// truncates, so it rounds away from zero with probability (dropped bits) / 2^16 — exactly
/// unbiased for every finite value. NaN and infinity are kept.
pub fn round_bf16_stochastic(x: f32, bits: u32) -> half::bf16 {
    let u = x.to_bits();
    if (u & 0x7f80_0000) == 0x7f80_0000 {
        return half::bf16::from_f32(x);
    }
    let r = u.wrapping_add(bits & 0xffff) & 0xffff_0000;
    half::bf16::from_bits((r >> 16) as u16)
}
