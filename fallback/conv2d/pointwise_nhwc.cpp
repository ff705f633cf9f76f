// 1x1 convolutions (stride 1, no padding, one group) on NHWC values: with channels
// innermost the whole batch is one GEMM, out[N*H*W x K] = in[N*H*W x C] * W^T, where
// NCHW needs one per image with only H*W columns (7x7 = 49 at MobileNet's end). For
// such layers 'smm' and 'gemm' lower nothing in NCHW either (their input is already
// the column matrix), so both run this in NHWC; no other algorithm accepts NHWC.
#include "../gemm/gemm.hpp"
#include "../kernels.hpp"
#include "ai3/errors.hpp"
#include "im2col.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>

namespace ai3::fallback::detail {

template <class T> void conv2d_1x1_nhwc(const Conv2dParams &p, const Conv2d::Args<T> &a) {
    check_conv(p, false, /*nhwc=*/true);
    AI3_CHECK(p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0 &&
                  p.groups == 1 && p.P == p.H && p.Q == p.W && !p.max_pool_2x2,
              Unimplemented, "NHWC smm/gemm run 1x1 convolutions with stride 1, no padding and one group only");
    const int64_t M = p.N * p.H * p.W, K = p.K, C = p.C;
    if (M == 0 || K == 0) return;
    if (C == 0)
        std::fill(a.output, a.output + M * K, T(0));
    else
        gemm<T>(false, true, M, K, C, a.input, C, a.weight, C, T(0), a.output, K);
    const T *bias = p.has_bias ? a.bias : nullptr;
    if (!bias && p.act == Activation::none) return;
    parallel_for(M, std::max<int64_t>(1, (int64_t(1) << 14) / K), [&](int64_t b, int64_t e) {
        for (int64_t m = b; m < e; ++m) {
            T *o = a.output + m * K;
            for (int64_t k = 0; k < K; ++k) o[k] = activate<T>(p.act, o[k] + (bias ? bias[k] : T(0)));
        }
    });
}

template void conv2d_1x1_nhwc<float>(const Conv2dParams &, const Conv2d::Args<float> &);
template void conv2d_1x1_nhwc<double>(const Conv2dParams &, const Conv2d::Args<double> &);

} // namespace ai3::fallback::detail
