// permute: dense copy out[i0..ir] = in[i at perm]. The output is walked in order; its
// innermost dim reads the input at that dim's stride. Channels-last <-> NCHW (ConvNeXt)
// and channel shuffle's transpose go through here; rows are the parallel unit.
#include "../kernels.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>

namespace ai3::fallback {

template <class T> void permute_direct(const PermuteParams &p, const UnaryArgs<T> &a) {
    const int r = p.rank;
    int64_t in_stride[kMaxRank], out_shape[kMaxRank], st[kMaxRank];
    int64_t s = 1;
    for (int d = r - 1; d >= 0; --d) {
        in_stride[d] = s;
        s *= p.in_shape[d];
    }
    const int64_t total = s;
    if (total <= 0) return;
    if (r == 0) {
        a.output[0] = a.input[0];
        return;
    }
    for (int d = 0; d < r; ++d) {
        out_shape[d] = p.in_shape[p.perm[d]];
        st[d] = in_stride[p.perm[d]];
    }
    const int64_t inner = out_shape[r - 1], is = st[r - 1], rows = total / inner;
    parallel_for(rows, std::max<int64_t>(1, (int64_t(1) << 14) / inner), [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
            int64_t off = 0, rem = row;
            for (int d = r - 2; d >= 0; --d) {
                off += (rem % out_shape[d]) * st[d];
                rem /= out_shape[d];
            }
            const T *x = a.input + off;
            T *y = a.output + row * inner;
            for (int64_t j = 0; j < inner; ++j) y[j] = x[j * is];
        }
    });
}

template void permute_direct<float>(const PermuteParams &, const UnaryArgs<float> &);
template void permute_direct<double>(const PermuteParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
