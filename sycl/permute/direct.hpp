// permute: dense copy walking the output in order. The host turns the permutation
// into the output's shape and, per output dim, the input stride (sk::StridedParams),
// merging dims that stay adjacent, so NCHW -> NHWC is N x HW x C read at strides
// (CHW, 1, HW). Work-items over the last three dims; the host loops over any others.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void permute(sycl::nd_item<3> it, const T *x, T *y, StridedParams p) {
    const int64_t i0 = int64_t(it.get_global_id(0)), i1 = int64_t(it.get_global_id(1)),
                  i2 = int64_t(it.get_global_id(2));
    if (i1 >= p.n1 || i2 >= p.n2) return;
    y[(i0 * p.n1 + i1) * p.n2 + i2] = x[i0 * p.s0 + i1 * p.s1 + i2 * p.s2];
}
} // namespace ai3::sk
