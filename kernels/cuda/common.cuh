// detbench CUDA prelude: the helpers every kernel family shares, compiled by NVRTC without
// any CUDA header. The host prepends this file to each family's source (src/backend/cuda.rs,
// `CudaDevice::module`), so a module is still one self-contained program and the family's
// own `-D` defines (DB_IN_T, DB_ACC_T, DB_ORDERED_ATOMICS, ...) apply here too; a family that
// does not set them compiles none of the parts that depend on them.
//
// Arithmetic contract (reduce.cu and scatter.cu rely on it; src/ops/reduce/cpu.rs is the
// reference):
// - every rounding step is an explicit _rn intrinsic, so --fmad=true cannot contract an
//   a*b+c that the CPU rounds twice (and an fma the CPU does is an explicit fma here);
// - each accumulator operation reproduces the CPU's `Arith` exactly: the CPU carries values
//   in f64 and rounds after every operation, i.e. op = round_A(fl64(a op b)). Where both
//   operands are f32 and A is f32 this equals the native f32 operation (53 >= 2*24+2,
//   Figueroa 1995); otherwise the operation is done in f64 here too and rounded with the
//   CPU's rounding. The CPU rounds an f64 to f16 or bf16 once, to nearest even
//   (`Precision::round`, src/numerics/precision.rs); db_f64_to_f16 and db_f64_to_bf16
//   below do the same, so they agree bit for bit on every f64, ties included.

typedef unsigned short db_u16;
typedef unsigned int db_u32;
typedef unsigned long long db_u64;
typedef long long db_i64;

// Entry points are `{name}{DB_SUFFIX}`; DB_SUFFIX names the module's formats, e.g. f16_f32.
#define DB_PASTE2(a, b) a##b
#define DB_PASTE(a, b) DB_PASTE2(a, b)
#define DB_ENTRY(name) DB_PASTE(name, DB_SUFFIX)

// ---------------------------------------------------------------------------------------
// Format conversions (no cuda_fp16.h: halves are raw 16-bit patterns).

