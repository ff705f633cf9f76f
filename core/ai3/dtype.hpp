// Element types ai3 kernels accept. Kept tiny: every backend includes it.
#pragma once
#include "ai3/errors.hpp"

#include <cstdint>
#include <string>

namespace ai3 {

enum class DType : uint8_t { f32 = 0, f64 = 1 };

inline const char *dtype_name(DType d) { return d == DType::f32 ? "float32" : "float64"; }
inline std::size_t dtype_size(DType d) { return d == DType::f32 ? 4 : 8; }
// The dtype a Python string names, as every extension module's bindings parse it.
inline DType parse_dtype(const std::string &s) {
    if (s == "float32") return DType::f32;
    if (s == "float64") return DType::f64;
    throw TypeError(str("ai3 supports float32 and float64, got dtype ", s));
}

template <class T> struct dtype_of;
template <> struct dtype_of<float> {
    static constexpr DType value = DType::f32;
};
template <> struct dtype_of<double> {
    static constexpr DType value = DType::f64;
};

enum class Backend : uint8_t { cpu = 0, sycl = 1, cuda = 2, apple = 3 };

inline const char *backend_name(Backend b) {
    switch (b) {
    case Backend::cpu: return "cpu";
    case Backend::sycl: return "sycl";
    case Backend::cuda: return "cuda";
    case Backend::apple: return "apple";
    }
    return "?";
}

} // namespace ai3
