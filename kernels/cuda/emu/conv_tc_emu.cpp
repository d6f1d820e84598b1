// Host check of the tensor-core kernels of kernels/cuda/conv.cu, for machines without a GPU.
//
// It compiles conv.cu itself (after common.cuh, as the host does) with g++ (DB_HOST_EMU),
// runs each block of a launch as 256 host threads (std::barrier for __syncthreads) and
// replaces the one warp-collective PTX instruction, mma.m16n8k16, by a warp emulation that
// rebuilds the 16x16 A and 16x8 B matrices from the 32 lanes' registers with the fragment
// formulas of the PTX ISA
// ("Matrix Fragments for mma.m16n8k16 with floating point type") and hands each lane its
// own D elements. It checks the tiling, the loaders, the shared-memory layout, the edge
// masks and the output indexing; it cannot check what only hardware decides (the tensor
// core's internal rounding, ptxas accepting the inline PTX, speed).
//
// Inputs are small integers, so every dot product and every partial sum is exact in f32
// and the expected output is the exactly rounded reference: the check is bitwise.
//
// From the repository root, for T in F16 and BF16:
//   g++ -std=c++20 -O1 -pthread -ffp-contract=off -DDB_HOST_EMU -DDB_IN_$T=1 -DDB_ACC=0
//       -DDB_SUFFIX=emu -include kernels/cuda/emu/cuda_host_threads.h
//       kernels/cuda/emu/conv_tc_emu.cpp -o /tmp/conv_tc_emu_$T && /tmp/conv_tc_emu_$T [seed]
// (one command line; it takes about a minute on two cores, most of it creating threads).

#include <cstdint>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

typedef unsigned short db_u16;

// The conversions conv.cu writes in PTX.
inline float db_f16_to_f32(db_u16 h) {
    _Float16 v;
    std::memcpy(&v, &h, 2);
    return (float)v;
}
inline db_u16 db_f32_to_f16(float f) {
    _Float16 v = (_Float16)f;  // round to nearest even
    db_u16 h;
    std::memcpy(&h, &v, 2);
    return h;
}

// Warp emulation of mma.sync.aligned.m16n8k16.row.col.f32.X.X.f32. Declared before the
// kernel source, which calls it.
inline float db_emu_half(unsigned bits);
void db_mma16816(float d[4], const unsigned a[4], const unsigned b[2]);

// The host prepends the shared prelude to conv.cu before NVRTC sees it; so do we.
#include "../common.cuh"
#include "../conv.cu"

inline float db_emu_half(unsigned bits) {
#if defined(DB_IN_F16)
    return db_f16_to_f32((db_u16)bits);
#else
    return db_bf16_to_f32((db_u16)bits);
#endif
}

static unsigned g_stage_a[8][32][4], g_stage_b[8][32][2];
static std::unique_ptr<std::barrier<>> g_warp_barrier[8];

void db_mma16816(float d[4], const unsigned a[4], const unsigned b[2]) {
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int i = 0; i < 4; i++) g_stage_a[warp][lane][i] = a[i];
    for (int i = 0; i < 2; i++) g_stage_b[warp][lane][i] = b[i];
    g_warp_barrier[warp]->arrive_and_wait();
    // Element i of a lane's fragment sits in register i / 2, half i % 2 (low half first).
    double A[16][16], B[16][8];
    for (unsigned L = 0; L < 32; L++) {
        const unsigned groupID = L >> 2, tig = L % 4;
        for (unsigned i = 0; i < 8; i++) {
            const unsigned row = (i < 2 || (4 <= i && i < 6)) ? groupID : groupID + 8;
            const unsigned col = tig * 2 + (i & 1) + (i >= 4 ? 8 : 0);
            A[row][col] = db_emu_half((g_stage_a[warp][L][i / 2] >> (16 * (i % 2))) & 0xffffu);
        }
        for (unsigned i = 0; i < 4; i++) {
            const unsigned row = tig * 2 + (i & 1) + (i >= 2 ? 8 : 0);
            B[row][groupID] = db_emu_half((g_stage_b[warp][L][i / 2] >> (16 * (i % 2))) & 0xffffu);
        }
    }
    const unsigned groupID = lane >> 2, tig = lane % 4;
    float out[4];
    for (unsigned i = 0; i < 4; i++) {
        const unsigned row = i < 2 ? groupID : groupID + 8, col = tig * 2 + (i & 1);
        double s = d[i];
        for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
        out[i] = (float)s;
    }
    // Nobody restages before every lane has read this round.
    g_warp_barrier[warp]->arrive_and_wait();
    for (int i = 0; i < 4; i++) d[i] = out[i];
}

