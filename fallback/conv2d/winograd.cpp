// winograd: Winograd minimal filtering F(2x2,3x3) / F(4x4,3x3) for 3x3 convolutions with
// stride 1 and dilation 1 (any padding, groups, batch, bias). Other configurations are
// refused at kernel build time with ai3::Unimplemented; nothing else runs under this name.
//
// Per output tile of m x m (alpha = m + 2 input rows/columns):
//   U = G g G^T    per (output channel, input channel): computed once per (weight pointer,
//                  weight_version) and cached in the kernel (immutable once published), packed for the micro-kernel as
//                  [group][xi][K/g in panels of KB][C/g][KB] (xi = one of alpha^2 coordinates);
//                  or, where that cache would outweigh the layer's activations
//                  (cache_filters), transformed per call, one output-channel chunk at a
//                  time, into L2-sized scratch just before the products that read it
//   V = B^T d B    per (input channel, tile), from the input directly (zero padding is
//                  applied while gathering; there is no padded copy of the input)
//   M[xi] = U[xi] V[xi]   alpha^2 independent products (K/g x C/g) x (C/g x tiles),
//                  by a register-tiled micro-kernel that reads U and V in place (both are
//                  already in its layout, so nothing is packed per call)
//   Y = A^T M A + bias, the valid part of each tile written to the output.
//
// Work is split over (group, tile block, output-channel range). A tile block is a run of
// whole SIMD vectors of the batch's tiles (running on from one image into the next, so
// 14x14 images at batch 8 still fill the micro-kernel's register tile and share one pass
// over U) sized so one coordinate's V[xi] (C/g x tiles) stays
// in L2 while the micro-kernel sweeps all output channels over it; output channels are
// split into ranges only when there are too few blocks to keep every thread busy (small
// images), and each range then streams just its part of U.
//
// Tile size (m) and whether U is cached: ai3/winograd_rules.hpp, shared with the cost model.
// AI3_WINOGRAD_TILE=2 or 4 in the environment forces one (tests, benchmarks).
//
// The per-ISA code (winograd_kernel.hpp) is compiled three times under target pragmas
// (generic / AVX2 / AVX-512) and picked by the fallback GEMM's switch (gemm_active_isa()).
#include "../gemm/gemm_isa.hpp"
#include "../kernels.hpp"
#include "ai3/errors.hpp"
#include "ai3/guess.hpp"
#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"
#include "ai3/winograd_rules.hpp"
#include "im2col.hpp"
#include "winograd_transforms.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#define AI3_PER_ISA_HEADER "conv2d/winograd_kernel.hpp" // found through the fallback/ include path
#define AI3_PER_ISA_PREFIX wg
#include "../simd/per_isa.inc"

