// conv2d 'implicit precomp gemm': the implicit GEMM with each reduction row's
// input offset and tap displacement precomputed once per layer shape (the table
// the host builds: off[k] = c*H*W + r*dil_h*W + s*dil_w, dh[k] = r*dil_h,
// dw[k] = s*dil_w), so the inner loop does no division. Weights packed as in pack_rows.
#pragma once
#include "../gemm/gemm.hpp"

namespace ai3::sk {
template <typename T>
inline void conv2d_implicit_precomp_gemm(sycl::nd_item<3> it, const T *x, const T *w, const T *bias, T *y,
                                         const int64_t *table, Conv2dParams p) {
    constexpr int TM = AI3_SYCL_GEMM_TM;
    const int64_t Kg = p.K / p.groups, Cg = p.C / p.groups, KD = Cg * p.R * p.S, PQ = p.P * p.Q;
    const int64_t b = int64_t(it.get_global_id(0)), m0 = int64_t(it.get_global_id(1)) * TM,
                  j = int64_t(it.get_global_id(2));
    if (j >= PQ) return;
    const int64_t n = b / p.groups, g = b % p.groups;
    const int64_t ih0 = (j / p.Q) * p.stride_h - p.pad_h, iw0 = (j % p.Q) * p.stride_w - p.pad_w;
    const T *xb = x + (n * p.C + g * Cg) * p.H * p.W + ih0 * p.W + iw0;
    const int64_t *off = table, *dh = table + KD, *dw = table + 2 * KD;
    T acc[TM] = {};
    gemm_rows_packed<T, TM>(
        w + (g * ceil_div(Kg, TM) * TM + m0) * KD, KD,
        [&](int64_t k) {
            const int64_t ih = ih0 + dh[k], iw = iw0 + dw[k];
            return (ih >= 0 && ih < p.H && iw >= 0 && iw < p.W) ? xb[off[k]] : T(0);
        },
        acc);
#pragma unroll
    for (int i = 0; i < TM; ++i)
        if (m0 + i < Kg) {
            const int64_t k = g * Kg + m0 + i;
            y[(n * p.K + k) * PQ + j] = acc[i] + (p.has_bias ? bias[k] : T(0));
        }
}
} // namespace ai3::sk
