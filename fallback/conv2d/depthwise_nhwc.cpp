// direct, depthwise, on NHWC values (Conv2dParams::layout == nhwc): the kernel is
// depthwise_nhwc_kernel.hpp, compiled per ISA. ai3.Model's graph runs a depthwise conv
// this way when the layers around it can keep the NHWC layout too (graph.cpp).
#include "../gemm/gemm_isa.hpp"
#include "../kernels.hpp"
#include "ai3/errors.hpp"
#include "im2col.hpp"
#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"

#include <cstdint>
#include <cstring>

#define AI3_PER_ISA_HEADER "conv2d/depthwise_nhwc_kernel.hpp"
#define AI3_PER_ISA_PREFIX dwnhwc
#include "../simd/per_isa.inc"

namespace ai3::fallback::detail {

template <class T> void conv2d_depthwise_nhwc(const Conv2dParams &p, const Conv2d::Args<T> &a) {
    check_conv(p, false, /*nhwc=*/true);
    AI3_CHECK(p.groups == p.C && p.K == p.C && !p.max_pool_2x2, Unimplemented,
              "the NHWC direct convolution is depthwise only (groups == in == out channels), got C=", p.C, " K=", p.K,
              " groups=", p.groups);
    if (p.N == 0 || p.P == 0 || p.Q == 0 || p.C == 0) return;
    // Tap-major weights, so a tap's weights for consecutive channels are one vector.
    const int64_t taps = p.R * p.S;
    T *wt = scratch<T>(size_t(taps * p.C), kScratchA);
    for (int64_t c = 0; c < p.C; ++c)
        for (int64_t t = 0; t < taps; ++t) wt[t * p.C + c] = a.weight[c * taps + t];
#if defined(AI3_PER_ISA_X86)
    switch (gemm_active_isa()) {
    case GemmIsa::Avx512: return dwnhwc_avx512::conv2d_depthwise_nhwc_impl<T>(p, a, wt);
    case GemmIsa::Avx2: return dwnhwc_avx2::conv2d_depthwise_nhwc_impl<T>(p, a, wt);
    default: break;
    }
#endif
    dwnhwc_generic::conv2d_depthwise_nhwc_impl<T>(p, a, wt);
}

template void conv2d_depthwise_nhwc<float>(const Conv2dParams &, const Conv2d::Args<float> &);
template void conv2d_depthwise_nhwc<double>(const Conv2dParams &, const Conv2d::Args<double> &);

} // namespace ai3::fallback::detail
