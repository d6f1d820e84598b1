// detbench scatter-add kernels (out[idx[i]] += x[i]) for wgpu.
//
// A template, specialised by src/ops/scatter/wgpu.rs like reduce.wgsl: the host prepends
// `alias C` (compute type: f64 when the input or the accumulator is f64), `alias A` (the
// binned-state type), `alias XW` (storage word of x), `const WG`, `const PB` (bins, for
// the privatized copy in workgroup memory), the sort's `SORT_WG`, `SORT_ITEMS` and
// `RADIX_BITS`, and keeps the `//#if` blocks of the job's flags: IN_* / ACC_* / ACC_HALF / C64 as in reduce.wgsl, one variant
// flag V_ATOMIC V_CAS V_PRIV V_SORT V_FIXED V_REPRO, CAS_CELL / CAS64 (compare-exchange
// words of u32 or u64), NATIVE_ATOMIC (privatized merging with atomicAdd on f32).
// The value loading, half rounding, fixed-point quantizer, `opaque` and the accumulator's
// add are common.wgsl's, so each add rounds exactly like `Arith` in src/shared/arith.rs. The sort-based kernels follow
// src/ops/scatter/mod.rs step for step, so their bits equal the CPU's.

struct Params {
    n: u32,
    bins: u32,
    threads: u32,
    chunk: u32,
    chunks: u32,
    // Radix pass: bit shift of the digit, and 1 on the first pass (perm = identity).
    shift: u32,
    first: u32,
    tiles: u32,
    fixed_k: i32,
    // Always 0; see common.wgsl's `opaque`.
    zero: u32,
    // Entries the scan kernel scans.
    scan_len: u32,
    folds: i32,
    a0: i32,
    a1: i32,
    a2: i32,
    // Radix pass: 1 on the last pass (values are written in sorted order).
    last: u32,
    // reproducible: consecutive elements one thread walks.
    span: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;

@group(0) @binding(1) var<storage, read> xs: array<XW>;

// ---------------------------------------------------------------------------------------
// Loading: every input value is exact in C (decode and word_index are common.wgsl's).


fn load_x(i: u32) -> C {
    return decode(xs[word_index(i)], i);
}

// ---------------------------------------------------------------------------------------
// Accumulator arithmetic: a scatter only adds, so it takes common.wgsl's `add` and `sub`
// (ACC_ADD; with TWO_SUM32 for the round-to-odd of a half accumulator) and defines no product.

// ---------------------------------------------------------------------------------------
// Indices, validated on the host: every one is < prm.bins.

@group(0) @binding(2) var<storage, read> idx: array<u32>;

// ---------------------------------------------------------------------------------------
// atomic: one native float atomicAdd per element (SHADER_FLOAT32_ATOMIC, f32 accumulator).

//#if V_ATOMIC
@group(0) @binding(3) var<storage, read_write> fbins: array<atomic<f32>>;

@compute @workgroup_size(WG)
fn scatter_atomic(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        atomicAdd(&fbins[idx[i]], f32(load_x(i)));
    }
}
//#endif

// Compare-exchange on a bin's word: u32 words hold an f32 (halves as the f32 of equal
// value), u64 words an f64. A failed exchange means another thread's succeeded, so the loop
// progresses; MAX_TRIES keeps a pathological scheduler from hanging the device.
//#if CAS_CELL
//#if CAS64
alias WORD = u64;
fn to_word(v: C) -> u64 {
    return bitcast<u64>(f64(v));
}
fn from_word(w: u64) -> C {
    return C(bitcast<f64>(w));
}
//#else
alias WORD = u32;
fn to_word(v: C) -> u32 {
    return bitcast<u32>(f32(v));
}
fn from_word(w: u32) -> C {
    return C(bitcast<f32>(w));
}
//#endif
@group(0) @binding(3) var<storage, read_write> cbins: array<atomic<WORD>>;
@group(0) @binding(4) var<storage, read_write> gave_up: atomic<u32>;

fn cas_add(b: u32, v: C) {
    var old = atomicLoad(&cbins[b]);
    for (var k = 0u; k < MAX_TRIES; k++) {
        let r = atomicCompareExchangeWeak(&cbins[b], old, to_word(add(from_word(old), v)));
        if (r.exchanged) {
            return;
        }
        old = r.old_value;
    }
    atomicAdd(&gave_up, 1u);
}
//#endif

