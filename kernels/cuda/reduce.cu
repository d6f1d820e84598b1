// detbench reduction kernels (sum and dot), compiled by NVRTC without any CUDA header.
//
// One module is compiled per (input format, accumulator format) pair. The host defines:
//   DB_IN_T      InF32 | InF64 | InF16 | InBF16    storage format of x and y
//   DB_ACC_T     AccF32 | AccF64 | AccF16 | AccBF16 accumulation and output format
//   DB_SUFFIX    e.g. f16_f32: appended to every entry point name
//   DB_ORDERED_ATOMICS  1 when the device has the PTX memory model (sm_70+)
//   DB_NATIVE_ATOMIC    1 when the accumulator has a native atomic add (f16: sm_70, bf16: sm_90)
// Entry points are `{op}_{variant}[_{ordering}]_{in}_{acc}`, e.g. sum_tree_pass1_f32_f32,
// dot_atomic_cas_seq_cst_gpu_f16_f32.
//
// Ordered variants (tree, kahan, fixed_point, reproducible) must give the same bits as the
// CPU emulation in src/ops/reduce/cpu.rs, so:
// - the launch shape is the one fixed in src/ops/reduce/mod.rs: pass 1 has gridDim.x blocks
//   of blockDim.x threads; thread t adds elements t, t+T, t+2T, ... in increasing order; each
//   block then combines its threads in a pairwise tree with stride blockDim/2 .. 1; pass 2 is
//   one block doing the same over the block partials;
// - every rounding step is an explicit _rn intrinsic, so --fmad=true cannot contract an
//   a*b+c that the CPU rounds twice (and an fma the CPU does is an explicit fma here);
// - each operation reproduces the CPU's `Arith` exactly: the CPU carries values in f64 and
//   rounds after every operation, i.e. op = round_A(fl64(a op b)). Where both operands are
//   f32 and A is f32 this equals the native f32 operation (53 >= 2*24+2, Figueroa 1995);
//   otherwise the operation is done in f64 here too and rounded with the CPU's rounding.
//   The CPU's rounding to f16 (the `half` crate on an x86-64 host with F16C) is f64 -> f32
//   -> f16, each round-to-nearest-even; its rounding to bf16 truncates the f64 to its top
//   32 bits and then rounds to nearest even. Both are reproduced bit for bit below.

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

// ---------------------------------------------------------------------------------------
// The accumulation chain of one thread and the block tree, shared by tree and block_atomic.

// Thread `t` of `threads` accumulates its elements in increasing index order.
template <class In, class Acc, bool DOT>
__device__ __forceinline__ typename Acc::V db_chain(const typename In::S* x,
                                                    const typename In::S* y, db_u64 n,
                                                    db_u64 t, db_u64 threads) {
    typename Acc::V acc = (typename Acc::V)0;
    for (db_u64 i = t; i < n; i += threads) {
        if constexpr (DOT) {
            acc = Acc::dot_step(acc, In::load(x, i), In::load(y, i));
        } else {
            acc = Acc::add(acc, In::load(x, i));
        }
    }
    return acc;
}

// Pairwise tree over sh[0..blockDim.x): stride blockDim/2 down to 1. Returns sh[0] to
// thread 0 (other threads get an unspecified value).
template <class V, class F>
__device__ __forceinline__ V db_block_tree(V* sh, V mine, F combine) {
    const unsigned l = threadIdx.x;
    sh[l] = mine;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s >= 1; s >>= 1) {
        if (l < s) {
            sh[l] = combine(sh[l], sh[l + s]);
        }
        __syncthreads();
    }
    return sh[0];
}

// Dynamic shared memory, declared as double so it is 8-byte aligned for every element
// type used below (float, double, int and structs of them).
extern __shared__ double db_smem[];

template <class Acc> struct DbAdd {
    __device__ __forceinline__ typename Acc::V operator()(typename Acc::V a,
                                                         typename Acc::V b) const {
        return Acc::add(a, b);
    }
};

// ---------------------------------------------------------------------------------------
// tree: pass 1 writes one partial per block, pass 2 (one block) reduces the partials.

template <class In, class Acc, bool DOT>
__device__ void db_tree_pass1(const typename In::S* x, const typename In::S* y, db_u64 n,
                              typename Acc::V* partials) {
    typedef typename Acc::V V;
    V* sh = reinterpret_cast<V*>(db_smem);
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    const db_u64 t = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    V mine = db_chain<In, Acc, DOT>(x, y, n, t, threads);
    V total = db_block_tree(sh, mine, DbAdd<Acc>());
    if (threadIdx.x == 0) {
        partials[blockIdx.x] = total;
    }
}

