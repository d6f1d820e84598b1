// detbench scatter-add kernels (out[idx[i]] += x[i]) for wgpu.
//
// A template, specialised by src/ops/scatter/wgpu/mod.rs like reduce.wgsl: the host prepends
// `alias C` (compute type: f64 when the input or the accumulator is f64), `alias A` (the
// binned-state type), `alias XW` (storage word of x), `const WG`, `const PB` (bins, for
// the privatized copy in workgroup memory), the sort's `SORT_WG`, `SORT_ITEMS` and
// `RADIX_BITS`, and keeps the `//#if` blocks of the job's flags: IN_* / ACC_* / ACC_HALF / C64 as in reduce.wgsl, one variant
// flag V_ATOMIC V_CAS V_PRIV V_SORT V_FIXED V_REPRO, CAS_CELL / CAS64 (compare-exchange
// words of u32 or u64), NATIVE_ATOMIC (privatized merging with atomicAdd on f32).
// The value loading, half rounding, fixed-point quantizer, `opaque` and the accumulator's
// add are common.wgsl's, so each add rounds exactly like `Arith` in src/shared/arith.rs. The sort-based kernels follow
// src/ops/scatter/mod.rs step for step, so their bits equal the CPU's.
//#flags CAS_CELL V_ATOMIC V_CAS V_PRIV

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
    // Always 0; see common.wgsl's `opaque`.
    zero: u32,
    // Entries the scan kernel scans.
    scan_len: u32,
    folds: i32,
    a0: i32,
    a1: i32,
    a2: i32,
    // Radix pass: 1 on the last pass (values are written in sorted order).
    last: u32,
    // reproducible: consecutive elements one thread walks.
    span: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;

@group(0) @binding(1) var<storage, read> xs: array<XW>;

// ---------------------------------------------------------------------------------------
// Loading: every input value is exact in C (decode and word_index are common.wgsl's).


fn load_x(i: u32) -> C {
    return decode(xs[word_index(i)], i);
}

// ---------------------------------------------------------------------------------------
// Accumulator arithmetic: a scatter only adds, so it takes common.wgsl's `add` and `sub`
// (ACC_ADD; with TWO_SUM32 for the round-to-odd of a half accumulator) and defines no product.

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

// Quant and quantize (the value first rounded to the accumulator: f32 or f64 here, halves
// are exact in f32) are common.wgsl's.

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