template <typename... Args>
static void launch(void (*kernel)(Args...), DbDim3 grid, unsigned block, Args... args) {
    gridDim = grid;
    blockDim = {block, 1, 1};
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                db_block_barrier = std::make_unique<std::barrier<>>(block);
                for (auto& w : g_warp_barrier) w = std::make_unique<std::barrier<>>(32);
                std::vector<std::thread> threads;
                for (unsigned t = 0; t < block; t++)
                    threads.emplace_back([=] {
                        threadIdx = {t, 0, 0};
                        blockIdx = {x, y, z};
                        kernel(args...);
                    });
                for (auto& t : threads) t.join();
            }
}

static db_u16 to_bits(double v) {
#if defined(DB_IN_F16)
    return db_f32_to_f16((float)v);
#else
    return db_f32_to_bf16((float)v);
#endif
}

struct Shape {
    unsigned n, c, h, w, k, r, s, st, pad, dil, p, q;
};

// Naive exact reference of each op (doubles; integer data keeps every sum exact).
static std::vector<double> reference(int op, const Shape& S, const std::vector<double>& a,
                                     const std::vector<double>& b) {
    const size_t xl = (size_t)S.n * S.c * S.h * S.w, wl = (size_t)S.k * S.c * S.r * S.s;
    const size_t yl = (size_t)S.n * S.k * S.p * S.q;
    std::vector<double> out(op == 0 ? yl : op == 1 ? xl : wl, 0.0);
    for (unsigned n = 0; n < S.n; n++)
        for (unsigned k = 0; k < S.k; k++)
            for (unsigned p = 0; p < S.p; p++)
                for (unsigned q = 0; q < S.q; q++)
                    for (unsigned c = 0; c < S.c; c++)
                        for (unsigned r = 0; r < S.r; r++)
                            for (unsigned s = 0; s < S.s; s++) {
                                const int ih = (int)(p * S.st + r * S.dil) - (int)S.pad;
                                const int iw = (int)(q * S.st + s * S.dil) - (int)S.pad;
                                if (ih < 0 || iw < 0 || ih >= (int)S.h || iw >= (int)S.w) continue;
                                const size_t xi = (((size_t)n * S.c + c) * S.h + ih) * S.w + iw;
                                const size_t wi = (((size_t)k * S.c + c) * S.r + r) * S.s + s;
                                const size_t yi = (((size_t)n * S.k + k) * S.p + p) * S.q + q;
                                if (op == 0) out[yi] += a[xi] * b[wi];      // a = x, b = w
                                else if (op == 1) out[xi] += a[yi] * b[wi]; // a = dy, b = w
                                else out[wi] += a[yi] * b[xi];              // a = dy, b = x
                            }
    return out;
}

