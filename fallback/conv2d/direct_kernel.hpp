// The direct convolution's kernel, written once and compiled by direct.cpp once per
// ISA (generic, AVX2, AVX-512) under a target pragma, each copy in its own namespace
// AI3_ISA_NS (otherwise the linker could merge identically named template
// instantiations of different ISAs). AI3_FB_VBYTES is the vector width in bytes.
// No include guard on purpose; the including file pulls in every standard header first.
#if !defined(AI3_ISA_NS) || !defined(AI3_FB_VBYTES)
#error "define AI3_ISA_NS and AI3_FB_VBYTES before including direct_kernel.hpp"
#endif

#ifndef AI3_FB_UNROLL
#if defined(__GNUC__) || defined(__clang__)
#define AI3_FB_UNROLL _Pragma("GCC unroll 16")
#else
#define AI3_FB_UNROLL
#endif
#endif

namespace ai3::fallback::detail::AI3_ISA_NS {

constexpr int kVBytes = AI3_FB_VBYTES;
constexpr int64_t kTileBlockBytes = int64_t(384) << 10; // input of one tile block, kept in L2
// Register tile of the wide (many output channels per group) case.
#if AI3_FB_VBYTES == 64
constexpr int kBigKB = 8, kBigNV = 2; // 16 accumulators of 32 zmm registers
#else
constexpr int kBigKB = 4, kBigNV = 3; // 12 accumulators of 16 ymm/xmm registers
#endif

#if defined(__GNUC__) || defined(__clang__)
template <class T> struct Vec {
    typedef T type __attribute__((vector_size(AI3_FB_VBYTES)));
};
#endif

// acc[KB][QB] = sum_c sum_t w[c][t][kk] * in[c*cstride + off[t] + jj], written to tmp.
template <class T, int KB, int NV>
void tile_kernel(const T *in, int64_t cstride, int64_t C, const int64_t *off, int64_t taps, const T *w, T *tmp) {
    constexpr int L = kVBytes / int(sizeof(T));
    constexpr int QB = NV * L;
#if defined(__GNUC__) || defined(__clang__)
    using V = typename Vec<T>::type;
    V acc[KB][NV];
    AI3_FB_UNROLL for (int kk = 0; kk < KB; ++kk) AI3_FB_UNROLL for (int v = 0; v < NV; ++v) acc[kk][v] = V{};
    for (int64_t c = 0; c < C; ++c) {
        const T *ic = in + c * cstride;
        const T *wc = w + c * taps * KB;
        for (int64_t t = 0; t < taps; ++t) {
            const T *x = ic + off[t];
            V xv[NV];
            AI3_FB_UNROLL for (int v = 0; v < NV; ++v) std::memcpy(&xv[v], x + v * L, sizeof(V));
            const T *wt = wc + t * KB;
            AI3_FB_UNROLL for (int kk = 0; kk < KB; ++kk) {
                const T wk = wt[kk];
                AI3_FB_UNROLL for (int v = 0; v < NV; ++v) acc[kk][v] += xv[v] * wk;
            }
        }
    }
    AI3_FB_UNROLL for (int kk = 0; kk < KB; ++kk) AI3_FB_UNROLL for (int v = 0; v < NV; ++v)
        std::memcpy(tmp + kk * QB + v * L, &acc[kk][v], sizeof(V));
#else
    T acc[KB][QB] = {};
    for (int64_t c = 0; c < C; ++c) {
        const T *ic = in + c * cstride;
        const T *wc = w + c * taps * KB;
        for (int64_t t = 0; t < taps; ++t) {
            const T *x = ic + off[t];
            const T *wt = wc + t * KB;
            for (int kk = 0; kk < KB; ++kk)
                for (int jj = 0; jj < QB; ++jj) acc[kk][jj] += wt[kk] * x[jj];
        }
    }
    for (int kk = 0; kk < KB; ++kk)
        for (int jj = 0; jj < QB; ++jj) tmp[kk * QB + jj] = acc[kk][jj];
#endif
}

template <class T, int KB, int NV> void run_direct(const Conv2dParams &p, const Conv2d::Args<T> &a) {
    constexpr int L = kVBytes / int(sizeof(T));
    constexpr int64_t QB = int64_t(NV) * L;
    const int64_t G = p.groups, cpg = p.C / G, kpg = p.K / G;
    const int64_t sh = p.stride_h, sw = p.stride_w, dh = p.dil_h, dw = p.dil_w;
    const int64_t R = p.R, S = p.S, RS = R * S, P = p.P, Q = p.Q, PQ = P * Q, HW = p.H * p.W;

    // Phase-plane geometry.
    const int64_t Wph = Q + (S - 1) * dw / sw;
    const int64_t J = P * Wph; // virtual outputs
    const int64_t ntiles = (J + QB - 1) / QB;
    const int64_t maxread = ntiles * QB - 1 + ((R - 1) * dh / sh) * Wph + (S - 1) * dw / sw;
    const int64_t Hph = (maxread + Wph) / Wph; // rows per plane, covers every read
    const int64_t plane = Hph * Wph;
    // Only the phases some tap reads get a plane (at most min(stride, taps) per axis), so a
    // stride far beyond the kernel extent costs no memory.
    auto phases_of = [](int64_t taps, int64_t dil, int64_t stride, std::vector<int64_t> &list,
                        std::vector<int64_t> &index) {
        for (int64_t t = 0; t < taps; ++t) {
            const int64_t ph = (t * dil) % stride;
            auto it = std::find(list.begin(), list.end(), ph);
            index.push_back(it - list.begin());
            if (it == list.end()) list.push_back(ph);
        }
    };
    std::vector<int64_t> hph, hidx, wph, widx;
    phases_of(R, dh, sh, hph, hidx);
    phases_of(S, dw, sw, wph, widx);
    const int64_t nph_h = int64_t(hph.size()), nph_w = int64_t(wph.size());
    const int64_t cstride = nph_h * nph_w * plane;
    std::vector<int64_t> off(static_cast<size_t>(RS));
    for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s)
            off[size_t(r * S + s)] =
                (hidx[size_t(r)] * nph_w + widx[size_t(s)]) * plane + ((r * dh) / sh) * Wph + (s * dw) / sw;

