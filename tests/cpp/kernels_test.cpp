// Tests every fallback kernel, through the registry, against naive reference loops
// (double accumulation), for float and double.
// Build (from the repository root):
//   g++ -O3 -march=native -std=c++17 -Wall -Wextra -I core -I fallback tests/cpp/kernels_test.cpp
//       fallback/*.cpp fallback/*/*.cpp core/src/parallel.cpp core/src/registry.cpp core/src/scratch.cpp
//       -lpthread -o /tmp/kt && /tmp/kt   (AI3_GEMM_ISA=generic|avx2|avx512 picks the ISA path)
#include "ai3/fingerprint.hpp"
#include "ai3/winograd_f2x2.hpp"
#include "conv2d/winograd_transforms.hpp"
#include "ai3/parallel.hpp"
#include "ai3/registry.hpp"
#include "register.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace ai3;

namespace {

int g_pass = 0, g_fail = 0;
std::mt19937_64 rng(12345);

template <class T> std::vector<T> randv(int64_t n) {
    std::uniform_real_distribution<double> d(-1.0, 1.0);
    std::vector<T> v(size_t(std::max<int64_t>(n, 1)));
    for (auto &x : v) x = T(d(rng));
    return v;
}

template <class T> const char *tname() { return sizeof(T) == 4 ? "f32" : "f64"; }

// |got - ref| <= tol * (scale + |ref|), scale = the magnitude of the summed terms
template <class T>
bool check_close(const std::vector<T> &got, const std::vector<double> &ref, const std::vector<double> &scale,
                 const std::string &what, double tol_scale = 1.0) {
    const double tol = (sizeof(T) == 4 ? 2e-5 : 1e-12) * tol_scale;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double g = double(got[i]), r = ref[i];
        if (std::isnan(r) && std::isnan(g)) continue;
        if (r == g) continue;
        const double s = scale.empty() ? std::fabs(r) + 1.0 : scale[i] + std::fabs(r);
        if (!(std::fabs(g - r) <= tol * s)) {
            std::printf("FAIL %s [%s]: index %zu got %.17g want %.17g\n", what.c_str(), tname<T>(), i, g, r);
            ++g_fail;
            return false;
        }
    }
    ++g_pass;
    return true;
}

// ---------------------------------------------------------------- conv2d
int64_t out_size(int64_t in, int64_t pad0, int64_t pad1, int64_t k, int64_t st, int64_t dil) {
    int64_t eff = (k - 1) * dil + 1;
    return in + pad0 + pad1 < eff ? 0 : (in + pad0 + pad1 - eff) / st + 1;
}

void ref_conv(const Conv2dParams &p, const std::vector<double> &in, const std::vector<double> &w,
              const std::vector<double> &b, std::vector<double> &out, std::vector<double> &scale) {
    const int64_t cpg = p.C / p.groups, kpg = p.K / p.groups;
    out.assign(size_t(p.N * p.K * p.P * p.Q), 0.0);
    scale.assign(out.size(), 0.0);
    for (int64_t n = 0; n < p.N; ++n)
        for (int64_t k = 0; k < p.K; ++k) {
            int64_t g = k / kpg;
            for (int64_t oh = 0; oh < p.P; ++oh)
                for (int64_t ow = 0; ow < p.Q; ++ow) {
                    double acc = p.has_bias ? b[size_t(k)] : 0.0, sc = std::fabs(acc);
                    for (int64_t c = 0; c < cpg; ++c)
                        for (int64_t r = 0; r < p.R; ++r)
                            for (int64_t s = 0; s < p.S; ++s) {
                                int64_t h = oh * p.stride_h - p.pad_h + r * p.dil_h;
                                int64_t x = ow * p.stride_w - p.pad_w + s * p.dil_w;
                                if (h < 0 || h >= p.H || x < 0 || x >= p.W) continue;
                                double t = in[size_t(((n * p.C + g * cpg + c) * p.H + h) * p.W + x)] *
                                           w[size_t(((k * cpg + c) * p.R + r) * p.S + s)];
                                acc += t;
                                sc += std::fabs(t);
                            }
                    size_t o = size_t(((n * p.K + k) * p.P + oh) * p.Q + ow);
                    out[o] = activate<double>(p.act, acc); // the fused epilogue
                    scale[o] = sc;
                }
        }
}

bool winograd_applies(const Conv2dParams &p) {
    return p.R == 3 && p.S == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1;
}

// winograd's error grows with the transform's amplification (F(4x4) most): a looser bound
// relative to the summed magnitudes, still far below any real bug.
constexpr double kWinogradTol = 8.0;

// winograd must refuse (ai3::Unimplemented naming the configuration), never run another algorithm.
template <class T> void check_winograd_refuses(const Conv2dParams &p, const std::string &desc) {
    try {
        registry().get<Conv2d, T>("winograd", Backend::cpu)(p, Device{});
        std::printf("FAIL conv2d winograd %s [%s]: built a kernel for an unsupported configuration\n", desc.c_str(),
                    tname<T>());
        ++g_fail;
    } catch (const Unimplemented &e) {
        if (std::string(e.what()).find("winograd needs a 3x3 kernel with stride 1 and dilation 1") ==
            std::string::npos) {
            std::printf("FAIL conv2d winograd %s [%s]: unclear refusal: %s\n", desc.c_str(), tname<T>(), e.what());
            ++g_fail;
        } else {
            ++g_pass;
        }
    }
}

