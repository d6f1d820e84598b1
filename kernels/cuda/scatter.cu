// detbench scatter-add kernels (out[idx[i]] += x[i]), compiled by NVRTC without any CUDA
// header, one module per (input format, accumulator format) pair.
//
// Host defines (as for reduce.cu): DB_IN_T, DB_ACC_T, DB_SUFFIX, DB_ORDERED_ATOMICS,
// DB_NATIVE_ATOMIC, DB_REPRO (f32/f64 accumulators), DB_ACC_IS_BF16.
// Entry points: scatter_{variant}[_{ordering}]_{in}_{acc} and the sort kernels
// bin_count_, scan_exclusive_, radix_count_, radix_scatter_, seg_pass1_, seg_pass2_,
// rseg_pass1_, rseg_pass2_ (each with the suffix).
//
// The format conversions, the accumulator arithmetic (each add is round_A(fl64(a + b)),
// the CPU's `Arith`), the ordered atomics and the binned-state helpers are reduce.cu's,
// repeated here because NVRTC compiles one self-contained source per module. The
// sort-based kernels follow src/ops/scatter/mod.rs step for step, like scatter.wgsl, so
// their bits equal the CPU emulation.

typedef unsigned short db_u16;
typedef unsigned int db_u32;
typedef unsigned long long db_u64;
typedef long long db_i64;

// ---------------------------------------------------------------------------------------
// Format conversions (no cuda_fp16.h: halves are raw 16-bit patterns).

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

__device__ __forceinline__ float db_bf16_to_f32(db_u16 b) {
    return __uint_as_float(((db_u32)b) << 16);
}

// The `half` crate's f64 -> bf16 conversion, line for line: keep the top 32 bits of the
// f64 (sign, exponent, 20 fraction bits), then round to nearest even on those.
__device__ __forceinline__ db_u16 db_f64_to_bf16(double value) {
    db_u64 val = (db_u64)__double_as_longlong(value);
    db_u32 x = (db_u32)(val >> 32);
    db_u32 sign = x & 0x80000000u;
    db_u32 exp = x & 0x7FF00000u;
    db_u32 man = x & 0x000FFFFFu;
    if (exp == 0x7FF00000u) {
        db_u32 nan_bit = (man == 0 && (db_u32)val == 0) ? 0u : 0x0040u;
        return (db_u16)((sign >> 16) | 0x7F80u | nan_bit | (man >> 13));
    }
    db_u32 half_sign = sign >> 16;
    int unbiased_exp = (int)(exp >> 20) - 1023;
    int half_exp = unbiased_exp + 127;
    if (half_exp >= 0xFF) {
        return (db_u16)(half_sign | 0x7F80u);
    }
    if (half_exp <= 0) {
        if (7 - half_exp > 21) {
            return (db_u16)half_sign;
        }
        man |= 0x00100000u;
        db_u32 half_man = man >> (14 - half_exp);
        db_u32 round_bit = 1u << (13 - half_exp);
        if ((man & round_bit) != 0u && (man & (3u * round_bit - 1u)) != 0u) {
            half_man += 1u;
        }
        return (db_u16)(half_sign | half_man);
    }
    db_u32 he = ((db_u32)half_exp) << 7;
    db_u32 hm = man >> 13;
    db_u32 round_bit = 0x00001000u;
    if ((man & round_bit) != 0u && (man & (3u * round_bit - 1u)) != 0u) {
        return (db_u16)((half_sign | he | hm) + 1u);
    }
    return (db_u16)(half_sign | he | hm);
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
    // f64 -> f32 -> f16, as `half` does on F16C hosts. f16 values are exact in f32.
    static __device__ __forceinline__ db_u16 from_f64(double d) {
        return db_f32_to_f16(__double2float_rn(d));
    }
    static __device__ __forceinline__ float to_f32(db_u16 h) { return db_f16_to_f32(h); }
};
struct RoundBF16 {
    static __device__ __forceinline__ db_u16 from_f64(double d) { return db_f64_to_bf16(d); }
    static __device__ __forceinline__ float to_f32(db_u16 b) { return db_bf16_to_f32(b); }
};
typedef AccHalf<RoundF16> AccF16;
typedef AccHalf<RoundBF16> AccBF16;
#define DB_MAX_FOLDS 3
#define DB_DEPOSITS_PER_RENORM 256u
#define DB_LOG2_R 8

