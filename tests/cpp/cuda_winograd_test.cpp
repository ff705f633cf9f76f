// The arithmetic of the CUDA backend's own Winograd F(2x2, 3x3) kernel, run on the
// host: cuda/conv2d/winograd_tile.hpp is plain code that conv2d/winograd.cu calls per
// output tile, so this checks the transforms, tiling, padding, groups, bias and the
// ragged last tile against a naive convolution (double accumulation), with no GPU.
// Build: g++ -O2 -std=c++17 -I core tests/cpp/cuda_winograd_test.cpp -o /tmp/cwt && /tmp/cwt
#include "../../cuda/conv2d/winograd_tile.hpp"

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

using namespace ai3;

namespace {

int g_pass = 0, g_fail = 0;
std::mt19937_64 rng(7);

template <class T> std::vector<T> randv(int64_t n) {
    std::uniform_real_distribution<double> d(-1.0, 1.0);
    std::vector<T> v(size_t(n > 0 ? n : 1));
    for (auto &x : v) x = T(d(rng));
    return v;
}

template <class T>
void check(int64_t N, int64_t C, int64_t K, int64_t groups, int64_t H, int64_t W, int64_t pt, int64_t pb, int64_t pl,
           int64_t pr, bool bias) {
    Conv2dParams p;
    p.N = N, p.C = C, p.H = H, p.W = W, p.K = K, p.R = 3, p.S = 3, p.groups = groups;
    p.pad_h = pt, p.pad_w = pl, p.has_bias = bias;
    p.P = H + pt + pb - 2, p.Q = W + pl + pr - 2;
    const int64_t Cg = C / groups, Kg = K / groups;
    auto x = randv<T>(N * C * H * W), w = randv<T>(K * Cg * 9), b = randv<T>(K);
    std::vector<T> u(size_t(K * Cg * 16)), y(size_t(N * K * p.P * p.Q), T(-777));
    for (int64_t f = 0; f < K * Cg; ++f) cuda::winograd::filter_transform(&w[size_t(f * 9)], &u[size_t(f * 16)]);
    const int64_t TH = (p.P + 1) / 2, TW = (p.Q + 1) / 2;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k)
            for (int64_t th = 0; th < TH; ++th)
                for (int64_t tw = 0; tw < TW; ++tw)
                    cuda::winograd::tile(p, x.data(), u.data(), bias ? b.data() : nullptr, y.data(), n, k, th, tw);
    double worst = 0;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k)
            for (int64_t oh = 0; oh < p.P; ++oh)
                for (int64_t ow = 0; ow < p.Q; ++ow) {
                    double ref = bias ? double(b[size_t(k)]) : 0.0, scale = std::fabs(ref);
                    const int64_t g = k / Kg;
                    for (int64_t c = 0; c < Cg; ++c)
                        for (int64_t r = 0; r < 3; ++r)
                            for (int64_t s = 0; s < 3; ++s) {
                                const int64_t h = oh - pt + r, ww = ow - pl + s;
                                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                                const double t = double(x[size_t(((n * C + g * Cg + c) * H + h) * W + ww)]) *
                                                 double(w[size_t(((k * Cg + c) * 3 + r) * 3 + s)]);
                                ref += t;
                                scale += std::fabs(t);
                            }
                    const double got = double(y[size_t(((n * K + k) * p.P + oh) * p.Q + ow)]);
                    worst = std::fmax(worst, std::fabs(got - ref) / (1.0 + scale));
                }
    const double tol = sizeof(T) == 4 ? 1e-5 : 1e-13;
    const bool ok = worst <= tol;
    (ok ? g_pass : g_fail)++;
    if (!ok)
        std::printf("FAIL %s N%ld C%ld K%ld g%ld %ldx%ld pads (%ld,%ld,%ld,%ld) bias %d: error %.3e\n",
                    sizeof(T) == 4 ? "f32" : "f64", long(N), long(C), long(K), long(groups), long(H), long(W), long(pt),
                    long(pb), long(pl), long(pr), int(bias), worst);
}

template <class T> void run_all() {
    check<T>(2, 4, 6, 1, 9, 10, 1, 1, 1, 1, true);  // even and odd output sizes
    check<T>(1, 3, 5, 1, 7, 7, 0, 0, 0, 0, false);  // no padding, odd P and Q: ragged last tile
    check<T>(2, 6, 6, 6, 8, 11, 1, 1, 1, 1, true);  // depthwise
    check<T>(1, 4, 8, 2, 6, 5, 2, 2, 2, 2, true);   // groups, padding larger than the tile overlap
    check<T>(1, 5, 3, 1, 3, 3, 0, 1, 1, 0, true);   // asymmetric ('same' with an even split)
    check<T>(3, 2, 2, 1, 1, 1, 1, 1, 1, 1, false);  // one pixel
    check<T>(1, 17, 9, 1, 13, 4, 1, 0, 0, 1, true); // wide channel loop
}

} // namespace

int main() {
    run_all<float>();
    run_all<double>();
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
