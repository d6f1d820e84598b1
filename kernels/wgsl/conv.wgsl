// detbench convolution kernels (conv2d_fwd, conv2d_bwd_data, conv2d_bwd_weight) for wgpu.
//
// A template, specialised per job by src/ops/conv/wgpu.rs:
//   header: `alias C` (accumulator type: f64 for an f64 accumulator, else f32), `alias XW`
//   (input storage word: f32, f64, or u32 holding two halves), `alias OW` (output word: f64
//   for f64 data, else f32; a half output is stored as the f32 of equal value, because two
//   threads writing the two halves of one u32 would race), `const WG`, `const MAX_TRIES`.
//   flags: IN_F32 IN_F64 IN_F16 IN_BF16 (input format; HALF_F16/HALF_BF16 name the half
//   format in play), ACC_HALF (f16/bf16 accumulator) else fma accumulation, STORE_NONE
//   STORE_F32 STORE_HALF (how an accumulator value becomes an output), OP_FWD OP_BWDD
//   OP_BWDW, and the entry points' variant: V_DIRECT V_TILED V_DET V_ATOMIC, with NATIVE_ATOMIC
//   (atomic<f32> add), CAS32 (compare-exchange on f32 bits) or CAS64 (on f64 bits).
//
// Every step mirrors `ConvArith` in src/ops/conv/cpu.rs, and the orders are those of
// src/ops/conv/mod.rs, so the ordered variants give the CPU emulation's bits.
//#flags OP_BWDD OP_BWDW OP_FWD STORE_F32 STORE_HALF STORE_NONE V_ATOMIC V_DET V_DIRECT V_TILED

struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    k: u32,
    r: u32,
    s: u32,
    stride: u32,
    pad: u32,
    dil: u32,
    p: u32,
    q: u32,
    // bwd_weight: (n, p, q) indices per chunk, and N*P*Q.
    chunk: u32,
    npq: u32,
    // Elements of the output.
    out_len: u32,
    // Direct kernels: workgroups along x (the grid is 2-D past 65535 workgroups).
    gx: u32,
    // GEMM view: rows, columns and reduction length.
    gm: u32,
    gn: u32,
    gk: u32,
    chunks: u32,
    // Always 1.0; see `step`.
    one: f32,
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> as_: array<XW>;
@group(0) @binding(2) var<storage, read> bs: array<XW>;
@group(0) @binding(3) var<storage, read_write> outv: array<OW>;

// ---------------------------------------------------------------------------------------
// Loading: every input value is exact in C (decode and word_index are common.wgsl's).

fn load_a(i: u32) -> C {
    return decode(as_[word_index(i)], i);
}
fn load_b(i: u32) -> C {
    return decode(bs[word_index(i)], i);
}

// ---------------------------------------------------------------------------------------
// Rounding an f32 to the half format in play, round to nearest even, with bit operations.

// rne_drop and round_half are common.wgsl's (flags ROUND_HALF and HALF_F16 / HALF_BF16).

// ---------------------------------------------------------------------------------------
// Accumulator arithmetic (`ConvArith`): step = acc + a*b, addc = a + b, to_out = the store.

// step and addc are common.wgsl's (flags GEMM_STEP and ADDC).

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

// Signed input coordinate of output coordinate o at filter tap t; may be out of range.
fn in_coord(o: u32, t: u32) -> i32 {
    return i32(o * prm.stride + t * prm.dil) - i32(prm.pad);
}

// ---------------------------------------------------------------------------------------
// direct: one thread per output element, (c, r, s) or (k, r, s) order.

//#if V_DIRECT
fn element_index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * prm.gx * WG;
}

//#if OP_FWD
@compute @workgroup_size(WG)
fn fwd_direct(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = element_index(gid);
    if (e >= prm.out_len) {
        return;
    }
    let q = e % prm.q;
    let t1 = e / prm.q;
    let p = t1 % prm.p;
    let t2 = t1 / prm.p;
    let k = t2 % prm.k;
    let n = t2 / prm.k;
    var acc = C(0.0);
    for (var c = 0u; c < prm.c; c++) {
        for (var r = 0u; r < prm.r; r++) {
            let ih = in_coord(p, r);
            if (ih < 0 || ih >= i32(prm.h)) {
                continue;
            }
            for (var s = 0u; s < prm.s; s++) {
                let iw = in_coord(q, s);
                if (iw < 0 || iw >= i32(prm.w)) {
                    continue;
                }
                let xa = load_a(((n * prm.c + c) * prm.h + u32(ih)) * prm.w + u32(iw));
                let wb = load_b(((k * prm.c + c) * prm.r + r) * prm.s + s);
                acc = step(acc, xa, wb);
            }
        }
    }
    outv[e] = to_out(acc);
}
//#endif

