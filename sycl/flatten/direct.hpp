// flatten only changes the shape; its kernel is the copy into the output buffer
// (skipped by the Model, which reuses the buffer, and when input == output).
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void copy(sycl::nd_item<1> it, const T *x, T *y, int64_t n) {
    int64_t i = int64_t(it.get_global_id(0));
    if (i < n) y[i] = x[i];
}
} // namespace ai3::sk
