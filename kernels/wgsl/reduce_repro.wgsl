// detbench reduction kernels, part 4 of 4: reproducible. Specialised with reduce.wgsl (part 1)
// by src/ops/reduce/wgpu.rs.
//#flags V_REPRO

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

// or1, pow2, sigma_of, to_limbs and P_BITS are common.wgsl's (flag REPRO_BITS).
//#if ACC_F64
const LIMBS: u32 = 3u;
//#else
const LIMBS: u32 = 2u;
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
