// Shared lowering helpers of the fallback's smm and gemm convolutions (private to fallback/conv2d).
#pragma once
#include "ai3/errors.hpp"
#include "ai3/ops.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace ai3::fallback::detail {

inline int64_t floor_div(int64_t a, int64_t b) { // b > 0
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}
inline int64_t ceil_div(int64_t a, int64_t b) { // b > 0
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

// fuses_pool: the calling kernel implements Conv2dParams::max_pool_2x2 (others refuse it,
// so a fused pool can never be silently dropped).
// nhwc: the calling kernel takes Conv2dParams::layout == nhwc (likewise refused by others).
inline void check_conv(const Conv2dParams &p, bool fuses_pool = false, bool nhwc = false) {
    AI3_CHECK(!p.max_pool_2x2 || fuses_pool, Unimplemented, "this conv2d algorithm has no fused max-pool epilogue");
    AI3_CHECK(p.layout == Layout::nchw || nhwc, Unimplemented, "this conv2d algorithm has no NHWC kernel");
    AI3_CHECK(p.groups >= 1 && p.C % p.groups == 0 && p.K % p.groups == 0, ValueError, "conv2d: groups (", p.groups,
              ") must be >= 1 and divide C (", p.C, ") and K (", p.K, ")");
    AI3_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1, ValueError,
              "conv2d: stride and dilation must be >= 1");
    AI3_CHECK(p.N >= 0 && p.C >= 0 && p.H >= 0 && p.W >= 0 && p.K >= 0 && p.R >= 1 && p.S >= 1 && p.P >= 0 && p.Q >= 0,
              ValueError, "conv2d: negative size");
}

// Rows [row_begin, row_end) of the column matrix of one (image, group): row (c, r, s) of
// C/g*R*S, columns j in [j0, j0 + len) of the P*Q output positions. Row `row` is written at
// buf + (row - row_begin) * ldbuf. `in` points at channel 0 of the group (C/g x H x W).
template <class T>
void im2col(const Conv2dParams &p, const T *in, int64_t row_begin, int64_t row_end, int64_t j0, int64_t len, T *buf,
            int64_t ldbuf) {
    const int64_t RS = p.R * p.S, HW = p.H * p.W;
    const int64_t sh = p.stride_h, sw = p.stride_w;
    for (int64_t row = row_begin; row < row_end; ++row) {
        const int64_t c = row / RS, r = (row % RS) / p.S, s = row % p.S;
        const T *ic = in + c * HW;
        T *dst = buf + (row - row_begin) * ldbuf;
        // valid output columns for this s: 0 <= q*sw + s*dw - pw < W
        const int64_t woff = s * p.dil_w - p.pad_w;
        const int64_t qlo = std::max<int64_t>(0, ceil_div(-woff, sw));
        const int64_t qhi = std::min<int64_t>(p.Q, floor_div(p.W - 1 - woff, sw) + 1); // exclusive
        int64_t j = j0;
        const int64_t jend = j0 + len;
        while (j < jend) {
            const int64_t op = j / p.Q, q0 = j % p.Q;
            const int64_t q1 = std::min<int64_t>(p.Q, q0 + (jend - j));
            T *d = dst + (j - j0);
            const int64_t h = op * sh + r * p.dil_h - p.pad_h;
            if (h < 0 || h >= p.H || qlo >= qhi) {
                std::fill(d, d + (q1 - q0), T(0));
            } else {
                const T *irow = ic + h * p.W;
                const int64_t a = std::max(q0, std::min(qlo, q1)), b = std::min(q1, std::max(qhi, q0));
                for (int64_t q = q0; q < a; ++q) d[q - q0] = T(0);
                if (sw == 1) {
                    if (b > a) std::memcpy(d + (a - q0), irow + (a + woff), sizeof(T) * size_t(b - a));
                } else {
                    for (int64_t q = a; q < b; ++q) d[q - q0] = irow[q * sw + woff];
                }
                for (int64_t q = std::max(a, b); q < q1; ++q) d[q - q0] = T(0);
            }
            j += q1 - q0;
        }
    }
}

// out[j] = act(src[j] + b) for j < len (out may be src). One loop per activation, so
// each is a plain vectorisable loop with no per-element branch.
template <class T> void bias_act(const T *src, T b, Activation act, T *out, int64_t len) {
    switch (act) {
    case Activation::none:
        for (int64_t j = 0; j < len; ++j) out[j] = src[j] + b;
        break;
    case Activation::relu:
        for (int64_t j = 0; j < len; ++j) out[j] = activate<T>(Activation::relu, src[j] + b);
        break;
    case Activation::relu6:
        for (int64_t j = 0; j < len; ++j) out[j] = activate<T>(Activation::relu6, src[j] + b);
        break;
    }
}

// The conv epilogue on GEMM output rows: out[k][j] += bias[k] (bias may be null),
// then the fused activation, for `rows` rows of length `len` (leading dim ld).
template <class T> void epilogue_rows(const T *bias, Activation act, int64_t rows, T *out, int64_t len, int64_t ld) {
    for (int64_t k = 0; k < rows; ++k) bias_act(out + k * ld, bias ? bias[k] : T(0), act, out + k * ld, len);
}

// The bias-only/ReLU output of a conv with no input channels (cpg == 0).
template <class T> T empty_conv_value(const Conv2dParams &p, const T *bias, int64_t k) {
    const T v = p.has_bias ? bias[k] : T(0);
    return activate<T>(p.act, v);
}

} // namespace ai3::fallback::detail
