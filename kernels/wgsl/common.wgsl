// detbench WGSL prelude: the helpers every kernel family shares. Each family's host puts it
// in front of the family's template (`crate::ops::wgsl::specialise_family`), then
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
// compare-exchange forms count give-ups at binding 5 and need MAX_TRIES and `addc`), FMA32
// (two_prod32 and the single-rounding fma32; needs TWO_SUM32; with FMA32_F64 and EFT64 it
// goes through f64, for devices with SHADER_F64 and SHADER_INT64), EFT64 (f64 TwoSum and
// rounding to odd; needs OPAQUE), FMA64 (two_prod64 and fma64; needs EFT64 and
// SHADER_INT64).
//
// The flags, declared for the preprocessor (src/ops/wgsl.rs), which rejects any other:
//#flags ACC_ADD ACC_BF16 ACC_F16 ACC_F32 ACC_F64 ACC_HALF ADDC ATOMIC_CELLS C64 CAS32 CAS64
//#flags EFT64 FMA32 FMA32_F64 FMA64 GEMM_STEP HALF_BF16 HALF_F16 IN_BF16 IN_F16 IN_F32 IN_F64
//#flags NATIVE_ATOMIC OPAQUE REPRO_BITS ROUND_HALF TWO_SUM32 TWO_SUM_ACC V_FIXED
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
//#if C64
    let non_finite = ex == 0x7ff;
//#else
    let non_finite = ex == 0xff;
//#endif
    // Both cases computed and one selected, without branches: a device that runs threads
    // in lockstep lanes (lavapipe) would pay for every branch of an if-chain on every term.
    // sh >= 0: |v| * 2^k < 2^61 by the choice of k, so the left shift never overflows.
    let left = m << u32(clamp(sh, 0, 63));
    // sh < 0: drop r bits, round to nearest, ties to even. Beyond 63 bits (m < 2^53 is then
    // below half the dropped quantum) a shift of 63 gives the same: 0, lost if m != 0.
    let r = u32(clamp(-sh, 1, 63));
    let base = m >> r;
    let rem = m & ((u64(1) << r) - u64(1));
    let half = u64(1) << (r - 1u);
    let up = rem > half || (rem == half && (base & u64(1)) == u64(1));
    let right = base + select(u64(0), u64(1), up);
    // Inf or NaN: no integer holds it. The host refuses such jobs before any kernel runs;
    // should one reach here it adds 0 and counts as lost, as the CPU does.
    let q = select(select(right, left, sh >= 0), u64(0), non_finite);
    let lost = non_finite || (sh < 0 && rem != u64(0));
    return Quant(select(q, ~q + u64(1), neg), lost);
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
// Error-free transforms in f32. Vulkan lets a driver compute `fma` as a multiply and an
// add (lavapipe does), so the single-rounding fma the CPU uses (`Arith::fma`) is built from
// Dekker's exact product, TwoSum and round-to-odd (Boldo & Melquiond, "Emulation of FMA and
// correctly rounded sums: proved algorithms using rounding to odd", IEEE TC 57(4), 2008).
// Every family that multiplies in f32 or f64 and must round once uses these (flags FMA32
// and FMA64), so there is one copy of each.

