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
// - every operation is one of common.cuh's accumulator formats (explicit _rn intrinsics,
//   round_A(fl64(a op b)) as the CPU's `Arith` computes it), which the host prepends to
//   this file together with the format conversions, the binned-state helpers and the
//   ordered atomics.

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
// fixed_point: every term scaled by 2^k and rounded to an integer (ties to even). Integer
// addition is associative, so each thread adds its own terms (wrapping, the CPU's
// i64::wrapping_add), the block's threads add those into the block's integer lanes in
// shared memory, and one thread per block adds the lanes into the global words: one
// global 64-bit atomic per block instead of one per element, and the same words in any
// order. `lost` counts terms whose scaled value was not an integer (bits below 2^-k
// dropped). Same scheme as reduce.wgsl's fixed_point.

template <class In, class Acc, bool DOT>
__device__ void db_fixed_point(const typename In::S* x, const typename In::S* y, db_u64 n,
                               int k, db_u64* total, db_u64* lost) {
    __shared__ db_u64 lane_total;
    __shared__ db_u64 lane_lost;
    if (threadIdx.x == 0) {
        lane_total = 0;
        lane_lost = 0;
    }
    __syncthreads();
    const db_u64 threads = (db_u64)gridDim.x * blockDim.x;
    const db_u64 t = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    db_u64 my_total = 0;
    db_u64 my_lost = 0;
    for (db_u64 i = t; i < n; i += threads) {
        double v;
        if constexpr (DOT) {
            v = (double)Acc::mul(In::load(x, i), In::load(y, i));
        } else {
            v = (double)In::load(x, i);
        }
        bool lost_bits;
        const db_i64 q = db_fixed_quantize(v, k, lost_bits);
        my_lost += lost_bits ? 1ull : 0ull;
        // The unsigned add is the two's-complement (wrapping) add of the CPU.
        my_total += (db_u64)q;
    }
    if (my_total != 0) {
        atomicAdd(&lane_total, my_total);
    }
    if (my_lost != 0) {
        atomicAdd(&lane_lost, my_lost);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        if (lane_total != 0) {
            atomicAdd(total, lane_total);
        }
        if (lane_lost != 0) {
            atomicAdd(lost, lane_lost);
        }
    }
}

// ---------------------------------------------------------------------------------------
// reproducible: binned accumulation (src/numerics/repro.rs), the algorithm of reduce.wgsl's
// reproducible (its comment says why a running maximum with re-binning cannot give these
// bits). Deposits are exact integer counts of quanta per fold (common.cuh's db_slices) for
// the layout of max |term|: each thread sums its counts exactly in F for up to 2^11 terms
// (|count| <= 2^(p-12) each, so |sum| < 2^(p-1)), moves them into its own DbLimbs<F>::N
// words (wrapping, in registers), then adds them into the block's shared words and the
// block's into the global words with u32 atomics that propagate carries (db_limbs_add).
// Integer addition mod 2^(32 N) commutes, so the words are the exact counts whatever the
// order; the host turns them into a binned state and finalises it with the shared code.
//
// The layout needs the maximum before the first deposit. x is read once in the common case,
// by a guess that is checked (four launches):
//   {op}_repro_guess    one block: max |term| over a sample of x (DB_REPRO_SAMPLE runs of
//                       blockDim consecutive terms spread over x, the first at 0 and the last
//                       ending at n; all of x when it is that small), its layout, pending = 1;
//   {op}_repro_deposit  deposits every term with the layout and takes each block's max |term|
//                       in the same loop;
//   repro_check         one block: the true maximum over the blocks' and its layout. The same
//                       as the guessed one: pending = 0 and the lanes are final. Otherwise it
//                       writes the true layout, zeroes the lanes and leaves pending = 1 (0 when
//                       the true maximum is too large: the host reports it, nothing is redone);
//   {op}_repro_deposit  again: every block returns at once unless pending is 1.
// Every term is deposited exactly once with the layout of the true maximum, so the lanes are
// those of two passes (max, then deposits) whatever the sample; the sample decides only
// whether x is read once or twice, which the host reads from pending and reports.
// Layout words: [0] status (0 ok, 1 too large), [1] folds, [2..5) a_k (db_repro_layout),
// [5] pending.
#if defined(DB_REPRO)
// Terms a thread sums in F before moving the sums into its integer words.
#define DB_REPRO_RUN 2048u
// Runs of blockDim terms the guess samples.
#define DB_REPRO_SAMPLE 256u
#define DB_REPRO_PENDING 5

