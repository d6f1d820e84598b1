// A host emulation of the CUDA execution model, so g++ can compile and run the kernels of
// kernels/cuda/*.cu unchanged on a machine without a GPU. kernels/cuda/emu/module.cpp
// includes this file (through -include), then common.cuh and one family, and the cuda-emu
// backend (src/backend/cuda/emu.rs) builds it into a shared library with g++ and loads it:
// detbench embeds these sources, and builds a module the first time a case needs it.
//
// What it emulates, and how:
// - Blocks and threads: a launch's blocks are shared out to a few worker OS threads
//   (DB_EMU_WORKERS, default 2), so blocks really run concurrently and atomics from
//   different blocks really race. Within a block every CUDA thread is a fiber (ucontext)
//   with its own stack, run by its worker until it blocks; fibers never migrate.
// - __syncthreads: a barrier over the block's live threads. A thread that exits counts as
//   arrived (as on sm_70+). If no thread can make progress (a barrier some threads never
//   reach), the launch fails with "deadlock" instead of hanging.
// - Shared memory: `__shared__` is `thread_local` (block scope: static per worker, so each
//   concurrently running block has its own); the dynamic `extern __shared__` array is a
//   per-worker buffer that is filled with 0xA5 bytes before every block, so a kernel that
//   reads shared memory it has not written sees garbage, as on a GPU, not the previous
//   block's values.
// - Warp collectives: the only one the kernels use is the tensor-core mma, emulated in
//   module.cpp on top of db_emu_warp_sync(), a barrier over the 32 lanes of a warp.
// - Atomics: CUDA's atomicAdd/atomicCAS are std::atomic_ref read-modify-writes with relaxed
//   order (CUDA's are relaxed at device scope); the ordered PTX atomics of common.cuh and
//   conv.cu (DbAtom<ORD>, db_atom_*) are the same with the matching C++ order: relaxed ->
//   memory_order_relaxed, acq_rel -> memory_order_acq_rel, seq_cst (fence.sc + acq_rel
//   atom) -> atomic_thread_fence(seq_cst) + acq_rel. The .cta/.gpu scope has no host
//   counterpart (all workers share one coherent memory), so both scopes are the wider one.
// - Arithmetic: built with -ffp-contract=off (no fused multiply-add unless the source
//   asks), each _rn intrinsic is the IEEE operation in round-to-nearest-even, subnormals
//   are kept (x86-64 SSE default, the kernels' --ftz=false). A module compiled with
//   --fmad=true is built with -ffp-contract=fast -mfma instead.
//
// What it cannot check: anything only hardware decides (the tensor core's internal
// rounding, timing-dependent interleavings it does not happen to produce, weaker memory
// orders than x86-64's, speed), and ptxas accepting the inline PTX (tests/it/cuda_nvrtc.rs).
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ thread_local
#define __launch_bounds__(...)

struct DbDim3 {
    unsigned x, y, z;
};
// The running fiber's indices, set by its worker before every switch into the fiber.
extern thread_local DbDim3 threadIdx, blockIdx, blockDim, gridDim;

// The emulated device's exp and log (rows.cu's log_softmax): the host process's, handed
// over by the cuda-emu backend through db_emu_set_math (module.cpp) when it loads the
// module. They are the cpu backend's (the libm crate), so an ordered log_softmax compares
// with the cpu row bit for bit and a launch bug that keeps within the bound still shows. A
// real GPU's expf and logf are its own; nothing here claims to emulate them.
struct DbEmuMath {
    float (*expf)(float);
    float (*logf)(float);
    double (*exp)(double);
    double (*log)(double);
};
extern DbEmuMath db_emu_math;

// The barriers of the running block (module.cpp).
void db_emu_syncthreads();
void db_emu_warp_sync();
inline void __syncthreads() { db_emu_syncthreads(); }

// ---------------------------------------------------------------------------------------
// Intrinsics.

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
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __double2float_rn(double d) { return (float)d; }
// Toward zero: the nearest f32, stepped back toward 0 if it landed beyond d (a d above
// FLT_MAX rounds to infinity first and steps back to FLT_MAX).
inline float __double2float_rz(double d) {
    float f = (float)d;
    return std::fabs((double)f) > std::fabs(d) ? std::nextafter(f, 0.0f) : f;
}
// The default rounding mode is round-to-nearest-even, which is what _rn asks for.
inline int __float2int_rn(float f) { return (int)std::lrintf(f); }
inline int __double2int_rn(double d) { return (int)std::lrint(d); }
inline unsigned __double2uint_rn(double d) { return (unsigned)std::llrint(d); }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
using std::fabs;
using std::floor;
using std::fmax;
using std::ldexp;
using std::rint;
using std::sqrt;
inline float sqrtf(float f) { return std::sqrt(f); }

