// detbench optimizer kernels (sgd, adam, adamw) for wgpu: one dispatch per step.
//
// Template, specialised by src/ops/optim/wgpu.rs: a header sets `const WG`, and `//#if`
// flags keep one rule (SGD, NESTEROV, ADAM, ADAMW) and one storage (ST_F32: f32 params and
// gradients; ST_BF16: bf16 params and gradients packed two per u32 with an f32 master copy;
// ST_SR: bf16 params and gradients, stochastic rounding, no master).
//
// The operation order is the `fma` order of src/ops/optim/mod.rs, with every multiply-add
// an explicit fused one: WGSL gives no way to forbid a driver from contracting a*b+c, so the
// only order wgpu can promise is the one where nothing is left to contract. SGD's
// multiply-adds are common.wgsl's `fma32` (flag FMA32), one rounding by construction: WGSL
// and Vulkan let a driver evaluate fma() as a multiply then an add (lavapipe does), which
// would give the CPU's no_fma bits instead. Adam's still call fma() (their sqrt and division
// are not correctly rounded in WGSL either, so they are compared within a tolerance).
// Differences `g - m` pass through `opaque` so a driver cannot recognise fma(t, g - m, m) as
// a lerp and rewrite it.
//#flags ADAM ADAMW NESTEROV SGD ST_BF16 ST_F32 ST_SR

struct Prm {
    neg_step: f32,
    a: f32,
    b: f32,
    isb: f32,
    eps: f32,
    decay: f32,
    step: u32,
    key: u32,
    n: u32,
    // Always 0, unknown to the compiler (common.wgsl's `opaque`).
    zero: u32,
}

@group(0) @binding(0) var<uniform> prm: Prm;
//#if ST_F32
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
//#else
@group(0) @binding(1) var<storage, read_write> params: array<u32>;
@group(0) @binding(2) var<storage, read> grads: array<u32>;
//#endif
@group(0) @binding(3) var<storage, read_write> ms: array<f32>;
//#if ADAM
@group(0) @binding(4) var<storage, read_write> vs: array<f32>;
//#endif
//#if ST_BF16
@group(0) @binding(5) var<storage, read_write> master: array<f32>;
//#endif

// MurmurHash3's finaliser; the same integer steps as `fmix32` in src/ops/optim/mod.rs.
fn fmix32(h0: u32) -> u32 {
    var h = h0;
    h = h ^ (h >> 16u);
    h = h * 0x85ebca6bu;
    h = h ^ (h >> 13u);
    h = h * 0xc2b2ae35u;
    h = h ^ (h >> 16u);
    return h;
}

fn sr_hash(i: u32) -> u32 {
    return fmix32(fmix32(prm.key ^ (prm.step * 0x9e3779b9u)) ^ i);
}

// f32 -> bf16 bits, round to nearest even (NaN stays NaN, as the `half` crate does).
fn bf16_rn(x: f32) -> u32 {
    let u = bitcast<u32>(x);
    if ((u & 0x7f800000u) == 0x7f800000u) {
        return (u >> 16u) | select(0u, 0x40u, (u & 0x7fffffu) != 0u);
    }
    return (u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u;
}

// f32 -> bf16 bits, stochastic: add 16 random bits below the bf16 mantissa and truncate.
fn bf16_sr(x: f32, bits: u32) -> u32 {
    let u = bitcast<u32>(x);
    if ((u & 0x7f800000u) == 0x7f800000u) {
        return bf16_rn(x);
    }
    return (u + (bits & 0xffffu)) >> 16u;
}

// One step of element i from working value w and gradient g; returns the new w.
fn update(w0: f32, i: u32, g: f32) -> f32 {
    var w = w0;
//#if ADAMW
    w = w * prm.decay;
//#endif
//#if ADAM
    let mo = ms[i];
    let vo = vs[i];
    let d1 = opaque(g - mo);
    let m = fma(prm.a, d1, mo);
    let d2 = opaque(fma(g, g, -vo));
    let v = fma(prm.b, d2, vo);
    let den = fma(sqrt(v), prm.isb, prm.eps);
    let q = m / den;
    ms[i] = m;
    vs[i] = v;
    return fma(prm.neg_step, q, w);
//#endif
//#if SGD
    let b = fma32(prm.a, ms[i], g);
    ms[i] = b;
//#if NESTEROV
    let d = fma32(prm.a, b, g);
//#else
    let d = b;
//#endif
    return fma32(prm.neg_step, d, w);
//#endif
}

//#if ST_F32
@compute @workgroup_size(WG)
fn step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let stride = nw.x * WG;
    for (var i = gid.x; i < prm.n; i = i + stride) {
        params[i] = update(params[i], i, grads[i]);
    }
}
//#else
// One u32 word (two bf16 elements) per thread, so no two threads share a word.
@compute @workgroup_size(WG)
fn step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let stride = nw.x * WG;
    let words = (prm.n + 1u) / 2u;
    for (var wi = gid.x; wi < words; wi = wi + stride) {
        let pw = params[wi];
        let gw = grads[wi];
        var out = pw;
        for (var h = 0u; h < 2u; h = h + 1u) {
            let i = 2u * wi + h;
            if (i < prm.n) {
                let shift = 16u * h;
                let g = bitcast<f32>(((gw >> shift) & 0xffffu) << 16u);
//#if ST_BF16
                let w = update(master[i], i, g);
                master[i] = w;
                let bits = bf16_rn(w);
//#else
                let p = bitcast<f32>(((pw >> shift) & 0xffffu) << 16u);
                let w = update(p, i, g);
                let bits = bf16_sr(w, sr_hash(i));
//#endif
                out = (out & ~(0xffffu << shift)) | (bits << shift);
            }
        }
        params[wi] = out;
    }
}
//#endif
