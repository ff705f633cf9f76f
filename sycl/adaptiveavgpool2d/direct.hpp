// adaptive average pooling, torch's windows: rows [floor(p*H/P), ceil((p+1)*H/P)).
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void adaptiveavgpool2d(sycl::nd_item<3> it, const T *x, T *y, AdaptiveAvgPool2dParams p) {
    int64_t plane = int64_t(it.get_global_id(0)), op = int64_t(it.get_global_id(1)), oq = int64_t(it.get_global_id(2));
    if (oq >= p.Q) return;
    int64_t hs = (op * p.H) / p.P, he = ceil_div((op + 1) * p.H, p.P);
    int64_t ws = (oq * p.W) / p.Q, we = ceil_div((oq + 1) * p.W, p.Q);
    const T *xp = x + plane * p.H * p.W;
    T s = 0;
    for (int64_t h = hs; h < he; ++h)
        for (int64_t w = ws; w < we; ++w) s += xp[h * p.W + w];
    y[(plane * p.P + op) * p.Q + oq] = s / T((he - hs) * (we - ws));
}
} // namespace ai3::sk
