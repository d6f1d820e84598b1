// detbench batched row reductions (row_sum, mean, log_softmax over the last axis of a
// B x N input) for wgpu.
//
// A template, specialised per job by src/ops/rows/wgpu.rs:
//   header: `alias C` (accumulator: f64 or f32), `alias XW` (input storage word), `alias OW`
//   (output word), `const WG`.
//   flags: IN_* and HALF_F16/HALF_BF16 (common.wgsl), ACC_HALF, STORE_NONE STORE_F32
//   STORE_HALF, and the op: OP_SUM, OP_MEAN, OP_LSM.
//
// The orders are those of src/ops/rows/mod.rs: chunk chains from +0, partials added in chunk
// order from +0. row_sum and mean give the CPU emulation's bits (src/ops/rows/cpu.rs);
// log_softmax's exp and log are the device's.

struct Params {
    rows: u32,
    len: u32,
    chunk: u32,
    splits: u32,
    // 1-D passes: workgroups along x.
    gx: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> xs: array<XW>;
@group(0) @binding(2) var<storage, read_write> outv: array<OW>;
@group(0) @binding(3) var<storage, read_write> partials: array<C>;
// [inv] for mean; per row [max, log(sum)] for log_softmax.
@group(0) @binding(4) var<storage, read_write> rowbuf: array<C>;

fn load_x(i: u32) -> C {
    return decode(xs[word_index(i)], i);
}

//#if ACC_HALF
fn addc(a: C, b: C) -> C {
    return round_half(a + b);
}
fn mulc(a: C, b: C) -> C {
    return round_half(a * b);
}
//#else
fn addc(a: C, b: C) -> C {
    return a + b;
}
fn mulc(a: C, b: C) -> C {
    return a * b;
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

fn flat_index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * prm.gx * WG;
}

//#if OP_LSM
// One thread per row: the row's maximum (exact, so any order).
@compute @workgroup_size(WG)
fn row_max(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = flat_index(gid);
    if (r >= prm.rows) {
        return;
    }
    var m = load_x(r * prm.len);
    for (var j = 1u; j < prm.len; j++) {
        m = max(m, load_x(r * prm.len + j));
    }
    rowbuf[2u * r] = m;
}

fn term(r: u32, i: u32) -> C {
    return exp(load_x(i) - rowbuf[2u * r]);
}
//#else
fn term(r: u32, i: u32) -> C {
    return load_x(i);
}
//#endif

// One thread per (row, chunk): the chunk's chain from +0.
@compute @workgroup_size(WG)
fn row_partial(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = flat_index(gid);
    if (idx >= prm.rows * prm.splits) {
        return;
    }
    let r = idx / prm.splits;
    let c = idx % prm.splits;
    let beg = c * prm.chunk;
    let end = min(beg + prm.chunk, prm.len);
    var acc = C(0.0);
    for (var j = beg; j < end; j++) {
        acc = addc(acc, term(r, r * prm.len + j));
    }
    partials[idx] = acc;
}

// One thread per row: the partials in chunk order from +0 (one chunk: the chain itself).
@compute @workgroup_size(WG)
fn row_finish(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = flat_index(gid);
    if (r >= prm.rows) {
        return;
    }
    var s = partials[r * prm.splits];
    if (prm.splits > 1u) {
        s = C(0.0);
        for (var c = 0u; c < prm.splits; c++) {
            s = addc(s, partials[r * prm.splits + c]);
        }
    }
//#if OP_SUM
    outv[r] = to_out(s);
//#endif
//#if OP_MEAN
    outv[r] = to_out(mulc(s, rowbuf[0]));
//#endif
//#if OP_LSM
    rowbuf[2u * r + 1u] = log(s);
//#endif
}

//#if OP_LSM
// One thread per element: fl(fl(x - m) - log(s)).
@compute @workgroup_size(WG)
fn lsm_out(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = flat_index(gid);
    if (e >= prm.rows * prm.len) {
        return;
    }
    let r = e / prm.len;
    outv[e] = to_out((load_x(e) - rowbuf[2u * r]) - rowbuf[2u * r + 1u]);
}
//#endif
