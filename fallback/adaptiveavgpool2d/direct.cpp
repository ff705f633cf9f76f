// adaptive average pooling (torch): output cell (p, q) averages rows
// [floor(p*H/P), ceil((p+1)*H/P)) x columns [floor(q*W/Q), ceil((q+1)*W/Q)).
#include "../kernels.hpp"
#include "ai3/errors.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>

namespace ai3::fallback {

template <class T> void adaptiveavgpool2d_direct(const AdaptiveAvgPool2dParams &p, const UnaryArgs<T> &a) {
    AI3_CHECK(p.N >= 0 && p.C >= 0 && p.H >= 0 && p.W >= 0 && p.P >= 0 && p.Q >= 0, ValueError,
              "adaptiveavgpool2d: negative size");
    const int64_t planes = p.N * p.C, HW = p.H * p.W, PQ = p.P * p.Q;
    if (planes <= 0 || PQ <= 0) return;
    parallel_for(planes, std::max<int64_t>(1, (int64_t(1) << 12) / std::max<int64_t>(PQ, HW)),
                 [&](int64_t b, int64_t e) {
                     for (int64_t pl = b; pl < e; ++pl) {
                         const T *in = a.input + pl * HW;
                         T *out = a.output + pl * PQ;
                         for (int64_t oh = 0; oh < p.P; ++oh) {
                             const int64_t h0 = oh * p.H / p.P, h1 = ((oh + 1) * p.H + p.P - 1) / p.P;
                             for (int64_t ow = 0; ow < p.Q; ++ow) {
                                 const int64_t w0 = ow * p.W / p.Q, w1 = ((ow + 1) * p.W + p.Q - 1) / p.Q;
                                 T sum = T(0);
                                 for (int64_t h = h0; h < h1; ++h) {
                                     const T *row = in + h * p.W;
                                     for (int64_t w = w0; w < w1; ++w) sum += row[w];
                                 }
                                 const int64_t cnt = (h1 - h0) * (w1 - w0);
                                 out[oh * p.Q + ow] = cnt > 0 ? sum / T(cnt) : T(0);
                             }
                         }
                     }
                 });
}

template void adaptiveavgpool2d_direct<float>(const AdaptiveAvgPool2dParams &, const UnaryArgs<float> &);
template void adaptiveavgpool2d_direct<double>(const AdaptiveAvgPool2dParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
