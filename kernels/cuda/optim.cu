// detbench optimizer kernels (sgd, adam, adamw), compiled by NVRTC without any CUDA header.
//
// The module is compiled twice: `--fmad=true` (variant `fma`, and `stochastic_rounding`) and
// `--fmad=false` (variant `no_fma`). The update is written as plain C arithmetic in the
// order documented in src/ops/optim/mod.rs, with every addition taking at most one product
// operand, so with --fmad=true each multiply-add contracts into exactly the fma the CPU
// emulation does with mul_add, and with --fmad=false every product is rounded on its own.
// sqrt and division are IEEE (--prec-sqrt=true --prec-div=true).
//
// Entry points `{rule}_{storage}`: rule sgd_momentum | sgd_nesterov | adam | adamw, storage
// f32 (f32 params and grads) | bf16 (bf16 params and grads, f32 master copy) | bf16_sr
// (bf16 params and grads, stochastic rounding). All take the same arguments; unused
// pointers (v for SGD, master unless bf16) are never touched.
//
// Memory-bound by design: one pass per step, each thread owns 4 consecutive elements and
// moves them with 16-byte (f32) or 8-byte (bf16) vector loads and stores; the tail below a
// multiple of 4 is done element by element by the last thread.
//
// The host prepends common.cuh (the db_u* types and db_bf16_to_f32).

struct alignas(16) DbF4 { float e[4]; };
struct alignas(8) DbH4 { db_u16 e[4]; };

#define RULE_SGD_MOMENTUM 0
#define RULE_SGD_NESTEROV 1
#define RULE_ADAM 2
#define RULE_ADAMW 3
#define ST_F32 0
#define ST_BF16 1
#define ST_SR 2

struct DbStep {
    float neg_step, a, b, isb, eps, decay;
    db_u32 step, key;
};

__device__ __forceinline__ db_u32 db_fmix32(db_u32 h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

// Round to nearest even; NaN stays NaN (as the `half` crate's from_f32).
__device__ __forceinline__ db_u16 db_bf16_rn(float x) {
    db_u32 u = __float_as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) {
        return (db_u16)((u >> 16) | ((u & 0x7fffffu) != 0u ? 0x40u : 0u));
    }
    return (db_u16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Stochastic: add 16 random bits below the bf16 mantissa, then truncate.
__device__ __forceinline__ db_u16 db_bf16_sr(float x, db_u32 bits) {
    db_u32 u = __float_as_uint(x);
    if ((u & 0x7f800000u) == 0x7f800000u) {
        return db_bf16_rn(x);
    }
    return (db_u16)((u + (bits & 0xffffu)) >> 16);
}

// One step of one element: w is the f32 working value; returns the new one.
template <int RULE>
__device__ __forceinline__ float db_update(float w, float& m, float& v, float g, const DbStep& s) {
    if (RULE == RULE_SGD_MOMENTUM || RULE == RULE_SGD_NESTEROV) {
        m = s.a * m + g;
        float d = (RULE == RULE_SGD_NESTEROV) ? s.a * m + g : m;
        return s.neg_step * d + w;
    } else {
        if (RULE == RULE_ADAMW) {
            w = w * s.decay;
        }
        float d1 = g - m;
        m = s.a * d1 + m;
        float d2 = g * g - v;
        v = s.b * d2 + v;
        float den = sqrtf(v) * s.isb + s.eps;
        float q = m / den;
        return s.neg_step * q + w;
    }
}

template <int RULE, int ST>
__device__ __forceinline__ void db_element(void* params, const void* grad, float* m, float* v,
                                           float* master, db_u64 i, const DbStep& s) {
    float vi = (RULE >= RULE_ADAM) ? v[i] : 0.0f;
    float mi = m[i];
    if (ST == ST_F32) {
        float* p = (float*)params;
        float g = ((const float*)grad)[i];
        p[i] = db_update<RULE>(p[i], mi, vi, g, s);
    } else {
        db_u16* p = (db_u16*)params;
        float g = db_bf16_to_f32(((const db_u16*)grad)[i]);
        if (ST == ST_BF16) {
            float w = db_update<RULE>(master[i], mi, vi, g, s);
            master[i] = w;
            p[i] = db_bf16_rn(w);
        } else {
            float w = db_update<RULE>(db_bf16_to_f32(p[i]), mi, vi, g, s);
            db_u32 bits = db_fmix32(db_fmix32(s.key ^ (s.step * 0x9e3779b9u)) ^ (db_u32)i);
            p[i] = db_bf16_sr(w, bits);
        }
    }
    m[i] = mi;
    if (RULE >= RULE_ADAM) {
        v[i] = vi;
    }
}

template <int RULE, int ST>
__device__ __forceinline__ void db_step(void* params, const void* grad, float* m, float* v,
                                        float* master, db_u64 n, const DbStep& s) {
    db_u64 t = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    db_u64 base = t * 4;
    if (base >= n) {
        return;
    }
    if (base + 4 > n) {
        for (db_u64 i = base; i < n; ++i) {
            db_element<RULE, ST>(params, grad, m, v, master, i, s);
        }
        return;
    }
    DbF4 mv = ((const DbF4*)m)[t];
    DbF4 vv = {};
    if (RULE >= RULE_ADAM) {
        vv = ((const DbF4*)v)[t];
    }
    if (ST == ST_F32) {
        DbF4 pv = ((const DbF4*)params)[t];
        DbF4 gv = ((const DbF4*)grad)[t];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            pv.e[k] = db_update<RULE>(pv.e[k], mv.e[k], vv.e[k], gv.e[k], s);
        }
        ((DbF4*)params)[t] = pv;
    } else {
        DbH4 gv = ((const DbH4*)grad)[t];
        DbH4 pv;
        if (ST == ST_BF16) {
            DbF4 wv = ((const DbF4*)master)[t];
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                wv.e[k] = db_update<RULE>(wv.e[k], mv.e[k], vv.e[k], db_bf16_to_f32(gv.e[k]), s);
                pv.e[k] = db_bf16_rn(wv.e[k]);
            }
            ((DbF4*)master)[t] = wv;
        } else {
            pv = ((const DbH4*)params)[t];
            db_u32 h0 = db_fmix32(s.key ^ (s.step * 0x9e3779b9u));
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                float w = db_update<RULE>(db_bf16_to_f32(pv.e[k]), mv.e[k], vv.e[k],
                                          db_bf16_to_f32(gv.e[k]), s);
                pv.e[k] = db_bf16_sr(w, db_fmix32(h0 ^ (db_u32)(base + k)));
            }
        }
        ((DbH4*)params)[t] = pv;
    }
    ((DbF4*)m)[t] = mv;
    if (RULE >= RULE_ADAM) {
        ((DbF4*)v)[t] = vv;
    }
}

