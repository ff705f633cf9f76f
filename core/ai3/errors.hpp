// ai3's C++ exception types. The bindings translate each to the matching Python
// class in ai3.errors (which subclass ValueError / TypeError / NotImplementedError /
// RuntimeError), so C++ never needs to know about Python.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

// Exported so that an exception thrown in one extension module (ai3._sycl,
// ai3._cuda) is caught by type in another (ai3._core's translator): with hidden
// visibility each module would get its own type_info and the catch would miss.
#define AI3_EXPORT __attribute__((visibility("default")))

namespace ai3 {

struct AI3_EXPORT Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// Bad argument values or shapes (Python: ai3.errors.ShapeError/ValueError).
struct AI3_EXPORT ValueError : Error {
    using Error::Error;
};
// Wrong dtype (Python: ai3.errors.DTypeError, a TypeError).
struct AI3_EXPORT TypeError : Error {
    using Error::Error;
};
// A (op, algorithm, backend, dtype) combination with no kernel (Python: ai3.errors.Unimplemented).
struct AI3_EXPORT Unimplemented : Error {
    using Error::Error;
};
// Anything that went wrong while running (Python: ai3.errors.BackendError).
struct AI3_EXPORT RuntimeError : Error {
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

#define AI3_CHECK(cond, ExcType, ...)                                                                                  \
    do {                                                                                                               \
        if (!(cond)) throw ::ai3::ExcType(::ai3::str(__VA_ARGS__));                                                    \
    } while (0)
