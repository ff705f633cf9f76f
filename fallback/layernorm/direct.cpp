// layernorm: per row of D elements, (x - mean) / sqrt(var + eps) * weight + bias with the
// biased variance (torch.nn.functional.layer_norm). Two passes in double for stability.
#include "../kernels.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>
#include <cmath>

namespace ai3::fallback {

template <class T> void layernorm_direct(const LayerNormParams &p, const LayerNorm::Args<T> &a) {
    if (p.M <= 0 || p.D <= 0) return;
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