template <class Acc>
__device__ void db_tree_pass2(const typename Acc::V* partials, db_u32 count,
                              typename Acc::V* out) {
    typedef typename Acc::V V;
    V* sh = reinterpret_cast<V*>(db_smem);
    V acc = (V)0;
    for (db_u32 i = threadIdx.x; i < count; i += blockDim.x) {
        acc = Acc::add(acc, partials[i]);
    }
    V total = db_block_tree(sh, acc, DbAdd<Acc>());
    if (threadIdx.x == 0) {
        out[0] = total;
    }
}

// ---------------------------------------------------------------------------------------
// kahan: compensated pairs (sum, correction) with TwoSum, exactly as cpu.rs.

template <class V> struct DbPair {
    V s;
    V c;
};

template <class Acc, class Y>
__device__ __forceinline__ void db_two_sum(typename Acc::V a, Y b, typename Acc::V& s,
                                           typename Acc::V& e) {
    s = Acc::add(a, b);
    typename Acc::V z = Acc::sub(s, a);
    e = Acc::add(Acc::sub(a, Acc::sub(s, z)), Acc::sub(b, z));
}

template <class Acc, class Y>
__device__ __forceinline__ DbPair<typename Acc::V> db_kahan_add(DbPair<typename Acc::V> acc,
                                                                 Y v, typename Acc::V ve) {
    typename Acc::V t, e;
    db_two_sum<Acc>(acc.s, v, t, e);
    DbPair<typename Acc::V> r;
    r.s = t;
    r.c = Acc::add(acc.c, Acc::add(e, ve));
    return r;
}

template <class Acc> struct DbKahanMerge {
    __device__ __forceinline__ DbPair<typename Acc::V> operator()(
        DbPair<typename Acc::V> a, DbPair<typename Acc::V> b) const {
        typename Acc::V t, e;
        db_two_sum<Acc>(a.s, b.s, t, e);
        DbPair<typename Acc::V> r;
        r.s = t;
        r.c = Acc::add(Acc::add(a.c, b.c), e);
        return r;
    }
};

template <class In, class Acc, bool DOT>
__device__ void db_kahan_pass1(const typename In::S* x, const typename In::S* y, db_u64 n,
                               typename Acc::V* partials) {
    typedef typename Acc::V V;
    typedef DbPair<V> P;
    P* sh = reinterpret_cast<P*>(db_smem);
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    const db_u64 t = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    P acc;
    acc.s = (V)0;
    acc.c = (V)0;
    for (db_u64 i = t; i < n; i += threads) {
        if constexpr (DOT) {
            typename In::T xv = In::load(x, i);
            typename In::T yv = In::load(y, i);
            V p = Acc::mul(xv, yv);
            acc = db_kahan_add<Acc>(acc, p, Acc::product_error(xv, yv, p));
        } else {
            acc = db_kahan_add<Acc>(acc, In::load(x, i), (V)0);
        }
    }
    P total = db_block_tree(sh, acc, DbKahanMerge<Acc>());
    if (threadIdx.x == 0) {
        partials[2 * blockIdx.x] = total.s;
        partials[2 * blockIdx.x + 1] = total.c;
    }
}

template <class Acc>
__device__ void db_kahan_pass2(const typename Acc::V* partials, db_u32 count,
                               typename Acc::V* out) {
    typedef typename Acc::V V;
    typedef DbPair<V> P;
    P* sh = reinterpret_cast<P*>(db_smem);
    P acc;
    acc.s = (V)0;
    acc.c = (V)0;
    for (db_u32 i = threadIdx.x; i < count; i += blockDim.x) {
        P p;
        p.s = partials[2 * i];
        p.c = partials[2 * i + 1];
        acc = DbKahanMerge<Acc>()(acc, p);
    }
    P total = db_block_tree(sh, acc, DbKahanMerge<Acc>());
    if (threadIdx.x == 0) {
        out[0] = Acc::add(total.s, total.c);
    }
}

// The value an atomic or binned kernel accumulates: x, or round_A(x*y) for dot (the
// CPU's `ReduceJob::terms`).
template <class In, class Acc, bool DOT>
__device__ __forceinline__ typename Acc::V db_term(const typename In::S* x,
                                                   const typename In::S* y, db_u64 i) {
    if constexpr (DOT) {
        return Acc::mul(In::load(x, i), In::load(y, i));
    } else {
        return Acc::round((double)In::load(x, i));
    }
}

