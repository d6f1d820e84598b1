// detbench scatter kernels: sort_segmented's LSD radix sort over tiles and segmented pass
// (the GPU layout, without SORT64). Specialised with scatter.wgsl and scatter_sort.wgsl.
//#flags SORT64 V_SORT

//#if V_SORT
//#if !SORT64
// A thread's DIGITS digit counts, 8 bits each (SORT_ITEMS < 256), four to a word: kept in
// registers (on lavapipe, cheaper than a column of workgroup memory per thread).
const CWORDS: u32 = DIGITS / 4u;
fn count_get(c: ptr<function, array<u32, CWORDS>>, d: u32) -> u32 {
    return ((*c)[d >> 2u] >> ((d & 3u) * 8u)) & 255u;
}
fn count_inc(c: ptr<function, array<u32, CWORDS>>, d: u32) {
    (*c)[d >> 2u] = (*c)[d >> 2u] + (1u << ((d & 3u) * 8u));
}

var<workgroup> thist: array<atomic<u32>, DIGITS>;

// The tile's digit counts need no order, so the threads read it coalesced.
@compute @workgroup_size(SORT_WG)
fn radix_count(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    let t = wid.x;
    for (var d = l; d < DIGITS; d += SORT_WG) {
        atomicStore(&thist[d], 0u);
    }
    workgroupBarrier();
    let lo = t * SORT_TILE;
    let hi = lo + min(prm.n - lo, SORT_TILE);
    for (var i = lo + l; i < hi; i += SORT_WG) {
        atomicAdd(&thist[digit_of(keys_in[i])], 1u);
    }
    workgroupBarrier();
    for (var d = l; d < DIGITS; d += SORT_WG) {
        dcounts[d * prm.tiles + t] = atomicLoad(&thist[d]);
    }
}

@compute @workgroup_size(SORT_WG)
fn radix_scatter(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let l = lid.x;
    let t = wid.x;
    let lo = t * SORT_TILE + l * SORT_ITEMS;
    var c: array<u32, CWORDS>;
    for (var j = 0u; j < SORT_ITEMS; j++) {
        if (lo + j < prm.n) {
            count_inc(&c, digit_of(keys_in[lo + j]));
        }
    }
    for (var r = 0u; r < HROWS; r++) {
        tmat[r * SORT_WG + l] = count_get(&c, r) | (count_get(&c, r + HROWS) << 16u);
    }
    workgroupBarrier();
    // Exclusive scan of tmat in flat order: thread l owns words [HROWS l, HROWS (l + 1)).
    var s = 0u;
    for (var j = 0u; j < HROWS; j++) {
        s += tmat[l * HROWS + j];
    }
    var run = wg_scan(l, s).x;
    for (var j = 0u; j < HROWS; j++) {
        let v = tmat[l * HROWS + j];
        tmat[l * HROWS + j] = run;
        run += v;
    }
    workgroupBarrier();
    for (var d = l; d < DIGITS; d += SORT_WG) {
        // Global start of the tile's digit-d elements, less the digit's start in the scan.
        tbase[d] = dcounts[d * prm.tiles + t] - half_of(tmat[(d % HROWS) * SORT_WG], d);
    }
    workgroupBarrier();
    var seen: array<u32, CWORDS>;
    for (var j = 0u; j < SORT_ITEMS; j++) {
        let i = lo + j;
        if (i < prm.n) {
            let key = keys_in[i];
            let d = digit_of(key);
            let pos = tbase[d] + half_of(tmat[(d % HROWS) * SORT_WG + l], d) + count_get(&seen, d);
            count_inc(&seen, d);
            keys_out[pos] = key;
            let src = select(perm_in[i], i, prm.first == 1u);
            if (prm.last == 1u) {
                vals[pos] = load_x(src);
            } else {
                perm_out[pos] = src;
            }
        }
    }
}

// No radix pass (one bin): the sorted order is the identity.
@compute @workgroup_size(SORT_WG)
fn copy_values(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var i = gid.x; i < prm.n; i += nwg.x * SORT_WG) {
        vals[i] = load_x(i);
    }
}

// offs[b] = number of sorted keys below b (a binary search per bin: no thread walks a
// long gap between keys, and every slot has exactly one writer).
@compute @workgroup_size(SORT_WG)
fn bin_offsets(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var b = gid.x; b <= prm.bins; b += nwg.x * SORT_WG) {
        var lo = 0u;
        var hi = prm.n;
        while (lo < hi) {
            let mid = lo + (hi - lo) / 2u;
            if (keys_in[mid] < b) {
                lo = mid + 1u;
            } else {
                hi = mid;
            }
        }
        offs[b] = lo;
    }
}

// ---------------------------------------------------------------------------------------
// sort_segmented: the segmented reduction of src/ops/scatter/mod.rs over the sorted keys
// (binding 7) and values (binding 15); offsets (binding 5) has bins + 1 entries.

@compute @workgroup_size(WG)
fn seg_pass1(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= prm.chunks) {
        return;
    }
    let lo = c * prm.chunk;
    let hi = min(prm.n, lo + prm.chunk);
    var i = lo;
    while (i < hi) {
        let key = keys_in[i];
        let start = i;
        var acc = C(0.0);
        while (i < hi && keys_in[i] == key) {
            acc = add(acc, vals[i]);
            i++;
        }
        if (start == lo) {
            head[c] = acc;
        } else {
            firsts[key] = acc;
        }
    }
}
//#endif
//#endif
