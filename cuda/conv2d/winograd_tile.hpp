// Winograd F(2x2, 3x3) (Lavin & Gray) for one output tile, as plain code that both
// the CUDA kernel (conv2d/winograd.cu) and a host test (tests/cpp/cuda_winograd_test.cpp)
// compile: Y = A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A, 16 multiplies per tile and
// channel instead of 36. No CUDA headers here.
#pragma once
#include "ai3/ops.hpp"

#include <cstdint>

#if defined(__CUDACC__)
#define AI3_WINO_HD __host__ __device__ __forceinline__
#else
#define AI3_WINO_HD inline
#endif

namespace ai3::cuda::winograd {

// U = G g G^T for a 3x3 filter g (row-major); U is 4x4 row-major.
template <class T> AI3_WINO_HD void filter_transform(const T *g, T *u) {
    T t[4][3]; // G g
    for (int j = 0; j < 3; ++j) {
        const T g0 = g[0 * 3 + j], g1 = g[1 * 3 + j], g2 = g[2 * 3 + j];
        t[0][j] = g0;
        t[1][j] = T(0.5) * (g0 + g1 + g2);
        t[2][j] = T(0.5) * (g0 - g1 + g2);
        t[3][j] = g2;
    }
    for (int i = 0; i < 4; ++i) { // (G g) G^T
        const T a = t[i][0], b = t[i][1], c = t[i][2];
        u[i * 4 + 0] = a;
        u[i * 4 + 1] = T(0.5) * (a + b + c);
        u[i * 4 + 2] = T(0.5) * (a - b + c);
        u[i * 4 + 3] = c;
    }
}

// V = B^T d B for a 4x4 input patch d (row-major).
template <class T> AI3_WINO_HD void input_transform(const T *d, T *v) {
    T t[4][4]; // B^T d
    for (int j = 0; j < 4; ++j) {
        const T d0 = d[0 * 4 + j], d1 = d[1 * 4 + j], d2 = d[2 * 4 + j], d3 = d[3 * 4 + j];
        t[0][j] = d0 - d2;
        t[1][j] = d1 + d2;
        t[2][j] = d2 - d1;
        t[3][j] = d1 - d3;
    }
    for (int i = 0; i < 4; ++i) { // (B^T d) B
        const T a = t[i][0], b = t[i][1], c = t[i][2], e = t[i][3];
        v[i * 4 + 0] = a - c;
        v[i * 4 + 1] = b + c;
        v[i * 4 + 2] = c - b;
        v[i * 4 + 3] = b - e;
    }
}

// Y = A^T m A: the 2x2 output tile (row-major) of the accumulated 4x4 product m.
template <class T> AI3_WINO_HD void output_transform(const T *m, T *y) {
    T t[2][4]; // A^T m
    for (int j = 0; j < 4; ++j) {
        t[0][j] = m[0 * 4 + j] + m[1 * 4 + j] + m[2 * 4 + j];
        t[1][j] = m[1 * 4 + j] - m[2 * 4 + j] - m[3 * 4 + j];
    }
    for (int i = 0; i < 2; ++i) {
        y[i * 2 + 0] = t[i][0] + t[i][1] + t[i][2];
        y[i * 2 + 1] = t[i][1] - t[i][2] - t[i][3];
    }
}

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
