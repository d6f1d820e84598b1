// detbench reduction kernels (sum, dot) for wgpu.
//
// This file is a template. The host (src/ops/reduce/wgpu.rs) specialises it per job
// before naga compiles it:
//   1. it prepends a header with `alias C` (the compute type: f64 when the input or the
//      accumulator is f64, else f32), `alias A` (the binned-state type of `reproducible`),
//      `alias XW` (the storage word of x and y: f32, f64, or u32 holding two halves),
//      `const WG` (threads per workgroup) and the binning constants;
//   2. it keeps only the lines whose `//#if FLAG` / `//#if !FLAG` ... `//#else` ... `//#endif`
//      blocks are enabled. Flags: IN_F32 IN_F64 IN_F16 IN_BF16 (input format), ACC_F32 ACC_F64
//      ACC_F16 ACC_BF16 ACC_HALF (accumulator), C64 (C is f64), DOT, and one variant flag
//      V_TREE V_KAHAN V_ATOMIC V_CAS V_BLOCK V_FIXED V_REPRO, plus NATIVE_ATOMIC (block_atomic
//      with a native f32 atomicAdd), CAS_CELL (a compare-exchange cell) and CAS64 (on u64 words).
// So f64, i64 and float-atomic code only reaches naga when the job needs it, and a device
// without SHADER_F64 never sees an f64 token.
//
// Every ordered kernel follows the launch shape of src/ops/reduce/mod.rs exactly, and every
// arithmetic step mirrors `Arith` in src/ops/reduce/cpu.rs, so the bits equal the CPU's.

