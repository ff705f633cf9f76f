// pad2d: torch F.pad on the last two dims, modes zeros / reflect / replicate / circular.
// Output is N x C x (H+top+bottom) x (W+left+right). Negative pads crop (as in F.pad;
// circular wraps within the cropped range, as torch does).
// The caller validates the pads (reflect: pad < size, circular: pad <= size); the index
// maps here are total (multiple reflections, true modulo) so no mode ever reads out of bounds.
#include "../kernels.hpp"
#include "ai3/errors.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>
#include <vector>

namespace ai3::fallback {

namespace {
// Source index of padded index i (already shifted by the leading pad), or -1 for a zero.
// `before`/`after` are the pads of this dimension: circular wraps within the range left
// after negative pads crop it (torch crops first, then wraps).
int64_t source_index(int64_t i, int64_t n, int64_t before, int64_t after, PadMode mode) {
    if (i >= 0 && i < n) return i;
    if (n <= 0) return -1;
    switch (mode) {
    case PadMode::zeros: return -1;
    case PadMode::replicate: return i < 0 ? 0 : n - 1;
    case PadMode::circular: {
        const int64_t lo = std::max<int64_t>(0, -before), hi = n - std::max<int64_t>(0, -after), m = hi - lo;
        if (m <= 0) return -1;
        return lo + (((i - lo) % m) + m) % m;
    }
    case PadMode::reflect: {
        if (n == 1) return 0;
        const int64_t period = 2 * (n - 1);
        int64_t m = ((i % period) + period) % period;
        return m < n ? m : period - m;
    }
    }
    return -1;
}
} // namespace

template <class T> void pad2d_direct(const Pad2dParams &p, const UnaryArgs<T> &a) {
    const int64_t Ho = p.H + p.top + p.bottom, Wo = p.W + p.left + p.right;
    AI3_CHECK(p.N >= 0 && p.C >= 0 && p.H >= 0 && p.W >= 0 && Ho >= 0 && Wo >= 0, ValueError, "pad2d: negative size");
    const int64_t planes = p.N * p.C, HW = p.H * p.W, HWo = Ho * Wo;
    if (planes == 0 || HWo == 0) return;
    std::vector<int64_t> rows(static_cast<size_t>(Ho)), cols(static_cast<size_t>(Wo));
    for (int64_t i = 0; i < Ho; ++i) rows[size_t(i)] = source_index(i - p.top, p.H, p.top, p.bottom, p.mode);
    for (int64_t j = 0; j < Wo; ++j) cols[size_t(j)] = source_index(j - p.left, p.W, p.left, p.right, p.mode);
    // interior column run (identity map) copied as a block
    const int64_t jlo = std::clamp<int64_t>(p.left, 0, Wo), jhi = std::clamp<int64_t>(p.left + p.W, jlo, Wo);
    parallel_for(planes * Ho, std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, Wo)),
                 [&](int64_t b, int64_t e) {
                     for (int64_t t = b; t < e; ++t) {
                         const int64_t pl = t / Ho, i = t % Ho;
                         T *o = a.output + pl * HWo + i * Wo;
                         const int64_t r = rows[size_t(i)];
                         if (r < 0) {
                             std::fill(o, o + Wo, T(0));
                             continue;
                         }
                         const T *src = a.input + pl * HW + r * p.W;
                         for (int64_t j = 0; j < jlo; ++j) o[j] = cols[size_t(j)] < 0 ? T(0) : src[cols[size_t(j)]];
                         for (int64_t j = jlo; j < jhi; ++j) o[j] = src[j - p.left];
                         for (int64_t j = jhi; j < Wo; ++j) o[j] = cols[size_t(j)] < 0 ? T(0) : src[cols[size_t(j)]];
                     }
                 });
}

template void pad2d_direct<float>(const Pad2dParams &, const UnaryArgs<float> &);
template void pad2d_direct<double>(const Pad2dParams &, const UnaryArgs<double> &);

} // namespace ai3::fallback