template <class T>
void run_winograd(const Conv2dParams &p, const std::vector<T> &in, const std::vector<T> &w, const std::vector<T> &b,
                  const std::vector<double> &ref, const std::vector<double> &scale, const std::string &desc) {
    // A Winograd output mixes the whole tile (and its padding) through the transforms, so its
    // rounding error follows the magnitudes around it, not its own: an output that reads only
    // padding is ~1e-16 rather than exactly 0. Scale by the largest of its (image, channel) plane.
    std::vector<double> wscale(scale);
    const size_t plane = size_t(p.P * p.Q);
    for (size_t o = 0; plane && o < wscale.size(); o += plane) {
        const double m = *std::max_element(scale.begin() + long(o), scale.begin() + long(o + plane));
        std::fill(wscale.begin() + long(o), wscale.begin() + long(o + plane), m);
    }
    // The fused 2x2/2 max pool: the reference pooled from the unfused reference (floor).
    const int64_t PP = p.P / 2, QQ = p.Q / 2;
    std::vector<double> pref(size_t(p.N * p.K * PP * QQ)), pscale(pref.size());
    for (int64_t nk = 0; nk < p.N * p.K; ++nk)
        for (int64_t i = 0; i < PP; ++i)
            for (int64_t j = 0; j < QQ; ++j) {
                double m = -INFINITY, sc = 0;
                for (int64_t di = 0; di < 2; ++di)
                    for (int64_t dj = 0; dj < 2; ++dj) {
                        const size_t o = size_t((nk * p.P + 2 * i + di) * p.Q + 2 * j + dj);
                        m = std::max(m, ref[o]);
                        sc = std::max(sc, wscale[o]);
                    }
                pref[size_t((nk * PP + i) * QQ + j)] = m;
                pscale[size_t((nk * PP + i) * QQ + j)] = sc;
            }
    Conv2dParams pp = p;
    pp.max_pool_2x2 = true;
    for (const char *tile : {"2", "4"}) // both tile sizes, filters cached and per call, on every configuration
        for (const char *ucache : {"1", "0"}) {
            setenv("AI3_WINOGRAD_TILE", tile, 1);
            setenv("AI3_WINOGRAD_UCACHE", ucache, 1);
            const std::string tag = std::string(tile) + (ucache[0] == '1' ? " cached U" : " per-call U");
            std::vector<T> out(std::max<size_t>(ref.size(), 1), T(std::nan("")));
            auto kern = registry().get<Conv2d, T>("winograd", Backend::cpu)(p, Device{});
            kern->run({in.data(), w.data(), p.has_bias ? b.data() : nullptr, out.data()});
            out.resize(ref.size());
            check_close(out, ref, wscale, "conv2d winograd F" + tag + " " + desc, kWinogradTol);
            std::vector<T> pout(std::max<size_t>(pref.size(), 1) + 1, T(-7)); // one sentinel past the end
            auto pkern = registry().get<Conv2d, T>("winograd", Backend::cpu)(pp, Device{});
            pkern->run({in.data(), w.data(), p.has_bias ? b.data() : nullptr, pout.data()});
            if (pout[pref.size()] != T(-7)) {
                std::printf("FAIL conv2d winograd+pool F%s %s [%s]: wrote past the pooled output\n", tag.c_str(),
                            desc.c_str(), tname<T>());
                ++g_fail;
            }
            pout.resize(pref.size());
            check_close(pout, pref, pscale, "conv2d winograd+maxpool F" + tag + " " + desc, kWinogradTol);
        }
    unsetenv("AI3_WINOGRAD_TILE");
    unsetenv("AI3_WINOGRAD_UCACHE");
}

// NCHW <-> NHWC of a dense N x C x H x W array.
template <class V> V to_nhwc(const V &x, int64_t N, int64_t C, int64_t HW) {
    V y(x.size());
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < HW; ++i) y[size_t((n * HW + i) * C + c)] = x[size_t((n * C + c) * HW + i)];
    return y;
}

// Layout::nhwc: direct runs depthwise layers, smm and gemm 1x1/stride 1/unpadded/one-group
// layers, with the activation epilogue too; every other (algorithm, layer) refuses.
template <class T>
void test_conv_nhwc(const Conv2dParams &p0, const std::vector<T> &in, const std::vector<T> &w, const std::vector<T> &b,
                    const std::vector<double> &ref, const std::vector<double> &scale, const std::string &desc) {
    Conv2dParams p = p0;
    p.layout = Layout::nhwc;
    const bool depthwise = p.groups == p.C && p.K == p.C && p.C > 0;
    const bool pointwise = p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0 &&
                           p.groups == 1 && p.P == p.H && p.Q == p.W;
    const auto in_nhwc = to_nhwc(in, p.N, p.C, p.H * p.W);
    for (const char *algo : {"direct", "smm", "gemm", "implicit gemm", "implicit precomp gemm", "winograd"}) {
        const bool accepts = (std::string(algo) == "direct" && depthwise) ||
                             ((std::string(algo) == "smm" || std::string(algo) == "gemm") && pointwise);
        // ref already has p0's activation; without one, relu6 is tried on top
        const std::vector<Activation> acts = p0.act == Activation::none
                                                 ? std::vector<Activation>{Activation::none, Activation::relu6}
                                                 : std::vector<Activation>{p0.act};
        for (Activation act : acts) {
            p.act = act;
            std::vector<T> out(std::max<size_t>(ref.size(), 1), T(std::nan("")));
            try {
                registry()
                    .get<Conv2d, T>(algo, Backend::cpu)(p, Device{})
                    ->run({in_nhwc.data(), w.data(), p.has_bias ? b.data() : nullptr, out.data()});
            } catch (const Unimplemented &) {
                if (accepts) {
                    std::printf("FAIL conv2d %s NHWC %s: refused a layer it implements\n", algo, desc.c_str());
                    ++g_fail;
                } else {
                    ++g_pass;
                }
                continue;
            }
            if (!accepts) {
                std::printf("FAIL conv2d %s NHWC %s: accepted a layout it has no kernel for\n", algo, desc.c_str());
                ++g_fail;
                continue;
            }
            std::vector<double> expect(ref.size());
            for (size_t i = 0; i < ref.size(); ++i) expect[i] = activate<double>(act, ref[i]);
            out.resize(ref.size());
            check_close(out, to_nhwc(expect, p.N, p.K, p.P * p.Q), to_nhwc(scale, p.N, p.K, p.P * p.Q),
                        std::string("conv2d ") + algo + " NHWC" + (act == Activation::none ? "" : "+relu6") + " " +
                            desc);
        }
    }
}