static int check(int op, const Shape& S, std::mt19937& rng) {
    const unsigned npq = S.n * S.p * S.q;
    const unsigned xl = S.n * S.c * S.h * S.w, wl = S.k * S.c * S.r * S.s, yl = S.n * S.k * S.p * S.q;
    // detbench's chunk_len: ceil(npq / 64) rounded up to a multiple of 16, at least 16.
    unsigned chunk = 0, chunks = 1;
    if (op == 2) {
        chunk = std::max(16u, ((npq + 63) / 64 + 15) / 16 * 16);
        chunks = (npq + chunk - 1) / chunk;
    }
    const unsigned out_len = op == 0 ? yl : op == 1 ? xl : wl;
    unsigned gm, gn, gk;
    if (op == 0) gm = npq, gn = S.k, gk = S.c * S.r * S.s;
    else if (op == 1) gm = S.n * S.h * S.w, gn = S.c, gk = S.k * S.r * S.s;
    else gm = S.k, gn = S.c * S.r * S.s, gk = npq;
    const unsigned P[20] = {S.n, S.c, S.h, S.w, S.k, S.r, S.s, S.st, S.pad, S.dil, S.p, S.q,
                            chunk, npq, out_len, 0, gm, gn, gk, chunks};
    std::uniform_int_distribution<int> small(-3, 3);
    const unsigned la = op == 0 ? xl : yl, lb = op == 2 ? xl : wl;
    std::vector<double> a(la), b(lb);
    for (auto& v : a) v = small(rng);
    for (auto& v : b) v = small(rng);
    std::vector<db_u16> abits(la), bbits(lb), out(out_len, 0xffffu);
    for (unsigned i = 0; i < la; i++) abits[i] = to_bits(a[i]);
    for (unsigned i = 0; i < lb; i++) bbits[i] = to_bits(b[i]);
    const DbDim3 grid = {(gm + DB_TC_BM - 1) / DB_TC_BM, (gn + DB_TC_BN - 1) / DB_TC_BN, chunks};
    if (op == 0) {
        launch(&fwd_tensor_core_emu, grid, 256, (const unsigned*)P, (const db_u16*)abits.data(),
               (const db_u16*)bbits.data(), out.data());
    } else if (op == 1) {
        launch(&bwdd_tensor_core_emu, grid, 256, (const unsigned*)P, (const db_u16*)abits.data(),
               (const db_u16*)bbits.data(), out.data());
    } else {
        std::vector<float> partials((size_t)chunks * out_len, -1.0f);
        launch(&bwdw_tensor_core_emu, grid, 256, (const unsigned*)P, (const db_u16*)abits.data(),
               (const db_u16*)bbits.data(), partials.data());
        launch(&bwdw_reduce_emu, DbDim3{(out_len + 255) / 256, 1, 1}, 256, (const unsigned*)P,
               (const float*)partials.data(), out.data());
    }
    const std::vector<double> ref = reference(op, S, a, b);
    int bad = 0;
    for (unsigned e = 0; e < out_len; e++) {
        if (out[e] != to_bits(ref[e])) {
            if (bad < 5)
                std::printf("  op %d element %u: got bits %04x, expected %04x (%g)\n", op, e, out[e],
                            to_bits(ref[e]), ref[e]);
            bad++;
        }
    }
    std::printf("op %d shape %u,%u,%u,%u,%u,%u,%u,%u,%u,%u (GEMM %ux%ux%u, grid %ux%ux%u): %s\n", op,
                S.n, S.c, S.h, S.w, S.k, S.r, S.s, S.st, S.pad, S.dil, gm, gn, gk, grid.x, grid.y,
                grid.z, bad ? "MISMATCH" : "ok");
    return bad;
}

static bool make_shape(unsigned n, unsigned c, unsigned h, unsigned w, unsigned k, unsigned r,
                       unsigned s, unsigned st, unsigned pad, unsigned dil, Shape& S) {
    const unsigned er = (r - 1) * dil + 1, es = (s - 1) * dil + 1;
    if (er > h + 2 * pad || es > w + 2 * pad) return false;
    S = {n, c, h, w, k, r, s, st, pad, dil, (h + 2 * pad - er) / st + 1, (w + 2 * pad - es) / st + 1};
    return true;
}

int main(int argc, char** argv) {
    std::mt19937 rng(argc > 1 ? (unsigned)std::atoi(argv[1]) : 12345u);
    int bad = 0, runs = 0;
    Shape S;
    // Fixed shapes: ragged tiles in M, N and K, several K tiles, stride, dilation, padding,
    // a 1x1 filter, and bwd_weight with several chunks.
    const unsigned fixed[][10] = {
        {2, 20, 13, 11, 70, 3, 3, 1, 1, 1}, {1, 5, 9, 7, 3, 3, 2, 2, 2, 2},
        {2, 33, 6, 6, 65, 1, 1, 1, 0, 1},   {3, 16, 10, 10, 16, 3, 3, 1, 1, 1},
        {1, 1, 4, 4, 1, 6, 6, 1, 1, 1},     {2, 3, 17, 9, 130, 2, 3, 3, 1, 1},
    };
    for (auto& f : fixed) {
        if (!make_shape(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], S)) return 2;
        for (int op = 0; op < 3; op++, runs++) bad += check(op, S, rng) != 0;
    }
    std::uniform_int_distribution<unsigned> d(0, 1 << 30);
    for (int i = 0; i < 24;) {
        const unsigned n = 1 + d(rng) % 2, c = 1 + d(rng) % 24, h = 1 + d(rng) % 12, w = 1 + d(rng) % 12;
        const unsigned k = 1 + d(rng) % 40, r = 1 + d(rng) % 4, s = 1 + d(rng) % 4;
        const unsigned st = 1 + d(rng) % 3, pad = d(rng) % 3, dil = 1 + d(rng) % 2;
        if (!make_shape(n, c, h, w, k, r, s, st, pad, dil, S)) continue;
        i++;
        for (int op = 0; op < 3; op++, runs++) bad += check(op, S, rng) != 0;
    }
    std::printf("%d of %d launches mismatched\n", bad, runs);
    return bad ? 1 : 0;
}
