// permute: dense copy walking the output in order. The host turns the permutation
// into the output's shape and, per output dim, the input stride (sk::StridedParams),
// collapsing dims that stay adjacent, so a work-item decodes its row once and reads
// its column at the innermost stride. Work-items: (1, output row, column).
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void permute(sycl::nd_item<3> it, const T *x, T *y, StridedParams p) {
    const int r = p.rank;
    const int64_t inner = p.shape[r - 1];
    int64_t row = int64_t(it.get_global_id(1)), j = int64_t(it.get_global_id(2));
    if (row >= p.rows || j >= inner) return;
    int64_t off = 0, rem = row;
    for (int d = r - 2; d >= 0; --d) {
        off += (rem % p.shape[d]) * p.stride[d];
        rem /= p.shape[d];
    }
    y[row * inner + j] = x[off + j * p.stride[r - 1]];
}
} // namespace ai3::sk
