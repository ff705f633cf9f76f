// conv2d 'winograd': Winograd minimal filtering F(2x2, 3x3), for 3x3 filters with
// stride 1 and dilation 1 (the host refuses anything else). Three transforms around
// 16 batched GEMMs (gemm/gemm.hpp), one per point e of the 4x4 transformed tile:
//   U[e][g][k][c] = (G w G^T)[e]           filters, once per weight version (packed by k blocks)
//   V[e][g][c][t] = (B^T d B)[e]           input tiles d (4x4, stride 2)
//   M[e][g][k][t] = sum_c U[e][g][k][c] V[e][g][c][t]
//   y tile        = A^T M A (2x2) + bias
// 16 multiplies per 4 outputs instead of 36: 2.25x fewer.
//
// The transforms mix each value into several products with both signs, so one infinity
// turns whole tiles to NaN where the convolution gives +-inf. The filter and input
// transforms raise flags[1] / flags[0] on a NaN or infinity; the host then computes the
// call with 'direct' (src/conv2d.cpp), so results follow torch's.
#pragma once
#include "../gemm/gemm.hpp"

namespace ai3::sk {

// dims (1, K, Cg padded): one filter per work-item.
template <typename T> inline void winograd_filter(sycl::nd_item<3> it, const T *w, T *U, int *flags, Conv2dParams p) {
    const int64_t Kg = p.K / p.groups, Cg = p.C / p.groups;
    const int64_t k = int64_t(it.get_global_id(1)), c = int64_t(it.get_global_id(2));
    if (c >= Cg) return;
    const int64_t g = k / Kg, kk = k % Kg;
    const T *f = w + (k * Cg + c) * 9;
    bool finite = true;
    for (int i = 0; i < 9; ++i) finite &= is_finite(f[i]);
    if (!finite) raise_flag(flags, 1);
    T u[16];
    winograd_f2x2::filter_transform(f, u);
    // Packed for the GEMM (pack_rows' layout, batch e*groups + g, M = Kg, K = Cg);
    // padding rows of the last block are zeroed by the host.
    constexpr int TM = AI3_SYCL_GEMM_TM;
    const int64_t MB = ceil_div(Kg, TM);
    for (int e = 0; e < 16; ++e) U[(((e * p.groups + g) * MB + kk / TM) * Cg + c) * TM + kk % TM] = u[e];
}

// dims (C, 1, tiles padded): one 4x4 input tile of one channel per work-item.
template <typename T> inline void winograd_input(sycl::nd_item<3> it, const T *x, T *V, int *flags, WinogradParams wp) {
    const Conv2dParams &p = wp.conv;
    const int64_t Cg = p.C / p.groups;
    const int64_t ch = int64_t(it.get_global_id(0)), t = int64_t(it.get_global_id(2));
    if (t >= wp.tiles) return;
    const int64_t per_image = wp.tiles_h * wp.tiles_w, n = t / per_image, ty = (t % per_image) / wp.tiles_w,
                  tx = t % wp.tiles_w;
    const int64_t h0 = 2 * ty - p.pad_h, w0 = 2 * tx - p.pad_w;
    const T *xc = x + (n * p.C + ch) * p.H * p.W;
    T d[16];
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            const int64_t h = h0 + i, ww = w0 + j;
            d[i * 4 + j] = (h >= 0 && h < p.H && ww >= 0 && ww < p.W) ? xc[h * p.W + ww] : T(0);
        }
    bool finite = true;
    for (int e = 0; e < 16; ++e) finite &= is_finite(d[e]);
    if (!finite) raise_flag(flags, 0);
    T v[16];
    winograd_f2x2::input_transform(d, v);
    const int64_t g = ch / Cg, c = ch % Cg;
    for (int e = 0; e < 16; ++e) V[((e * p.groups + g) * Cg + c) * wp.tiles + t] = v[e];
}

// dims (K, 1, tiles padded): one 2x2 output tile of one output channel per work-item.
template <typename T>
inline void winograd_output(sycl::nd_item<3> it, const T *M, const T *bias, T *y, WinogradParams wp) {
    const Conv2dParams &p = wp.conv;
    const int64_t Kg = p.K / p.groups;
    const int64_t k = int64_t(it.get_global_id(0)), t = int64_t(it.get_global_id(2));
    if (t >= wp.tiles) return;
    const int64_t g = k / Kg, kk = k % Kg;
    T m[16], o[4];
    for (int e = 0; e < 16; ++e) m[e] = M[((e * p.groups + g) * Kg + kk) * wp.tiles + t];
    winograd_f2x2::output_transform(m, o);
    const int64_t per_image = wp.tiles_h * wp.tiles_w, n = t / per_image, ty = (t % per_image) / wp.tiles_w,
                  tx = t % wp.tiles_w;
    const T bv = p.has_bias ? bias[k] : T(0);
    T *yk = y + (n * p.K + k) * p.P * p.Q;
    for (int i = 0; i < 2; ++i) {
        const int64_t oh = 2 * ty + i;
        if (oh >= p.P) continue;
        for (int j = 0; j < 2; ++j) {
            const int64_t ow = 2 * tx + j;
            if (ow < p.Q) yk[oh * p.Q + ow] = o[i * 2 + j] + bv;
        }
    }
}

} // namespace ai3::sk