//#if FMA32
// a * b = h + l exactly (Veltkamp split with 2^12 + 1; every partial product is exact).
// The split multiplies by 4097, which overflows above 2^115: the larger operand is first
// scaled by 2^-64 (exact: it is >= 2^100), the split runs on the scaled product, and its
// error is scaled back (exact: it lies far above the subnormal range, since |a| >= 2^100).
// h is always the unscaled fl(a * b), so an overflowing product stays infinite.
fn two_prod32(a: f32, b: f32) -> Two32 {
    let p = opq32(a * b);
    let swap = abs(a) < abs(b);
    var x = select(a, b, swap);
    let y = select(b, a, swap);
    let big = abs(x) >= bitcast<f32>(227u << 23u); // 2^100
    x = select(x, x * bitcast<f32>(63u << 23u), big); // * 2^-64
    let ps = select(p, opq32(x * y), big);
    let cx = opq32(4097.0 * x);
    let xh = cx - opq32(cx - x);
    let xl = x - xh;
    let cy = opq32(4097.0 * y);
    let yh = cy - opq32(cy - y);
    let yl = y - yh;
    let l = (((xh * yh - ps) + xh * yl) + xl * yh) + xl * yl;
    return Two32(p, select(l, l * bitcast<f32>(191u << 23u), big)); // * 2^64
}
//#if FMA32_F64
// fl(a * b + c) with one rounding, through f64 (the device has SHADER_F64): a * b is exact
// in f64 (48 significant bits, exponent >= -298, far above f64's subnormals), TwoSum with c
// is exact, and the f64 sum rounded to odd then rounded to f32 is the correctly rounded
// result (53 >= 24 + 2), subnormal results included. The split-based version below cannot
// do this near the subnormal range, where the product's error is not an f32
// (tests/edges.rs, fma_near_subnormal_products_f32, found it).
fn fma32(a: f32, b: f32, c: f32) -> f32 {
    let p = opq64(f64(a) * f64(b));
    if (((bitcast<u64>(p) >> 52u) & u64(0x7ff)) == u64(0x7ff)) {
        // An operand is not finite: as the fused operation.
        return f32(p) + c;
    }
    return f32(odd64(two_sum64(f64(c), p)));
}
//#else
// fl(a * b + c) with one rounding. The split-based path (Boldo & Melquiond) is exact only
// when nothing underflows or overflows on the way: a and b normal with 2^-100 <= |a*b| <
// 2^125, and c zero or normal in [2^-100, 2^126) (then every intermediate is exact or a
// normal f32). Every other finite case takes fma32_int, which is exact in integers.
fn fma32(a: f32, b: f32, c: f32) -> f32 {
    if (fma32_fast(a, b, c)) {
        let p = two_prod32(a, b);
        let t = two_sum32(c, p.h);
        return t.h + odd32(two_sum32(t.l, p.l));
    }
    return fma32_int(a, b, c, false);
}
//#endif

// Whether fma32's split-based path is exact for these operands (see fma32).
fn fma32_fast(a: f32, b: f32, c: f32) -> bool {
    let ea = i32((bitcast<u32>(a) >> 23u) & 0xffu);
    let eb = i32((bitcast<u32>(b) >> 23u) & 0xffu);
    let ec = i32((bitcast<u32>(c) >> 23u) & 0xffu);
    let e = ea + eb - 254; // 2^e <= |a*b| < 2^(e+2)
    let c_ok = (bitcast<u32>(c) & 0x7fffffffu) == 0u || (ec >= 27 && ec <= 252);
    return ea != 0 && eb != 0 && ea != 255 && eb != 255 && e >= -100 && e <= 124 && c_ok;
}

// a * b rounded to odd in f32 (for rounding once more, to a half format).
fn mul_odd32(a: f32, b: f32) -> f32 {
    if (fma32_fast(a, b, 0.0)) {
        return odd32(two_prod32(a, b));
    }
    return fma32_int(a, b, 0.0, true);
}

// ---------------------------------------------------------------------------------------
// The f32 fma in integers: a * b + c exactly as a 62-bit integer times a power of two (u64
// as vec2<u32>: x low, y high word), rounded once, to nearest even or to odd, subnormals
// and overflow included. Independent of how the device rounds, fuses or flushes floats.

