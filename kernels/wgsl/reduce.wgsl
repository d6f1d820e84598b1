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
//      with a native f32 atomicAdd), CAS_CELL (a compare-exchange cell) and CAS64 (on u64 words),
//      and common.wgsl's arithmetic flags (FMA32 always; FMA32_F64, EFT64 and FMA64 as the
//      job needs them: see src/ops/reduce/wgpu.rs).
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

// `opaque` and `opq32` are common.wgsl's (flag OPAQUE; they read `prm.zero`).

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
// The exact products and the single-rounding fma (two_prod32, fma32, two_prod64, fma64) and
// the f64 error-free transforms are common.wgsl's (flags FMA32, FMA64 and EFT64): every
// family that multiplies shares one copy.

// Half formats: rne_drop and round_half are common.wgsl's (flags ROUND_HALF and
// HALF_F16 / HALF_BF16, set with ACC_F16 / ACC_BF16).

// ---------------------------------------------------------------------------------------
// Accumulator arithmetic (`Arith` in src/shared/arith.rs): mul, dot_step, product_error
// (add and sub are common.wgsl's, flag ACC_ADD).

//#if ACC_HALF
//#if !C64
// The exact product rounded to odd in f32, then to the half format: one rounding (the odd
// rounding keeps at least 13 more bits than the half format, subnormals included), and
// exact for products below f32's range too (mul_odd32 falls back to integers there).
fn mul(a: f32, b: f32) -> f32 {
    return round_half(mul_odd32(a, b));
}
fn product_error(x: f32, y: f32, p: f32) -> f32 {
    if (!fma32_fast(x, y, 0.0)) {
        return round_half(fma32_int(x, y, -p, true));
    }
    // x*y - p = (h - p) + l, and h - p is exact (p is h rounded to fewer bits).
    let t = two_prod32(x, y);
    return round_half(odd32(two_sum32(t.h - p, t.l)));
}
//#else
fn mul(a: f64, b: f64) -> f64 {
    return round_acc64(a * b);
}
fn product_error(x: f64, y: f64, p: f64) -> f64 {
    return round_acc64(x * y - p);
}
//#endif
// Halves never fuse: round(acc + round(x*y)).
fn dot_step(acc: C, x: C, y: C) -> C {
    return add(acc, mul(x, y));
}
//#endif

