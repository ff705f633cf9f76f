// batchnorm2d (inference), folded by the layer to a per-channel affine map:
// y = x * scale[c] + shift[c] over N x C x HW. Work-items (n, c, i): the channel comes
// from the index space, not from a division per element. Each work-item reads only
// its own element, so in place (x == y) is safe.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T>
inline void batchnorm2d(sycl::nd_item<3> it, const T *x, const T *scale, const T *shift, T *y, BatchNorm2dParams p) {
    const int64_t n = int64_t(it.get_global_id(0)), c = int64_t(it.get_global_id(1)), i = int64_t(it.get_global_id(2));
    if (c >= p.C || i >= p.HW) return;
    const int64_t k = (n * p.C + c) * p.HW + i;
    y[k] = x[k] * scale[c] + shift[c];
}
} // namespace ai3::sk