// |v| = m * 2^e with m < 2^24 an integer.
struct Unpacked32 {
    m: u32,
    e: i32,
    neg: bool,
}
fn unpack32(v: f32) -> Unpacked32 {
    let b = bitcast<u32>(v);
    let ex = (b >> 23u) & 0xffu;
    if (ex == 0u) {
        return Unpacked32(b & 0x7fffffu, -149, (b >> 31u) == 1u);
    }
    return Unpacked32((b & 0x7fffffu) | 0x800000u, i32(ex) - 150, (b >> 31u) == 1u);
}
// a * b for a, b < 2^24, from 16-bit pieces (every partial product fits a u32).
fn mul24(a: u32, b: u32) -> vec2<u32> {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let ll = al * bl;
    let mid = al * bh + ah * bl; // < 2^25
    let lo = ll + (mid << 16u);
    return vec2<u32>(lo, ah * bh + (mid >> 16u) + select(0u, 1u, lo < ll));
}
fn shl64(v: vec2<u32>, s: u32) -> vec2<u32> {
    if (s == 0u) {
        return v;
    }
    if (s >= 32u) {
        return vec2<u32>(0u, v.x << (s - 32u));
    }
    return vec2<u32>(v.x << s, (v.y << s) | (v.x >> (32u - s)));
}
// v >> s, with bit 0 set if any nonzero bit was shifted out (the sticky bit).
fn shr64_sticky(v: vec2<u32>, s: u32) -> vec2<u32> {
    if (s == 0u) {
        return v;
    }
    if (s >= 64u) {
        return vec2<u32>(select(0u, 1u, (v.x | v.y) != 0u), 0u);
    }
    var r: vec2<u32>;
    if (s >= 32u) {
        r = vec2<u32>(v.y >> (s - 32u), 0u);
    } else {
        r = vec2<u32>((v.x >> s) | (v.y << (32u - s)), v.y >> s);
    }
    let lost = any(shl64(r, s) != v);
    return vec2<u32>(r.x | select(0u, 1u, lost), r.y);
}
// Bits needed for v (0 for 0).
fn bitlen64(v: vec2<u32>) -> i32 {
    if (v.y != 0u) {
        return 33 + i32(firstLeadingBit(v.y));
    }
    if (v.x != 0u) {
        return 1 + i32(firstLeadingBit(v.x));
    }
    return 0;
}
fn lt64(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y < b.y || (a.y == b.y && a.x < b.x);
}

// (-1)^neg * w * 2^e (w != 0, w < 2^63) rounded to f32: to nearest even, or to odd.
fn round_w32(neg: bool, w: vec2<u32>, e: i32, odd: bool) -> f32 {
    let sign = select(0u, 0x80000000u, neg);
    let te = e + bitlen64(w) - 1; // 2^te <= |value| < 2^(te+1)
    if (te > 127) {
        // Overflow: infinity to nearest, the largest finite value to odd.
        return bitcast<f32>(sign | select(0x7f800000u, 0x7f7fffffu, odd));
    }
    let qe = max(te, -126) - 23; // the quantum of f32 at this magnitude
    let s = qe - e; // bits to drop
    var q = 0u;
    if (s <= 0) {
        q = shl64(w, u32(-s)).x; // exact: fewer than 24 bits
    } else {
        // g: the kept bits, then the half bit, then a sticky bit.
        var g = w.x << 1u;
        if (s >= 2) {
            g = shr64_sticky(w, u32(s - 2)).x;
        }
        q = g >> 2u;
        let low = g & 3u;
        if (odd) {
            q = q | select(0u, 1u, low != 0u);
        } else if (low > 2u || (low == 2u && (q & 1u) == 1u)) {
            q = q + 1u;
        }
    }
    // Subnormal: q * 2^-149 is the encoding; normal: the exponent field plus q, whose
    // hidden bit (or a carry to 2^24) adds one to it (up to infinity's encoding).
    return bitcast<f32>(sign | ((u32(max(te + 126, 0)) << 23u) + q));
}

// a * b + c rounded once (to nearest even, or to odd), for every f32 input.
fn fma32_int(a: f32, b: f32, c: f32, odd: bool) -> f32 {
    let ma = bitcast<u32>(a) & 0x7fffffffu;
    let mb = bitcast<u32>(b) & 0x7fffffffu;
    if (ma >= 0x7f800000u || mb >= 0x7f800000u || ma == 0u || mb == 0u) {
        // Inf, NaN or an exact zero product: unfused gives the fused result.
        return opq32(a * b) + c;
    }
    if ((bitcast<u32>(c) & 0x7fffffffu) >= 0x7f800000u) {
        return c;
    }
    let ua = unpack32(a);
    let ub = unpack32(b);
    let uc = unpack32(c);
    let np = ua.neg != ub.neg;
    var p = mul24(ua.m, ub.m);
    if (uc.m == 0u) {
        return round_w32(np, p, ua.e + ub.e, odd);
    }
    // Both terms with their top bit at bit 60: value = w * 2^e, 2^60 <= w < 2^61.
    let lp = bitlen64(p);
    p = shl64(p, u32(61 - lp));
    let ep = ua.e + ub.e - (61 - lp);
    let lc = 1 + i32(firstLeadingBit(uc.m));
    let wc = shl64(vec2<u32>(uc.m, 0u), u32(61 - lc));
    let ec = uc.e - (61 - lc);
    // hi: the term of larger magnitude.
    let c_hi = ec > ep || (ec == ep && lt64(p, wc));
    let hi = select(p, wc, c_hi);
    var lo = select(wc, p, c_hi);
    let e = select(ep, ec, c_hi);
    let neg = select(np, uc.neg, c_hi);
    // Aligned: shifted by one or none, nothing is lost (the low 13 bits are clear); by two
    // or more, the result keeps its top bit at 59 or above and rounds at bit 36 or above,
    // where a sticky bit in bit 0 decides exactly as the lost bits would.
    lo = shr64_sticky(lo, u32(e - select(ec, ep, c_hi)));
    var w: vec2<u32>;
    if (np == uc.neg) {
        let s0 = hi.x + lo.x;
        w = vec2<u32>(s0, hi.y + lo.y + select(0u, 1u, s0 < hi.x));
    } else {
        w = vec2<u32>(hi.x - lo.x, hi.y - lo.y - select(0u, 1u, hi.x < lo.x));
    }
    if ((w.x | w.y) == 0u) {
        // Exact cancellation: +0 when rounding to nearest.
        return 0.0;
    }
    return round_w32(neg, w, e, odd);
}
//#endif

