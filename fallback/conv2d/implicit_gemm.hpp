// Shared driver of the fallback's 'implicit gemm' and 'implicit precomp gemm' (private to
// fallback/conv2d). Both are one GEMM per (image, group),
//   out[K/g, P*Q] = W[K/g, C/g*R*S] * B,
// with B the convolution's implicit matrix: the GEMM's packing (gemm_implicit_conv)
// gathers B's blocks straight from the input tensor, so no lowered copy exists anywhere.
// The two differ only in how the packing finds the input elements: decoded on the fly
// ('implicit gemm'), or looked up in an ImplicitConvTable built once per layer shape
// ('implicit precomp gemm').
//
// Work: with a multiple of the thread count (or plenty) of (image, group) pairs, the pairs
// go to ai3's pool, a serial GEMM each; otherwise each pair's GEMM spreads over the pool
// itself (splitting columns, or rows when there are few columns). Bias is added after
// each pair's GEMM.
#pragma once
#include "../gemm/gemm.hpp"
#include "ai3/ops.hpp"
#include "ai3/parallel.hpp"
#include "im2col.hpp"

#include <algorithm>
#include <cstdint>

namespace ai3::fallback::detail {

inline ImplicitConvShape implicit_conv_shape(const Conv2dParams &p) {
    ImplicitConvShape s;
    s.C = p.C / p.groups, s.H = p.H, s.W = p.W, s.R = p.R, s.S = p.S, s.P = p.P, s.Q = p.Q;
    s.stride_h = p.stride_h, s.stride_w = p.stride_w, s.pad_h = p.pad_h, s.pad_w = p.pad_w;
    s.dil_h = p.dil_h, s.dil_w = p.dil_w;
    return s;
}

template <class T>
void conv2d_implicit(const Conv2dParams &p, const Conv2d::Args<T> &a, const ImplicitConvTable *table) {
    const int64_t G = p.groups, cpg = p.C / G, kpg = p.K / G;
    const int64_t PQ = p.P * p.Q, HW = p.H * p.W, CRS = cpg * p.R * p.S;
    if (p.N == 0 || PQ == 0 || p.K == 0) return;
    const T *bias = p.has_bias ? a.bias : nullptr;
    const ImplicitConvShape shape = implicit_conv_shape(p);

    const int64_t NG = p.N * G, nt = num_threads();
    // one (image, group) pair; `pooled`: the GEMM and the bias pass may use the pool
    auto one = [&](int64_t n, int64_t g, bool pooled) {
        T *out = a.output + (n * p.K + g * kpg) * PQ;
        const ImplicitConvB<T> B{a.input + (n * p.C + g * cpg) * HW, shape, 0, table};
        // CRS == 0 (no input channels) leaves K = 0: the GEMM writes zeros.
        gemm_implicit_conv<T>(kpg, PQ, a.weight + g * kpg * CRS, CRS, B, T(0), out, PQ);
        if (!bias && p.act == Activation::none) return;
        auto rows = [&](int64_t b, int64_t e) {
            epilogue_rows(bias ? bias + g * kpg + b : nullptr, p.act, e - b, out + b * PQ, PQ, PQ);
        };
        if (pooled)
            parallel_for(kpg, std::max<int64_t>(1, (int64_t(1) << 14) / PQ), rows);
        else
            rows(0, kpg);
    };
    if (NG % nt == 0 || NG >= 4 * nt) {
        // (image, group) pairs over the pool, a serial GEMM each
        parallel_for(NG, 1, [&](int64_t b, int64_t e) {
            for (int64_t t = b; t < e; ++t) one(t / G, t % G, false);
        });
    } else {
        // few pairs: each GEMM spreads over the pool itself
        for (int64_t t = 0; t < NG; ++t) one(t / G, t % G, true);
    }
}

} // namespace ai3::fallback::detail
