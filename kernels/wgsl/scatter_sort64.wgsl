// detbench scatter kernels: sort_segmented's packed counting sort and segmented pass (SORT64:
// a CPU device with SHADER_INT64). Specialised with scatter.wgsl and scatter_sort.wgsl.
//#flags SORT64 V_SORT

//#if V_SORT
//#if SORT64
// The packed sort (SORT64: a CPU adapter with SHADER_INT64; see src/ops/scatter/wgpu/sort.rs).
// A CPU adapter such as lavapipe compiles every storage or workgroup access (and every
// dynamically indexed private array) as a loop over its SIMD lanes, one scalar access per
// lane per 32- or 64-bit component, while arithmetic runs on all lanes at once. So this
// path counts memory components, not bytes:
// - an element is one u64 word, (bin << 32) | the bits of its f32 value: the first pass
//   reads x in order and the value travels with its key, so no pass gathers x at random
//   (which costs a CPU far more than a sequential read) and seg_pass1_64 reads one
//   sequential stream. With f64 values the low half is the position in x instead, and the
//   last pass gathers the values beside the words;
// - the sort is a counting sort whose threads each own a range of elements and a counter
//   per digit (below): one load and one store of a counter per element and kernel, no
//   atomics, no workgroup memory, no barriers, and up to 1024 bins in one pass;
// - whether a kernel reads the indices and x (the first pass, or every kernel when no
//   pass runs) or the previous pass's words is the module constant IDENT (the host builds
//   both modules), not a uniform: both sides of a uniform branch would still run their
//   memory loops, masked.
// The result is the same stable sort, so the same sorted order and the same bits.
@group(0) @binding(18) var<storage, read> kp_in: array<u64>;
@group(0) @binding(19) var<storage, read_write> kp_out: array<u64>;
// Sorted values: with f64 values, or when one pass sorts by the whole index (solo).
@group(0) @binding(15) var<storage, read_write> vals: array<C>;

fn pack(key: u32, src: u32) -> u64 {
    return (u64(key) << 32u) | u64(src);
}
fn key_of(w: u64) -> u32 {
    return u32(w >> 32u);
}
fn src_of(w: u64) -> u32 {
    return u32(w & u64(0xffffffffu));
}

// The low half of element i's first word: its value's bits (f32) or its position (f64).
fn payload(i: u32) -> u32 {
//#if C64
    return i;
//#else
    return bitcast<u32>(load_x(i));
//#endif
}

// Element i of the kernel's input: from the indices and x when IDENT, else the previous
// pass's output.
fn elem(i: u32) -> u64 {
    if (IDENT) {
        return pack(idx[i], payload(i));
    }
    return kp_in[i];
}

// Element i's key alone (what the counts and the binary searches read).
fn key_at(i: u32) -> u32 {
    if (IDENT) {
        return idx[i];
    }
    return key_of(kp_in[i]);
}

// Element w to output position pos; with f64 values the last pass (prm.last: a uniform,
// as f64 is not what this path is shaped for) also gathers the value beside it.
fn put_elem(pos: u32, w: u64) {
    kp_out[pos] = w;
//#if C64
    if (prm.last == 1u) {
        vals[pos] = load_x(src_of(w));
    }
//#endif
}

// The value of sorted element i (word w).
fn value_at(i: u32, w: u64) -> C {
//#if C64
    if (IDENT) {
        return load_x(i);
    }
    return vals[i];
//#else
    return bitcast<f32>(src_of(w));
//#endif
}

// The sort itself: a stable counting sort by LANE_BITS-bit digits, one pass per digit
// that is not the same in every index (so up to 2^LANE_BITS bins sort in one pass). Each
// of prm.threads sorter threads owns prm.span consecutive elements and its own counter of
// every digit, column k of dcounts in digit-major order (dcounts[d * threads + k]):
//   lane_hist    thread k counts the digits of its elements: its counters are its own,
//                so no atomics and no barriers;
//   scan_*       the exclusive scan of dcounts in that order turns counter (d, k) into
//                the first output position of thread k's elements of digit d;
//   lane_place   thread k walks its elements again, in order, and puts each at its
//                digit's counter, then adds one to it.
// Threads own consecutive ranges and walk them in order, so every pass is stable and the
// sorted order is the one every other layout gives. Per element a pass reads the element
// twice, reads and writes its counter twice and writes its output once, whatever the bin
// count.
const LDIG: u32 = 1u << LANE_BITS;

fn lane_digit(key: u32) -> u32 {
    return (key >> prm.shift) & (LDIG - 1u);
}

// Thread k's elements [lo, hi).
fn lane_range(k: u32) -> vec2<u32> {
    let lo = min(prm.n, k * prm.span);
    return vec2<u32>(lo, min(prm.n, lo + prm.span));
}

fn hist_lane(k: u32) {
    if (k >= prm.threads) {
        return;
    }
    for (var d = 0u; d < LDIG; d++) {
        dcounts[d * prm.threads + k] = 0u;
    }
    let r = lane_range(k);
    for (var i = r.x; i < r.y; i++) {
        let c = lane_digit(key_at(i)) * prm.threads + k;
        dcounts[c] = dcounts[c] + 1u;
    }
}

@compute @workgroup_size(LANE_WG)
fn lane_hist(@builtin(global_invocation_id) gid: vec3<u32>) {
    hist_lane(gid.x);
}