//#if V_CAS
@compute @workgroup_size(WG)
fn scatter_atomic_cas(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        cas_add(idx[i], load_x(i));
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// privatized: a private copy of all PB bins per workgroup in workgroup memory, updated by
// compare-exchange on u32 (or u64) words, then each non-empty private bin is added into
// the global bins: atomicAdd on f32 (NATIVE_ATOMIC) or the global compare-exchange.

//#if V_PRIV
//#if CAS64
alias PWORD = u64;
fn p_to_word(v: C) -> u64 {
    return bitcast<u64>(f64(v));
}
fn p_from_word(w: u64) -> C {
    return C(bitcast<f64>(w));
}
//#else
alias PWORD = u32;
fn p_to_word(v: C) -> u32 {
    return bitcast<u32>(f32(v));
}
fn p_from_word(w: u32) -> C {
    return C(bitcast<f32>(w));
}
//#endif
var<workgroup> pbins: array<atomic<PWORD>, PB>;
//#if NATIVE_ATOMIC
@group(0) @binding(3) var<storage, read_write> fbins: array<atomic<f32>>;
//#endif

// Contention inside one workgroup is bounded by WG threads: no cap needed.
fn private_add(b: u32, v: C) {
    var old = atomicLoad(&pbins[b]);
    loop {
        let r = atomicCompareExchangeWeak(&pbins[b], old, p_to_word(add(p_from_word(old), v)));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}

@compute @workgroup_size(WG)
fn scatter_privatized(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(global_invocation_id) gid: vec3<u32>) {
    let l = lid.x;
    for (var b = l; b < PB; b += WG) {
        atomicStore(&pbins[b], PWORD(0));
    }
    workgroupBarrier();
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        private_add(idx[i], load_x(i));
    }
    workgroupBarrier();
    for (var b = l; b < PB; b += WG) {
        let w = atomicLoad(&pbins[b]);
        // +0.0 (all bits zero) adds nothing to a bin that starts at +0.0.
        if (w != PWORD(0)) {
//#if NATIVE_ATOMIC
            atomicAdd(&fbins[b], f32(p_from_word(w)));
//#else
            cas_add(b, p_from_word(w));
//#endif
        }
    }
}
//#endif

// ---------------------------------------------------------------------------------------
// fixed_point: every value scaled by 2^k, rounded to an integer (ties to even) and added
// into its bin with a 64-bit integer atomic (wrapping, like the CPU's i64::wrapping_add).
// Integer addition is associative, so the order the atomics land in cannot matter.

//#if V_FIXED
@group(0) @binding(3) var<storage, read_write> fx: array<atomic<u64>>;
@group(0) @binding(4) var<storage, read_write> fx_lost: atomic<u32>;

// Quant and quantize (the value first rounded to the accumulator: f32 or f64 here, halves
// are exact in f32) are common.wgsl's.

@compute @workgroup_size(WG)
fn scatter_fixed_point(@builtin(global_invocation_id) gid: vec3<u32>) {
    var lost = 0u;
    for (var i = gid.x; i < prm.n; i += prm.threads) {
        let qt = quantize(add(C(0.0), load_x(i)), prm.fixed_k);
        atomicAdd(&fx[idx[i]], qt.q);
        lost = lost + select(0u, 1u, qt.lost);
    }
    if (lost != 0u) {
        atomicAdd(&fx_lost, lost);
    }
}
//#endif

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

//#if SORT64
// The packed sort (SORT64: a CPU adapter with SHADER_INT64; see src/ops/scatter/wgpu.rs).
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
//#else
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

// ---------------------------------------------------------------------------------------
// reproducible: binned summation (src/numerics/repro.rs) without any sort. Every bin has
// its own layout, fixed on the host by the largest |x| in the bin (blay: one word per bin,
// a_0 << 8 | folds; a_k = a_0 - k W as in repro.rs). With the bin's layout fixed, depositing x into fold k adds
// q_k = x's remainder rounded to a multiple of the fold's quantum u_k, and q_k depends on
// the remainder alone (the primary only fixes the grid, and `r | 1` rules out ties). So
// each fold's value is u_k * sum(q_k / u_k): a sum of integers (|q_k / u_k| <= 2^(p-12)),
// exact and order-free.
// Each thread sums the integers of a run of equal bins within its span of SPAN
// consecutive elements exactly in A (at most 2^11 of them: |sum| < 2^p), then adds them
// into the bin's integer lanes: LIMBS u32 words per (bin, fold), little-endian two's
// complement, updated by integer atomics with the carries propagated by the adder (the
// final words equal the exact total whatever the order). REPRO_PRIV: lanes of all bins in
// workgroup memory, added into the global lanes once per workgroup; otherwise straight
// into the global lanes. The host turns the lanes into binned states and finalises them
// with the shared code.

//#if V_REPRO
@group(0) @binding(3) var<storage, read_write> lanes: array<atomic<u32>>;
@group(0) @binding(17) var<storage, read> blay: array<u32>;

//#if ACC_F64
const P_BITS: i32 = 53;
const FOLD_W: i32 = 42;
fn or1(r: f64) -> f64 {
    return bitcast<f64>(bitcast<u64>(r) | u64(1));
}
fn pow2(e: i32) -> f64 {
    return bitcast<f64>(u64(e + 1023) << 52u);
}
fn sigma_of(a: i32) -> f64 {
    return bitcast<f64>((u64(a + 1023) << 52u) | (u64(1) << 51u));
}
// An integer |m| < 2^53 as three limbs.
fn to_limbs(m: f64) -> vec3<u32> {
    let hi = floor(m * pow2(-32));
    let lo = m - hi * pow2(32);
    let h = i32(hi);
    return vec3<u32>(u32(lo), bitcast<u32>(h), select(0u, 0xffffffffu, h < 0));
}
//#else
const P_BITS: i32 = 24;
const FOLD_W: i32 = 13;
fn or1(r: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(r) | 1u);
}
fn pow2(e: i32) -> f32 {
    return bitcast<f32>(u32(e + 127) << 23u);
}
fn sigma_of(a: i32) -> f32 {
    return bitcast<f32>((u32(a + 127) << 23u) | 0x400000u);
}
// An integer |m| < 2^24 as two limbs.
fn to_limbs(m: f32) -> vec3<u32> {
    let i = i32(m);
    return vec3<u32>(bitcast<u32>(i), select(0u, 0xffffffffu, i < 0), 0u);
}
//#endif

