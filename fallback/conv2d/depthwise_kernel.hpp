// The `direct` algorithm's loop nest for depthwise convolutions (groups == C == K:
// one input and one output channel per group, MobileNet's and EfficientNet's 3x3
// and 5x5 layers). The general direct kernel blocks output channels in registers,
// which a group of one cannot fill; here each (image, channel) plane is a 2-D
// stencil vectorised along the output row instead.
//
// The plane is copied once into a per-thread buffer, zero-padded and split into
// stride phases, so every tap reads whole, unchecked, contiguous vectors; a block of
// output vectors accumulates all R x S taps in registers before one store.
// Compiled once per ISA by direct.cpp (see simd/per_isa.inc); no include guard.
#if !defined(AI3_ISA_NS) || !defined(AI3_FB_VBYTES)
#error "define AI3_ISA_NS and AI3_FB_VBYTES before including depthwise_kernel.hpp"
#endif

#if defined(__GNUC__) || defined(__clang__)
namespace ai3::fallback::detail::AI3_ISA_NS {

template <class T> struct DwVec {
    typedef T type __attribute__((vector_size(AI3_FB_VBYTES)));
};

// NV vectors of virtual outputs at x0 (see below), accumulated over the taps at
// offsets toff[0..taps), stored to vout.
template <class T, int NV>
inline void dw_block(const T *x0, const int64_t *toff, int64_t taps, const T *w, T bias, Activation act, T *vout) {
    using V = typename DwVec<T>::type;
    constexpr int L = AI3_FB_VBYTES / int(sizeof(T));
    V acc[NV];
    for (int v = 0; v < NV; ++v) acc[v] = V{} + bias;
    for (int64_t t = 0; t < taps; ++t) {
        const T *x = x0 + toff[t];
        const T wk = w[t];
        for (int v = 0; v < NV; ++v) {
            V xv;
            std::memcpy(&xv, x + v * L, sizeof(V));
            acc[v] += xv * wk;
        }
    }
    if (act != Activation::none)
        for (int v = 0; v < NV; ++v) acc[v] = activate<T, V>(act, acc[v]);
    std::memcpy(vout, acc, sizeof(acc));
}

// The padded plane is split into stride_h x stride_w phase planes (row phase g,
// column phase f hold padded (u*sh + g, v*sw + f)), each Hph x Wph. An output
// (p, q) then reads, for tap (r, s), phase ((r*dh) % sh, (s*dw) % sw) at
// (p + r*dh/sh, q + s*dw/sw): with j = p*Wph + q that is one fixed offset per tap
// plus j, so the whole plane is one run of "virtual" outputs (Wph - Q of each
// row are discarded), vectorised without regard to short rows (7x7 planes).
template <class T> void conv2d_depthwise_impl(const Conv2dParams &p, const Conv2d::Args<T> &a) {
    constexpr int L = AI3_FB_VBYTES / int(sizeof(T));
    constexpr int NV = AI3_FB_VBYTES == 64 ? 4 : 6; // accumulators kept in registers
    const int64_t sh = p.stride_h, sw = p.stride_w, P = p.P, Q = p.Q;
    const int64_t Hph = P + (p.R - 1) * p.dil_h / sh, Wph = Q + (p.S - 1) * p.dil_w / sw;
    const int64_t nvirt = P * Wph, jpad = (nvirt + L - 1) / L * L;
    const int64_t pstride = Hph * Wph + L; // slack: the last vectors read past the plane
    const int64_t bufsize = sh * sw * pstride + jpad;
    const int64_t HW = p.H * p.W, taps = p.R * p.S;
    std::vector<int64_t> toff(static_cast<size_t>(taps));
    for (int64_t r = 0; r < p.R; ++r)
        for (int64_t s = 0; s < p.S; ++s) {
            const int64_t tr = r * p.dil_h, ts = s * p.dil_w;
            toff[size_t(r * p.S + s)] = ((tr % sh) * sw + ts % sw) * pstride + (tr / sh) * Wph + ts / sw;
        }
    parallel_for(p.N * p.C, 1, [&](int64_t b, int64_t e) {
        T *buf = scratch<T>(size_t(bufsize), kScratchA); // this worker's phase planes + virtual outputs
        T *vout = buf + sh * sw * pstride;
        // Padding positions are the same for every plane: zero them once, then each
        // plane writes only its interior.
        std::fill(buf, vout, T(0));
        for (int64_t nc = b; nc < e; ++nc) {
            const int64_t c = nc % p.C;
            const T *in = a.input + nc * HW;
            for (int64_t g = 0; g < sh; ++g)
                for (int64_t u = 0; u < Hph; ++u) {
                    const int64_t h = u * sh + g - p.pad_h;
                    if (h < 0 || h >= p.H) continue;
                    const T *src = in + h * p.W;
                    for (int64_t f = 0; f < sw; ++f) {
                        T *d = buf + (g * sw + f) * pstride + u * Wph;
                        const int64_t off = f - p.pad_w; // phase column v reads input column v*sw + off
                        const int64_t lo = std::min(Wph, std::max<int64_t>(0, ceil_div(-off, sw)));
                        const int64_t hi = std::max(lo, std::min(Wph, floor_div(p.W - 1 - off, sw) + 1));
                        if (sw == 1)
                            for (int64_t v = lo; v < hi; ++v) d[v] = src[v + off];
                        else
                            for (int64_t v = lo; v < hi; ++v) d[v] = src[v * sw + off];
                    }
                }
            const T *w = a.weight + c * taps;
            const T bias = p.has_bias ? a.bias[c] : T(0);
            int64_t j = 0;
            for (; j + NV * L <= jpad; j += NV * L)
                dw_block<T, NV>(buf + j, toff.data(), taps, w, bias, p.act, vout + j);
            for (; j < jpad; j += L) dw_block<T, 1>(buf + j, toff.data(), taps, w, bias, p.act, vout + j);
            T *out = a.output + nc * P * Q;
            for (int64_t op = 0; op < P; ++op)
                for (int64_t q = 0; q < Q; ++q) out[op * Q + q] = vout[op * Wph + q];
        }
    });
}

template void conv2d_depthwise_impl<float>(const Conv2dParams &, const Conv2d::Args<float> &);
template void conv2d_depthwise_impl<double>(const Conv2dParams &, const Conv2d::Args<double> &);

} // namespace ai3::fallback::detail::AI3_ISA_NS
#endif
