// detbench batched row reductions (row_sum, mean, log_softmax over the last axis of a
// B x N input) for wgpu.
//
// A template, specialised per job by src/ops/rows/wgpu.rs:
//   header: `alias C` (accumulator: f64 or f32), `alias XW` (input storage word), `alias OW`
//   (output word), `const WG`.
//   flags: IN_* and HALF_F16/HALF_BF16 (common.wgsl), ACC_HALF, STORE_NONE STORE_F32
//   STORE_HALF, and the op: OP_SUM, OP_MEAN, OP_LSM. The `atomic` variant (row_sum, mean)
//   sets ATOMIC with common.wgsl's ATOMIC_CELLS (one cell per row at binding 4, the give-up
//   counter at 5) and `const MAX_TRIES` in the header.
//
// The orders are those of src/ops/rows/mod.rs: chunk chains from +0, partials added in chunk
// order from +0. row_sum and mean give the CPU emulation's bits (src/ops/rows/cpu.rs);
// log_softmax's exp and log are the device's.
//#flags ATOMIC OP_LSM OP_MEAN OP_SUM STORE_F32 STORE_HALF STORE_NONE

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
// [inv] for mean; per row [max, log(sum)] for log_softmax. (Bindings 4 and 5 are
// common.wgsl's atomic cells.)
@group(0) @binding(6) var<storage, read_write> rowbuf: array<C>;

fn load_x(i: u32) -> C {
    return decode(xs[word_index(i)], i);
}

// addc is common.wgsl's (flag ADDC).
//#if ACC_HALF
fn mulc(a: C, b: C) -> C {
    return round_half(a * b);
}
//#else
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

// The chain from +0 of chunk `idx % splits` of row `idx / splits`.
fn chunk_chain(idx: u32) -> C {
    let r = idx / prm.splits;
    let c = idx % prm.splits;
    let beg = c * prm.chunk;
    let end = min(beg + prm.chunk, prm.len);
    var acc = C(0.0);
    for (var j = beg; j < end; j++) {
        acc = addc(acc, term(r, r * prm.len + j));
    }
    return acc;
}

//#if ATOMIC
// `atomic`, one thread per (row, chunk): the chunk's chain added into the row's zeroed cell.
@compute @workgroup_size(WG)
fn row_atomic(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = flat_index(gid);
    if (idx >= prm.rows * prm.splits) {
        return;
    }
    atomic_add(idx / prm.splits, chunk_chain(idx));
}

// `atomic`, one thread per row: the cell stored (mean: times inv).
@compute @workgroup_size(WG)
fn row_cells(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = flat_index(gid);
    if (r >= prm.rows) {
        return;
    }
    let s = cell_value(r);
//#if OP_MEAN
    outv[r] = to_out(mulc(s, rowbuf[0]));
//#else
    outv[r] = to_out(s);
//#endif
}
//#endif

// One thread per (row, chunk): the chunk's chain from +0.
@compute @workgroup_size(WG)
fn row_partial(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = flat_index(gid);
    if (idx >= prm.rows * prm.splits) {
        return;
    }
    partials[idx] = chunk_chain(idx);
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
