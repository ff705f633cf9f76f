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
    const T *rows[TM];
#pragma unroll
    for (int i = 0; i < TM; ++i) rows[i] = A + imin(m0 + i, M - 1) * lda_m;
    for (int64_t k = 0; k < K; ++k) {
        const T bv = bload(k);
        const int64_t ka = k * lda_k;
#pragma unroll
        for (int i = 0; i < TM; ++i) acc[i] += rows[i][ka] * bv;
    }
}

// C[m, n] (+ bias[m]) for an nd_range of (batch, ceil(M/TM), columns padded to the
// work-group size).
template <typename T>
inline void gemm(sycl::nd_item<3> it, const T *A, const T *B, const T *bias, T *C, GemmParams g) {
    constexpr int TM = AI3_SYCL_GEMM_TM;
    const int64_t b = int64_t(it.get_global_id(0)), m0 = int64_t(it.get_global_id(1)) * TM,
                  n = int64_t(it.get_global_id(2));
    if (n >= g.N) return;
    const int64_t outer = b / g.batch_inner, inner = b % g.batch_inner;
    A += outer * g.a_outer + inner * g.a_batch;
    B += outer * g.b_outer + inner * g.b_batch + n * g.ldb_n;
    C += outer * g.c_outer + inner * g.c_batch + n * g.ldc_n;
    T acc[TM] = {};
    gemm_rows<T, TM>(A, g.lda_m, g.lda_k, g.M, m0, g.K, [&](int64_t k) { return B[k * g.ldb_k]; }, acc);
    const T *bb = g.has_bias ? bias + outer * g.bias_outer + inner * g.bias_batch : nullptr;
#pragma unroll
    for (int i = 0; i < TM; ++i)
        if (m0 + i < g.M) C[(m0 + i) * g.ldc_m] = acc[i] + (bb ? bb[m0 + i] : T(0));
}

} // namespace ai3::sk