    // Packed weights [g][kb][c][t][KB], zero beyond kpg.
    const int64_t nkb = (kpg + KB - 1) / KB;
    const int64_t wblock = cpg * RS * KB;
    T *wp = scratch<T>(size_t(G * nkb * wblock), kScratchA);
    parallel_for(G * nkb, 1, [&](int64_t b, int64_t e) {
        for (int64_t gb = b; gb < e; ++gb) {
            const int64_t g = gb / nkb, kb = gb % nkb;
            T *dst = wp + gb * wblock;
            for (int64_t kk = 0; kk < KB; ++kk) {
                const int64_t k = kb * KB + kk;
                if (k < kpg) {
                    const T *src = a.weight + (g * kpg + k) * cpg * RS;
                    for (int64_t i = 0; i < cpg * RS; ++i) dst[i * KB + kk] = src[i];
                } else {
                    for (int64_t i = 0; i < cpg * RS; ++i) dst[i * KB + kk] = T(0);
                }
            }
        }
    });

    // Tile blocks: TB consecutive tiles whose input (all cpg channels) stays in L2 while
    // every output-channel block of the group sweeps them (work item = (g, tile block, kb)).
    const int64_t phases = nph_h * nph_w;
    const int64_t per_tile_row = cpg * phases * int64_t(sizeof(T)); // bytes per virtual output column
    const int64_t halo = ((R - 1) * dh / sh) * Wph + (S - 1) * dw / sw;
    const int64_t TB = std::max<int64_t>(1, (kTileBlockBytes / per_tile_row - halo) / QB);
    const int64_t ntb = (ntiles + TB - 1) / TB;

    T *buf = scratch<T>(size_t(p.C * cstride), kScratchPad);
    const T *bias = p.has_bias ? a.bias : nullptr;

