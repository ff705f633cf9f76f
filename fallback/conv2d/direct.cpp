// direct: the convolution loop nest itself, no lowering, blocked for registers and cache.
//
// Per image, the zero-padded input is rearranged once (scratch slot kScratchPad) into
// stride phases: channel c, row phase (r*dil_h) % stride_h and column phase
// (s*dil_w) % stride_w (only the phases some tap reads) each get a plane of Hph x Wph values with Wph = Q + (S-1)*dil_w/stride_w.
// In that layout the input of output (p, q) under tap (r, s) sits at
//     plane(c, r, s) + j + (r*dil_h/stride_h)*Wph + s*dil_w/stride_w,   j = p*Wph + q,
// i.e. for EVERY stride/dilation/padding the input of consecutive virtual outputs j is
// contiguous and in bounds. The kernel therefore runs over the flattened virtual output
// index j (columns q >= Q of a virtual row are computed and dropped: (S-1)*dil_w/stride_w
// of every Wph) in tiles of QB = NV vectors, times KB output channels, held in registers:
// per (c, r, s) it loads NV input vectors and KB (packed, contiguous) weights and does
// KB*NV vector FMAs. Weights are repacked per call (kScratchA) as [group][kblock][c][r][s][KB].
// Work is split over (group, output-channel block, tile) with the tiles innermost so a
// worker keeps one block's weights in cache while it sweeps the image.
//
// The build uses one set of portable flags, so the kernel (direct_kernel.hpp) is compiled
// here three times under target pragmas (generic / AVX2 / AVX-512) and picked at run time
// by the same switch as the fallback GEMM (gemm_active_isa(), honouring AI3_GEMM_ISA).
#include "../gemm/gemm_isa.hpp"
#include "../kernels.hpp"
#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"
#include "im2col.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#define AI3_PER_ISA_HEADER "conv2d/direct_kernel.hpp" // found through the fallback/ include path
#define AI3_PER_ISA_PREFIX direct
#include "../simd/per_isa.inc"
#define AI3_PER_ISA_HEADER "conv2d/depthwise_kernel.hpp"
#define AI3_PER_ISA_PREFIX depthwise
#include "../simd/per_isa.inc"

namespace ai3::fallback {

template <class T> void conv2d_direct(const Conv2dParams &p, const Conv2d::Args<T> &a) {
    if (p.layout == Layout::nhwc) return detail::conv2d_depthwise_nhwc<T>(p, a);
    detail::check_conv(p);
    const int64_t G = p.groups, cpg = p.C / G, PQ = p.P * p.Q;
    if (p.N == 0 || PQ == 0 || p.K == 0) return;
    if (cpg == 0) { // no input channels: the output is the bias
        for (int64_t n = 0; n < p.N; ++n)
            for (int64_t k = 0; k < p.K; ++k)
                std::fill(a.output + (n * p.K + k) * PQ, a.output + (n * p.K + k + 1) * PQ,
                          detail::empty_conv_value(p, a.bias, k));
        return;
    }
#if defined(__GNUC__) || defined(__clang__)
    if (cpg == 1 && p.K == p.C) { // depthwise: a stencil per channel plane
#if defined(AI3_PER_ISA_X86)
        switch (detail::gemm_active_isa()) {
        case detail::GemmIsa::Avx512: return detail::depthwise_avx512::conv2d_depthwise_impl<T>(p, a);
        case detail::GemmIsa::Avx2: return detail::depthwise_avx2::conv2d_depthwise_impl<T>(p, a);
        default: break;
        }
#endif
        return detail::depthwise_generic::conv2d_depthwise_impl<T>(p, a);
    }
#endif
#if defined(AI3_PER_ISA_X86)
    switch (detail::gemm_active_isa()) {
    case detail::GemmIsa::Avx512: return detail::direct_avx512::conv2d_direct_impl<T>(p, a);
    case detail::GemmIsa::Avx2: return detail::direct_avx2::conv2d_direct_impl<T>(p, a);
    default: break;
    }
#endif
    detail::direct_generic::conv2d_direct_impl<T>(p, a);
}

template void conv2d_direct<float>(const Conv2dParams &, const Conv2d::Args<float> &);
template void conv2d_direct<double>(const Conv2dParams &, const Conv2d::Args<double> &);

} // namespace ai3::fallback
