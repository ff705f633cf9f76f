// cat: every input is outer x inner[i]; output row o is the inputs' rows o back to back.
#include "../kernels.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>
#include <cstring>

namespace ai3::fallback {

template <class T> void cat_direct(const CatParams &p, const Cat::Args<T> &a) {
    int64_t total = 0;
    for (int i = 0; i < p.n; ++i) total += p.inner[i];
    if (p.outer <= 0 || total <= 0) return;
    // Parallel over (row, input) pieces so a single-image concat still uses every thread.
    const int64_t pieces = p.outer * p.n;
    parallel_for(pieces, std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, total / p.n)),
                 [&](int64_t b, int64_t e) {
                     for (int64_t k = b; k < e; ++k) {
                         const int64_t o = k / p.n;
                         const int i = int(k % p.n);
                         int64_t off = 0;
                         for (int j = 0; j < i; ++j) off += p.inner[j];
                         if (p.inner[i])
                             std::memcpy(a.output + o * total + off, a.inputs[i] + o * p.inner[i],
                                         sizeof(T) * std::size_t(p.inner[i]));
                     }
                 });
}

template void cat_direct<float>(const CatParams &, const Cat::Args<float> &);
template void cat_direct<double>(const CatParams &, const Cat::Args<double> &);

} // namespace ai3::fallback
