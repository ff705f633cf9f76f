// flatten: only the shape changes; the kernel is the copy of n elements into the output.
#include "../kernels.hpp"
#include "ai3/parallel.hpp"

#include <cstring>

namespace ai3::fallback {

template <class T> void flatten_direct(const ElementwiseParams &p, const UnaryArgs<T> &a) {
    if (p.n <= 0 || a.input == a.output) return;
    parallel_for(p.n, int64_t(1) << 18,
                 [&](int64_t b, int64_t e) { std::memmove(a.output + b, a.input + b, sizeof(T) * size_t(e - b)); });
}

template void flatten_direct<float>(const ElementwiseParams &, const UnaryArgs<float> &);
template void flatten_direct<double>(const ElementwiseParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
