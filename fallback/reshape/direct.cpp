// reshape: the data of a dense tensor does not change; run on its own (not inside a
// graph, which aliases the buffer) the kernel is the copy into the output.
#include "../kernels.hpp"
#include "ai3/parallel.hpp"

#include <cstring>

namespace ai3::fallback {

template <class T> void reshape_direct(const ElementwiseParams &p, const UnaryArgs<T> &a) {
    if (p.n <= 0 || a.input == a.output) return;
    parallel_for(p.n, int64_t(1) << 16,
                 [&](int64_t b, int64_t e) { std::memcpy(a.output + b, a.input + b, sizeof(T) * std::size_t(e - b)); });
}

template void reshape_direct<float>(const ElementwiseParams &, const UnaryArgs<float> &);
template void reshape_direct<double>(const ElementwiseParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
