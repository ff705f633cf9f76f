// mean over a contiguous block of dims: input outer x reduce x inner -> outer x inner,
// accumulated in double for float inputs (as torch's reduction is more exact than a naive float sum).
#include "../kernels.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ai3::fallback {

template <class T> void mean_direct(const MeanParams &p, const UnaryArgs<T> &a) {
    if (p.outer <= 0 || p.inner <= 0) return;
    const double inv = p.reduce > 0 ? 1.0 / double(p.reduce) : 0.0;
    if (p.inner == 1) { // spatial mean of NCHW: one contiguous run per output
        parallel_for(p.outer, std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, p.reduce)),
                     [&](int64_t b, int64_t e) {
                         for (int64_t o = b; o < e; ++o) {
                             const T *x = a.input + o * p.reduce;
                             double s = 0;
                             for (int64_t r = 0; r < p.reduce; ++r) s += double(x[r]);
                             a.output[o] = p.reduce > 0 ? T(s * inv) : T(NAN);
                         }
                     });
        return;
    }
    parallel_for(p.outer, 1, [&](int64_t b, int64_t e) {
        std::vector<double> acc(std::size_t(p.inner));
        for (int64_t o = b; o < e; ++o) {
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int64_t r = 0; r < p.reduce; ++r) {
                const T *x = a.input + (o * p.reduce + r) * p.inner;
                for (int64_t i = 0; i < p.inner; ++i) acc[std::size_t(i)] += double(x[i]);
            }
            T *y = a.output + o * p.inner;
            for (int64_t i = 0; i < p.inner; ++i) y[i] = p.reduce > 0 ? T(acc[std::size_t(i)] * inv) : T(NAN);
        }
    });
}

template void mean_direct<float>(const MeanParams &, const UnaryArgs<float> &);
template void mean_direct<double>(const MeanParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
