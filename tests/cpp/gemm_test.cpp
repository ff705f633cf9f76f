// Correctness of ai3::fallback::gemm and gemm_implicit_conv on every ISA path this CPU
// runs, against naive double-accumulating references.
// Build and run (from the repository root):
//   g++ -O3 -std=c++17 -Wall -Wextra -I core -I fallback tests/cpp/gemm_test.cpp fallback/gemm/*.cpp core/src/parallel.cpp core/src/scratch.cpp -lpthread -o /tmp/gemm_test && /tmp/gemm_test && /tmp/gemm_test 3
#include "ai3/parallel.hpp"
#include "gemm/gemm.hpp"
#include "gemm/gemm_isa.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

using ai3::fallback::detail::GemmIsa;

namespace {

int passed = 0, failed = 0;

struct Case {
    int64_t M, N, K;
};

// op(X)[r][c] for a row-major X with leading dimension ld.
template <class T> T at(const std::vector<T> &x, bool trans, int64_t r, int64_t c, int64_t ld) {
    return trans ? x[c * ld + r] : x[r * ld + c];
}

template <class T>
bool check(const char *isa, bool ta, bool tb, Case cs, int beta, int64_t pad, std::mt19937 &rng, bool nested) {
    const int64_t M = cs.M, N = cs.N, K = cs.K;
    // Leading dimensions larger than needed (by pad) so stray row-stride bugs show.
    int64_t a_rows = ta ? K : M, a_cols = ta ? M : K;
    int64_t b_rows = tb ? N : K, b_cols = tb ? K : N;
    int64_t lda = std::max<int64_t>(1, a_cols + pad), ldb = std::max<int64_t>(1, b_cols + pad);
    int64_t ldc = std::max<int64_t>(1, N + pad);
    std::uniform_real_distribution<double> u(-1, 1);
    std::vector<T> A(size_t(a_rows * lda + 1)), B(size_t(b_rows * ldb + 1)), C(size_t(M * ldc + pad + 1));
    for (auto &x : A) x = T(u(rng));
    for (auto &x : B) x = T(u(rng));
    const T sentinel = T(12345.0);
    for (int64_t i = 0; i < (int64_t)C.size(); ++i) {
        bool inside = i / ldc < M && i % ldc < N;
        // beta == 0 must not read C: garbage there would poison the result.
        C[size_t(i)] = inside ? (beta ? T(u(rng)) : std::numeric_limits<T>::quiet_NaN()) : sentinel;
    }
    std::vector<T> C0 = C;
    auto call = [&] { ai3::fallback::gemm<T>(ta, tb, M, N, K, A.data(), lda, B.data(), ldb, T(beta), C.data(), ldc); };
    if (nested)
        ai3::parallel_for(2, 1, [&](int64_t b, int64_t e) {
            for (int64_t t = b; t < e; ++t)
                if (t == 0) call();
        });
    else
        call();

    const double eps = std::numeric_limits<T>::epsilon();
    double worst = 0;
    bool ok = true;
    for (int64_t i = 0; i < (int64_t)C.size() && ok; ++i) {
        int64_t r = i / ldc, c = i % ldc;
        if (!(r < M && c < N)) {
            if (!(C[size_t(i)] == sentinel)) ok = false;
            continue;
        }
        double ref = beta ? double(C0[size_t(i)]) : 0.0, mag = std::fabs(ref);
        for (int64_t k = 0; k < K; ++k) {
            double p = double(at(A, ta, r, k, lda)) * double(at(B, tb, k, c, ldb));
            ref += p;
            mag += std::fabs(p);
        }
        double err = std::fabs(double(C[size_t(i)]) - ref);
        double tol = 2.0 * double(K + 2) * eps * mag + 1e-30;
        if (!(err <= tol)) ok = false; // also catches NaN
        worst = std::fmax(worst, err / (mag + 1e-30));
    }
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::printf("FAIL %s %s ta=%d tb=%d M=%lld N=%lld K=%lld beta=%d pad=%lld threads=%d nested=%d (rel err %g)\n",
                    isa, sizeof(T) == 4 ? "f32" : "f64", ta, tb, (long long)M, (long long)N, (long long)K, beta,
                    (long long)pad, ai3::num_threads(), nested, worst);
    }
    return ok;
}