#define DB_OPTIM_ENTRY(NAME, RULE, ST)                                                        \
    extern "C" __global__ void NAME(void* __restrict__ params, const void* __restrict__ grad,  \
                                    float* __restrict__ m, float* __restrict__ v,              \
                                    float* __restrict__ master, db_u64 n, float neg_step,      \
                                    float a, float b, float isb, float eps, float decay,       \
                                    db_u32 step, db_u32 key) {                                 \
        DbStep s = {neg_step, a, b, isb, eps, decay, step, key};                               \
        db_step<RULE, ST>(params, grad, m, v, master, n, s);                                   \
    }

DB_OPTIM_ENTRY(sgd_momentum_f32, RULE_SGD_MOMENTUM, ST_F32)
DB_OPTIM_ENTRY(sgd_momentum_bf16, RULE_SGD_MOMENTUM, ST_BF16)
DB_OPTIM_ENTRY(sgd_momentum_bf16_sr, RULE_SGD_MOMENTUM, ST_SR)
DB_OPTIM_ENTRY(sgd_nesterov_f32, RULE_SGD_NESTEROV, ST_F32)
DB_OPTIM_ENTRY(sgd_nesterov_bf16, RULE_SGD_NESTEROV, ST_BF16)
DB_OPTIM_ENTRY(sgd_nesterov_bf16_sr, RULE_SGD_NESTEROV, ST_SR)
DB_OPTIM_ENTRY(adam_f32, RULE_ADAM, ST_F32)
DB_OPTIM_ENTRY(adam_bf16, RULE_ADAM, ST_BF16)
DB_OPTIM_ENTRY(adam_bf16_sr, RULE_ADAM, ST_SR)
DB_OPTIM_ENTRY(adamw_f32, RULE_ADAMW, ST_F32)
DB_OPTIM_ENTRY(adamw_bf16, RULE_ADAMW, ST_BF16)
DB_OPTIM_ENTRY(adamw_bf16_sr, RULE_ADAMW, ST_SR)