template <class T> void test_conv(const Conv2dParams &p, const std::string &desc) {
    const int64_t cpg = p.C / p.groups;
    auto in = randv<T>(p.N * p.C * p.H * p.W), w = randv<T>(p.K * cpg * p.R * p.S), b = randv<T>(p.K);
    std::vector<double> ind(in.begin(), in.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end()), ref, scale;
    ref_conv(p, ind, wd, bd, ref, scale);
    for (const char *algo : {"direct", "smm", "gemm", "implicit gemm", "implicit precomp gemm"}) {
        std::vector<T> out(std::max<size_t>(ref.size(), 1), T(std::nan("")));
        auto kern = registry().get<Conv2d, T>(algo, Backend::cpu)(p, Device{});
        kern->run({in.data(), w.data(), p.has_bias ? b.data() : nullptr, out.data()});
        out.resize(ref.size());
        check_close(out, ref, scale, std::string("conv2d ") + algo + " " + desc);
        Conv2dParams pp = p; // only winograd fuses a max pool; the others must refuse, not ignore it
        pp.max_pool_2x2 = true;
        try {
            registry()
                .get<Conv2d, T>(algo, Backend::cpu)(pp, Device{})
                ->run({in.data(), w.data(), p.has_bias ? b.data() : nullptr, out.data()});
            std::printf("FAIL conv2d %s %s: accepted a fused max pool it cannot run\n", algo, desc.c_str());
            ++g_fail;
        } catch (const Unimplemented &) { ++g_pass; }
    }
    if (winograd_applies(p))
        run_winograd(p, in, w, b, ref, scale, desc);
    else
        check_winograd_refuses<T>(p, desc);
    test_conv_nhwc<T>(p, in, w, b, ref, scale, desc);
}

// winograd only: 3x3/stride 1/dilation 1 over paddings, groups (depthwise too), batch
// sizes and small or odd spatial sizes where tiles are partial; plus the filter cache.
template <class T> void winograd_grid() {
    struct Pd {
        int64_t t, l, b, r;
    };
    const Pd pads[] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}, {0, 1, 1, 2}, {1, 0, 2, 0}, {3, 1, 0, 2}};
    struct Gr {
        int64_t C, K, groups;
    };
    const Gr grs[] = {{3, 5, 1}, {4, 17, 1}, {6, 4, 2}, {5, 5, 5}, {8, 16, 8}, {16, 24, 4}, {1, 9, 1}, {20, 13, 1}};
    struct Sz {
        int64_t H, W;
    };
    const Sz sizes[] = {{3, 3}, {4, 4}, {5, 7}, {1, 1}, {2, 9}, {8, 8}, {13, 6}, {17, 23}};
    int count = 0;
    for (auto sz : sizes)
        for (auto pd : pads)
            for (auto gr : grs) {
                ++count;
                Conv2dParams p;
                p.N = count % 7 == 0 ? 0 : (count % 3 == 0 ? 3 : 1);
                p.C = gr.C, p.K = gr.K, p.groups = gr.groups, p.R = p.S = 3;
                p.H = sz.H, p.W = sz.W, p.pad_h = pd.t, p.pad_w = pd.l;
                p.P = out_size(p.H, pd.t, pd.b, 3, 1, 1);
                p.Q = out_size(p.W, pd.l, pd.r, 3, 1, 1);
                if (p.P == 0 || p.Q == 0) continue; // the layer rejects a too-small padded input
                p.has_bias = count % 2 == 0;
                p.act = Activation(count % 3);
                const std::string d = "grid N" + std::to_string(p.N) + " C" + std::to_string(p.C) + " K" +
                                      std::to_string(p.K) + " g" + std::to_string(p.groups) + " " +
                                      std::to_string(p.H) + "x" + std::to_string(p.W) + " pad(" + std::to_string(pd.t) +
                                      "," + std::to_string(pd.l) + "," + std::to_string(pd.b) + "," +
                                      std::to_string(pd.r) + ") bias" + std::to_string(int(p.has_bias));
                const int64_t cpg = p.C / p.groups;
                auto in = randv<T>(p.N * p.C * p.H * p.W), w = randv<T>(p.K * cpg * 9), b = randv<T>(p.K);
                std::vector<double> ind(in.begin(), in.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end()), ref,
                    scale;
                ref_conv(p, ind, wd, bd, ref, scale);
                run_winograd(p, in, w, b, ref, scale, d);
            }
    // larger ones: several tile blocks, output-channel ranges, wide channel counts
    struct Big {
        int64_t N, C, K, g, H, W, pad;
        bool bias;
    };
    const Big bigs[] = {{1, 64, 72, 1, 56, 56, 1, true},   {2, 128, 40, 1, 30, 31, 1, false},
                        {1, 256, 264, 1, 14, 14, 1, true}, {1, 32, 32, 32, 40, 40, 1, true},
                        {3, 3, 64, 1, 37, 29, 1, true},    {1, 96, 48, 2, 28, 28, 0, true}};
    for (auto &bg : bigs) {
        Conv2dParams p;
        p.N = bg.N, p.C = bg.C, p.K = bg.K, p.groups = bg.g, p.H = bg.H, p.W = bg.W, p.R = p.S = 3;
        p.pad_h = p.pad_w = bg.pad, p.has_bias = bg.bias;
        p.P = out_size(p.H, bg.pad, bg.pad, 3, 1, 1);
        p.Q = out_size(p.W, bg.pad, bg.pad, 3, 1, 1);
        const std::string d = "big N" + std::to_string(p.N) + " C" + std::to_string(p.C) + " K" + std::to_string(p.K) +
                              " g" + std::to_string(p.groups) + " " + std::to_string(p.H) + "x" + std::to_string(p.W);
        auto in = randv<T>(p.N * p.C * p.H * p.W), w = randv<T>(p.K * (p.C / p.groups) * 9), b = randv<T>(p.K);
        std::vector<double> ind(in.begin(), in.end()), wd(w.begin(), w.end()), bd(b.begin(), b.end()), ref, scale;
        ref_conv(p, ind, wd, bd, ref, scale);
        run_winograd(p, in, w, b, ref, scale, d);
    }
    // The transformed filters are cached per (weight pointer, weight_version): new contents
    // under a new version must be used, and the same kernel must keep working.
    {
        Conv2dParams p;
        p.N = 1, p.C = 8, p.K = 12, p.H = p.W = 10, p.R = p.S = 3, p.pad_h = p.pad_w = 1, p.P = p.Q = 10;
        p.has_bias = true;
        auto kern = registry().get<Conv2d, T>("winograd", Backend::cpu)(p, Device{});
        auto in = randv<T>(p.C * 100), w = randv<T>(p.K * p.C * 9), b = randv<T>(p.K);
        std::vector<double> ind(in.begin(), in.end()), bd(b.begin(), b.end()), ref, scale;
        for (uint64_t version = 1; version <= 3; ++version) {
            if (version > 1) { // new contents in the same buffer: only the version tells
                auto w2 = randv<T>(p.K * p.C * 9);
                std::copy(w2.begin(), w2.end(), w.begin());
            }
            std::vector<double> wd(w.begin(), w.end());
            ref_conv(p, ind, wd, bd, ref, scale);
            std::vector<T> out(ref.size());
            kern->run({in.data(), w.data(), b.data(), out.data(), version});
            check_close(out, ref, scale, "conv2d winograd weight_version " + std::to_string(version), kWinogradTol);
        }
    }
}

