// detbench copy kernel for wgpu: the bandwidth baseline reports divide throughput by.
//
// Specialised by src/ops/copy/wgpu.rs: a header sets `const WG` (threads per workgroup).
// Each thread moves one 16-byte vec4<u32> word per step, the widest load and store WGSL
// has, in a grid-stride loop: thread t copies words t, t + T, t + 2T, ... (T = all
// threads), so consecutive threads touch consecutive words (coalesced) and any buffer
// fits in one dispatch of at most 65535 workgroups.

struct Params {
    // 16-byte words to copy.
    words: u32,
    // Threads in the dispatch (workgroups * WG).
    threads: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(WG)
fn copy_vec4u32(@builtin(global_invocation_id) gid: vec3<u32>) {
    var i = gid.x;
    while (i < prm.words) {
        dst[i] = src[i];
        i += prm.threads;
    }
}