// ---------------------------------------------------------------------------------------
// fixed_point: every term scaled by 2^k, rounded to an integer (ties to even) and added
// with a 64-bit integer atomic. Integer addition is associative, so the order the atomics
// land in cannot change the total. `lost` counts terms whose scaled value was not an
// integer (bits below 2^-k dropped).

template <class In, class Acc, bool DOT>
__device__ void db_fixed_point(const typename In::S* x, const typename In::S* y, db_u64 n,
                               int k, db_u64* total, db_u64* lost) {
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    const db_u64 t = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    db_u64 my_lost = 0;
    for (db_u64 i = t; i < n; i += threads) {
        double v;
        if constexpr (DOT) {
            v = (double)Acc::mul(In::load(x, i), In::load(y, i));
        } else {
            v = (double)In::load(x, i);
        }
        double scaled = ldexp(v, k);
        double q = rint(scaled);
        my_lost += (q != scaled) ? 1ull : 0ull;
        // |q| < 2^61 by the choice of k, so the conversion is exact; the unsigned add is
        // the two's-complement (wrapping) add of the CPU.
        atomicAdd(total, (db_u64)(db_i64)q);
    }
    if (my_lost != 0) {
        atomicAdd(lost, my_lost);
    }
}

// ---------------------------------------------------------------------------------------
// reproducible: binned accumulation (src/numerics/repro.rs), in three kernels:
// 1. block max of |term|; 2. one block: the global max and the bin layout from it;
// 3. deposits with a renormalisation every 256, then the block merge tree; one binned
//    state per block is written and the host merges and finalises them.

#define DB_MAX_FOLDS 3
#define DB_DEPOSITS_PER_RENORM 256u
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

template <class In, class Acc, bool DOT>
__device__ void db_repro_max(const typename In::S* x, const typename In::S* y, db_u64 n,
                             double* block_max) {
    double* sh = reinterpret_cast<double*>(db_smem);
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    const db_u64 t = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    double m = 0.0;
    for (db_u64 i = t; i < n; i += threads) {
        // The CPU takes the max over `terms()`: x itself (not rounded to the accumulator)
        // for sum, round_A(x*y) for dot.
        double v;
        if constexpr (DOT) {
            v = (double)Acc::mul(In::load(x, i), In::load(y, i));
        } else {
            v = (double)In::load(x, i);
        }
        m = fmax(m, fabs(v));
    }
    struct MaxOp {
        __device__ double operator()(double a, double b) const { return fmax(a, b); }
    };
    double total = db_block_tree(sh, m, MaxOp());
    if (threadIdx.x == 0) {
        block_max[blockIdx.x] = total;
    }
}

template <class F>
__device__ void db_repro_finish_max(const double* block_max, db_u32 count, int* layout,
                                    double* max_out) {
    double* sh = reinterpret_cast<double*>(db_smem);
    double m = 0.0;
    for (db_u32 i = threadIdx.x; i < count; i += blockDim.x) {
        m = fmax(m, block_max[i]);
    }
    struct MaxOp {
        __device__ double operator()(double a, double b) const { return fmax(a, b); }
    };
    double total = db_block_tree(sh, m, MaxOp());
    if (threadIdx.x == 0) {
        max_out[0] = total;
        db_repro_layout<F>(total, layout);
    }
}

