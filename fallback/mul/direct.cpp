// mul: a * b with torch broadcasting (squeeze-excitation gates [N,C,1,1] * [N,C,H,W],
// layer-scale parameters [C,1,1] * [N,C,H,W]). The output may alias an operand of its shape.
#include "../kernels.hpp"
#include "../pointwise.hpp"

namespace ai3::fallback {

template <class T> void mul_direct(const BinaryParams &p, const BinaryArgs<T> &a) {
    detail::broadcast_binary(p, a, [](T x, T y) { return x * y; });
}

template void mul_direct<float>(const BinaryParams &, const BinaryArgs<float> &);
template void mul_direct<double>(const BinaryParams &, const BinaryArgs<double> &);

} // namespace ai3::fallback
