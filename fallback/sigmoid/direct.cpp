// sigmoid: 1 / (1 + exp(-x)); exp overflow gives the exact limit 0. In place (input == output) is fine.
#include "../kernels.hpp"
#include "../pointwise.hpp"

#include "ai3/host_math.hpp"

namespace ai3::fallback {

template <class T> void sigmoid_direct(const ElementwiseParams &p, const UnaryArgs<T> &a) {
    detail::pointwise(p.n, a.input, a.output, [](T x) { return sigmoid_of<HostMath>(x); });
}

template void sigmoid_direct<float>(const ElementwiseParams &, const UnaryArgs<float> &);
template void sigmoid_direct<double>(const ElementwiseParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
