// detbench scatter-add kernels (out[idx[i]] += x[i]), compiled by NVRTC without any CUDA
// header, one module per (input format, accumulator format) pair.
//
// Host defines (as for reduce.cu): DB_IN_T, DB_ACC_T, DB_SUFFIX, DB_ORDERED_ATOMICS,
// DB_NATIVE_ATOMIC, DB_REPRO (f32/f64 accumulators), DB_ACC_IS_BF16.
// Entry points: scatter_{variant}[_{ordering}]_{in}_{acc} (reproducible included) and the
// sort kernels radix_count_, scan_reduce_, scan_exclusive_, scan_apply_, radix_scatter_,
// copy_values_, bin_offsets_, seg_pass1_, seg_pass2_ (each with the suffix).
//
// The format conversions, the accumulator arithmetic (each add is round_A(fl64(a + b)),
// the CPU's `Arith`), the ordered atomics and the binned-state helpers are common.cuh's,
// which the host prepends to this file. The sort-based kernels follow
// src/ops/scatter/mod.rs step for step, like scatter.wgsl, so their bits equal the CPU
// emulation.

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
        bool lost_bits;
        const db_i64 q = db_fixed_quantize((double)Acc::round((double)In::load(x, i)), k, lost_bits);
        my_lost += lost_bits ? 1ull : 0ull;
        // The add wraps like the CPU's.
        atomicAdd(bins + idx[i], (db_u64)q);
    }
    if (my_lost != 0) {
        atomicAdd(lost, my_lost);
    }
}

// ---------------------------------------------------------------------------------------
// The stable sort by bin (sort_segmented): LSD radix passes of DB_RADIX_BITS-bit digits
// (the host runs one per digit that is not the same in every index) over tiles of
// DB_SORT_WG * DB_RADIX_ITEMS elements, each thread owning DB_RADIX_ITEMS consecutive ones;
// per-tile digit counts, a device-wide scan in three kernels, a stable scatter ranked by a
// block scan of per-thread digit counts, bin offsets from the sorted keys (see
// scatter.wgsl for the steps; the kernels here are the same, line for line). The shape is
// src/ops/scatter/mod.rs's SORT_WG, RADIX_ITEMS and RADIX_BITS.

#define DB_SORT_WG 128u
#define DB_RADIX_ITEMS 32u
#define DB_RADIX_BITS 5u
#define DB_DIGITS (1u << DB_RADIX_BITS)
#define DB_SORT_TILE (DB_SORT_WG * DB_RADIX_ITEMS)

// Exclusive prefix sum of v over the block's DB_SORT_WG threads (Hillis-Steele); every
// thread must call it. *total receives the block's total.
__device__ db_u32 db_block_scan(db_u32 v, db_u32* total) {
    __shared__ db_u32 wscan[DB_SORT_WG];
    const db_u32 l = threadIdx.x;
    wscan[l] = v;
    __syncthreads();
    for (db_u32 off = 1; off < DB_SORT_WG; off <<= 1) {
        db_u32 add = l >= off ? wscan[l - off] : 0u;
        __syncthreads();
        wscan[l] += add;
        __syncthreads();
    }
    db_u32 incl = wscan[l];
    *total = wscan[DB_SORT_WG - 1];
    __syncthreads();
    return incl - v;
}

__device__ void db_scan_reduce(const db_u32* buf, db_u32 len, db_u32* partials) {
    const db_u32 l = threadIdx.x;
    const db_u32 lo = blockIdx.x * DB_SORT_TILE + l * DB_RADIX_ITEMS;
    db_u32 s = 0;
    for (db_u32 j = 0; j < DB_RADIX_ITEMS; ++j) {
        if (lo + j < len) {
            s += buf[lo + j];
        }
    }
    db_u32 total;
    db_block_scan(s, &total);
    if (l == 0) {
        partials[blockIdx.x] = total;
    }
}

__device__ void db_scan_apply(db_u32* buf, db_u32 len, const db_u32* partials) {
    const db_u32 l = threadIdx.x;
    const db_u32 lo = blockIdx.x * DB_SORT_TILE + l * DB_RADIX_ITEMS;
    db_u32 s = 0;
    for (db_u32 j = 0; j < DB_RADIX_ITEMS; ++j) {
        if (lo + j < len) {
            s += buf[lo + j];
        }
    }
    db_u32 total;
    db_u32 run = partials[blockIdx.x] + db_block_scan(s, &total);
    for (db_u32 j = 0; j < DB_RADIX_ITEMS; ++j) {
        if (lo + j < len) {
            db_u32 v = buf[lo + j];
            buf[lo + j] = run;
            run += v;
        }
    }
}

