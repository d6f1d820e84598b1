// detbench scatter kernels: reproducible (binned, exact per-fold integer lanes). Specialised
// with scatter.wgsl by src/ops/scatter/wgpu/mod.rs.
//#flags PAIR64 PLANE32 REPRO_PRIV V_REPRO

// ---------------------------------------------------------------------------------------
// reproducible: binned summation (src/numerics/repro.rs) without any sort. Every bin has
// its own layout, fixed on the host by the largest |x| in the bin (blay: one word per bin,
// a_0 << 8 | folds; a_k = a_0 - k W as in repro.rs). With the bin's layout fixed, depositing x into fold k adds
// q_k = x's remainder rounded to a multiple of the fold's quantum u_k, and q_k depends on
// the remainder alone (the primary only fixes the grid, and `r | 1` rules out ties). So
// each fold's value is u_k * sum(q_k / u_k): a sum of integers (|q_k / u_k| <= 2^(p-12)),
// exact and order-free.
// Each thread sums the integers of a run of equal bins within its span of SPAN
// consecutive elements exactly in A (at most 2^11 of them: |sum| < 2^p), then adds them
// into the bin's integer lanes: LIMBS u32 words per (bin, fold), little-endian two's
// complement, updated by integer atomics with the carries propagated by the adder (the
// final words equal the exact total whatever the order). REPRO_PRIV: lanes of all bins in
// workgroup memory, added into the global lanes once per workgroup; otherwise straight
// into the global lanes. The host turns the lanes into binned states and finalises them
// with the shared code.

//#if V_REPRO
@group(0) @binding(3) var<storage, read_write> lanes: array<atomic<u32>>;
@group(0) @binding(17) var<storage, read> blay: array<u32>;

// or1, pow2, sigma_of, to_limbs and P_BITS are common.wgsl's (flag REPRO_BITS).
//#if ACC_F64
const FOLD_W: i32 = 42;
//#else
const FOLD_W: i32 = 13;
//#endif

// The layout of bin b: (folds, a_0).
fn bin_layout(b: u32) -> vec2<i32> {
    let w = blay[b];
    return vec2<i32>(i32(w & 255u), bitcast<i32>(w) >> 8u);
}

// One fold's quanta count q_k / u_k of the remainder r (then taken out of r), as
// repro.rs's deposit computes q_k: with the primary at its starting value 1.5 * 2^a,
// which gives the same q_k as any other primary of the binade.
fn fold_slice(r: ptr<function, A>, a: i32) -> A {
    let sig = sigma_of(a);
    // The select keeps the driver from folding (sig + r) - sig into r.
    let s = select(sig + or1(*r), A(0.0), prm.zero != 0u);
    let q = s - sig;
    *r = *r - q;
    return q * pow2(P_BITS - 1 - a);
}

// The quanta counts of one term in its bin's layout `lay` (folds >= 1), unrolled: no
// fold index to look up at run time.
fn slices(x: A, lay: vec2<i32>) -> vec3<A> {
    var m = vec3<A>(A(0.0));
    var r = x;
    m.x = fold_slice(&r, lay.y);
    if (lay.x > 1) {
        m.y = fold_slice(&r, lay.y - FOLD_W);
    }
    if (lay.x > 2) {
        m.z = fold_slice(&r, lay.y - 2 * FOLD_W);
    }
    return m;
}

// Adds a value (limbs v) into the lanes at `base`; the carry out of each limb is whether
// the atomic add wrapped, so the words end at the exact total mod 2^(32 LIMBS).
fn lanes_add(base: u32, v: vec3<u32>) {
    let o0 = atomicAdd(&lanes[base], v.x);
    let c0 = select(0u, 1u, o0 + v.x < o0);
    let t1 = v.y + c0;
    var c1 = select(0u, 1u, t1 < v.y);
    if (t1 != 0u) {
        let o1 = atomicAdd(&lanes[base + 1u], t1);
        c1 += select(0u, 1u, o1 + t1 < o1);
    }
    if (LIMBS == 3u) {
        let t2 = v.z + c1;
        if (t2 != 0u) {
            atomicAdd(&lanes[base + 2u], t2);
        }
    }
}

//#if REPRO_PRIV
var<workgroup> plane: array<atomic<u32>, RW>;
//#if PLANE32
// An f32 term's count in a fold is at most 2^12 in magnitude and the host sets PLANE32 only
// when a workgroup sees fewer than 2^19 terms, so every (bin, fold) total of a workgroup
// stays below 2^31 in magnitude: one wrapping word (two's complement) holds it exactly, and one
// atomic per fold replaces the limbs and their carries.
fn plane_add32(lane: u32, count: A) {
    atomicAdd(&plane[lane], bitcast<u32>(i32(count)));
}
//#if PAIR64
// With 64-bit atomics (flag PAIR64), folds 0 and 1 of a bin share one u64 word: adding
// c1 2^32 + c0 (as a wrapping two's-complement word) keeps the exact integer sum(c1) 2^32 +
// sum(c0), and as both sums stay below 2^31 in magnitude, sum(c0) is the word's low half
// sign-extended and sum(c1) the rest (pair_counts). One atomic instead of two per term;
// `plane` then holds fold 2 alone, one word per bin.
var<workgroup> pair: array<atomic<u64>, PAIRS>;

