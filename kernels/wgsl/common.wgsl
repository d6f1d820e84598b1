// detbench WGSL prelude: the helpers every kernel family shares. Each family's host puts it
// in front of the family's template (`crate::backend::wgpu::specialise_family`), then
// specialises both together, so the `//#if` flags below are the family's own and a family
// that sets none of them gets none of this file. The header's aliases (`C`, the compute
// type; `XW`, the storage word of an input) are in scope here as everywhere.
//
// Flags read here: IN_F32 IN_F64 IN_F16 IN_BF16 (input format), ROUND_HALF with one of
// HALF_F16 HALF_BF16 (rounding to that half format is needed), V_FIXED with C64 (the
// fixed-point quantizer, on f64 or f32 values), OPAQUE (`opaque` and `opq32`; the family's
// uniform `prm` has a `zero: u32` that is always 0), TWO_SUM32 (TwoSum and rounding to odd
// in f32; needs OPAQUE), ACC_ADD (the accumulator's add and sub, by ACC_* flag; needs
// TWO_SUM32 for a half accumulator), ATOMIC_CELLS with one of NATIVE_ATOMIC CAS64 CAS32 (one
// atomic cell per output element at binding 4, `atomic_add(e, v)` and `cell_value(e)`; the
// compare-exchange forms count give-ups at binding 5 and need MAX_TRIES and `addc`).
//
// Every piece of arithmetic that more than one family needs is here, once: a family
// template defines only its own kernels.

// ---------------------------------------------------------------------------------------
// Loading: every input value is exact in C. `word_index(i)` is the storage word of element
// i and `decode(word, i)` its value.

//#if IN_F16
fn decode(w: u32, i: u32) -> C {
    // unpack2x16float is exact: every f16 is an f32.
    let v = unpack2x16float(w);
    return C(select(v.x, v.y, (i & 1u) == 1u));
}
fn word_index(i: u32) -> u32 {
    return i >> 1u;
}
//#endif
//#if IN_BF16
fn decode(w: u32, i: u32) -> C {
    // A bf16 is the top half of an f32: shifting its bits up is exact.
    let h = select(w & 0xffffu, w >> 16u, (i & 1u) == 1u);
    return C(bitcast<f32>(h << 16u));
}
fn word_index(i: u32) -> u32 {
    return i >> 1u;
}
//#endif
//#if IN_F32
fn decode(w: f32, i: u32) -> C {
    return C(w);
}
fn word_index(i: u32) -> u32 {
    return i;
}
//#endif
//#if IN_F64
fn decode(w: f64, i: u32) -> C {
    return w;
}
fn word_index(i: u32) -> u32 {
    return i;
}
//#endif

// ---------------------------------------------------------------------------------------
// Rounding an f32 to a half format, round to nearest even, with bit operations.

//#if ROUND_HALF
// a >> s rounded to nearest, ties to even (1 <= s <= 31).
fn rne_drop(a: u32, s: u32) -> u32 {
    let r = a >> s;
    let rem = a & ((1u << s) - 1u);
    let half = 1u << (s - 1u);
    return r + select(0u, 1u, rem > half || (rem == half && (r & 1u) == 1u));
}
//#endif
//#if HALF_BF16
fn round_half(v: f32) -> f32 {
    let b = bitcast<u32>(v);
    let a = b & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        return v;
    }
    // Subnormals and the carry into the exponent (and to infinity) fall out of the integer add.
    return bitcast<f32>((b & 0x80000000u) | (rne_drop(a, 16u) << 16u));
}
//#endif
//#if HALF_F16
fn round_half(v: f32) -> f32 {
    let b = bitcast<u32>(v);
    let a = b & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        return v;
    }
    if (a >= 0x477ff000u) {
        // >= 65520 = 65504 + half an ulp: ties to even go to infinity.
        return bitcast<f32>((b & 0x80000000u) | 0x7f800000u);
    }
    if (a < 0x38800000u) {
        // Below 2^-14 an f16 is subnormal with quantum 2^-24: v * 2^24 is exact and
        // WGSL round() is round-half-to-even.
        return round(v * 16777216.0) * bitcast<f32>(0x33800000u);
    }
    return bitcast<f32>((b & 0x80000000u) | (rne_drop(a, 13u) << 13u));
}
//#endif

