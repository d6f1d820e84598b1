// detbench convolution kernels (conv2d_fwd, conv2d_bwd_data, conv2d_bwd_weight), compiled
// by NVRTC without any CUDA header.
//
// One module per (input format, accumulator format) pair, specialised like reduce.cu and
// scatter.cu (src/ops/common.rs, cuda_pair_module). The host defines:
//   DB_IN_T      InF32 | InF64 | InF16 | InBF16     input (and output) storage format
//   DB_ACC_T     AccF32 | AccF64 | AccF16 | AccBF16 accumulator (a half accumulator is the
//                                                   input's own half format)
//   DB_SUFFIX    e.g. f16_f32: appended to every entry point name
//   DB_ORDERED_ATOMICS  1 on sm_70+: the bwd_weight atomic entry points (common.cuh's DbAtom)
//   DB_MMA       f16 | bf16, only for a half input with an f32 accumulator on sm_80+: the
//                tensor-core entry points, on mma.sync .DB_MMA
//   DB_GEMM      1: common.cuh's GEMM arithmetic (shared with matmul.cu)
// Entry points: `{op}_{variant}[_{ordering}]_{in}_{acc}`, e.g. fwd_direct_f32_f32,
// bwdw_atomic_relaxed_gpu_f16_f32. The parameters (the shape and the GEMM view, 20 u32 in the
// order of `Params` in src/ops/conv/wgpu.rs) are read from a small device buffer.
//
// Every step is an explicit _rn intrinsic (common.cuh's GEMM section: db_step, db_add,
// db_store, db_cell_add, db_mma_k32), as `GemmArith` in src/shared/gemm.rs computes it: acc + a*b with the product and the sum each rounded (never fused), and in a half
// accumulator round_h(acc + round_h(a*b)) in f32. Every output element is one sequential
// chain in the order of src/ops/conv/mod.rs, whatever the tile shape, so the ordered kernels
// give the CPU emulation's bits.
//
// The host prepends common.cuh (the db_u* types, DB_ENTRY, the f16/bf16 conversions and,
// with DB_GEMM, the GEMM arithmetic matmul.cu shares);
// kernels/cuda/emu/module.cpp includes both files in the same order to run the kernels on
// the host.

// Parameter slots.
#define P_N 0
#define P_C 1
#define P_H 2
#define P_W 3
#define P_K 4
#define P_R 5
#define P_S 6
#define P_STRIDE 7
#define P_PAD 8
#define P_DIL 9
#define P_P 10
#define P_Q 11
#define P_CHUNK 12
#define P_NPQ 13
#define P_OUT 14
#define P_GM 16
#define P_GN 17
#define P_GK 18
#define P_CHUNKS 19


__device__ __forceinline__ int db_in_coord(const db_u32* P, db_u32 o, db_u32 t) {
    return (int)(o * P[P_STRIDE] + t * P[P_DIL]) - (int)P[P_PAD];
}

// ---------------------------------------------------------------------------------------
// direct: one thread per output element.

extern "C" __global__ void DB_ENTRY(fwd_direct_)(const db_u32* P, const DbS* x, const DbS* w, DbO* y) {
    const db_u32 e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= P[P_OUT]) {
        return;
    }
    const db_u32 C = P[P_C], H = P[P_H], W = P[P_W], K = P[P_K], R = P[P_R], S = P[P_S];
    const db_u32 q = e % P[P_Q];
    const db_u32 t1 = e / P[P_Q];
    const db_u32 p = t1 % P[P_P];
    const db_u32 t2 = t1 / P[P_P];
    const db_u32 k = t2 % K;
    const db_u32 n = t2 / K;
    DbV acc = (DbV)0;
    for (db_u32 c = 0; c < C; c++) {
        for (db_u32 r = 0; r < R; r++) {
            const int ih = db_in_coord(P, p, r);
            if (ih < 0 || ih >= (int)H) continue;
            for (db_u32 s = 0; s < S; s++) {
                const int iw = db_in_coord(P, q, s);
                if (iw < 0 || iw >= (int)W) continue;
                acc = db_step(acc, (DbV)db_load(x, ((n * C + c) * H + (db_u32)ih) * W + (db_u32)iw),
                              (DbV)db_load(w, ((k * C + c) * R + r) * S + s));
            }
        }
    }
    y[e] = db_store(acc);
}

