// Shared loops of the pointwise and broadcasting kernels: a parallel map over n
// elements (in place allowed) and the broadcasting walk of binary ops. Each op's
// own file supplies the scalar function, so the arithmetic stays per op.
#pragma once
#include "ai3/ops.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>
#include <cstdint>

namespace ai3::fallback::detail {

// Memory-bound: chunks big enough that a thread's start-up cost is amortised.
constexpr int64_t kPointwiseGrain = int64_t(1) << 15;

template <class T, class F> void pointwise(int64_t n, const T *in, T *out, F f) {
    if (n <= 0) return;
    parallel_for(n, kPointwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = f(in[i]);
    });
}

// out = f(a, b) with broadcasting. The innermost output dim is the vector loop; an
// operand whose stride there is 0 (a per-channel scale, an SE gate) is a scalar.
template <class T, class F> void broadcast_binary(const BinaryParams &p, const BinaryArgs<T> &a, F f) {
    const int r = p.rank;
    if (r == 0) {
        a.output[0] = f(a.a[0], a.b[0]);
        return;
    }
    int64_t total = 1;
    for (int i = 0; i < r; ++i) total *= p.shape[i];
    if (total <= 0) return;
    const int64_t inner = p.shape[r - 1], as = p.a_stride[r - 1], bs = p.b_stride[r - 1];
    const int64_t rows = total / inner;
    parallel_for(rows, std::max<int64_t>(1, kPointwiseGrain / inner), [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
            int64_t ao = 0, bo = 0, rem = row;
            for (int d = r - 2; d >= 0; --d) {
                int64_t i = rem % p.shape[d];
                rem /= p.shape[d];
                ao += i * p.a_stride[d];
                bo += i * p.b_stride[d];
            }
            const T *x = a.a + ao, *y = a.b + bo;
            T *o = a.output + row * inner;
            if (as == 1 && bs == 1) {
                for (int64_t j = 0; j < inner; ++j) o[j] = f(x[j], y[j]);
            } else if (as == 1 && bs == 0) {
                const T yv = y[0];
                for (int64_t j = 0; j < inner; ++j) o[j] = f(x[j], yv);
            } else if (as == 0 && bs == 1) {
                const T xv = x[0];
                for (int64_t j = 0; j < inner; ++j) o[j] = f(xv, y[j]);
            } else {
                for (int64_t j = 0; j < inner; ++j) o[j] = f(x[j * as], y[j * bs]);
            }
        }
    });
}

} // namespace ai3::fallback::detail
