// detbench scatter-add kernels (out[idx[i]] += x[i]) for wgpu.
//
// A template, specialised by src/ops/scatter/wgpu.rs like reduce.wgsl: the host prepends
// `alias C` (compute type: f64 when the input or the accumulator is f64), `alias A` (the
// binned-state type), `alias XW` (storage word of x), `const WG`, `const PB` (bins, for
// the privatized copy in workgroup memory), `const RADIX_ITEMS`, and keeps the `//#if`
// blocks of the job's flags: IN_* / ACC_* / ACC_HALF / C64 as in reduce.wgsl, one variant
// flag V_ATOMIC V_CAS V_PRIV V_SORT V_FIXED V_REPRO, CAS_CELL / CAS64 (compare-exchange
// words of u32 or u64), NATIVE_ATOMIC (privatized merging with atomicAdd on f32).
// The value loading and the accumulator arithmetic below are reduce.wgsl's, so each add
// rounds exactly like `Arith` in src/ops/reduce/cpu.rs. The sort-based kernels follow
// src/ops/scatter/mod.rs step for step, so their bits equal the CPU's.

struct Params {
    n: u32,
    bins: u32,
    threads: u32,
    chunk: u32,
    chunks: u32,
    // Radix pass: bit shift of the digit, and 1 on the first pass (perm = identity).
    shift: u32,
    first: u32,
    tiles: u32,
    fixed_k: i32,
    // Always 1.0; see `opaque`.
    one: f32,
    // Entries the scan kernel scans.
    scan_len: u32,
    folds: i32,
    a0: i32,
    a1: i32,
    a2: i32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;

// naga marks no arithmetic as exact (SPIR-V NoContraction), so a driver may rewrite
// (a + b) - a as b, which erases the rounding error that TwoSum and binned deposits
// measure (Mesa's lavapipe does), and may fuse x*y into the add that consumes it. Multiplying by a uniform the compiler cannot see is 1.0
// is exact and stops that rewrite.
fn opaque(v: C) -> C {
    // A select on a uniform, not arithmetic: lavapipe factors a multiply by 1.0 out.
    return select(v, C(0.0), prm.one != 1.0);
}
@group(0) @binding(1) var<storage, read> xs: array<XW>;

// ---------------------------------------------------------------------------------------
// Loading: every input value is exact in C.

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

fn load_x(i: u32) -> C {
    return decode(xs[word_index(i)], i);
}

// ---------------------------------------------------------------------------------------
// Half formats: round-to-nearest-even written with bit operations.

//#if ACC_HALF
// a >> s rounded to nearest, ties to even (1 <= s <= 31).
fn rne_drop(a: u32, s: u32) -> u32 {
    let r = a >> s;
    let rem = a & ((1u << s) - 1u);
    let half = 1u << (s - 1u);
    return r + select(0u, 1u, rem > half || (rem == half && (r & 1u) == 1u));
}

// Round-to-odd of an f32 result s whose exact value is s + err: if inexact, force the last
// bit to 1 in the direction of the exact value. An f32 rounded to odd then rounded to a
// half format (p <= 22) is the correctly rounded half of the exact value, so mixed inputs
// (e.g. f32 data in an f16 accumulator) still round once, like the CPU's f64 arithmetic.
fn to_odd(s: f32, inexact: bool, up: bool) -> f32 {
    let b = bitcast<u32>(s);
    if (!inexact || (b & 1u) == 1u || s == 0.0 || (b & 0x7f800000u) == 0x7f800000u) {
        return s;
    }
    return bitcast<f32>(select(b - 1u, b + 1u, up));
}
//#endif
//#if ACC_BF16
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
//#if ACC_F16
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
// Accumulator arithmetic (`Arith` in cpu.rs): add, sub, mul, dot_step, product_error.

//#if ACC_HALF
//#if !C64
fn add(a: f32, b: f32) -> f32 {
    let s = opaque(a + b);
    // TwoSum error tells whether s is exact and on which side the exact sum lies.
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    return round_half(to_odd(s, e != 0.0, (e > 0.0) == (s > 0.0)));
}
fn mul(a: f32, b: f32) -> f32 {
    let p = a * b;
    let e = fma(a, b, -p);
    return round_half(to_odd(p, e != 0.0, (e > 0.0) == (p > 0.0)));
}
fn product_error(x: f32, y: f32, p: f32) -> f32 {
    return round_half(fma(x, y, -p));
}
//#else
fn round_acc64(v: f64) -> f64 {
    let t = f32(v);
    let e = v - f64(t);
    return f64(round_half(to_odd(t, e != 0.0, (e > 0.0) == (t > 0.0))));
}
fn add(a: f64, b: f64) -> f64 {
    return round_acc64(a + b);
}
fn mul(a: f64, b: f64) -> f64 {
    return round_acc64(a * b);
}
fn product_error(x: f64, y: f64, p: f64) -> f64 {
    return round_acc64(x * y - p);
}
//#endif
fn sub(a: C, b: C) -> C {
    return add(a, -b);
}
// Halves never fuse: round(acc + round(x*y)).
fn dot_step(acc: C, x: C, y: C) -> C {
    return add(acc, mul(x, y));
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
fn mul(a: f32, b: f32) -> f32 {
    return a * b;
}
fn dot_step(acc: f32, x: f32, y: f32) -> f32 {
    return fma(x, y, acc);
}
fn product_error(x: f32, y: f32, p: f32) -> f32 {
    return fma(x, y, -p);
}
//#else
// f64 input, f32 accumulator: compute in f64 and round to f32, as the CPU does.
fn add(a: f64, b: f64) -> f64 {
    return f64(f32(a + b));
}
fn sub(a: f64, b: f64) -> f64 {
    return f64(f32(a - b));
}
fn mul(a: f64, b: f64) -> f64 {
    return f64(f32(a * b));
}
fn dot_step(acc: f64, x: f64, y: f64) -> f64 {
    return f64(fma(f32(x), f32(y), f32(acc)));
}
fn product_error(x: f64, y: f64, p: f64) -> f64 {
    return f64(fma(f32(x), f32(y), -f32(p)));
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
fn mul(a: f64, b: f64) -> f64 {
    return a * b;
}
fn dot_step(acc: f64, x: f64, y: f64) -> f64 {
    return fma(x, y, acc);
}
fn product_error(x: f64, y: f64, p: f64) -> f64 {
    return fma(x, y, -p);
}
//#endif

// ---------------------------------------------------------------------------------------
// Indices, validated on the host: every one is < prm.bins.

@group(0) @binding(2) var<storage, read> idx: array<u32>;

// ---------------------------------------------------------------------------------------
// atomic: one native float atomicAdd per element (SHADER_FLOAT32_ATOMIC, f32 accumulator).

//#if V_ATOMIC
@group(0) @binding(3) var<storage, read_write> fbins: array<atomic<f32>>;

@compute @workgroup_size(WG)
fn scatter_atomic(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        atomicAdd(&fbins[idx[i]], f32(load_x(i)));
    }
}
//#endif

// Compare-exchange on a bin's word: u32 words hold an f32 (halves as the f32 of equal
// value), u64 words an f64. A failed exchange means another thread's succeeded, so the loop
// progresses; MAX_TRIES keeps a pathological scheduler from hanging the device.
//#if CAS_CELL
//#if CAS64
alias WORD = u64;
fn to_word(v: C) -> u64 {
    return bitcast<u64>(f64(v));
}
fn from_word(w: u64) -> C {
    return C(bitcast<f64>(w));
}
//#else
alias WORD = u32;
fn to_word(v: C) -> u32 {
    return bitcast<u32>(f32(v));
}
fn from_word(w: u32) -> C {
    return C(bitcast<f32>(w));
}
//#endif
@group(0) @binding(3) var<storage, read_write> cbins: array<atomic<WORD>>;
@group(0) @binding(4) var<storage, read_write> gave_up: atomic<u32>;

fn cas_add(b: u32, v: C) {
    var old = atomicLoad(&cbins[b]);
    for (var k = 0u; k < MAX_TRIES; k++) {
        let r = atomicCompareExchangeWeak(&cbins[b], old, to_word(add(from_word(old), v)));
        if (r.exchanged) {
            return;
        }
        old = r.old_value;
    }
    atomicAdd(&gave_up, 1u);
}
//#endif

//#if V_CAS
@compute @workgroup_size(WG)
fn scatter_atomic_cas(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        cas_add(idx[i], load_x(i));
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// privatized: a private copy of all PB bins per workgroup in workgroup memory, updated by
// compare-exchange on u32 (or u64) words, then each non-empty private bin is added into
// the global bins: atomicAdd on f32 (NATIVE_ATOMIC) or the global compare-exchange.

//#if V_PRIV
//#if CAS64
alias PWORD = u64;
fn p_to_word(v: C) -> u64 {
    return bitcast<u64>(f64(v));
}
fn p_from_word(w: u64) -> C {
    return C(bitcast<f64>(w));
}
//#else
alias PWORD = u32;
fn p_to_word(v: C) -> u32 {
    return bitcast<u32>(f32(v));
}
fn p_from_word(w: u32) -> C {
    return C(bitcast<f32>(w));
}
//#endif
var<workgroup> pbins: array<atomic<PWORD>, PB>;
//#if NATIVE_ATOMIC
@group(0) @binding(3) var<storage, read_write> fbins: array<atomic<f32>>;
//#endif

// Contention inside one workgroup is bounded by WG threads: no cap needed.
fn private_add(b: u32, v: C) {
    var old = atomicLoad(&pbins[b]);
    loop {
        let r = atomicCompareExchangeWeak(&pbins[b], old, p_to_word(add(p_from_word(old), v)));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}

@compute @workgroup_size(WG)
fn scatter_privatized(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(global_invocation_id) gid: vec3<u32>) {
    let l = lid.x;
    for (var b = l; b < PB; b += WG) {
        atomicStore(&pbins[b], PWORD(0));
    }
    workgroupBarrier();
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        private_add(idx[i], load_x(i));
    }
    workgroupBarrier();
    for (var b = l; b < PB; b += WG) {
        let w = atomicLoad(&pbins[b]);
        // +0.0 (all bits zero) adds nothing to a bin that starts at +0.0.
        if (w != PWORD(0)) {
//#if NATIVE_ATOMIC
            atomicAdd(&fbins[b], f32(p_from_word(w)));
//#else
            cas_add(b, p_from_word(w));
//#endif
        }
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// fixed_point: every value scaled by 2^k, rounded to an integer (ties to even) and added
// into its bin with a 64-bit integer atomic (wrapping, like the CPU's i64::wrapping_add).
// Integer addition is associative, so the order the atomics land in cannot matter.

//#if V_FIXED
@group(0) @binding(3) var<storage, read_write> fx: array<atomic<u64>>;
@group(0) @binding(4) var<storage, read_write> fx_lost: atomic<u32>;

struct Quant {
    q: u64,
    lost: bool,
}

// The value is first rounded to the accumulator (f32 or f64 here; halves are exact in f32).
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
    if (m == u64(0)) {
        q = u64(0);
    } else if (sh >= 0) {
        // |v| * 2^k < 2^61 by the choice of k, so this shift never overflows.
        q = m << u32(sh);
    } else if (sh < -60) {
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

@compute @workgroup_size(WG)
fn scatter_fixed_point(@builtin(global_invocation_id) gid: vec3<u32>) {
    var lost = 0u;
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        let qt = quantize(add(C(0.0), load_x(i)), prm.fixed_k);
        atomicAdd(&fx[idx[i]], qt.q);
        lost = lost + select(0u, 1u, qt.lost);
    }
    if (lost != 0u) {
        atomicAdd(&fx_lost, lost);
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// The stable sort by bin (sort_segmented and reproducible).
//   bin_count      counts[b] = elements in bin b (integer atomics: order-free)
//   scan_exclusive one workgroup: exclusive prefix sum of scan_buf[0..scan_len)
//   radix_count    per tile of WG*RADIX_ITEMS elements, the histogram of one 8-bit digit,
//                  written digit-major: dcounts[d * tiles + tile]
//   radix_scatter  after the scan of dcounts: each element goes to its digit's offset for
//                  its tile plus its rank among equal digits before it in the tile, so the
//                  pass is stable; keys and element positions move together.

//#if V_SORTED
@group(0) @binding(5) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> scan_buf: array<u32>;
@group(0) @binding(7) var<storage, read> keys_in: array<u32>;
@group(0) @binding(8) var<storage, read_write> dcounts: array<u32>;
@group(0) @binding(9) var<storage, read> perm_in: array<u32>;
@group(0) @binding(10) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(11) var<storage, read_write> perm_out: array<u32>;

const TILE: u32 = WG * RADIX_ITEMS;

@compute @workgroup_size(WG)
fn bin_count(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        atomicAdd(&counts[idx[i]], 1u);
    }
}

var<workgroup> scan_sh: array<u32, WG>;

@compute @workgroup_size(WG)
fn scan_exclusive(@builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    let per = (prm.scan_len + WG - 1u) / WG;
    let lo = min(prm.scan_len, l * per);
    let hi = min(prm.scan_len, lo + per);
    var s = 0u;
    for (var i = lo; i < hi; i++) {
        s += scan_buf[i];
    }
    scan_sh[l] = s;
    workgroupBarrier();
    if (l == 0u) {
        var run = 0u;
        for (var j = 0u; j < WG; j++) {
            let v = scan_sh[j];
            scan_sh[j] = run;
            run += v;
        }
    }
    workgroupBarrier();
    var run = scan_sh[l];
    for (var i = lo; i < hi; i++) {
        let v = scan_buf[i];
        scan_buf[i] = run;
        run += v;
    }
}

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> digits: array<u32, WG>;

@compute @workgroup_size(WG)
fn radix_count(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    let t = wid.x;
    for (var d = l; d < 256u; d += WG) {
        atomicStore(&hist[d], 0u);
    }
    workgroupBarrier();
    for (var r = 0u; r < RADIX_ITEMS; r++) {
        let i = t * TILE + r * WG + l;
        if (i < prm.n) {
            atomicAdd(&hist[(keys_in[i] >> prm.shift) & 255u], 1u);
        }
    }
    workgroupBarrier();
    for (var d = l; d < 256u; d += WG) {
        dcounts[d * prm.tiles + t] = atomicLoad(&hist[d]);
    }
}

@compute @workgroup_size(WG)
fn radix_scatter(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    let t = wid.x;
    // hist holds, per digit, where the tile's next element of that digit goes.
    for (var d = l; d < 256u; d += WG) {
        atomicStore(&hist[d], dcounts[d * prm.tiles + t]);
    }
    workgroupBarrier();
    for (var r = 0u; r < RADIX_ITEMS; r++) {
        let i = t * TILE + r * WG + l;
        let valid = i < prm.n;
        var key = 0u;
        var d = 256u;
        if (valid) {
            key = keys_in[i];
            d = (key >> prm.shift) & 255u;
        }
        digits[l] = d;
        workgroupBarrier();
        var rank = 0u;
        for (var j = 0u; j < l; j++) {
            rank += select(0u, 1u, digits[j] == d);
        }
        var base = 0u;
        if (valid) {
            base = atomicLoad(&hist[d]);
        }
        workgroupBarrier();
        if (valid) {
            let pos = base + rank;
            keys_out[pos] = key;
            perm_out[pos] = select(perm_in[i], i, prm.first == 1u);
            atomicAdd(&hist[d], 1u);
        }
        workgroupBarrier();
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// sort_segmented: the segmented reduction of src/ops/scatter/mod.rs over the sorted keys
// (binding 7) and element positions (binding 9); offsets (binding 6) are the exclusive
// scan of the bin counts, bins + 1 entries.

//#if V_SORT
@group(0) @binding(12) var<storage, read_write> head: array<C>;
@group(0) @binding(13) var<storage, read_write> firsts: array<C>;
@group(0) @binding(14) var<storage, read_write> outv: array<C>;

@compute @workgroup_size(WG)
fn seg_pass1(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= prm.chunks) {
        return;
    }
    let lo = c * prm.chunk;
    let hi = min(prm.n, lo + prm.chunk);
    var i = lo;
    while (i < hi) {
        let key = keys_in[i];
        let start = i;
        var acc = C(0.0);
        while (i < hi && keys_in[i] == key) {
            acc = add(acc, load_x(perm_in[i]));
            i++;
        }
        if (start == lo) {
            head[c] = acc;
        } else {
            firsts[key] = acc;
        }
    }
}

@compute @workgroup_size(WG)
fn seg_pass2(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= prm.bins) {
        return;
    }
    let s = scan_buf[b];
    let e = scan_buf[b + 1u];
    if (s == e) {
        outv[b] = C(0.0);
        return;
    }
    var acc = firsts[b];
    if (s % prm.chunk == 0u) {
        acc = head[s / prm.chunk];
    }
    for (var c = s / prm.chunk + 1u; c * prm.chunk < e; c++) {
        acc = add(acc, head[c]);
    }
    outv[b] = acc;
}
//#endif

// ---------------------------------------------------------------------------------------
// reproducible: the same segmented walk, but each piece is a binned state
// (src/numerics/repro.rs: deposit, renormalise every R_RENORM deposits, merge) and pass 2
// merges the pieces. Every step is exact, so the state does not depend on the pieces.
// The host finalises each bin's state with the CPU's code.

//#if V_REPRO
struct Bins {
    p: array<A, 3>,
    c: array<i32, 3>,
}
@group(0) @binding(12) var<storage, read_write> rhead: array<Bins>;
@group(0) @binding(13) var<storage, read_write> rfirst: array<Bins>;
@group(0) @binding(14) var<storage, read_write> rout: array<Bins>;

fn fold_a(k: i32) -> i32 {
    return select(select(prm.a2, prm.a1, k == 1), prm.a0, k == 0);
}

// Powers of two and 1.5 * 2^a built from their bits (exact; every one is normal).
//#if ACC_F64
fn or1(r: f64) -> f64 {
    return bitcast<f64>(bitcast<u64>(r) | u64(1));
}
fn pow2(e: i32) -> f64 {
    return bitcast<f64>(u64(e + 1023) << 52u);
}
fn sigma_of(a: i32) -> f64 {
    return bitcast<f64>((u64(a + 1023) << 52u) | (u64(1) << 51u));
}
//#else
fn or1(r: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(r) | 1u);
}
fn pow2(e: i32) -> f32 {
    return bitcast<f32>(u32(e + 127) << 23u);
}
fn sigma_of(a: i32) -> f32 {
    return bitcast<f32>((u32(a + 127) << 23u) | 0x400000u);
}
//#endif

fn empty_state() -> Bins {
    var b: Bins;
    for (var k = 0; k < 3; k++) {
        b.p[k] = A(0.0);
        b.c[k] = 0;
        if (k < prm.folds) {
            b.p[k] = sigma_of(fold_a(k));
        }
    }
    return b;
}

fn renorm(b: ptr<function, Bins>) {
    for (var k = 0; k < prm.folds; k++) {
        let a = fold_a(k);
        let d = (*b).p[k] - sigma_of(a);
        let c = round(d * pow2(2 - a));
        (*b).p[k] = (*b).p[k] - c * pow2(a - 2);
        (*b).c[k] = (*b).c[k] + i32(c);
    }
}

fn deposit(b: ptr<function, Bins>, x: A) {
    var r = x;
    for (var k = 0; k < prm.folds; k++) {
        // The select keeps the driver from folding (p + r) - p into r; r | 1 keeps the
        // rounding from being a tie whose outcome depends on p (src/numerics/repro.rs).
        let s = select((*b).p[k] + or1(r), A(0.0), prm.one != 1.0);
        let q = s - (*b).p[k];
        (*b).p[k] = s;
        r = r - q;
    }
}

fn merge(a: ptr<function, Bins>, o: Bins) {
    for (var k = 0; k < prm.folds; k++) {
        // Hide the offset's origin: rewritten as (a + o) - sigma, the sum would leave the binade.
        let d = select(o.p[k] - sigma_of(fold_a(k)), A(0.0), prm.one != 1.0);
        (*a).p[k] = (*a).p[k] + d;
        (*a).c[k] = (*a).c[k] + o.c[k];
    }
    renorm(a);
}

@compute @workgroup_size(WG)
fn rseg_pass1(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= prm.chunks) {
        return;
    }
    let lo = c * prm.chunk;
    let hi = min(prm.n, lo + prm.chunk);
    var i = lo;
    while (i < hi) {
        let key = keys_in[i];
        let start = i;
        var st = empty_state();
        var pending = 0u;
        while (i < hi && keys_in[i] == key) {
            deposit(&st, A(load_x(perm_in[i])));
            pending++;
            if (pending == R_RENORM) {
                renorm(&st);
                pending = 0u;
            }
            i++;
        }
        renorm(&st);
        if (start == lo) {
            rhead[c] = st;
        } else {
            rfirst[key] = st;
        }
    }
}

@compute @workgroup_size(WG)
fn rseg_pass2(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= prm.bins) {
        return;
    }
    let s = scan_buf[b];
    let e = scan_buf[b + 1u];
    if (s == e) {
        rout[b] = empty_state();
        return;
    }
    var st = rfirst[b];
    if (s % prm.chunk == 0u) {
        st = rhead[s / prm.chunk];
    }
    for (var c = s / prm.chunk + 1u; c * prm.chunk < e; c++) {
        merge(&st, rhead[c]);
    }
    rout[b] = st;
}
//#endif
