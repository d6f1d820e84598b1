// detbench reduction kernels, part 2 of 4: the ordered two-pass trees (tree, kahan) and the
// atomic variants (atomic, atomic_cas, block_atomic). Specialised with reduce.wgsl (part 1:
// the header's bindings, loading, arithmetic and the workgroup tree) by src/ops/reduce/wgpu.rs.
//#flags CAS_CELL DOT TREE_VEC V_ATOMIC V_BLOCK V_CAS V_KAHAN V_TREE

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

// two_sum_acc is common.wgsl's (flag TWO_SUM_ACC).
fn kahan_add(p: Pair, v: C, ve: C) -> Pair {
    let t = two_sum_acc(p.s, v);
    return Pair(t.h, add(p.c, add(t.l, ve)));
}
fn kahan_merge(a: Pair, b: Pair) -> Pair {
    let t = two_sum_acc(a.s, b.s);
    return Pair(t.h, add(add(a.c, b.c), t.l));
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