namespace ai3::fallback {

namespace {

constexpr int64_t kMChunkBytes = int64_t(2) << 20; // products of one output-channel chunk
// One chunk's U when transformed per call: in L2 beside the V rows the products read
// (1 MiB chunks measured 10-40% more overhead on 512-channel layers).
constexpr int64_t kUChunkBytes = int64_t(256) << 10;

int choose_tile(const Conv2dParams &p) {
    // Test/benchmark hook: AI3_WINOGRAD_TILE=2 or 4 forces the tile size.
    if (const char *e = std::getenv("AI3_WINOGRAD_TILE")) {
        if (std::strcmp(e, "2") == 0) return 2;
        if (std::strcmp(e, "4") == 0) return 4;
    }
    return winograd_tile(p);
}

// winograd_caches_filters (ai3/winograd_rules.hpp) unless AI3_WINOGRAD_UCACHE=1 / 0
// forces either (tests, benchmarks).
bool cache_filters(const Conv2dParams &p, int64_t elem) {
    if (const char *e = std::getenv("AI3_WINOGRAD_UCACHE")) {
        if (std::strcmp(e, "1") == 0) return true;
        if (std::strcmp(e, "0") == 0) return false;
    }
    return winograd_caches_filters(p, elem);
}

enum class Isa { Generic, Avx2, Avx512 };

Isa pick_isa() {
#if defined(AI3_PER_ISA_X86)
    switch (detail::gemm_active_isa()) {
    case detail::GemmIsa::Avx512: return Isa::Avx512;
    case detail::GemmIsa::Avx2: return Isa::Avx2;
    default: break;
    }
#endif
    return Isa::Generic;
}

template <class T> int64_t isa_kb(Isa isa) {
    switch (isa) {
#if defined(AI3_PER_ISA_X86)
    case Isa::Avx512: return detail::wg_avx512::kKB;
    case Isa::Avx2: return detail::wg_avx2::kKB;
#endif
    default: return detail::wg_generic::kKB;
    }
}

template <class T> int64_t isa_lanes(Isa isa) {
    const int64_t bytes = isa == Isa::Avx512 ? 64 : isa == Isa::Avx2 ? 32 : 16;
    return bytes / int64_t(sizeof(T));
}

template <class T> detail::WgPlan make_plan(const Conv2dParams &p, Isa isa) {
    detail::WgPlan pl;
    pl.m = choose_tile(p);
    pl.alpha = pl.m + 2;
    pl.N = p.N, pl.C = p.C, pl.H = p.H, pl.W = p.W, pl.K = p.K, pl.P = p.P, pl.Q = p.Q;
    pl.pad_h = p.pad_h, pl.pad_w = p.pad_w;
    pl.G = p.groups, pl.cpg = p.C / p.groups, pl.kpg = p.K / p.groups;
    pl.has_bias = p.has_bias;
    pl.act = p.act;
    pl.pool = p.max_pool_2x2;
    pl.kb = isa_kb<T>(isa);
    pl.lanes = isa_lanes<T>(isa);
    pl.kpad = (pl.kpg + pl.kb - 1) / pl.kb * pl.kb;
    pl.tilesY = (p.P + pl.m - 1) / pl.m;
    pl.tilesX = (p.Q + pl.m - 1) / pl.m;
    pl.ntiles = pl.tilesY * pl.tilesX;
    const int64_t L = pl.lanes, A2 = int64_t(pl.alpha) * pl.alpha, s = int64_t(sizeof(T));
    const int64_t cpg = std::max<int64_t>(1, pl.cpg);
    pl.nvec = std::max<int64_t>(1, (pl.N * pl.ntiles + L - 1) / L); // blocks run on across images
    const int64_t vb = winograd_block_vectors(cpg, s, L);
    pl.nblk = (pl.nvec + vb - 1) / vb;
    // Too few blocks for the threads: narrower ones (down to 4 vectors) before splitting
    // output channels, which would repeat the block's input transform (and hold its V)
    // on every thread.
    const int64_t nt = std::max(1, num_threads());
    if (pl.G * pl.nblk < nt) pl.nblk = std::max(pl.nblk, std::min((nt + pl.G - 1) / pl.G, pl.nvec / 4));
    const int64_t maxvec = (pl.nvec + pl.nblk - 1) / pl.nblk;
    pl.ldv = maxvec * L;
    // output-channel ranges: enough work items to balance the threads; each range costs a
    // repeated input transform, so a small penalty per extra range
    const int64_t base = std::max<int64_t>(1, pl.G * pl.nblk);
    const int64_t nkb = pl.kpad / pl.kb;
    double best = 1e300;
    for (int64_t ks = 1; ks <= std::min<int64_t>(8, std::max<int64_t>(1, nkb)); ++ks) {
        const double t = double((base * ks + nt - 1) / nt) / double(ks) * (1.0 + 0.05 * double(ks - 1));
        if (t < best - 1e-12) best = t, pl.nks = ks;
    }
    const int64_t krange = (nkb + pl.nks - 1) / pl.nks * pl.kb;
    pl.kch = std::max<int64_t>(pl.kb, std::min<int64_t>(krange, kMChunkBytes / (A2 * pl.ldv * s) / pl.kb * pl.kb));
    pl.cpad = (cpg + L - 1) / L * L;
    pl.cache_u = cache_filters(p, s);
    if (!pl.cache_u) // the chunk's U stays in L2 for the products that read it
        pl.kch = std::max<int64_t>(pl.kb, std::min<int64_t>(pl.kch, kUChunkBytes / (A2 * pl.cpad * s) / pl.kb * pl.kb));
    auto align = [](int64_t x) { return (x + 15) / 16 * 16; };
    const int64_t cap = (pl.ldv + 2 + pl.lanes - 1) / pl.lanes * pl.lanes + pl.lanes; // as in run_item
    pl.scratch_elems = align(A2 * detail::wg_plane_stride(cpg * (pl.ldv + L), s)) +
                       align(A2 * detail::wg_plane_stride(pl.kch * pl.ldv, s)) + pl.lanes + align(pl.m * cap + 8) +
                       align(pl.m * cap) + align(A2 * cap) + align(int64_t(pl.m) * pl.alpha * cap) + 16;
    if (!pl.cache_u) pl.scratch_elems += align(A2 * pl.kch * pl.cpad) + 9 * L * pl.kb;
    return pl;
}

// U[g][xi][kpad/KB][cpg][KB] from the K x cpg x 3 x 3 weights (double arithmetic).
template <class T, int M> void transform_filters(const detail::WgPlan &pl, const T *w, T *U) {
    using Mat = detail::WinogradMatrices<M>;
    constexpr int A = M + 2, A2 = A * A;
    const int64_t cpg = pl.cpg, kpg = pl.kpg, kpad = pl.kpad, KB = pl.kb;
    parallel_for(pl.G * kpad, 4, [&](int64_t b, int64_t e) {
        for (int64_t gk = b; gk < e; ++gk) {
            const int64_t g = gk / kpad, k = gk % kpad, kblk = k / KB, kk = k % KB;
            for (int64_t c = 0; c < cpg; ++c) {
                double u[A][A] = {};
                if (k < kpg) {
                    const T *f = w + ((g * kpg + k) * cpg + c) * 9;
                    double tmp[A][3];
                    for (int i = 0; i < A; ++i)
                        for (int s = 0; s < 3; ++s)
                            tmp[i][s] = Mat::G[i][0] * double(f[s]) + Mat::G[i][1] * double(f[3 + s]) +
                                        Mat::G[i][2] * double(f[6 + s]);
                    for (int i = 0; i < A; ++i)
                        for (int j = 0; j < A; ++j)
                            u[i][j] = tmp[i][0] * Mat::G[j][0] + tmp[i][1] * Mat::G[j][1] + tmp[i][2] * Mat::G[j][2];
                }
                for (int xi = 0; xi < A2; ++xi)
                    U[(((g * A2 + xi) * (kpad / KB) + kblk) * cpg + c) * KB + kk] = T(u[xi / A][xi % A]);
            }
        }
    });
}

template <class T> bool all_finite(const T *x, int64_t n) {
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= is_finite(x[i]);
    return ok;
}

// The cached transformed filters and what they were computed from. Runs of one kernel
// are serialised by the KernelRef every caller holds (core/ai3/layers.hpp), so the cache
// is rebuilt in place with no lock of its own.
template <class T> struct CachedU {
    std::vector<T> U;
    const T *weight = nullptr;
    uint64_t version = 0, fingerprint = 0;
    bool finite = true; // the weights held no NaN or infinity
};

template <class T> class WinogradKernel final : public Kernel<Conv2d, T> {
  public:
    WinogradKernel(const Conv2dParams &p, Isa isa) : p_(p), isa_(isa), pl_(make_plan<T>(p, isa)) {}

    void run(const Conv2d::Args<T> &a) override {
        const Conv2dParams &p = p_;
        const int64_t PQ = p.max_pool_2x2 ? (p.P / 2) * (p.Q / 2) : p.P * p.Q; // one output plane
        if (p.N == 0 || PQ == 0 || p.K == 0) return;
        if (pl_.cpg == 0) { // no input channels: the output is the bias
            for (int64_t n = 0; n < p.N; ++n)
                for (int64_t k = 0; k < p.K; ++k)
                    std::fill(a.output + (n * p.K + k) * PQ, a.output + (n * p.K + k + 1) * PQ,
                              detail::empty_conv_value(p, a.bias, k));
            return;
        }
        const CachedU<T> *cu = pl_.cache_u ? &cached_filters(a) : nullptr;
        if (cu && !cu->finite) return run_exact(a);
        const T *U = cu ? cu->U.data() : nullptr; // null: per chunk, from a.weight
        bool nonfinite = false;
        switch (isa_) {
#if defined(AI3_PER_ISA_X86)
        case Isa::Avx512: nonfinite = detail::wg_avx512::run_all<T>(pl_, a, U); break;
        case Isa::Avx2: nonfinite = detail::wg_avx2::run_all<T>(pl_, a, U); break;
#endif
        default: nonfinite = detail::wg_generic::run_all<T>(pl_, a, U); break;
        }
        if (nonfinite) run_exact(a);
    }

  private:
    // The transformed filters for these weights: the cached ones, or new ones. Borrowed
    // weights can change behind torch's version counter (writes through .data), so
    // their contents are fingerprinted too; owned ones cannot change.
    const CachedU<T> &cached_filters(const Conv2d::Args<T> &a) {
        const int64_t n = p_.K * pl_.cpg * 9;
        const uint64_t fp = a.weight_owned ? 0 : fingerprint(a.weight, size_t(n) * sizeof(T));
        if (u_.weight == a.weight && u_.version == a.weight_version && u_.fingerprint == fp) return u_;
        u_.weight = nullptr; // invalid until the transform completes
        u_.U.assign(size_t(pl_.G * pl_.alpha * pl_.alpha * pl_.kpad * pl_.cpg), T(0));
        if (pl_.m == 4)
            transform_filters<T, 4>(pl_, a.weight, u_.U.data());
        else
            transform_filters<T, 2>(pl_, a.weight, u_.U.data());
        u_.weight = a.weight;
        u_.version = a.weight_version;
        u_.fingerprint = fp;
        u_.finite = all_finite(a.weight, n);
        return u_;
    }

    // The call computed as the convolution itself (direct), for inputs or weights with a
    // NaN or an infinity, where torch's results follow from IEEE arithmetic on each tap;
    // a fused pool then runs on the full output as torch's max pooling would.
    void run_exact(const Conv2d::Args<T> &a) const {
        Conv2dParams q = p_;
        q.max_pool_2x2 = false;
        if (!p_.max_pool_2x2) return conv2d_direct<T>(q, a);
        std::vector<T> full(size_t(q.N * q.K * q.P * q.Q));
        Conv2d::Args<T> b = a;
        b.output = full.data();
        conv2d_direct<T>(q, b);
        Pool2dParams pp;
        pp.N = q.N, pp.C = q.K, pp.H = q.P, pp.W = q.Q;
        pp.kh = pp.kw = pp.stride_h = pp.stride_w = 2;
        pp.P = q.P / 2, pp.Q = q.Q / 2;
        maxpool2d_direct<T>(pp, {full.data(), a.output});
    }

    const Conv2dParams p_;
    const Isa isa_;
    const detail::WgPlan pl_;
    CachedU<T> u_; // weight == nullptr: nothing cached yet
};

} // namespace

template <class T> KernelPtr<Conv2d, T> make_winograd(const Conv2dParams &p, const Device &) {
    detail::check_conv(p, /*fuses_pool=*/true);
    check_conv2d_runs("winograd", p);
    return std::make_unique<WinogradKernel<T>>(p, pick_isa());
}

template KernelPtr<Conv2d, float> make_winograd<float>(const Conv2dParams &, const Device &);
template KernelPtr<Conv2d, double> make_winograd<double>(const Conv2dParams &, const Device &);

} // namespace ai3::fallback