// ---------------------------------------------------------------------------------------
// fixed_point: v = (-1)^s * m * 2^e with m an integer significand, scaled by 2^k and
// rounded to the nearest integer, ties to even, as a wrapping two's-complement u64 (the
// CPU's i64), and whether any nonzero bits were rounded away.

//#if V_FIXED
struct Quant {
    q: u64,
    lost: bool,
}

//#if C64
fn quantize(v: f64, k: i32) -> Quant {
    let b = bitcast<u64>(v);
    let ex = i32((b >> 52u) & u64(0x7ff));
    var m = (b << 12u) >> 12u;
    var e = -1074;
    if (ex != 0) {
        m = m | (u64(1) << 52u);
        e = ex - 1075;
    }
    let neg = (b >> 63u) == u64(1);
//#else
fn quantize(v: f32, k: i32) -> Quant {
    let b = bitcast<u32>(v);
    let ex = i32((b >> 23u) & 0xffu);
    var m = u64(b & 0x7fffffu);
    var e = -149;
    if (ex != 0) {
        m = m | u64(0x800000u);
        e = ex - 150;
    }
    let neg = (b >> 31u) == 1u;
//#endif
    let sh = e + k;
    var q = u64(0);
    var lost = false;
//#if C64
    let non_finite = ex == 0x7ff;
//#else
    let non_finite = ex == 0xff;
//#endif
    if (non_finite) {
        // Inf or NaN: no integer holds it. The host refuses such jobs before any kernel
        // runs; should one reach here it adds 0 and counts as lost, as the CPU does.
        lost = true;
    } else if (m == u64(0)) {
        q = u64(0);
    } else if (sh >= 0) {
        // |v| * 2^k < 2^61 by the choice of k, so this shift never overflows.
        q = m << u32(sh);
    } else if (sh < -60) {
        // m < 2^53, so m * 2^sh < 1/2: rounds to zero.
        lost = true;
    } else {
        let r = u32(-sh);
        let base = m >> r;
        let rem = m & ((u64(1) << r) - u64(1));
        let half = u64(1) << (r - 1u);
        q = base + select(u64(0), u64(1), rem > half || (rem == half && (base & u64(1)) == u64(1)));
        lost = rem != u64(0);
    }
    if (neg) {
        q = ~q + u64(1);
    }
    return Quant(q, lost);
}
//#endif

// ---------------------------------------------------------------------------------------
// Hiding a value from the compiler.
//
// naga marks no arithmetic as exact (SPIR-V NoContraction), so a driver may rewrite
// (a + b) - a as b, which erases the rounding error that TwoSum and binned deposits
// measure (Mesa's lavapipe does), and may fuse x*y into the add that consumes it. A select
// on a uniform the compiler cannot see is always 0 hides where a value came from without
// any arithmetic (a multiply by a uniform 1.0 is not enough: lavapipe factors it out).

//#if OPAQUE
fn opaque(v: C) -> C {
    return select(v, C(0.0), prm.zero != 0u);
}
fn opq32(v: f32) -> f32 {
    return select(v, 0.0, prm.zero != 0u);
}
//#endif

// ---------------------------------------------------------------------------------------
// TwoSum and rounding to odd in f32: what a half accumulator's add needs to round once.
// (The exact product, the lavapipe-safe fma and the f64 transforms are reduce.wgsl's: no
// other family multiplies in its accumulator.)

//#if TWO_SUM32
struct Two32 {
    h: f32,
    l: f32,
}
// a + b = h + l exactly.
fn two_sum32(a: f32, b: f32) -> Two32 {
    let s = opq32(a + b);
    let z = opq32(s - a);
    return Two32(s, (a - (s - z)) + (b - z));
}
// s rounded to odd, where the exact value is s plus an error that is nonzero (`inexact`)
// and lies above s (`up`, towards larger magnitude): if inexact, force the last bit of s to
// 1 towards the exact value. Rounded to odd at p bits and then to nearest at p - 2 or fewer
// is the correct rounding.
fn to_odd(s: f32, inexact: bool, up: bool) -> f32 {
    let b = bitcast<u32>(s);
    if (!inexact || (b & 1u) == 1u || s == 0.0 || (b & 0x7f800000u) == 0x7f800000u) {
        return s;
    }
    return bitcast<f32>(select(b - 1u, b + 1u, up));
}
// h + l rounded to odd.
fn odd32(t: Two32) -> f32 {
    return to_odd(t.h, t.l != 0.0, (t.l > 0.0) == (t.h > 0.0));
}
//#endif

// ---------------------------------------------------------------------------------------
// Accumulator addition (`Arith` in src/shared/arith.rs): `add` and `sub` in the format of
// the ACC_* flag, for the families that set ACC_ADD.

//#if ACC_ADD
//#if ACC_HALF
//#if !C64
// Rounding the exact result to odd in f32 first makes mixed inputs (f32 data in an f16
// accumulator) round once, like the CPU's f64 arithmetic; for half inputs it changes nothing.
fn add(a: f32, b: f32) -> f32 {
    return round_half(odd32(two_sum32(a, b)));
}
//#else
// An f64 value rounded once to the half accumulator. The error's sign and whether it is
// zero are taken in f64: as an f32 it could underflow to 0.
fn round_acc64(v: f64) -> f64 {
    let t = f32(v);
    let e = v - f64(t);
    return f64(round_half(to_odd(t, e != 0.0, (e > 0.0) == (t > 0.0))));
}
fn add(a: f64, b: f64) -> f64 {
    return round_acc64(a + b);
}
//#endif
fn sub(a: C, b: C) -> C {
    return add(a, -b);
}
//#endif

//#if ACC_F32
//#if !C64
fn add(a: f32, b: f32) -> f32 {
    return a + b;
}
fn sub(a: f32, b: f32) -> f32 {
    return a - b;
}
//#else
// f64 input, f32 accumulator: compute in f64 and round to f32, as the CPU does.
fn add(a: f64, b: f64) -> f64 {
    return f64(f32(a + b));
}
fn sub(a: f64, b: f64) -> f64 {
    return f64(f32(a - b));
}
//#endif
//#endif

//#if ACC_F64
fn add(a: f64, b: f64) -> f64 {
    return a + b;
}
fn sub(a: f64, b: f64) -> f64 {
    return a - b;
}
//#endif
//#endif

// ---------------------------------------------------------------------------------------
// Atomic output cells of the families whose atomic variants add whole partial results into
// their outputs (conv, matmul).

//#if ATOMIC_CELLS
//#if NATIVE_ATOMIC
@group(0) @binding(4) var<storage, read_write> cells: array<atomic<f32>>;
fn atomic_add(e: u32, v: C) {
    atomicAdd(&cells[e], v);
}
fn cell_value(e: u32) -> C {
    return atomicLoad(&cells[e]);
}
//#else
//#if CAS64
@group(0) @binding(4) var<storage, read_write> cells: array<atomic<u64>>;
fn to_word(v: C) -> u64 {
    return bitcast<u64>(v);
}
fn from_word(w: u64) -> C {
    return bitcast<f64>(w);
}
//#else
@group(0) @binding(4) var<storage, read_write> cells: array<atomic<u32>>;
fn to_word(v: C) -> u32 {
    return bitcast<u32>(v);
}
fn from_word(w: u32) -> C {
    return bitcast<f32>(w);
}
//#endif
// Set when a compare-exchange loop gave up after MAX_TRIES failed tries (the host fails
// the run): every failure means another thread succeeded, so the cap only guards against
// a pathological scheduler.
@group(0) @binding(5) var<storage, read_write> gave_up: atomic<u32>;
fn atomic_add(e: u32, v: C) {
    var old = atomicLoad(&cells[e]);
    for (var t = 0u; t < MAX_TRIES; t++) {
        let r = atomicCompareExchangeWeak(&cells[e], old, to_word(addc(from_word(old), v)));
        if (r.exchanged) {
            return;
        }
        old = r.old_value;
    }
    atomicAdd(&gave_up, 1u);
}
fn cell_value(e: u32) -> C {
    return from_word(atomicLoad(&cells[e]));
}
//#endif
//#endif
