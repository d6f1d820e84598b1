// detbench matmul kernels (C = A·B, A M x K and B K x N row-major), compiled by NVRTC
// without any CUDA header.
//
// One module per (input format, accumulator format) pair, specialised like conv.cu
// (src/ops/common.rs, cuda_pair_module; src/ops/matmul/cuda.rs adds the rest). The host
// defines:
//   DB_IN_T, DB_ACC_T, DB_SUFFIX   the formats and the entry-point suffix (common.cuh)
//   DB_GEMM      1: common.cuh's GEMM section (db_step, db_add, db_store, db_cell_add,
//                db_mma_k32), the arithmetic of src/shared/gemm.rs's GemmArith
//   DB_ORDERED_ATOMICS  1 on sm_70+: the split_k_atomic entry points, one per PTX ordering
//   DB_MMA       f16 | bf16, only for a half input with an f32 accumulator on sm_80+: the
//                tensor-core entry point
// Entry points: `mm_{kernel}[_{ordering}]_{in}_{acc}`, e.g. mm_tiled_f32_f32,
// mm_atomic_relaxed_gpu_f16_f32. The parameters (6 u32 in the order of `Params` in
// src/ops/matmul/wgpu.rs: M, N, K, chunk, splits, M·N) are read from a small device buffer.
//
// The orders are those of src/ops/matmul/mod.rs, and the tiles those of matmul.wgsl: every
// CUDA-core kernel computes 16 x 16 output tiles with 256 threads, one output each, and
// runs each output's chain k = kbeg, kbeg+1, ... through 16-deep shared-memory tiles;
// values past the matrices load as 0, which leaves a +0-started chain unchanged. So
// `tiled` (one chain over K), `split_k_deterministic` and `batch_invariant` (chunk
// partials, then added in chunk order from +0) give the CPU emulation's bits.
// `split_k_atomic` adds the chunk partials into zeroed cells with atomics: each cell takes
// exactly `splits` (at most 16, src/ops/matmul/mod.rs's MAX_SPLIT) adds, so contention is
// bounded by the split, not by the shape.
//
// The host prepends common.cuh; kernels/cuda/emu/module.cpp includes both files in the same
// order to run the kernels on the host (tests/cuda_emu_conv.rs, its matmul module).

#define MP_M 0
#define MP_N 1
#define MP_K 2
#define MP_CHUNK 3
#define MP_SPLITS 4
#define MP_OUT 5

// Output (row0 + threadIdx.x / 16, col0 + threadIdx.x % 16) over k in [kbeg, kend): one
// chain, k increasing. Threads along x take consecutive columns (coalesced B loads and C
// stores); the A tile is loaded with k fastest (rows of A are contiguous in k). Every thread
// of the block calls it (the barriers need it).
__device__ __forceinline__ DbV db_mm_chain(const db_u32* P, const DbS* A, const DbS* B, db_u32 row0,
                                           db_u32 col0, db_u32 kbeg, db_u32 kend) {
    // As[kk][row], Bs[kk][col]; the extra column keeps the transposed A store off one bank.
    __shared__ DbV As[16][17];
    __shared__ DbV Bs[16][17];
    const db_u32 M = P[MP_M], N = P[MP_N], K = P[MP_K];
    const db_u32 lx = threadIdx.x % 16u, ly = threadIdx.x / 16u;
    DbV acc = (DbV)0;
    for (db_u32 k0 = kbeg; k0 < kend; k0 += 16u) {
        const db_u32 ar = row0 + ly, ak = k0 + lx;
        As[lx][ly] = (ar < M && ak < kend) ? (DbV)db_load(A, ar * K + ak) : (DbV)0;
        const db_u32 bk = k0 + ly, bc = col0 + lx;
        Bs[ly][lx] = (bk < kend && bc < N) ? (DbV)db_load(B, bk * N + bc) : (DbV)0;
        __syncthreads();
#pragma unroll
        for (int t = 0; t < 16; t++) acc = db_step(acc, As[t][ly], Bs[t][lx]);
        __syncthreads();
    }
    return acc;
}

// Block (x, y, z): output tile (x, y) over chunk z (z = 0 and one chunk of K for tiled).
// The thread's output, if inside C: its flat index.
__device__ __forceinline__ bool db_mm_out(const db_u32* P, db_u32& e) {
    const db_u32 row = blockIdx.x * 16u + threadIdx.x / 16u, col = blockIdx.y * 16u + threadIdx.x % 16u;
    e = row * P[MP_N] + col;
    return row < P[MP_M] && col < P[MP_N];
}
__device__ __forceinline__ DbV db_mm_chunk(const db_u32* P, const DbS* A, const DbS* B) {
    const db_u32 kbeg = blockIdx.z * P[MP_CHUNK];
    const db_u32 kend = db_min(kbeg + P[MP_CHUNK], P[MP_K]);
    return db_mm_chain(P, A, B, blockIdx.x * 16u, blockIdx.y * 16u, kbeg, kend);
}

// tiled: one chain over all of K, stored in the output format.
extern "C" __global__ void __launch_bounds__(256) DB_ENTRY(mm_tiled_)(const db_u32* P, const DbS* A, const DbS* B, DbO* C) {
    const DbV acc = db_mm_chain(P, A, B, blockIdx.x * 16u, blockIdx.y * 16u, 0u, P[MP_K]);
    db_u32 e;
    if (db_mm_out(P, e)) C[e] = db_store(acc);
}

// split_k_deterministic, batch_invariant: chunk z's partial into layer z.
extern "C" __global__ void __launch_bounds__(256) DB_ENTRY(mm_partial_)(const db_u32* P, const DbS* A, const DbS* B, DbV* partials) {
    const DbV acc = db_mm_chunk(P, A, B);
    db_u32 e;
    if (db_mm_out(P, e)) partials[(db_u64)blockIdx.z * P[MP_OUT] + e] = acc;
}

