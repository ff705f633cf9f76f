// maxpool2d: one output per work-item over (N*C, P, Q). Padding never wins (torch
// pads with -inf) and NaN propagates, like torch.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void maxpool2d(sycl::nd_item<3> it, const T *x, T *y, Pool2dParams p) {
    int64_t plane = int64_t(it.get_global_id(0)), op = int64_t(it.get_global_id(1)), oq = int64_t(it.get_global_id(2));
    if (oq >= p.Q) return;
    const T *xp = x + plane * p.H * p.W;
    const int64_t h0 = op * p.stride_h - p.pad_h, w0 = oq * p.stride_w - p.pad_w;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t i = 0; i < p.kh; ++i) {
        int64_t h = h0 + i * p.dil_h;
        if (h < 0 || h >= p.H) continue;
        for (int64_t j = 0; j < p.kw; ++j) {
            int64_t w = w0 + j * p.dil_w;
            if (w < 0 || w >= p.W) continue;
            T v = xp[h * p.W + w];
            if (v > m || sycl::isnan(v)) m = v;
        }
    }
    y[(plane * p.P + op) * p.Q + oq] = m;
}
} // namespace ai3::sk
