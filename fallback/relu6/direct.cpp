// relu6: min(max(x, 0), 6) (torch.nn.ReLU6; NaN propagates). In place (input == output) is fine.
#include "../kernels.hpp"
#include "../pointwise.hpp"

#include <cmath>

namespace ai3::fallback {

template <class T> void relu6_direct(const ElementwiseParams &p, const UnaryArgs<T> &a) {
    detail::pointwise(p.n, a.input, a.output, [](T x) { return relu6_of<T>(x); });
}

template void relu6_direct<float>(const ElementwiseParams &, const UnaryArgs<float> &);
template void relu6_direct<double>(const ElementwiseParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
