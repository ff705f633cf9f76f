// Entry point of the fallback GEMM: trivial cases, then one of the ISA paths, picked
// once per process from what the CPU supports (AI3_GEMM_ISA=avx512|avx2|generic
// narrows the choice for testing; a value the CPU cannot run is ignored).
#include "gemm.hpp"
#include "gemm_isa.hpp"

#include "ai3/scratch.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace ai3::fallback {
namespace detail {
namespace {

GemmIsa best_isa() {
#if defined(__x86_64__)
    if (gemm_isa_supported(GemmIsa::Avx512)) return GemmIsa::Avx512;
    if (gemm_isa_supported(GemmIsa::Avx2)) return GemmIsa::Avx2;
#endif
    return GemmIsa::Generic;
}

GemmIsa initial_isa() {
    GemmIsa isa = best_isa();
    if (const char *env = std::getenv("AI3_GEMM_ISA")) {
        for (GemmIsa want : {GemmIsa::Generic, GemmIsa::Avx2, GemmIsa::Avx512})
            if (std::strcmp(env, gemm_isa_name(want)) == 0 && gemm_isa_supported(want)) isa = want;
    }
    return isa;
}

std::atomic<int> &isa_slot() {
    static std::atomic<int> slot{int(initial_isa())};
    return slot;
}

} // namespace

bool gemm_isa_supported(GemmIsa isa) {
    switch (isa) {
    case GemmIsa::Generic: return true;
#if defined(__x86_64__)
    case GemmIsa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GemmIsa::Avx512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default: return false;
    }
}

const char *gemm_isa_name(GemmIsa isa) {
    switch (isa) {
    case GemmIsa::Avx2: return "avx2";
    case GemmIsa::Avx512: return "avx512";
    default: return "generic";
    }
}

GemmIsa gemm_active_isa() { return GemmIsa(isa_slot().load(std::memory_order_relaxed)); }

bool gemm_set_isa(GemmIsa isa) {
    if (!gemm_isa_supported(isa)) return false;
    isa_slot().store(int(isa), std::memory_order_relaxed);
    return true;
}

} // namespace detail

namespace detail {
template <class T> void dispatch(const GemmArgs<T> &g) {
    switch (gemm_active_isa()) {
#if defined(__x86_64__)
    case GemmIsa::Avx512: return gemm_avx512(g);
    case GemmIsa::Avx2: return gemm_avx2(g);
#endif
    default: return gemm_generic(g);
    }
}
} // namespace detail

namespace {
// The trivial cases; false if nothing is left for the kernels. Leaves beta 0 or 1.
template <class T> bool prologue(int64_t M, int64_t N, int64_t K, T &beta, T *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return false;
    if (beta != T(0) && beta != T(1)) {
        // Not used by ai3 today; scaling up front keeps the kernels to two cases.
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) C[i * ldc + j] *= beta;
        beta = T(1);
    }
    if (K <= 0) {
        if (beta == T(0))
            for (int64_t i = 0; i < M; ++i)
                for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = T(0);
        return false;
    }
    return true;
}

// Columns of C per micro-tile of the active kernel (2 vectors; see gemm_<isa>.cpp).
template <class T> int64_t tile_cols() {
    switch (detail::gemm_active_isa()) {
    case detail::GemmIsa::Avx512: return int64_t(128 / sizeof(T));
    case detail::GemmIsa::Avx2: return int64_t(64 / sizeof(T));
    default: return int64_t(32 / sizeof(T));
    }
}