template <class T> void run_all(const char *isa, std::mt19937 &rng) {
    std::vector<Case> cases = {
        {0, 5, 3},
        {5, 0, 3},
        {4, 5, 0},
        {1, 1, 1},
        {1, 1, 7},
        {2, 3, 1},
        {3, 17, 5},
        {4, 33, 9},
        {5, 7, 3},
        {6, 16, 27},
        {7, 31, 13},
        {11, 47, 64},
        {12, 32, 1},
        {12, 32, 384},
        {13, 33, 17},
        {16, 49, 27},
        {17, 1, 5},
        {23, 48, 100},
        {24, 96, 385},
        {25, 97, 200},
        {31, 15, 33},
        {64, 196, 57},
        {3, 1000, 300},
        {1, 1000, 1000},
        {2, 129, 4097},
        {4, 777, 65},
        {5, 300, 70},
        {100, 1, 50},
        {37, 3, 800},
        {130, 1000, 800},
        {1030, 70, 45},
        {50, 530, 1},
        {64, 2049, 27},
        // ragged N with M a multiple of the tile width: the transposed (C^T) route
        {64, 49, 100},
        {512, 49, 300},
        {96, 13, 64},
        {2048, 7, 40},
        {128, 17, 33},
        {256, 3, 64},
    };
    int64_t pads[] = {0, 3};
    for (const Case &cs : cases)
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb)
                for (int beta = 0; beta < 2; ++beta) {
                    int64_t pad = pads[(cs.M + cs.N + ta + 2 * tb + beta) % 2];
                    check<T>(isa, ta, tb, cs, beta, pad, rng, false);
                }
    // Called from inside a parallel region it runs serially on the caller.
    for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
            check<T>(isa, ta, tb, {70, 500, 300}, 1, 1, rng, true);
            check<T>(isa, ta, tb, {2, 500, 300}, 0, 1, rng, true);
        }
}

// gemm_implicit_conv: B is a convolution's implicit matrix, columns [col0, col0 + N),
// with and without the precomputed table; C has padded rows and sentinels around it.
struct ConvCase {
    int64_t C, H, W, R, S, sh, sw, ph, pw, dh, dw, M;
};

template <class T> bool check_conv(const char *isa, const ConvCase &cc, bool use_table, int beta, std::mt19937 &rng) {
    ai3::fallback::ImplicitConvShape s;
    s.C = cc.C, s.H = cc.H, s.W = cc.W, s.R = cc.R, s.S = cc.S, s.stride_h = cc.sh, s.stride_w = cc.sw;
    s.pad_h = cc.ph, s.pad_w = cc.pw, s.dil_h = cc.dh, s.dil_w = cc.dw;
    s.P = (cc.H + 2 * cc.ph - (cc.R - 1) * cc.dh - 1) / cc.sh + 1;
    s.Q = (cc.W + 2 * cc.pw - (cc.S - 1) * cc.dw - 1) / cc.sw + 1;
    const int64_t K = s.C * s.R * s.S, PQ = s.P * s.Q, M = cc.M;
    const int64_t col0 = PQ / 5, N = PQ - col0 - PQ / 7, ldc = N + 3;
    std::uniform_real_distribution<double> u(-1, 1);
    // the input is exactly C*H*W long: reads past it are caught by ASan builds
    std::vector<T> in(size_t(s.C * s.H * s.W)), A(size_t(M * K + 1)), Cm(size_t(M * ldc + 1));
    for (auto &x : in) x = T(u(rng));
    for (auto &x : A) x = T(u(rng));
    const T sentinel = T(12345.0);
    for (int64_t i = 0; i < (int64_t)Cm.size(); ++i)
        Cm[size_t(i)] =
            i / ldc < M && i % ldc < N ? (beta ? T(u(rng)) : std::numeric_limits<T>::quiet_NaN()) : sentinel;
    std::vector<T> C0 = Cm;
    ai3::fallback::ImplicitConvTable table(s);
    ai3::fallback::ImplicitConvB<T> B{in.data(), s, col0, use_table ? &table : nullptr};
    ai3::fallback::gemm_implicit_conv<T>(M, N, A.data(), K, B, T(beta), Cm.data(), ldc);
    const double eps = std::numeric_limits<T>::epsilon();
    bool ok = true;
    for (int64_t i = 0; i < (int64_t)Cm.size() && ok; ++i) {
        const int64_t r = i / ldc, c = i % ldc;
        if (!(r < M && c < N)) {
            ok = Cm[size_t(i)] == sentinel;
            continue;
        }
        const int64_t j = col0 + c, p = j / s.Q, q = j % s.Q;
        double ref = beta ? double(C0[size_t(i)]) : 0.0, mag = std::fabs(ref);
        for (int64_t k = 0; k < K; ++k) {
            const int64_t ch = k / (s.R * s.S), rr = k / s.S % s.R, ss = k % s.S;
            const int64_t h = p * s.stride_h + rr * s.dil_h - s.pad_h, w = q * s.stride_w + ss * s.dil_w - s.pad_w;
            if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
            const double t = double(A[size_t(r * K + k)]) * double(in[size_t((ch * s.H + h) * s.W + w)]);
            ref += t;
            mag += std::fabs(t);
        }
        ok = std::fabs(double(Cm[size_t(i)]) - ref) <= 2.0 * double(K + 2) * eps * mag + 1e-30;
    }
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::printf(
            "FAIL implicit conv %s %s C=%lld %lldx%lld k%lldx%lld s%lld,%lld p%lld,%lld d%lld,%lld M=%lld table=%d "
            "beta=%d threads=%d\n",
            isa, sizeof(T) == 4 ? "f32" : "f64", (long long)cc.C, (long long)cc.H, (long long)cc.W, (long long)cc.R,
            (long long)cc.S, (long long)cc.sh, (long long)cc.sw, (long long)cc.ph, (long long)cc.pw, (long long)cc.dh,
            (long long)cc.dw, (long long)M, int(use_table), beta, ai3::num_threads());
    }
    return ok;
}

