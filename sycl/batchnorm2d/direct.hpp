// batchnorm2d (inference), folded by the layer to a per-channel affine map:
// y = x * scale[c] + shift[c] over N x C x HW. One element per work-item; each
// work-item reads only its own element, so in place (x == y) is safe.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T>
inline void batchnorm2d(sycl::nd_item<1> it, const T *x, const T *scale, const T *shift, T *y, BatchNorm2dParams p) {
    int64_t i = int64_t(it.get_global_id(0));
    if (i >= p.N * p.C * p.HW) return;
    int64_t c = (i / p.HW) % p.C;
    y[i] = x[i] * scale[c] + shift[c];
}
} // namespace ai3::sk
