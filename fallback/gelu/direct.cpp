// gelu: x * Phi(x) with the exact erf form, or torch's approximate='tanh' form
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). In place is fine.
#include "../kernels.hpp"
#include "../pointwise.hpp"

#include "ai3/host_math.hpp"

namespace ai3::fallback {

template <class T> void gelu_direct(const GeluParams &p, const UnaryArgs<T> &a) {
    if (p.tanh)
        detail::pointwise(p.n, a.input, a.output, [](T x) { return gelu_tanh_of<HostMath>(x); });
    else
        detail::pointwise(p.n, a.input, a.output, [](T x) { return gelu_erf_of<HostMath>(x); });
}

template void gelu_direct<float>(const GeluParams &, const UnaryArgs<float> &);
template void gelu_direct<double>(const GeluParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
