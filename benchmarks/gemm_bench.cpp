// GFLOP/s of ai3::fallback::gemm on VGG16's im2col shapes and its first linear layer, and
// of gemm_implicit_conv on VGG16's 3x3 layers.
// Build and run (from the repository root; AI3_GEMM_ISA=avx2|generic to pick a path):
//   g++ -O3 -std=c++17 -Wall -Wextra -I core -I fallback benchmarks/gemm_bench.cpp fallback/gemm/*.cpp core/src/parallel.cpp core/src/scratch.cpp -lpthread -o /tmp/gemm_bench && /tmp/gemm_bench
// Optional arguments: thread counts (default "1 2"; counts must grow, see gemm_test).
#include "ai3/parallel.hpp"
#include "gemm/gemm.hpp"
#include "gemm/gemm_isa.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

struct Shape {
    int64_t M, N, K;
    bool tb;
};

template <class T> double bench(const Shape &s) {
    std::vector<T> A(size_t(s.M * s.K)), B(size_t(s.K * s.N)), C(size_t(s.M * s.N));
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto &x : A) x = T(u(rng));
    for (auto &x : B) x = T(u(rng));
    int64_t ldb = s.tb ? s.K : s.N;
    auto once = [&] {
        ai3::fallback::gemm<T>(false, s.tb, s.M, s.N, s.K, A.data(), s.K, B.data(), ldb, T(0), C.data(), s.N);
    };
    once(); // warm-up: scratch growth, page faults
    double flop = 2.0 * double(s.M) * double(s.N) * double(s.K), best = 1e30, total = 0;
    for (int rep = 0; rep < 50 && (rep < 3 || total < 0.5); ++rep) {
        auto t0 = std::chrono::steady_clock::now();
        once();
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = dt < best ? dt : best;
        total += dt;
    }
    return flop / best * 1e-9;
}

// gemm_implicit_conv on VGG16's 3x3 / pad 1 layers (the same products as the im2col
// shapes above, B gathered from the input by the packing), without / with the table.
struct ConvShape {
    int64_t C, K, HW;
};

template <class T> double bench_conv(const ConvShape &cs, bool use_table) {
    ai3::fallback::ImplicitConvShape s;
    s.C = cs.C, s.H = s.W = s.P = s.Q = cs.HW, s.R = s.S = 3, s.pad_h = s.pad_w = 1;
    std::vector<T> in(size_t(s.C * s.H * s.W)), A(size_t(cs.K * s.C * 9)), C(size_t(cs.K * s.P * s.Q));
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto &x : in) x = T(u(rng));
    for (auto &x : A) x = T(u(rng));
    ai3::fallback::ImplicitConvTable table(s);
    ai3::fallback::ImplicitConvB<T> B{in.data(), s, 0, use_table ? &table : nullptr};
    const int64_t N = s.P * s.Q, K = s.C * 9;
    auto once = [&] { ai3::fallback::gemm_implicit_conv<T>(cs.K, N, A.data(), K, B, T(0), C.data(), N); };
    once();
    double flop = 2.0 * double(cs.K) * double(N) * double(K), best = 1e30, total = 0;
    for (int rep = 0; rep < 50 && (rep < 3 || total < 0.5); ++rep) {
        auto t0 = std::chrono::steady_clock::now();
        once();
        double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = dt < best ? dt : best;
        total += dt;
    }
    return flop / best * 1e-9;
}

} // namespace

int main(int argc, char **argv) {
    std::vector<int> thread_counts;
    for (int i = 1; i < argc; ++i) thread_counts.push_back(std::atoi(argv[i]));
    if (thread_counts.empty()) thread_counts = {1, 2};
    const Shape shapes[] = {
        {64, 50176, 27, false},   {64, 50176, 576, false},  {128, 12544, 576, false}, {128, 12544, 1152, false},
        {256, 3136, 1152, false}, {256, 3136, 2304, false}, {512, 784, 2304, false},  {512, 784, 4608, false},
        {512, 196, 4608, false},  {1, 4096, 25088, true},   {64, 4096, 25088, true},
    };
    std::printf("isa %s\n", ai3::fallback::detail::gemm_isa_name(ai3::fallback::detail::gemm_active_isa()));
    std::printf("%6s %6s %6s %3s | %s\n", "M", "N", "K", "tB", "GFLOP/s f32 / f64 per thread count");
    std::vector<std::vector<double>> r32(thread_counts.size()), r64(thread_counts.size());
    for (size_t t = 0; t < thread_counts.size(); ++t) {
        ai3::set_num_threads(thread_counts[t]);
        for (const Shape &s : shapes) {
            r32[t].push_back(bench<float>(s));
            r64[t].push_back(bench<double>(s));
        }
    }
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); ++i) {
        const Shape &s = shapes[i];
        std::printf("%6lld %6lld %6lld %3d |", (long long)s.M, (long long)s.N, (long long)s.K, int(s.tb));
        for (size_t t = 0; t < thread_counts.size(); ++t)
            std::printf("  %dT: %7.1f / %6.1f", thread_counts[t], r32[t][i], r64[t][i]);
        std::printf("\n");
    }
    const ConvShape convs[] = {{64, 64, 224}, {64, 128, 112}, {128, 256, 56}, {256, 512, 28}, {512, 512, 14}};
    std::printf("\nimplicit conv 3x3 pad 1: C K HW | GFLOP/s f32 / f64 on the fly, f32 / f64 with table\n");
    for (const ConvShape &cs : convs) {
        std::printf("%4lld %4lld %4lld |", (long long)cs.C, (long long)cs.K, (long long)cs.HW);
        for (int t : thread_counts) {
            ai3::set_num_threads(t);
            std::printf("  %dT: %6.1f / %5.1f, %6.1f / %5.1f", t, bench_conv<float>(cs, false),
                        bench_conv<double>(cs, false), bench_conv<float>(cs, true), bench_conv<double>(cs, true));
        }
        std::printf("\n");
    }
    return 0;
}
