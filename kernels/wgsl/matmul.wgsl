// detbench matmul kernels (C = A·B, A M x K and B K x N row-major) for wgpu.
//
// A template, specialised per job by src/ops/matmul/wgpu.rs:
//   header: `alias C` (accumulator type: f64 for an f64 accumulator, else f32), `alias XW`
//   (input storage word: f32, f64, or u32 holding two halves), `alias OW` (output word: f64
//   for f64 data, else f32; a half output is stored as the f32 of equal value), `const WG`,
//   `const MAX_TRIES`.
//   flags: IN_* and HALF_F16/HALF_BF16 (common.wgsl), ACC_HALF (f16/bf16 accumulator),
//   STORE_NONE STORE_F32 STORE_HALF (how an accumulator value becomes an output), and the
//   entry points' variant: V_TILED, V_SPLIT (partials reduced in split order), V_ATOMIC with
//   NATIVE_ATOMIC, CAS32 or CAS64; BIAS for addmm (C = A·B + C: binding 6 holds the bias
//   as accumulator values, added once after the K reduction, just before the store).
//
// Every step mirrors `ConvArith` in src/ops/conv/cpu.rs (the matmul family shares it), and
// the orders are those of src/ops/matmul/mod.rs, so the ordered variants give the CPU
// emulation's bits.
//#flags BIAS STORE_F32 STORE_HALF STORE_NONE V_ATOMIC V_SPLIT V_TILED

struct Params {
    m: u32,
    n: u32,
    k: u32,
    // k per split, and the number of splits.
    chunk: u32,
    splits: u32,
    // Elements of C.
    out_len: u32,
    // 1-D passes: workgroups along x (the grid is 2-D past 65535 workgroups).
    gx: u32,
    // Always 1.0; see `step`.
    one: f32,
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> as_: array<XW>;
@group(0) @binding(2) var<storage, read> bs: array<XW>;
@group(0) @binding(3) var<storage, read_write> outv: array<OW>;

fn load_a(i: u32) -> C {
    return decode(as_[word_index(i)], i);
}
fn load_b(i: u32) -> C {
    return decode(bs[word_index(i)], i);
}

// step and addc are common.wgsl's (flags GEMM_STEP and ADDC).

//#if BIAS
@group(0) @binding(6) var<storage, read> biasv: array<C>;
// addmm: output e's reduced value plus its bias, one accumulator add (src/ops/matmul/mod.rs).
fn with_bias(v: C, e: u32) -> C {
    return addc(v, biasv[e]);
}
//#else
fn with_bias(v: C, e: u32) -> C {
    return v;
}
//#endif

fn to_out(v: C) -> OW {
//#if STORE_NONE
    return OW(v);
//#endif
//#if STORE_F32
    return f32(v);
//#endif
//#if STORE_HALF
    return round_half(f32(v));
//#endif
}

// ta[kk][row], tb[kk][col]: one 16-deep slice of each operand tile.
var<workgroup> ta: array<array<C, 16>, 16>;
var<workgroup> tb: array<array<C, 16>, 16>;

// The chain of (row0 + lid.x, col0 + lid.y) over k in [kbeg, kend), k increasing. Values
// past the matrices (ragged tile edges) load as 0, which leaves a +0-started chain
// unchanged, so the bits equal a chain that skips them. Every thread of the workgroup
// calls it (the barriers need uniform control flow).
fn gemm_tile(lid: vec3<u32>, row0: u32, col0: u32, kbeg: u32, kend: u32) -> C {
    let lx = lid.x;
    let ly = lid.y;
    var acc = C(0.0);
    for (var k0 = kbeg; k0 < kend; k0 += 16u) {
        // k fastest across threads: rows of A are contiguous in k.
        let ar = row0 + ly;
        let ak = k0 + lx;
        var av = C(0.0);
        if (ar < prm.m && ak < kend) {
            av = load_a(ar * prm.k + ak);
        }
        ta[lx][ly] = av;
        // columns fastest across threads: rows of B are contiguous in n.
        let bk = k0 + ly;
        let bc = col0 + lx;
        var bv = C(0.0);
        if (bk < kend && bc < prm.n) {
            bv = load_b(bk * prm.n + bc);
        }
        tb[ly][lx] = bv;
        workgroupBarrier();
        for (var t = 0u; t < 16u; t++) {
            acc = step(acc, ta[t][lx], tb[t][ly]);
        }
        workgroupBarrier();
    }
    return acc;
}

fn flat_index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * prm.gx * WG;
}

//#if V_TILED
@compute @workgroup_size(16, 16)
fn mm_tiled(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * 16u;
    let col0 = wid.y * 16u;
    let acc = gemm_tile(lid, row0, col0, 0u, prm.k);
    let row = row0 + lid.x;
    let col = col0 + lid.y;
    if (row < prm.m && col < prm.n) {
        let e = row * prm.n + col;
        outv[e] = to_out(with_bias(acc, e));
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// Split K: workgroup (x, y, z) computes the 16 x 16 tile (x, y) of C over split z.

//#if V_SPLIT
@group(0) @binding(4) var<storage, read_write> partials: array<C>;

@compute @workgroup_size(16, 16)
fn mm_partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * 16u;
    let col0 = wid.y * 16u;
    let kbeg = wid.z * prm.chunk;
    let acc = gemm_tile(lid, row0, col0, kbeg, min(kbeg + prm.chunk, prm.k));
    let row = row0 + lid.x;
    let col = col0 + lid.y;
    if (row < prm.m && col < prm.n) {
        partials[wid.z * prm.out_len + row * prm.n + col] = acc;
    }
}

// Split partials added in split order 0, 1, 2, ... from +0.
@compute @workgroup_size(WG)
fn mm_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = flat_index(gid);
    if (e >= prm.out_len) {
        return;
    }
    var acc = C(0.0);
    for (var j = 0u; j < prm.splits; j++) {
        acc = addc(acc, partials[j * prm.out_len + e]);
    }
    outv[e] = to_out(with_bias(acc, e));
}
//#endif

//#if V_ATOMIC
@compute @workgroup_size(16, 16)
fn mm_atomic(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * 16u;
    let col0 = wid.y * 16u;
    let kbeg = wid.z * prm.chunk;
    let acc = gemm_tile(lid, row0, col0, kbeg, min(kbeg + prm.chunk, prm.k));
    let row = row0 + lid.x;
    let col = col0 + lid.y;
    if (row < prm.m && col < prm.n) {
        atomic_add(row * prm.n + col, acc);
    }
}

@compute @workgroup_size(WG)
fn mm_finish(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = flat_index(gid);
    if (e >= prm.out_len) {
        return;
    }
    outv[e] = to_out(with_bias(cell_value(e), e));
}
//#endif
