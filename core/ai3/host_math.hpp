// The math policy of ai3/ops.hpp's transcendental activations for host code (the CPU
// fallback): <cmath>'s overloads, so float stays float and double stays double.
#pragma once
#include <cmath>

namespace ai3 {

struct HostMath {
    template <class T> static T exp(T x) { return std::exp(x); }
    template <class T> static T erf(T x) { return std::erf(x); }
    template <class T> static T tanh(T x) { return std::tanh(x); }
};

} // namespace ai3
