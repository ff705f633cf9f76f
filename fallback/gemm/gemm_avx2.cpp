// AVX2+FMA path. The target pragma (not -march) gives this file alone the ISA; the
// dispatcher in gemm.cpp only calls in after checking the CPU.
#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"
#include "gemm_isa.hpp"

#include <cstdint>
#include <cstring>
#include <functional>

#if defined(__x86_64__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#include <immintrin.h>

#define AI3_GEMM_NS avx2
#include "gemm_kernel.hpp"

namespace ai3::fallback::detail::avx2 {
namespace {

inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
inline double hsum256d(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

// Implicit-conv packing (gemm_kernel.hpp, pack_b_conv): lanes of
// dst[l] = in[base + idx[l]] where 0 <= h[l] + dh < H and 0 <= w[l] + dw < IW, else 0.
inline __m128i in_range4(const int32_t *x, int32_t d, int32_t n) {
    const __m128i v = _mm_add_epi32(_mm_loadu_si128((const __m128i *)x), _mm_set1_epi32(d));
    return _mm_and_si128(_mm_cmpgt_epi32(v, _mm_set1_epi32(-1)), _mm_cmpgt_epi32(_mm_set1_epi32(n), v));
}
inline __m256i in_range8(const int32_t *x, int32_t d, int32_t n) {
    const __m256i v = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)x), _mm256_set1_epi32(d));
    return _mm256_and_si256(_mm256_cmpgt_epi32(v, _mm256_set1_epi32(-1)), _mm256_cmpgt_epi32(_mm256_set1_epi32(n), v));
}

struct F32 {
    using T = float;
    using V = __m256;
    static constexpr int W = 8;
    static constexpr bool kTranspose = false;
    static constexpr bool kGather = true;
    static void gather(T *dst, const T *in, const int32_t *idx, const int32_t *h, const int32_t *w, int32_t base,
                       int32_t dh, int32_t dw, int32_t H, int32_t IW) {
        const __m256 m = _mm256_castsi256_ps(_mm256_and_si256(in_range8(h, dh, H), in_range8(w, dw, IW)));
        const __m256i vi = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)idx), _mm256_set1_epi32(base));
        _mm256_storeu_ps(dst, _mm256_mask_i32gather_ps(_mm256_setzero_ps(), in, vi, m, 4));
    }
    static V zero() { return _mm256_setzero_ps(); }
    static V load(const T *p) { return _mm256_loadu_ps(p); }
    static void store(T *p, V v) { _mm256_storeu_ps(p, v); }
    static V bcast(const T *p) { return _mm256_broadcast_ss(p); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static T hsum(V v) { return hsum256(v); }
};

struct F64 {
    using T = double;
    using V = __m256d;
    static constexpr int W = 4;
    static constexpr bool kTranspose = false;
    static constexpr bool kGather = true;
    static void gather(T *dst, const T *in, const int32_t *idx, const int32_t *h, const int32_t *w, int32_t base,
                       int32_t dh, int32_t dw, int32_t H, int32_t IW) {
        const __m128i m = _mm_and_si128(in_range4(h, dh, H), in_range4(w, dw, IW));
        const __m128i vi = _mm_add_epi32(_mm_loadu_si128((const __m128i *)idx), _mm_set1_epi32(base));
        _mm256_storeu_pd(dst, _mm256_mask_i32gather_pd(_mm256_setzero_pd(), in, vi,
                                                       _mm256_castsi256_pd(_mm256_cvtepi32_epi64(m)), 8));
    }
    static V zero() { return _mm256_setzero_pd(); }
    static V load(const T *p) { return _mm256_loadu_pd(p); }
    static void store(T *p, V v) { _mm256_storeu_pd(p, v); }
    static V bcast(const T *p) { return _mm256_broadcast_sd(p); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    static V add(V a, V b) { return _mm256_add_pd(a, b); }
    static T hsum(V v) { return hsum256d(v); }
};

// 16 ymm registers: 6 x 2-vector tile = 12 accumulators + 2 B vectors + 1 broadcast.
//                 S    MR NV  KC   NB   MB   SM SNV SNJ
using GemmF32 = Gemm<F32, 6, 2, 256, 480, 1020, 4, 2, 2>;
using GemmF64 = Gemm<F64, 6, 2, 256, 240, 1020, 4, 2, 2>;

} // namespace
} // namespace ai3::fallback::detail::avx2

namespace ai3::fallback::detail {
void gemm_avx2(const GemmArgs<float> &g) { avx2::GemmF32::run(g); }
void gemm_avx2(const GemmArgs<double> &g) { avx2::GemmF64::run(g); }
} // namespace ai3::fallback::detail

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif // __x86_64__