template <class T> void conv_grid() {
    struct KS {
        int64_t r, s;
    };
    const KS kernels[] = {{1, 1}, {3, 3}, {5, 5}, {1, 3}, {3, 1}, {7, 7}};
    struct St {
        int64_t h, w;
    };
    const St strides[] = {{1, 1}, {2, 2}, {2, 1}, {1, 2}};
    struct Pd {
        int64_t t, l, b, r;
    }; // top, left, bottom, right (bottom/right only through P/Q)
    const Pd pads[] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}, {0, 1, 1, 2}, {1, 0, 2, 0}};
    struct Gr {
        int64_t C, K, groups;
    };
    const Gr grs[] = {{3, 5, 1}, {4, 17, 1}, {6, 4, 2}, {5, 5, 5}, {4, 8, 4}, {8, 16, 2}, {1, 9, 1}};
    int count = 0;
    for (auto ks : kernels)
        for (auto st : strides)
            for (auto pd : pads)
                for (int64_t dil : {1, 2})
                    for (auto gr : grs) {
                        ++count;
                        // spread the remaining axes over the grid deterministically
                        const int64_t N = (count % 5 == 0) ? 0 : (count % 3 == 0 ? 3 : 1);
                        const bool bias = count % 2 == 0;
                        const bool tiny = count % 4 == 1;
                        Conv2dParams p;
                        p.N = N;
                        p.C = gr.C;
                        p.K = gr.K;
                        p.groups = gr.groups;
                        p.R = ks.r;
                        p.S = ks.s;
                        p.stride_h = st.h;
                        p.stride_w = st.w;
                        p.dil_h = dil;
                        p.dil_w = count % 7 == 0 ? 1 : dil;
                        p.pad_h = pd.t;
                        p.pad_w = pd.l;
                        const int64_t effh = (p.R - 1) * p.dil_h + 1, effw = (p.S - 1) * p.dil_w + 1;
                        // tiny: the (padded) kernel just fits
                        p.H = tiny ? std::max<int64_t>(1, effh - pd.t - pd.b) : 9 + count % 4;
                        p.W = tiny ? std::max<int64_t>(1, effw - pd.l - pd.r) : 11 + count % 5;
                        p.P = out_size(p.H, pd.t, pd.b, p.R, p.stride_h, p.dil_h);
                        p.Q = out_size(p.W, pd.l, pd.r, p.S, p.stride_w, p.dil_w);
                        p.has_bias = bias;
                        p.act = Activation((count + 2) % 3);
                        char d[256];
                        std::snprintf(d, sizeof d,
                                      "N%lld C%lld K%lld g%lld %lldx%lld s(%lld,%lld) pad(%lld,%lld,%lld,%lld) "
                                      "dil(%lld,%lld) %lldx%lld->%lldx%lld bias%d act%d",
                                      (long long)p.N, (long long)p.C, (long long)p.K, (long long)p.groups,
                                      (long long)p.R, (long long)p.S, (long long)p.stride_h, (long long)p.stride_w,
                                      (long long)pd.t, (long long)pd.l, (long long)pd.b, (long long)pd.r,
                                      (long long)p.dil_h, (long long)p.dil_w, (long long)p.H, (long long)p.W,
                                      (long long)p.P, (long long)p.Q, int(bias), int(p.act));
                        test_conv<T>(p, d);
                    }
    // a few larger ones: wide channel counts (full register blocks), long rows, odd sizes
    struct Big {
        int64_t N, C, K, g, H, W, R, S, sh, sw, ph, pw, dh, dw;
        bool bias;
    };
    const Big bigs[] = {
        {1, 16, 64, 1, 30, 37, 3, 3, 1, 1, 1, 1, 1, 1, true},
        {2, 13, 29, 1, 17, 19, 3, 3, 2, 2, 1, 1, 1, 1, false},
        {1, 32, 32, 32, 23, 41, 3, 3, 1, 1, 1, 1, 1, 1, true},
        {1, 32, 64, 32, 23, 21, 3, 3, 2, 2, 1, 1, 1, 1, true},
        {1, 24, 40, 1, 20, 20, 1, 1, 1, 1, 0, 0, 1, 1, true},
        {1, 24, 40, 1, 20, 20, 1, 1, 2, 2, 0, 0, 1, 1, false},
        {1, 3, 64, 1, 45, 45, 7, 7, 2, 2, 3, 3, 1, 1, false},
        {1, 12, 24, 3, 16, 16, 3, 3, 1, 1, 2, 2, 2, 2, true},
        {2, 64, 70, 1, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, true},
        {1, 8, 8, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, true},
        {1, 8, 8, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, true},
        {1, 16, 16, 1, 5, 300, 1, 5, 1, 3, 0, 2, 1, 2, true},
        // several cache tile blocks in direct (input of all channels > one block)
        {1, 128, 20, 1, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, true},
        {1, 96, 12, 1, 50, 50, 3, 3, 2, 2, 1, 1, 1, 1, false},
        {2, 256, 9, 1, 24, 24, 3, 3, 1, 1, 1, 1, 2, 2, true},
    };
    for (auto &bg : bigs) {
        Conv2dParams p;
        p.N = bg.N, p.C = bg.C, p.K = bg.K, p.groups = bg.g, p.H = bg.H, p.W = bg.W, p.R = bg.R, p.S = bg.S;
        p.stride_h = bg.sh, p.stride_w = bg.sw, p.pad_h = bg.ph, p.pad_w = bg.pw, p.dil_h = bg.dh, p.dil_w = bg.dw;
        p.has_bias = bg.bias;
        p.act = Activation((&bg - bigs) % 3);
        p.P = out_size(p.H, p.pad_h, p.pad_h, p.R, p.stride_h, p.dil_h);
        p.Q = out_size(p.W, p.pad_w, p.pad_w, p.S, p.stride_w, p.dil_w);
        test_conv<T>(p, "big C" + std::to_string(p.C) + " K" + std::to_string(p.K) + " g" + std::to_string(p.groups) +
                            " " + std::to_string(p.H) + "x" + std::to_string(p.W) + " " + std::to_string(p.R) + "x" +
                            std::to_string(p.S));
    }
}