extern "C" __global__ void DB_ENTRY(bwdd_direct_)(const db_u32* P, const DbS* dy, const DbS* w, DbO* dx) {
    const db_u32 e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= P[P_OUT]) {
        return;
    }
    const db_u32 C = P[P_C], H = P[P_H], W = P[P_W], K = P[P_K], R = P[P_R], S = P[P_S];
    const db_u32 st = P[P_STRIDE], pad = P[P_PAD], dil = P[P_DIL], PP = P[P_P], Q = P[P_Q];
    const db_u32 ww = e % W;
    const db_u32 t1 = e / W;
    const db_u32 h = t1 % H;
    const db_u32 t2 = t1 / H;
    const db_u32 c = t2 % C;
    const db_u32 n = t2 / C;
    DbV acc = (DbV)0;
    for (db_u32 k = 0; k < K; k++) {
        for (db_u32 r = 0; r < R; r++) {
            const int th = (int)(h + pad) - (int)(r * dil);
            if (th < 0 || (db_u32)th % st != 0u || (db_u32)th / st >= PP) continue;
            const db_u32 p = (db_u32)th / st;
            for (db_u32 s = 0; s < S; s++) {
                const int tw = (int)(ww + pad) - (int)(s * dil);
                if (tw < 0 || (db_u32)tw % st != 0u || (db_u32)tw / st >= Q) continue;
                const db_u32 q = (db_u32)tw / st;
                acc = db_step(acc, (DbV)db_load(dy, ((n * K + k) * PP + p) * Q + q),
                              (DbV)db_load(w, ((k * C + c) * R + r) * S + s));
            }
        }
    }
    dx[e] = db_store(acc);
}

// ---------------------------------------------------------------------------------------
// Implicit GEMM views (OP 0 fwd, 1 bwd_data, 2 bwd_weight): out(row, col) = sum over kk of
// A(row, kk) * B(kk, col), kk increasing. Padding and ragged edges load as 0, which leaves a
// +0-started accumulator unchanged.

template <int OP> struct DbGemm;

// Each view says where A(row, kk) and B(kk, col) live (`a_at`, `b_at`: false for padding,
// which reads as 0); `a` and `b` load them as accumulator values, the tensor-core kernels
// load the raw 16-bit words.
template <> struct DbGemm<0> {
    // row = (n, p, q), col = k, kk = (r, s, c) with c innermost.
    static __device__ __forceinline__ bool a_at(const db_u32* P, db_u32 row, db_u32 kk, db_u32& at) {
        const db_u32 q = row % P[P_Q], t = row / P[P_Q];
        const db_u32 p = t % P[P_P], n = t / P[P_P];
        const db_u32 c = kk % P[P_C], rs = kk / P[P_C];
        const db_u32 s = rs % P[P_S], r = rs / P[P_S];
        const int ih = db_in_coord(P, p, r), iw = db_in_coord(P, q, s);
        if (ih < 0 || ih >= (int)P[P_H] || iw < 0 || iw >= (int)P[P_W]) return false;
        at = ((n * P[P_C] + c) * P[P_H] + (db_u32)ih) * P[P_W] + (db_u32)iw;
        return true;
    }
    static __device__ __forceinline__ bool b_at(const db_u32* P, db_u32 kk, db_u32 col, db_u32& at) {
        const db_u32 c = kk % P[P_C], rs = kk / P[P_C];
        at = (col * P[P_C] + c) * P[P_R] * P[P_S] + rs;
        return true;
    }
    static __device__ __forceinline__ db_u32 out(const db_u32* P, db_u32 row, db_u32 col) {
        const db_u32 pq = P[P_P] * P[P_Q];
        return ((row / pq) * P[P_K] + col) * pq + row % pq;
    }
    static constexpr bool KK_FAST = false;
};