template <class T> void run_conv(const char *isa, std::mt19937 &rng) {
    const ConvCase cases[] = {
        {3, 20, 23, 3, 3, 1, 1, 1, 1, 1, 1, 5},   {16, 30, 33, 3, 3, 1, 1, 1, 1, 1, 1, 13},
        {50, 12, 13, 3, 3, 1, 1, 1, 1, 1, 1, 30}, {8, 25, 40, 1, 1, 1, 1, 0, 0, 1, 1, 24},
        {8, 25, 40, 1, 1, 2, 2, 0, 0, 1, 1, 7},   {4, 33, 35, 5, 3, 2, 3, 2, 1, 2, 1, 12},
        {6, 60, 1, 3, 1, 1, 1, 1, 0, 1, 1, 3},    {6, 40, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1},
        {2, 9, 9, 3, 3, 1, 1, 5, 5, 1, 1, 2},     {3, 61, 61, 7, 7, 2, 2, 3, 3, 1, 1, 16},
        {5, 17, 19, 3, 3, 3, 2, 4, 4, 4, 3, 9},   {700, 3, 4, 1, 1, 1, 1, 0, 0, 1, 1, 4},
    };
    for (const ConvCase &cc : cases)
        for (int table = 0; table < 2; ++table)
            for (int beta = 0; beta < 2; ++beta) check_conv<T>(isa, cc, table, beta, rng);
}

} // namespace

int main(int argc, char **argv) {
    // Thread counts to test, in this order; default 1 2. Pass e.g. "3" to exercise
    // uneven and M-split grids. Counts only grow, and 1 comes first: resizing ai3's pool
    // after it has run a job can wake a new worker on the stale job.
    std::vector<int> thread_counts;
    for (int i = 1; i < argc; ++i) thread_counts.push_back(std::atoi(argv[i]));
    if (thread_counts.empty()) thread_counts = {1, 2};
    std::mt19937 rng(1234);
    for (int threads : thread_counts) {
        ai3::set_num_threads(threads);
        for (GemmIsa isa : {GemmIsa::Generic, GemmIsa::Avx2, GemmIsa::Avx512}) {
            const char *name = ai3::fallback::detail::gemm_isa_name(isa);
            if (!ai3::fallback::detail::gemm_set_isa(isa)) {
                std::printf("skip %s (not supported by this CPU)\n", name);
                continue;
            }
            int before = failed;
            run_all<float>(name, rng);
            run_all<double>(name, rng);
            run_conv<float>(name, rng);
            run_conv<double>(name, rng);
            std::printf("%s threads=%d: %s\n", name, threads, failed == before ? "ok" : "FAILURES");
        }
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
