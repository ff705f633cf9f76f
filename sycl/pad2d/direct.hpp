// Explicit padding for conv padding_mode reflect/replicate/circular (and zeros),
// torch's F.pad semantics on the last two dimensions. One output per work-item.
#pragma once
#include "../common.hpp"

namespace ai3::sk {
inline int64_t pad_source(int64_t i, int64_t n, PadMode mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case PadMode::reflect: {
        // Reflection without repeating the edge; padding < n is checked by the layer.
        int64_t period = 2 * (n - 1);
        if (period == 0) return 0;
        int64_t m = i % period;
        if (m < 0) m += period;
        return m < n ? m : period - m;
    }
    case PadMode::replicate: return i < 0 ? 0 : n - 1;
    case PadMode::circular: {
        int64_t m = i % n;
        return m < 0 ? m + n : m;
    }
    default: return -1;
    }
}

template <typename T> inline void pad2d(sycl::nd_item<3> it, const T *x, T *y, Pad2dParams p) {
    const int64_t OH = p.H + p.top + p.bottom, OW = p.W + p.left + p.right;
    int64_t plane = int64_t(it.get_global_id(0)), oh = int64_t(it.get_global_id(1)), ow = int64_t(it.get_global_id(2));
    if (ow >= OW) return;
    int64_t h = pad_source(oh - p.top, p.H, p.mode), w = pad_source(ow - p.left, p.W, p.mode);
    y[(plane * OH + oh) * OW + ow] = (h < 0 || w < 0) ? T(0) : x[(plane * p.H + h) * p.W + w];
}
} // namespace ai3::sk
