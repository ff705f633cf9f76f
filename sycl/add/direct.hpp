// add: a + b with torch broadcasting, one output element per work-item. The host
// collapses the shapes first (sk::BroadcastParams), so the common cases (same
// shape, per-channel operand) cost one or two divisions per element. An operand
// that aliases the output has the output's dense shape, so work-item i reads only
// element i of it before writing element i: in place is safe.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void add(sycl::nd_item<1> it, const T *a, const T *b, T *y, BroadcastParams p) {
    int64_t i = int64_t(it.get_global_id(0));
    if (i >= p.total) return;
    int64_t ao, bo;
    broadcast_offsets(p, i, ao, bo);
    y[i] = a[ao] + b[bo];
}
} // namespace ai3::sk
