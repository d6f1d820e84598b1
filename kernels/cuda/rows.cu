// detbench batched row reductions (row_sum, mean, log_softmax over the last axis of a
// B x N input), compiled by NVRTC without any CUDA header.
//
// One module per (input format, accumulator format) pair, specialised like matmul.cu
// (DB_IN_T, DB_ACC_T, DB_SUFFIX, DB_GEMM: common.cuh's rounded add, multiply and store).
// The passes are those of kernels/wgsl/rows.wgsl, and the orders those of
// src/ops/rows/mod.rs: each (row, chunk) is one chain from +0, and a row's partials are
// added in chunk order from +0 (one chunk: the chain itself). row_sum and mean give the CPU
// emulation's bits (src/ops/rows/cpu.rs); log_softmax's exp and log are the device's
// (expf/logf, or exp/log for an f64 accumulator), held to the bound of src/ops/rows/mod.rs.
// On the host emulator they are the cpu backend's, so there log_softmax gives its bits too.
//
// Entry points `rows_{pass}_{in}_{acc}`; parameters (4 u32: B, N, chunk, splits) in a small
// device buffer; `rowbuf` holds accumulator values: [1/N rounded] for mean, per row
// [max, log(sum)] for log_softmax.

#define RP_ROWS 0
#define RP_LEN 1
#define RP_CHUNK 2
#define RP_SPLITS 3