// The layout of bin b: (folds, a_0).
fn bin_layout(b: u32) -> vec2<i32> {
    let w = blay[b];
    return vec2<i32>(i32(w & 255u), bitcast<i32>(w) >> 8u);
}

// One fold's quanta count q_k / u_k of the remainder r (then taken out of r), as
// repro.rs's deposit computes q_k: with the primary at its starting value 1.5 * 2^a,
// which gives the same q_k as any other primary of the binade.
fn fold_slice(r: ptr<function, A>, a: i32) -> A {
    let sig = sigma_of(a);
    // The select keeps the driver from folding (sig + r) - sig into r.
    let s = select(sig + or1(*r), A(0.0), prm.zero != 0u);
    let q = s - sig;
    *r = *r - q;
    return q * pow2(P_BITS - 1 - a);
}

// The quanta counts of one term in its bin's layout `lay` (folds >= 1), unrolled: no
// fold index to look up at run time.
fn slices(x: A, lay: vec2<i32>) -> vec3<A> {
    var m = vec3<A>(A(0.0));
    var r = x;
    m.x = fold_slice(&r, lay.y);
    if (lay.x > 1) {
        m.y = fold_slice(&r, lay.y - FOLD_W);
    }
    if (lay.x > 2) {
        m.z = fold_slice(&r, lay.y - 2 * FOLD_W);
    }
    return m;
}

// Adds a value (limbs v) into the lanes at `base`; the carry out of each limb is whether
// the atomic add wrapped, so the words end at the exact total mod 2^(32 LIMBS).
fn lanes_add(base: u32, v: vec3<u32>) {
    let o0 = atomicAdd(&lanes[base], v.x);
    let c0 = select(0u, 1u, o0 + v.x < o0);
    let t1 = v.y + c0;
    var c1 = select(0u, 1u, t1 < v.y);
    if (t1 != 0u) {
        let o1 = atomicAdd(&lanes[base + 1u], t1);
        c1 += select(0u, 1u, o1 + t1 < o1);
    }
    if (LIMBS == 3u) {
        let t2 = v.z + c1;
        if (t2 != 0u) {
            atomicAdd(&lanes[base + 2u], t2);
        }
    }
}

//#if REPRO_PRIV
var<workgroup> plane: array<atomic<u32>, RW>;
//#if PLANE32
// An f32 term's count in a fold is at most 2^12 in magnitude and the host sets PLANE32 only
// when a workgroup sees fewer than 2^19 terms, so every (bin, fold) total of a workgroup
// stays below 2^31 in magnitude: one wrapping word (two's complement) holds it exactly, and one
// atomic per fold replaces the limbs and their carries.
fn plane_add32(lane: u32, count: A) {
    atomicAdd(&plane[lane], bitcast<u32>(i32(count)));
}
//#if PAIR64
// With 64-bit atomics (flag PAIR64), folds 0 and 1 of a bin share one u64 word: adding
// c1 2^32 + c0 (as a wrapping two's-complement word) keeps the exact integer sum(c1) 2^32 +
// sum(c0), and as both sums stay below 2^31 in magnitude, sum(c0) is the word's low half
// sign-extended and sum(c1) the rest (pair_counts). One atomic instead of two per term;
// `plane` then holds fold 2 alone, one word per bin.
var<workgroup> pair: array<atomic<u64>, PAIRS>;