struct DbNanMaxOp {
    __device__ __forceinline__ double operator()(double a, double b) const {
        return db_nan_max(a, b);
    }
};

// Term i: returns the value whose magnitude the CPU's max takes over `terms()` (x itself,
// not rounded to the accumulator, for sum; round_A(x*y) for dot) and sets `dep` to the value
// deposited, in the accumulator format (round_A(x) or round_A(x*y)).
template <class In, class Acc, bool DOT>
__device__ __forceinline__ double db_repro_term(const typename In::S* x,
                                                const typename In::S* y, db_u64 i,
                                                typename Acc::V& dep) {
    if constexpr (DOT) {
        dep = Acc::mul(In::load(x, i), In::load(y, i));
        return (double)dep;
    } else {
        const double v = (double)In::load(x, i);
        dep = Acc::round(v);
        return v;
    }
}

template <class In, class Acc, bool DOT>
__device__ void db_repro_guess(const typename In::S* x, const typename In::S* y, db_u64 n,
                               int* layout) {
    double* sh = reinterpret_cast<double*>(db_smem);
    const db_u64 bd = blockDim.x;
    typename Acc::V dep;
    double m = 0.0;
    if (n <= (db_u64)DB_REPRO_SAMPLE * bd) {
        for (db_u64 i = threadIdx.x; i < n; i += bd) {
            m = db_nan_max(m, fabs(db_repro_term<In, Acc, DOT>(x, y, i, dep)));
        }
    } else {
        // Run b starts at b * stride; the last one ends at n.
        const db_u64 stride = (n - bd) / (DB_REPRO_SAMPLE - 1u);
        for (db_u32 b = 0; b < DB_REPRO_SAMPLE; ++b) {
            const db_u64 start = b + 1u == DB_REPRO_SAMPLE ? n - bd : b * stride;
            m = db_nan_max(m, fabs(db_repro_term<In, Acc, DOT>(x, y, start + threadIdx.x, dep)));
        }
    }
    const double total = db_block_tree(sh, m, DbNanMaxOp());
    if (threadIdx.x == 0) {
        db_repro_layout<typename Acc::V>(total, layout);
        layout[DB_REPRO_PENDING] = 1;
    }
}

// a += b mod 2^(32 * 3), limb by limb with carries (a 2-limb value's top word is unused).
__device__ __forceinline__ void db_wide_add(db_u32* a, const db_u32* b) {
    const db_u32 s0 = a[0] + b[0];
    const db_u32 c0 = (db_u32)(s0 < a[0]);
    const db_u32 t1 = a[1] + b[1];
    const db_u32 s1 = t1 + c0;
    const db_u32 c1 = (db_u32)(t1 < a[1]) + (db_u32)(s1 < t1);
    a[0] = s0;
    a[1] = s1;
    a[2] = a[2] + b[2] + c1;
}

template <class F>
__device__ __forceinline__ void db_repro_spill(db_u32 (*words)[3], F* sums) {
    for (int k = 0; k < DB_MAX_FOLDS; ++k) {
        db_u32 v[3];
        DbLimbs<F>::split(sums[k], v);
        db_wide_add(words[k], v);
        sums[k] = (F)0;
    }
}

