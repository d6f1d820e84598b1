// detbench reduction kernels, part 3 of 4: fixed_point. Specialised with reduce.wgsl (part 1)
// by src/ops/reduce/wgpu.rs.
//#flags FIXED_F32

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
