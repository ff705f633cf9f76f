// Portable path: GCC/clang vector extensions, 16-byte vectors (SSE2 on x86_64, NEON
// on aarch64), compiled with whatever flags the build uses. Also the reference the
// ISA paths are tested against.
#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"
#include "gemm_isa.hpp"

#include <cstdint>
#include <cstring>
#include <functional>

#define AI3_GEMM_NS generic
#include "gemm_kernel.hpp"

namespace ai3::fallback::detail::generic {
namespace {

typedef float vf32 __attribute__((vector_size(16)));
typedef double vf64 __attribute__((vector_size(16)));

// memcpy keeps loads and stores alignment-free; it compiles to one vector move.
template <class T_, class V_> struct VecExt {
    using T = T_;
    using V = V_;
    static constexpr int W = int(sizeof(V) / sizeof(T));
    static constexpr bool kTranspose = false;
    static constexpr bool kGather = false;
    static V zero() { return V{}; }
    static V load(const T *p) {
        V v;
        std::memcpy(&v, p, sizeof v);
        return v;
    }
    static void store(T *p, V v) { std::memcpy(p, &v, sizeof v); }
    static V bcast(const T *p) { return V{} + *p; }
    static V fma(V a, V b, V c) { return a * b + c; }
    static V add(V a, V b) { return a + b; }
    static T hsum(V v) {
        T s = 0;
        for (int i = 0; i < W; ++i) s += v[i];
        return s;
    }
};

// Sized for 16 vector registers (x86_64 SSE); aarch64's 32 only help.
//                              S       MR NV  KC   NB   MB   SM SNV SNJ
using GemmF32 = Gemm<VecExt<float, vf32>, 6, 2, 256, 480, 1020, 4, 2, 2>;
using GemmF64 = Gemm<VecExt<double, vf64>, 6, 2, 256, 240, 1020, 4, 2, 2>;

} // namespace
} // namespace ai3::fallback::detail::generic

namespace ai3::fallback::detail {
void gemm_generic(const GemmArgs<float> &g) { generic::GemmF32::run(g); }
void gemm_generic(const GemmArgs<double> &g) { generic::GemmF64::run(g); }
} // namespace ai3::fallback::detail