template <> struct DbGemm<1> {
    // row = (n, h, w), col = c, kk = (r, s, k) with k innermost.
    static __device__ __forceinline__ bool a_at(const db_u32* P, db_u32 row, db_u32 kk, db_u32& at) {
        const db_u32 w = row % P[P_W], t = row / P[P_W];
        const db_u32 h = t % P[P_H], n = t / P[P_H];
        const db_u32 k = kk % P[P_K], rs = kk / P[P_K];
        const db_u32 s = rs % P[P_S], r = rs / P[P_S];
        const int th = (int)(h + P[P_PAD]) - (int)(r * P[P_DIL]);
        const int tw = (int)(w + P[P_PAD]) - (int)(s * P[P_DIL]);
        if (th < 0 || tw < 0) return false;
        const db_u32 st = P[P_STRIDE];
        const db_u32 uh = (db_u32)th, uw = (db_u32)tw;
        if (uh % st != 0u || uw % st != 0u || uh / st >= P[P_P] || uw / st >= P[P_Q]) return false;
        at = ((n * P[P_K] + k) * P[P_P] + uh / st) * P[P_Q] + uw / st;
        return true;
    }
    static __device__ __forceinline__ bool b_at(const db_u32* P, db_u32 kk, db_u32 col, db_u32& at) {
        const db_u32 k = kk % P[P_K], rs = kk / P[P_K];
        at = (k * P[P_C] + col) * P[P_R] * P[P_S] + rs;
        return true;
    }
    static __device__ __forceinline__ db_u32 out(const db_u32* P, db_u32 row, db_u32 col) {
        const db_u32 hw = P[P_H] * P[P_W];
        return ((row / hw) * P[P_C] + col) * hw + row % hw;
    }
    static constexpr bool KK_FAST = false;
};

template <> struct DbGemm<2> {
    // row = k, col = (c, r, s), kk = (n, p, q).
    static __device__ __forceinline__ bool a_at(const db_u32* P, db_u32 row, db_u32 kk, db_u32& at) {
        const db_u32 pq = P[P_P] * P[P_Q];
        at = ((kk / pq) * P[P_K] + row) * pq + kk % pq;
        return true;
    }
    static __device__ __forceinline__ bool b_at(const db_u32* P, db_u32 kk, db_u32 col, db_u32& at) {
        const db_u32 pq = P[P_P] * P[P_Q];
        const db_u32 n = kk / pq, p = (kk % pq) / P[P_Q], q = kk % P[P_Q];
        const db_u32 rs = P[P_R] * P[P_S];
        const db_u32 c = col / rs, r = (col % rs) / P[P_S], s = col % P[P_S];
        const int ih = db_in_coord(P, p, r), iw = db_in_coord(P, q, s);
        if (ih < 0 || ih >= (int)P[P_H] || iw < 0 || iw >= (int)P[P_W]) return false;
        at = ((n * P[P_C] + c) * P[P_H] + (db_u32)ih) * P[P_W] + (db_u32)iw;
        return true;
    }
    static __device__ __forceinline__ db_u32 out(const db_u32* P, db_u32 row, db_u32 col) {
        return row * P[P_GN] + col;
    }
    static constexpr bool KK_FAST = true;
};

// Accumulator-valued loads of the views (the CUDA-core kernels).
template <int OP>
__device__ __forceinline__ DbV db_gemm_a(const db_u32* P, const DbS* A, db_u32 row, db_u32 kk) {
    db_u32 at = 0u;
    return DbGemm<OP>::a_at(P, row, kk, at) ? (DbV)db_load(A, at) : (DbV)0;
}
template <int OP>
__device__ __forceinline__ DbV db_gemm_b(const db_u32* P, const DbS* B, db_u32 kk, db_u32 col) {
    db_u32 at = 0u;
    return DbGemm<OP>::b_at(P, kk, col, at) ? (DbV)db_load(B, at) : (DbV)0;
}