struct Params {
    n: u32,
    threads: u32,
    groups: u32,
    fixed_k: i32,
    // Always 0; see `opaque`.
    zero: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;

// naga marks no arithmetic as exact (SPIR-V NoContraction), so a driver may rewrite
// (a + b) - a as b, which erases the rounding error that TwoSum and binned deposits
// measure (Mesa's lavapipe does), and may fuse x*y into the add that consumes it. A select
// on a uniform the compiler cannot see is always 0 hides where a value came from without
// any arithmetic (a multiply by a uniform 1.0 is not enough: lavapipe factors it out).
fn opaque(v: C) -> C {
    return select(v, C(0.0), prm.zero != 0u);
}

@group(0) @binding(1) var<storage, read> xs: array<XW>;
//#if DOT
@group(0) @binding(2) var<storage, read> ys: array<XW>;
//#endif

// ---------------------------------------------------------------------------------------
// Loading: every input value is exact in C (decode and word_index are common.wgsl's).


fn load_x(i: u32) -> C {
    return decode(xs[word_index(i)], i);
}
//#if DOT
fn load_y(i: u32) -> C {
    return decode(ys[word_index(i)], i);
}
//#endif

// ---------------------------------------------------------------------------------------
// Error-free transforms in f32. Vulkan lets a driver compute `fma` as a multiply and an
// add (lavapipe does), so the single-rounding fma the CPU uses (`Arith::fma`) is built from
// Dekker's exact product, TwoSum and round-to-odd (Boldo & Melquiond, "Emulation of FMA and
// correctly rounded sums: proved algorithms using rounding to odd", IEEE TC 57(4), 2008).

struct Two32 {
    h: f32,
    l: f32,
}
fn opq32(v: f32) -> f32 {
    return select(v, 0.0, prm.zero != 0u);
}
// a + b = h + l exactly.
fn two_sum32(a: f32, b: f32) -> Two32 {
    let s = opq32(a + b);
    let z = opq32(s - a);
    return Two32(s, (a - (s - z)) + (b - z));
}
// a * b = h + l exactly (Veltkamp split with 2^12 + 1; every partial product is exact).
fn two_prod32(a: f32, b: f32) -> Two32 {
    let p = opq32(a * b);
    let ca = opq32(4097.0 * a);
    let ah = ca - opq32(ca - a);
    let al = a - ah;
    let cb = opq32(4097.0 * b);
    let bh = cb - opq32(cb - b);
    let bl = b - bh;
    return Two32(p, (((ah * bh - p) + ah * bl) + al * bh) + al * bl);
}
// h + l rounded to odd: if inexact, force the last bit of h to 1 towards the exact value.
// Rounded to odd at p bits and then to nearest at p - 2 or fewer is the correct rounding.
fn odd32(t: Two32) -> f32 {
    let b = bitcast<u32>(t.h);
    if (t.l == 0.0 || (b & 1u) == 1u || t.h == 0.0 || (b & 0x7f800000u) == 0x7f800000u) {
        return t.h;
    }
    return bitcast<f32>(select(b - 1u, b + 1u, (t.l > 0.0) == (t.h > 0.0)));
}
// fl(a * b + c) with one rounding.
fn fma32(a: f32, b: f32, c: f32) -> f32 {
    let p = two_prod32(a, b);
    let t = two_sum32(c, p.h);
    return t.h + odd32(two_sum32(t.l, p.l));
}

//#if ACC_F64
//#if DOT
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
fn two_prod64(a: f64, b: f64) -> Two64 {
    let p = opq64(a * b);
    let ca = opq64(134217729.0 * a);
    let ah = ca - opq64(ca - a);
    let al = a - ah;
    let cb = opq64(134217729.0 * b);
    let bh = cb - opq64(cb - b);
    let bl = b - bh;
    return Two64(p, (((ah * bh - p) + ah * bl) + al * bh) + al * bl);
}
fn odd64(t: Two64) -> f64 {
    let b = bitcast<u64>(t.h);
    if (t.l == 0.0 || (b & u64(1)) == u64(1) || t.h == 0.0 || ((b >> 52u) & u64(0x7ff)) == u64(0x7ff)) {
        return t.h;
    }
    return bitcast<f64>(select(b - u64(1), b + u64(1), (t.l > 0.0) == (t.h > 0.0)));
}
fn fma64(a: f64, b: f64, c: f64) -> f64 {
    let p = two_prod64(a, b);
    let t = two_sum64(c, p.h);
    return t.h + odd64(two_sum64(t.l, p.l));
}
//#endif
//#endif

// Half formats: rne_drop and round_half are common.wgsl's (flags ROUND_HALF and
// HALF_F16 / HALF_BF16, set with ACC_F16 / ACC_BF16).

// ---------------------------------------------------------------------------------------
// Accumulator arithmetic (`Arith` in cpu.rs): add, sub, mul, dot_step, product_error.

//#if ACC_HALF
//#if !C64
// Rounding the exact result to odd in f32 first makes mixed inputs (f32 data in an f16
// accumulator) round once, like the CPU's f64 arithmetic; for half inputs it changes nothing.
fn add(a: f32, b: f32) -> f32 {
    return round_half(odd32(two_sum32(a, b)));
}
fn mul(a: f32, b: f32) -> f32 {
    return round_half(odd32(two_prod32(a, b)));
}
fn product_error(x: f32, y: f32, p: f32) -> f32 {
    // x*y - p = (h - p) + l, and h - p is exact (p is h rounded to fewer bits).
    let t = two_prod32(x, y);
    return round_half(odd32(two_sum32(t.h - p, t.l)));
}
//#else
fn round_acc64(v: f64) -> f64 {
    let t = f32(v);
    return f64(round_half(odd32(Two32(t, f32(v - f64(t))))));
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
    return fma32(x, y, acc);
}
fn product_error(x: f32, y: f32, p: f32) -> f32 {
    return two_prod32(x, y).l;
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
    return f64(fma32(f32(x), f32(y), f32(acc)));
}
fn product_error(x: f64, y: f64, p: f64) -> f64 {
    return f64(fma32(f32(x), f32(y), -f32(p)));
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
//#if DOT
fn dot_step(acc: f64, x: f64, y: f64) -> f64 {
    return fma64(x, y, acc);
}
fn product_error(x: f64, y: f64, p: f64) -> f64 {
    return two_prod64(x, y).l;
}
//#endif
//#endif

// ---------------------------------------------------------------------------------------
// Per-element steps of sum and dot.

//#if DOT
// The value atomic and binned kernels accumulate: fl_acc(x*y) (`ReduceJob::terms`).
// `opaque` keeps the product rounded on its own: a driver could otherwise fuse it with the
// add that consumes it.
fn term(i: u32) -> C {
    return opaque(mul(load_x(i), load_y(i)));
}
fn chain_step(acc: C, i: u32) -> C {
    return dot_step(acc, load_x(i), load_y(i));
}
//#else
// Sum terms are x itself, unrounded; the first add rounds it to the accumulator.
fn term(i: u32) -> C {
    return load_x(i);
}
fn chain_step(acc: C, i: u32) -> C {
    return add(acc, load_x(i));
}
//#endif

// ---------------------------------------------------------------------------------------
// tree: pass 1 = strided per-thread chain + pairwise workgroup tree, pass 2 = one workgroup.

//#if V_TREE
var<workgroup> sh: array<C, WG>;
@group(0) @binding(3) var<storage, read_write> partials: array<C>;
@group(0) @binding(4) var<storage, read_write> result: array<C>;

fn tree_in_workgroup(l: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (l < s) {
            sh[l] = add(sh[l], sh[l + s]);
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(WG)
fn tree_pass1(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    var acc = C(0.0);
    for (var i = wid.x * WG + l; i < prm.n; i += prm.threads) {
        acc = chain_step(acc, i);
    }
    sh[l] = acc;
    tree_in_workgroup(l);
    if (l == 0u) {
        partials[wid.x] = sh[0];
    }
}

@compute @workgroup_size(WG)
fn tree_pass2(@builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    var acc = C(0.0);
    for (var i = l; i < prm.groups; i += WG) {
        acc = add(acc, partials[i]);
    }
    sh[l] = acc;
    tree_in_workgroup(l);
    if (l == 0u) {
        result[0] = sh[0];
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// kahan: the same two passes on TwoSum-compensated pairs (`kahan` in cpu.rs).

//#if V_KAHAN
struct Pair {
    s: C,
    c: C,
}
var<workgroup> shp: array<Pair, WG>;
@group(0) @binding(3) var<storage, read_write> kpartials: array<Pair>;
@group(0) @binding(4) var<storage, read_write> kresult: array<C>;

fn two_sum(a: C, b: C) -> Pair {
    let s = opaque(add(a, b));
    let z = opaque(sub(s, a));
    let e = add(sub(a, sub(s, z)), sub(b, z));
    return Pair(s, e);
}
fn kahan_add(p: Pair, v: C, ve: C) -> Pair {
    let t = two_sum(p.s, v);
    return Pair(t.s, add(p.c, add(t.c, ve)));
}
fn kahan_merge(a: Pair, b: Pair) -> Pair {
    let t = two_sum(a.s, b.s);
    return Pair(t.s, add(add(a.c, b.c), t.c));
}
//#if DOT
fn kahan_step(p: Pair, i: u32) -> Pair {
    let x = load_x(i);
    let y = load_y(i);
    let pr = opaque(mul(x, y));
    return kahan_add(p, pr, product_error(x, y, pr));
}
//#else
fn kahan_step(p: Pair, i: u32) -> Pair {
    return kahan_add(p, load_x(i), C(0.0));
}
//#endif

fn kahan_tree(l: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (l < s) {
            shp[l] = kahan_merge(shp[l], shp[l + s]);
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(WG)
fn kahan_pass1(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    var acc = Pair(C(0.0), C(0.0));
    for (var i = wid.x * WG + l; i < prm.n; i += prm.threads) {
        acc = kahan_step(acc, i);
    }
    shp[l] = acc;
    kahan_tree(l);
    if (l == 0u) {
        kpartials[wid.x] = shp[0];
    }
}

@compute @workgroup_size(WG)
fn kahan_pass2(@builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    var acc = Pair(C(0.0), C(0.0));
    for (var i = l; i < prm.groups; i += WG) {
        acc = kahan_merge(acc, kpartials[i]);
    }
    shp[l] = acc;
    kahan_tree(l);
    if (l == 0u) {
        kresult[0] = add(shp[0].s, shp[0].c);
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// Atomic variants. Their order is whatever the hardware makes it: not deterministic.

//#if V_ATOMIC
@group(0) @binding(3) var<storage, read_write> fcell: atomic<f32>;

// One native float atomicAdd per element (SHADER_FLOAT32_ATOMIC, f32 accumulator).
@compute @workgroup_size(WG)
fn atomic_add(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        atomicAdd(&fcell, f32(term(i)));
    }
}
//#endif

// CAS_CELL: set by the host for atomic_cas, and for block_atomic without NATIVE_ATOMIC.
//#if CAS_CELL
// Compare-exchange on the accumulator's bits: u32 words hold an f32 (halves are carried as
// the f32 of equal value), u64 words hold an f64.
//#if CAS64
@group(0) @binding(3) var<storage, read_write> cell: atomic<u64>;
fn to_word(v: f64) -> u64 {
    return bitcast<u64>(v);
}
fn from_word(w: u64) -> f64 {
    return bitcast<f64>(w);
}
//#else
@group(0) @binding(3) var<storage, read_write> cell: atomic<u32>;
fn to_word(v: C) -> u32 {
    return bitcast<u32>(f32(v));
}
fn from_word(w: u32) -> C {
    return C(bitcast<f32>(w));
}
//#endif
// Set when a loop gave up after MAX_TRIES failed exchanges: the host reports it.
@group(0) @binding(4) var<storage, read_write> gave_up: atomic<u32>;

// Every failed exchange means another thread's succeeded, so the loop makes progress; the
// cap keeps a pathological scheduler from hanging the device.
fn cas_add(v: C) {
    var old = atomicLoad(&cell);
    for (var k = 0u; k < MAX_TRIES; k++) {
        let r = atomicCompareExchangeWeak(&cell, old, to_word(add(from_word(old), v)));
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
fn atomic_cas(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        cas_add(term(i));
    }
}
//#endif

//#if V_BLOCK
var<workgroup> shb: array<C, WG>;
//#if NATIVE_ATOMIC
@group(0) @binding(3) var<storage, read_write> fcell: atomic<f32>;
//#endif

@compute @workgroup_size(WG)
fn block_atomic(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    var acc = C(0.0);
    for (var i = wid.x * WG + l; i < prm.n; i += prm.threads) {
        acc = chain_step(acc, i);
    }
    shb[l] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (l < s) {
            shb[l] = add(shb[l], shb[l + s]);
        }
        workgroupBarrier();
    }
    if (l == 0u) {
//#if NATIVE_ATOMIC
        atomicAdd(&fcell, f32(shb[0]));
//#else
        cas_add(shb[0]);
//#endif
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// fixed_point: terms scaled by 2^k and rounded to nearest-even integers, summed in int64.
// Integer addition is associative, so each thread may pre-add its own terms (wrapping, like
// the CPU's i64::wrapping_add) and the atomic adds of the threads commute: deterministic.

//#if V_FIXED
@group(0) @binding(3) var<storage, read_write> fx_total: atomic<u64>;
@group(0) @binding(4) var<storage, read_write> fx_lost: atomic<u32>;

// Quant and quantize are common.wgsl's.

@compute @workgroup_size(WG)
fn fixed_point(@builtin(global_invocation_id) gid: vec3<u32>) {
    var total = u64(0);
    var lost = 0u;
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        let qt = quantize(term(i), prm.fixed_k);
        total = total + qt.q;
        lost = lost + select(0u, 1u, qt.lost);
    }
    atomicAdd(&fx_total, total);
    if (lost != 0u) {
        atomicAdd(&fx_lost, lost);
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// reproducible: binned pre-rounded accumulation (src/numerics/repro.rs).
//   repro_max1/repro_max2: deterministic max |term| (max is associative) and, from it, the
//     bin layout, computed on the device exactly as `ReproParams::new` does;
//   repro_deposit: per-thread `deposit` with renorm every R deposits, a workgroup tree of
//     `merge`s, one binned state per workgroup written out. The host merges those states
//     with the CPU code and finalises.

//#if V_REPRO
var<workgroup> shm: array<C, WG>;
@group(0) @binding(3) var<storage, read_write> rmax: array<C>;
// folds, a_1, a_2, a_3, error (1: the top bin would overflow)
@group(0) @binding(4) var<storage, read_write> rlayout: array<i32, 5>;

fn max_tree(l: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (l < s) {
            shm[l] = max(shm[l], shm[l + s]);
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(WG)
fn repro_max1(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    var m = C(0.0);
    for (var i = wid.x * WG + l; i < prm.n; i += prm.threads) {
        m = max(m, abs(term(i)));
    }
    shm[l] = m;
    max_tree(l);
    if (l == 0u) {
        rmax[wid.x] = shm[0];
    }
}

// floor(log2(m)) of a normal m > 0 in C.
//#if C64
fn exponent_of(m: f64) -> i32 {
    return i32((bitcast<u64>(m) >> 52u) & u64(0x7ff)) - 1023;
}
//#else
fn exponent_of(m: f32) -> i32 {
    return i32((bitcast<u32>(m) >> 23u) & 0xffu) - 127;
}
//#endif

@compute @workgroup_size(WG)
fn repro_max2(@builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    var m = C(0.0);
    for (var i = l; i < prm.groups; i += WG) {
        m = max(m, rmax[i]);
    }
    shm[l] = m;
    max_tree(l);
    if (l == 0u) {
        let mx = shm[0];
        rmax[0] = mx;
        // ReproParams::new, step by step.
        var e_m = R_EMIN;
        if (mx >= C(R_MIN_NORMAL)) {
            e_m = exponent_of(mx);
        }
        let a1 = max(e_m + 1 + R_LOG2 + 3, R_EMIN + R_P);
        if (a1 + 1 > R_EMAX) {
            rlayout[4] = 1;
            return;
        }
        let folds = min(1 + (a1 - (R_EMIN + R_P)) / R_W, 3);
        rlayout[0] = folds;
        rlayout[1] = a1;
        rlayout[2] = a1 - R_W;
        rlayout[3] = a1 - 2 * R_W;
        rlayout[4] = 0;
    }
}

// Powers of two and 1.5 * 2^a built from their bits (exact; every one is normal).
//#if ACC_F64
// r with the last bit of its encoding set: a deposit adds r | 1, so the rounding to the
// primary's quantum is never a tie (see src/numerics/repro.rs).
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

struct Bins {
    p: array<A, 3>,
    c: array<i32, 3>,
}
var<workgroup> shs: array<Bins, WG>;
@group(0) @binding(5) var<storage, read_write> rprimary: array<A>;
@group(0) @binding(6) var<storage, read_write> rcarry: array<i32>;

fn renorm(b: ptr<function, Bins>, folds: i32) {
    for (var k = 0; k < folds; k++) {
        let a = rlayout[1 + k];
        let d = (*b).p[k] - sigma_of(a);
        let c = round(d * pow2(2 - a));
        (*b).p[k] = (*b).p[k] - c * pow2(a - 2);
        (*b).c[k] = (*b).c[k] + i32(c);
    }
}

@compute @workgroup_size(WG)
fn repro_deposit(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    let folds = rlayout[0];
    let failed = rlayout[4] != 0;
    var b: Bins;
    for (var k = 0; k < 3; k++) {
        b.p[k] = A(0.0);
        b.c[k] = 0;
        if (k < folds) {
            b.p[k] = sigma_of(rlayout[1 + k]);
        }
    }
    if (!failed) {
        var pending = 0u;
        for (var i = wid.x * WG + l; i < prm.n; i += prm.threads) {
            var r = A(term(i));
            for (var k = 0; k < folds; k++) {
                let s = select(b.p[k] + or1(r), A(0.0), prm.zero != 0u);
                let q = s - b.p[k];
                b.p[k] = s;
                r = r - q;
            }
            pending += 1u;
            if (pending == R_RENORM) {
                renorm(&b, folds);
                pending = 0u;
            }
        }
        renorm(&b, folds);
    }
    shs[l] = b;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (l < s) {
            var t = shs[l];
            let o = shs[l + s];
            for (var k = 0; k < folds; k++) {
                // Hide the offset's origin: rewritten as (t + o) - sigma, the sum would
                // leave the binade and round.
                let d = select(o.p[k] - sigma_of(rlayout[1 + k]), A(0.0), prm.zero != 0u);
                t.p[k] = t.p[k] + d;
                t.c[k] = t.c[k] + o.c[k];
            }
            renorm(&t, folds);
            shs[l] = t;
        }
        workgroupBarrier();
    }
    if (l == 0u) {
        for (var k = 0u; k < 3u; k++) {
            rprimary[wid.x * 3u + k] = shs[0].p[k];
            rcarry[wid.x * 3u + k] = shs[0].c[k];
        }
    }
}
//#endif