// One block: exclusive prefix sum of buf[0..len) in place (the block sums).
__device__ void db_scan_exclusive(db_u32* buf, db_u32 len) {
    const db_u32 l = threadIdx.x;
    const db_u32 per = (len + DB_SORT_WG - 1) / DB_SORT_WG;
    const db_u32 lo = min(len, l * per);
    const db_u32 hi = min(len, lo + per);
    db_u32 s = 0;
    for (db_u32 i = lo; i < hi; ++i) {
        s += buf[i];
    }
    db_u32 total;
    db_u32 run = db_block_scan(s, &total);
    for (db_u32 i = lo; i < hi; ++i) {
        db_u32 v = buf[i];
        buf[i] = run;
        run += v;
    }
}

// A thread's DB_DIGITS digit counts, 8 bits each (DB_RADIX_ITEMS < 256), eight to a word.
struct DbCounts {
    db_u64 w[DB_DIGITS / 8];
    __device__ __forceinline__ DbCounts() {
        for (db_u32 k = 0; k < DB_DIGITS / 8; ++k) {
            w[k] = 0;
        }
    }
    __device__ __forceinline__ db_u32 get(db_u32 d) const {
        return (db_u32)(w[d >> 3] >> ((d & 7u) * 8u)) & 255u;
    }
    __device__ __forceinline__ void inc(db_u32 d) { w[d >> 3] += 1ull << ((d & 7u) * 8u); }
};

// The tile's digit counts need no order, so the threads read it coalesced and count with
// shared-memory atomics (integer adds: the order they land in cannot matter).
__device__ void db_radix_count(const db_u32* keys, db_u32 n, db_u32 shift, db_u32 tiles,
                               db_u32* dcounts) {
    __shared__ db_u32 hist[DB_DIGITS];
    const db_u32 l = threadIdx.x;
    const db_u32 t = blockIdx.x;
    for (db_u32 d = l; d < DB_DIGITS; d += DB_SORT_WG) {
        hist[d] = 0;
    }
    __syncthreads();
    const db_u32 lo = t * DB_SORT_TILE;
    const db_u32 hi = lo + min(n - lo, DB_SORT_TILE);
    for (db_u32 i = lo + l; i < hi; i += DB_SORT_WG) {
        atomicAdd(&hist[(keys[i] >> shift) & (DB_DIGITS - 1)], 1u);
    }
    __syncthreads();
    for (db_u32 d = l; d < DB_DIGITS; d += DB_SORT_WG) {
        dcounts[(db_u64)d * tiles + t] = hist[d];
    }
}

#define DB_HROWS (DB_DIGITS / 2)

__device__ __forceinline__ db_u32 db_half(db_u32 w, db_u32 d) {
    return d >= DB_HROWS ? (w >> 16) : (w & 0xffffu);
}

// Stable: an element goes to its digit's start for the tile, plus the count of its digit
// in earlier threads (a block scan of the digit-major count matrix, two digits per word),
// plus its rank among the thread's own earlier elements. The last pass writes the values
// in sorted order instead of the element positions.
template <class In>
__device__ void db_radix_scatter(const typename In::S* x, const db_u32* keys_in,
                                 const db_u32* perm_in, db_u32 n, db_u32 shift, db_u32 tiles,
                                 int first, int last, const db_u32* dcounts, db_u32* keys_out,
                                 db_u32* perm_out, typename In::T* vals) {
    __shared__ db_u32 tmat[DB_HROWS * DB_SORT_WG];
    __shared__ db_u32 tbase[DB_DIGITS];
    const db_u32 l = threadIdx.x;
    const db_u32 t = blockIdx.x;
    const db_u32 lo = t * DB_SORT_TILE + l * DB_RADIX_ITEMS;
    const db_u32 mask = DB_DIGITS - 1;
    DbCounts c;
    for (db_u32 j = 0; j < DB_RADIX_ITEMS; ++j) {
        if (lo + j < n) {
            c.inc((keys_in[lo + j] >> shift) & mask);
        }
    }
    for (db_u32 r = 0; r < DB_HROWS; ++r) {
        tmat[r * DB_SORT_WG + l] = c.get(r) | (c.get(r + DB_HROWS) << 16);
    }
    __syncthreads();
    db_u32 s = 0;
    for (db_u32 j = 0; j < DB_HROWS; ++j) {
        s += tmat[l * DB_HROWS + j];
    }
    db_u32 total;
    db_u32 run = db_block_scan(s, &total);
    for (db_u32 j = 0; j < DB_HROWS; ++j) {
        db_u32 v = tmat[l * DB_HROWS + j];
        tmat[l * DB_HROWS + j] = run;
        run += v;
    }
    __syncthreads();
    for (db_u32 d = l; d < DB_DIGITS; d += DB_SORT_WG) {
        tbase[d] = dcounts[(db_u64)d * tiles + t] - db_half(tmat[(d % DB_HROWS) * DB_SORT_WG], d);
    }
    __syncthreads();
    DbCounts seen;
    for (db_u32 j = 0; j < DB_RADIX_ITEMS; ++j) {
        db_u32 i = lo + j;
        if (i < n) {
            db_u32 key = keys_in[i];
            db_u32 d = (key >> shift) & mask;
            db_u32 pos = tbase[d] + db_half(tmat[(d % DB_HROWS) * DB_SORT_WG + l], d) + seen.get(d);
            seen.inc(d);
            keys_out[pos] = key;
            db_u32 src = first ? i : perm_in[i];
            if (last) {
                vals[pos] = In::load(x, src);
            } else {
                perm_out[pos] = src;
            }
        }
    }
}