//#if OP_BWDD
@compute @workgroup_size(WG)
fn bwdd_direct(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = element_index(gid);
    if (e >= prm.out_len) {
        return;
    }
    let w = e % prm.w;
    let t1 = e / prm.w;
    let h = t1 % prm.h;
    let t2 = t1 / prm.h;
    let c = t2 % prm.c;
    let n = t2 / prm.c;
    var acc = C(0.0);
    for (var k = 0u; k < prm.k; k++) {
        for (var r = 0u; r < prm.r; r++) {
            let th = i32(h + prm.pad) - i32(r * prm.dil);
            if (th < 0 || u32(th) % prm.stride != 0u || u32(th) / prm.stride >= prm.p) {
                continue;
            }
            let p = u32(th) / prm.stride;
            for (var s = 0u; s < prm.s; s++) {
                let tw = i32(w + prm.pad) - i32(s * prm.dil);
                if (tw < 0 || u32(tw) % prm.stride != 0u || u32(tw) / prm.stride >= prm.q) {
                    continue;
                }
                let q = u32(tw) / prm.stride;
                let dy = load_a(((n * prm.k + k) * prm.p + p) * prm.q + q);
                let wb = load_b(((k * prm.c + c) * prm.r + r) * prm.s + s);
                acc = step(acc, dy, wb);
            }
        }
    }
    outv[e] = to_out(acc);
}
//#endif
//#endif

// ---------------------------------------------------------------------------------------
// The implicit GEMM of the tiled and bwd_weight kernels: out(row, col) = sum over kk of
// A(row, kk) * B(kk, col), kk increasing (see the table in src/ops/conv/mod.rs). Values
// outside the tensors (padding, ragged tile edges) load as 0, which leaves a +0-started
// accumulator unchanged, so the bits equal a chain that skips them.

//#if !V_DIRECT
//#if OP_FWD
// row = (n, p, q), col = k, kk = (r, s, c) with c innermost.
fn gemm_a(row: u32, kk: u32) -> C {
    let q = row % prm.q;
    let t = row / prm.q;
    let p = t % prm.p;
    let n = t / prm.p;
    let c = kk % prm.c;
    let rs = kk / prm.c;
    let s = rs % prm.s;
    let r = rs / prm.s;
    let ih = in_coord(p, r);
    let iw = in_coord(q, s);
    if (ih < 0 || ih >= i32(prm.h) || iw < 0 || iw >= i32(prm.w)) {
        return C(0.0);
    }
    return load_a(((n * prm.c + c) * prm.h + u32(ih)) * prm.w + u32(iw));
}
fn gemm_b(kk: u32, col: u32) -> C {
    let c = kk % prm.c;
    let rs = kk / prm.c;
    return load_b((col * prm.c + c) * prm.r * prm.s + rs);
}
fn out_index(row: u32, col: u32) -> u32 {
    let pq = prm.p * prm.q;
    return ((row / pq) * prm.k + col) * pq + row % pq;
}
//#endif
//#if OP_BWDD
// row = (n, h, w), col = c, kk = (r, s, k) with k innermost.
fn gemm_a(row: u32, kk: u32) -> C {
    let w = row % prm.w;
    let t = row / prm.w;
    let h = t % prm.h;
    let n = t / prm.h;
    let k = kk % prm.k;
    let rs = kk / prm.k;
    let s = rs % prm.s;
    let r = rs / prm.s;
    let th = i32(h + prm.pad) - i32(r * prm.dil);
    let tw = i32(w + prm.pad) - i32(s * prm.dil);
    if (th < 0 || tw < 0) {
        return C(0.0);
    }
    let uh = u32(th);
    let uw = u32(tw);
    if (uh % prm.stride != 0u || uw % prm.stride != 0u || uh / prm.stride >= prm.p || uw / prm.stride >= prm.q) {
        return C(0.0);
    }
    return load_a(((n * prm.k + k) * prm.p + uh / prm.stride) * prm.q + uw / prm.stride);
}
fn gemm_b(kk: u32, col: u32) -> C {
    let k = kk % prm.k;
    let rs = kk / prm.k;
    return load_b((k * prm.c + col) * prm.r * prm.s + rs);
}
fn out_index(row: u32, col: u32) -> u32 {
    let hw = prm.h * prm.w;
    return ((row / hw) * prm.c + col) * hw + row % hw;
}
//#endif
//#if OP_BWDW
// row = k, col = (c, r, s) (the KCRS layout of dw), kk = (n, p, q).
fn gemm_a(row: u32, kk: u32) -> C {
    let pq = prm.p * prm.q;
    return load_a(((kk / pq) * prm.k + row) * pq + kk % pq);
}
fn gemm_b(kk: u32, col: u32) -> C {
    let pq = prm.p * prm.q;
    let n = kk / pq;
    let p = (kk % pq) / prm.q;
    let q = kk % prm.q;
    let rs = prm.r * prm.s;
    let c = col / rs;
    let r = (col % rs) / prm.s;
    let s = col % prm.s;
    let ih = in_coord(p, r);
    let iw = in_coord(q, s);
    if (ih < 0 || ih >= i32(prm.h) || iw < 0 || iw >= i32(prm.w)) {
        return C(0.0);
    }
    return load_b(((n * prm.c + c) * prm.h + u32(ih)) * prm.w + u32(iw));
}
fn out_index(row: u32, col: u32) -> u32 {
    return row * prm.gn + col;
}
//#endif

