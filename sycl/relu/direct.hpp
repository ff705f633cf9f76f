// relu, elementwise: one element per work-item (the CPU device vectorises across
// work-items). NaN stays NaN, like torch.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void relu(sycl::nd_item<1> it, const T *x, T *y, int64_t n) {
    int64_t i = int64_t(it.get_global_id(0));
    if (i >= n) return;
    y[i] = relu_of<T>(x[i]);
}
} // namespace ai3::sk