//#if ACC_F32
//#if !C64
fn mul(a: f32, b: f32) -> f32 {
    return a * b;
}
fn dot_step(acc: f32, x: f32, y: f32) -> f32 {
    return fma32(x, y, acc);
}
fn product_error(x: f32, y: f32, p: f32) -> f32 {
    // The CPU's fl(x*y - p): one rounding, so an error below f32's subnormals rounds as
    // there (two_prod32's l is exact only where the error is an f32).
    return fma32(x, y, -p);
}
//#else
// f64 input, f32 accumulator: compute in f64 and round to f32, as the CPU does.
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
fn mul(a: f64, b: f64) -> f64 {
    return a * b;
}
//#if DOT
fn dot_step(acc: f64, x: f64, y: f64) -> f64 {
    return fma64(x, y, acc);
}
fn product_error(x: f64, y: f64, p: f64) -> f64 {
    // The CPU's fl(x*y - p), one rounding: two_prod64's l is exact only for products
    // above about 2^-960.
    return fma64(x, y, -p);
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
// The order-free variants (fixed_point, reproducible) read the terms four at a time: quad j
// holds terms 4j .. 4j + 3, and workgroup w owns the contiguous quads [w * per, (w + 1) *
// per), per a multiple of WG; the n mod 4 terms after the last quad go to workgroup 0.
// Within a block, a GPU's threads stride by WG (consecutive threads read consecutive words:
// coalesced). On a CPU device (flag SEQ_QUADS) each group of SEQ_LANES threads reads its
// own contiguous run instead, its lanes side by side: lavapipe runs a workgroup's threads a
// few lanes at a time, each lane group through its whole loop, so striding by WG would make
// a group read 128 bytes from each of many 4 KiB-apart places, which a CPU's prefetcher
// does not follow; a run per thread would make it read 8 streams 4 KiB apart.
// With f32 input a quad is one 16-byte load (VEC4). Four terms per trip also give four
// independent chains of arithmetic where one would wait on each result. The variants' sums
// are exact, so no order can change their bits.
//#if VEC4
@group(0) @binding(6) var<storage, read> xv: array<vec4<f32>>;
//#if DOT
@group(0) @binding(7) var<storage, read> yv: array<vec4<f32>>;
//#endif
//#endif

// Threads that read one stream on a CPU device (SEQ_QUADS): WG is a multiple of it.
const SEQ_LANES: u32 = min(8u, WG);

// Quads per workgroup block: a multiple of WG.
fn block_per() -> u32 {
    return ((prm.n / 4u + prm.groups - 1u) / prm.groups + WG - 1u) / WG * WG;
}

fn block_span(w: u32) -> vec2<u32> {
    let quads = prm.n / 4u;
    let per = block_per();
    let start = min(w * per, quads);
    return vec2<u32>(start, min(start + per, quads));
}

// The quads thread l of workgroup w reads: j = first, first + step, ... while j < end.
fn thread_quads(w: u32, l: u32) -> vec3<u32> {
    let span = block_span(w);
//#if SEQ_QUADS
    // Lane groups of SEQ_LANES threads (lavapipe's 8 lanes of 256 bits) each own a
    // contiguous run, and within it the lanes read consecutive quads: one sequential
    // stream per lane group.
    let run = block_per() / WG * SEQ_LANES;
    let g = l / SEQ_LANES;
    let lo = min(span.x + g * run, span.y);
    return vec3<u32>(lo + l % SEQ_LANES, min(lo + run, span.y), SEQ_LANES);
//#else
    return vec3<u32>(span.x + l, span.y, WG);
//#endif
}

// Terms 4j .. 4j + 3, each as term() gives it.
fn quad(j: u32) -> vec4<C> {
//#if VEC4
//#if DOT
    let x = vec4<C>(xv[j]);
    let y = vec4<C>(yv[j]);
    return vec4<C>(opaque(mul(x.x, y.x)), opaque(mul(x.y, y.y)), opaque(mul(x.z, y.z)), opaque(mul(x.w, y.w)));
//#else
    return vec4<C>(xv[j]);
//#endif
//#else
    let i = 4u * j;
    return vec4<C>(term(i), term(i + 1u), term(i + 2u), term(i + 3u));
//#endif
}

// Whether thread l of workgroup w takes a term after the last quad, and its index.
fn tail_term(w: u32, l: u32) -> vec2<u32> {
    let first = prm.n / 4u * 4u;
    return vec2<u32>(select(0u, 1u, w == 0u && first + l < prm.n), first + l);
}

// ---------------------------------------------------------------------------------------
// tree: pass 1 = strided per-thread chain + pairwise workgroup tree, pass 2 = one workgroup.

//#if WG_TREE
// The workgroup's pairwise tree of tree_op (stride WG/2, WG/4, ..., 1), for tree, block_atomic
// (tree_op = add) and reproducible (tree_op = max).
var<workgroup> sh: array<C, WG>;
// Threads of the barrier-free levels.
const TREE_K: u32 = 16u;

// The tree of sh[0..WG) into sh[0], read by thread 0 (the one that finishes it). The same
// adds as one level per barrier, in two barriers: at levels WG/2 .. TREE_K, thread l <
// TREE_K owns the slots l (mod TREE_K), which no other thread reads or writes at those
// levels; thread 0 then does the last levels. A barrier costs lavapipe a switch of every
// lane group of the workgroup, which one barrier per level made the tree's main cost.
fn tree_in_workgroup(l: u32) {
    workgroupBarrier();
    if (l < TREE_K) {
        for (var s = WG / 2u; s >= TREE_K; s = s >> 1u) {
            for (var j = l; j < s; j += TREE_K) {
                sh[j] = tree_op(sh[j], sh[j + s]);
            }
        }
    }
    workgroupBarrier();
    if (l == 0u) {
        for (var s = TREE_K / 2u; s > 0u; s = s >> 1u) {
            for (var j = 0u; j < s; j++) {
                sh[j] = tree_op(sh[j], sh[j + s]);
            }
        }
    }
}
//#endif
//#if ADD_TREE
fn tree_op(a: C, b: C) -> C {
    return add(a, b);
}

// Pass 1's per-thread chains of tree and block_atomic: launch thread t of workgroup w adds
// elements t, t + T, t + 2T, ... (T = prm.threads) in that order into sh[t].
//#if TREE_VEC
// On a CPU device, for f32 sums in f32 (flag TREE_VEC): kernel thread l plays launch
// threads TREE_M l .. TREE_M (l + 1) - 1, each as one component of TREE_M / 4 vec4 chains.
// Every component adds the same elements in the same order as its launch thread (an f32
// add rounds the same in a vector), into the same sh slot, so the bits are the launch
// shape's. What changes is the reading: lavapipe runs a workgroup's lanes a group at a
// time, each group through its whole chain, so with one launch thread per lane a group
// reads 32 bytes per row of T elements (1 MiB apart at T = 2^18), too little for a CPU's
// prefetcher to follow; here it reads TREE_M times as much per row, in 16-byte loads.
const TREE_M: u32 = 16u;
const WG_CHAINS: u32 = WG / TREE_M;

fn chains_to_sh(l: u32, w: u32) {
    var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var i = w * WG + TREE_M * l;
    // Whole rows: TREE_M elements from i, a multiple of 4.
    for (; i + TREE_M <= prm.n; i += prm.threads) {
        let q = i / 4u;
        acc[0] = acc[0] + xv[q];
        acc[1] = acc[1] + xv[q + 1u];
        acc[2] = acc[2] + xv[q + 2u];
        acc[3] = acc[3] + xv[q + 3u];
    }
    // The row that n cuts: each element alone, where it exists (no later row does).
    for (var c = 0u; c < TREE_M; c++) {
        if (i + c < prm.n) {
            acc[c / 4u][c % 4u] = acc[c / 4u][c % 4u] + xs[i + c];
        }
    }
    for (var c = 0u; c < TREE_M; c++) {
        sh[TREE_M * l + c] = acc[c / 4u][c % 4u];
    }
}
//#else
const WG_CHAINS: u32 = WG;

fn chains_to_sh(l: u32, w: u32) {
    var acc = C(0.0);
    for (var i = w * WG + l; i < prm.n; i += prm.threads) {
        acc = chain_step(acc, i);
    }
    sh[l] = acc;
}
//#endif
//#endif

//#if V_TREE
@group(0) @binding(3) var<storage, read_write> partials: array<C>;
@group(0) @binding(4) var<storage, read_write> result: array<C>;

@compute @workgroup_size(WG_CHAINS)
fn tree_pass1(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    chains_to_sh(l, wid.x);
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

// The pairwise tree of shp[0..WG) by `threads` threads (thread l merges the slots l,
// l + threads, ... of each level): the same merges whatever the thread count.
fn kahan_tree(l: u32, threads: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        for (var j = l; j < s; j += threads) {
            shp[j] = kahan_merge(shp[j], shp[j + s]);
        }
        workgroupBarrier();
    }
}

//#if TREE_VEC
// On a CPU device, for f32 sums in f32 (flag TREE_VEC): as tree's chains_to_sh, kernel
// thread l plays launch threads KAHAN_M l .. KAHAN_M (l + 1) - 1, each as one component of
// vec4 compensated pairs. TwoSum's steps are component-wise f32 adds and subtracts, so
// every component computes its launch thread's pair exactly as kahan_step would.
const KAHAN_M: u32 = 16u;
const WG_KAHAN: u32 = WG / KAHAN_M;

struct Pair4 {
    s: vec4<f32>,
    c: vec4<f32>,
}

fn opaque4(v: vec4<f32>) -> vec4<f32> {
    return select(v, vec4<f32>(0.0), prm.zero != 0u);
}

// kahan_add(p, v, 0) per component.
fn kahan_add4(p: Pair4, v: vec4<f32>) -> Pair4 {
    let s = opaque4(p.s + v);
    let z = opaque4(s - p.s);
    let e = (p.s - (s - z)) + (v - z);
    return Pair4(s, p.c + (e + vec4<f32>(0.0)));
}

@compute @workgroup_size(WG_KAHAN)
fn kahan_pass1(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    let z4 = Pair4(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc = array<Pair4, 4>(z4, z4, z4, z4);
    var i = wid.x * WG + KAHAN_M * l;
    // Whole rows: KAHAN_M elements from i, a multiple of 4.
    for (; i + KAHAN_M <= prm.n; i += prm.threads) {
        let q = i / 4u;
        acc[0] = kahan_add4(acc[0], xv[q]);
        acc[1] = kahan_add4(acc[1], xv[q + 1u]);
        acc[2] = kahan_add4(acc[2], xv[q + 2u]);
        acc[3] = kahan_add4(acc[3], xv[q + 3u]);
    }
    // The row that n cuts: each element alone, where it exists (no later row does).
    for (var c = 0u; c < KAHAN_M; c++) {
        let k = c / 4u;
        let m = c % 4u;
        if (i + c < prm.n) {
            let p = kahan_step(Pair(acc[k].s[m], acc[k].c[m]), i + c);
            acc[k].s[m] = p.s;
            acc[k].c[m] = p.c;
        }
    }
    for (var c = 0u; c < KAHAN_M; c++) {
        shp[KAHAN_M * l + c] = Pair(acc[c / 4u].s[c % 4u], acc[c / 4u].c[c % 4u]);
    }
    kahan_tree(l, WG_KAHAN);
    if (l == 0u) {
        kpartials[wid.x] = shp[0];
    }
}
//#else
@compute @workgroup_size(WG)
fn kahan_pass1(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    var acc = Pair(C(0.0), C(0.0));
    for (var i = wid.x * WG + l; i < prm.n; i += prm.threads) {
        acc = kahan_step(acc, i);
    }
    shp[l] = acc;
    kahan_tree(l, WG);
    if (l == 0u) {
        kpartials[wid.x] = shp[0];
    }
}
//#endif

@compute @workgroup_size(WG)
fn kahan_pass2(@builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    var acc = Pair(C(0.0), C(0.0));
    for (var i = l; i < prm.groups; i += WG) {
        acc = kahan_merge(acc, kpartials[i]);
    }
    shp[l] = acc;
    kahan_tree(l, WG);
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
//#if NATIVE_ATOMIC
@group(0) @binding(3) var<storage, read_write> fcell: atomic<f32>;
//#endif

@compute @workgroup_size(WG_CHAINS)
fn block_atomic(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    chains_to_sh(l, wid.x);
    tree_in_workgroup(l);
    if (l == 0u) {
//#if NATIVE_ATOMIC
        atomicAdd(&fcell, f32(sh[0]));
//#else
        cas_add(sh[0]);
//#endif
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// fixed_point: terms scaled by 2^k and rounded to nearest-even integers, summed in int64.
// Integer addition is associative, so each thread may pre-add its own terms (wrapping, like
// the CPU's i64::wrapping_add), the threads of a workgroup add into the workgroup's integer
// lanes and each workgroup adds its lanes into the global words once (one global atomic
// per workgroup, not per thread): every order gives the same words, so the result is
// deterministic and equals the CPU's.

//#if V_FIXED
@group(0) @binding(3) var<storage, read_write> fx_total: atomic<u64>;
@group(0) @binding(4) var<storage, read_write> fx_lost: atomic<u32>;
var<workgroup> wfx_total: atomic<u64>;
var<workgroup> wfx_lost: atomic<u32>;

// Quant and quantize are common.wgsl's.

//#if FIXED_F32
// f32 terms on a device that keeps f32 subnormals (flag FIXED_F32): the quantization in
// f32 arithmetic, a quad at a time, instead of quantize()'s 64-bit integer steps (emulated
// in two 32-bit halves on most devices, and on lavapipe in half-width vectors).
// - y = v 2^k is exact unless |y| < 2^-126; such a y rounds to q = 0 either way, and the
//   term lost bits if v != 0 (y itself may have become 0: hence the test on v).
// - q = round(y) (WGSL's round is ties-to-even): the CPU's round_ties_even of the exact
//   scaled value, an integer with |q| <= 2^61 (fixed_scale), lost if q != y.
// - q = a 2^42 + b 2^21 + c exactly: a and b are q (then q - a 2^42) truncated to a
//   multiple of a power of two, and each difference is q's own low bits, which f32 holds,
//   so no step rounds; |a| <= 2^19 and |b|, |c| < 2^21.
// The parts are summed in i32 for at most FX_RUN quads per thread (each sum stays below
// 2^27 in magnitude; a short run also puts the move into every test's path), then moved
// into the u64 words: a 2^42 + b 2^21 + c mod 2^64 is q's
// two's-complement word, so the words equal quantize()'s.
const FX_RUN: u32 = 64u;
const FX_2P42: f32 = 4398046511104.0;
const FX_2M42: f32 = 2.2737367544323206e-13;
const FX_2P21: f32 = 2097152.0;
const FX_2M21: f32 = 4.76837158203125e-7;

// 2^k as two f32 factors 2^(k/2) and 2^(k - k/2). fixed_scale makes |v| 2^k <= 2^61 for
// every term, so a k above 252 means every f32 term is 0 (the smallest is 2^-149), and
// k >= -252 holds for every f32 maximum: clamping to [-252, 252] changes no product, and
// keeps both factors normal f32 powers of two.
fn fx_scale() -> vec2<f32> {
    let k = clamp(prm.fixed_k, -252, 252);
    // One factor 2^k where it is a normal f32 (!FX_SCALE2).
    let k1 = select(k, k / 2, FX_SCALE2);
    return vec2<f32>(bitcast<f32>(u32(k1 + 127) << 23u), bitcast<f32>(u32(k - k1 + 127) << 23u));
}

struct FxQuad {
    a: vec4<i32>,
    b: vec4<i32>,
    c: vec4<i32>,
    lost: vec4<u32>,
}

// The parts of a quad's four q, and which of them lost bits (1) or not (0). Three
// constants of the header, from the job's k and n, drop the steps that cannot matter:
// FX_SCALE2 (2^k is no normal f32: two factors), FX_DOWN (k < 0: y may fall below 2^-126;
// with k >= 0, y is at least |v|) and FX_PARTS3 (|q| may exceed 2^42, when n < 2^19; else
// a = 0 and q = b 2^21 + c).
fn fx_quad(v: vec4<f32>, scale: vec2<f32>) -> FxQuad {
    var y = v * scale.x;
    if (FX_SCALE2) {
        y = y * scale.y;
    }
    let finite = (bitcast<vec4<u32>>(v) & vec4<u32>(0x7f800000u)) != vec4<u32>(0x7f800000u);
    let r = select(vec4<f32>(0.0), round(y), finite);
    var gone = !finite | (r != y);
    if (FX_DOWN) {
        gone = gone | ((r == vec4<f32>(0.0)) & (v != vec4<f32>(0.0)));
    }
    var a = vec4<f32>(0.0);
    var r1 = r;
    if (FX_PARTS3) {
        a = trunc(r * FX_2M42);
        r1 = r - a * FX_2P42;
    }
    let b = trunc(r1 * FX_2M21);
    return FxQuad(vec4<i32>(a), vec4<i32>(b), vec4<i32>(r1 - b * FX_2P21), select(vec4<u32>(0u), vec4<u32>(1u), gone));
}

// The u64 word of sum(a) 2^42 + sum(b) 2^21 + sum(c), each part summed over the lanes.
fn fx_parts(a: vec4<i32>, b: vec4<i32>, c: vec4<i32>) -> vec4<u64> {
    let sa = (i64(a.x) + i64(a.y)) + (i64(a.z) + i64(a.w));
    let sb = (i64(b.x) + i64(b.y)) + (i64(b.z) + i64(b.w));
    let sc = (i64(c.x) + i64(c.y)) + (i64(c.z) + i64(c.w));
    return vec4<u64>((u64(sa) << 42u) + (u64(sb) << 21u) + u64(sc), u64(0), u64(0), u64(0));
}
//#endif

@compute @workgroup_size(WG)
fn fixed_point(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    if (l == 0u) {
        atomicStore(&wfx_total, u64(0));
        atomicStore(&wfx_lost, 0u);
    }
    workgroupBarrier();
    var t = vec4<u64>(u64(0));
    var lost = vec4<u32>(0u);
    let k = prm.fixed_k;
    let walk = thread_quads(wid.x, l);
//#if FIXED_F32
    let scale = fx_scale();
    var j = walk.x;
    while (j < walk.y) {
        let stop = min(walk.y, j + FX_RUN * walk.z);
        var pa = vec4<i32>(0);
        var pb = vec4<i32>(0);
        var pc = vec4<i32>(0);
        // Four quads per trip where the run allows: a loop trip costs lavapipe its lane
        // masks, and four independent loads can be in flight at once.
        let s = walk.z;
        for (; j + 3u * s < stop; j += 4u * s) {
            let f0 = fx_quad(quad(j), scale);
            let f1 = fx_quad(quad(j + s), scale);
            let f2 = fx_quad(quad(j + 2u * s), scale);
            let f3 = fx_quad(quad(j + 3u * s), scale);
            pa += (f0.a + f1.a) + (f2.a + f3.a);
            pb += (f0.b + f1.b) + (f2.b + f3.b);
            pc += (f0.c + f1.c) + (f2.c + f3.c);
            lost += (f0.lost + f1.lost) + (f2.lost + f3.lost);
        }
        for (; j < stop; j += s) {
            let f = fx_quad(quad(j), scale);
            pa += f.a;
            pb += f.b;
            pc += f.c;
            lost += f.lost;
        }
        t += fx_parts(pa, pb, pc);
    }
//#else
    for (var j = walk.x; j < walk.y; j += walk.z) {
        let v = quad(j);
        let q0 = quantize(v.x, k);
        let q1 = quantize(v.y, k);
        let q2 = quantize(v.z, k);
        let q3 = quantize(v.w, k);
        t += vec4<u64>(q0.q, q1.q, q2.q, q3.q);
        lost += select(vec4<u32>(0u), vec4<u32>(1u), vec4<bool>(q0.lost, q1.lost, q2.lost, q3.lost));
    }
//#endif
    let tail = tail_term(wid.x, l);
    if (tail.x == 1u) {
        let qt = quantize(term(tail.y), k);
        t.x += qt.q;
        lost.x += select(0u, 1u, qt.lost);
    }
    // Wrapping integer adds: any order gives the same words.
    let total = (t.x + t.y) + (t.z + t.w);
    let lost_n = (lost.x + lost.y) + (lost.z + lost.w);
    if (total != u64(0)) {
        atomicAdd(&wfx_total, total);
    }
    if (lost_n != 0u) {
        atomicAdd(&wfx_lost, lost_n);
    }
    workgroupBarrier();
    if (l == 0u) {
        let t = atomicLoad(&wfx_total);
        if (t != u64(0)) {
            atomicAdd(&fx_total, t);
        }
        let m = atomicLoad(&wfx_lost);
        if (m != 0u) {
            atomicAdd(&fx_lost, m);
        }
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// reproducible: binned pre-rounded accumulation (src/numerics/repro.rs), as exact integers.
// The bin layout is a function of max |term| alone (ReproParams::new: the top bin sits at
// a_1 = floor(log2 max) + 12, relative to the maximum rather than on a fixed grid of W-bit
// steps). With the layout fixed, depositing a term into fold k adds q_k, its remainder
// rounded to a multiple of the fold's quantum u_k, and q_k depends on the remainder alone
// (the primary only fixes the grid, and `r | 1` rules out ties), so a fold's value is
// u_k * sum(q_k / u_k), a sum of integers with |q_k / u_k| <= 2^(p-12). Each thread sums
// those integers exactly in A for up to 2^11 terms (|sum| < 2^(p-1)), then adds them into
// its own LIMBS-word integers (wrapping, two's complement, in registers); the workgroup adds
// its threads' words into workgroup lanes and then into the global lanes with 32-bit atomics
// whose carries the adder propagates. Integer addition mod 2^(32 LIMBS) commutes, so the
// words equal the exact counts in any order. The host turns the lanes into a binned state
// and finalises it with the shared code.
//
// One pass over x, by speculation that is checked:
//   repro_guess    one workgroup takes max |term| over a sample of x (R_SAMPLE blocks of WG
//                  consecutive terms spread over x, first and last included; all of x when
//                  it is that small) and writes the layout of that maximum;
//   repro_deposit  deposits every term with that layout and, in the same loop, takes the
//                  workgroup's max |term|;
//   repro_check    one workgroup takes the true maximum from the workgroups' and its
//                  layout. Equal to the guessed one: the lanes are the final ones and
//                  `pending` drops to 0. Otherwise it writes the true layout, zeroes the lanes
//                  and leaves `pending` at 1;
//   repro_deposit  again: with `pending` at 0 every workgroup returns at once; at 1 it
//                  deposits x again with the true layout.
// Either way every term is deposited exactly once with the layout of the true maximum, so
// the lanes, and the bits, are those of the two-pass algorithm (max, then deposits). The
// sample only decides whether x is read once or twice: a maximum outside the sample whose
// exponent the sample does not reach costs the second pass (the host reports which).
// Why not one pass with a running maximum and re-binning, as ReproBLAS does: a state built
// at a smaller running maximum cannot be re-binned to this layout exactly. Each term is
// rounded to its fold's quantum on its own, and sums of terms do not determine sums of
// roundings (two terms of 0.6 quanta round to 2; terms of 0.4 and 0.8, with the same sum and
// the same maximum exponent, round to 1). Only shifts of the layout by a whole fold width W
// are exact, and this layout moves with floor(log2 max) in steps of 1.
//#if V_REPRO
var<workgroup> wpending: i32;
@group(0) @binding(3) var<storage, read_write> rmax: array<C>;
// folds, a_1, a_2, a_3, error (1: the top bin would overflow), pending (1: deposit x)
@group(0) @binding(4) var<storage, read_write> rlayout: array<i32, 6>;
@group(0) @binding(5) var<storage, read_write> rlanes: array<atomic<u32>>;

// Sample blocks of repro_guess.
const R_SAMPLE: u32 = 256u;

// The workgroup tree (tree_in_workgroup) takes maxima: exact, in any order.
fn tree_op(a: C, b: C) -> C {
    return max(a, b);
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

// ReproParams::new, step by step: folds, a_1, a_2, a_3 and the overflow error of max mx.
fn layout_of(mx: C) -> array<i32, 5> {
    var e_m = R_EMIN;
    if (mx >= C(R_MIN_NORMAL)) {
        e_m = exponent_of(mx);
    }
    let a1 = max(e_m + 1 + R_LOG2 + 3, R_EMIN + R_P);
    if (a1 + 1 > R_EMAX) {
        return array<i32, 5>(0, 0, 0, 0, 1);
    }
    let folds = min(1 + (a1 - (R_EMIN + R_P)) / R_W, 3);
    return array<i32, 5>(folds, a1, a1 - R_W, a1 - 2 * R_W, 0);
}

@compute @workgroup_size(WG)
fn repro_guess(@builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    var m = C(0.0);
    if (prm.n <= R_SAMPLE * WG) {
        for (var i = l; i < prm.n; i += WG) {
            m = max(m, abs(term(i)));
        }
    } else {
        // Block b starts at b * stride; the last one ends at n.
        let stride = (prm.n - WG) / (R_SAMPLE - 1u);
        for (var b = 0u; b < R_SAMPLE; b++) {
            let start = select(b * stride, prm.n - WG, b == R_SAMPLE - 1u);
            m = max(m, abs(term(start + l)));
        }
    }
    sh[l] = m;
    tree_in_workgroup(l);
    if (l == 0u) {
        let lay = layout_of(sh[0]);
        for (var k = 0; k < 5; k++) {
            rlayout[k] = lay[k];
        }
        rlayout[5] = 1;
    }
}

@compute @workgroup_size(WG)
fn repro_check(@builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    var m = C(0.0);
    for (var i = l; i < prm.groups; i += WG) {
        m = max(m, rmax[i]);
    }
    sh[l] = m;
    tree_in_workgroup(l);
    if (l == 0u) {
        let lay = layout_of(sh[0]);
        if (lay[4] == 0 && rlayout[4] == 0 && lay[0] == rlayout[0] && lay[1] == rlayout[1]) {
            rlayout[5] = 0;
            return;
        }
        for (var k = 0; k < 5; k++) {
            rlayout[k] = lay[k];
        }
        // An overflow is reported by the host; nothing is deposited again.
        rlayout[5] = select(1, 0, lay[4] != 0);
        for (var k = 0u; k < 3u * LIMBS; k++) {
            atomicStore(&rlanes[k], 0u);
        }
    }
}

// Powers of two and 1.5 * 2^a built from their bits (exact; every one is normal).
//#if ACC_F64
const LIMBS: u32 = 3u;
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
const LIMBS: u32 = 2u;
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
// An integer |m| < 2^24 as two two's-complement limbs.
fn to_limbs(m: f32) -> vec3<u32> {
    let i = i32(m);
    return vec3<u32>(bitcast<u32>(i), select(0u, 0xffffffffu, i < 0), 0u);
}
//#endif

// Terms a thread sums in A before moving the sums into its integer words: 2^11 terms of
// at most 2^(p-12) quanta each stay below 2^(p-1), exact in A.
const R_RUN: u32 = 2048u;

// a + b mod 2^(32 LIMBS), limb by limb with carries.
fn wide_add(a: vec3<u32>, b: vec3<u32>) -> vec3<u32> {
    let s0 = a.x + b.x;
    let c0 = select(0u, 1u, s0 < a.x);
    let t1 = a.y + b.y;
    let s1 = t1 + c0;
    let c1 = select(0u, 1u, t1 < a.y) + select(0u, 1u, s1 < t1);
    return vec3<u32>(s0, s1, a.z + b.z + c1);
}

var<workgroup> wlanes: array<atomic<u32>, 9>;

// Adds v into the LIMBS words at `base` of the global lanes; the carry out of each limb
// is whether its atomic add wrapped, so the words end at the exact total mod 2^(32 LIMBS).
fn global_add(base: u32, v: vec3<u32>) {
    let o0 = atomicAdd(&rlanes[base], v.x);
    let c0 = select(0u, 1u, o0 + v.x < o0);
    let t1 = v.y + c0;
    var c1 = select(0u, 1u, t1 < v.y);
    if (t1 != 0u) {
        let o1 = atomicAdd(&rlanes[base + 1u], t1);
        c1 += select(0u, 1u, o1 + t1 < o1);
    }
    if (LIMBS == 3u) {
        let t2 = v.z + c1;
        if (t2 != 0u) {
            atomicAdd(&rlanes[base + 2u], t2);
        }
    }
}
// The same into the workgroup lanes.
fn local_add(base: u32, v: vec3<u32>) {
    let o0 = atomicAdd(&wlanes[base], v.x);
    let c0 = select(0u, 1u, o0 + v.x < o0);
    let t1 = v.y + c0;
    var c1 = select(0u, 1u, t1 < v.y);
    if (t1 != 0u) {
        let o1 = atomicAdd(&wlanes[base + 1u], t1);
        c1 += select(0u, 1u, o1 + t1 < o1);
    }
    if (LIMBS == 3u) {
        let t2 = v.z + c1;
        if (t2 != 0u) {
            atomicAdd(&wlanes[base + 2u], t2);
        }
    }
}

// The layout's 1.5 * 2^(a_k), set by repro_deposit.
var<private> rsig: vec3<A>;
// The same values, hidden from the compiler (opaque): set once, not once per term.
var<private> rsig2: vec3<A>;
// The thread's exact counts of quanta per fold, LIMBS words each (wrapping).
var<private> w0: vec3<u32>;
var<private> w1: vec3<u32>;
var<private> w2: vec3<u32>;

// Moves exact per-fold sums of q_k into the thread's words: scaled by quanta per unit
// (powers of two, so exact) to integer counts.
fn spill(sums: vec3<A>, per_q: vec3<A>) {
    w0 = wide_add(w0, to_limbs(sums.x * per_q.x));
    w1 = wide_add(w1, to_limbs(sums.y * per_q.y));
    w2 = wide_add(w2, to_limbs(sums.z * per_q.z));
}

// The q_k that depositing t adds to the folds (their sum is t to within half the last
// fold's quantum).
fn folds_of(t: C) -> vec3<A> {
    var r = A(t);
    var q = vec3<A>(A(0.0));
    // FOLDS (the host's fold count) is a constant, so the fold loop unrolls.
    for (var k = 0; k < FOLDS; k++) {
        // rsig2 is rsig through opaque(), so no driver can fold (sig + r) - sig into r.
        q[k] = (rsig[k] + or1(r)) - rsig2[k];
        r = r - q[k];
    }
    return q;
}

@compute @workgroup_size(WG)
fn repro_deposit(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    if (l == 0u) {
        wpending = rlayout[5];
    }
    // A barrier, and a value every thread of the workgroup sees the same.
    if (workgroupUniformLoad(&wpending) == 0) {
        return;
    }
    if (l < 9u) {
        atomicStore(&wlanes[l], 0u);
    }
    workgroupBarrier();
    // A layout with another fold count than FOLDS, or an overflow (rlayout[4] != 0), is
    // refused by the host, which then reads nothing else: what this deposits is not used.
    let a1 = rlayout[1];
    let a2 = rlayout[2];
    let a3 = rlayout[3];
    rsig = vec3<A>(sigma_of(a1), sigma_of(a2), sigma_of(a3));
    rsig2 = select(rsig, vec3<A>(A(0.0)), prm.zero != 0u);
    w0 = vec3<u32>(0u);
    w1 = vec3<u32>(0u);
    w2 = vec3<u32>(0u);
    // Quanta per unit: u_k = 2^(a_k - p + 1).
    let per_q = vec3<A>(pow2(P_BITS - 1 - a1), pow2(P_BITS - 1 - a2), pow2(P_BITS - 1 - a3));
    var m = C(0.0);
    let walk = thread_quads(wid.x, l);
    var j = walk.x;
    // Runs of at most R_RUN terms per thread, the sums moved into the words after each: a
    // branch inside the term loop would cost every term on a device that runs a
    // workgroup's threads in lockstep lanes (lavapipe executes both sides of an `if`).
    while (j < walk.y) {
        let stop = min(walk.y, j + R_RUN / 4u * walk.z);
        // Each fold's q_k summed in A, one sum per term of the quad: multiples of u_k below
        // 2^(p-1) u_k in magnitude, so exact.
        var s0 = vec3<A>(A(0.0));
        var s1 = vec3<A>(A(0.0));
        var s2 = vec3<A>(A(0.0));
        var s3 = vec3<A>(A(0.0));
        for (; j < stop; j += walk.z) {
            let v = quad(j);
            m = max(m, max(max(abs(v.x), abs(v.y)), max(abs(v.z), abs(v.w))));
            s0 += folds_of(v.x);
            s1 += folds_of(v.y);
            s2 += folds_of(v.z);
            s3 += folds_of(v.w);
        }
        spill((s0 + s1) + (s2 + s3), per_q);
    }
    let tail = tail_term(wid.x, l);
    if (tail.x == 1u) {
        let t = term(tail.y);
        m = max(m, abs(t));
        spill(folds_of(t), per_q);
    }
    if (any(w0 != vec3<u32>(0u))) {
        local_add(0u, w0);
    }
    if (any(w1 != vec3<u32>(0u))) {
        local_add(LIMBS, w1);
    }
    if (any(w2 != vec3<u32>(0u))) {
        local_add(2u * LIMBS, w2);
    }
    sh[l] = m;
    // The tree's barriers also order the local_adds before the reads below.
    tree_in_workgroup(l);
    if (l == 0u) {
        rmax[wid.x] = sh[0];
    }
    if (l < 3u) {
        let base = l * LIMBS;
        var v = vec3<u32>(atomicLoad(&wlanes[base]), atomicLoad(&wlanes[base + 1u]), 0u);
        if (LIMBS == 3u) {
            v.z = atomicLoad(&wlanes[base + 2u]);
        }
        if (any(v != vec3<u32>(0u))) {
            global_add(base, v);
        }
    }
}
//#endif
