// gelu: x * Phi(x) with the exact erf form, or torch's approximate='tanh' form
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). In place is fine.
#include "../kernels.hpp"
#include "../pointwise.hpp"

#include <cmath>

namespace ai3::fallback {

template <class T> void gelu_direct(const GeluParams &p, const UnaryArgs<T> &a) {
    if (p.tanh) {
        const T k = T(0.7978845608028654), c = T(0.044715);
        detail::pointwise(p.n, a.input, a.output,
                          [&](T x) { return T(0.5) * x * (T(1) + std::tanh(k * (x + c * x * x * x))); });
    } else {
        const T r = T(0.7071067811865476);
        detail::pointwise(p.n, a.input, a.output, [&](T x) { return T(0.5) * x * (T(1) + std::erf(x * r)); });
    }
}

template void gelu_direct<float>(const GeluParams &, const UnaryArgs<float> &);
template void gelu_direct<double>(const GeluParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
