// Host stand-ins for the CUDA built-ins that kernels/cuda/conv.cu uses, so g++ can read the
// file: `g++ -std=c++17 -fsyntax-only -include cuda_host_threads.h -x c++ conv.cu` checks the real
// (inline-PTX) kernels, and conv_tc_emu.cpp runs them on host threads with DB_HOST_EMU.
// Nothing here is compiled into detbench.
#pragma once
#include <barrier>
#include <cmath>
#include <cstring>
#include <memory>

#define __global__
#define __device__
#define __forceinline__ inline
// One block runs at a time on the host, so a function-local static is its shared memory.
#define __shared__ static
#define __launch_bounds__(...)

struct DbDim3 {
    unsigned x, y, z;
};
inline thread_local DbDim3 threadIdx, blockIdx;
inline DbDim3 blockDim, gridDim;
inline std::unique_ptr<std::barrier<>> db_block_barrier;
inline void __syncthreads() { db_block_barrier->arrive_and_wait(); }

inline float __uint_as_float(unsigned u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline unsigned __float_as_uint(float f) {
    unsigned u;
    std::memcpy(&u, &f, 4);
    return u;
}
// Host arithmetic is IEEE round-to-nearest without contraction when built with
// -ffp-contract=off, which is what the _rn intrinsics promise.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __double2float_rn(double d) { return (float)d; }
// The rest of common.cuh's intrinsics (the prelude comes before conv.cu; conv.cu calls none
// of these, but g++ must see a declaration of every name a non-template uses).
inline float __fsub_rn(float a, float b) { return a - b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline long long __double_as_longlong(double d) {
    long long l;
    std::memcpy(&l, &d, 8);
    return l;
}
inline double __longlong_as_double(long long l) {
    double d;
    std::memcpy(&d, &l, 8);
    return d;
}
