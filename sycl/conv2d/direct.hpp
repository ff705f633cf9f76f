// conv2d 'direct': the convolution loop nest itself, no lowering. A work-item owns
// one output pixel of KB output channels (register blocking: each input value
// loaded feeds KB multiply-adds); consecutive work-items are consecutive output
// columns, which the CPU device runs in SIMD lanes. Zero padding is the bounds test.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T>
inline void conv2d_direct(sycl::nd_item<3> it, const T *x, const T *w, const T *bias, T *y, Conv2dParams p) {
    constexpr int KB = AI3_SYCL_DIRECT_KB;
    const int64_t Kg = p.K / p.groups, Cg = p.C / p.groups, RS = p.R * p.S;
    const int64_t kblocks = ceil_div(Kg, KB), per_image = kblocks * p.groups;
    const int64_t i0 = int64_t(it.get_global_id(0)), op = int64_t(it.get_global_id(1)),
                  oq = int64_t(it.get_global_id(2));
    if (oq >= p.Q) return;
    const int64_t n = i0 / per_image, g = (i0 % per_image) / kblocks;
    const int64_t k0 = g * Kg + (i0 % kblocks) * KB, kcount = imin(KB, (g + 1) * Kg - k0);
    const int64_t ih0 = op * p.stride_h - p.pad_h, iw0 = oq * p.stride_w - p.pad_w;
    const T *xg = x + (n * p.C + g * Cg) * p.H * p.W;
    const T *wk[KB];
#pragma unroll
    for (int j = 0; j < KB; ++j) wk[j] = w + (k0 + imin(j, kcount - 1)) * Cg * RS;
    T acc[KB] = {};
    for (int64_t c = 0; c < Cg; ++c) {
        const T *xc = xg + c * p.H * p.W;
        for (int64_t r = 0; r < p.R; ++r) {
            const int64_t ih = ih0 + r * p.dil_h;
            if (ih < 0 || ih >= p.H) continue;
            for (int64_t s = 0; s < p.S; ++s) {
                const int64_t iw = iw0 + s * p.dil_w;
                if (iw < 0 || iw >= p.W) continue;
                const T v = xc[ih * p.W + iw];
                const int64_t widx = c * RS + r * p.S + s;
#pragma unroll
                for (int j = 0; j < KB; ++j) acc[j] += wk[j][widx] * v;
            }
        }
    }
#pragma unroll
    for (int j = 0; j < KB; ++j)
        if (j < kcount) y[((n * p.K + k0 + j) * p.P + op) * p.Q + oq] = acc[j] + (p.has_bias ? bias[k0 + j] : T(0));
}
} // namespace ai3::sk