// ---------------------------------------------------------------- implicit gemms
// 'implicit gemm' / 'implicit precomp gemm' only (they also run in test_conv's grid):
// shapes that cross the GEMM's blocks (C/g*R*S over KC, P*Q over NB and split into
// column chunks over threads, K/g over MB's micro-panels), output rows narrower than a
// micro-panel (Q = 1, 2, 3: many runs per panel), strided/dilated gathers near both
// edges, depthwise, 1x1, batch > threads, and a precomp kernel object reused across runs.
const char *const kImplicitAlgos[] = {"implicit gemm", "implicit precomp gemm"};

template <class T> void implicit_gemm_cases() {
    struct Cs {
        int64_t N, C, K, g, H, W, R, S, sh, sw, pt, pl, pb, pr, dh, dw;
        bool bias;
    };
    const Cs cases[] = {
        {1, 96, 40, 1, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},   // CRS 864, PQ 1600
        {1, 50, 13, 1, 33, 47, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, false},  // CRS 1250
        {3, 16, 30, 2, 21, 23, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},   // N*G = 6
        {3, 7, 9, 1, 31, 29, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false},    // odd N*G, stride 2
        {1, 8, 12, 1, 60, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, true},     // Q = 1
        {1, 8, 12, 1, 60, 2, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, false},    // Q = 2
        {2, 5, 7, 1, 40, 9, 3, 3, 1, 3, 1, 0, 1, 2, 1, 2, true},      // Q = 3, stride 3 in w
        {1, 32, 32, 32, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},  // depthwise
        {2, 32, 64, 32, 29, 29, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false}, // depthwise x2, stride 2
        {1, 64, 80, 1, 24, 24, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, true},   // 1x1
        {1, 64, 80, 1, 24, 24, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, false},  // 1x1 stride 2
        {1, 3, 64, 1, 65, 65, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, true},    // stem-like
        {1, 12, 20, 1, 30, 30, 3, 3, 1, 1, 4, 4, 4, 4, 4, 4, true},   // dilation 4
        {1, 6, 10, 1, 17, 37, 3, 5, 2, 3, 0, 5, 2, 1, 3, 2, false},   // asymmetric everything
        {1, 4, 6, 1, 5, 5, 3, 3, 1, 1, 6, 6, 6, 6, 1, 1, true},       // pad larger than the image
        {1, 30, 530, 1, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false}, // K/g 530: several MR panels, odd edge
    };
    for (const Cs &c : cases) {
        Conv2dParams p;
        p.N = c.N, p.C = c.C, p.K = c.K, p.groups = c.g, p.H = c.H, p.W = c.W, p.R = c.R, p.S = c.S;
        p.stride_h = c.sh, p.stride_w = c.sw, p.pad_h = c.pt, p.pad_w = c.pl, p.dil_h = c.dh, p.dil_w = c.dw;
        p.has_bias = c.bias;
        p.P = out_size(p.H, c.pt, c.pb, p.R, p.stride_h, p.dil_h);
        p.Q = out_size(p.W, c.pl, c.pr, p.S, p.stride_w, p.dil_w);
        char d[200];
        std::snprintf(d, sizeof d,
                      "N%lld C%lld K%lld g%lld %lldx%lld k%lldx%lld s(%lld,%lld) dil(%lld,%lld) ->%lldx%lld",
                      (long long)p.N, (long long)p.C, (long long)p.K, (long long)p.groups, (long long)p.H,
                      (long long)p.W, (long long)p.R, (long long)p.S, (long long)p.stride_h, (long long)p.stride_w,
                      (long long)p.dil_h, (long long)p.dil_w, (long long)p.P, (long long)p.Q);
        const int64_t cpg = p.C / p.groups;
        auto w = randv<T>(p.K * cpg * p.R * p.S), b = randv<T>(p.K);
        std::vector<double> wd(w.begin(), w.end()), bd(b.begin(), b.end());
        for (const char *algo : kImplicitAlgos) {
            auto kern = registry().get<Conv2d, T>(algo, Backend::cpu)(p, Device{});
            for (int rep = 0; rep < 2; ++rep) { // the same kernel object on fresh inputs
                auto in = randv<T>(p.N * p.C * p.H * p.W);
                std::vector<double> ind(in.begin(), in.end()), ref, scale;
                ref_conv(p, ind, wd, bd, ref, scale);
                std::vector<T> out(std::max<size_t>(ref.size(), 1), T(std::nan("")));
                kern->run({in.data(), w.data(), p.has_bias ? b.data() : nullptr, out.data()});
                out.resize(ref.size());
                check_close(out, ref, scale, std::string("conv2d ") + algo + " " + d + " run " + std::to_string(rep));
            }
        }
    }
}
// ---------------------------------------------------------------- end implicit gemms