// Block tile: 64 x 64 outputs, 256 threads, 4 x 4 outputs per thread (rows tx + 16i,
// columns ty + 16j), reduction tiles 16 deep in shared memory.
#define DB_BM 64
#define DB_BN 64
#define DB_BK 16

template <int OP>
__device__ __forceinline__ void db_gemm_tile(const db_u32* P, const DbS* A, const DbS* B, db_u32 kbeg,
                                             db_u32 kend, DbV acc[4][4]) {
    __shared__ DbV As[DB_BK][DB_BM];
    __shared__ DbV Bs[DB_BK][DB_BN];
    const db_u32 tid = threadIdx.x, tx = tid % 16u, ty = tid / 16u;
    const db_u32 row0 = blockIdx.x * DB_BM, col0 = blockIdx.y * DB_BN;
    const db_u32 gm = P[P_GM], gn = P[P_GN];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = (DbV)0;
    for (db_u32 k0 = kbeg; k0 < kend; k0 += DB_BK) {
        for (db_u32 l = 0; l < 4; l++) {
            const db_u32 idx = tid + 256u * l;
            db_u32 m, kq;
            if (DbGemm<OP>::KK_FAST) {
                kq = idx % DB_BK;
                m = idx / DB_BK;
            } else {
                m = idx % DB_BM;
                kq = idx / DB_BM;
            }
            DbV v = (DbV)0;
            if (row0 + m < gm && k0 + kq < kend) v = db_gemm_a<OP>(P, A, row0 + m, k0 + kq);
            As[kq][m] = v;
            const db_u32 bk = idx % DB_BK, bn = idx / DB_BK;
            DbV u = (DbV)0;
            if (col0 + bn < gn && k0 + bk < kend) u = db_gemm_b<OP>(P, B, k0 + bk, col0 + bn);
            Bs[bk][bn] = u;
        }
        __syncthreads();
#pragma unroll
        for (int t = 0; t < DB_BK; t++) {
            DbV av[4], bv[4];
#pragma unroll
            for (int i = 0; i < 4; i++) av[i] = As[t][tx + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) bv[j] = Bs[t][ty + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = db_step(acc[i][j], av[i], bv[j]);
        }
        __syncthreads();
    }
}

// (256, 2) on the CUDA-core GEMM kernels: with a bare (256), ptxas (CUDA 13.5, sm_100)
// squeezed the bf16/bf16 kernels into 48 registers and spilled 16-28 bytes; with a minimum
// of 2 blocks per SM it gives them 62-71 registers and no spill.
#define DB_GEMM_BOUNDS __launch_bounds__(256, 2)

extern "C" __global__ void DB_GEMM_BOUNDS DB_ENTRY(fwd_tiled_)(const db_u32* P, const DbS* x, const DbS* w, DbO* y) {
    DbV acc[4][4];
    db_gemm_tile<0>(P, x, w, 0u, P[P_GK], acc);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            const db_u32 row = blockIdx.x * DB_BM + threadIdx.x % 16u + 16u * i;
            const db_u32 col = blockIdx.y * DB_BN + threadIdx.x / 16u + 16u * j;
            if (row < P[P_GM] && col < P[P_GN]) y[DbGemm<0>::out(P, row, col)] = db_store(acc[i][j]);
        }
}

extern "C" __global__ void DB_GEMM_BOUNDS DB_ENTRY(bwdd_tiled_)(const db_u32* P, const DbS* dy, const DbS* w, DbO* dx) {
    DbV acc[4][4];
    db_gemm_tile<1>(P, dy, w, 0u, P[P_GK], acc);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            const db_u32 row = blockIdx.x * DB_BM + threadIdx.x % 16u + 16u * i;
            const db_u32 col = blockIdx.y * DB_BN + threadIdx.x / 16u + 16u * j;
            if (row < P[P_GM] && col < P[P_GN]) dx[DbGemm<1>::out(P, row, col)] = db_store(acc[i][j]);
        }
}

// ---------------------------------------------------------------------------------------
// bwd_weight: block (x, y, z) computes tile (x, y) of dw over chunk z.

