// detbench scatter kernels: the stable sort of sort_segmented (the scans and digits both
// layouts share) and the segmented reduction's last pass. Specialised with scatter.wgsl by
// src/ops/scatter/wgpu/mod.rs; the packed counting sort is scatter_sort64.wgsl, the radix sort
// scatter_radix.wgsl.
//#flags SORT64 V_SORT

// ---------------------------------------------------------------------------------------
// The stable sort by bin (sort_segmented): an LSD radix sort with RADIX_BITS-bit digits
// (DIGITS of them) over tiles of SORT_TILE elements; the host runs one pass per digit
// that is not the same in every index.
//   radix_count    per tile, the count of every digit (workgroup atomics: integer adds,
//                  whose order cannot matter), written digit-major:
//                  dcounts[d * tiles + tile] (so one scan of dcounts gives every tile the
//                  start of its elements of digit d in the pass's output)
//   scan_reduce    the device-wide exclusive scan of scan_buf[0..scan_len) in three
//   scan_exclusive kernels: per-block sums, one workgroup scanning the block sums, and
//   scan_apply     per-block scans offset by their block's prefix
//   radix_scatter  SORT_WG threads, each owning SORT_ITEMS consecutive elements of the
//                  tile: each element goes to its digit's start for the tile plus its rank
//                  among the tile's earlier elements of that digit. The rank is the
//                  thread's own running count plus, from a workgroup scan of the
//                  per-thread digit counts (digit-major), the count in earlier threads: no
//                  element ever loops over the workgroup. So the pass is stable; the last
//                  pass writes the values in sorted order instead of the element positions.
//   bin_offsets    offsets[b] = first sorted position of bin b, by a binary search of the
//                  sorted keys (every slot has exactly one writer: no atomics).
// The sorted order is unique (stable), so neither the tile shape, the digit width nor the
// job's workgroup size can change it.

//#if V_SORT
@group(0) @binding(5) var<storage, read_write> offs: array<u32>;
@group(0) @binding(6) var<storage, read_write> scan_buf: array<u32>;
@group(0) @binding(8) var<storage, read_write> dcounts: array<u32>;
@group(0) @binding(16) var<storage, read_write> partials: array<u32>;
@group(0) @binding(12) var<storage, read_write> head: array<C>;
@group(0) @binding(13) var<storage, read_write> firsts: array<C>;
@group(0) @binding(14) var<storage, read_write> outv: array<C>;
//#if !SORT64
@group(0) @binding(7) var<storage, read> keys_in: array<u32>;
@group(0) @binding(9) var<storage, read> perm_in: array<u32>;
@group(0) @binding(10) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(11) var<storage, read_write> perm_out: array<u32>;
@group(0) @binding(15) var<storage, read_write> vals: array<C>;
//#endif


const SORT_TILE: u32 = SORT_WG * SORT_ITEMS;
// Entries of scan_buf one workgroup scans in scan_reduce / scan_apply.
const SCAN_BLOCK: u32 = SORT_WG * SORT_ITEMS;
const DIGITS: u32 = 1u << RADIX_BITS;

var<workgroup> wscan: array<u32, SORT_WG>;

// Exclusive prefix sum of v over the workgroup's threads (Hillis-Steele); every thread
// must call it (it holds barriers). Returns (exclusive prefix, workgroup total).
fn wg_scan(l: u32, v: u32) -> vec2<u32> {
    wscan[l] = v;
    workgroupBarrier();
    for (var off = 1u; off < SORT_WG; off = off << 1u) {
        var add = 0u;
        if (l >= off) {
            add = wscan[l - off];
        }
        workgroupBarrier();
        wscan[l] = wscan[l] + add;
        workgroupBarrier();
    }
    let incl = wscan[l];
    let total = wscan[SORT_WG - 1u];
    workgroupBarrier();
    return vec2<u32>(incl - v, total);
}

@compute @workgroup_size(SORT_WG)
fn scan_reduce(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    let lo = wid.x * SCAN_BLOCK + l * SORT_ITEMS;
    var s = 0u;
    for (var j = 0u; j < SORT_ITEMS; j++) {
        if (lo + j < prm.scan_len) {
            s += scan_buf[lo + j];
        }
    }
    let r = wg_scan(l, s);
    if (l == 0u) {
        partials[wid.x] = r.y;
    }
}

@compute @workgroup_size(SORT_WG)
fn scan_apply(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    let lo = wid.x * SCAN_BLOCK + l * SORT_ITEMS;
    var s = 0u;
    for (var j = 0u; j < SORT_ITEMS; j++) {
        if (lo + j < prm.scan_len) {
            s += scan_buf[lo + j];
        }
    }
    var run = partials[wid.x] + wg_scan(l, s).x;
    for (var j = 0u; j < SORT_ITEMS; j++) {
        if (lo + j < prm.scan_len) {
            let v = scan_buf[lo + j];
            scan_buf[lo + j] = run;
            run += v;
        }
    }
}

// One workgroup: exclusive prefix sum of partials[0..scan_len) in place (the block sums:
// at most a few thousand).
@compute @workgroup_size(SORT_WG)
fn scan_exclusive(@builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    let per = (prm.scan_len + SORT_WG - 1u) / SORT_WG;
    let lo = min(prm.scan_len, l * per);
    let hi = min(prm.scan_len, lo + per);
    var s = 0u;
    for (var i = lo; i < hi; i++) {
        s += partials[i];
    }
    var run = wg_scan(l, s).x;
    for (var i = lo; i < hi; i++) {
        let v = partials[i];
        partials[i] = run;
        run += v;
    }
}

fn digit_of(key: u32) -> u32 {
    return (key >> prm.shift) & (DIGITS - 1u);
}

// Per-thread digit counts, digit-major: word r * SORT_WG + thread holds digit r in its low
// half and digit r + HROWS in its high half. After the scan every half holds the count of
// its digit's elements in earlier threads (plus earlier digits of the same half,
// subtracted again through tbase), and no half can carry into the other: a tile holds
// < 2^16 elements.
const HROWS: u32 = DIGITS / 2u;
const TMAT: u32 = HROWS * SORT_WG;
var<workgroup> tmat: array<u32, TMAT>;
var<workgroup> tbase: array<u32, DIGITS>;

fn half_of(w: u32, d: u32) -> u32 {
    return select(w & 0xffffu, w >> 16u, d >= HROWS);
}



@compute @workgroup_size(WG)
fn seg_pass2(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= prm.bins) {
        return;
    }
    let s = offs[b];
    let e = offs[b + 1u];
    if (s == e) {
        outv[b] = C(0.0);
        return;
    }
    var acc = firsts[b];
    if (s % prm.chunk == 0u) {
        acc = head[s / prm.chunk];
    }
    for (var c = s / prm.chunk + 1u; c * prm.chunk < e; c++) {
        acc = add(acc, head[c]);
    }
    outv[b] = acc;
}
//#endif