// No radix pass (one bin): the sorted order is the identity.
template <class In>
__device__ void db_copy_values(const typename In::S* x, db_u32 n, typename In::T* vals) {
    const db_u32 threads = gridDim.x * blockDim.x;
    for (db_u32 i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += threads) {
        vals[i] = In::load(x, i);
    }
}

// offs[b] = number of sorted keys below b (a binary search per bin, as scatter.wgsl).
__device__ void db_bin_offsets(const db_u32* keys, db_u32 n, db_u32 nbins, db_u32* offs) {
    const db_u32 threads = gridDim.x * blockDim.x;
    for (db_u32 b = blockIdx.x * blockDim.x + threadIdx.x; b <= nbins; b += threads) {
        db_u32 lo = 0;
        db_u32 hi = n;
        while (lo < hi) {
            db_u32 mid = lo + (hi - lo) / 2;
            if (keys[mid] < b) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        offs[b] = lo;
    }
}

// sort_segmented pass 1: one thread per chunk sums each run of equal bins from 0.
template <class In, class Acc>
__device__ void db_seg_pass1(const typename In::T* vals, const db_u32* keys, db_u32 n,
                             db_u32 chunk, db_u32 chunks, typename Acc::V* head,
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
            acc = Acc::add(acc, vals[i]);
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

// ---------------------------------------------------------------------------------------
// reproducible: binned summation without a sort (see scatter.wgsl). Every bin has its own
// layout: `layout` holds five ints per bin, (0, folds, a_0, a_1, a_2), the record db_slices
// reads, fixed on the host by the largest |x| in the bin. With the bin's layout fixed, a
// deposit adds to fold k the remainder rounded to the fold's quantum u_k, which depends on
// the remainder alone,
// so each fold is an exact integer count of quanta: per-thread runs of equal bins summed
// exactly in F, then added with integer atomics into DbLimbs<F>::N u32 limbs per
// (bin, fold), the carries propagated by the adder. With priv, every block keeps all bins'
// limbs in shared memory and adds them into the global ones once. db_or1, DbLimbs,
// db_limbs_add and db_slices are common.cuh's.

template <class F>
__device__ __forceinline__ void db_repro_flush(db_u32* words, db_u32 b, const F* sums,
                                               int folds) {
    typedef DbLimbs<F> L;
    for (int k = 0; k < DB_MAX_FOLDS; ++k) {
        if (k < folds && sums[k] != (F)0) {
            db_u32 v[3];
            L::split(sums[k], v);
            db_limbs_add<L::N>(words + ((db_u64)b * DB_MAX_FOLDS + k) * L::N, v);
        }
    }
}

template <class In, class Acc>
__device__ void db_scatter_reproducible(const typename In::S* x, const db_u32* idx, db_u32 n,
                                        db_u32 span, const int* layout, db_u32 nbins,
                                        int priv, db_u32* lanes) {
    typedef typename Acc::V F;
    typedef DbLimbs<F> L;
    db_u32* plane = reinterpret_cast<db_u32*>(db_smem);
    const db_u32 words = nbins * DB_MAX_FOLDS * L::N;
    if (priv) {
        for (db_u32 w = threadIdx.x; w < words; w += blockDim.x) {
            plane[w] = 0;
        }
        __syncthreads();
    }
    db_u32* target = priv ? plane : lanes;
    const db_u32 threads = gridDim.x * blockDim.x;
    const db_u32 spans = (n + span - 1) / span;
    for (db_u32 sp = blockIdx.x * blockDim.x + threadIdx.x; sp < spans; sp += threads) {
        const db_u32 lo = sp * span;
        const db_u32 hi = min(n, lo + span);
        db_u32 cur = idx[lo];
        const int* lay = layout + (db_u64)cur * 5;
        F sums[DB_MAX_FOLDS] = {(F)0, (F)0, (F)0};
        for (db_u32 i = lo; i < hi; ++i) {
            const db_u32 b = idx[i];
            if (b != cur) {
                db_repro_flush<F>(target, cur, sums, lay[1]);
                for (int k = 0; k < DB_MAX_FOLDS; ++k) {
                    sums[k] = (F)0;
                }
                cur = b;
                lay = layout + (db_u64)b * 5;
            }
            F m[DB_MAX_FOLDS];
            db_slices<F>(Acc::round((double)In::load(x, i)), lay, m);
            for (int k = 0; k < DB_MAX_FOLDS; ++k) {
                sums[k] = db_radd(sums[k], m[k]);
            }
        }
        db_repro_flush<F>(target, cur, sums, lay[1]);
    }
    if (priv) {
        __syncthreads();
        for (db_u32 g = threadIdx.x; g < nbins * DB_MAX_FOLDS; g += blockDim.x) {
            db_u32 v[3] = {plane[g * L::N], plane[g * L::N + 1], L::N == 3 ? plane[g * L::N + 2] : 0u};
            if ((v[0] | v[1] | v[2]) != 0) {
                db_limbs_add<L::N>(lanes + (db_u64)g * L::N, v);
            }
        }
    }
}

#endif  // DB_REPRO



// ---------------------------------------------------------------------------------------
// Entry points.

#if defined(DB_IN_T) && defined(DB_ACC_T) && defined(DB_SUFFIX)

extern "C" __global__ void DB_ENTRY(scatter_fixed_point_)(const DbS* x, const db_u32* idx,
                                                          db_u64 n, int k, db_u64* bins,
                                                          db_u64* lost) {
    db_scatter_fixed<DbIn, DbAcc>(x, idx, n, k, bins, lost);
}

extern "C" __global__ void DB_ENTRY(scan_reduce_)(const db_u32* buf, db_u32 len,
                                                  db_u32* partials) {
    db_scan_reduce(buf, len, partials);
}

extern "C" __global__ void DB_ENTRY(scan_exclusive_)(db_u32* buf, db_u32 len) {
    db_scan_exclusive(buf, len);
}

extern "C" __global__ void DB_ENTRY(scan_apply_)(db_u32* buf, db_u32 len, const db_u32* partials) {
    db_scan_apply(buf, len, partials);
}

extern "C" __global__ void DB_ENTRY(radix_count_)(const db_u32* keys, db_u32 n, db_u32 shift,
                                                  db_u32 tiles, db_u32* dcounts) {
    db_radix_count(keys, n, shift, tiles, dcounts);
}

extern "C" __global__ void DB_ENTRY(radix_scatter_)(const DbS* x, const db_u32* keys_in,
                                                    const db_u32* perm_in, db_u32 n,
                                                    db_u32 shift, db_u32 tiles, int first,
                                                    int last, const db_u32* dcounts,
                                                    db_u32* keys_out, db_u32* perm_out,
                                                    DbIn::T* vals) {
    db_radix_scatter<DbIn>(x, keys_in, perm_in, n, shift, tiles, first, last, dcounts, keys_out,
                           perm_out, vals);
}

extern "C" __global__ void DB_ENTRY(copy_values_)(const DbS* x, db_u32 n, DbIn::T* vals) {
    db_copy_values<DbIn>(x, n, vals);
}

extern "C" __global__ void DB_ENTRY(bin_offsets_)(const db_u32* keys, db_u32 n, db_u32 nbins,
                                                  db_u32* offs) {
    db_bin_offsets(keys, n, nbins, offs);
}

extern "C" __global__ void DB_ENTRY(seg_pass1_)(const DbIn::T* vals, const db_u32* keys,
                                                db_u32 n, db_u32 chunk, db_u32 chunks,
                                                DbV* head, DbV* firsts) {
    db_seg_pass1<DbIn, DbAcc>(vals, keys, n, chunk, chunks, head, firsts);
}

extern "C" __global__ void DB_ENTRY(seg_pass2_)(const db_u32* offsets, db_u32 nbins,
                                                db_u32 chunk, const DbV* head,
                                                const DbV* firsts, DbV* out) {
    db_seg_pass2<DbAcc>(offsets, nbins, chunk, head, firsts, out);
}

#if defined(DB_REPRO)
extern "C" __global__ void DB_ENTRY(scatter_reproducible_)(const DbS* x, const db_u32* idx,
                                                           db_u32 n, db_u32 span,
                                                           const int* layout, db_u32 nbins,
                                                           int priv, db_u32* lanes) {
    db_scatter_reproducible<DbIn, DbAcc>(x, idx, n, span, layout, nbins, priv, lanes);
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
