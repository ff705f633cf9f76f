// maxpool2d's loop nest, compiled once per ISA by direct.cpp (simd/per_isa.inc; no
// include guard). The window max is separable: per output row, the max over the
// window's input rows (one elementwise pass per row, into a row padded with -inf),
// then the max over each window's columns taken at every start column (kw shifted
// passes), of which every stride_w-th is the output. All passes are contiguous
// elementwise selects the compiler vectorises; a scalar max per tap (the plain loop
// nest) ran ResNet-50's stem pool at torch's 3 ms, these at a fraction of it.
// Torch semantics: -inf padding, windows past the end (ceil_mode) see only their
// in-range elements, NaN wins (v > m || v != v picks v, in both passes).
#if !defined(AI3_ISA_NS) || !defined(AI3_FB_VBYTES)
#error "define AI3_ISA_NS and AI3_FB_VBYTES before including maxpool2d/direct_kernel.hpp"
#endif

namespace ai3::fallback::detail::AI3_ISA_NS {

template <class T> inline T nan_max(T m, T v) { return (v > m || v != v) ? v : m; }

template <class T> void maxpool2d_impl(const Pool2dParams &p, const UnaryArgs<T> &a) {
    const int64_t planes = p.N * p.C, HW = p.H * p.W, PQ = p.P * p.Q;
    // Padded row: input column x at x + pad_w; long enough for every window start of
    // the Q outputs plus its last tap.
    const int64_t starts = (p.Q - 1) * p.stride_w + 1, span = (p.kw - 1) * p.dil_w;
    const int64_t width = std::max(starts + span, p.pad_w + p.W);
    const T ninf = -std::numeric_limits<T>::infinity();
    parallel_for(planes, std::max<int64_t>(1, (int64_t(1) << 12) / PQ), [&](int64_t b, int64_t e) {
        T *vrow = scratch<T>(size_t(width + starts), kScratchA); // vertical max, then window max
        T *hmax = vrow + width;
        for (int64_t pl = b; pl < e; ++pl) {
            const T *in = a.input + pl * HW;
            T *out = a.output + pl * PQ;
            for (int64_t oh = 0; oh < p.P; ++oh) {
                std::fill(vrow, vrow + width, ninf);
                T *vin = vrow + p.pad_w;
                for (int64_t r = 0; r < p.kh; ++r) {
                    const int64_t h = oh * p.stride_h - p.pad_h + r * p.dil_h;
                    if (h < 0 || h >= p.H) continue;
                    const T *row = in + h * p.W;
                    for (int64_t x = 0; x < p.W; ++x) vin[x] = nan_max(vin[x], row[x]);
                }
                std::copy(vrow, vrow + starts, hmax);
                for (int64_t s = 1; s < p.kw; ++s) {
                    const T *shifted = vrow + s * p.dil_w;
                    for (int64_t j = 0; j < starts; ++j) hmax[j] = nan_max(hmax[j], shifted[j]);
                }
                T *orow = out + oh * p.Q;
                if (p.stride_w == 1)
                    std::copy(hmax, hmax + p.Q, orow);
                else
                    for (int64_t q = 0; q < p.Q; ++q) orow[q] = hmax[q * p.stride_w];
            }
        }
    });
}

} // namespace ai3::fallback::detail::AI3_ISA_NS
