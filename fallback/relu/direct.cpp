// relu: out = max(x, 0), NaN propagates (torch). In place (input == output) is fine.
#include "../kernels.hpp"
#include "ai3/parallel.hpp"

namespace ai3::fallback {

template <class T> void relu_direct(const ElementwiseParams &p, const UnaryArgs<T> &a) {
    if (p.n <= 0) return;
    const T *in = a.input;
    T *out = a.output;
    parallel_for(p.n, int64_t(1) << 16, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = relu_of<T>(in[i]);
    });
}

template void relu_direct<float>(const ElementwiseParams &, const UnaryArgs<float> &);
template void relu_direct<double>(const ElementwiseParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
