// linear: y[M, N] = x[M, K] * w[N, K]^T + b, one gemm (trans_b) plus the bias.
#include "../gemm/gemm.hpp"
#include "../kernels.hpp"
#include "ai3/errors.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>

namespace ai3::fallback {

template <class T> void linear_direct(const LinearParams &p, const Linear::Args<T> &a) {
    AI3_CHECK(p.M >= 0 && p.K >= 0 && p.N >= 0, ValueError, "linear: negative size");
    if (p.M == 0 || p.N == 0) return;
    if (p.K == 0) {
        for (int64_t i = 0; i < p.M; ++i) std::fill(a.output + i * p.N, a.output + (i + 1) * p.N, T(0));
    } else {
        gemm<T>(false, true, p.M, p.N, p.K, a.input, p.K, a.weight, p.K, T(0), a.output, p.N);
    }
    if (p.has_bias) {
        const T *b = a.bias;
        parallel_for(p.M, std::max<int64_t>(1, (int64_t(1) << 14) / p.N), [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) {
                T *y = a.output + i * p.N;
                for (int64_t j = 0; j < p.N; ++j) y[j] += b[j];
            }
        });
    }
}

template void linear_direct<float>(const LinearParams &, const Linear::Args<float> &);
template void linear_direct<double>(const LinearParams &, const Linear::Args<double> &);

} // namespace ai3::fallback