fn pair_add(b: u32, c0: A, c1: A) {
    let w = (u64(i64(i32(c1))) << 32u) + u64(i64(i32(c0)));
    atomicAdd(&pair[b], w);
}

// Fold k (0 or 1) of bin b's pair word, as an i32 word.
fn pair_count(b: u32, k: u32) -> u32 {
    let t = i64(atomicLoad(&pair[b]));
    let lo = i64(bitcast<i32>(u32(u64(t) & u64(0xffffffffu))));
    return select(u32(u64(lo) & u64(0xffffffffu)), u32(u64((t - lo) >> 32u) & u64(0xffffffffu)), k == 1u);
}
//#endif
//#else
fn plane_add(base: u32, v: vec3<u32>) {
    let o0 = atomicAdd(&plane[base], v.x);
    let c0 = select(0u, 1u, o0 + v.x < o0);
    let t1 = v.y + c0;
    var c1 = select(0u, 1u, t1 < v.y);
    if (t1 != 0u) {
        let o1 = atomicAdd(&plane[base + 1u], t1);
        c1 += select(0u, 1u, o1 + t1 < o1);
    }
    if (LIMBS == 3u) {
        let t2 = v.z + c1;
        if (t2 != 0u) {
            atomicAdd(&plane[base + 2u], t2);
        }
    }
}
//#endif
//#endif

fn flush(b: u32, sums: vec3<A>, folds: i32) {
//#if PAIR64
    // slices() leaves the folds past `folds` at 0.
    if (sums.x != A(0.0) || sums.y != A(0.0)) {
        pair_add(b, sums.x, sums.y);
    }
    if (sums.z != A(0.0)) {
        plane_add32(b, sums.z);
    }
    return;
//#endif
    for (var k = 0u; k < 3u; k++) {
        if (i32(k) < folds && sums[k] != A(0.0)) {
//#if REPRO_PRIV
//#if PLANE32
            plane_add32(b * 3u + k, sums[k]);
//#else
            plane_add((b * 3u + k) * LIMBS, to_limbs(sums[k]));
//#endif
//#else
            lanes_add((b * 3u + k) * LIMBS, to_limbs(sums[k]));
//#endif
        }
    }
}

@compute @workgroup_size(WG)
fn scatter_reproducible(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(global_invocation_id) gid: vec3<u32>) {
//#if REPRO_PRIV
    for (var w = lid.x; w < RW; w += WG) {
        atomicStore(&plane[w], 0u);
    }
//#if PAIR64
    for (var w = lid.x; w < PAIRS; w += WG) {
        atomicStore(&pair[w], u64(0));
    }
//#endif
    workgroupBarrier();
//#endif
    let spans = (prm.n + prm.span - 1u) / prm.span;
    for (var sp = gid.x; sp < spans; sp += prm.threads) {
        let lo = sp * prm.span;
        let hi = min(prm.n, lo + prm.span);
        var cur = idx[lo];
        var lay = bin_layout(cur);
        var sums = vec3<A>(A(0.0));
        for (var i = lo; i < hi; i++) {
            let b = idx[i];
            if (b != cur) {
                flush(cur, sums, lay.x);
                sums = vec3<A>(A(0.0));
                cur = b;
                lay = bin_layout(b);
            }
            sums += slices(A(load_x(i)), lay);
        }
        flush(cur, sums, lay.x);
    }
//#if REPRO_PRIV
    workgroupBarrier();
    for (var g = lid.x; g < prm.bins * 3u; g += WG) {
        let base = g * LIMBS;
//#if PLANE32
        // The word sign-extended to the limbs.
//#if PAIR64
        let pb = g / 3u;
        let w = select(atomicLoad(&plane[pb]), pair_count(pb, g % 3u), g % 3u < 2u);
//#else
        let w = atomicLoad(&plane[g]);
//#endif
        let ext = select(0u, 0xffffffffu, bitcast<i32>(w) < 0);
        let v = vec3<u32>(w, ext, ext);
//#else
        var v = vec3<u32>(atomicLoad(&plane[base]), atomicLoad(&plane[base + 1u]), 0u);
        if (LIMBS == 3u) {
            v.z = atomicLoad(&plane[base + 2u]);
        }
//#endif
        if (any(v != vec3<u32>(0u))) {
            lanes_add(base, v);
        }
    }
//#endif
}
//#endif