// ta[kk][row], tb[kk][col]: one 16-deep slice of each operand tile.
var<workgroup> ta: array<array<C, 16>, 16>;
var<workgroup> tb: array<array<C, 16>, 16>;

// The dot product of (row0 + lid.x, col0 + lid.y) over kk in [kbeg, kend). Every thread of
// the workgroup calls it (the barriers need uniform control flow).
fn gemm_tile(lid: vec3<u32>, row0: u32, col0: u32, kbeg: u32, kend: u32) -> C {
    let lx = lid.x;
    let ly = lid.y;
    var acc = C(0.0);
    for (var k0 = kbeg; k0 < kend; k0 += 16u) {
//#if OP_BWDW
        // kk fastest across threads: dy and x rows are contiguous in (p, q).
        let ar = row0 + ly;
        let ak = k0 + lx;
        var av = C(0.0);
        if (ar < prm.gm && ak < kend) {
            av = gemm_a(ar, ak);
        }
        ta[lx][ly] = av;
//#else
        // rows fastest across threads: output pixels are contiguous in (p, q) or (h, w).
        let ar = row0 + lx;
        let ak = k0 + ly;
        var av = C(0.0);
        if (ar < prm.gm && ak < kend) {
            av = gemm_a(ar, ak);
        }
        ta[ly][lx] = av;
//#endif
        let bk = k0 + lx;
        let bc = col0 + ly;
        var bv = C(0.0);
        if (bk < kend && bc < prm.gn) {
            bv = gemm_b(bk, bc);
        }
        tb[lx][ly] = bv;
        workgroupBarrier();
        for (var t = 0u; t < 16u; t++) {
            acc = step(acc, ta[t][lx], tb[t][ly]);
        }
        workgroupBarrier();
    }
    return acc;
}
//#endif

//#if V_TILED
@compute @workgroup_size(16, 16)
fn tiled(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * 16u;
    let col0 = wid.y * 16u;
    let acc = gemm_tile(lid, row0, col0, 0u, prm.gk);
    let row = row0 + lid.x;
    let col = col0 + lid.y;
    if (row < prm.gm && col < prm.gn) {
        outv[out_index(row, col)] = to_out(acc);
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// bwd_weight: workgroup (x, y, z) computes the 16 x 16 tile (x, y) of dw over chunk z.

//#if V_DET
@group(0) @binding(4) var<storage, read_write> partials: array<C>;

@compute @workgroup_size(16, 16)
fn bwdw_partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * 16u;
    let col0 = wid.y * 16u;
    let kbeg = wid.z * prm.chunk;
    let acc = gemm_tile(lid, row0, col0, kbeg, min(kbeg + prm.chunk, prm.npq));
    let row = row0 + lid.x;
    let col = col0 + lid.y;
    if (row < prm.gm && col < prm.gn) {
        partials[wid.z * prm.out_len + out_index(row, col)] = acc;
    }
}

// Chunk partials added in chunk order 0, 1, 2, ...
@compute @workgroup_size(WG)
fn bwdw_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x + gid.y * prm.gx * WG;
    if (e >= prm.out_len) {
        return;
    }
    var acc = C(0.0);
    for (var j = 0u; j < prm.chunks; j++) {
        acc = addc(acc, partials[j * prm.out_len + e]);
    }
    outv[e] = to_out(acc);
}
//#endif

//#if V_ATOMIC
@compute @workgroup_size(16, 16)
fn bwdw_atomic(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * 16u;
    let col0 = wid.y * 16u;
    let kbeg = wid.z * prm.chunk;
    let acc = gemm_tile(lid, row0, col0, kbeg, min(kbeg + prm.chunk, prm.npq));
    let row = row0 + lid.x;
    let col = col0 + lid.y;
    if (row < prm.gm && col < prm.gn) {
        atomic_add(out_index(row, col), acc);
    }
}

@compute @workgroup_size(WG)
fn bwdw_finish(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x + gid.y * prm.gx * WG;
    if (e >= prm.out_len) {
        return;
    }
    outv[e] = to_out(cell_value(e));
}
//#endif
