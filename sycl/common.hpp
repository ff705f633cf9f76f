// Shared by every SYCL kernel header: the SYCL headers, ai3's op parameter
// structs (the same ones the host side fills) and a few index helpers.
//
// Every header under sycl/<op>/ defines its kernel body once, as a templated
// device function taking the nd_item first. Two thin wrappers call it: a
// free-function kernel for the run-time compiler (rtc/bundle.cpp) and a lambda
// in parallel_for for ahead-of-time builds (src/launch.hpp). Device code only:
// no exceptions, no allocation, no printf.
#pragma once
#include <sycl/sycl.hpp>

#include <cstdint>
#include <limits>

#include "ai3/ops.hpp"

#ifndef AI3_SYCL_DIRECT_KB
#define AI3_SYCL_DIRECT_KB 8 // output channels per work-item (register blocking)
#endif
#ifndef AI3_SYCL_GEMM_TM
#define AI3_SYCL_GEMM_TM 8 // GEMM rows per work-item (register blocking)
#endif

namespace ai3::sk {

// Elements of slack after a packed GEMM's B operand (see gemm_impl<T, true>): its
// out-of-range columns may read up to two work-groups (of at most 32) past the end.
constexpr int64_t kGemmSlack = 128;

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Parameters of one GEMM launch C[b] = A[b] * B[b] (+ bias per row), batched
// over dimension 0 of the nd_range. Strides are in elements.
struct GemmParams {
    int64_t M = 0, N = 0, K = 0;
    int64_t lda_m = 0, lda_k = 0, a_batch = 0; // A[m, k] = A[m*lda_m + k*lda_k]
    int64_t ldb_k = 0, ldb_n = 0, b_batch = 0; // B[k, n] = B[k*ldb_k + n*ldb_n]
    int64_t ldc_m = 0, ldc_n = 1, c_batch = 0; // C[m, n] = C[m*ldc_m + n*ldc_n]
    int64_t bias_batch = 0;                    // bias offset per batch entry
    int64_t batch_inner = 1;                   // batch b = outer * batch_inner + inner;
    int64_t a_outer = 0, b_outer = 0, c_outer = 0, bias_outer = 0; // extra strides for outer
    bool has_bias = false;
};

// Winograd F(2x2, 3x3) geometry (tiles of 2x2 outputs from 4x4 inputs).
struct WinogradParams {
    Conv2dParams conv;
    int64_t tiles_h = 0, tiles_w = 0, tiles = 0; // tiles = N * tiles_h * tiles_w
};


// A broadcasting binary op after the host collapsed its shapes (see graph_ops.cpp):
// dims of size 1 dropped and adjacent dims merged where both operands stay dense
// across them, so a same-shape add is rank 1 and a per-channel gate rank 2.
struct BroadcastParams {
    int rank = 0;
    int64_t total = 0;
    int64_t shape[kMaxRank] = {};
    int64_t a_stride[kMaxRank] = {}, b_stride[kMaxRank] = {};
};

// The offsets of output element i in the two operands.
inline void broadcast_offsets(const BroadcastParams &p, int64_t i, int64_t &ao, int64_t &bo) {
    ao = 0;
    bo = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
        int64_t k = i % p.shape[d];
        i /= p.shape[d];
        ao += k * p.a_stride[d];
        bo += k * p.b_stride[d];
    }
}

// A dense output of `shape` read from an input at `stride` (elements) per output dim:
// permute's copy. rows = product of every dim but the last.
struct StridedParams {
    int rank = 0;
    int64_t rows = 0;
    int64_t shape[kMaxRank] = {};
    int64_t stride[kMaxRank] = {};
};

// LayerNormParams without its double eps (passed as T), so float kernels never touch
// a double on devices without fp64.
struct LayerNormGeometry {
    int64_t M = 0, D = 0, inner = 1;
    bool has_weight = false, has_bias = false;
};

// Compensated (Kahan) accumulation: the per-work-item partial sums of the mean and
// layernorm reductions stay exact to about one rounding even over long rows in float.
template <typename T> inline void kahan_add(T &sum, T &comp, T v) {
    T y = v - comp;
    T t = sum + y;
    comp = (t - sum) - y;
    sum = t;
}

} // namespace ai3::sk
