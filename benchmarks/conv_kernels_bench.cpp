// Times the fallback convolutions (direct / smm / gemm / winograd) on the 13 VGG16 conv layers at
// batch 1 (3x3, stride 1, pad 1), in GFLOP/s (2*K*C*R*S*P*Q per image), through the registry.
// winograd is counted at the direct convolution's FLOPs (effective GFLOP/s); AI3_WINOGRAD_TILE=2|4
// forces its tile size.
// Build (from the repository root):
//   g++ -O3 -DNDEBUG -std=c++17 -Wall -Wextra -I core -I fallback benchmarks/conv_kernels_bench.cpp
//       fallback/*.cpp fallback/*/*.cpp core/src/parallel.cpp core/src/registry.cpp core/src/scratch.cpp
//       -lpthread -o /tmp/cb
// Run: /tmp/cb [threads=2] [f32|f64] [reps=5] [algorithms=direct,smm,gemm,winograd]
#include "ai3/parallel.hpp"
#include "ai3/registry.hpp"
#include "register.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace ai3;

namespace {

struct Layer {
    int64_t C, K, HW;
};
const Layer kVgg16[] = {{3, 64, 224},   {64, 64, 224},  {64, 128, 112}, {128, 128, 112}, {128, 256, 56},
                        {256, 256, 56}, {256, 256, 56}, {256, 512, 28}, {512, 512, 28},  {512, 512, 28},
                        {512, 512, 14}, {512, 512, 14}, {512, 512, 14}};

template <class T> int bench(int reps, const std::vector<std::string> &algos) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> d(-1, 1);
    std::printf("%-22s", "layer");
    for (auto &a : algos) std::printf(" %10s", a.c_str());
    std::printf("   (GFLOP/s, best of %d, %d threads, %s)\n", reps, num_threads(), sizeof(T) == 4 ? "f32" : "f64");
    std::vector<double> total_time(algos.size(), 0.0);
    double total_flop = 0;
    for (const Layer &l : kVgg16) {
        Conv2dParams p;
        p.N = 1, p.C = l.C, p.H = l.HW, p.W = l.HW, p.K = l.K, p.R = 3, p.S = 3, p.P = l.HW, p.Q = l.HW;
        p.pad_h = p.pad_w = 1;
        p.has_bias = true;
        std::vector<T> in(size_t(p.C * p.H * p.W)), w(size_t(p.K * p.C * 9)), b(size_t(p.K)),
            out(size_t(p.K * p.P * p.Q));
        for (auto &x : in) x = T(d(rng));
        for (auto &x : w) x = T(d(rng));
        for (auto &x : b) x = T(d(rng));
        const double flop = 2.0 * double(p.K) * double(p.C) * 9.0 * double(p.P * p.Q);
        total_flop += flop;
        char name[64];
        std::snprintf(name, sizeof name, "%lld->%lld @%lld", (long long)p.C, (long long)p.K, (long long)p.H);
        std::printf("%-22s", name);
        for (size_t ai = 0; ai < algos.size(); ++ai) {
            auto k = registry().get<Conv2d, T>(algos[ai], Backend::cpu)(p, Device{});
            const Conv2d::Args<T> args{in.data(), w.data(), b.data(), out.data()};
            k->run(args); // warm-up (scratch allocation, caches)
            double best = 1e30;
            for (int r = 0; r < reps; ++r) {
                auto t0 = std::chrono::steady_clock::now();
                k->run(args);
                best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            total_time[ai] += best;
            std::printf(" %10.1f", flop / best * 1e-9);
            std::fflush(stdout);
        }
        std::printf("\n");
    }
    std::printf("%-22s", "all 13 (total time)");
    for (double t : total_time) std::printf(" %10.1f", total_flop / t * 1e-9);
    std::printf("\n");
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
    const bool f64 = argc > 2 && std::strcmp(argv[2], "f64") == 0;
    const int reps = argc > 3 ? std::max(1, std::atoi(argv[3])) : 5;
    std::vector<std::string> algos;
    std::string list = argc > 4 ? argv[4] : "direct,smm,gemm,winograd";
    for (size_t s = 0, e; s <= list.size(); s = e + 1) {
        e = list.find(',', s);
        if (e == std::string::npos) e = list.size();
        if (e > s) algos.push_back(list.substr(s, e - s));
    }
    set_num_threads(threads);
    register_fallback(registry());
    return f64 ? bench<double>(reps, algos) : bench<float>(reps, algos);
}
