// The register-blocked GEMM every lowering shares: a work-item computes TM rows
// of one column of C, so each loaded B element feeds TM multiply-adds and the
// CPU device's vectoriser, running consecutive work-items (consecutive columns)
// in SIMD lanes, turns the TM accumulators into a TM x lanes register tile.
// On the 2-core AVX-512 reference machine this lifts SGEMM from ~24 (one output
// per work-item) to ~190 GFLOP/s (sycl-rtc.md).
#pragma once
#include "../common.hpp"

namespace ai3::sk {

// acc[i] = sum_k Ap[k*TM + i] * bload(k): A packed in row blocks of TM
// ([blocks][K][TM], see pack_rows), so the TM values a step needs share one cache
// line and every block is one sequential stream (rows past M are padding the
// caller drops). The convolution kernels all read their weights packed this way.
template <typename T, int TM, class BLoad>
inline void gemm_rows_packed(const T *Ap, int64_t K, BLoad bload, T (&acc)[TM]) {
    for (int64_t k = 0; k < K; ++k) {
        const T bv = bload(k);
#pragma unroll
        for (int i = 0; i < TM; ++i) acc[i] += Ap[k * TM + i] * bv;
    }
}

// dims (batch, ceil(M/TM), K padded): dst[((b*MB + mb)*K + k)*TM + i] =
// src[b*M*K + min(mb*TM + i, M-1)*K + k], i.e. row-major M x K matrices (the conv
// weights per group) into the packed row blocks gemm_rows_packed reads.
template <typename T> inline void pack_rows(sycl::nd_item<3> it, const T *src, T *dst, int64_t M, int64_t K) {
    constexpr int TM = AI3_SYCL_GEMM_TM;
    const int64_t b = int64_t(it.get_global_id(0)), mb = int64_t(it.get_global_id(1)), k = int64_t(it.get_global_id(2));
    if (k >= K) return;
    const int64_t MB = ceil_div(M, TM);
    T *d = dst + ((b * MB + mb) * K + k) * TM;
    const T *s = src + b * M * K + k;
#pragma unroll
    for (int i = 0; i < TM; ++i) d[i] = s[imin(mb * TM + i, M - 1) * K];
}

// acc[i] = sum_k A[m0+i, k] * bload(k) for the TM rows starting at m0 of a strided,
// unpacked A (rows past M read row M-1 and are dropped by the caller).
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
    const int64_t b = int64_t(it.get_global_id(0)), m0 = int64_t(it.get_global_id(1)) * TM;
    const int64_t outer = b / g.batch_inner, inner = b % g.batch_inner;
    A += outer * g.a_outer + inner * g.a_batch;
    B += outer * g.b_outer + inner * g.b_batch;
    C += outer * g.c_outer + inner * g.c_batch;
    const T *bb = g.has_bias ? bias + outer * g.bias_outer + inner * g.bias_batch : nullptr;
    if constexpr (UNIT) {
        // Two columns per work-item, a work-group width apart (so both stay contiguous
        // across the SIMD lanes): each broadcast weight feeds two vector FMAs. Columns
        // past N read up to two work-groups beyond B's last row: callers allocate B
        // with kGemmSlack elements of slack; those columns are never stored.
        const int64_t wg = int64_t(it.get_local_range(2));
        const int64_t n0 = int64_t(it.get_group(2)) * 2 * wg + int64_t(it.get_local_id(2)), n1 = n0 + wg;
        if (n0 >= g.N) return;
        const T *B0 = B + n0, *B1 = B + n1, *Ap = A + m0 * g.K; // A packed (pack_rows)
        T acc0[TM] = {}, acc1[TM] = {};
        for (int64_t k = 0; k < g.K; ++k) {
            const T b0 = B0[k * g.ldb_k], b1 = B1[k * g.ldb_k];
#pragma unroll
            for (int i = 0; i < TM; ++i) {
                const T a = Ap[k * TM + i];
                acc0[i] += a * b0;
                acc1[i] += a * b1;
            }
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
            if (m0 + i < g.M) {
                const T bi = bb ? bb[m0 + i] : T(0);
                C[(m0 + i) * g.ldc_m + n0] = acc0[i] + bi;
                if (n1 < g.N) C[(m0 + i) * g.ldc_m + n1] = acc1[i] + bi;
            }
    } else {
        const int64_t n = int64_t(it.get_global_id(2));
        if (n >= g.N) return;
        B += n * g.ldb_n;
        C += n * g.ldc_n;
        T acc[TM] = {};
        gemm_rows<T, TM>(A, g.lda_m, g.lda_k, g.M, m0, g.K, [&](int64_t k) { return B[k * g.ldb_k]; }, acc);
#pragma unroll
        for (int i = 0; i < TM; ++i)
            if (m0 + i < g.M) C[(m0 + i) * g.ldc_m] = acc[i] + (bb ? bb[m0 + i] : T(0));
    }
}

// Two kernels, chosen by the host (one kernel branching between both bodies is not
// vectorised by the OpenCL CPU compiler): `gemm` with unit column strides and A packed
// (the convolutions), `gemm_strided` with any strides and A as it is (linear).
template <typename T> inline void gemm(sycl::nd_item<3> it, const T *A, const T *B, const T *bias, T *C, GemmParams g) {
    gemm_impl<T, true>(it, A, B, bias, C, g);
}
template <typename T>
inline void gemm_strided(sycl::nd_item<3> it, const T *A, const T *B, const T *bias, T *C, GemmParams g) {
    gemm_impl<T, false>(it, A, B, bias, C, g);
}
} // namespace ai3::sk
