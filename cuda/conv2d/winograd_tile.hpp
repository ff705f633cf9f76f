// Winograd F(2x2, 3x3) for one output tile, as plain code that both the CUDA kernel
// (conv2d/winograd.cu) and a host test (tests/cpp/cuda_winograd_test.cpp) compile; the
// transforms themselves are ai3/winograd_f2x2.hpp's. No CUDA headers here.
#pragma once
#include "ai3/ops.hpp"
#include "ai3/winograd_f2x2.hpp"

#include <cstdint>

#if defined(__CUDACC__)
#define AI3_WINO_HD __host__ __device__ __forceinline__
#else
#define AI3_WINO_HD inline
#endif

namespace ai3::cuda::winograd {

using winograd_f2x2::filter_transform;
using winograd_f2x2::input_transform;
using winograd_f2x2::output_transform;

// One output tile (n, k, tile row th, tile column tw) of a 3x3, stride-1, dilation-1
// convolution with zero padding: `u` holds the transformed filters, K x (C/groups) x 16.
template <class T>
AI3_WINO_HD void tile(const Conv2dParams &p, const T *x, const T *u, const T *bias, T *y, int64_t n, int64_t k,
                      int64_t th, int64_t tw) {
    const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups, g = k / Kg;
    const int64_t h0 = th * 2 - p.pad_h, w0 = tw * 2 - p.pad_w;
    T m[16];
    for (int i = 0; i < 16; ++i) m[i] = T(0);
    for (int64_t c = 0; c < Cg; ++c) {
        const T *xc = x + ((n * p.C + g * Cg + c) * p.H) * p.W;
        T d[16], v[16];
        for (int i = 0; i < 4; ++i) {
            const int64_t h = h0 + i;
            for (int j = 0; j < 4; ++j) {
                const int64_t w = w0 + j;
                d[i * 4 + j] = (h >= 0 && h < p.H && w >= 0 && w < p.W) ? xc[h * p.W + w] : T(0);
            }
        }
        input_transform(d, v);
        const T *uk = u + (k * Cg + c) * 16;
        for (int i = 0; i < 16; ++i) m[i] += uk[i] * v[i];
    }
    T out[4];
    output_transform(m, out);
    const T b = bias ? bias[k] : T(0);
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
            const int64_t oh = th * 2 + i, ow = tw * 2 + j;
            if (oh < p.P && ow < p.Q) y[((n * p.K + k) * p.P + oh) * p.Q + ow] = out[i * 2 + j] + b;
        }
}

} // namespace ai3::cuda::winograd