template <class In, class Acc, bool DOT>
__device__ void db_repro_deposit(const typename In::S* x, const typename In::S* y, db_u64 n,
                                 const int* layout, db_u32* lanes, double* block_max) {
    typedef typename Acc::V F;
    typedef DbLimbs<F> L;
    __shared__ int pending;
    __shared__ db_u32 plane[DB_MAX_FOLDS * 3];
    if (threadIdx.x == 0) {
        pending = layout[DB_REPRO_PENDING];
    }
    if (threadIdx.x < DB_MAX_FOLDS * L::N) {
        plane[threadIdx.x] = 0;
    }
    __syncthreads();
    // Every thread reads the one shared word after the barrier: the return is block-uniform,
    // so no thread waits at a barrier below for threads that left.
    if (pending == 0) {
        return;
    }
    // The layout in registers. Too large for this accumulator (status != 0): folds is 0,
    // nothing is deposited, and the check (whose maximum is at least as large) reports it.
    int lay[2 + DB_MAX_FOLDS];
    for (int k = 0; k < 2 + DB_MAX_FOLDS; ++k) {
        lay[k] = layout[k];
    }
    // Block w owns [w * per, (w + 1) * per), per a multiple of blockDim, and its threads
    // stride by blockDim inside it: consecutive threads read consecutive words. The lanes are
    // exact integers, so which thread deposits which term cannot change them.
    const db_u64 bd = blockDim.x;
    const db_u64 per = ((n + gridDim.x - 1u) / gridDim.x + bd - 1u) / bd * bd;
    const db_u64 first = (db_u64)blockIdx.x * per;
    const db_u64 start = first < n ? first : n;
    const db_u64 end = n - start < per ? n : start + per;
    // Runs of at most DB_REPRO_RUN terms per thread, the sums moved into the words after
    // each run rather than tested for on every term.
    const db_u64 span = (db_u64)DB_REPRO_RUN * bd;
    db_u32 words[DB_MAX_FOLDS][3] = {{0u, 0u, 0u}, {0u, 0u, 0u}, {0u, 0u, 0u}};
    double m = 0.0;
    db_u64 i = start + threadIdx.x;
    while (i < end) {
        const db_u64 stop = end - i > span ? i + span : end;
        F sums[DB_MAX_FOLDS] = {(F)0, (F)0, (F)0};
        for (; i < stop; i += bd) {
            F dep;
            m = db_nan_max(m, fabs(db_repro_term<In, Acc, DOT>(x, y, i, dep)));
            F q[DB_MAX_FOLDS];
            db_slices<F>(dep, lay, q);
            for (int k = 0; k < DB_MAX_FOLDS; ++k) {
                sums[k] = db_radd(sums[k], q[k]);
            }
        }
        db_repro_spill<F>(words, sums);
    }
    for (int k = 0; k < DB_MAX_FOLDS; ++k) {
        if ((words[k][0] | words[k][1] | words[k][2]) != 0) {
            db_limbs_add<L::N>(plane + k * L::N, words[k]);
        }
    }
    // The tree's first barrier also orders the plane adds above before the reads below.
    const double total = db_block_tree(reinterpret_cast<double*>(db_smem), m, DbNanMaxOp());
    if (threadIdx.x == 0) {
        block_max[blockIdx.x] = total;
    }
    if (threadIdx.x < DB_MAX_FOLDS) {
        const db_u32 base = threadIdx.x * L::N;
        db_u32 v[3] = {plane[base], plane[base + 1], L::N == 3 ? plane[base + 2] : 0u};
        if ((v[0] | v[1] | v[2]) != 0) {
            db_limbs_add<L::N>(lanes + base, v);
        }
    }
}

template <class F>
__device__ void db_repro_check(const double* block_max, db_u32 count, int* layout,
                               db_u32* lanes, double* max_out) {
    double m = 0.0;
    for (db_u32 i = threadIdx.x; i < count; i += blockDim.x) {
        m = db_nan_max(m, block_max[i]);
    }
    const double total = db_block_tree(reinterpret_cast<double*>(db_smem), m, DbNanMaxOp());
    if (threadIdx.x == 0) {
        max_out[0] = total;
        int lay[2 + DB_MAX_FOLDS];
        db_repro_layout<F>(total, lay);
        // Status, folds and a_1 fix the whole layout (a_k = a_1 - (k - 1) W).
        if (lay[0] == 0 && layout[0] == 0 && lay[1] == layout[1] && lay[2] == layout[2]) {
            layout[DB_REPRO_PENDING] = 0;
            return;
        }
        for (int k = 0; k < 2 + DB_MAX_FOLDS; ++k) {
            layout[k] = lay[k];
        }
        layout[DB_REPRO_PENDING] = lay[0] == 0 ? 1 : 0;
        for (db_u32 k = 0; k < DB_MAX_FOLDS * DbLimbs<F>::N; ++k) {
            lanes[k] = 0;
        }
    }
}
#endif  // DB_REPRO

#if DB_ORDERED_ATOMICS

// The atomic variants, on the ordered atomics of common.cuh.

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
    extern "C" __global__ void DB_ENTRY(OP##_repro_guess_)(const DbS* x, const DbS* y,        \
                                                           db_u64 n, int* layout) {           \
        db_repro_guess<DbIn, DbAcc, DOT>(x, y, n, layout);                                    \
    }                                                                                         \
    extern "C" __global__ void DB_ENTRY(OP##_repro_deposit_)(                                 \
        const DbS* x, const DbS* y, db_u64 n, const int* layout, db_u32* lanes,               \
        double* block_max) {                                                                  \
        db_repro_deposit<DbIn, DbAcc, DOT>(x, y, n, layout, lanes, block_max);                \
    }
extern "C" __global__ void DB_ENTRY(repro_check_)(const double* block_max, db_u32 count,
                                                  int* layout, db_u32* lanes, double* max_out) {
    db_repro_check<DbV>(block_max, count, layout, lanes, max_out);
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