fn place_lane(k: u32) {
    if (k >= prm.threads) {
        return;
    }
    let r = lane_range(k);
    for (var i = r.x; i < r.y; i++) {
        let w = elem(i);
        let c = lane_digit(key_of(w)) * prm.threads + k;
        let pos = dcounts[c];
        dcounts[c] = pos + 1u;
        put_elem(pos, w);
    }
}

@compute @workgroup_size(LANE_WG)
fn lane_place(@builtin(global_invocation_id) gid: vec3<u32>) {
    place_lane(gid.x);
}

// Solo: one pass whose digit is the whole index (at most 2^LANE_BITS bins). The sorted
// keys are then implied by the bins' offsets, so the pass stores the values alone (half
// the bytes its scattered stores touch), and the segmented pass reads them alone.
fn place_solo_lane(k: u32) {
    if (k >= prm.threads) {
        return;
    }
    let r = lane_range(k);
    for (var i = r.x; i < r.y; i++) {
        let c = lane_digit(idx[i]) * prm.threads + k;
        let pos = dcounts[c];
        dcounts[c] = pos + 1u;
        vals[pos] = load_x(i);
    }
}

@compute @workgroup_size(LANE_WG)
fn lane_place_solo(@builtin(global_invocation_id) gid: vec3<u32>) {
    place_solo_lane(gid.x);
}

// Solo, between the scan and lane_place_solo: offs[b] is the scanned counter of bin b
// of thread 0 (the first position of bin b), offs[bins] = n.
@compute @workgroup_size(SORT_WG)
fn bin_offsets_solo(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    for (var b = gid.x; b <= prm.bins; b += nwg.x * SORT_WG) {
        if (b < prm.bins) {
            offs[b] = dcounts[b * prm.threads];
        } else {
            offs[b] = prm.n;
        }
    }
}

// A piece of chunk c: the run that starts the chunk goes to head, any other is the first
// piece of its bin.
fn put_piece(c: u32, starts_chunk: bool, bin: u32, acc: C) {
    if (starts_chunk) {
        head[c] = acc;
    } else {
        firsts[bin] = acc;
    }
}

// No pass: every index is the same (no digit varies), so every offset is 0 or n.
@compute @workgroup_size(SORT_WG)
fn bin_offsets_const(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = idx[0];
    for (var b = gid.x; b <= prm.bins; b += nwg.x * SORT_WG) {
        offs[b] = select(prm.n, 0u, b <= k);
    }
}

// The sorted value at i: x itself when no pass ran (IDENT), else what the pass placed.
fn solo_value(i: u32) -> C {
    if (IDENT) {
        return load_x(i);
    }
    return vals[i];
}

// Solo seg_pass1 (and with no pass at all, in the IDENT module): the same pieces added
// in the same order, the runs of equal keys read from the offsets (bin b's run is
// [offs[b], offs[b + 1])).
fn pass1_solo(c: u32) {
    if (c >= prm.chunks) {
        return;
    }
    let lo = c * prm.chunk;
    let hi = min(prm.n, lo + prm.chunk);
    // The bin holding position lo: the first b with offs[b + 1] > lo.
    var a = 0u;
    var z = prm.bins;
    while (a < z) {
        let m = a + (z - a) / 2u;
        if (offs[m + 1u] <= lo) {
            a = m + 1u;
        } else {
            z = m;
        }
    }
    var b = a;
    var i = lo;
    loop {
        let end = min(hi, offs[b + 1u]);
        let start = i;
        var acc = C(0.0);
        for (; i < end; i++) {
            acc = add(acc, solo_value(i));
        }
        put_piece(c, start == lo, b, acc);
        if (i >= hi) {
            break;
        }
        // The next bin with elements: the first after b whose run ends past i.
        b++;
        while (offs[b + 1u] <= i) {
            b++;
        }
    }
}

@compute @workgroup_size(WG)
fn seg_pass1_solo(@builtin(global_invocation_id) gid: vec3<u32>) {
    pass1_solo(gid.x);
}

// offs[b] = number of sorted keys below b (as bin_offsets).
fn offsets_of(first: u32, stride: u32) {
    for (var b = first; b <= prm.bins; b += stride) {
        var lo = 0u;
        var hi = prm.n;
        while (lo < hi) {
            let mid = lo + (hi - lo) / 2u;
            if (key_at(mid) < b) {
                lo = mid + 1u;
            } else {
                hi = mid;
            }
        }
        offs[b] = lo;
    }
}

@compute @workgroup_size(SORT_WG)
fn bin_offsets64(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    offsets_of(gid.x, nwg.x * SORT_WG);
}

// seg_pass1 (the same pieces, added in the same order) over the packed sorted elements:
// one sequential load per element (f32), where seg_pass1 reads the key twice and the
// value once.
fn pass1_chunk(c: u32) {
    if (c >= prm.chunks) {
        return;
    }
    let lo = c * prm.chunk;
    let hi = min(prm.n, lo + prm.chunk);
    var i = lo;
    var w = elem(lo);
    loop {
        let key = key_of(w);
        let start = i;
        var acc = C(0.0);
        loop {
            acc = add(acc, value_at(i, w));
            i++;
            if (i >= hi) {
                break;
            }
            w = elem(i);
            if (key_of(w) != key) {
                break;
            }
        }
        put_piece(c, start == lo, key, acc);
        if (i >= hi) {
            break;
        }
    }
}

@compute @workgroup_size(WG)
fn seg_pass1_64(@builtin(global_invocation_id) gid: vec3<u32>) {
    pass1_chunk(gid.x);
}
//#endif
//#endif
