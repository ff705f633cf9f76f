// hardswish: x * relu6(x + 3) / 6 (torch.nn.Hardswish; the formula is ai3::hardswish_of). In place (input == output) is fine.
#include "../kernels.hpp"
#include "../pointwise.hpp"

#include <cmath>

namespace ai3::fallback {

template <class T> void hardswish_direct(const ElementwiseParams &p, const UnaryArgs<T> &a) {
    detail::pointwise(p.n, a.input, a.output, [](T x) { return hardswish_of<T>(x); });
}

template void hardswish_direct<float>(const ElementwiseParams &, const UnaryArgs<float> &);
template void hardswish_direct<double>(const ElementwiseParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