// The layers added in chunk order 0, 1, 2, ... from +0.
extern "C" __global__ void DB_ENTRY(mm_reduce_)(const db_u32* P, const DbV* partials, DbO* C) {
    db_split_finish(partials, P[MP_SPLITS], P[MP_OUT], C);
}

// Atomically accumulated cells stored in the output format.
extern "C" __global__ void DB_ENTRY(mm_finish_)(const db_u32* P, const DbV* cells, DbO* C) {
    db_cells_finish(cells, P[MP_OUT], C);
}

#if DB_ORDERED_ATOMICS
// split_k_atomic: chunk z's partial added into the zeroed cell under the PTX ordering of
// the entry point (common.cuh's db_cell_add: native atom.add for f32/f64, a
// compare-and-swap loop rounding to the half format for f16/bf16).
#define DB_MM_ATOMIC_ENTRY(ORD, NAME)                                                          \
    extern "C" __global__ void __launch_bounds__(256)                                          \
        DB_ENTRY(mm_atomic_##NAME##_)(const db_u32* P, const DbS* A, const DbS* B, DbV* cells) { \
        const DbV acc = db_mm_chunk(P, A, B);                                                  \
        db_u32 e;                                                                              \
        if (db_mm_out(P, e)) db_cell_add<ORD>(cells + e, acc);                                  \
    }

DB_EACH_ORDERING(DB_MM_ATOMIC_ENTRY)
#endif  // DB_ORDERED_ATOMICS

// ---------------------------------------------------------------------------------------
// tensor_core: mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32 (sm_80+),
// f16/bf16 inputs, f32 accumulator. Block tile 128 x 64 outputs, 256 threads = 8 warps;
// warp w owns rows 32 (w % 4) .. +32 and columns 32 (w / 4) .. +32 (common.cuh's
// db_mma_k32). Each output's reduction runs over all of K in 32-deep tiles, k increasing,
// each tile in two 16-deep mma steps whose internal order and rounding are the hardware's
// (Fasi, Higham, Mikaitis & Pranesh 2021), so no CPU emulation reproduces the bits: the
// variant is held to src/shared/gemm.rs's tensor_core_bound and to run-to-run equality.
// The launch is fixed for a shape, so one GPU gives the same bits on every run.
//
// Loader roles (fixed per thread): thread (warp w, lane l) loads word lw = 4 (w % 4) + l / 8
// (k = 2 lw and 2 lw + 1 of the tile) of A rows lr + 8i (i < 8) and of B columns ln + 8i
// (i < 4), with lr = 64 (w / 4) + l % 8 and ln = 32 (w / 4) + l % 8: the 8 warps cover the
// 128 x 16 words of A and the 64 x 16 words of B once each. Shared memory holds raw 16-bit
// words, two per 32-bit word, the lower k in the low half, DB_TC_LD words per row.
#if defined(DB_MMA)
extern "C" __global__ void __launch_bounds__(256) DB_ENTRY(mm_tensor_core_)(const db_u32* P, const DbS* A, const DbS* B, DbO* C) {
    __shared__ db_u32 As[128 * DB_TC_LD];
    __shared__ db_u32 Bs[64 * DB_TC_LD];
    const db_u32 M = P[MP_M], N = P[MP_N], K = P[MP_K];
    const db_u32 lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    const db_u32 row0 = blockIdx.x * 128u, col0 = blockIdx.y * 64u;
    const db_u32 lw = (warp & 3u) * 4u + (lane >> 3);
    const db_u32 lr = (warp >> 2) * 64u + (lane & 7u);
    const db_u32 ln = (warp >> 2) * 32u + (lane & 7u);
    const db_u32 g = lane >> 2, t = lane & 3u;
    const db_u32 wm = (warp & 3u) * 32u, wn = (warp >> 2) * 32u;
    float acc[2][4][4];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[mi][ni][e] = 0.0f;
    for (db_u32 k0 = 0; k0 < K; k0 += 32u) {
        const db_u32 k = k0 + 2u * lw;
        const bool k_lo = k < K, k_hi = k + 1u < K;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const db_u32 row = row0 + lr + 8u * (db_u32)i;
            const bool in = row < M;
            const db_u32 lo = (in && k_lo) ? (db_u32)A[row * K + k] : 0u;
            const db_u32 hi = (in && k_hi) ? (db_u32)A[row * K + k + 1u] : 0u;
            As[(lr + 8u * (db_u32)i) * DB_TC_LD + lw] = lo | (hi << 16);
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const db_u32 col = col0 + ln + 8u * (db_u32)i;
            const bool in = col < N;
            const db_u32 lo = (in && k_lo) ? (db_u32)B[k * N + col] : 0u;
            const db_u32 hi = (in && k_hi) ? (db_u32)B[(k + 1u) * N + col] : 0u;
            Bs[(ln + 8u * (db_u32)i) * DB_TC_LD + lw] = lo | (hi << 16);
        }
        __syncthreads();
        db_mma_k32(As, Bs, wm, wn, g, t, acc);
        __syncthreads();
    }
    // Accumulator e of mma tile (mi, ni) is row wm + 16 mi + g + 8 (e / 2), column
    // wn + 8 ni + 2 t + e % 2 of the block tile (the d layout above db_mma16816).
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const db_u32 row = row0 + wm + 16u * (db_u32)mi + g + 8u * (db_u32)(e / 2);
                const db_u32 col = col0 + wn + 8u * (db_u32)ni + 2u * t + (db_u32)(e % 2);
                if (row < M && col < N) C[row * N + col] = db_store(acc[mi][ni][e]);
            }
}
#endif  // DB_MMA
