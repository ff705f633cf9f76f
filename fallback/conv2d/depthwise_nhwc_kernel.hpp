// The `direct` algorithm's depthwise convolution (groups == C == K) on NHWC values:
// channels are the innermost dimension, so one output pixel is NB whole vectors of
// channels accumulated over the R x S taps (input vector x weight vector), with no
// short rows to waste lanes on (the NCHW kernel vectorises along a plane's rows, which
// MobileNet's 14x14 and 7x7 planes cannot fill). Weights come repacked tap-major
// (wt[(r*S + s)*C + c]). Compiled once per ISA by depthwise_nhwc.cpp; no include guard.
#if !defined(AI3_ISA_NS) || !defined(AI3_FB_VBYTES)
#error "define AI3_ISA_NS and AI3_FB_VBYTES before including depthwise_nhwc_kernel.hpp"
#endif

namespace ai3::fallback::detail::AI3_ISA_NS {

template <class T> struct DwnVec {
    typedef T type __attribute__((vector_size(AI3_FB_VBYTES)));
};

template <class T> inline typename DwnVec<T>::type dwn_load(const T *p) {
    typename DwnVec<T>::type v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

// Channels [c0, c0 + NB*L) of output pixel (op, q) of one image.
template <class T, int NB>
inline void dwn_pixel(const Conv2dParams &p, const T *in_n, const T *wt, const T *bias, int64_t op, int64_t q,
                      int64_t c0, T *o) {
    using V = typename DwnVec<T>::type;
    constexpr int L = AI3_FB_VBYTES / int(sizeof(T));
    const int64_t C = p.C;
    V acc[NB];
    for (int b = 0; b < NB; ++b) acc[b] = bias ? dwn_load(bias + c0 + b * L) : V{};
    for (int64_t r = 0; r < p.R; ++r) {
        const int64_t h = op * p.stride_h - p.pad_h + r * p.dil_h;
        if (h < 0 || h >= p.H) continue;
        for (int64_t s = 0; s < p.S; ++s) {
            const int64_t w = q * p.stride_w - p.pad_w + s * p.dil_w;
            if (w < 0 || w >= p.W) continue;
            const T *ip = in_n + (h * p.W + w) * C + c0;
            const T *wp = wt + (r * p.S + s) * C + c0;
            for (int b = 0; b < NB; ++b) acc[b] += dwn_load(ip + b * L) * dwn_load(wp + b * L);
        }
    }
    if (p.act != Activation::none)
        for (int b = 0; b < NB; ++b) acc[b] = activate<T, V>(p.act, acc[b]);
    std::memcpy(o + c0, acc, sizeof(acc));
}

template <class T> void conv2d_depthwise_nhwc_impl(const Conv2dParams &p, const Conv2d::Args<T> &a, const T *wt) {
    constexpr int L = AI3_FB_VBYTES / int(sizeof(T));
    constexpr int NB = 4; // vectors of channels per accumulation (registers, not spills)
    const int64_t C = p.C, P = p.P, Q = p.Q;
    const T *bias = p.has_bias ? a.bias : nullptr;
    parallel_for(p.N * P, 1, [&](int64_t b, int64_t e) {
        for (int64_t row = b; row < e; ++row) {
            const int64_t n = row / P, op = row % P;
            const T *in_n = a.input + n * p.H * p.W * C;
            for (int64_t q = 0; q < Q; ++q) {
                T *o = a.output + (row * Q + q) * C;
                int64_t c0 = 0;
                for (; c0 + NB * L <= C; c0 += NB * L) dwn_pixel<T, NB>(p, in_n, wt, bias, op, q, c0, o);
                for (; c0 + L <= C; c0 += L) dwn_pixel<T, 1>(p, in_n, wt, bias, op, q, c0, o);
                for (; c0 < C; ++c0) { // channels past the last whole vector
                    T acc = bias ? bias[c0] : T(0);
                    for (int64_t r = 0; r < p.R; ++r) {
                        const int64_t h = op * p.stride_h - p.pad_h + r * p.dil_h;
                        if (h < 0 || h >= p.H) continue;
                        for (int64_t s = 0; s < p.S; ++s) {
                            const int64_t w = q * p.stride_w - p.pad_w + s * p.dil_w;
                            if (w >= 0 && w < p.W) acc += in_n[(h * p.W + w) * C + c0] * wt[(r * p.S + s) * C + c0];
                        }
                    }
                    o[c0] = activate<T>(p.act, acc);
                }
            }
        }
    });
}

} // namespace ai3::fallback::detail::AI3_ISA_NS
