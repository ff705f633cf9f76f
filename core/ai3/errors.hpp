// ai3's C++ exception types. The bindings translate each to the matching Python
// class in ai3.errors (which subclass ValueError / TypeError / NotImplementedError /
// RuntimeError), so C++ never needs to know about Python.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ai3 {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// Bad argument values or shapes (Python: ai3.errors.ShapeError/ValueError).
struct ValueError : Error {
    using Error::Error;
};
// Wrong dtype (Python: ai3.errors.DTypeError, a TypeError).
struct TypeError : Error {
    using Error::Error;
};
// A (op, algorithm, backend, dtype) combination with no kernel (Python: ai3.errors.Unimplemented).
struct Unimplemented : Error {
    using Error::Error;
};
// Anything that went wrong while running (Python: ai3.errors.BackendError).
struct RuntimeError : Error {
    using Error::Error;
};

namespace detail {
inline void cat(std::ostringstream &) {}
template <class A, class... R> void cat(std::ostringstream &os, const A &a, const R &...r) {
    os << a;
    cat(os, r...);
}
} // namespace detail

template <class... A> std::string str(const A &...a) {
    std::ostringstream os;
    detail::cat(os, a...);
    return os.str();
}

} // namespace ai3

#define AI3_CHECK(cond, ExcType, ...)                                                              \
    do {                                                                                           \
        if (!(cond)) throw ::ai3::ExcType(::ai3::str(__VA_ARGS__));                                \
    } while (0)