extern "C" __global__ void DB_GEMM_BOUNDS DB_ENTRY(bwdw_partial_)(const db_u32* P, const DbS* dy, const DbS* x, DbV* partials) {
    DbV acc[4][4];
    const db_u32 kbeg = blockIdx.z * P[P_CHUNK];
    const db_u32 kend = db_min(kbeg + P[P_CHUNK], P[P_NPQ]);
    db_gemm_tile<2>(P, dy, x, kbeg, kend, acc);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            const db_u32 row = blockIdx.x * DB_BM + threadIdx.x % 16u + 16u * i;
            const db_u32 col = blockIdx.y * DB_BN + threadIdx.x / 16u + 16u * j;
            if (row < P[P_GM] && col < P[P_GN])
                partials[(db_u64)blockIdx.z * P[P_OUT] + DbGemm<2>::out(P, row, col)] = acc[i][j];
        }
}

// Chunk partials added in chunk order 0, 1, 2, ...
extern "C" __global__ void DB_ENTRY(bwdw_reduce_)(const db_u32* P, const DbV* partials, DbO* dw) {
    db_split_finish(partials, P[P_CHUNKS], P[P_OUT], dw);
}

// Atomically accumulated words stored in the output format.
extern "C" __global__ void DB_ENTRY(bwdw_finish_)(const db_u32* P, const DbV* cells, DbO* dw) {
    db_cells_finish(cells, P[P_OUT], dw);
}

#if DB_ORDERED_ATOMICS
// bwd_weight atomic: every tile adds its partial sums into zeroed accumulator cells
// (common.cuh's db_cell_add, under the entry point's PTX ordering).
#define DB_ATOMIC_ENTRY(ORD, NAME)                                                             \
    extern "C" __global__ void DB_GEMM_BOUNDS                                                  \
        DB_ENTRY(bwdw_atomic_##NAME##_)(const db_u32* P, const DbS* dy, const DbS* x, DbV* cells) { \
        DbV acc[4][4];                                                                         \
        const db_u32 kbeg = blockIdx.z * P[P_CHUNK];                                           \
        const db_u32 kend = db_min(kbeg + P[P_CHUNK], P[P_NPQ]);                                  \
        db_gemm_tile<2>(P, dy, x, kbeg, kend, acc);                                            \
        for (int i = 0; i < 4; i++)                                                            \
            for (int j = 0; j < 4; j++) {                                                      \
                const db_u32 row = blockIdx.x * DB_BM + threadIdx.x % 16u + 16u * i;           \
                const db_u32 col = blockIdx.y * DB_BN + threadIdx.x / 16u + 16u * j;           \
                if (row < P[P_GM] && col < P[P_GN])                                            \
                    db_cell_add<ORD>(cells + DbGemm<2>::out(P, row, col), acc[i][j]);           \
            }                                                                                  \
    }

DB_EACH_ORDERING(DB_ATOMIC_ENTRY)
#endif  // DB_ORDERED_ATOMICS

// ---------------------------------------------------------------------------------------
// tensor_core: implicit GEMM on mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32
// (sm_80 and newer), f16/bf16 inputs, f32 accumulator; only in the modules of a half input
// with an f32 accumulator, and only when compiling for sm_80+ (ptxas rejects m16n8k16 below
// sm_80, and the host reports Unsupported there without asking for these entry points).
//
// Block tile: 128 GEMM rows x 64 columns, 256 threads = 8 warps, reduction tiles 32 deep,
// staged twice buffered in shared memory as raw 16-bit words (global loads for tile t+1 are
// in flight while tile t runs through the tensor cores). Warp w computes rows
// 32 (w % 4) .. +32 and columns 32 (w / 4) .. +32 of the block tile: 2 x 4 mma tiles of
// 16 x 8, 32 f32 accumulators per thread. Each output's reduction runs kk = kbeg, kbeg+1, ...
// in tiles of 32, each tile in two 16-deep mma steps, each mma adding its 16 products into
// the f32 accumulator in the hardware's own way (Fasi, Higham, Mikaitis & Pranesh 2021: products
// exact, aligned to the largest, truncated). The launch shape is fixed, so the order, and the
// bits, are the same on every run on one GPU; no CPU emulation reproduces them, which is why
// this variant is checked against its bound and for run-to-run equality only.
//
// Shared-memory layout: row m of As (and column n of Bs) is DB_TC_LD = 20 32-bit words: words
// 0..15 hold kq = 0..31 of the tile, two per word, the lower kq in the low half (mma reads
// the element with the lower index from the low half of a .f16x2/.bf16x2 register); words
// 16..19 are padding. 20 words per row spread both the fragment reads (8 rows x 4 words per
// warp) and the tile stores (8 rows x 4 words per warp) over all 32 banks: 20 m mod 32 for
// m = 0..7 is {0, 20, 8, 28, 16, 4, 24, 12}, distinct multiples of 4.
#if defined(DB_MMA)