#if defined(DB_HOST_EMU)
// The emulator's device math is the cpu backend's (emu/cuda_host.h, DbEmuMath).
__device__ __forceinline__ float db_exp(float v) { return db_emu_math.expf(v); }
__device__ __forceinline__ double db_exp(double v) { return db_emu_math.exp(v); }
__device__ __forceinline__ float db_log(float v) { return db_emu_math.logf(v); }
__device__ __forceinline__ double db_log(double v) { return db_emu_math.log(v); }
#else
__device__ __forceinline__ float db_exp(float v) { return expf(v); }
__device__ __forceinline__ double db_exp(double v) { return exp(v); }
__device__ __forceinline__ float db_log(float v) { return logf(v); }
__device__ __forceinline__ double db_log(double v) { return log(v); }
#endif
// The larger of two values, the other one where one is NaN (Rust's f64::max, the CPU's).
__device__ __forceinline__ float db_max(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double db_max(double a, double b) { return fmax(a, b); }

__device__ __forceinline__ db_u64 db_rows_thread() { return (db_u64)blockIdx.x * blockDim.x + threadIdx.x; }

// log_softmax, one thread per row: the row's maximum (exact, so any order).
extern "C" __global__ void DB_ENTRY(rows_max_)(const db_u32* P, const DbS* x, DbV* rowbuf) {
    const db_u64 r = db_rows_thread();
    if (r >= P[RP_ROWS]) return;
    const db_u64 n = P[RP_LEN];
    DbV m = (DbV)db_load(x, (db_u32)(r * n));
    for (db_u64 j = 1; j < n; j++) m = db_max(m, (DbV)db_load(x, (db_u32)(r * n + j)));
    rowbuf[2 * r] = m;
}

// One thread per (row, chunk): the chunk's chain from +0 over x (EXP: over
// exp(fl(x - max)), log_softmax's terms).
template <bool EXP> __device__ __forceinline__ DbV db_rows_chain(const db_u32* P, const DbS* x, const DbV* rowbuf, db_u64 idx) {
    const db_u64 splits = P[RP_SPLITS], n = P[RP_LEN];
    const db_u64 r = idx / splits, beg = (idx % splits) * P[RP_CHUNK];
    const db_u64 end = beg + P[RP_CHUNK] < n ? beg + P[RP_CHUNK] : n;
    DbV acc = (DbV)0;
    for (db_u64 j = beg; j < end; j++) {
        const DbV v = (DbV)db_load(x, (db_u32)(r * n + j));
        acc = db_add(acc, EXP ? db_exp(db_add(v, -rowbuf[2 * r])) : v);
    }
    return acc;
}
template <bool EXP> __device__ __forceinline__ void db_rows_partial(const db_u32* P, const DbS* x, const DbV* rowbuf, DbV* partials) {
    const db_u64 idx = db_rows_thread();
    if (idx >= (db_u64)P[RP_ROWS] * P[RP_SPLITS]) return;
    partials[idx] = db_rows_chain<EXP>(P, x, rowbuf, idx);
}
extern "C" __global__ void DB_ENTRY(rows_partial_sum_)(const db_u32* P, const DbS* x, const DbV* rowbuf, DbV* partials) {
    db_rows_partial<false>(P, x, rowbuf, partials);
}
extern "C" __global__ void DB_ENTRY(rows_partial_exp_)(const db_u32* P, const DbS* x, const DbV* rowbuf, DbV* partials) {
    db_rows_partial<true>(P, x, rowbuf, partials);
}

// One thread per row: the row's partials in chunk order from +0 (one chunk: itself).
__device__ __forceinline__ bool db_rows_total(const db_u32* P, const DbV* partials, db_u64& r, DbV& s) {
    r = db_rows_thread();
    if (r >= P[RP_ROWS]) return false;
    const db_u64 splits = P[RP_SPLITS];
    s = partials[r * splits];
    if (splits > 1) {
        s = (DbV)0;
        for (db_u64 c = 0; c < splits; c++) s = db_add(s, partials[r * splits + c]);
    }
    return true;
}
extern "C" __global__ void DB_ENTRY(rows_finish_sum_)(const db_u32* P, const DbV* partials, const DbV* rowbuf, DbO* out) {
    db_u64 r;
    DbV s;
    if (db_rows_total(P, partials, r, s)) out[r] = db_store(s);
}
extern "C" __global__ void DB_ENTRY(rows_finish_mean_)(const db_u32* P, const DbV* partials, const DbV* rowbuf, DbO* out) {
    db_u64 r;
    DbV s;
    if (db_rows_total(P, partials, r, s)) out[r] = db_store(db_mul(s, rowbuf[0]));
}
// log_softmax: log(sum) into the row's second rowbuf slot (`out` is not written).
extern "C" __global__ void DB_ENTRY(rows_finish_lsm_)(const db_u32* P, const DbV* partials, DbV* rowbuf, DbO* out) {
    db_u64 r;
    DbV s;
    if (db_rows_total(P, partials, r, s)) rowbuf[2 * r + 1] = db_log(s);
}

#if DB_ORDERED_ATOMICS
// `atomic` (row_sum, mean), one thread per (row, chunk): the chunk's chain added into the
// row's zeroed cell under the entry point's PTX ordering (common.cuh's db_cell_add: native
// atom.add for f32/f64, a compare-and-swap loop rounding to the half format for f16/bf16).
// At most `splits` (<= 16) adds contend for one cell.
#define DB_ROWS_ATOMIC_ENTRY(ORD, NAME)                                                        \
    extern "C" __global__ void DB_ENTRY(rows_atomic_##NAME##_)(const db_u32* P, const DbS* x, const DbV* rowbuf, DbV* cells) { \
        const db_u64 idx = db_rows_thread();                                                   \
        if (idx >= (db_u64)P[RP_ROWS] * P[RP_SPLITS]) return;                                  \
        db_cell_add<ORD>(cells + idx / P[RP_SPLITS], db_rows_chain<false>(P, x, rowbuf, idx)); \
    }

DB_EACH_ORDERING(DB_ROWS_ATOMIC_ENTRY)
#endif  // DB_ORDERED_ATOMICS

// `atomic`, one thread per row: the cell stored (mean: times 1/N).
extern "C" __global__ void DB_ENTRY(rows_cells_sum_)(const db_u32* P, const DbV* cells, const DbV* rowbuf, DbO* out) {
    const db_u64 r = db_rows_thread();
    if (r < P[RP_ROWS]) out[r] = db_store(cells[r]);
}
extern "C" __global__ void DB_ENTRY(rows_cells_mean_)(const db_u32* P, const DbV* cells, const DbV* rowbuf, DbO* out) {
    const db_u64 r = db_rows_thread();
    if (r < P[RP_ROWS]) out[r] = db_store(db_mul(cells[r], rowbuf[0]));
}

// log_softmax, one thread per element: fl(fl(x - max) - log(sum)).
extern "C" __global__ void DB_ENTRY(rows_lsm_out_)(const db_u32* P, const DbS* x, const DbV* rowbuf, DbO* out) {
    const db_u64 e = db_rows_thread();
    const db_u64 n = P[RP_LEN];
    if (e >= (db_u64)P[RP_ROWS] * n) return;
    const db_u64 r = e / n;
    out[e] = db_store(db_add(db_add((DbV)db_load(x, (db_u32)e), -rowbuf[2 * r]), -rowbuf[2 * r + 1]));
}
