// gelu: x * Phi(x) in the exact erf form, or torch's approximate='tanh' form
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). One element per work-item, reading
// only its own element before writing it, so in place (x == y) is safe.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void gelu(sycl::nd_item<1> it, const T *x, T *y, GeluParams p) {
    int64_t i = int64_t(it.get_global_id(0));
    if (i >= p.n) return;
    y[i] = p.tanh ? gelu_tanh_of<SyclMath>(x[i]) : gelu_erf_of<SyclMath>(x[i]);
}
} // namespace ai3::sk
