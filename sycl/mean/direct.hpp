// mean over a contiguous block of dims: input outer x reduce x inner -> outer x inner.
// inner == 1 (the spatial mean of NCHW): one work-group per output, each work-item a
// compensated partial sum over a strided slice of the row, then a tree reduction over
// the group (pairwise, as accurate as the fallback's double sum at float tolerance).
// inner > 1: one work-item per output, a compensated sum down its column (consecutive
// work-items read consecutive addresses). An empty reduction gives NaN, like torch.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T> inline void mean_rows(sycl::nd_item<3> it, const T *x, T *y, MeanParams p) {
    const int64_t o = int64_t(it.get_global_id(1));
    const int64_t lid = int64_t(it.get_local_id(2)), wg = int64_t(it.get_local_range(2));
    const T *row = x + o * p.reduce;
    T s = 0, c = 0;
    for (int64_t r = lid; r < p.reduce; r += wg) kahan_add(s, c, row[r]);
    T total = sycl::reduce_over_group(it.get_group(), s, sycl::plus<T>());
    if (lid == 0) y[o] = p.reduce > 0 ? total / T(p.reduce) : std::numeric_limits<T>::quiet_NaN();
}

template <typename T> inline void mean_cols(sycl::nd_item<3> it, const T *x, T *y, MeanParams p) {
    const int64_t o = int64_t(it.get_global_id(1)), i = int64_t(it.get_global_id(2));
    if (o >= p.outer || i >= p.inner) return;
    const T *col = x + o * p.reduce * p.inner + i;
    T s = 0, c = 0;
    for (int64_t r = 0; r < p.reduce; ++r) kahan_add(s, c, col[r * p.inner]);
    y[o * p.inner + i] = p.reduce > 0 ? s / T(p.reduce) : std::numeric_limits<T>::quiet_NaN();
}
} // namespace ai3::sk