// DB_HOST_EMU: kernels/cuda/emu/module.cpp compiles this prelude and a family on the host
// with g++ to run the kernels without a GPU; kernels/cuda/emu/cuda_host.h supplies its own
// versions of the few functions written in inline PTX (these conversions, the ordered
// atomics, the mma).
#ifndef DB_HOST_EMU
__device__ __forceinline__ float db_f16_to_f32(db_u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ db_u16 db_f32_to_f16(float f) {
    db_u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
#endif

__device__ __forceinline__ float db_bf16_to_f32(db_u16 b) {
    return __uint_as_float(((db_u32)b) << 16);
}

// f64 -> f32 rounded to odd: toward zero, then the last bit set if anything was dropped.
// Rounding that f32 to nearest even in a format at least two bits narrower (f16: 11 bits,
// bf16: 8, both also on a grid at least two bits coarser in f32's subnormal range) gives the
// f64's own correctly rounded value: the odd bit stands for everything below f32 and can
// never make a tie. Rounding the f64 to nearest f32 first instead rounds twice, e.g.
// 1 + 2^-8 + 2^-40 becomes the bf16 tie 1 + 2^-8 and then 1 instead of 1 + 2^-7. Values
// above f32's range stay at FLT_MAX (odd), which then rounds to infinity in both formats.
__device__ __forceinline__ float db_f64_to_f32_odd(double d) {
    float f = __double2float_rz(d);
    if ((double)f != d && d == d) {
        f = __uint_as_float(__float_as_uint(f) | 1u);
    }
    return f;
}

// f64 -> f16, round to nearest even, once.
__device__ __forceinline__ db_u16 db_f64_to_f16(double d) {
    return db_f32_to_f16(db_f64_to_f32_odd(d));
}

// f64 -> bf16, round to nearest even, once: the odd f32's top 16 bits rounded on the low
// 16 (the carry into the exponent gives the next binade or infinity); a NaN stays quiet.
__device__ __forceinline__ db_u16 db_f64_to_bf16(double d) {
    const db_u32 u = __float_as_uint(db_f64_to_f32_odd(d));
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
        return (db_u16)((u >> 16) | 0x0040u);
    }
    return (db_u16)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// ---------------------------------------------------------------------------------------
// Input formats: S is the storage type, T the exact register value of one element.

struct InF32 {
    typedef float S;
    typedef float T;
    static __device__ __forceinline__ T load(const S* p, db_u64 i) { return p[i]; }
};
struct InF64 {
    typedef double S;
    typedef double T;
    static __device__ __forceinline__ T load(const S* p, db_u64 i) { return p[i]; }
};
struct InF16 {
    typedef db_u16 S;
    typedef float T;
    static __device__ __forceinline__ T load(const S* p, db_u64 i) { return db_f16_to_f32(p[i]); }
};
struct InBF16 {
    typedef db_u16 S;
    typedef float T;
    static __device__ __forceinline__ T load(const S* p, db_u64 i) { return db_bf16_to_f32(p[i]); }
};

template <class X, class Y> struct db_both_float { static const bool value = false; };
template <> struct db_both_float<float, float> { static const bool value = true; };

__device__ __forceinline__ float db_to_f32(float v) { return v; }
__device__ __forceinline__ float db_to_f32(double v) { return __double2float_rn(v); }

// ---------------------------------------------------------------------------------------
// Accumulator formats. V is the register type holding an accumulator value exactly
// (f16 and bf16 values are held in a float); W is the type of the word atomics work on.
// Every operation is round_A(fl64(a op b)), as the CPU's `Arith` computes it.

struct AccF32 {
    typedef float V;
    typedef float W;
    static __device__ __forceinline__ V round(double d) { return __double2float_rn(d); }
    template <class X, class Y> static __device__ __forceinline__ V add(X a, Y b) {
        if constexpr (db_both_float<X, Y>::value) {
            return __fadd_rn(a, b);
        } else {
            return __double2float_rn(__dadd_rn((double)a, (double)b));
        }
    }
    template <class X, class Y> static __device__ __forceinline__ V sub(X a, Y b) {
        if constexpr (db_both_float<X, Y>::value) {
            return __fsub_rn(a, b);
        } else {
            return __double2float_rn(__dsub_rn((double)a, (double)b));
        }
    }
    template <class X> static __device__ __forceinline__ V mul(X a, X b) {
        if constexpr (db_both_float<X, X>::value) {
            // The f64 product of two floats is exact, so one f32 rounding is the CPU's.
            return __fmul_rn(a, b);
        } else {
            return __double2float_rn(__dmul_rn((double)a, (double)b));
        }
    }
    // CPU: (x as f32).mul_add(y as f32, acc as f32).
    template <class X> static __device__ __forceinline__ V dot_step(V acc, X x, X y) {
        return __fmaf_rn(db_to_f32(x), db_to_f32(y), acc);
    }
    // CPU: (x as f32).mul_add(y as f32, -(p as f32)).
    template <class X> static __device__ __forceinline__ V product_error(X x, X y, V p) {
        return __fmaf_rn(db_to_f32(x), db_to_f32(y), -p);
    }
    static __device__ __forceinline__ W to_word(V v) { return v; }
    static __device__ __forceinline__ V from_word(W w) { return w; }
};

struct AccF64 {
    typedef double V;
    typedef double W;
    static __device__ __forceinline__ V round(double d) { return d; }
    template <class X, class Y> static __device__ __forceinline__ V add(X a, Y b) {
        return __dadd_rn((double)a, (double)b);
    }
    template <class X, class Y> static __device__ __forceinline__ V sub(X a, Y b) {
        return __dsub_rn((double)a, (double)b);
    }
    template <class X> static __device__ __forceinline__ V mul(X a, X b) {
        return __dmul_rn((double)a, (double)b);
    }
    template <class X> static __device__ __forceinline__ V dot_step(V acc, X x, X y) {
        return __fma_rn((double)x, (double)y, acc);
    }
    template <class X> static __device__ __forceinline__ V product_error(X x, X y, V p) {
        return __fma_rn((double)x, (double)y, -p);
    }
    static __device__ __forceinline__ W to_word(V v) { return v; }
    static __device__ __forceinline__ V from_word(W w) { return w; }
};

// Shared by the two half formats: the operation in f64, then the format's rounding R.
template <class R> struct AccHalf {
    typedef float V;
    typedef db_u16 W;
    static __device__ __forceinline__ V round(double d) { return R::to_f32(R::from_f64(d)); }
    template <class X, class Y> static __device__ __forceinline__ V add(X a, Y b) {
        return round(__dadd_rn((double)a, (double)b));
    }
    template <class X, class Y> static __device__ __forceinline__ V sub(X a, Y b) {
        return round(__dsub_rn((double)a, (double)b));
    }
    template <class X> static __device__ __forceinline__ V mul(X a, X b) {
        return round(__dmul_rn((double)a, (double)b));
    }
    // Halves never fuse: add(acc, round(x*y)).
    template <class X> static __device__ __forceinline__ V dot_step(V acc, X x, X y) {
        return add(acc, mul(x, y));
    }
    // CPU: round(x*y - p), with x*y and the subtraction in f64.
    template <class X> static __device__ __forceinline__ V product_error(X x, X y, V p) {
        return round(__dsub_rn(__dmul_rn((double)x, (double)y), (double)p));
    }
    static __device__ __forceinline__ W to_word(V v) { return R::from_f64((double)v); }
    static __device__ __forceinline__ V from_word(W w) { return R::to_f32(w); }
};

struct RoundF16 {
    // f16 values are exact in f32.
    static __device__ __forceinline__ db_u16 from_f64(double d) { return db_f64_to_f16(d); }
    static __device__ __forceinline__ float to_f32(db_u16 h) { return db_f16_to_f32(h); }
};
struct RoundBF16 {
    static __device__ __forceinline__ db_u16 from_f64(double d) { return db_f64_to_bf16(d); }
    static __device__ __forceinline__ float to_f32(db_u16 b) { return db_bf16_to_f32(b); }
};
typedef AccHalf<RoundF16> AccF16;
typedef AccHalf<RoundBF16> AccBF16;

// ---------------------------------------------------------------------------------------
// fixed_point (reduce.cu and scatter.cu): one term quantized as src/shared/fixed.rs's
// fixed_quantize does it, so the kernels agree with the CPU and WGSL at the edges: v * 2^k
// rounded to an integer (ties to even); `lost` when bits were dropped, i.e. a non-finite v
// (it adds 0), a rounding, or a scaling that underflowed to 0 (k < 0 with a tiny v: then
// q == scaled == 0 although all of v was dropped). |q| < 2^61 by the host's choice of k,
// so the conversion is exact.

__device__ __forceinline__ db_i64 db_fixed_quantize(double v, int k, bool& lost) {
    // False for NaN and both infinities.
    if (!(fabs(v) <= 1.7976931348623157e308)) {
        lost = true;
        return 0;
    }
    const double scaled = ldexp(v, k);
    const double q = rint(scaled);
    lost = q != scaled || (q == 0.0 && v != 0.0);
    return (db_i64)q;
}

// The CPU's nan_max: a NaN operand wins (fmax would drop it).
__device__ __forceinline__ double db_nan_max(double a, double b) {
    if (a != a) {
        return a;
    }
    if (b != b) {
        return b;
    }
    return fmax(a, b);
}

// ---------------------------------------------------------------------------------------
// Binned reproducible accumulation (src/numerics/repro.rs): the layout and the exact
// integer deposits, shared by reduce.cu and scatter.cu.

#define DB_MAX_FOLDS 3
#define DB_LOG2_R 8

__device__ __forceinline__ float db_radd(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double db_radd(double a, double b) { return __dadd_rn(a, b); }
// r with the last bit of its encoding set: a binned deposit adds r | 1, so the rounding to
// the primary's quantum is never a tie (see src/numerics/repro.rs).
__device__ __forceinline__ float db_or1(float r) { return __uint_as_float(__float_as_uint(r) | 1u); }
__device__ __forceinline__ double db_or1(double r) {
    return __longlong_as_double(__double_as_longlong(r) | 1ll);
}
__device__ __forceinline__ float db_rsub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double db_rsub(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float db_rmul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double db_rmul(double a, double b) { return __dmul_rn(a, b); }

template <class F> struct DbBin;
template <> struct DbBin<float> {
    static const int emin = -126;
    static const int emax = 127;
    static const int p = 24;
};
template <> struct DbBin<double> {
    static const int emin = -1022;
    static const int emax = 1023;
    static const int p = 53;
};

// The layout as ReproParams::new computes it: layout[0] = status (0 ok, 1 too large),
// layout[1] = folds, layout[2..5] = a_k.
template <class F> __device__ void db_repro_layout(double max_abs, int* layout) {
    const int emin = DbBin<F>::emin;
    const int emax = DbBin<F>::emax;
    const int p = DbBin<F>::p;
    const int w = p - DB_LOG2_R - 3;
    const double min_normal = ldexp(1.0, emin);
    // A non-finite max (NaN or inf among the terms) cannot be binned: report it too large.
    if (!(max_abs <= 1.7976931348623157e308)) {
        layout[0] = 1;
        layout[1] = 0;
        for (int k = 0; k < DB_MAX_FOLDS; ++k) {
            layout[2 + k] = 0;
        }
        return;
    }
    int e_m;
    if (max_abs >= min_normal) {
        // max_abs is a normal f64 here: its biased exponent field gives floor(log2).
        e_m = (int)((((db_u64)__double_as_longlong(max_abs)) >> 52) & 0x7FFull) - 1023;
    } else {
        e_m = emin;
    }
    int a1 = e_m + 1 + DB_LOG2_R + 3;
    if (a1 < emin + p) {
        a1 = emin + p;
    }
    if (a1 + 1 > emax) {
        layout[0] = 1;
        layout[1] = 0;
        for (int k = 0; k < DB_MAX_FOLDS; ++k) {
            layout[2 + k] = 0;
        }
        return;
    }
    int folds = 1 + (a1 - (emin + p)) / w;
    if (folds > DB_MAX_FOLDS) {
        folds = DB_MAX_FOLDS;
    }
    layout[0] = 0;
    layout[1] = folds;
    for (int k = 0; k < DB_MAX_FOLDS; ++k) {
        layout[2 + k] = k < folds ? a1 - k * w : 0;
    }
}

// The binned sums as exact integers (reduce.cu's and scatter.cu's reproducible): with the
// bin layout fixed, a deposit adds to fold k the remainder rounded to the fold's quantum
// u_k, which depends on the remainder alone, so each fold is an exact integer count of
// quanta, kept in DbLimbs<F>::N little-endian u32 words of two's complement (see
// finalize_lanes in src/ops/scatter/cpu.rs). Only modules with binning compile it.
#if defined(DB_REPRO)
template <class F> struct DbLimbs;
template <> struct DbLimbs<float> {
    static const db_u32 N = 2;
    // An integer |m| < 2^24.
    static __device__ __forceinline__ void split(float m, db_u32* v) {
        int i = __float2int_rn(m);
        v[0] = (db_u32)i;
        v[1] = i < 0 ? 0xffffffffu : 0u;
        v[2] = 0;
    }
};
template <> struct DbLimbs<double> {
    static const db_u32 N = 3;
    // An integer |m| < 2^53.
    static __device__ __forceinline__ void split(double m, db_u32* v) {
        double hi = floor(__dmul_rn(m, 2.3283064365386962890625e-10));  // 2^-32
        double lo = __dsub_rn(m, __dmul_rn(hi, 4294967296.0));  // 2^32
        int h = __double2int_rn(hi);
        v[0] = __double2uint_rn(lo);
        v[1] = (db_u32)h;
        v[2] = h < 0 ? 0xffffffffu : 0u;
    }
};

// Adds the value of limbs v into the words at w: the carry out of each limb is whether the
// atomic add wrapped, so the words end at the exact total mod 2^(32 N), in any order.
template <db_u32 N> __device__ __forceinline__ void db_limbs_add(db_u32* w, const db_u32* v) {
    db_u32 o0 = atomicAdd(w, v[0]);
    db_u32 c0 = (db_u32)(o0 + v[0] < o0);
    db_u32 t1 = v[1] + c0;
    db_u32 c1 = (db_u32)(t1 < v[1]);
    if (t1 != 0) {
        db_u32 o1 = atomicAdd(w + 1, t1);
        c1 += (db_u32)(o1 + t1 < o1);
    }
    if (N == 3) {
        db_u32 t2 = v[2] + c1;
        if (t2 != 0) {
            atomicAdd(w + 2, t2);
        }
    }
}

// Quanta counts q_k / u_k of one term, the primary at its starting value 1.5 * 2^a_k
// (any primary of the binade gives the same q_k).
template <class F>
__device__ __forceinline__ void db_slices(F x, const int* layout, F* m) {
    const int folds = layout[1];
    F r = x;
    for (int k = 0; k < DB_MAX_FOLDS; ++k) {
        m[k] = (F)0;
        if (k < folds) {
            const int a = layout[2 + k];
            const F sig = (F)ldexp(1.5, a);
            F s = db_radd(sig, db_or1(r));
            F q = db_rsub(s, sig);
            m[k] = db_rmul(q, (F)ldexp(1.0, DbBin<F>::p - 1 - a));
            r = db_rsub(r, q);
        }
    }
}
#endif  // DB_REPRO

// ---------------------------------------------------------------------------------------
// Atomics under an explicit PTX memory ordering (PTX ISA, memory consistency model).
// ORD: 0 relaxed.cta, 1 relaxed.gpu, 2 acq_rel.cta, 3 acq_rel.gpu, 4 seq_cst.cta,
// 5 seq_cst.gpu. seq_cst is a fence.sc of the scope followed by an acq_rel atomic, the
// PTX mapping of a sequentially consistent read-modify-write. A .cta-scoped atomic on a
// word other blocks also update is a data race under the PTX model; measuring what the
// hardware does with it anyway is the point of running it.

#if DB_ORDERED_ATOMICS

template <int ORD> struct DbAtom;

#if defined(DB_HOST_EMU)
// The host emulation (kernels/cuda/emu/cuda_host.h) replaces the inline PTX below by
// std::atomic_ref operations of the matching C++ memory order.
template <int ORD> struct DbAtom : DbEmuAtom<ORD> {};
#else
#define DB_ATOM(ORD, SEMSCOPE, SCOPE, FENCE)                                                  \
    template <> struct DbAtom<ORD> {                                                          \
        static __device__ __forceinline__ void fence() { FENCE }                              \
        static __device__ __forceinline__ float add(float* p, float v) {                      \
            float old;                                                                        \
            fence();                                                                          \
            asm volatile("atom" SEMSCOPE ".add.f32 %0, [%1], %2;"                              \
                         : "=f"(old) : "l"(p), "f"(v) : "memory");                            \
            return old;                                                                       \
        }                                                                                     \
        static __device__ __forceinline__ double add(double* p, double v) {                   \
            double old;                                                                       \
            fence();                                                                          \
            asm volatile("atom" SEMSCOPE ".add.f64 %0, [%1], %2;"                              \
                         : "=d"(old) : "l"(p), "d"(v) : "memory");                            \
            return old;                                                                       \
        }                                                                                     \
        static __device__ __forceinline__ db_u16 add_f16(db_u16* p, db_u16 v) {               \
            db_u16 old;                                                                       \
            fence();                                                                          \
            asm volatile("atom" SEMSCOPE ".add.noftz.f16 %0, [%1], %2;"                        \
                         : "=h"(old) : "l"(p), "h"(v) : "memory");                            \
            return old;                                                                       \
        }                                                                                     \
        DB_ATOM_BF16(SEMSCOPE)                                                                \
        static __device__ __forceinline__ db_u16 cas(db_u16* p, db_u16 cmp, db_u16 v) {       \
            db_u16 old;                                                                       \
            fence();                                                                          \
            asm volatile("atom" SEMSCOPE ".cas.b16 %0, [%1], %2, %3;"                          \
                         : "=h"(old) : "l"(p), "h"(cmp), "h"(v) : "memory");                  \
            return old;                                                                       \
        }                                                                                     \
        static __device__ __forceinline__ db_u32 cas(db_u32* p, db_u32 cmp, db_u32 v) {       \
            db_u32 old;                                                                       \
            fence();                                                                          \
            asm volatile("atom" SEMSCOPE ".cas.b32 %0, [%1], %2, %3;"                          \
                         : "=r"(old) : "l"(p), "r"(cmp), "r"(v) : "memory");                  \
            return old;                                                                       \
        }                                                                                     \
        static __device__ __forceinline__ db_u64 cas(db_u64* p, db_u64 cmp, db_u64 v) {       \
            db_u64 old;                                                                       \
            fence();                                                                          \
            asm volatile("atom" SEMSCOPE ".cas.b64 %0, [%1], %2, %3;"                          \
                         : "=l"(old) : "l"(p), "l"(cmp), "l"(v) : "memory");                  \
            return old;                                                                       \
        }                                                                                     \
        static __device__ __forceinline__ db_u16 load(const db_u16* p) {                      \
            db_u16 v;                                                                         \
            asm volatile("ld.relaxed" SCOPE ".b16 %0, [%1];" : "=h"(v) : "l"(p) : "memory");  \
            return v;                                                                         \
        }                                                                                     \
        static __device__ __forceinline__ db_u32 load(const db_u32* p) {                      \
            db_u32 v;                                                                         \
            asm volatile("ld.relaxed" SCOPE ".b32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");  \
            return v;                                                                         \
        }                                                                                     \
        static __device__ __forceinline__ db_u64 load(const db_u64* p) {                      \
            db_u64 v;                                                                         \
            asm volatile("ld.relaxed" SCOPE ".b64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");  \
            return v;                                                                         \
        }                                                                                     \
    };

#if DB_NATIVE_ATOMIC && defined(DB_ACC_IS_BF16)
// bf16 atomic add: PTX ISA 7.8, sm_90 (the host only sets DB_NATIVE_ATOMIC there).
#define DB_ATOM_BF16(SEMSCOPE)                                                                \
    static __device__ __forceinline__ db_u16 add_bf16(db_u16* p, db_u16 v) {                  \
        db_u16 old;                                                                           \
        fence();                                                                              \
        asm volatile("atom" SEMSCOPE ".add.noftz.bf16 %0, [%1], %2;"                           \
                     : "=h"(old) : "l"(p), "h"(v) : "memory");                                \
        return old;                                                                           \
    }
#else
#define DB_ATOM_BF16(SEMSCOPE)
#endif

DB_ATOM(0, ".relaxed.cta", ".cta", )
DB_ATOM(1, ".relaxed.gpu", ".gpu", )
DB_ATOM(2, ".acq_rel.cta", ".cta", )
DB_ATOM(3, ".acq_rel.gpu", ".gpu", )
DB_ATOM(4, ".acq_rel.cta", ".cta", asm volatile("fence.sc.cta;" ::: "memory");)
DB_ATOM(5, ".acq_rel.gpu", ".gpu", asm volatile("fence.sc.gpu;" ::: "memory");)
#endif  // DB_HOST_EMU

// M(ORD, NAME) for every ordering: one entry point each, named with the suffixes of
// src/ops/common.rs (cuda_ordering_suffix).
#define DB_EACH_ORDERING(M)                                                                    \
    M(0, relaxed_cta) M(1, relaxed_gpu) M(2, acq_rel_cta) M(3, acq_rel_gpu) M(4, seq_cst_cta)  \
    M(5, seq_cst_gpu)

// Native atomic add of an accumulator value into the accumulator word.
template <int ORD> __device__ __forceinline__ void db_atomic_add(AccF32, float* w, float v) {
    DbAtom<ORD>::add(w, v);
}
template <int ORD> __device__ __forceinline__ void db_atomic_add(AccF64, double* w, double v) {
    DbAtom<ORD>::add(w, v);
}
template <int ORD> __device__ __forceinline__ void db_atomic_add(AccF16, db_u16* w, float v) {
    DbAtom<ORD>::add_f16(w, AccF16::to_word(v));
}
#if DB_NATIVE_ATOMIC && defined(DB_ACC_IS_BF16)
template <int ORD> __device__ __forceinline__ void db_atomic_add(AccBF16, db_u16* w, float v) {
    DbAtom<ORD>::add_bf16(w, AccBF16::to_word(v));
}
#endif

// Bits of an accumulator word, for compare-and-swap.
__device__ __forceinline__ db_u32 db_word_bits(float v) { return __float_as_uint(v); }
__device__ __forceinline__ db_u64 db_word_bits(double v) {
    return (db_u64)__double_as_longlong(v);
}
__device__ __forceinline__ db_u16 db_word_bits(db_u16 v) { return v; }
__device__ __forceinline__ float db_word_from_bits(float*, db_u32 b) { return __uint_as_float(b); }
__device__ __forceinline__ double db_word_from_bits(double*, db_u64 b) {
    return __longlong_as_double((db_i64)b);
}
__device__ __forceinline__ db_u16 db_word_from_bits(db_u16*, db_u16 b) { return b; }

template <class W> struct DbBitsOf;
template <> struct DbBitsOf<float> { typedef db_u32 B; };
template <> struct DbBitsOf<double> { typedef db_u64 B; };
template <> struct DbBitsOf<db_u16> { typedef db_u16 B; };

// One compare-and-swap loop: the word becomes round_A(word + v), the CPU's `cas_add`.
template <class Acc, int ORD>
__device__ __forceinline__ void db_cas_add(typename Acc::W* w, typename Acc::V v) {
    typedef typename Acc::W W;
    typedef typename DbBitsOf<W>::B B;
    B* p = reinterpret_cast<B*>(w);
    B old = DbAtom<ORD>::load(p);
    while (true) {
        B assumed = old;
        W cur = db_word_from_bits((W*)0, assumed);
        W next = Acc::to_word(Acc::add(Acc::from_word(cur), v));
        old = DbAtom<ORD>::cas(p, assumed, db_word_bits(next));
        if (old == assumed) {
            break;
        }
    }
}
#endif  // DB_ORDERED_ATOMICS

// ---------------------------------------------------------------------------------------
// The module's (input, accumulator) pair, for families that pick formats by type name.

#if defined(DB_IN_T) && defined(DB_ACC_T)
typedef DB_IN_T DbIn;
typedef DB_ACC_T DbAcc;
typedef DbIn::S DbS;
typedef DbAcc::V DbV;
typedef DbAcc::W DbW;
#endif

// ---------------------------------------------------------------------------------------
// GEMM-shaped families (conv.cu, matmul.cu; rows.cu for its sums; their modules define
// DB_GEMM): the arithmetic and output store of src/shared/gemm.rs's GemmArith, the atomic
// cell add of their split-K variants, and one warp's mma.sync steps over a shared-memory
// reduction tile.
#if defined(DB_GEMM) && defined(DB_IN_T) && defined(DB_ACC_T)

// f32 -> bf16, round to nearest even, as the `half` crate's from_f32.
__device__ __forceinline__ db_u16 db_f32_to_bf16(float f) {
    db_u32 x = __float_as_uint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (db_u16)((x >> 16) | 0x0040u);
    }
    db_u32 round_bit = 0x00008000u;
    if ((x & round_bit) != 0u && (x & (3u * round_bit - 1u)) != 0u) {
        return (db_u16)((x >> 16) + 1u);
    }
    return (db_u16)(x >> 16);
}

// The module's formats (DbIn, DbAcc, DbS, DbV, above) as GemmArith in src/shared/gemm.rs
// computes: acc + a*b with the product and the sum each rounded, and in a half accumulator
// round_h(acc + round_h(a*b)) in f32 (the rounding to bf16 is the f32 one above, not the
// f64 one of db_f64_to_bf16, which the reductions' CPU emulation uses).
__device__ __forceinline__ DbIn::T db_load(const DbS* p, db_u32 i) { return DbIn::load(p, i); }

template <class A> struct DbGemmAcc;
template <> struct DbGemmAcc<AccF64> {
    static const bool HALF = false;
    static __device__ __forceinline__ double step(double acc, double a, double b) {
        return __dadd_rn(acc, __dmul_rn(a, b));
    }
    static __device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
    static __device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
};
template <> struct DbGemmAcc<AccF32> {
    static const bool HALF = false;
    static __device__ __forceinline__ float step(float acc, float a, float b) {
        return __fadd_rn(acc, __fmul_rn(a, b));
    }
    static __device__ __forceinline__ float add(float a, float b) { return __fadd_rn(a, b); }
    static __device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
};
// A half accumulator: R rounds an f32 to the half format and back.
template <class R> struct DbGemmHalfAcc {
    static const bool HALF = true;
    static __device__ __forceinline__ float step(float acc, float a, float b) {
        return R::round(__fadd_rn(acc, R::round(__fmul_rn(a, b))));
    }
    static __device__ __forceinline__ float add(float a, float b) { return R::round(__fadd_rn(a, b)); }
    static __device__ __forceinline__ float mul(float a, float b) { return R::round(__fmul_rn(a, b)); }
};
struct DbGemmRoundF16 {
    static __device__ __forceinline__ float round(float v) { return db_f16_to_f32(db_f32_to_f16(v)); }
};
struct DbGemmRoundBF16 {
    static __device__ __forceinline__ float round(float v) { return db_bf16_to_f32(db_f32_to_bf16(v)); }
};
template <> struct DbGemmAcc<AccF16> : DbGemmHalfAcc<DbGemmRoundF16> {};
template <> struct DbGemmAcc<AccBF16> : DbGemmHalfAcc<DbGemmRoundBF16> {};

__device__ __forceinline__ DbV db_step(DbV acc, DbV a, DbV b) { return DbGemmAcc<DbAcc>::step(acc, a, b); }
__device__ __forceinline__ DbV db_add(DbV a, DbV b) { return DbGemmAcc<DbAcc>::add(a, b); }
__device__ __forceinline__ DbV db_mul(DbV a, DbV b) { return DbGemmAcc<DbAcc>::mul(a, b); }

// Output words: the storage format. An accumulator value is rounded once to f32 (if it is
// an f64 and the output is not) and then to the half format.
template <class I> struct DbGemmOut;
template <> struct DbGemmOut<InF64> {
    typedef double O;
    static __device__ __forceinline__ O store(double v) { return v; }
};
template <> struct DbGemmOut<InF32> {
    typedef float O;
    static __device__ __forceinline__ O store(double v) { return __double2float_rn(v); }
    static __device__ __forceinline__ O store(float v) { return v; }
};
template <> struct DbGemmOut<InF16> {
    typedef db_u16 O;
    static __device__ __forceinline__ O store(double v) { return db_f32_to_f16(__double2float_rn(v)); }
    static __device__ __forceinline__ O store(float v) { return db_f32_to_f16(v); }
};
template <> struct DbGemmOut<InBF16> {
    typedef db_u16 O;
    static __device__ __forceinline__ O store(double v) { return db_f32_to_bf16(__double2float_rn(v)); }
    static __device__ __forceinline__ O store(float v) { return db_f32_to_bf16(v); }
};
typedef DbGemmOut<DbIn>::O DbO;
__device__ __forceinline__ DbO db_store(DbV v) { return DbGemmOut<DbIn>::store(v); }

__device__ __forceinline__ db_u32 db_min(db_u32 a, db_u32 b) { return a < b ? a : b; }

// The second passes of split-K, thread e of a 1-D grid: `layers` layers of `out` partials
// added in layer order 0, 1, ... from +0 and stored; or an atomically accumulated cell
// stored.
__device__ __forceinline__ void db_split_finish(const DbV* partials, db_u32 layers, db_u32 out, DbO* C) {
    const db_u32 e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= out) return;
    DbV acc = (DbV)0;
    for (db_u32 j = 0; j < layers; j++) acc = db_add(acc, partials[(db_u64)j * out + e]);
    C[e] = db_store(acc);
}
__device__ __forceinline__ void db_cells_finish(const DbV* cells, db_u32 out, DbO* C) {
    const db_u32 e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= out) return;
    C[e] = db_store(cells[e]);
}

#if DB_ORDERED_ATOMICS
// One split-K partial added into a zeroed accumulator cell under the PTX ordering ORD
// (DbAtom above: 0 relaxed.cta, 1 relaxed.gpu, 2 acq_rel.cta, 3 acq_rel.gpu, 4 seq_cst.cta,
// 5 seq_cst.gpu). f32 and f64 accumulators use the native
// atom.add; a half accumulator is kept as the f32 of its value and updated with a
// compare-and-swap loop that rounds each sum to the half format (there is no atomic add
// that rounds to a half and keeps it in f32).
template <int ORD> __device__ __forceinline__ void db_cell_add(DbV* cell, DbV v) {
    if constexpr (DbGemmAcc<DbAcc>::HALF) {
        db_u32* p = reinterpret_cast<db_u32*>(cell);
        db_u32 old = DbAtom<ORD>::load(p);
        while (true) {
            const db_u32 assumed = old;
            const db_u32 next = __float_as_uint(db_add(__uint_as_float(assumed), v));
            old = DbAtom<ORD>::cas(p, assumed, next);
            if (old == assumed) break;
        }
    } else {
        DbAtom<ORD>::add(cell, v);
    }
}
#endif  // DB_ORDERED_ATOMICS

#if defined(DB_MMA)
// The mma's input type, e.g. "f16".
#define DB_MMA_STR2(x) #x
#define DB_MMA_STR(x) DB_MMA_STR2(x)
#define DB_MMA_TYPE DB_MMA_STR(DB_MMA)

// Words per row of a tensor-core shared-memory tile: 16 words hold the 32 halves of one row
// (or column) of a 32-deep reduction tile, two per word with the lower k in the low half;
// 4 words of padding spread a warp's fragment reads over all 32 banks (conv.cu's layout
// notes).
#define DB_TC_LD 20

#ifndef DB_HOST_EMU
// d += A(16x16) B(16x8) for one warp. Fragments (PTX ISA, "Matrix Fragments for
// mma.m16n8k16 with floating point type"), with g = lane / 4 and t = lane % 4:
//   a[0] = {A[g][2t],     A[g][2t+1]}      a[1] = {A[g+8][2t],   A[g+8][2t+1]}
//   a[2] = {A[g][2t+8],   A[g][2t+9]}      a[3] = {A[g+8][2t+8], A[g+8][2t+9]}
//   b[0] = {B[2t][g],     B[2t+1][g]}      b[1] = {B[2t+8][g],   B[2t+9][g]}
//   d[0] = D[g][2t]   d[1] = D[g][2t+1]    d[2] = D[g+8][2t]     d[3] = D[g+8][2t+1]
// ({lo, hi}: the first element in bits 0..15 of the register.)
__device__ __forceinline__ void db_mma16816(float d[4], const db_u32 a[4], const db_u32 b[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32." DB_MMA_TYPE "." DB_MMA_TYPE ".f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

// One warp's share of a 32-deep reduction tile: as holds rows of A, bs columns of B, each
// DB_TC_LD words; the warp owns the 32 x 32 outputs at rows wm.., columns wn.. as 2 x 4 mma
// tiles of 16 x 8 (g = lane / 4, t = lane % 4), and runs two k16 steps, k increasing.
__device__ __forceinline__ void db_mma_k32(const db_u32* as, const db_u32* bs, db_u32 wm, db_u32 wn,
                                           db_u32 g, db_u32 t, float acc[2][4][4]) {
#pragma unroll
    for (db_u32 ks = 0; ks < 2u; ks++) {
        // Fragments of the k16 step ks (words 8 ks .. 8 ks + 7 of each row), laid out as
        // in the table above db_mma16816.
        db_u32 af[2][4], bf[4][2];
#pragma unroll
        for (int mi = 0; mi < 2; mi++) {
            const db_u32 base = (wm + 16u * (db_u32)mi + g) * DB_TC_LD + 8u * ks + t;
            af[mi][0] = as[base];
            af[mi][1] = as[base + 8u * DB_TC_LD];
            af[mi][2] = as[base + 4u];
            af[mi][3] = as[base + 8u * DB_TC_LD + 4u];
        }
#pragma unroll
        for (int ni = 0; ni < 4; ni++) {
            const db_u32 base = (wn + 8u * (db_u32)ni + g) * DB_TC_LD + 8u * ks + t;
            bf[ni][0] = bs[base];
            bf[ni][1] = bs[base + 4u];
        }
#pragma unroll
        for (int mi = 0; mi < 2; mi++)
#pragma unroll
            for (int ni = 0; ni < 4; ni++) db_mma16816(acc[mi][ni], af[mi], bf[ni]);
    }
}
#endif  // DB_MMA
#endif  // DB_GEMM