// The fraction of a dimension's micro-tiles that is padding.
double tile_waste(int64_t n, int64_t w) {
    const int64_t padded = (n + w - 1) / w * w;
    return double(padded - n) / double(padded);
}

} // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda, const T *B, int64_t ldb,
          T beta, T *C, int64_t ldc) {
    if (!prologue(M, N, K, beta, C, ldc)) return;
    // Micro-tiles are whole vectors wide along N but take any number of rows, so a
    // ragged N (49 columns: a 7x7 feature map) computes a tile of padding per row
    // block (a quarter of the work at N = 49), while M costs nothing extra. When N
    // wastes much more than M would (measured: a win at N = 49, 23% padding; a loss at
    // N = 196, 12.5%, where transposed packing costs more than it saves), compute C^T = op(B)^T op(A)^T into scratch and
    // transpose it into C: one pass over C, against K multiply-adds per element.
    const int64_t w = tile_cols<T>();
    if (K >= 32 && tile_waste(N, w) > tile_waste(M, w) + 0.15) {
        T *t = scratch<T>(size_t(M * N), kScratchT);
        detail::dispatch(detail::GemmArgs<T>{!trans_b, !trans_a, N, M, K, B, ldb, A, lda, T(0), t, M, nullptr});
        constexpr int64_t kBlk = 32; // transpose in cache-sized blocks
        for (int64_t i0 = 0; i0 < M; i0 += kBlk)
            for (int64_t j0 = 0; j0 < N; j0 += kBlk) {
                const int64_t i1 = std::min(M, i0 + kBlk), j1 = std::min(N, j0 + kBlk);
                for (int64_t i = i0; i < i1; ++i) {
                    T *c = C + i * ldc;
                    if (beta == T(0))
                        for (int64_t j = j0; j < j1; ++j) c[j] = t[j * M + i];
                    else
                        for (int64_t j = j0; j < j1; ++j) c[j] += t[j * M + i];
                }
            }
        return;
    }
    detail::dispatch(detail::GemmArgs<T>{trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, nullptr});
}

template <class T>
void gemm_implicit_conv(int64_t M, int64_t N, const T *A, int64_t lda, const ImplicitConvB<T> &B, T beta, T *C,
                        int64_t ldc) {
    const ImplicitConvShape &s = B.shape;
    const int64_t K = s.C * s.R * s.S;
    if (!prologue(M, N, K, beta, C, ldc)) return;
    detail::dispatch(detail::GemmArgs<T>{false, false, M, N, K, A, lda, nullptr, 0, beta, C, ldc, &B});
}

ImplicitConvTable::ImplicitConvTable(const ImplicitConvShape &s) {
    const int64_t RS = s.R * s.S, rows = s.C * RS, cols = s.P * s.Q;
    row_off.resize(size_t(rows));
    row_h.resize(size_t(rows));
    row_w.resize(size_t(rows));
    for (int64_t k = 0; k < rows; ++k) {
        const int64_t c = k / RS, r = k % RS / s.S, x = k % s.S;
        row_h[size_t(k)] = r * s.dil_h - s.pad_h;
        row_w[size_t(k)] = x * s.dil_w - s.pad_w;
        row_off[size_t(k)] = c * s.H * s.W + row_h[size_t(k)] * s.W + row_w[size_t(k)];
    }
    col_off.resize(size_t(cols));
    col_h.resize(size_t(cols));
    col_w.resize(size_t(cols));
    col_run.resize(size_t(cols));
    for (int64_t j = 0; j < cols; ++j) {
        const int64_t p = j / s.Q, q = j % s.Q;
        col_h[size_t(j)] = p * s.stride_h;
        col_w[size_t(j)] = q * s.stride_w;
        col_off[size_t(j)] = col_h[size_t(j)] * s.W + col_w[size_t(j)];
        col_run[size_t(j)] = s.Q - q;
    }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t, float,
                          float *, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, const double *, int64_t, const double *, int64_t,
                           double, double *, int64_t);
template void gemm_implicit_conv<float>(int64_t, int64_t, const float *, int64_t, const ImplicitConvB<float> &, float,
                                        float *, int64_t);
template void gemm_implicit_conv<double>(int64_t, int64_t, const double *, int64_t, const ImplicitConvB<double> &,
                                         double, double *, int64_t);

} // namespace ai3::fallback
