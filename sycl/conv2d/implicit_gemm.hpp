// conv2d 'implicit gemm': the GEMM over the convolution's implicit matrix, with B
// read straight from the input. Row k of B is decoded into (channel, r, s) on the
// fly (uniform across the work-group, so scalar work), column n into (p, q) once.
#pragma once
#include "../gemm/gemm.hpp"

namespace ai3::sk {
template <typename T>
inline void conv2d_implicit_gemm(sycl::nd_item<3> it, const T *x, const T *w, const T *bias, T *y, Conv2dParams p) {
    constexpr int TM = AI3_SYCL_GEMM_TM;
    const int64_t Kg = p.K / p.groups, Cg = p.C / p.groups, RS = p.R * p.S, PQ = p.P * p.Q;
    const int64_t b = int64_t(it.get_global_id(0)), m0 = int64_t(it.get_global_id(1)) * TM,
                  j = int64_t(it.get_global_id(2));
    if (j >= PQ) return;
    const int64_t n = b / p.groups, g = b % p.groups;
    const int64_t ih0 = (j / p.Q) * p.stride_h - p.pad_h, iw0 = (j % p.Q) * p.stride_w - p.pad_w;
    const T *xg = x + (n * p.C + g * Cg) * p.H * p.W;
    T acc[TM] = {};
    gemm_rows_packed<T, TM>(
        w + (g * ceil_div(Kg, TM) * TM + m0) * Cg * RS, Cg * RS,
        [&](int64_t k) {
            const int64_t c = k / RS, rs = k % RS;
            const int64_t ih = ih0 + (rs / p.S) * p.dil_h, iw = iw0 + (rs % p.S) * p.dil_w;
            return (ih >= 0 && ih < p.H && iw >= 0 && iw < p.W) ? xg[(c * p.H + ih) * p.W + iw] : T(0);
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