#define DB_TC_BM 128
#define DB_TC_BN 64
#define DB_TC_BK 32


// The GEMM block tile (blockIdx.x, blockIdx.y) over kk in [kbeg, kend); acc[mi][ni] is the
// d fragment of mma tile (mi, ni) of this thread's warp.
//
// Loader roles (fixed per thread for the whole reduction): thread (warp w, lane l) loads
// word lw = 4 (w % 4) + l / 8 (kq = 2 lw and 2 lw + 1) of A rows lr + 8i (i < 8) and of B
// columns ln + 8i (i < 4), with lr = 64 (w / 4) + l % 8 and ln = 32 (w / 4) + l % 8. The 8
// warps cover the 128 x 16 words of A and the 64 x 16 words of B once each.
//
// fwd (OP 0) has a dedicated loader: each thread decomposes its 8 rows into (n, p, q) once
// and its two kk per tile into (c, r, s) once, so an element costs two adds, two compares
// and one load; x[n, c, ih, iw] sits at (n C H W + (p st - pad) W + q st - pad) +
// (c H W + r dil W + s dil), the first part per row and the second per kk (u32 arithmetic
// wraps through the negative padding offsets and lands on the true index of every tap that
// is inside the image). bwd_data and bwd_weight use the views' general index functions.
template <int OP>
__device__ __forceinline__ void db_tc_tile(const db_u32* P, const DbS* A, const DbS* B, db_u32 kbeg,
                                           db_u32 kend, float acc[2][4][4]) {
    __shared__ db_u32 As[2][DB_TC_BM * DB_TC_LD];
    __shared__ db_u32 Bs[2][DB_TC_BN * DB_TC_LD];
    const db_u32 tid = threadIdx.x, lane = tid & 31u, warp = tid >> 5;
    const db_u32 row0 = blockIdx.x * DB_TC_BM, col0 = blockIdx.y * DB_TC_BN;
    const db_u32 gm = P[P_GM], gn = P[P_GN];
    // Shape values the fwd loader uses on every tile, read once.
    const db_u32 C = P[P_C], H = P[P_H], W = P[P_W], S = P[P_S], dil = P[P_DIL];
    const db_u32 RS = P[P_R] * S, CRS = C * RS;
    const db_u32 lw = (warp & 3u) * 4u + (lane >> 3);
    const db_u32 lr = (warp >> 2) * 64u + (lane & 7u);
    const db_u32 ln = (warp >> 2) * 32u + (lane & 7u);

#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[mi][ni][e] = 0.0f;
    if (kbeg >= kend) return;

    // fwd: per-row parts of the x index; rows past the GEMM get ph far below 0, so every tap
    // of theirs fails the (u32)ih < H test.
    int ph[8], qw[8];
    db_u32 xb[8];
    if constexpr (OP == 0) {
        const db_u32 st = P[P_STRIDE], pad = P[P_PAD], Q = P[P_Q], PP = P[P_P];
        const db_u32 chw = C * H * W;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const db_u32 row = row0 + lr + 8u * (db_u32)i;
            if (row < gm) {
                const db_u32 q = row % Q, t = row / Q;
                const db_u32 p = t % PP, n = t / PP;
                ph[i] = (int)(p * st) - (int)pad;
                qw[i] = (int)(q * st) - (int)pad;
                xb[i] = n * chw + (db_u32)ph[i] * W + (db_u32)qw[i];
            } else {
                ph[i] = -(1 << 30);
                qw[i] = 0;
                xb[i] = 0u;
            }
        }
    }

    db_u32 ra[8], rb[4];
    // Global -> registers: this thread's 8 A words and 4 B words of the tile at k0 (every
    // loop has constant bounds and is unrolled, so the arrays stay in registers).
    auto load = [&](db_u32 k0) {
        db_u32 av[2][8], bv[2][4];
        const db_u32 kk0 = k0 + 2u * lw;
        if constexpr (OP == 0) {
            // (c, r, s) of kk0 by division; kk0 + 1 is one step of c, carried into s and r.
            db_u32 c = kk0 % C, rs = kk0 / C, s = rs % S, r = rs / S;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const bool kok = kk0 + (db_u32)h < kend;
                const db_u32 rd = r * dil, sd = s * dil;
                const db_u32 xo = (c * H + rd) * W + sd, wo = c * RS + rs;
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    const db_u32 ih = (db_u32)(ph[i] + (int)rd), iw = (db_u32)(qw[i] + (int)sd);
                    av[h][i] = (kok && ih < H && iw < W) ? (db_u32)A[xb[i] + xo] : 0u;
                }
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const db_u32 col = col0 + ln + 8u * (db_u32)i;
                    bv[h][i] = (kok && col < gn) ? (db_u32)B[col * CRS + wo] : 0u;
                }
                if (++c == C) {
                    c = 0u;
                    rs++;
                    if (++s == S) {
                        s = 0u;
                        r++;
                    }
                }
            }
        } else {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const db_u32 kk = kk0 + (db_u32)h;
                const bool kok = kk < kend;
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    const db_u32 row = row0 + lr + 8u * (db_u32)i;
                    db_u32 at = 0u;
                    av[h][i] = (kok && row < gm && DbGemm<OP>::a_at(P, row, kk, at)) ? (db_u32)A[at] : 0u;
                }
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const db_u32 col = col0 + ln + 8u * (db_u32)i;
                    db_u32 at = 0u;
                    bv[h][i] = (kok && col < gn && DbGemm<OP>::b_at(P, kk, col, at)) ? (db_u32)B[at] : 0u;
                }
            }
        }