fn pair_add(b: u32, c0: A, c1: A) {
    let w = (u64(i64(i32(c1))) << 32u) + u64(i64(i32(c0)));
    atomicAdd(&pair[b], w);
}

// Fold k (0 or 1) of bin b's pair word, as an i32 word.
fn pair_count(b: u32, k: u32) -> u32 {
    let t = i64(atomicLoad(&pair[b]));
    let lo = i64(bitcast<i32>(u32(u64(t) & u64(0xffffffffu))));
    return select(u32(u64(lo) & u64(0xffffffffu)), u32(u64((t - lo) >> 32u) & u64(0xffffffffu)), k == 1u);
}
//#endif
//#else
fn plane_add(base: u32, v: vec3<u32>) {
    let o0 = atomicAdd(&plane[base], v.x);
    let c0 = select(0u, 1u, o0 + v.x < o0);
    let t1 = v.y + c0;
    var c1 = select(0u, 1u, t1 < v.y);
    if (t1 != 0u) {
        let o1 = atomicAdd(&plane[base + 1u], t1);
        c1 += select(0u, 1u, o1 + t1 < o1);
    }
    if (LIMBS == 3u) {
        let t2 = v.z + c1;
        if (t2 != 0u) {
            atomicAdd(&plane[base + 2u], t2);
        }
    }
}
//#endif
//#endif

fn flush(b: u32, sums: vec3<A>, folds: i32) {
//#if PAIR64
    // slices() leaves the folds past `folds` at 0.
    if (sums.x != A(0.0) || sums.y != A(0.0)) {
        pair_add(b, sums.x, sums.y);
    }
    if (sums.z != A(0.0)) {
        plane_add32(b, sums.z);
    }
    return;
//#endif
    for (var k = 0u; k < 3u; k++) {
        if (i32(k) < folds && sums[k] != A(0.0)) {
//#if REPRO_PRIV
//#if PLANE32
            plane_add32(b * 3u + k, sums[k]);
//#else
            plane_add((b * 3u + k) * LIMBS, to_limbs(sums[k]));
//#endif
//#else
            lanes_add((b * 3u + k) * LIMBS, to_limbs(sums[k]));
//#endif
        }
    }
}

@compute @workgroup_size(WG)
fn scatter_reproducible(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(global_invocation_id) gid: vec3<u32>) {
//#if REPRO_PRIV
    for (var w = lid.x; w < RW; w += WG) {
        atomicStore(&plane[w], 0u);
    }
//#if PAIR64
    for (var w = lid.x; w < PAIRS; w += WG) {
        atomicStore(&pair[w], u64(0));
    }
//#endif
    workgroupBarrier();
//#endif
    let spans = (prm.n + prm.span - 1u) / prm.span;
    for (var sp = gid.x; sp < spans; sp += prm.threads) {
        let lo = sp * prm.span;
        let hi = min(prm.n, lo + prm.span);
        var cur = idx[lo];
        var lay = bin_layout(cur);
        var sums = vec3<A>(A(0.0));
        for (var i = lo; i < hi; i++) {
            let b = idx[i];
            if (b != cur) {
                flush(cur, sums, lay.x);
                sums = vec3<A>(A(0.0));
                cur = b;
                lay = bin_layout(b);
            }
            sums += slices(A(load_x(i)), lay);
        }
        flush(cur, sums, lay.x);
    }
//#if REPRO_PRIV
    workgroupBarrier();
    for (var g = lid.x; g < prm.bins * 3u; g += WG) {
        let base = g * LIMBS;
//#if PLANE32
        // The word sign-extended to the limbs.
//#if PAIR64
        let pb = g / 3u;
        let w = select(atomicLoad(&plane[pb]), pair_count(pb, g % 3u), g % 3u < 2u);
//#else
        let w = atomicLoad(&plane[g]);
//#endif
        let ext = select(0u, 0xffffffffu, bitcast<i32>(w) < 0);
        let v = vec3<u32>(w, ext, ext);
//#else
        var v = vec3<u32>(atomicLoad(&plane[base]), atomicLoad(&plane[base + 1u]), 0u);
        if (LIMBS == 3u) {
            v.z = atomicLoad(&plane[base + 2u]);
        }
//#endif
        if (any(v != vec3<u32>(0u))) {
            lanes_add(base, v);
        }
    }
//#endif
}
//#endif
