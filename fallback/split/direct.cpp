// split: one piece of chunk/split (torch.narrow), copied dense: for each of `outer`
// rows, elements [start*inner, (start+len)*inner) of a row of dim*inner.
#include "../kernels.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>
#include <cstring>

namespace ai3::fallback {

template <class T> void split_direct(const SplitParams &p, const UnaryArgs<T> &a) {
    const int64_t row = p.len * p.inner;
    if (p.outer <= 0 || row <= 0) return;
    parallel_for(p.outer, std::max<int64_t>(1, (int64_t(1) << 14) / row), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o)
            std::memcpy(a.output + o * row, a.input + (o * p.dim + p.start) * p.inner, sizeof(T) * std::size_t(row));
    });
}

template void split_direct<float>(const SplitParams &, const UnaryArgs<float> &);
template void split_direct<double>(const SplitParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
