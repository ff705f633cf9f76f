// batchnorm2d (inference): out = in * scale[c] + shift[c], with scale = gamma / sqrt(var + eps)
// and shift = beta - mean * scale precomputed by the layer. In place is fine.
#include "../kernels.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>

namespace ai3::fallback {

template <class T> void batchnorm2d_direct(const BatchNorm2dParams &p, const BatchNorm2d::Args<T> &a) {
    const int64_t planes = p.N * p.C, HW = p.HW;
    if (planes <= 0 || HW <= 0) return;
    parallel_for(planes, std::max<int64_t>(1, (int64_t(1) << 15) / HW), [&](int64_t b, int64_t e) {
        for (int64_t pl = b; pl < e; ++pl) {
            const int64_t c = pl % p.C;
            const T s = a.scale[c], t = a.shift[c];
            const T *x = a.input + pl * HW;
            T *y = a.output + pl * HW;
            for (int64_t i = 0; i < HW; ++i) y[i] = x[i] * s + t;
        }
    });
}

template void batchnorm2d_direct<float>(const BatchNorm2dParams &, const BatchNorm2d::Args<float> &);
template void batchnorm2d_direct<double>(const BatchNorm2dParams &, const BatchNorm2d::Args<double> &);

} // namespace ai3::fallback
