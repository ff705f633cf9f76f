// hardsigmoid: relu6(x + 3) / 6 (torch.nn.Hardsigmoid).
// One element per work-item, reading only its own element before writing it, so in
// place (x == y) is safe.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void hardsigmoid(sycl::nd_item<1> it, const T *x, T *y, int64_t n) {
    int64_t i = int64_t(it.get_global_id(0));
    if (i >= n) return;
    y[i] = hardsigmoid_of<T>(x[i]);
}
} // namespace ai3::sk