#pragma unroll
        for (int i = 0; i < 8; i++) ra[i] = av[0][i] | (av[1][i] << 16);
#pragma unroll
        for (int i = 0; i < 4; i++) rb[i] = bv[0][i] | (bv[1][i] << 16);
    };
    // Registers -> shared buffer `buf`.
    auto store = [&](db_u32 buf) {
#pragma unroll
        for (int i = 0; i < 8; i++) As[buf][(lr + 8u * (db_u32)i) * DB_TC_LD + lw] = ra[i];
#pragma unroll
        for (int i = 0; i < 4; i++) Bs[buf][(ln + 8u * (db_u32)i) * DB_TC_LD + lw] = rb[i];
    };

    const db_u32 g = lane >> 2, t = lane & 3u;
    const db_u32 wm = (warp & 3u) * 32u, wn = (warp >> 2) * 32u;
    load(kbeg);
    store(0u);
    __syncthreads();
    db_u32 buf = 0u;
    for (db_u32 k0 = kbeg; k0 < kend; k0 += DB_TC_BK) {
        const bool more = kend - k0 > DB_TC_BK;
        if (more) load(k0 + DB_TC_BK);
        const db_u32* as = As[buf];
        const db_u32* bs = Bs[buf];
        db_mma_k32(as, bs, wm, wn, g, t, acc);
        // The other buffer was last read in the previous iteration, before the barrier that
        // ended it, so it can be refilled while slower warps still read this one.
        if (more) store(buf ^ 1u);
        __syncthreads();
        buf ^= 1u;
    }
}

