// detbench copy kernel: the bandwidth baseline reports divide throughput by. Compiled by
// NVRTC without any CUDA header.
//
// Each thread moves one 16-byte word per step: an aligned struct of four u32, which the
// compiler loads and stores with single 128-bit instructions (LDG.E.128 / STG.E.128), the
// widest global access there is. Grid-stride loop: thread t copies words t, t + T, ...
// (T = all threads), so a warp touches 512 consecutive bytes per step (coalesced) and any
// buffer fits in one launch. The host pads both buffers to whole words and allocates them
// with cuMemAlloc, whose 256-byte alignment the 16-byte accesses need.
//
// Entry point `copy_u32x4`. The host prepends common.cuh (the db_u* types).

struct alignas(16) DbU32x4 {
    db_u32 e[4];
};

extern "C" __global__ void copy_u32x4(const DbU32x4* __restrict__ src,
                                      DbU32x4* __restrict__ dst, db_u64 words) {
    const db_u64 stride = (db_u64)gridDim.x * blockDim.x;
    for (db_u64 i = (db_u64)blockIdx.x * blockDim.x + threadIdx.x; i < words; i += stride) {
        dst[i] = src[i];
    }
}
