// layernorm: (x - mean) / sqrt(var + eps) * weight + bias per group of D elements with
// the biased variance (torch.nn.functional.layer_norm). Two passes (mean, then the sum
// of squared deviations) rather than E[x^2] - mean^2, which cancels catastrophically.
// inner == 1 (rows of D): one work-group per row, compensated partial sums reduced over
// the group. inner > 1 (normalising over the channels of NCHW): one work-item per
// (image, position), walking its channels at stride inner. Every read of a group
// happens before its first write, so in place is safe.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
template <typename T>
inline T layernorm_apply(T v, T mean, T rstd, const T *w, const T *b, int64_t d, const LayerNormGeometry &g) {
    T z = (v - mean) * rstd;
    if (g.has_weight) z *= w[d];
    if (g.has_bias) z += b[d];
    return z;
}

template <typename T>
inline void layernorm_rows(sycl::nd_item<3> it, const T *x, const T *w, const T *b, T *y, LayerNormGeometry g, T eps) {
    const int64_t m = int64_t(it.get_global_id(1));
    const int64_t lid = int64_t(it.get_local_id(2)), wg = int64_t(it.get_local_range(2));
    const T *row = x + m * g.D;
    T s = 0, c = 0;
    for (int64_t d = lid; d < g.D; d += wg) kahan_add(s, c, row[d]);
    const T mean = sycl::reduce_over_group(it.get_group(), s, sycl::plus<T>()) / T(g.D);
    s = 0;
    c = 0;
    for (int64_t d = lid; d < g.D; d += wg) {
        T v = row[d] - mean;
        kahan_add(s, c, v * v);
    }
    const T var = sycl::reduce_over_group(it.get_group(), s, sycl::plus<T>()) / T(g.D);
    const T rstd = T(1) / sycl::sqrt(var + eps);
    T *out = y + m * g.D;
    for (int64_t d = lid; d < g.D; d += wg) out[d] = layernorm_apply(row[d], mean, rstd, w, b, d, g);
}

template <typename T>
inline void layernorm_cols(sycl::nd_item<3> it, const T *x, const T *w, const T *b, T *y, LayerNormGeometry g, T eps) {
    const int64_t o = int64_t(it.get_global_id(1)), i = int64_t(it.get_global_id(2));
    if (o * g.inner >= g.M || i >= g.inner) return;
    const int64_t base = o * g.D * g.inner + i;
    T s = 0, c = 0;
    for (int64_t d = 0; d < g.D; ++d) kahan_add(s, c, x[base + d * g.inner]);
    const T mean = s / T(g.D);
    s = 0;
    c = 0;
    for (int64_t d = 0; d < g.D; ++d) {
        T v = x[base + d * g.inner] - mean;
        kahan_add(s, c, v * v);
    }
    const T rstd = T(1) / sycl::sqrt(s / T(g.D) + eps);
    for (int64_t d = 0; d < g.D; ++d)
        y[base + d * g.inner] = layernorm_apply(x[base + d * g.inner], mean, rstd, w, b, d, g);
}
} // namespace ai3::sk
