// implicit precomp gemm: implicit GEMM (see implicit_gemm.hpp) whose kernel object builds,
// once per layer shape, the ImplicitConvTable of the implicit matrix: per row k = (c, r, s)
// the input offset and (r*dil_h - pad_h, s*dil_w - pad_w), per column j = (p, q) the
// offset, (p*stride_h, q*stride_w) and the length of its output-row run. The GEMM's
// packing then finds every input element by table lookups and bounds checks only.
#include "../kernels.hpp"
#include "implicit_gemm.hpp"

#include <memory>

namespace ai3::fallback {

namespace {

template <class T> class ImplicitPrecompGemm final : public Kernel<Conv2d, T> {
  public:
    explicit ImplicitPrecompGemm(const Conv2dParams &p) : p_(p), table_(detail::implicit_conv_shape(p)) {}
    void run(const Conv2d::Args<T> &a) override { detail::conv2d_implicit(p_, a, &table_); }

  private:
    Conv2dParams p_;
    ImplicitConvTable table_;
};

} // namespace

template <class T> KernelPtr<Conv2d, T> conv2d_implicit_precomp_gemm(const Conv2dParams &p, const Device &) {
    detail::check_conv(p);
    return std::make_unique<ImplicitPrecompGemm<T>>(p);
}

template KernelPtr<Conv2d, float> conv2d_implicit_precomp_gemm<float>(const Conv2dParams &, const Device &);
template KernelPtr<Conv2d, double> conv2d_implicit_precomp_gemm<double>(const Conv2dParams &, const Device &);

} // namespace ai3::fallback