    for (int64_t n = 0; n < p.N; ++n) {
        const T *img = a.input + n * p.C * HW;
        // Rearrange the zero-padded image into phase planes.
        parallel_for(p.C * nph_h, 1, [&](int64_t b, int64_t e) {
            for (int64_t cp = b; cp < e; ++cp) {
                const int64_t c = cp / nph_h, hi = cp % nph_h, ph = hph[size_t(hi)];
                const T *ic = img + c * HW;
                for (int64_t wi = 0; wi < nph_w; ++wi) {
                    const int64_t pw = wph[size_t(wi)];
                    T *pl = buf + c * cstride + (hi * nph_w + wi) * plane;
                    // columns u with 0 <= u*sw + pw - pad_w < W
                    const int64_t woff = pw - p.pad_w;
                    const int64_t ulo = std::min(Wph, std::max<int64_t>(0, detail::ceil_div(-woff, sw)));
                    const int64_t uhi = std::max(ulo, std::min(Wph, detail::floor_div(p.W - 1 - woff, sw) + 1));
                    for (int64_t u = 0; u < Hph; ++u) {
                        T *row = pl + u * Wph;
                        const int64_t h = u * sh + ph - p.pad_h;
                        if (h < 0 || h >= p.H) {
                            std::fill(row, row + Wph, T(0));
                            continue;
                        }
                        const T *irow = ic + h * p.W;
                        std::fill(row, row + ulo, T(0));
                        if (sw == 1) {
                            if (uhi > ulo) std::memcpy(row + ulo, irow + ulo + woff, sizeof(T) * size_t(uhi - ulo));
                        } else {
                            for (int64_t v = ulo; v < uhi; ++v) row[v] = irow[v * sw + woff];
                        }
                        std::fill(row + uhi, row + Wph, T(0));
                    }
                }
            }
        });

        T *outn = a.output + n * p.K * PQ;
        parallel_for(G * ntb * nkb, 1, [&](int64_t b, int64_t e) {
            alignas(64) T tmp[KB * QB];
            for (int64_t it = b; it < e; ++it) {
                const int64_t g = it / (ntb * nkb), tb = (it / nkb) % ntb, kb = it % nkb, gb = g * nkb + kb;
                for (int64_t tile = tb * TB, tend = std::min(ntiles, (tb + 1) * TB); tile < tend; ++tile) {
                    const int64_t j0 = tile * QB;
                    tile_kernel<T, KB, NV>(buf + g * cpg * cstride + j0, cstride, cpg, off.data(), RS, wp + gb * wblock,
                                           tmp);
                    const int64_t k0 = g * kpg + kb * KB;
                    const int64_t kn = std::min<int64_t>(KB, kpg - kb * KB);
                    // scatter the valid virtual outputs (q < Q, p < P)
                    int64_t pr = j0 / Wph, q = j0 % Wph;
                    for (int64_t jj = 0; jj < QB && pr < P;) {
                        const int64_t run = std::min<int64_t>(QB - jj, Wph - q); // to the end of the virtual row
                        const int64_t valid = std::max<int64_t>(0, std::min(run, Q - q));
                        for (int64_t kk = 0; kk < kn; ++kk) {
                            T *o = outn + (k0 + kk) * PQ + pr * Q + q;
                            const T *src = tmp + kk * QB + jj;
                            const T bv = bias ? bias[k0 + kk] : T(0);
                            bias_act(src, bv, p.act, o, valid);
                        }
                        jj += run;
                        q += run;
                        if (q == Wph) {
                            q = 0;
                            ++pr;
                        }
                    }
                }
            }
        });
    }
}

template <class T> void conv2d_direct_impl(const Conv2dParams &p, const Conv2d::Args<T> &a) {
    const int64_t kpg = p.K / p.groups;
    if (kpg >= kBigKB)
        run_direct<T, kBigKB, kBigNV>(p, a);
    else if (kpg >= 4)
        run_direct<T, 4, 3>(p, a);
    else if (kpg >= 2)
        run_direct<T, 2, 4>(p, a);
    else
        run_direct<T, 1, 4>(p, a);
}

template void conv2d_direct_impl<float>(const Conv2dParams &, const Conv2d::Args<float> &);
template void conv2d_direct_impl<double>(const Conv2dParams &, const Conv2d::Args<double> &);

} // namespace ai3::fallback::detail::AI3_ISA_NS