// f64 error-free transforms: for f64 dot products, and for fma32 through f64 (EFT64 is
// set with either).
//#if EFT64
struct Two64 {
    h: f64,
    l: f64,
}
fn opq64(v: f64) -> f64 {
    return select(v, 0.0, prm.zero != 0u);
}
fn two_sum64(a: f64, b: f64) -> Two64 {
    let s = opq64(a + b);
    let z = opq64(s - a);
    return Two64(s, (a - (s - z)) + (b - z));
}
fn odd64(t: Two64) -> f64 {
    let b = bitcast<u64>(t.h);
    if (t.l == 0.0 || (b & u64(1)) == u64(1) || t.h == 0.0 || ((b >> 52u) & u64(0x7ff)) == u64(0x7ff)) {
        return t.h;
    }
    return bitcast<f64>(select(b - u64(1), b + u64(1), (t.l > 0.0) == (t.h > 0.0)));
}
//#endif

//#if FMA64
// As two_prod32: the split constant 2^27 + 1 overflows above 2^996, so an operand at or
// above 2^968 is scaled by 2^-128 first and the error scaled back.
fn two_prod64(a: f64, b: f64) -> Two64 {
    let p = opq64(a * b);
    let swap = abs(a) < abs(b);
    var x = select(a, b, swap);
    let y = select(b, a, swap);
    let big = abs(x) >= bitcast<f64>(u64(1991u) << 52u); // 2^968
    x = select(x, x * bitcast<f64>(u64(895u) << 52u), big); // * 2^-128
    let ps = select(p, opq64(x * y), big);
    let cx = opq64(134217729.0 * x);
    let xh = cx - opq64(cx - x);
    let xl = x - xh;
    let cy = opq64(134217729.0 * y);
    let yh = cy - opq64(cy - y);
    let yl = y - yh;
    let l = (((xh * yh - ps) + xh * yl) + xl * yh) + xl * yl;
    return Two64(p, select(l, l * bitcast<f64>(u64(1151u) << 52u), big)); // * 2^128
}
fn pow2_64(biased: u32) -> f64 {
    return bitcast<f64>(u64(biased) << 52u);
}
// fl(a * b + c) with one rounding. Near the top of the range (a*b or c at or above
// 2^1020, an overflowing a*b included) the transforms would overflow (inf, then NaN): the
// larger operand and c are scaled by 2^-64 (exact: the product is then at least 2^-960, so
// that operand is at least 2^-480; a c below 2^-900 is replaced by the smallest subnormal
// of its sign, which rounds the same way against a product at least 2^956), and the
// scaled result, correctly rounded, is scaled back (exact, or the overflow to infinity
// that rounding the unscaled sum gives).
fn fma64(a: f64, b: f64, c: f64) -> f64 {
    let p = opq64(a * b);
    let fin = max(max(abs(a), abs(b)), abs(c)) <= bitcast<f64>(u64(0x7fefffffffffffff));
    let top = abs(p) >= pow2_64(2043u) || abs(c) >= pow2_64(2043u); // 2^1020
    if (fin && top && a != 0.0 && b != 0.0 && c != 0.0 && abs(p) >= pow2_64(63u)) {
        let swap = abs(a) < abs(b);
        let x = select(a, b, swap) * pow2_64(959u); // * 2^-64
        let y = select(b, a, swap);
        let tiny = select(bitcast<f64>(u64(1)), -bitcast<f64>(u64(1)), c < 0.0);
        let cs = select(c * pow2_64(959u), tiny, abs(c) < pow2_64(123u));
        return fma64_core(x, y, cs) * pow2_64(1087u); // * 2^64
    }
    return fma64_core(a, b, c);
}
// fl(a * b + c) below the top of the range. two_prod64's error term is exact only while it
// is an f64, which fails for products below about 2^-960; those take fma64_small.
fn fma64_core(a: f64, b: f64, c: f64) -> f64 {
    let p = two_prod64(a, b);
    if (((bitcast<u64>(p.h) >> 52u) & u64(0x7ff)) == u64(0x7ff)) {
        return p.h + c;
    }
    if (c == 0.0) {
        // fl(a*b + 0) is the hardware's correctly rounded product, signed zero included
        // (only an exact zero product takes the sum's sign rule).
        return select(p.h, p.h + c, p.h == 0.0);
    }
    if (abs(p.h) < pow2_64(63u) && a != 0.0 && b != 0.0) { // |a*b| < 2^-960
        if (abs(c) >= pow2_64(123u)) { // 2^-900
            // |a*b| is below a quarter of c's ulp: the sum rounds to c (no tie possible).
            return c;
        }
        return fma64_small(a, b, c);
    }
    let t = two_sum64(c, p.h);
    return t.h + odd64(two_sum64(t.l, p.l));
}
// fl(a*b + c) for |a*b| < 2^-960 and 0 < |c| < 2^-900: everything scaled by 2^600 (the
// smaller operand and c, both exactly), where the product's error is an f64; the scaled
// sum rounded to nearest if its result is normal, else rounded to the subnormal grid
// (2^-474 scaled) explicitly, and scaled back (exact: a multiple of 2^-1074 below
// 2^-1022). Checked against exact rationals on 200,000 random cases of this range
// (including cancellation of c against a*b) before it was written here.
fn fma64_small(a: f64, b: f64, c: f64) -> f64 {
    let swap = abs(a) < abs(b);
    let x = select(a, b, swap);
    let y = select(b, a, swap) * pow2_64(1623u); // * 2^600; |y| < 2^-480 before
    let cs = c * pow2_64(1623u);
    let p = two_prod64(x, y);
    if (abs(p.h) < pow2_64(123u)) {
        // |a*b| < 2^-1500, far below half the smallest subnormal: c (nonzero) is the sum.
        return c;
    }
    let t = two_sum64(cs, p.h);
    // u: the tail rounded to odd (its lost bits lie far below the grid, and stay sticky);
    // h.h + h.l = t.h + u exactly, |h.l| <= ulp(h.h) / 2.
    let u = odd64(two_sum64(t.l, p.l));
    let h = two_sum64(t.h, u);
    if (abs(h.h) >= pow2_64(601u)) { // 2^-422: the result is normal
        return h.h * pow2_64(423u); // * 2^-600, exact
    }
    // Round h.h + h.l to the grid G = 2^-474: w = h.h + k rounded lies in [2^-422, 2^-421]
    // (k = +-2^-422, h.h's sign), whose ulp is G; e + h.l (|e| <= G/2, |h.l| <= G/4) is what
    // w misses, so w moves by one G when that exceeds G/2, or equals it and w is odd (ties
    // to even: k is an even multiple of G).
    let k = select(pow2_64(601u), -pow2_64(601u), h.h < 0.0);
    let we = two_sum64(h.h, k);
    let d = two_sum64(we.l, h.l);
    let gh = pow2_64(548u); // G / 2 = 2^-475
    let odd_w = (bitcast<u64>(we.h) & u64(1)) == u64(1);
    var adj: f64 = 0.0;
    if (d.h > gh || (d.h == gh && (d.l > 0.0 || (d.l == 0.0 && odd_w)))) {
        adj = pow2_64(549u); // G
    } else if (d.h < -gh || (d.h == -gh && (d.l < 0.0 || (d.l == 0.0 && odd_w)))) {
        adj = -pow2_64(549u);
    }
    let g = opq64(we.h + adj) - k;
    if (g == 0.0) {
        // Rounded to zero: the sign of the exact sum.
        return select(0.0, bitcast<f64>(u64(1) << 63u), h.h < 0.0);
    }
    return g * pow2_64(423u);
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

// ---------------------------------------------------------------------------------------
// Binned (reproducible) deposits: powers of two and 1.5 * 2^a built from their bits (exact;
// every one is normal), in the binned state's type (f64 with ACC_F64, else f32). For sum,
// dot and scatter_add's `reproducible` (flag REPRO_BITS).

//#if REPRO_BITS
//#if ACC_F64
const P_BITS: i32 = 53;
// r with the last bit of its encoding set: a deposit adds r | 1, so the rounding to the
// fold's quantum is never a tie (see src/numerics/repro.rs).
fn or1(r: f64) -> f64 {
    return bitcast<f64>(bitcast<u64>(r) | u64(1));
}
fn pow2(e: i32) -> f64 {
    return bitcast<f64>(u64(e + 1023) << 52u);
}
fn sigma_of(a: i32) -> f64 {
    return bitcast<f64>((u64(a + 1023) << 52u) | (u64(1) << 51u));
}
// An integer |m| < 2^53 as three two's-complement limbs.
fn to_limbs(m: f64) -> vec3<u32> {
    let hi = floor(m * pow2(-32));
    let lo = m - hi * pow2(32);
    let h = i32(hi);
    return vec3<u32>(u32(lo), bitcast<u32>(h), select(0u, 0xffffffffu, h < 0));
}
//#else
const P_BITS: i32 = 24;
fn or1(r: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(r) | 1u);
}
fn pow2(e: i32) -> f32 {
    return bitcast<f32>(u32(e + 127) << 23u);
}
fn sigma_of(a: i32) -> f32 {
    return bitcast<f32>((u32(a + 127) << 23u) | 0x400000u);
}
// An integer |m| < 2^24 as two two's-complement limbs (the third is 0).
fn to_limbs(m: f32) -> vec3<u32> {
    let i = i32(m);
    return vec3<u32>(bitcast<u32>(i), select(0u, 0xffffffffu, i < 0), 0u);
}
//#endif
//#endif

