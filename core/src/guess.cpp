#include "ai3/guess.hpp"
#include "ai3/winograd_rules.hpp"
#include "ai3/parallel.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

namespace ai3 {

const std::vector<std::string> &conv2d_concrete_algorithms() {
    static const std::vector<std::string> algos{"winograd", "implicit precomp gemm", "gemm",
                                                "smm",      "implicit gemm",         "direct"};
    return algos;
}

// ---- constants ----------------------------------------------------------------------

std::map<std::string, double> to_map(const CostConstants &c) {
    return {{"gemm_rate", c.gemm_rate},
            {"direct_rate", c.direct_rate},
            {"winograd_rate", c.winograd_rate},
            {"bandwidth", c.bandwidth},
            {"cache_bandwidth", c.cache_bandwidth},
            {"gather_rate", c.gather_rate},
            {"precomp_gather_rate", c.precomp_gather_rate},
            {"measured", c.measured ? 1.0 : 0.0}};
}

CostConstants from_map(const std::map<std::string, double> &m) {
    CostConstants c;
    auto get = [&](const char *k, double &v) {
        auto it = m.find(k);
        if (it != m.end() && std::isfinite(it->second) && it->second > 0) v = it->second;
    };
    get("gemm_rate", c.gemm_rate);
    get("direct_rate", c.direct_rate);
    get("winograd_rate", c.winograd_rate);
    get("bandwidth", c.bandwidth);
    get("cache_bandwidth", c.cache_bandwidth);
    get("gather_rate", c.gather_rate);
    get("precomp_gather_rate", c.precomp_gather_rate);
    auto it = m.find("measured");
    c.measured = it != m.end() && it->second != 0;
    return c;
}

namespace {

std::mutex constants_mu;
std::map<std::pair<int, int>, CostConstants> &constants_table() {
    static auto *t = new std::map<std::pair<int, int>, CostConstants>();
    return *t;
}

CostConstants builtin(DType dtype) {
    CostConstants c;
    if (dtype == DType::f64) { // measured on the reference machine like the float32 ones
        c.gemm_rate = 105e9;
        c.direct_rate = 99e9;
        c.winograd_rate = 118e9;
        c.cache_bandwidth = 34e9;
    }
    return c;
}

double fill(double x, double full) { return std::min(1.0, x / full); }
// Fraction of a register tile of `tile` rows that `x` rows use.
double tile_fill(double x, double tile) { return x / (std::ceil(x / tile) * tile); }

double gemm_efficiency(double m, double n, double k) {
    return std::max(0.03, tile_fill(m, 12) * fill(m, 48) * fill(n, 96) * (0.35 + 0.65 * fill(k, 192)));
}

} // namespace

CostConstants cost_constants(DType dtype, Backend backend) {
    std::lock_guard<std::mutex> lk(constants_mu);
    auto it = constants_table().find({int(dtype), int(backend)});
    return it == constants_table().end() ? builtin(dtype) : it->second;
}

void set_cost_constants(DType dtype, Backend backend, const CostConstants &c) {
    std::lock_guard<std::mutex> lk(constants_mu);
    constants_table()[{int(dtype), int(backend)}] = c;
}

// ---- the model ---------------------------------------------------------------------

double conv2d_cost(const std::string &algorithm, const Conv2dParams &p, DType dtype, const CostConstants &c) {
    const double esize = double(dtype_size(dtype));
    const double g = double(p.groups), cg = double(p.C / p.groups), kg = double(p.K / p.groups);
    const double pq = double(p.P) * double(p.Q), crs = cg * double(p.R * p.S);
    const double flops = 2.0 * double(p.N) * g * kg * crs * pq;
    if (flops == 0) return 0;
    const double images = double(p.N) * g; // independent (image, group) problems
    const bool pointwise = p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
    const double lowered = pointwise ? 0.0 : crs * pq * esize * images; // bytes of the im2col matrix
    const double out_bytes = double(p.N) * double(p.K) * pq * esize;

    if (algorithm == "direct" && cg == 1 && kg == 1) {
        // Depthwise: a vectorised stencil per plane (fallback/conv2d/depthwise_kernel.hpp),
        // bound by its loads (one per tap per vector) and by the plane's copy in and out.
        double in_bytes = double(p.N) * double(p.C) * double(p.H) * double(p.W) * esize;
        double virt = double(p.Q + (p.S - 1) * p.dil_w / p.stride_w) / double(p.Q);
        return flops * virt / (c.direct_rate * 0.25) + 2 * (in_bytes + out_bytes) / c.bandwidth;
    }
    if (algorithm == "direct") {
        // 8 output channels per register block; (S-1)*dil/stride virtual columns per row wasted.
        double kfill = tile_fill(kg, 8) * fill(kg, 8) + (kg < 8 ? 0.15 : 0.0);
        double wph = double(p.Q) + double((p.S - 1) * p.dil_w / p.stride_w);
        double qfill = double(p.Q) / wph * fill(double(p.P * p.Q), 64);
        // Each register tile is stored (and its input planes rebuilt) once per image: a
        // short reduction (few channels x taps) cannot amortise that.
        qfill *= crs / (crs + 48.0);
        double in_bytes = double(p.N) * double(p.C) * double(p.H) * double(p.W) * esize *
                          double(std::min(p.stride_h, p.R) * std::min(p.stride_w, p.S));
        return flops / (c.direct_rate * std::min(1.0, kfill) * qfill) + (in_bytes + out_bytes) / c.bandwidth;
    }
    const double gemm_time = flops / (c.gemm_rate * gemm_efficiency(kg, pq, crs));
    if (algorithm == "smm") {
        // The whole lowered matrix is written then read; beyond L2 that is DRAM traffic.
        double per_image = crs * pq * esize;
        double bw = per_image < 1.5e6 ? c.cache_bandwidth : c.bandwidth;
        return gemm_time + 2 * lowered / bw + images * 3e-6;
    }
    if (algorithm == "gemm") {
        // Panels shorten the GEMM's N dimension (1x1 layers read the input in place).
        double panels = std::max(1.0, std::ceil(crs * pq * esize / 512e3));
        double panel_cols = std::min(pq, std::max(64.0, pq / panels));
        double t = flops / (c.gemm_rate * gemm_efficiency(kg, panel_cols, crs));
        return t + 2 * lowered / c.cache_bandwidth + images * panels * 2e-6;
    }
    if (algorithm == "implicit gemm" || algorithm == "implicit precomp gemm") {
        double rate = algorithm == "implicit gemm" ? c.gather_rate : c.precomp_gather_rate;
        double gathered = crs * pq * esize * images; // B gathered once per row block of A
        return gemm_time + gathered / rate + images * 2e-6;
    }
    if (algorithm == "winograd") {
        if (!conv2d_applicable(algorithm, p)) return std::numeric_limits<double>::infinity();
        const int m = winograd_tile(p);
        const double alpha2 = double((m + 2) * (m + 2));
        const double tiles = double(p.N) * double((p.P + m - 1) / m) * double((p.Q + m - 1) / m);
        const double mults = 2.0 * g * kg * cg * alpha2 * tiles;
        const double transformed = (cg + kg) * g * tiles * alpha2 * esize; // V written+read, M written+read
        // Tile blocks of the batch (AVX-512 vectors of tiles): each reads U once, or
        // transforms it anew when U is not cached (~(9 + alpha^2) values moved per filter,
        // in cache).
        const double lanes = 64.0 / esize;
        const double vb = double(winograd_block_vectors(int64_t(cg), int64_t(esize), int64_t(lanes)));
        const double blocks = std::ceil(std::ceil(tiles / lanes) / vb);
        const double filters = g * kg * cg * blocks;
        const double u_time = winograd_caches_filters(p, int64_t(esize))
                                  ? filters * alpha2 * esize / c.bandwidth
                                  : filters * (9 + alpha2) * esize / (4 * c.cache_bandwidth);
        double kfill = tile_fill(kg, 8);
        return mults / (c.winograd_rate * kfill) + 2 * transformed / c.cache_bandwidth + u_time +
               out_bytes / c.bandwidth;
    }
    return std::numeric_limits<double>::infinity(); // no model: never guessed
}

std::string guess_conv2d(const Conv2dParams &p, DType dtype, Backend backend) {
    const CostConstants c = cost_constants(dtype, backend);
    std::string best;
    double best_cost = std::numeric_limits<double>::infinity();
    for (auto &a : conv2d_concrete_algorithms()) {
        if (!registry().contains("conv2d", a, backend, dtype) || !conv2d_applicable(a, p)) continue;
        double cost = conv2d_cost(a, p, dtype, c);
        if (best.empty() || cost < best_cost) {
            best = a;
            best_cost = cost;
        }
    }
    if (best.empty())
        throw Unimplemented(str("no conv2d kernel registered for backend '", backend_name(backend), "', dtype ",
                                dtype_name(dtype), ": 'guess' has nothing to choose from"));
    return best;
}

// ---- calibration --------------------------------------------------------------------

namespace {

template <class T> double time_kernel(const std::string &algo, const Conv2dParams &p, const Device &dev) {
    auto factory = registry().find<Conv2d, T>(algo, dev.backend);
    if (!factory) return 0;
    std::vector<T> in(size_t(p.N * p.C * p.H * p.W)), w(size_t(p.K * (p.C / p.groups) * p.R * p.S)),
        out(size_t(p.N * p.K * p.P * p.Q)), b(size_t(p.K));
    for (size_t i = 0; i < in.size(); ++i) in[i] = T((i * 7919 % 1000) / 1000.0 - 0.5);
    for (size_t i = 0; i < w.size(); ++i) w[i] = T((i * 104729 % 1000) / 1000.0 - 0.5) * T(0.05);
    // A device backend times its kernels as an ai3.Model runs them: activations in device
    // memory (no staging per call), each run waited for.
    DeviceOps *ops = registry().device_ops(dev.backend);
    DeviceBuffer din, dout;
    const T *x = in.data();
    T *y = out.data();
    if (ops) {
        din = DeviceBuffer(ops, dev, in.size() * sizeof(T));
        dout = DeviceBuffer(ops, dev, out.size() * sizeof(T));
        if (din.bytes()) ops->copy(din.data(), in.data(), din.bytes(), dev);
        x = static_cast<const T *>(din.data());
        y = static_cast<T *>(dout.data());
    }
    auto k = factory(p, dev);
    Conv2d::Args<T> args{x, w.data(), p.has_bias ? b.data() : nullptr, y, 0};
    auto run = [&] {
        k->run(args);
        if (ops) ops->synchronize(dev);
    };
    run(); // warm-up: filter transforms, page faults, kernel compilation
    double best = std::numeric_limits<double>::infinity();
    for (int r = 0; r < 5; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        run();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

double measure_bandwidth() {
    const size_t n = size_t(64) << 20;
    std::vector<char> a(n, 1), b(n, 0);
    double best = std::numeric_limits<double>::infinity();
    for (int r = 0; r < 3; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        parallel_for(int64_t(n >> 20), 1, [&](int64_t lo, int64_t hi) {
            std::memcpy(b.data() + (lo << 20), a.data() + (lo << 20), size_t(hi - lo) << 20);
        });
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return 2.0 * double(n) / best; // read + write
}

Conv2dParams reference_layer(int64_t C, int64_t K, int64_t HW, int64_t RS, int64_t pad) {
    Conv2dParams p;
    p.N = 1;
    p.C = C;
    p.K = K;
    p.H = p.W = HW;
    p.R = p.S = RS;
    p.pad_h = p.pad_w = pad;
    p.P = p.Q = HW + 2 * pad - RS + 1;
    p.has_bias = true;
    return p;
}

// Solve `measured = work / rate + rest` for rate. When the model's other terms
// already explain (nearly) all of the measured time, the extra work is nearly free:
// credit it with at least 5% of the time rather than a negative or infinite rate.
double solve_rate(double work, double measured, double rest, double fallback) {
    if (!(measured > 0) || !(work > 0)) return fallback;
    return work / std::max(measured - rest, 0.05 * measured);
}

template <class T> CostConstants calibrate_t(DType dtype, const Device &dev) {
    CostConstants c = builtin(dtype);
    c.bandwidth = measure_bandwidth();

    // GEMM rate: a pointwise layer, which smm runs as one GEMM with no lowering.
    Conv2dParams pw = reference_layer(256, 256, 28, 1, 0);
    if (double t = time_kernel<T>("smm", pw, dev)) {
        double f = 2.0 * 256 * 256 * 28 * 28;
        c.gemm_rate = f / (t * gemm_efficiency(256, 784, 256));
    }
    // Everything else on one 3x3 layer; each rate absorbs what the model leaves out.
    Conv2dParams ref = reference_layer(128, 128, 28, 3, 1);
    CostConstants zero_traffic = c;
    zero_traffic.bandwidth = zero_traffic.cache_bandwidth = zero_traffic.gather_rate =
        zero_traffic.precomp_gather_rate = std::numeric_limits<double>::infinity();
    const double esize = double(sizeof(T));
    const double lowered = 128.0 * 9 * 28 * 28 * esize;
    const double gemm_t = conv2d_cost("smm", ref, dtype, zero_traffic);
    if (double t = time_kernel<T>("gemm", ref, dev))
        c.cache_bandwidth = solve_rate(2 * lowered, t, gemm_t, c.cache_bandwidth);
    if (double t = time_kernel<T>("implicit gemm", ref, dev))
        c.gather_rate = solve_rate(lowered, t, gemm_t, c.gather_rate);
    if (double t = time_kernel<T>("implicit precomp gemm", ref, dev))
        c.precomp_gather_rate = solve_rate(lowered, t, gemm_t, c.precomp_gather_rate);
    if (double t = time_kernel<T>("direct", ref, dev)) {
        CostConstants unit = c;
        unit.direct_rate = 1;
        double model_at_unit = conv2d_cost("direct", ref, dtype, unit); // = work/efficiency + traffic
        double traffic = (128.0 * 30 * 30 + 128.0 * 784) * esize / c.bandwidth;
        c.direct_rate = solve_rate(model_at_unit - traffic, t, traffic, c.direct_rate);
    }
    if (double t = time_kernel<T>("winograd", ref, dev)) {
        CostConstants unit = c;
        unit.winograd_rate = 1;
        unit.cache_bandwidth = unit.bandwidth = std::numeric_limits<double>::infinity();
        double work = conv2d_cost("winograd", ref, dtype, unit);
        CostConstants no_arith = c;
        no_arith.winograd_rate = std::numeric_limits<double>::infinity();
        c.winograd_rate = solve_rate(work, t, conv2d_cost("winograd", ref, dtype, no_arith), c.winograd_rate);
    }
    c.measured = true;
    return c;
}

} // namespace

CostConstants calibrate(DType dtype, const Device &dev) {
    return dtype == DType::f32 ? calibrate_t<float>(dtype, dev) : calibrate_t<double>(dtype, dev);
}

} // namespace ai3
