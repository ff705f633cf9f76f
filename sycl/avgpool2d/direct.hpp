// avgpool2d with torch's divisor rules: the window is clipped to input + padding
// for count_include_pad, to the input otherwise, unless divisor_override is set.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void avgpool2d(sycl::nd_item<3> it, const T *x, T *y, Pool2dParams p) {
    int64_t plane = int64_t(it.get_global_id(0)), op = int64_t(it.get_global_id(1)), oq = int64_t(it.get_global_id(2));
    if (oq >= p.Q) return;
    int64_t hs = op * p.stride_h - p.pad_h, ws = oq * p.stride_w - p.pad_w;
    int64_t he = imin(hs + p.kh, p.H + p.pad_h), we = imin(ws + p.kw, p.W + p.pad_w);
    const int64_t padded_size = (he - hs) * (we - ws);
    hs = imax(hs, 0);
    ws = imax(ws, 0);
    he = imin(he, p.H);
    we = imin(we, p.W);
    const T *xp = x + plane * p.H * p.W;
    T s = 0;
    for (int64_t h = hs; h < he; ++h)
        for (int64_t w = ws; w < we; ++w) s += xp[h * p.W + w];
    int64_t div = p.divisor_override ? p.divisor_override : (p.count_include_pad ? padded_size : (he - hs) * (we - ws));
    y[(plane * p.P + op) * p.Q + oq] = s / T(div);
}
} // namespace ai3::sk
