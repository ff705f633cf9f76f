// add: a + b with torch broadcasting, one output element per work-item. The host
// collapses the shapes first (sk::BroadcastParams), so a work-item's offsets come from its
// index with no division. An operand that aliases the output has the output's dense shape, so
// each work-item reads only its own element of it before writing that element: in
// place is safe.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void add(sycl::nd_item<3> it, const T *a, const T *b, T *y, BroadcastParams p) {
    const int64_t i1 = int64_t(it.get_global_id(1)), i2 = int64_t(it.get_global_id(2));
    if (i1 >= p.n1 || i2 >= p.n2) return;
    const int64_t i0 = int64_t(it.get_global_id(0));
    const int64_t o = (i0 * p.n1 + i1) * p.n2 + i2;
    const int64_t ao = i0 * p.a0 + i1 * p.a1 + i2 * p.a2, bo = i0 * p.b0 + i1 * p.b1 + i2 * p.b2;
    y[o] = a[ao] + b[bo];
}
} // namespace ai3::sk
