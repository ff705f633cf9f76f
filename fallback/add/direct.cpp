// add: a + b with torch broadcasting (residual connections, biases). The output may
// alias an operand of its own shape (a graph runs residual adds in place).
#include "../kernels.hpp"
#include "../pointwise.hpp"

namespace ai3::fallback {

template <class T> void add_direct(const BinaryParams &p, const BinaryArgs<T> &a) {
    detail::broadcast_binary(p, a, [](T x, T y) { return x + y; });
}

template void add_direct<float>(const BinaryParams &, const BinaryArgs<float> &);
template void add_direct<double>(const BinaryParams &, const BinaryArgs<double> &);

} // namespace ai3::fallback
