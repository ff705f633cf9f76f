// Winograd minimal filtering F(2x2, 3x3) (Lavin & Gray, points 0, 1, -1, inf), the three
// transforms of one tile as plain code every compiler takes: the SYCL kernels
// (sycl/conv2d/winograd.hpp, also through the run-time compiler), the CUDA kernel
// (cuda/conv2d/winograd_tile.hpp, __host__ __device__ under nvcc) and host tests.
//   Y = A^T [ sum_c (G g_c G^T) .* (B^T d_c B) ] A: 16 multiplies per 2x2 tile and channel
//   instead of 36.
// The CPU fallback runs F(2x2) from its matrix tables (fallback/conv2d/winograd_transforms.hpp,
// the same points with another sign convention), which also drive its F(4x4) and its SIMD
// vectors; tests/cpp/kernels_test.cpp checks that both compute the same output tile.
#pragma once
#include "ops.hpp" // same directory: also how the SYCL run-time compiler finds it

namespace ai3::winograd_f2x2 {

// U = G g G^T for a 3x3 filter g (row-major); U is 4x4 row-major.
template <class T> AI3_ALWAYS_INLINE void filter_transform(const T *g, T *u) {
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
template <class T> AI3_ALWAYS_INLINE void input_transform(const T *d, T *v) {
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
template <class T> AI3_ALWAYS_INLINE void output_transform(const T *m, T *y) {
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

} // namespace ai3::winograd_f2x2
