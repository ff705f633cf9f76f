// conv2d 'direct': the convolution loop nest itself, no lowering. A work-item owns
// one output pixel of KB output channels (register blocking: each input value
// loaded feeds KB multiply-adds); consecutive work-items are consecutive output
// columns, which the CPU device runs in SIMD lanes. Zero padding is the bounds test.
// The weights come packed in blocks of KB output channels (gemm/gemm.hpp pack_rows:
// [group][block][C/groups * R * S][KB]), so a step's KB weights share a cache line.
#pragma once
#include "../gemm/gemm.hpp"

namespace ai3::sk {

// FAST: 3x3, stride 1, dilation 1 as compile-time constants. With a run-time stride
// the vectoriser cannot prove that neighbouring work-items load neighbouring inputs
// and gathers them (measured 4x slower), and run-time loop bounds halve the rest.
template <typename T, bool FAST>
inline void conv2d_direct_impl(sycl::nd_item<3> it, const T *x, const T *w, const T *bias, T *y,
                               const Conv2dParams &p) {
    constexpr int KB = AI3_SYCL_DIRECT_KB;
    const int64_t R = FAST ? 3 : p.R, S = FAST ? 3 : p.S;
    const int64_t sh = FAST ? 1 : p.stride_h, sw = FAST ? 1 : p.stride_w;
    const int64_t dh = FAST ? 1 : p.dil_h, dw = FAST ? 1 : p.dil_w;
    static_assert(KB == AI3_SYCL_GEMM_TM, "direct reads the GEMM's packed weight blocks");
    const int64_t Kg = p.K / p.groups, Cg = p.C / p.groups, RS = R * S;
    const int64_t kblocks = ceil_div(Kg, KB), per_image = kblocks * p.groups;
    const int64_t i0 = int64_t(it.get_global_id(0)), op = int64_t(it.get_global_id(1)),
                  oq = int64_t(it.get_global_id(2));
    if (oq >= p.Q) return;
    const int64_t n = i0 / per_image, block = i0 % per_image, g = block / kblocks;
    const int64_t k0 = g * Kg + (block % kblocks) * KB, kcount = imin(KB, (g + 1) * Kg - k0);
    const int64_t ih0 = op * sh - p.pad_h, iw0 = oq * sw - p.pad_w;
    const T *xg = x + (n * p.C + g * Cg) * p.H * p.W;
    const T *wb = w + block * Cg * RS * KB;
    T acc[KB] = {};
    for (int64_t c = 0; c < Cg; ++c) {
        const T *xc = xg + c * p.H * p.W;
        const T *wc = wb + c * RS * KB;
        for (int64_t r = 0; r < R; ++r) {
            const int64_t ih = ih0 + r * dh;
            if (ih < 0 || ih >= p.H) continue;
            for (int64_t s = 0; s < S; ++s) {
                const int64_t iw = iw0 + s * dw;
                const T v = (iw >= 0 && iw < p.W) ? xc[ih * p.W + iw] : T(0);
                const T *wt = wc + (r * S + s) * KB;
#pragma unroll
                for (int j = 0; j < KB; ++j) acc[j] += wt[j] * v;
            }
        }
    }
#pragma unroll
    for (int j = 0; j < KB; ++j)
        if (j < kcount) y[((n * p.K + k0 + j) * p.P + op) * p.Q + oq] = acc[j] + (p.has_bias ? bias[k0 + j] : T(0));
}

// Two kernels, chosen by the host: one kernel branching between both bodies is not
// vectorised at all by the OpenCL CPU compiler (measured 3.5 vs 27 GFLOP/s).
template <typename T>
inline void conv2d_direct(sycl::nd_item<3> it, const T *x, const T *w, const T *bias, T *y, Conv2dParams p) {
    conv2d_direct_impl<T, false>(it, x, w, bias, y, p);
}
template <typename T>
inline void conv2d_direct_3x3(sycl::nd_item<3> it, const T *x, const T *w, const T *bias, T *y, Conv2dParams p) {
    conv2d_direct_impl<T, true>(it, x, w, bias, y, p);
}
// Depthwise (every output channel reads one input channel: mobilenets, efficientnets):
// the blocked kernel above would spend 7 of its 8 accumulators on padding. One output
// per work-item, weights unpacked (K x 1 x R x S), in-plane indices in 32 bits (64-bit
// vector multiplies are emulated on AVX2). KS/ST > 0 fix the kernel size and stride at
// compile time (3x3, stride 1 or 2, dilation 1): unrolled taps, and for stride 1
// neighbouring work-items load neighbouring inputs instead of gathering.
template <typename T, int KS, int ST>
inline void conv2d_depthwise_impl(sycl::nd_item<3> it, const T *x, const T *w, const T *bias, T *y,
                                  const Conv2dParams &p) {
    const int R = KS ? KS : int(p.R), S = KS ? KS : int(p.S);
    const int sh = ST ? ST : int(p.stride_h), sw = ST ? ST : int(p.stride_w);
    const int dh = KS ? 1 : int(p.dil_h), dw = KS ? 1 : int(p.dil_w);
    const int H = int(p.H), W = int(p.W);
    const int64_t i0 = int64_t(it.get_global_id(0));
    const int op = int(it.get_global_id(1)), oq = int(it.get_global_id(2));
    if (op >= p.P || oq >= p.Q) return;
    const int64_t n = i0 / p.K, k = i0 - n * p.K, c = k / (p.K / p.groups);
    const int ih0 = op * sh - int(p.pad_h), iw0 = oq * sw - int(p.pad_w);
    const T *xc = x + (n * p.C + c) * p.H * p.W;
    const T *wk = w + k * R * S;
    T acc = 0;
    for (int r = 0; r < R; ++r) {
        const int ih = ih0 + r * dh;
        if (ih < 0 || ih >= H) continue;
        const T *row = xc + ih * W;
        for (int s = 0; s < S; ++s) {
            const int iw = iw0 + s * dw;
            acc += wk[r * S + s] * ((iw >= 0 && iw < W) ? row[iw] : T(0));
        }
    }
    y[(i0 * p.P + op) * p.Q + oq] = acc + (p.has_bias ? bias[k] : T(0));
}
template <typename T>
inline void conv2d_depthwise(sycl::nd_item<3> it, const T *x, const T *w, const T *bias, T *y, Conv2dParams p) {
    conv2d_depthwise_impl<T, 0, 0>(it, x, w, bias, y, p);
}
template <typename T>
inline void conv2d_depthwise_3x3s1(sycl::nd_item<3> it, const T *x, const T *w, const T *bias, T *y, Conv2dParams p) {
    conv2d_depthwise_impl<T, 3, 1>(it, x, w, bias, y, p);
}
template <typename T>
inline void conv2d_depthwise_3x3s2(sycl::nd_item<3> it, const T *x, const T *w, const T *bias, T *y, Conv2dParams p) {
    conv2d_depthwise_impl<T, 3, 2>(it, x, w, bias, y, p);
}
// Which depthwise kernel: 1 = 3x3 stride 1, 2 = 3x3 stride 2, 0 = any other.
inline int depthwise_variant(const Conv2dParams &p) {
    if (p.R != 3 || p.S != 3 || p.dil_h != 1 || p.dil_w != 1 || p.stride_h != p.stride_w) return 0;
    return p.stride_h == 1 ? 1 : p.stride_h == 2 ? 2 : 0;
}
inline bool direct_depthwise(const Conv2dParams &p) { return p.groups > 1 && p.C == p.groups; }

inline bool direct_3x3(const Conv2dParams &p) {
    return p.R == 3 && p.S == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1;
}
} // namespace ai3::sk
