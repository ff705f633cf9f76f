// ai3's own choice of conv2d algorithm for a layer shape, without timing the layer.
//
// A cost model: each algorithm's time is its arithmetic at a sustained rate scaled
// by shape efficiencies (register-tile fill, short GEMM dimensions, wasted virtual
// columns) plus the memory traffic its lowering or transforms add. The rates and
// bandwidths are machine constants measured by calibrate() on fixed reference
// layers (never on the layer being guessed); until calibrated, the built-in values
// measured on the reference machine (2-core Zen 4, AVX-512) are used.
#pragma once
#include "dtype.hpp"
#include "ops.hpp"
#include "registry.hpp"

#include <map>
#include <string>
#include <vector>

namespace ai3 {

// Defaults: float32 on the reference machine, measured by ai3.calibrate() there
// (2-core Zen 4, AVX-512, 2 threads); float64 uses builtin_f64 in guess.cpp.
struct CostConstants {
    double gemm_rate = 200e9;          // FLOP/s of the packed GEMM on well-shaped operands
    double direct_rate = 130e9;        // FLOP/s of the blocked direct loop nest
    double winograd_rate = 170e9;      // FLOP/s of winograd's batched products
    double bandwidth = 34e9;           // bytes/s streaming through DRAM
    double cache_bandwidth = 19e9;     // bytes/s of writing + reading a lowered panel (cache resident)
    double gather_rate = 60e9;         // bytes/s the implicit GEMM's packing gathers (decoding indices)
    double precomp_gather_rate = 60e9; // the same with precomputed offsets
    bool measured = false;
};

std::map<std::string, double> to_map(const CostConstants &c);
CostConstants from_map(const std::map<std::string, double> &m);

// The constants in use for this dtype and backend (set_cost_constants or built-in).
CostConstants cost_constants(DType dtype, Backend backend);
void set_cost_constants(DType dtype, Backend backend, const CostConstants &c);
// Measures the constants by timing the registered kernels on reference layers.
CostConstants calibrate(DType dtype, const Device &dev);

// The concrete (non-meta) conv2d algorithms, in order of preference on ties.
const std::vector<std::string> &conv2d_concrete_algorithms();

// Why `algorithm` cannot run this configuration at all (winograd: 3x3, stride 1,
// dilation 1), or "" when it can. One rule for every backend's factory, the cost model
// and swap_conv2d's check at swap time (which knows no input size: the rule reads only
// the kernel, stride, dilation and groups).
// Inline: backend modules (ai3._sycl, ai3._cuda) do not link the core library.
// (The predicate is asked per candidate on guess's path, so it formats nothing.)
inline bool conv2d_applicable(const std::string &algorithm, const Conv2dParams &p) {
    return algorithm != "winograd" ||
           (p.R == 3 && p.S == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1);
}
inline std::string conv2d_refusal(const std::string &algorithm, const Conv2dParams &p) {
    if (conv2d_applicable(algorithm, p)) return "";
    return str("winograd needs a 3x3 kernel with stride 1 and dilation 1; this conv2d has kernel ", p.R, "x", p.S,
               ", stride (", p.stride_h, ", ", p.stride_w, "), dilation (", p.dil_h, ", ", p.dil_w,
               "). Use another algorithm for this layer");
}
// What every backend's factory calls first, so every platform refuses the same layers
// with the same message.
inline void check_conv2d_runs(const std::string &algorithm, const Conv2dParams &p) {
    if (!conv2d_applicable(algorithm, p)) throw Unimplemented(conv2d_refusal(algorithm, p));
}

// Modelled time in seconds of `algorithm` on this layer.
double conv2d_cost(const std::string &algorithm, const Conv2dParams &p, DType dtype, const CostConstants &c);

// The registered, applicable algorithm with the lowest modelled cost.
std::string guess_conv2d(const Conv2dParams &p, DType dtype, Backend backend);

} // namespace ai3
