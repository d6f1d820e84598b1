// detbench reduction kernels (sum, dot) for wgpu, part 1 of 4: the bindings, loading, the
// accumulator arithmetic, the quads and the workgroup tree. The kernels are in
// reduce_tree.wgsl (tree, kahan, the atomic variants), reduce_fixed.wgsl and
// reduce_repro.wgsl; the host concatenates the prelude and all four before specialising.
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
//#flags ADD_TREE DOT SEQ_QUADS TREE_VEC VEC4 WG_TREE

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

