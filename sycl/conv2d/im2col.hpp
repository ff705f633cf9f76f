// The lowering shared by 'smm' (whole input at once) and 'gemm' (panel by panel):
// col[(plane * R*S + r*S + s) * width + j] = padded input under tap (r, s) of
// output pixel j0 + j, for each (image, channel) plane of dimension 0.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T>
inline void im2col(sycl::nd_item<3> it, const T *x, T *col, Conv2dParams p, int64_t j0, int64_t width) {
    const int64_t plane = int64_t(it.get_global_id(0)), rs = int64_t(it.get_global_id(1)),
                  j = int64_t(it.get_global_id(2));
    if (j >= width) return;
    const int64_t pq = j0 + j, r = rs / p.S, s = rs % p.S;
    const int64_t ih = (pq / p.Q) * p.stride_h - p.pad_h + r * p.dil_h;
    const int64_t iw = (pq % p.Q) * p.stride_w - p.pad_w + s * p.dil_w;
    const bool inside = pq < p.P * p.Q && ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
    col[(plane * p.R * p.S + rs) * width + j] = inside ? x[(plane * p.H + ih) * p.W + iw] : T(0);
}
} // namespace ai3::sk