// The f16 conversions common.cuh writes in PTX (cvt.f32.f16, cvt.rn.f16.f32).
inline float db_f16_to_f32(unsigned short h) {
    _Float16 v;
    std::memcpy(&v, &h, 2);
    return (float)v;
}
inline unsigned short db_f32_to_f16(float f) {
    _Float16 v = (_Float16)f;  // round to nearest even
    unsigned short h;
    std::memcpy(&h, &v, 2);
    return h;
}

// ---------------------------------------------------------------------------------------
// Atomics.

template <class T> inline T atomicAdd(T* p, T v) {
    return std::atomic_ref<T>(*p).fetch_add(v, std::memory_order_relaxed);
}
template <class T> inline T atomicCAS(T* p, T cmp, T v) {
    std::atomic_ref<T>(*p).compare_exchange_strong(cmp, v, std::memory_order_relaxed,
                                                   std::memory_order_relaxed);
    return cmp;  // the old value, whether or not the swap happened
}

// ORD as in common.cuh: 0 relaxed.cta, 1 relaxed.gpu, 2 acq_rel.cta, 3 acq_rel.gpu,
// 4 seq_cst.cta, 5 seq_cst.gpu.
template <int ORD> struct DbEmuOrder {
    static constexpr std::memory_order rmw =
        ORD <= 1 ? std::memory_order_relaxed : std::memory_order_acq_rel;
    // The failure order of a CAS may not be a release order.
    static constexpr std::memory_order fail =
        ORD <= 1 ? std::memory_order_relaxed : std::memory_order_acquire;
    static void fence() {
        if (ORD >= 4) std::atomic_thread_fence(std::memory_order_seq_cst);
    }
};

// A read-modify-write that replaces the word w by f(w), as one atomic operation.
template <int ORD, class B, class F> inline B db_emu_rmw(B* p, F f) {
    DbEmuOrder<ORD>::fence();
    std::atomic_ref<B> a(*p);
    B old = a.load(std::memory_order_relaxed);
    while (!a.compare_exchange_weak(old, f(old), DbEmuOrder<ORD>::rmw, DbEmuOrder<ORD>::fail)) {
    }
    return old;
}

// Half-format atomic adds (atom.add.noftz.f16 / .bf16): the sum of two halves is exact in
// f64 (their exponents differ by less than 53 - 11 for f16); it is then rounded once to the
// format, to nearest even, as the hardware's add does.
inline unsigned short db_emu_f64_to_f16(double d) {
    _Float16 v = (_Float16)d;
    unsigned short h;
    std::memcpy(&h, &v, 2);
    return h;
}
// f64 -> bf16 to nearest even: first to f32 rounding to odd (truncate, then set the last
// bit if anything was dropped), which makes the second rounding exact (f32 has more than
// two bits beyond bf16's).
inline unsigned short db_emu_f64_to_bf16_rn(double d) {
    float f = (float)d;
    if (std::isfinite(f) && std::fabs((double)f) > std::fabs(d)) f = std::nextafter(f, 0.0f);
    unsigned u = __float_as_uint(f);
    if (std::isfinite(d) && (double)f != d) u |= 1u;
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
    return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline double db_emu_bf16_to_f64(unsigned short b) {
    return (double)__uint_as_float((unsigned)b << 16);
}

template <int ORD> struct DbEmuAtom {
    static void fence() { DbEmuOrder<ORD>::fence(); }
    template <class T> static T add(T* p, T v) {
        DbEmuOrder<ORD>::fence();
        return std::atomic_ref<T>(*p).fetch_add(v, DbEmuOrder<ORD>::rmw);
    }
    static unsigned short add_f16(unsigned short* p, unsigned short v) {
        return db_emu_rmw<ORD>(p, [v](unsigned short o) {
            return db_emu_f64_to_f16((double)db_f16_to_f32(o) + (double)db_f16_to_f32(v));
        });
    }
    static unsigned short add_bf16(unsigned short* p, unsigned short v) {
        return db_emu_rmw<ORD>(p, [v](unsigned short o) {
            return db_emu_f64_to_bf16_rn(db_emu_bf16_to_f64(o) + db_emu_bf16_to_f64(v));
        });
    }
    template <class T> static T cas(T* p, T cmp, T v) {
        DbEmuOrder<ORD>::fence();
        std::atomic_ref<T>(*p).compare_exchange_strong(cmp, v, DbEmuOrder<ORD>::rmw,
                                                       DbEmuOrder<ORD>::fail);
        return cmp;
    }
    template <class T> static T load(const T* p) {
        return std::atomic_ref<T>(*const_cast<T*>(p)).load(std::memory_order_relaxed);
    }
};
