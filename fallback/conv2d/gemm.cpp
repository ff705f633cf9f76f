// gemm (cuDNN's name): explicit lowering, panel by panel. The P*Q output columns of an
// (image, group) are split into cache-sized panels; each worker lowers one panel
// [C/g*R*S x cols] into its own scratch buffer (memory O(panel), never the whole
// im2col) and GEMMs it straight into the output slice (ldc = P*Q). Parallel over
// (image, group, panel); the gemm runs serially inside each worker.
#include "../gemm/gemm.hpp"
#include "../kernels.hpp"
#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"
#include "im2col.hpp"

#include <algorithm>

namespace ai3::fallback {

namespace {
constexpr int64_t kPanelBytes = int64_t(512) << 10; // target size of one lowered panel
constexpr int64_t kMinPanelCols = 64;               // below this the GEMM repacks W too often
} // namespace

template <class T> void conv2d_gemm(const Conv2dParams &p, const Conv2d::Args<T> &a) {
    if (p.layout == Layout::nhwc) return detail::conv2d_1x1_nhwc<T>(p, a);
    detail::check_conv(p);
    const int64_t G = p.groups, cpg = p.C / G, kpg = p.K / G;
    const int64_t PQ = p.P * p.Q, HW = p.H * p.W, CRS = cpg * p.R * p.S;
    if (p.N == 0 || PQ == 0 || p.K == 0) return;
    const T *bias = p.has_bias ? a.bias : nullptr;

    // Panel width: ~kPanelBytes of lowered input, a multiple of 16 columns, at least
    // kMinPanelCols, at most PQ; narrowed when there would be fewer panels than threads.
    int64_t cols = std::max<int64_t>(kMinPanelCols, kPanelBytes / std::max<int64_t>(1, CRS * int64_t(sizeof(T))));
    cols = std::max<int64_t>(16, cols / 16 * 16);
    const int64_t nt = num_threads();
    if (p.N * G * ((PQ + cols - 1) / cols) < nt) {
        const int64_t want = (nt + p.N * G - 1) / (p.N * G); // panels per (image, group)
        cols = std::max<int64_t>(16, (PQ + want - 1) / want);
    }
    cols = std::min(cols, PQ);
    const int64_t npanel = (PQ + cols - 1) / cols;

    const bool identity = p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0 &&
                          p.P == p.H && p.Q == p.W;
    parallel_for(p.N * G * npanel, 1, [&](int64_t b, int64_t e) {
        T *buf = CRS > 0 && !identity ? scratch<T>(size_t(CRS * cols), kScratchA) : nullptr; // this worker's panel
        for (int64_t t = b; t < e; ++t) {
            const int64_t n = t / (G * npanel), g = (t / npanel) % G, j0 = (t % npanel) * cols;
            const int64_t len = std::min(cols, PQ - j0);
            const T *in = a.input + (n * p.C + g * cpg) * HW;
            T *out = a.output + (n * p.K + g * kpg) * PQ + j0;
            if (CRS == 0) {
                for (int64_t k = 0; k < kpg; ++k) std::fill(out + k * PQ, out + k * PQ + len, T(0));
            } else if (identity) { // 1x1, stride 1, no padding: the input already is the column matrix
                gemm<T>(false, false, kpg, len, CRS, a.weight + g * kpg * CRS, CRS, in + j0, PQ, T(0), out, PQ);
            } else {
                detail::im2col(p, in, 0, CRS, j0, len, buf, len);
                gemm<T>(false, false, kpg, len, CRS, a.weight + g * kpg * CRS, CRS, buf, len, T(0), out, PQ);
            }
            if (bias || p.act != Activation::none)
                detail::epilogue_rows(bias ? bias + g * kpg : nullptr, p.act, kpg, out, len, PQ);
        }
    });
}

template void conv2d_gemm<float>(const Conv2dParams &, const Conv2d::Args<float> &);
template void conv2d_gemm<double>(const Conv2dParams &, const Conv2d::Args<double> &);

} // namespace ai3::fallback