template <class In, class Acc, bool DOT>
__device__ void db_repro_deposit(const typename In::S* x, const typename In::S* y, db_u64 n,
                                 const int* layout, typename Acc::V* primary_out,
                                 int* carry_out) {
    typedef typename Acc::V F;
    if (layout[0] != 0) {
        return;  // too large for this accumulator: the host reports it
    }
    DbRepro<F>* sh = reinterpret_cast<DbRepro<F>*>(db_smem);
    const DbBinConsts<F> c = db_bin_consts<F>(layout);
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    const db_u64 t = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    DbRepro<F> st;
    for (int k = 0; k < DB_MAX_FOLDS; ++k) {
        st.primary[k] = k < c.folds ? c.sigma[k] : (F)0;
        st.carry[k] = 0;
    }
    unsigned pending = 0;
    for (db_u64 i = t; i < n; i += threads) {
        // Deposits are in the accumulator format: round_A(x) or round_A(x*y).
        F r = db_term<In, Acc, DOT>(x, y, i);
        for (int k = 0; k < DB_MAX_FOLDS; ++k) {
            if (k < c.folds) {
                F s = db_radd(st.primary[k], db_or1(r));
                F q = db_rsub(s, st.primary[k]);
                st.primary[k] = s;
                r = db_rsub(r, q);
            }
        }
        pending += 1;
        if (pending == DB_DEPOSITS_PER_RENORM) {
            db_renorm(st, c);
            pending = 0;
        }
    }
    // Merging needs renormalised states (as repro_sum renormalises before finalising).
    db_renorm(st, c);
    DbReproMerge<F> merge;
    merge.c = &c;
    DbRepro<F> total = db_block_tree(sh, st, merge);
    if (threadIdx.x == 0) {
        for (int k = 0; k < DB_MAX_FOLDS; ++k) {
            primary_out[DB_MAX_FOLDS * blockIdx.x + k] = total.primary[k];
            carry_out[DB_MAX_FOLDS * blockIdx.x + k] = total.carry[k];
        }
    }
}

// ---------------------------------------------------------------------------------------
// Atomics under an explicit PTX memory ordering (PTX ISA, memory consistency model).
// ORD: 0 relaxed.cta, 1 relaxed.gpu, 2 acq_rel.cta, 3 acq_rel.gpu, 4 seq_cst.cta,
// 5 seq_cst.gpu. seq_cst is a fence.sc of the scope followed by an acq_rel atomic, the
// PTX mapping of a sequentially consistent read-modify-write. A .cta-scoped atomic on a
// word other blocks also update is a data race under the PTX model; measuring what the
// hardware does with it anyway is the point of running it.

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

template <class In, class Acc, bool DOT, int ORD>
__device__ void db_atomic(const typename In::S* x, const typename In::S* y, db_u64 n,
                          typename Acc::W* w) {
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    const db_u64 t = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    for (db_u64 i = t; i < n; i += threads) {
        db_atomic_add<ORD>(Acc(), w, db_term<In, Acc, DOT>(x, y, i));
    }
}

template <class In, class Acc, bool DOT, int ORD>
__device__ void db_atomic_cas(const typename In::S* x, const typename In::S* y, db_u64 n,
                              typename Acc::W* w) {
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    const db_u64 t = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    for (db_u64 i = t; i < n; i += threads) {
        db_cas_add<Acc, ORD>(w, db_term<In, Acc, DOT>(x, y, i));
    }
}

template <class In, class Acc, bool DOT, int ORD>
__device__ void db_block_atomic(const typename In::S* x, const typename In::S* y, db_u64 n,
                                typename Acc::W* w) {
    typedef typename Acc::V V;
    V* sh = reinterpret_cast<V*>(db_smem);
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    const db_u64 t = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    V mine = db_chain<In, Acc, DOT>(x, y, n, t, threads);
    V total = db_block_tree(sh, mine, DbAdd<Acc>());
    if (threadIdx.x == 0) {
        db_atomic_add<ORD>(Acc(), w, total);
    }
}

#endif  // DB_ORDERED_ATOMICS

// ---------------------------------------------------------------------------------------
// Entry points for the module's (input, accumulator) pair.

#if defined(DB_IN_T) && defined(DB_ACC_T) && defined(DB_SUFFIX)

#define DB_PASTE2(a, b) a##b
#define DB_PASTE(a, b) DB_PASTE2(a, b)
#define DB_ENTRY(name) DB_PASTE(name, DB_SUFFIX)

typedef DB_IN_T DbIn;
typedef DB_ACC_T DbAcc;
typedef DbIn::S DbS;
typedef DbAcc::V DbV;
typedef DbAcc::W DbW;

#define DB_OP_ENTRIES(OP, DOT)                                                                \
    extern "C" __global__ void DB_ENTRY(OP##_tree_pass1_)(const DbS* x, const DbS* y,         \
                                                          db_u64 n, DbV* partials) {          \
        db_tree_pass1<DbIn, DbAcc, DOT>(x, y, n, partials);                                   \
    }                                                                                         \
    extern "C" __global__ void DB_ENTRY(OP##_kahan_pass1_)(const DbS* x, const DbS* y,        \
                                                           db_u64 n, DbV* partials) {         \
        db_kahan_pass1<DbIn, DbAcc, DOT>(x, y, n, partials);                                  \
    }                                                                                         \
    extern "C" __global__ void DB_ENTRY(OP##_fixed_point_)(const DbS* x, const DbS* y,        \
                                                           db_u64 n, int k, db_u64* total,    \
                                                           db_u64* lost) {                    \
        db_fixed_point<DbIn, DbAcc, DOT>(x, y, n, k, total, lost);                            \
    }                                                                                         \
    DB_REPRO_ENTRIES(OP, DOT)

