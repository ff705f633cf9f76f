// cat: one launch per input (the host holds the array of input pointers), each a
// strided copy of its outer x inner block into columns [offset, offset + inner) of
// the outer x total output. Work-items: (1, outer row, column).
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T>
inline void cat_piece(sycl::nd_item<3> it, const T *x, T *y, int64_t outer, int64_t inner, int64_t total,
                      int64_t offset) {
    int64_t o = int64_t(it.get_global_id(1)), j = int64_t(it.get_global_id(2));
    if (o >= outer || j >= inner) return;
    y[o * total + offset + j] = x[o * inner + j];
}
} // namespace ai3::sk