__device__ __forceinline__ float db_radd(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double db_radd(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float db_rsub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double db_rsub(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ float db_rmul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double db_rmul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float db_rint(float a) { return rintf(a); }
__device__ __forceinline__ double db_rint(double a) { return rint(a); }

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

template <class F> struct DbRepro {
    F primary[DB_MAX_FOLDS];
    int carry[DB_MAX_FOLDS];
};

// The layout as ReproParams::new computes it: layout[0] = status (0 ok, 1 too large),
// layout[1] = folds, layout[2..5] = a_k.
template <class F> __device__ void db_repro_layout(double max_abs, int* layout) {
    const int emin = DbBin<F>::emin;
    const int emax = DbBin<F>::emax;
    const int p = DbBin<F>::p;
    const int w = p - DB_LOG2_R - 3;
    const double min_normal = ldexp(1.0, emin);
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

template <class F> struct DbBinConsts {
    int folds;
    F sigma[DB_MAX_FOLDS];
    F unit[DB_MAX_FOLDS];
    F inv_unit[DB_MAX_FOLDS];
};

template <class F> __device__ __forceinline__ DbBinConsts<F> db_bin_consts(const int* layout) {
    DbBinConsts<F> c;
    c.folds = layout[1];
    for (int k = 0; k < DB_MAX_FOLDS; ++k) {
        int a = layout[2 + k];
        // Powers of two (times 1.5): exact in f64 and in F.
        c.sigma[k] = (F)ldexp(1.5, a);
        c.unit[k] = (F)ldexp(1.0, a - 2);
        c.inv_unit[k] = (F)ldexp(1.0, 2 - a);
    }
    return c;
}

template <class F>
__device__ __forceinline__ void db_renorm(DbRepro<F>& st, const DbBinConsts<F>& c) {
    for (int k = 0; k < DB_MAX_FOLDS; ++k) {
        if (k < c.folds) {
            F d = db_rsub(st.primary[k], c.sigma[k]);
            F q = db_rint(db_rmul(d, c.inv_unit[k]));
            st.primary[k] = db_rsub(st.primary[k], db_rmul(q, c.unit[k]));
            st.carry[k] += (int)q;
        }
    }
}

template <class F> struct DbReproMerge {
    const DbBinConsts<F>* c;
    __device__ __forceinline__ DbRepro<F> operator()(DbRepro<F> a, DbRepro<F> b) const {
        for (int k = 0; k < DB_MAX_FOLDS; ++k) {
            if (k < c->folds) {
                F d = db_rsub(b.primary[k], c->sigma[k]);
                a.primary[k] = db_radd(a.primary[k], d);
                a.carry[k] += b.carry[k];
            }
        }
        db_renorm(a, *c);
        return a;
    }
};
#if DB_ORDERED_ATOMICS

template <int ORD> struct DbAtom;

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
#endif  // DB_ORDERED_ATOMICS (helpers)

// ---------------------------------------------------------------------------------------
// Scatter kernels.

extern __shared__ double db_smem[];

#if DB_ORDERED_ATOMICS

// atomic: one native atomic add per element into its bin, under the ordering ORD.
template <class In, class Acc, int ORD>
__device__ void db_scatter_atomic(const typename In::S* x, const db_u32* idx, db_u64 n,
                                  typename Acc::W* bins) {
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    for (db_u64 i = (db_u64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += threads) {
        db_atomic_add<ORD>(Acc(), bins + idx[i], Acc::round((double)In::load(x, i)));
    }
}

// atomic_cas: one compare-and-swap loop per element on its bin's word.
template <class In, class Acc, int ORD>
__device__ void db_scatter_cas(const typename In::S* x, const db_u32* idx, db_u64 n,
                               typename Acc::W* bins) {
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    for (db_u64 i = (db_u64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += threads) {
        db_cas_add<Acc, ORD>(bins + idx[i], In::load(x, i));
    }
}

// Private words in shared memory: the accumulator value as an f32 (halves are exact in
// f32) in a u32, or an f64 in a u64; updated with compare-and-swap inside the block.
template <class V> struct DbPriv;
template <> struct DbPriv<float> {
    typedef unsigned int B;
    static __device__ __forceinline__ float get(B b) { return __uint_as_float(b); }
    static __device__ __forceinline__ B put(float v) { return __float_as_uint(v); }
};
template <> struct DbPriv<double> {
    typedef unsigned long long B;
    static __device__ __forceinline__ double get(B b) { return __longlong_as_double((db_i64)b); }
    static __device__ __forceinline__ B put(double v) { return (B)__double_as_longlong(v); }
};

// privatized: every block adds into its own copy of all bins in shared memory, then adds
// its non-empty bins into the global ones (natively where the format has an atomic add,
// else by compare-and-swap), under the ordering ORD.
template <class In, class Acc, int ORD, bool NATIVE>
__device__ void db_scatter_privatized(const typename In::S* x, const db_u32* idx, db_u64 n,
                                      db_u32 nbins, typename Acc::W* bins) {
    typedef typename Acc::V V;
    typedef DbPriv<V> P;
    typename P::B* priv = reinterpret_cast<typename P::B*>(db_smem);
    for (db_u32 b = threadIdx.x; b < nbins; b += blockDim.x) {
        priv[b] = 0;
    }
    __syncthreads();
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    for (db_u64 i = (db_u64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += threads) {
        typename P::B* w = priv + idx[i];
        typename P::B old = *w;
        while (true) {
            typename P::B assumed = old;
            typename P::B next = P::put(Acc::add(P::get(assumed), In::load(x, i)));
            old = atomicCAS(w, assumed, next);
            if (old == assumed) {
                break;
            }
        }
    }
    __syncthreads();
    for (db_u32 b = threadIdx.x; b < nbins; b += blockDim.x) {
        typename P::B w = priv[b];
        // +0.0 (all bits zero) adds nothing to a bin that starts at +0.0.
        if (w != 0) {
            if constexpr (NATIVE) {
                db_atomic_add<ORD>(Acc(), bins + b, P::get(w));
            } else {
                db_cas_add<Acc, ORD>(bins + b, P::get(w));
            }
        }
    }
}

#endif  // DB_ORDERED_ATOMICS

// fixed_point: each value rounded to the accumulator, scaled by 2^k and rounded to an
// integer (ties to even), added into its bin with a 64-bit integer atomic: integer
// addition is associative, so the order cannot change the totals.
template <class In, class Acc>
__device__ void db_scatter_fixed(const typename In::S* x, const db_u32* idx, db_u64 n, int k,
                                 db_u64* bins, db_u64* lost) {
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    db_u64 my_lost = 0;
    for (db_u64 i = (db_u64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += threads) {
        double v = (double)Acc::round((double)In::load(x, i));
        double scaled = ldexp(v, k);
        double q = rint(scaled);
        my_lost += (q != scaled) ? 1ull : 0ull;
        // |q| < 2^61 by the choice of k: the conversion is exact, the add wraps like the CPU's.
        atomicAdd(bins + idx[i], (db_u64)(db_i64)q);
    }
    if (my_lost != 0) {
        atomicAdd(lost, my_lost);
    }
}

// ---------------------------------------------------------------------------------------
// The stable sort by bin: histogram, exclusive scans, LSD radix passes of 8-bit digits
// over tiles of blockDim * DB_RADIX_ITEMS elements (see scatter.wgsl for the steps).

#define DB_RADIX_ITEMS 16u

__device__ void db_bin_count(const db_u32* idx, db_u64 n, db_u32* counts) {
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    for (db_u64 i = (db_u64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += threads) {
        atomicAdd(counts + idx[i], 1u);
    }
}

// One block: exclusive prefix sum of buf[0..len) in place.
__device__ void db_scan_exclusive(db_u32* buf, db_u32 len) {
    db_u32* sh = reinterpret_cast<db_u32*>(db_smem);
    const db_u32 l = threadIdx.x;
    const db_u32 per = (len + blockDim.x - 1) / blockDim.x;
    const db_u32 lo = min(len, l * per);
    const db_u32 hi = min(len, lo + per);
    db_u32 s = 0;
    for (db_u32 i = lo; i < hi; ++i) {
        s += buf[i];
    }
    sh[l] = s;
    __syncthreads();
    if (l == 0) {
        db_u32 run = 0;
        for (db_u32 j = 0; j < blockDim.x; ++j) {
            db_u32 v = sh[j];
            sh[j] = run;
            run += v;
        }
    }
    __syncthreads();
    db_u32 run = sh[l];
    for (db_u32 i = lo; i < hi; ++i) {
        db_u32 v = buf[i];
        buf[i] = run;
        run += v;
    }
}

__device__ void db_radix_count(const db_u32* keys, db_u32 n, db_u32 shift, db_u32 tiles,
                               db_u32* dcounts) {
    __shared__ db_u32 hist[256];
    const db_u32 l = threadIdx.x;
    const db_u32 t = blockIdx.x;
    const db_u32 tile = blockDim.x * DB_RADIX_ITEMS;
    for (db_u32 d = l; d < 256u; d += blockDim.x) {
        hist[d] = 0;
    }
    __syncthreads();
    for (db_u32 r = 0; r < DB_RADIX_ITEMS; ++r) {
        db_u32 i = t * tile + r * blockDim.x + l;
        if (i < n) {
            atomicAdd(&hist[(keys[i] >> shift) & 255u], 1u);
        }
    }
    __syncthreads();
    for (db_u32 d = l; d < 256u; d += blockDim.x) {
        dcounts[(db_u64)d * tiles + t] = hist[d];
    }
}

// Stable: an element goes to its digit's offset for the tile, plus the number of
// elements of the same digit before it in the tile.
__device__ void db_radix_scatter(const db_u32* keys_in, const db_u32* perm_in, db_u32 n,
                                 db_u32 shift, db_u32 tiles, int first, const db_u32* dcounts,
                                 db_u32* keys_out, db_u32* perm_out) {
    __shared__ db_u32 next[256];
    db_u32* digits = reinterpret_cast<db_u32*>(db_smem);
    const db_u32 l = threadIdx.x;
    const db_u32 t = blockIdx.x;
    const db_u32 tile = blockDim.x * DB_RADIX_ITEMS;
    for (db_u32 d = l; d < 256u; d += blockDim.x) {
        next[d] = dcounts[(db_u64)d * tiles + t];
    }
    __syncthreads();
    for (db_u32 r = 0; r < DB_RADIX_ITEMS; ++r) {
        db_u32 i = t * tile + r * blockDim.x + l;
        bool valid = i < n;
        db_u32 key = valid ? keys_in[i] : 0u;
        db_u32 d = valid ? ((key >> shift) & 255u) : 256u;
        digits[l] = d;
        __syncthreads();
        db_u32 rank = 0;
        for (db_u32 j = 0; j < l; ++j) {
            rank += digits[j] == d ? 1u : 0u;
        }
        db_u32 base = valid ? next[d] : 0u;
        __syncthreads();
        if (valid) {
            db_u32 pos = base + rank;
            keys_out[pos] = key;
            perm_out[pos] = first ? i : perm_in[i];
            atomicAdd(&next[d], 1u);
        }
        __syncthreads();
    }
}

// sort_segmented pass 1: one thread per chunk sums each run of equal bins from 0.
template <class In, class Acc>
__device__ void db_seg_pass1(const typename In::S* x, const db_u32* keys, const db_u32* perm,
                             db_u32 n, db_u32 chunk, db_u32 chunks, typename Acc::V* head,
                             typename Acc::V* firsts) {
    typedef typename Acc::V V;
    db_u32 c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= chunks) {
        return;
    }
    db_u32 lo = c * chunk;
    db_u32 hi = min(n, lo + chunk);
    db_u32 i = lo;
    while (i < hi) {
        db_u32 key = keys[i];
        db_u32 start = i;
        V acc = (V)0;
        while (i < hi && keys[i] == key) {
            acc = Acc::add(acc, In::load(x, perm[i]));
            ++i;
        }
        if (start == lo) {
            head[c] = acc;
        } else {
            firsts[key] = acc;
        }
    }
}

// sort_segmented pass 2: one thread per bin adds its pieces in chunk order.
template <class Acc>
__device__ void db_seg_pass2(const db_u32* offsets, db_u32 nbins, db_u32 chunk,
                             const typename Acc::V* head, const typename Acc::V* firsts,
                             typename Acc::V* out) {
    typedef typename Acc::V V;
    db_u32 b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= nbins) {
        return;
    }
    db_u32 s = offsets[b];
    db_u32 e = offsets[b + 1];
    if (s == e) {
        out[b] = (V)0;
        return;
    }
    V acc = (s % chunk == 0) ? head[s / chunk] : firsts[b];
    for (db_u32 c = s / chunk + 1; (db_u64)c * chunk < e; ++c) {
        acc = Acc::add(acc, head[c]);
    }
    out[b] = acc;
}

#if defined(DB_REPRO)

template <class F> __device__ __forceinline__ DbRepro<F> db_repro_empty(const DbBinConsts<F>& c) {
    DbRepro<F> st;
    for (int k = 0; k < DB_MAX_FOLDS; ++k) {
        st.primary[k] = k < c.folds ? c.sigma[k] : (F)0;
        st.carry[k] = 0;
    }
    return st;
}

// reproducible pass 1: a binned state per run, renormalised every 256 deposits and at the
// end (merging needs renormalised states).
template <class In, class Acc>
__device__ void db_rseg_pass1(const typename In::S* x, const db_u32* keys, const db_u32* perm,
                              db_u32 n, db_u32 chunk, db_u32 chunks, const int* layout,
                              DbRepro<typename Acc::V>* head, DbRepro<typename Acc::V>* firsts) {
    typedef typename Acc::V F;
    db_u32 c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= chunks) {
        return;
    }
    const DbBinConsts<F> bc = db_bin_consts<F>(layout);
    db_u32 lo = c * chunk;
    db_u32 hi = min(n, lo + chunk);
    db_u32 i = lo;
    while (i < hi) {
        db_u32 key = keys[i];
        db_u32 start = i;
        DbRepro<F> st = db_repro_empty<F>(bc);
        unsigned pending = 0;
        while (i < hi && keys[i] == key) {
            F r = Acc::round((double)In::load(x, perm[i]));
            for (int k = 0; k < DB_MAX_FOLDS; ++k) {
                if (k < bc.folds) {
                    F s = db_radd(st.primary[k], db_or1(r));
                    F q = db_rsub(s, st.primary[k]);
                    st.primary[k] = s;
                    r = db_rsub(r, q);
                }
            }
            if (++pending == DB_DEPOSITS_PER_RENORM) {
                db_renorm(st, bc);
                pending = 0;
            }
            ++i;
        }
        db_renorm(st, bc);
        if (start == lo) {
            head[c] = st;
        } else {
            firsts[key] = st;
        }
    }
}

// reproducible pass 2: merge each bin's pieces (exact, so the order cannot matter).
template <class Acc>
__device__ void db_rseg_pass2(const db_u32* offsets, db_u32 nbins, db_u32 chunk,
                              const int* layout, const DbRepro<typename Acc::V>* head,
                              const DbRepro<typename Acc::V>* firsts,
                              DbRepro<typename Acc::V>* out) {
    typedef typename Acc::V F;
    db_u32 b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= nbins) {
        return;
    }
    const DbBinConsts<F> bc = db_bin_consts<F>(layout);
    db_u32 s = offsets[b];
    db_u32 e = offsets[b + 1];
    if (s == e) {
        out[b] = db_repro_empty<F>(bc);
        return;
    }
    DbRepro<F> st = (s % chunk == 0) ? head[s / chunk] : firsts[b];
    DbReproMerge<F> merge;
    merge.c = &bc;
    for (db_u32 c = s / chunk + 1; (db_u64)c * chunk < e; ++c) {
        st = merge(st, head[c]);
    }
    out[b] = st;
}

#endif  // DB_REPRO

// ---------------------------------------------------------------------------------------
// Entry points.

#if defined(DB_IN_T) && defined(DB_ACC_T) && defined(DB_SUFFIX)

#define DB_PASTE2(a, b) a##b
#define DB_PASTE(a, b) DB_PASTE2(a, b)
#define DB_ENTRY(name) DB_PASTE(name, DB_SUFFIX)

typedef DB_IN_T DbIn;
typedef DB_ACC_T DbAcc;
typedef DbIn::S DbS;
typedef DbAcc::V DbV;
typedef DbAcc::W DbW;

extern "C" __global__ void DB_ENTRY(scatter_fixed_point_)(const DbS* x, const db_u32* idx,
                                                          db_u64 n, int k, db_u64* bins,
                                                          db_u64* lost) {
    db_scatter_fixed<DbIn, DbAcc>(x, idx, n, k, bins, lost);
}

extern "C" __global__ void DB_ENTRY(bin_count_)(const db_u32* idx, db_u64 n, db_u32* counts) {
    db_bin_count(idx, n, counts);
}

extern "C" __global__ void DB_ENTRY(scan_exclusive_)(db_u32* buf, db_u32 len) {
    db_scan_exclusive(buf, len);
}

extern "C" __global__ void DB_ENTRY(radix_count_)(const db_u32* keys, db_u32 n, db_u32 shift,
                                                  db_u32 tiles, db_u32* dcounts) {
    db_radix_count(keys, n, shift, tiles, dcounts);
}

extern "C" __global__ void DB_ENTRY(radix_scatter_)(const db_u32* keys_in, const db_u32* perm_in,
                                                    db_u32 n, db_u32 shift, db_u32 tiles,
                                                    int first, const db_u32* dcounts,
                                                    db_u32* keys_out, db_u32* perm_out) {
    db_radix_scatter(keys_in, perm_in, n, shift, tiles, first, dcounts, keys_out, perm_out);
}

extern "C" __global__ void DB_ENTRY(seg_pass1_)(const DbS* x, const db_u32* keys,
                                                const db_u32* perm, db_u32 n, db_u32 chunk,
                                                db_u32 chunks, DbV* head, DbV* firsts) {
    db_seg_pass1<DbIn, DbAcc>(x, keys, perm, n, chunk, chunks, head, firsts);
}

extern "C" __global__ void DB_ENTRY(seg_pass2_)(const db_u32* offsets, db_u32 nbins,
                                                db_u32 chunk, const DbV* head,
                                                const DbV* firsts, DbV* out) {
    db_seg_pass2<DbAcc>(offsets, nbins, chunk, head, firsts, out);
}

#if defined(DB_REPRO)
extern "C" __global__ void DB_ENTRY(rseg_pass1_)(const DbS* x, const db_u32* keys,
                                                 const db_u32* perm, db_u32 n, db_u32 chunk,
                                                 db_u32 chunks, const int* layout,
                                                 DbRepro<DbV>* head, DbRepro<DbV>* firsts) {
    db_rseg_pass1<DbIn, DbAcc>(x, keys, perm, n, chunk, chunks, layout, head, firsts);
}

extern "C" __global__ void DB_ENTRY(rseg_pass2_)(const db_u32* offsets, db_u32 nbins,
                                                 db_u32 chunk, const int* layout,
                                                 const DbRepro<DbV>* head,
                                                 const DbRepro<DbV>* firsts, DbRepro<DbV>* out) {
    db_rseg_pass2<DbAcc>(offsets, nbins, chunk, layout, head, firsts, out);
}
#endif

#if DB_ORDERED_ATOMICS

#if DB_NATIVE_ATOMIC
#define DB_NATIVE_SCATTER(ORDNAME, ORD)                                                       \
    extern "C" __global__ void DB_ENTRY(scatter_atomic_##ORDNAME##_)(                         \
        const DbS* x, const db_u32* idx, db_u64 n, DbW* bins) {                               \
        db_scatter_atomic<DbIn, DbAcc, ORD>(x, idx, n, bins);                                 \
    }                                                                                         \
    extern "C" __global__ void DB_ENTRY(scatter_privatized_##ORDNAME##_)(                     \
        const DbS* x, const db_u32* idx, db_u64 n, db_u32 nbins, DbW* bins) {                 \
        db_scatter_privatized<DbIn, DbAcc, ORD, true>(x, idx, n, nbins, bins);                \
    }
#else
#define DB_NATIVE_SCATTER(ORDNAME, ORD)                                                       \
    extern "C" __global__ void DB_ENTRY(scatter_privatized_##ORDNAME##_)(                     \
        const DbS* x, const db_u32* idx, db_u64 n, db_u32 nbins, DbW* bins) {                 \
        db_scatter_privatized<DbIn, DbAcc, ORD, false>(x, idx, n, nbins, bins);               \
    }
#endif

#define DB_ORD_SCATTER(ORDNAME, ORD)                                                          \
    extern "C" __global__ void DB_ENTRY(scatter_atomic_cas_##ORDNAME##_)(                     \
        const DbS* x, const db_u32* idx, db_u64 n, DbW* bins) {                               \
        db_scatter_cas<DbIn, DbAcc, ORD>(x, idx, n, bins);                                    \
    }                                                                                         \
    DB_NATIVE_SCATTER(ORDNAME, ORD)

DB_ORD_SCATTER(relaxed_cta, 0)
DB_ORD_SCATTER(relaxed_gpu, 1)
DB_ORD_SCATTER(acq_rel_cta, 2)
DB_ORD_SCATTER(acq_rel_gpu, 3)
DB_ORD_SCATTER(seq_cst_cta, 4)
DB_ORD_SCATTER(seq_cst_gpu, 5)

#endif  // DB_ORDERED_ATOMICS

#endif  // entry points
