// silu: x * sigmoid(x) (torch.nn.SiLU); exp overflow gives the exact limit 0.
// One element per work-item, reading only its own element before writing it, so in
// place (x == y) is safe.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void silu(sycl::nd_item<1> it, const T *x, T *y, int64_t n) {
    int64_t i = int64_t(it.get_global_id(0));
    if (i >= n) return;
    y[i] = silu_of<SyclMath>(x[i]);
}
} // namespace ai3::sk