// ---------------------------------------------------------------- linear
template <class T> void test_linear(int64_t M, int64_t K, int64_t N, bool bias) {
    auto x = randv<T>(M * K), w = randv<T>(N * K), b = randv<T>(N);
    std::vector<double> ref(size_t(M * N)), scale(size_t(M * N));
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            double acc = bias ? double(b[size_t(j)]) : 0.0, sc = std::fabs(acc);
            for (int64_t k = 0; k < K; ++k) {
                double t = double(x[size_t(i * K + k)]) * double(w[size_t(j * K + k)]);
                acc += t;
                sc += std::fabs(t);
            }
            ref[size_t(i * N + j)] = acc;
            scale[size_t(i * N + j)] = sc;
        }
    std::vector<T> out(std::max<size_t>(ref.size(), 1));
    LinearParams p{M, K, N, bias};
    registry()
        .get<Linear, T>("direct", Backend::cpu)(p, Device{})
        ->run({x.data(), w.data(), bias ? b.data() : nullptr, out.data()});
    out.resize(ref.size());
    check_close(out, ref, scale, "linear M" + std::to_string(M) + " K" + std::to_string(K) + " N" + std::to_string(N));
}

// ---------------------------------------------------------------- pools
int64_t pool_out(int64_t in, int64_t k, int64_t pad, int64_t st, int64_t dil, bool ceil_mode) {
    int64_t eff = (k - 1) * dil + 1;
    int64_t num = in + 2 * pad - eff;
    int64_t o = (ceil_mode ? (num + st - 1) / st : num / st) + 1;
    if (ceil_mode && (o - 1) * st >= in + pad) --o; // torch: last window must start inside input/left pad
    return o;
}

template <class T>
void test_pools(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, int64_t st, int64_t pad, int64_t dil,
                bool ceil_mode) {
    Pool2dParams p;
    p.N = N, p.C = C, p.H = H, p.W = W, p.kh = k, p.kw = k == 1 ? 2 : k, p.stride_h = st, p.stride_w = st == 1 ? 2 : st;
    p.pad_h = pad, p.pad_w = std::min(pad, p.kw / 2), p.dil_h = dil, p.dil_w = dil;
    std::string d = "N" + std::to_string(N) + " C" + std::to_string(C) + " " + std::to_string(H) + "x" +
                    std::to_string(W) + " k" + std::to_string(p.kh) + "x" + std::to_string(p.kw) + " s" +
                    std::to_string(st) + " p" + std::to_string(pad) + " d" + std::to_string(dil) +
                    (ceil_mode ? " ceil" : "");
    auto in = randv<T>(N * C * H * W);
    if (N * C * H * W > 5) in[3] = T(std::nan("")); // NaN propagation through max
    // max
    p.P = pool_out(H, p.kh, p.pad_h, p.stride_h, p.dil_h, ceil_mode);
    p.Q = pool_out(W, p.kw, p.pad_w, p.stride_w, p.dil_w, ceil_mode);
    {
        std::vector<double> ref(size_t(N * C * p.P * p.Q));
        for (int64_t pl = 0; pl < N * C; ++pl)
            for (int64_t oh = 0; oh < p.P; ++oh)
                for (int64_t ow = 0; ow < p.Q; ++ow) {
                    double m = -std::numeric_limits<double>::infinity();
                    for (int64_t i = 0; i < p.kh; ++i)
                        for (int64_t j = 0; j < p.kw; ++j) {
                            int64_t h = oh * p.stride_h - p.pad_h + i * p.dil_h,
                                    w = ow * p.stride_w - p.pad_w + j * p.dil_w;
                            if (h < 0 || h >= H || w < 0 || w >= W) continue;
                            double v = in[size_t((pl * H + h) * W + w)];
                            if (std::isnan(v) || v > m) m = v;
                            if (std::isnan(m)) break;
                        }
                    ref[size_t((pl * p.P + oh) * p.Q + ow)] = m;
                }
        std::vector<T> out(std::max<size_t>(ref.size(), 1));
        registry().get<MaxPool2d, T>("direct", Backend::cpu)(p, Device{})->run({in.data(), out.data()});
        out.resize(ref.size());
        check_close(out, ref, {}, "maxpool2d " + d);
    }
    // avg (no dilation in torch's avg_pool2d)
    if (in.size() > 3) in[3] = T(0.5);
    p.dil_h = p.dil_w = 1;
    p.P = pool_out(H, p.kh, p.pad_h, p.stride_h, 1, ceil_mode);
    p.Q = pool_out(W, p.kw, p.pad_w, p.stride_w, 1, ceil_mode);
    for (int cip = 0; cip < 2; ++cip)
        for (int64_t dov : {int64_t(0), int64_t(3)}) {
            p.count_include_pad = cip;
            p.divisor_override = dov;
            std::vector<double> ref(size_t(N * C * p.P * p.Q));
            for (int64_t pl = 0; pl < N * C; ++pl)
                for (int64_t oh = 0; oh < p.P; ++oh)
                    for (int64_t ow = 0; ow < p.Q; ++ow) {
                        // torch: window [start, min(start+k, size+pad)) for the padded count
                        int64_t hs = oh * p.stride_h - p.pad_h, ws = ow * p.stride_w - p.pad_w;
                        int64_t he = std::min(hs + p.kh, H + p.pad_h), we = std::min(ws + p.kw, W + p.pad_w);
                        double sum = 0;
                        int64_t valid = 0;
                        for (int64_t h = hs; h < he; ++h)
                            for (int64_t w = ws; w < we; ++w)
                                if (h >= 0 && h < H && w >= 0 && w < W) {
                                    sum += in[size_t((pl * H + h) * W + w)];
                                    ++valid;
                                }
                        double div = dov ? double(dov) : cip ? double((he - hs) * (we - ws)) : double(valid);
                        ref[size_t((pl * p.P + oh) * p.Q + ow)] = valid ? sum / div : 0.0;
                    }
            std::vector<T> out(std::max<size_t>(ref.size(), 1));
            registry().get<AvgPool2d, T>("direct", Backend::cpu)(p, Device{})->run({in.data(), out.data()});
            out.resize(ref.size());
            check_close(out, ref, {}, "avgpool2d " + d + (cip ? " cip" : "") + " div" + std::to_string(dov));
        }
}

