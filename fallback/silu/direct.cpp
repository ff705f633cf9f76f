// silu: x * sigmoid(x) (torch.nn.SiLU). In place (input == output) is fine.
#include "../kernels.hpp"
#include "../pointwise.hpp"

#include "ai3/host_math.hpp"

namespace ai3::fallback {

template <class T> void silu_direct(const ElementwiseParams &p, const UnaryArgs<T> &a) {
    detail::pointwise(p.n, a.input, a.output, [](T x) { return silu_of<HostMath>(x); });
}

template void silu_direct<float>(const ElementwiseParams &, const UnaryArgs<float> &);
template void silu_direct<double>(const ElementwiseParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