// ---------------------------------------------------------------------------------------
// The accumulator's add (ADDC: rows, conv, matmul) and the GEMM step acc + a*b (GEMM_STEP:
// conv, matmul; the family's uniform `prm` has a `one: f32` that is always 1.0).

//#if ADDC
//#if ACC_HALF
fn addc(a: C, b: C) -> C {
    return round_half(a + b);
}
//#else
fn addc(a: C, b: C) -> C {
    return a + b;
}
//#endif
//#endif

//#if GEMM_STEP
//#if ACC_HALF
fn step(acc: C, a: C, b: C) -> C {
    // a*b of two halves is exact in f32; the bit-level rounding keeps it from being fused.
    return round_half(acc + round_half(a * b));
}
//#else
// Unfused on purpose: WGSL's fma fuses on some drivers and not on others, and a driver may
// contract a*b + acc. Multiplying the rounded product by a uniform 1.0 is exact, and any
// contraction of (a*b)*one + acc is fma(fl(a*b), 1, acc) = fl(fl(a*b) + acc): the same bits.
fn step(acc: C, a: C, b: C) -> C {
    return acc + (a * b) * C(prm.one);
}
//#endif
//#endif

// ---------------------------------------------------------------------------------------
// TwoSum in the accumulator's own arithmetic (`add` and `sub` of ACC_ADD, so a half
// accumulator's TwoSum rounds each step to the half format): kahan's compensated pairs
// (flag TWO_SUM_ACC; needs OPAQUE and ACC_ADD).

//#if TWO_SUM_ACC
struct TwoC {
    h: C,
    l: C,
}
// a + b = h + l, exactly where add and sub are exact steps.
fn two_sum_acc(a: C, b: C) -> TwoC {
    let s = opaque(add(a, b));
    let z = opaque(sub(s, a));
    let e = add(sub(a, sub(s, z)), sub(b, z));
    return TwoC(s, e);
}
//#endif
