// Internal to the fallback GEMM: the per-ISA entry points and the switch between
// them. Each ISA lives in its own translation unit compiled with its own target
// pragma, because the build uses one set of portable flags for all fallback files.
#pragma once
#include "gemm.hpp"

#include <cstdint>

namespace ai3::fallback::detail {

template <class T> struct GemmArgs {
    bool ta, tb;
    int64_t M, N, K;
    const T *A;
    int64_t lda;
    const T *B;
    int64_t ldb;
    T beta; // 0 or 1 by the time an ISA entry sees it
    T *C;
    int64_t ldc;
    // Set: B is a convolution's implicit matrix (ta is false, tb and B/ldb unused).
    const ImplicitConvB<T> *conv;
};

enum class GemmIsa : int { Generic = 0, Avx2 = 1, Avx512 = 2 };

void gemm_generic(const GemmArgs<float> &g);
void gemm_generic(const GemmArgs<double> &g);
#if defined(__x86_64__)
void gemm_avx2(const GemmArgs<float> &g);
void gemm_avx2(const GemmArgs<double> &g);
void gemm_avx512(const GemmArgs<float> &g);
void gemm_avx512(const GemmArgs<double> &g);
#endif

bool gemm_isa_supported(GemmIsa isa);
const char *gemm_isa_name(GemmIsa isa);
// The path gemm uses: the best the CPU runs, or AI3_GEMM_ISA if it can run that.
GemmIsa gemm_active_isa();
// Test hook: switches the path for all later calls; false (and no change) if the
// CPU cannot run it.
bool gemm_set_isa(GemmIsa isa);

} // namespace ai3::fallback::detail
