// AVX-512 path. The target pragma (not -march) gives this file alone the ISA; the
// dispatcher in gemm.cpp only calls in after checking the CPU.
#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"
#include "gemm_isa.hpp"

#include <cstdint>
#include <cstring>
#include <functional>

#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))),                   \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")
#endif

#include <immintrin.h>

#define AI3_GEMM_NS avx512
#include "gemm_kernel.hpp"

namespace ai3::fallback::detail::avx512 {
namespace {

// Through memory: GCC 12 reports -Wuninitialized inside its own headers for
// _mm512_reduce_add_* and for every 512->128/256 extract or cast. Off the hot path.
inline float hsum512(__m512 v) {
    alignas(64) float t[16];
    _mm512_store_ps(t, v);
    __m256 h = _mm256_add_ps(_mm256_load_ps(t), _mm256_load_ps(t + 8));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
inline double hsum512d(__m512d v) {
    alignas(64) double t[8];
    _mm512_store_pd(t, v);
    __m256d h = _mm256_add_pd(_mm256_load_pd(t), _mm256_load_pd(t + 4));
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

// 16x16 transpose of f32 (dst[k * ldd + j] = rows[j][k]), for packing a transposed
// B: scalar element-by-element packing made the linear layers pack-bound. Masked
// forms only, for the same GCC 12 warning as above.
inline void transpose16(const float *const *rows, float *dst, int64_t ldd) {
    const __mmask16 all = 0xFFFF;
    __m512 r[16], t[16];
    for (int j = 0; j < 16; ++j) r[j] = _mm512_loadu_ps(rows[j]);
    for (int j = 0; j < 8; ++j) {
        t[2 * j] = _mm512_mask_unpacklo_ps(r[2 * j], all, r[2 * j], r[2 * j + 1]);
        t[2 * j + 1] = _mm512_mask_unpackhi_ps(r[2 * j], all, r[2 * j], r[2 * j + 1]);
    }
    for (int j = 0; j < 4; ++j) {
        __m512d a = _mm512_castps_pd(t[4 * j]), b = _mm512_castps_pd(t[4 * j + 1]);
        __m512d c = _mm512_castps_pd(t[4 * j + 2]), d = _mm512_castps_pd(t[4 * j + 3]);
        r[4 * j] = _mm512_castpd_ps(_mm512_mask_unpacklo_pd(a, 0xFF, a, c));
        r[4 * j + 1] = _mm512_castpd_ps(_mm512_mask_unpackhi_pd(a, 0xFF, a, c));
        r[4 * j + 2] = _mm512_castpd_ps(_mm512_mask_unpacklo_pd(b, 0xFF, b, d));
        r[4 * j + 3] = _mm512_castpd_ps(_mm512_mask_unpackhi_pd(b, 0xFF, b, d));
    }
    // r[4q + c] now holds, in 128-bit lane l, column 4l'+c of rows 4q..4q+3.
    for (int h = 0; h < 2; ++h)
        for (int c = 0; c < 4; ++c) {
            __m512 x = r[8 * h + c], y = r[8 * h + 4 + c];
            t[8 * h + c] = _mm512_mask_shuffle_f32x4(x, all, x, y, 0x88);
            t[8 * h + 4 + c] = _mm512_mask_shuffle_f32x4(x, all, x, y, 0xDD);
        }
    for (int c = 0; c < 8; ++c) {
        __m512 x = t[c], y = t[8 + c];
        _mm512_storeu_ps(dst + c * ldd, _mm512_mask_shuffle_f32x4(x, all, x, y, 0x88));
        _mm512_storeu_ps(dst + (8 + c) * ldd, _mm512_mask_shuffle_f32x4(x, all, x, y, 0xDD));
    }
}

// Implicit-conv packing (gemm_kernel.hpp, pack_b_conv): W lanes of
// dst[l] = in[base + idx[l]] where 0 <= h[l] + dh < H and 0 <= w[l] + dw < IW, else 0.
inline __mmask16 conv_mask16(const int32_t *h, const int32_t *w, int32_t dh, int32_t dw, int32_t H, int32_t IW) {
    const __m512i vh = _mm512_add_epi32(_mm512_loadu_si512(h), _mm512_set1_epi32(dh));
    const __m512i vw = _mm512_add_epi32(_mm512_loadu_si512(w), _mm512_set1_epi32(dw));
    return _mm512_cmplt_epu32_mask(vh, _mm512_set1_epi32(H)) & _mm512_cmplt_epu32_mask(vw, _mm512_set1_epi32(IW));
}
inline __mmask8 conv_mask8(const int32_t *h, const int32_t *w, int32_t dh, int32_t dw, int32_t H, int32_t IW) {
    const __m256i vh = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)h), _mm256_set1_epi32(dh));
    const __m256i vw = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)w), _mm256_set1_epi32(dw));
    return _mm256_cmplt_epu32_mask(vh, _mm256_set1_epi32(H)) & _mm256_cmplt_epu32_mask(vw, _mm256_set1_epi32(IW));
}

