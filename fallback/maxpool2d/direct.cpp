// maxpool2d with torch semantics: implicit -inf padding, dilation, windows that run past
// the end (ceil_mode) only see their in-range elements, NaN propagates. The loop nest
// (direct_kernel.hpp) is compiled per ISA and picked at run time like the GEMM's.
#include "../gemm/gemm_isa.hpp"
#include "../kernels.hpp"
#include "ai3/errors.hpp"
#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#define AI3_PER_ISA_HEADER "maxpool2d/direct_kernel.hpp" // found through the fallback/ include path
#define AI3_PER_ISA_PREFIX maxpool
#include "../simd/per_isa.inc"

namespace ai3::fallback {

template <class T> void maxpool2d_direct(const Pool2dParams &p, const UnaryArgs<T> &a) {
    AI3_CHECK(p.kh >= 1 && p.kw >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1, ValueError,
              "maxpool2d: kernel, stride and dilation must be >= 1");
    if (p.N * p.C <= 0 || p.P * p.Q <= 0) return;
#if defined(AI3_PER_ISA_X86)
    switch (detail::gemm_active_isa()) {
    case detail::GemmIsa::Avx512: return detail::maxpool_avx512::maxpool2d_impl<T>(p, a);
    case detail::GemmIsa::Avx2: return detail::maxpool_avx2::maxpool2d_impl<T>(p, a);
    default: break;
    }
#endif
    detail::maxpool_generic::maxpool2d_impl<T>(p, a);
}

template void maxpool2d_direct<float>(const Pool2dParams &, const UnaryArgs<float> &);
template void maxpool2d_direct<double>(const Pool2dParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
