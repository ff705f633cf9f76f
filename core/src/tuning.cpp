#include "ai3/tuning.hpp"
#include "ai3/errors.hpp"

#include <map>
#include <mutex>

namespace ai3 {
namespace {

std::mutex mu;
std::map<std::string, std::string> &table() {
    static auto *t = new std::map<std::string, std::string>(); // leaked: used until exit
    return *t;
}

} // namespace

// What decides an algorithm's speed on a layer, and nothing else: not the bias (a
// BatchNorm folded at swap_backend time adds one to a bias-free conv, and the winner
// measured before must still apply) nor the fused epilogue.
std::string conv2d_tune_key(const Conv2dParams &p, DType dtype, Backend backend, int threads) {
    return str("conv2d|in=", p.N, "x", p.C, "x", p.H, "x", p.W, "|w=", p.K, "x", p.C / p.groups, "x", p.R, "x", p.S,
               "|out=", p.P, "x", p.Q, "|s=", p.stride_h, ",", p.stride_w, "|p=", p.pad_h, ",", p.pad_w, "|d=", p.dil_h,
               ",", p.dil_w, "|g=", p.groups, "|", dtype_name(dtype), "|", backend_name(backend), "|t=", threads);
}

void set_tuned(const std::string &key, const std::string &algorithm) {
    std::lock_guard<std::mutex> lk(mu);
    table()[key] = algorithm;
}

std::optional<std::string> tuned(const std::string &key) {
    std::lock_guard<std::mutex> lk(mu);
    auto it = table().find(key);
    if (it == table().end()) return std::nullopt;
    return it->second;
}

void clear_tuned() {
    std::lock_guard<std::mutex> lk(mu);
    table().clear();
}

} // namespace ai3
