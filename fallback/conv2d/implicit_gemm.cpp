// implicit gemm: GEMM over the convolution's implicit matrix, operands read straight
// from the input tensor (no lowered copy). The GEMM's B packing decodes each row k into
// (c, r, s) and each column run into (p, q) on the fly: one div/mod per packed block of
// rows and per micro-panel, then increments. See implicit_gemm.hpp.
#include "../kernels.hpp"
#include "implicit_gemm.hpp"

namespace ai3::fallback {

template <class T> void conv2d_implicit_gemm(const Conv2dParams &p, const Conv2d::Args<T> &a) {
    detail::check_conv(p);
    detail::conv2d_implicit(p, a, nullptr);
}

template void conv2d_implicit_gemm<float>(const Conv2dParams &, const Conv2d::Args<float> &);
template void conv2d_implicit_gemm<double>(const Conv2dParams &, const Conv2d::Args<double> &);

} // namespace ai3::fallback
