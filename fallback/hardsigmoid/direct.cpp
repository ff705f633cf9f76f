// hardsigmoid: relu6(x + 3) / 6 (torch.nn.Hardsigmoid). In place (input == output) is fine.
#include "../kernels.hpp"
#include "../pointwise.hpp"

#include <cmath>

namespace ai3::fallback {

template <class T> void hardsigmoid_direct(const ElementwiseParams &p, const UnaryArgs<T> &a) {
    detail::pointwise(p.n, a.input, a.output, [](T x) { return hardsigmoid_of<T>(x); });
}

template void hardsigmoid_direct<float>(const ElementwiseParams &, const UnaryArgs<float> &);
template void hardsigmoid_direct<double>(const ElementwiseParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
