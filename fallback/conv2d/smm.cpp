// smm: the original ai3 formulation. The WHOLE input of one (image, group) is lowered by
// im2col into one column matrix [C/g*R*S, P*Q], then ONE gemm per (image, group):
//   out[K/g, P*Q] = W[K/g, C/g*R*S] * col.
// 1x1 / stride 1 / no padding convs use the input itself as the column matrix.
#include "../gemm/gemm.hpp"
#include "../kernels.hpp"
#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"
#include "im2col.hpp"

#include <algorithm>

namespace ai3::fallback {

template <class T> void conv2d_smm(const Conv2dParams &p, const Conv2d::Args<T> &a) {
    if (p.layout == Layout::nhwc) return detail::conv2d_1x1_nhwc<T>(p, a);
    detail::check_conv(p);
    const int64_t G = p.groups, cpg = p.C / G, kpg = p.K / G;
    const int64_t PQ = p.P * p.Q, HW = p.H * p.W, CRS = cpg * p.R * p.S;
    if (p.N == 0 || PQ == 0 || p.K == 0) return;
    const T *bias = p.has_bias ? a.bias : nullptr;
    const bool identity = p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0 &&
                          p.P == p.H && p.Q == p.W;
    T *col = identity || CRS == 0 ? nullptr : scratch<T>(size_t(CRS * PQ), kScratchA);

    for (int64_t n = 0; n < p.N; ++n) {
        for (int64_t g = 0; g < G; ++g) {
            const T *in = a.input + (n * p.C + g * cpg) * HW;
            T *out = a.output + (n * p.K + g * kpg) * PQ;
            const T *w = a.weight + g * kpg * CRS;
            const T *B = in;
            if (!identity && CRS > 0) {
                const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / PQ);
                parallel_for(CRS, grain,
                             [&](int64_t b, int64_t e) { detail::im2col(p, in, b, e, 0, PQ, col + b * PQ, PQ); });
                B = col;
            }
            if (CRS == 0) {
                for (int64_t k = 0; k < kpg; ++k) std::fill(out + k * PQ, out + (k + 1) * PQ, T(0));
            } else {
                gemm<T>(false, false, kpg, PQ, CRS, w, CRS, B, PQ, T(0), out, PQ);
            }
            if (bias || p.act != Activation::none) {
                const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / PQ);
                parallel_for(kpg, grain, [&](int64_t b, int64_t e) {
                    detail::epilogue_rows(bias ? bias + g * kpg + b : nullptr, p.act, e - b, out + b * PQ, PQ, PQ);
                });
            }
        }
    }
}

template void conv2d_smm<float>(const Conv2dParams &, const Conv2d::Args<float> &);
template void conv2d_smm<double>(const Conv2dParams &, const Conv2d::Args<double> &);

} // namespace ai3::fallback