struct F32 {
    using T = float;
    using V = __m512;
    static constexpr int W = 16;
    static constexpr bool kTranspose = true;
    static constexpr bool kGather = true;
    static void gather(T *dst, const T *in, const int32_t *idx, const int32_t *h, const int32_t *w, int32_t base,
                       int32_t dh, int32_t dw, int32_t H, int32_t IW) {
        const __mmask16 m = conv_mask16(h, w, dh, dw, H, IW);
        const __m512i vi = _mm512_add_epi32(_mm512_loadu_si512(idx), _mm512_set1_epi32(base));
        _mm512_storeu_ps(dst, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, vi, in, 4));
    }
    static void transpose(const T *const *rows, T *dst, int64_t ldd) { transpose16(rows, dst, ldd); }
    static V zero() { return _mm512_setzero_ps(); }
    static V load(const T *p) { return _mm512_loadu_ps(p); }
    static void store(T *p, V v) { _mm512_storeu_ps(p, v); }
    static V bcast(const T *p) { return _mm512_set1_ps(*p); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static T hsum(V v) { return hsum512(v); }
};

struct F64 {
    using T = double;
    using V = __m512d;
    static constexpr int W = 8;
    static constexpr bool kTranspose = false;
    static constexpr bool kGather = true;
    static void gather(T *dst, const T *in, const int32_t *idx, const int32_t *h, const int32_t *w, int32_t base,
                       int32_t dh, int32_t dw, int32_t H, int32_t IW) {
        const __mmask8 m = conv_mask8(h, w, dh, dw, H, IW);
        const __m256i vi = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)idx), _mm256_set1_epi32(base));
        _mm512_storeu_pd(dst, _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m, vi, in, 8));
    }
    static V zero() { return _mm512_setzero_pd(); }
    static V load(const T *p) { return _mm512_loadu_pd(p); }
    static void store(T *p, V v) { _mm512_storeu_pd(p, v); }
    static V bcast(const T *p) { return _mm512_set1_pd(*p); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
    static V add(V a, V b) { return _mm512_add_pd(a, b); }
    static T hsum(V v) { return hsum512d(v); }
};

// 32 zmm registers: a 12 x 2-vector tile is 24 accumulators + 2 B vectors + 1
// broadcast. A micro-panel (12 x KC) stays in the 32 KiB L1, the KC x NB B block in
// the 1 MiB L2.
//                 S    MR NV  KC   NB   MB   SM SNV SNJ
using GemmF32 = Gemm<F32, 12, 2, 384, 480, 1020, 4, 4, 4>;
using GemmF64 = Gemm<F64, 12, 2, 192, 480, 1020, 4, 4, 4>;

} // namespace
} // namespace ai3::fallback::detail::avx512

namespace ai3::fallback::detail {
void gemm_avx512(const GemmArgs<float> &g) { avx512::GemmF32::run(g); }
void gemm_avx512(const GemmArgs<double> &g) { avx512::GemmF64::run(g); }
} // namespace ai3::fallback::detail

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif // __x86_64__