// Stores this thread's accumulators: accumulator e of mma tile (mi, ni) is GEMM row
// 32 (warp % 4) + 16 mi + g + 8 (e / 2) and column 32 (warp / 4) + 8 ni + 2 t + e % 2 of the
// block tile (the d layout above db_mma16816). Each view's output index is a row part plus
// col times a stride, so the divisions are done once per row. OP 2 writes the f32 partial of
// chunk blockIdx.z; OP 0 and 1 round to the storage format.
template <int OP, typename O>
__device__ __forceinline__ void db_tc_store(const db_u32* P, const float acc[2][4][4], O* out) {
    const db_u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31u, g = lane >> 2, t = lane & 3u;
    const db_u32 rbase = blockIdx.x * DB_TC_BM + (warp & 3u) * 32u + g;
    const db_u32 cbase = blockIdx.y * DB_TC_BN + (warp >> 2) * 32u + 2u * t;
    const db_u32 gm = P[P_GM], gn = P[P_GN];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            const db_u32 row = rbase + 16u * (db_u32)mi + 8u * (db_u32)hr;
            if (row >= gm) continue;
            db_u64 rpart;
            db_u32 cstride;
            if constexpr (OP == 0) {
                const db_u32 pq = P[P_P] * P[P_Q];
                rpart = (db_u64)((row / pq) * P[P_K] * pq + row % pq);
                cstride = pq;
            } else if constexpr (OP == 1) {
                const db_u32 hw = P[P_H] * P[P_W];
                rpart = (db_u64)((row / hw) * P[P_C] * hw + row % hw);
                cstride = hw;
            } else {
                rpart = (db_u64)blockIdx.z * P[P_OUT] + (db_u64)(row * gn);
                cstride = 1u;
            }
#pragma unroll
            for (int ni = 0; ni < 4; ni++)
#pragma unroll
                for (int ec = 0; ec < 2; ec++) {
                    const db_u32 col = cbase + 8u * (db_u32)ni + (db_u32)ec;
                    if (col >= gn) continue;
                    const float v = acc[mi][ni][2 * hr + ec];
                    if constexpr (OP == 2) {
                        out[rpart + col] = (O)v;
                    } else {
                        out[rpart + (db_u64)(col * cstride)] = (O)db_store(v);
                    }
                }
        }
}

extern "C" __global__ void __launch_bounds__(256) DB_ENTRY(fwd_tensor_core_)(const db_u32* P, const DbS* x, const DbS* w, DbO* y) {
    float acc[2][4][4];
    db_tc_tile<0>(P, x, w, 0u, P[P_GK], acc);
    db_tc_store<0>(P, acc, y);
}

// (256, 2): without a minimum of 2 blocks per SM, ptxas (CUDA 13.5, sm_90) squeezed this
// kernel into 80 registers and spilled 8 bytes; with it, 103 registers and no spill.
extern "C" __global__ void __launch_bounds__(256, 2) DB_ENTRY(bwdd_tensor_core_)(const db_u32* P, const DbS* dy, const DbS* w, DbO* dx) {
    float acc[2][4][4];
    db_tc_tile<1>(P, dy, w, 0u, P[P_GK], acc);
    db_tc_store<1>(P, acc, dx);
}

// bwd_weight: block (x, y, z) computes tile (x, y) of dw over chunk z into layer z of the
// f32 partials; bwdw_reduce_ then adds the layers in chunk order, as `deterministic` does.
extern "C" __global__ void __launch_bounds__(256) DB_ENTRY(bwdw_tensor_core_)(const db_u32* P, const DbS* dy, const DbS* x, DbV* partials) {
    float acc[2][4][4];
    const db_u32 kbeg = blockIdx.z * P[P_CHUNK];
    const db_u32 kend = db_min(kbeg + P[P_CHUNK], P[P_NPQ]);
    db_tc_tile<2>(P, dy, x, kbeg, kend, acc);
    db_tc_store<2>(P, acc, partials);
}

#endif  // tensor_core