template <class T> void test_adaptive(int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q) {
    auto in = randv<T>(N * C * H * W);
    std::vector<double> ref(size_t(N * C * P * Q));
    for (int64_t pl = 0; pl < N * C; ++pl)
        for (int64_t oh = 0; oh < P; ++oh)
            for (int64_t ow = 0; ow < Q; ++ow) {
                int64_t h0 = (int64_t)std::floor(double(oh * H) / P), h1 = (int64_t)std::ceil(double((oh + 1) * H) / P);
                int64_t w0 = (int64_t)std::floor(double(ow * W) / Q), w1 = (int64_t)std::ceil(double((ow + 1) * W) / Q);
                double s = 0;
                for (int64_t h = h0; h < h1; ++h)
                    for (int64_t w = w0; w < w1; ++w) s += in[size_t((pl * H + h) * W + w)];
                ref[size_t((pl * P + oh) * Q + ow)] = s / double((h1 - h0) * (w1 - w0));
            }
    std::vector<T> out(std::max<size_t>(ref.size(), 1));
    AdaptiveAvgPool2dParams p{N, C, H, W, P, Q};
    registry().get<AdaptiveAvgPool2d, T>("direct", Backend::cpu)(p, Device{})->run({in.data(), out.data()});
    out.resize(ref.size());
    check_close(out, ref, {},
                "adaptiveavgpool2d " + std::to_string(H) + "x" + std::to_string(W) + "->" + std::to_string(P) + "x" +
                    std::to_string(Q));
}

// ---------------------------------------------------------------- elementwise / pad
template <class T> void test_elementwise(int64_t n) {
    auto in = randv<T>(n);
    if (n > 2) in[1] = T(std::nan(""));
    std::vector<double> ref(static_cast<size_t>(n)), cp(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        ref[size_t(i)] =
            std::isnan(double(in[size_t(i)])) ? double(in[size_t(i)]) : std::max(0.0, double(in[size_t(i)]));
        cp[size_t(i)] = in[size_t(i)];
    }
    std::vector<T> out(std::max<int64_t>(n, 1));
    ElementwiseParams p{n};
    registry().get<ReLU, T>("direct", Backend::cpu)(p, Device{})->run({in.data(), out.data()});
    out.resize(size_t(n));
    check_close(out, ref, {}, "relu n" + std::to_string(n));
    out.assign(size_t(std::max<int64_t>(n, 1)), T(7));
    registry().get<Flatten, T>("direct", Backend::cpu)(p, Device{})->run({in.data(), out.data()});
    out.resize(size_t(n));
    check_close(out, cp, {}, "flatten n" + std::to_string(n));
    // relu in place
    std::vector<T> io = in;
    registry().get<ReLU, T>("direct", Backend::cpu)(p, Device{})->run({io.data(), io.data()});
    io.resize(size_t(n));
    check_close(io, ref, {}, "relu in-place n" + std::to_string(n));
}

template <class T>
void test_pad(int64_t N, int64_t C, int64_t H, int64_t W, int64_t t, int64_t b, int64_t l, int64_t r, PadMode mode) {
    auto in = randv<T>(N * C * H * W);
    const int64_t Ho = H + t + b, Wo = W + l + r;
    std::vector<double> ref(size_t(N * C * Ho * Wo));
    // torch F.pad: single reflection / wrap; circular wraps within the range left after
    // negative pads crop (lo/hi)
    auto src = [&](int64_t i, int64_t n, int64_t before, int64_t after) -> int64_t {
        if (i >= 0 && i < n) return i;
        const int64_t lo = std::max<int64_t>(0, -before), hi = n - std::max<int64_t>(0, -after);
        switch (mode) {
        case PadMode::zeros: return -1;
        case PadMode::replicate: return i < 0 ? 0 : n - 1;
        case PadMode::reflect: return i < 0 ? -i : 2 * (n - 1) - i;
        case PadMode::circular: return i < lo ? i + (hi - lo) : i - (hi - lo);
        }
        return -1;
    };
    for (int64_t pl = 0; pl < N * C; ++pl)
        for (int64_t i = 0; i < Ho; ++i)
            for (int64_t j = 0; j < Wo; ++j) {
                int64_t h = src(i - t, H, t, b), w = src(j - l, W, l, r);
                ref[size_t((pl * Ho + i) * Wo + j)] = (h < 0 || w < 0) ? 0.0 : double(in[size_t((pl * H + h) * W + w)]);
            }
    std::vector<T> out(std::max<size_t>(ref.size(), 1));
    Pad2dParams p;
    p.N = N, p.C = C, p.H = H, p.W = W, p.top = t, p.bottom = b, p.left = l, p.right = r, p.mode = mode;
    registry().get<Pad2d, T>("direct", Backend::cpu)(p, Device{})->run({in.data(), out.data()});
    out.resize(ref.size());
    check_close(out, ref, {},
                "pad2d mode" + std::to_string(int(mode)) + " " + std::to_string(H) + "x" + std::to_string(W) + " t" +
                    std::to_string(t) + " b" + std::to_string(b) + " l" + std::to_string(l) + " r" + std::to_string(r));
}

