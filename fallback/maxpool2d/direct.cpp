// maxpool2d with torch semantics: implicit -inf padding, dilation, windows that run past
// the end (ceil_mode) only see their in-range elements, NaN propagates.
#include "../kernels.hpp"
#include "ai3/errors.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ai3::fallback {

template <class T> void maxpool2d_direct(const Pool2dParams &p, const UnaryArgs<T> &a) {
    AI3_CHECK(p.kh >= 1 && p.kw >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1,
              ValueError, "maxpool2d: kernel, stride and dilation must be >= 1");
    const int64_t planes = p.N * p.C, HW = p.H * p.W, PQ = p.P * p.Q;
    if (planes <= 0 || PQ <= 0) return;
    parallel_for(planes, std::max<int64_t>(1, (int64_t(1) << 12) / PQ), [&](int64_t b, int64_t e) {
        for (int64_t pl = b; pl < e; ++pl) {
            const T *in = a.input + pl * HW;
            T *out = a.output + pl * PQ;
            for (int64_t oh = 0; oh < p.P; ++oh) {
                int64_t h0 = oh * p.stride_h - p.pad_h;
                const int64_t h1 = std::min(h0 + (p.kh - 1) * p.dil_h + 1, p.H);
                if (h0 < 0) h0 += (-h0 + p.dil_h - 1) / p.dil_h * p.dil_h; // first tap inside
                for (int64_t ow = 0; ow < p.Q; ++ow) {
                    int64_t w0 = ow * p.stride_w - p.pad_w;
                    const int64_t w1 = std::min(w0 + (p.kw - 1) * p.dil_w + 1, p.W);
                    if (w0 < 0) w0 += (-w0 + p.dil_w - 1) / p.dil_w * p.dil_w;
                    T m = -std::numeric_limits<T>::infinity();
                    for (int64_t h = h0; h < h1; h += p.dil_h) {
                        const T *row = in + h * p.W;
                        for (int64_t w = w0; w < w1; w += p.dil_w) {
                            const T v = row[w];
                            if (v > m || std::isnan(v)) m = v;
                        }
                    }
                    out[oh * p.Q + ow] = m;
                }
            }
        }
    });
}

template void maxpool2d_direct<float>(const Pool2dParams &, const UnaryArgs<float> &);
template void maxpool2d_direct<double>(const Pool2dParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