#if defined(DB_REPRO)
#define DB_REPRO_ENTRIES(OP, DOT)                                                             \
    extern "C" __global__ void DB_ENTRY(OP##_repro_max_)(const DbS* x, const DbS* y,          \
                                                         db_u64 n, double* block_max) {       \
        db_repro_max<DbIn, DbAcc, DOT>(x, y, n, block_max);                                   \
    }                                                                                         \
    extern "C" __global__ void DB_ENTRY(OP##_repro_deposit_)(const DbS* x, const DbS* y,      \
                                                             db_u64 n, const int* layout,     \
                                                             DbV* primary, int* carry) {      \
        db_repro_deposit<DbIn, DbAcc, DOT>(x, y, n, layout, primary, carry);                  \
    }
extern "C" __global__ void DB_ENTRY(repro_layout_)(const double* block_max, db_u32 count,
                                                   int* layout, double* max_out) {
    db_repro_finish_max<DbV>(block_max, count, layout, max_out);
}
#else
#define DB_REPRO_ENTRIES(OP, DOT)
#endif

DB_OP_ENTRIES(sum, false)
DB_OP_ENTRIES(dot, true)

extern "C" __global__ void DB_ENTRY(tree_pass2_)(const DbV* partials, db_u32 count, DbV* out) {
    db_tree_pass2<DbAcc>(partials, count, out);
}

extern "C" __global__ void DB_ENTRY(kahan_pass2_)(const DbV* partials, db_u32 count,
                                                  DbV* out) {
    db_kahan_pass2<DbAcc>(partials, count, out);
}

#if DB_ORDERED_ATOMICS

#define DB_ORD_ENTRIES(OP, DOT, ORDNAME, ORD)                                                 \
    extern "C" __global__ void DB_ENTRY(OP##_atomic_cas_##ORDNAME##_)(                        \
        const DbS* x, const DbS* y, db_u64 n, DbW* w) {                                       \
        db_atomic_cas<DbIn, DbAcc, DOT, ORD>(x, y, n, w);                                     \
    }                                                                                         \
    DB_NATIVE_ENTRIES(OP, DOT, ORDNAME, ORD)

#if DB_NATIVE_ATOMIC
#define DB_NATIVE_ENTRIES(OP, DOT, ORDNAME, ORD)                                              \
    extern "C" __global__ void DB_ENTRY(OP##_atomic_##ORDNAME##_)(const DbS* x, const DbS* y, \
                                                                  db_u64 n, DbW* w) {         \
        db_atomic<DbIn, DbAcc, DOT, ORD>(x, y, n, w);                                         \
    }                                                                                         \
    extern "C" __global__ void DB_ENTRY(OP##_block_atomic_##ORDNAME##_)(                      \
        const DbS* x, const DbS* y, db_u64 n, DbW* w) {                                       \
        db_block_atomic<DbIn, DbAcc, DOT, ORD>(x, y, n, w);                                   \
    }
#else
#define DB_NATIVE_ENTRIES(OP, DOT, ORDNAME, ORD)
#endif

#define DB_ALL_ORDERINGS(OP, DOT)                                                             \
    DB_ORD_ENTRIES(OP, DOT, relaxed_cta, 0)                                                   \
    DB_ORD_ENTRIES(OP, DOT, relaxed_gpu, 1)                                                   \
    DB_ORD_ENTRIES(OP, DOT, acq_rel_cta, 2)                                                   \
    DB_ORD_ENTRIES(OP, DOT, acq_rel_gpu, 3)                                                   \
    DB_ORD_ENTRIES(OP, DOT, seq_cst_cta, 4)                                                   \
    DB_ORD_ENTRIES(OP, DOT, seq_cst_gpu, 5)

DB_ALL_ORDERINGS(sum, false)
DB_ALL_ORDERINGS(dot, true)

#endif  // DB_ORDERED_ATOMICS

#endif  // DB_IN_T && DB_ACC_T && DB_SUFFIX