template <class T> void run_all() {
    conv_grid<T>();
    winograd_grid<T>();
    implicit_gemm_cases<T>();
    for (auto [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                           {3, 17, 5},
                           {64, 100, 33},
                           {0, 4, 4},
                           {5, 0, 3},
                           {1, 4096, 1000},
                           {37, 512, 130}})
        for (bool bias : {false, true}) test_linear<T>(M, K, N, bias);
    for (int64_t k : {1, 2, 3, 5})
        for (int64_t st : {1, 2, 3})
            for (int64_t pad : {0, 1, 2})
                for (int64_t dil : {1, 2})
                    for (bool cm : {false, true}) {
                        if (2 * pad > k) continue; // torch: pad <= kernel/2
                        test_pools<T>(st == 2 ? 2 : 1, 3, 7 + k, 10 - k + st, k, st, pad, dil, cm);
                    }
    test_pools<T>(0, 3, 8, 8, 2, 2, 0, 1, false);
    test_pools<T>(1, 2, 1, 1, 1, 1, 0, 1, true);
    for (auto [H, W, P, Q] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{7, 7, 1, 1},
                              {7, 7, 7, 7},
                              {10, 13, 3, 4},
                              {5, 5, 7, 9},
                              {14, 14, 6, 6},
                              {224, 224, 7, 7},
                              {3, 11, 2, 5}})
        test_adaptive<T>(2, 3, H, W, P, Q);
    for (int64_t n : {0, 1, 7, 1000, 300001}) test_elementwise<T>(n);
    for (PadMode m : {PadMode::zeros, PadMode::reflect, PadMode::replicate, PadMode::circular}) {
        test_pad<T>(2, 3, 5, 6, 1, 2, 3, 0, m);
        test_pad<T>(1, 2, 4, 4, 3, 3, 3, 3, m);
        test_pad<T>(1, 1, 3, 7, 0, 0, 2, 1, m);
        test_pad<T>(0, 2, 3, 3, 1, 1, 1, 1, m);
        test_pad<T>(1, 2, 4, 5, -1, 1, 2, -1, m);                          // negative pads crop
        if (m != PadMode::reflect) test_pad<T>(1, 2, 3, 3, 3, 0, 0, 3, m); // pad == size
    }
}

// The core's parallel fingerprint and the serial one the backend modules use are one
// function; any byte change moves it.
void test_fingerprint() {
    std::vector<unsigned char> buf((std::size_t(1) << 21) + 13);
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = (unsigned char)(rng() & 0xff);
    for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(37), std::size_t(1) << 20, buf.size()}) {
        const uint64_t a = fingerprint(buf.data(), n), b = detail::fingerprint_serial(buf.data(), n);
        bool ok = a == b;
        if (n > 0) {
            buf[n / 2] ^= 1;
            ok = ok && fingerprint(buf.data(), n) != a;
            buf[n / 2] ^= 1;
        }
        if (ok)
            ++g_pass;
        else {
            ++g_fail;
            std::printf("FAIL fingerprint of %zu bytes\n", n);
        }
    }
}

// F(2x2, 3x3) exists twice by design: as code in ai3/winograd_f2x2.hpp (SYCL, CUDA) and as
// the fallback's matrix tables (which also drive its F(4x4) and SIMD kernels), with other
// signs. Both must compute the same output tile from the same filter and input patch.
void test_winograd_f2x2_agrees_with_the_fallback_tables() {
    using WM = fallback::detail::WinogradMatrices<2>;
    std::normal_distribution<double> nd;
    for (int trial = 0; trial < 20; ++trial) {
        double g[9], d[16], u[16], v[16], m[16], y[4];
        for (double &x : g) x = nd(rng);
        for (double &x : d) x = nd(rng);
        winograd_f2x2::filter_transform(g, u);
        winograd_f2x2::input_transform(d, v);
        for (int e = 0; e < 16; ++e) m[e] = u[e] * v[e];
        winograd_f2x2::output_transform(m, y);
        // The tables: Y = AT [ (G g G^T) .* (BT d B) ] A
        double U[4][4] = {}, V[4][4] = {}, M[4][4], Y[2][2] = {};
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j)
                for (int a = 0; a < 3; ++a)
                    for (int b = 0; b < 3; ++b) U[i][j] += WM::G[i][a] * g[a * 3 + b] * WM::G[j][b];
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j)
                for (int a = 0; a < 4; ++a)
                    for (int b = 0; b < 4; ++b) V[i][j] += WM::BT[i][a] * d[a * 4 + b] * WM::BT[j][b];
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) M[i][j] = U[i][j] * V[i][j];
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j)
                for (int a = 0; a < 4; ++a)
                    for (int b = 0; b < 4; ++b) Y[i][j] += WM::AT[i][a] * M[a][b] * WM::AT[j][b];
        bool ok = true;
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                double direct = 0; // the convolution itself, for both
                for (int a = 0; a < 3; ++a)
                    for (int b = 0; b < 3; ++b) direct += g[a * 3 + b] * d[(i + a) * 4 + (j + b)];
                ok = ok && std::abs(y[i * 2 + j] - direct) < 1e-12 && std::abs(Y[i][j] - direct) < 1e-12;
            }
        if (ok)
            ++g_pass;
        else {
            ++g_fail;
            std::printf("FAIL winograd F(2x2) shared transforms vs fallback tables, trial %d\n", trial);
        }
    }
}

} // namespace

int main() {
    register_fallback(registry());
    test_fingerprint();
    test_winograd_f2x2_agrees_with_the_fallback_tables();
    for (int threads : {2, 1}) {
        set_num_threads(threads);
        run_all<float>();
        run_all<double>();
    }
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
