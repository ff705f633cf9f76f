// The register-blocked GEMM every lowering shares: a work-item computes TM rows
// of one column of C, so each loaded B element feeds TM multiply-adds and the
// CPU device's vectoriser, running consecutive work-items (consecutive columns)
// in SIMD lanes, turns the TM accumulators into a TM x lanes register tile.
// On the 2-core AVX-512 reference machine this lifts SGEMM from ~24 (one output
// per work-item) to ~190 GFLOP/s (sycl-rtc.md).
#pragma once
#include "../common.hpp"

namespace ai3::sk {

// acc[i] = sum_k A[m0+i, k] * bload(k) for the TM rows starting at m0 (rows past
// M read row M-1 and are dropped by the caller).
template <typename T, int TM, class BLoad>
inline void gemm_rows(const T *A, int64_t lda_m, int64_t lda_k, int64_t M, int64_t m0, int64_t K, BLoad bload,
                      T (&acc)[TM]) {
    // Row offsets inline, not in a private array: the vectoriser then sees A's loads as
    // uniform across work-items (one broadcast each) instead of gathers.
    const int64_t last = M - 1 - m0;
    const T *a0 = A + m0 * lda_m;
    for (int64_t k = 0; k < K; ++k) {
        const T bv = bload(k);
        const int64_t ka = k * lda_k;
#pragma unroll
        for (int i = 0; i < TM; ++i) acc[i] += a0[imin(i, last) * lda_m + ka] * bv;
    }
}

// C[m, n] (+ bias[m]) for an nd_range of (batch, ceil(M/TM), columns padded to the
// work-group size). UNIT: B's and C's column strides are 1 at compile time, so loads
// and stores of neighbouring work-items are contiguous vectors, not gathers.
template <typename T, bool UNIT>
inline void gemm_impl(sycl::nd_item<3> it, const T *A, const T *B, const T *bias, T *C, const GemmParams &g) {
    constexpr int TM = AI3_SYCL_GEMM_TM;
    const int64_t b = int64_t(it.get_global_id(0)), m0 = int64_t(it.get_global_id(1)) * TM,
                  n = int64_t(it.get_global_id(2));
    if (n >= g.N) return;
    const int64_t ldb_n = UNIT ? 1 : g.ldb_n, ldc_n = UNIT ? 1 : g.ldc_n;
    const int64_t outer = b / g.batch_inner, inner = b % g.batch_inner;
    A += outer * g.a_outer + inner * g.a_batch;
    B += outer * g.b_outer + inner * g.b_batch + n * ldb_n;
    C += outer * g.c_outer + inner * g.c_batch + n * ldc_n;
    T acc[TM] = {};
    gemm_rows<T, TM>(A, g.lda_m, g.lda_k, g.M, m0, g.K, [&](int64_t k) { return B[k * g.ldb_k]; }, acc);
    const T *bb = g.has_bias ? bias + outer * g.bias_outer + inner * g.bias_batch : nullptr;
#pragma unroll
    for (int i = 0; i < TM; ++i)
        if (m0 + i < g.M) C[(m0 + i) * g.ldc_m] = acc[i] + (bb ? bb[m0 + i] : T(0));
}

// Two kernels, chosen by the host (one kernel branching between both bodies is not
// vectorised by the OpenCL CPU compiler).
template <typename T>
inline void gemm(sycl::nd_item<3> it, const T *A, const T *B, const T *bias, T *C, GemmParams g) {
    gemm_impl<T, true>(it, A, B, bias, C, g);
}
template <typename T>
inline void gemm_strided(sycl::nd_item<3> it, const T *A, const T *B, const T *bias, T *C, GemmParams g) {
    gemm_impl<T, false>(it, A, B, bias, C, g);
}
inline bool gemm_unit(const GemmParams &g) { return g.ldb_n == 1 && g.ldc_n == 1; }
} // namespace ai3::sk
