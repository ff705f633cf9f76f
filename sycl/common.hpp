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
// Included here, not by the kernel headers that use them: the run-time compiler resolves
// "ai3/..." only from this top-level file.
#include "ai3/winograd_f2x2.hpp"

namespace ai3 {
// The math policy of ai3/ops.hpp's transcendental activations in SYCL device code.
struct SyclMath {
    template <class T> static T exp(T x) { return sycl::exp(x); }
    template <class T> static T erf(T x) { return sycl::erf(x); }
    template <class T> static T tanh(T x) { return sycl::tanh(x); }
};
} // namespace ai3

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

using ai3::is_finite;
// flags[i] = 1 from any number of work-items (a flag the host reads after the kernel).
inline void raise_flag(int *flags, int i) {
    sycl::atomic_ref<int, sycl::memory_order::relaxed, sycl::memory_scope::device,
                     sycl::access::address_space::global_space>(flags[i])
        .store(1);
}

// Parameters of one GEMM launch C[b] = A[b] * B[b] (+ bias per row), batched
// over dimension 0 of the nd_range. Strides are in elements.
struct GemmParams {
    int64_t M = 0, N = 0, K = 0;
    int64_t lda_m = 0, lda_k = 0, a_batch = 0;                     // A[m, k] = A[m*lda_m + k*lda_k]
    int64_t ldb_k = 0, ldb_n = 0, b_batch = 0;                     // B[k, n] = B[k*ldb_k + n*ldb_n]
    int64_t ldc_m = 0, ldc_n = 1, c_batch = 0;                     // C[m, n] = C[m*ldc_m + n*ldc_n]
    int64_t bias_batch = 0;                                        // bias offset per batch entry
    int64_t batch_inner = 1;                                       // batch b = outer * batch_inner + inner;
    int64_t a_outer = 0, b_outer = 0, c_outer = 0, bias_outer = 0; // extra strides for outer
    bool has_bias = false;
};

// Winograd F(2x2, 3x3) geometry (tiles of 2x2 outputs from 4x4 inputs).
struct WinogradParams {
    Conv2dParams conv;
    int64_t tiles_h = 0, tiles_w = 0, tiles = 0; // tiles = N * tiles_h * tiles_w
};

// A broadcasting binary op after the host collapsed its shapes (see graph_ops.cpp):
// dims of size 1 dropped, adjacent dims merged where both operands stay dense (or both
// broadcast) across them. A launch covers the last three dims (n0, n1, n2) with these
// strides; the host loops over any dims before them (rare: they must fail to merge).
// No division, no loop: a loop over leading dims, even one never taken, made the kernel
// several times slower on the OpenCL CPU device (measured), as if no longer vectorised.
struct BroadcastParams {
    int64_t n1 = 1, n2 = 1;
    int64_t a0 = 0, a1 = 0, a2 = 0, b0 = 0, b1 = 0, b2 = 0;
};

// A dense output read from an input at a stride per output dim (permute's copy), in the
// same form.
struct StridedParams {
    int64_t n1 = 1, n2 = 1;
    int64_t s0 = 0, s1 = 0, s2 = 0;
};

// LayerNormParams without its double eps (passed as T), so float kernels never touch
// a double on devices without fp64.
struct LayerNormGeometry {
    int64_t M = 0, D = 0, inner = 1;
    bool has_weight = false, has_bias = false;
};

// Compensated (Kahan) accumulation: the per-work-item partial sums of the mean and
// layernorm reductions keep an error independent of the row length, even in float.
template <typename T> inline void kahan_add(T &sum, T &comp, T v) {
    T y = v - comp;
    T t = sum + y;
    comp = (t - sum) - y;
    sum = t;
}

} // namespace ai3::sk
