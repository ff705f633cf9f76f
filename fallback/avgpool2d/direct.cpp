// avgpool2d with torch's avg_pool2d semantics (aten/src/ATen/native/cpu/AvgPoolKernel.cpp):
// the count_include_pad divisor is (hend-hstart)*(wend-wstart) with hend = min(hstart+kh, H+pad)
// BEFORE clipping to the input; count_include_pad=false divides by the number of valid
// elements; a non-zero divisor_override replaces both; a window with no valid element gives 0.
#include "../kernels.hpp"
#include "ai3/errors.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>

namespace ai3::fallback {

template <class T> void avgpool2d_direct(const Pool2dParams &p, const UnaryArgs<T> &a) {
    AI3_CHECK(p.kh >= 1 && p.kw >= 1 && p.stride_h >= 1 && p.stride_w >= 1, ValueError,
              "avgpool2d: kernel and stride must be >= 1");
    const int64_t planes = p.N * p.C, HW = p.H * p.W, PQ = p.P * p.Q;
    if (planes <= 0 || PQ <= 0) return;
    parallel_for(planes, std::max<int64_t>(1, (int64_t(1) << 12) / PQ), [&](int64_t b, int64_t e) {
        for (int64_t pl = b; pl < e; ++pl) {
            const T *in = a.input + pl * HW;
            T *out = a.output + pl * PQ;
            for (int64_t oh = 0; oh < p.P; ++oh) {
                int64_t h0 = oh * p.stride_h - p.pad_h;
                int64_t h1 = std::min(h0 + p.kh, p.H + p.pad_h);
                const int64_t hsize = h1 - h0;
                h0 = std::max<int64_t>(h0, 0);
                h1 = std::min(h1, p.H);
                for (int64_t ow = 0; ow < p.Q; ++ow) {
                    int64_t w0 = ow * p.stride_w - p.pad_w;
                    int64_t w1 = std::min(w0 + p.kw, p.W + p.pad_w);
                    const int64_t pool_size = hsize * (w1 - w0);
                    w0 = std::max<int64_t>(w0, 0);
                    w1 = std::min(w1, p.W);
                    if (h0 >= h1 || w0 >= w1) {
                        out[oh * p.Q + ow] = T(0);
                        continue;
                    }
                    T sum = T(0);
                    for (int64_t h = h0; h < h1; ++h) {
                        const T *row = in + h * p.W;
                        for (int64_t w = w0; w < w1; ++w) sum += row[w];
                    }
                    const int64_t div = p.divisor_override != 0 ? p.divisor_override
                                        : p.count_include_pad   ? pool_size
                                                                : (h1 - h0) * (w1 - w0);
                    out[oh * p.Q + ow] = sum / T(div);
                }
            }
        }
    });
}

template void avgpool2d_direct<float>(const Pool2dParams &, const UnaryArgs<float> &);
template void avgpool2d_direct<double>(const Pool2dParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
