// split: one piece of chunk/split (torch.narrow) copied dense: output row o is
// elements [start*inner, (start+len)*inner) of input row o (dim*inner long).
// Work-items: (1, outer row, column).
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void split(sycl::nd_item<3> it, const T *x, T *y, SplitParams p) {
    const int64_t row = p.len * p.inner;
    int64_t o = int64_t(it.get_global_id(1)), j = int64_t(it.get_global_id(2));
    if (o >= p.outer || j >= row) return;
    y[o * row + j] = x[(o * p.dim + p.start) * p.inner + j];
}
} // namespace ai3::sk
