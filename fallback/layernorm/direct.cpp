// layernorm: per row of D elements, (x - mean) / sqrt(var + eps) * weight + bias with the
// biased variance (torch.nn.functional.layer_norm). Two passes in double for stability.
#include "../kernels.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>
#include <cmath>

namespace ai3::fallback {

namespace {

// Normalisation over a middle dim: a block of up to kBlock consecutive inner positions is
// reduced over D together, so every read is a contiguous run.
template <class T> void layernorm_strided(const LayerNormParams &p, const LayerNorm::Args<T> &a) {
    constexpr int64_t kBlock = 256;
    const int64_t outer = p.M / p.inner, nb = (p.inner + kBlock - 1) / kBlock;
    parallel_for(outer * nb, 1, [&](int64_t b, int64_t e) {
        double sum[kBlock], sq[kBlock];
        for (int64_t it = b; it < e; ++it) {
            const int64_t o = it / nb, i0 = (it % nb) * kBlock, n = std::min(kBlock, p.inner - i0);
            const T *x = a.input + o * p.D * p.inner + i0;
            T *y = a.output + o * p.D * p.inner + i0;
            std::fill(sum, sum + n, 0.0);
            for (int64_t d = 0; d < p.D; ++d)
                for (int64_t i = 0; i < n; ++i) sum[i] += double(x[d * p.inner + i]);
            for (int64_t i = 0; i < n; ++i) sum[i] /= double(p.D); // the mean
            std::fill(sq, sq + n, 0.0);
            for (int64_t d = 0; d < p.D; ++d)
                for (int64_t i = 0; i < n; ++i) {
                    double v = double(x[d * p.inner + i]) - sum[i];
                    sq[i] += v * v;
                }
            for (int64_t i = 0; i < n; ++i) sq[i] = 1.0 / std::sqrt(sq[i] / double(p.D) + p.eps); // rstd
            for (int64_t d = 0; d < p.D; ++d) {
                const double w = p.has_weight ? double(a.weight[d]) : 1.0, bb = p.has_bias ? double(a.bias[d]) : 0.0;
                for (int64_t i = 0; i < n; ++i)
                    y[d * p.inner + i] = T((double(x[d * p.inner + i]) - sum[i]) * sq[i] * w + bb);
            }
        }
    });
}

} // namespace

template <class T> void layernorm_direct(const LayerNormParams &p, const LayerNorm::Args<T> &a) {
    if (p.M <= 0 || p.D <= 0) return;
    if (p.inner > 1) return layernorm_strided(p, a);
    parallel_for(p.M, std::max<int64_t>(1, (int64_t(1) << 13) / p.D), [&](int64_t b, int64_t e) {
        for (int64_t m = b; m < e; ++m) {
            const T *x = a.input + m * p.D;
            T *y = a.output + m * p.D;
            double s = 0;
            for (int64_t i = 0; i < p.D; ++i) s += double(x[i]);
            const double mean = s / double(p.D);
            double v = 0;
            for (int64_t i = 0; i < p.D; ++i) {
                double d = double(x[i]) - mean;
                v += d * d;
            }
            const double rstd = 1.0 / std::sqrt(v / double(p.D) + p.eps);
            for (int64_t i = 0; i < p.D; ++i) {
                double z = (double(x[i]) - mean) * rstd;
                if (p.has_weight) z *= double(a.weight[i]);
                if (p.has_bias) z += double(a.bias[i]);
                y[i] = T(z);
            }
        }
    });
}

template void layernorm_direct<float>(const LayerNormParams &, const LayerNorm::Args<float> &);
template void layernorm_direct<double>(const LayerNormParams &, const LayerNorm::Args<double> &);

} // namespace ai3::fallback
